// SPDX-License-Identifier: MIT
/*
 * The page-table scan: for every mapping, the runs of pages the image
 * holds, from PAGEMAP_SCAN (Linux 6.7) or, before it, from 8 bytes of
 * /proc/PID/pagemap per page.  Done on the image's first use, not at the
 * freeze (ptr_prepare in freeze_ptrace.c says why).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "freeze_ptrace_priv.h"

/* ---- Extents ----------------------------------------------------------------- */

struct ext_vec {
	struct cld_extent *e;
	uint32_t n, cap;
};

static int ext_add(struct ext_vec *v, uint64_t first, uint64_t count)
{
	if (!count)
		return 0;
	if (v->n) {
		struct cld_extent *l = &v->e[v->n - 1];

		if (first < l->first)
			return -EIO; /* the scans go upwards: never happens */
		/* Adjacent or overlapping with the last run: one run.  Overlap
		 * happens when PAGEMAP_SCAN resumes at a walk_end inside a run
		 * it already reported. */
		if (first <= l->first + l->count) {
			if (first + count > l->first + l->count)
				l->count = first + count - l->first;
			return 0;
		}
	}
	if (v->n == v->cap) {
		uint32_t ncap = v->cap ? v->cap * 2 : 8;
		struct cld_extent *ne = realloc(v->e, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		v->e = ne;
		v->cap = ncap;
	}
	v->e[v->n].first = first;
	v->e[v->n].count = count;
	v->n++;
	return 0;
}

static int cmp_ext(const void *a, const void *b)
{
	const struct cld_extent *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

/*
 * PAGEMAP_SCAN: the kernel walks the page tables and hands back runs.
 * With huge pages and a full output vector the runs of successive calls
 * can come back out of order or overlapping (seen on 6.18 with THPs made
 * by MADV_COLLAPSE), so they are collected, sorted and merged.
 */
static int scan_vma_ioctl(int pm_fd, struct cld_vma *vma, enum dump_policy pol, bool guard,
			  struct ext_vec *ev)
{
	enum { NREG = 1024 };
	struct cld_page_region reg[NREG];
	struct ext_vec raw = { 0 };
	uint64_t start = vma->rec.start, end = vma->rec.end;
	uint32_t i;
	int ret = 0;

	while (start < end) {
		struct cld_pm_scan_arg a = {
			.size = sizeof(a),
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)reg,
			.vec_len = NREG,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		};
		long n, k;

		if (pol == DUMP_ANON) {
			/* not a page-cache page, not the shared zero page */
			a.category_inverted = PAGE_IS_FILE | PAGE_IS_PFNZERO;
			a.category_mask = PAGE_IS_FILE | PAGE_IS_PFNZERO;
		} else {
			a.category_inverted = PAGE_IS_PFNZERO;
			a.category_mask = PAGE_IS_PFNZERO;
		}
		/* A guard marker reads as swapped, and its page cannot be read. */
		if (guard) {
			a.category_inverted |= CLD_PAGE_IS_GUARD;
			a.category_mask |= CLD_PAGE_IS_GUARD;
		}
		n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		for (k = 0; k < n; k++) {
			uint64_t s = reg[k].start < vma->rec.start ? vma->rec.start : reg[k].start;
			uint64_t e = reg[k].end > end ? end : reg[k].end;
			struct cld_extent *ne;

			if (e <= s)
				continue;
			if (raw.n == raw.cap) {
				uint32_t ncap = raw.cap ? raw.cap * 2 : 64;

				ne = realloc(raw.e, ncap * sizeof(*ne));
				if (!ne) {
					ret = -ENOMEM;
					goto out;
				}
				raw.e = ne;
				raw.cap = ncap;
			}
			raw.e[raw.n].first = (s - vma->rec.start) / PAGE;
			raw.e[raw.n].count = (e - s) / PAGE;
			raw.n++;
		}
		if (a.walk_end <= start) {
			ret = -EIO;
			goto out;
		}
		start = a.walk_end;
	}
	if (raw.n)
		qsort(raw.e, raw.n, sizeof(*raw.e), cmp_ext);
	for (i = 0; i < raw.n && !ret; i++)
		ret = ext_add(ev, raw.e[i].first, raw.e[i].count);
out:
	free(raw.e);
	return ret;
}

/* The pre-6.7 way: 8 bytes of /proc/PID/pagemap per page. */
static int scan_vma_pagemap(int pm_fd, struct cld_vma *vma, struct ext_vec *ev)
{
	enum { N = 4096 };
	uint64_t ent[N];
	uint64_t npages = (vma->rec.end - vma->rec.start) / PAGE, pg = 0;

	while (pg < npages) {
		uint64_t want = npages - pg < N ? npages - pg : N, i;
		ssize_t r = pread(pm_fd, ent, want * 8, (off_t)((vma->rec.start / PAGE + pg) * 8));

		if (r < 0)
			return -errno;
		if (r < 8)
			return -EIO;
		want = (uint64_t)r / 8;
		for (i = 0; i < want; i++) {
			if (cld_pagemap_dumped(ent[i], vma->rec.flags)) {
				int ret = ext_add(ev, pg + i, 1);

				if (ret)
					return ret;
			}
		}
		pg += want;
	}
	return 0;
}

/*
 * Guard regions (MADV_GUARD_INSTALL, 6.13): PAGEMAP_SCAN reports them from
 * 6.14 (PAGE_IS_GUARD); an older kernel refuses the category, and has
 * none (6.13 excepted).  Their ranges go into CLONDIKE/GUARDS.
 */
static int scan_guards(struct collect *c)
{
	enum { NREG = 256 };
	struct cld_page_region reg[NREG];
	struct cld_proc *p = c->p;
	uint32_t i;

	c->guard_scan = false;
	if (c->use_scan < 0)
		return 0;
	for (i = 0; i < p->nr_vmas; i++) {
		struct cld_vma *v = &p->vmas[i];
		uint64_t start = v->rec.start;
		uint32_t first = p->nr_guards; /* ranges stay inside their mapping */

		if (v->rec.flags & (CLD_VMA_VSYSCALL | CLD_VMA_VVAR | CLD_VMA_SPECIAL))
			continue;
		while (start < v->rec.end) {
			struct cld_pm_scan_arg a = {
				.size = sizeof(a),
				.start = start,
				.end = v->rec.end,
				.vec = (uint64_t)(uintptr_t)reg,
				.vec_len = NREG,
				.category_anyof_mask = CLD_PAGE_IS_GUARD,
				.return_mask = CLD_PAGE_IS_GUARD,
			};
			struct cld_range_rec *ng;
			long n, k;

			n = ioctl(c->pm_fd, PAGEMAP_SCAN, &a);
			if (n < 0)
				return (errno == EINVAL || errno == ENOTTY) && !c->guard_scan ? 0 : -errno;
			c->guard_scan = true;
			if (n) {
				ng = realloc(p->guards, (p->nr_guards + (size_t)n) * sizeof(*ng));
				if (!ng)
					return -ENOMEM;
				p->guards = ng;
			}
			for (k = 0; k < n; k++) {
				struct cld_range_rec *last =
					p->nr_guards > first ? &p->guards[p->nr_guards - 1] : NULL;

				if (last && reg[k].start <= last->end) {
					if (reg[k].end > last->end)
						last->end = reg[k].end;
					continue;
				}
				p->guards[p->nr_guards].start = reg[k].start;
				p->guards[p->nr_guards].end = reg[k].end;
				p->nr_guards++;
			}
			if (a.walk_end <= start)
				return -EIO;
			start = a.walk_end;
		}
	}
	return 0;
}

int ptr_collect_pages(struct collect *c)
{
	struct cld_proc *p = c->p;
	char path[64];
	uint32_t i;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	c->pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->pm_fd < 0)
		return cld_err_set(c->err, -errno, "opening %s: %s", path, strerror(errno));
	c->use_scan = (c->flags & CLD_PTRACE_NO_PAGEMAP_SCAN) ? -1 : 0;
	ret = scan_guards(c);
	if (ret)
		return cld_err_set(c->err, ret, "scanning for guard pages: %s", strerror(-ret));
	for (i = 0; i < p->nr_vmas; i++) {
		struct cld_vma *v = &p->vmas[i];
		enum dump_policy pol = ptr_vma_policy(v->rec.flags);
		struct ext_vec ev = { 0 };

		if (pol == DUMP_NONE)
			continue;
		if (pol == DUMP_ALL) {
			ret = ext_add(&ev, 0, (v->rec.end - v->rec.start) / PAGE);
		} else if (c->use_scan >= 0) {
			ret = scan_vma_ioctl(c->pm_fd, v, pol, c->guard_scan, &ev);
			if (ret == -ENOTTY || ret == -EINVAL) {
				/* kernel before 6.7: fall back for good */
				c->use_scan = -1;
				ev.n = 0;
				ret = scan_vma_pagemap(c->pm_fd, v, &ev);
			} else if (!ret) {
				c->use_scan = 1;
			}
		} else {
			ret = scan_vma_pagemap(c->pm_fd, v, &ev);
		}
		if (ret) {
			free(ev.e);
			return cld_err_set(c->err, ret, "scanning pages of %#llx-%#llx: %s",
					   (unsigned long long)v->rec.start,
					   (unsigned long long)v->rec.end, strerror(-ret));
		}
		v->ext = ev.e;
		v->nr_ext = ev.n;
	}
	return 0;
}
