// SPDX-License-Identifier: MIT
/*
 * The process description (struct cld_proc: freeing, counting, validating)
 * and the image layout computed from it: segments, offsets, the page runs
 * behind an address.  The notes are encoded in image_notes.c, the image's
 * bytes generated in image_virt.c.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clondike/image.h"
#include "image_priv.h"

/* ---- Process description ------------------------------------------------ */

void cld_proc_release(struct cld_proc *p)
{
	uint32_t i;

	if (!p)
		return;
	free(p->cwd);
	free(p->root);
	free(p->exe);
	free(p->groups);
	free(p->auxv);
	free(p->shared_queue);
	for (i = 0; i < p->nr_threads && p->threads; i++) {
		free(p->threads[i].xstate);
		free(p->threads[i].queue);
	}
	free(p->threads);
	for (i = 0; i < p->nr_vmas && p->vmas; i++) {
		free(p->vmas[i].name);
		free(p->vmas[i].ext);
	}
	free(p->vmas);
	for (i = 0; i < p->nr_fds && p->fds; i++)
		free(p->fds[i].name);
	free(p->fds);
	for (i = 0; i < p->nr_pipes && p->pipes; i++)
		free(p->pipes[i].data);
	free(p->pipes);
	memset(p, 0, sizeof(*p));
}

void cld_proc_free(struct cld_proc *p)
{
	cld_proc_release(p);
	free(p);
}

uint64_t cld_proc_nr_dumped(const struct cld_proc *p)
{
	uint64_t n = 0;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		for (j = 0; j < p->vmas[i].nr_ext; j++)
			n += p->vmas[i].ext[j].count;
	return n;
}

size_t img_str_len(const char *s)
{
	return s ? strlen(s) : 0;
}

int cld_proc_validate(const struct cld_proc *p, struct cld_err *err)
{
	uint64_t nr_ext = 0;
	uint32_t i, j;

	if (p->nr_threads == 0)
		return cld_err_set(err, -EINVAL, "no threads");
	if (p->nr_threads > CLD_MAX_THREADS)
		return cld_err_set(err, -E2BIG, "%u threads (limit %u)", p->nr_threads,
				   CLD_MAX_THREADS);
	if (p->nr_vmas > CLD_MAX_VMAS)
		return cld_err_set(err, -E2BIG, "%u mappings (limit %u)", p->nr_vmas,
				   CLD_MAX_VMAS);
	if (p->nr_fds > CLD_MAX_FDS)
		return cld_err_set(err, -E2BIG, "%u fds (limit %u)", p->nr_fds, CLD_MAX_FDS);
	if (p->creds.nr_groups > CLD_MAX_GROUPS)
		return cld_err_set(err, -E2BIG, "%u groups (limit %u)", p->creds.nr_groups,
				   CLD_MAX_GROUPS);
	if (p->mm.auxv_len > CLD_MAX_AUXV || p->mm.auxv_len % 16)
		return cld_err_set(err, -EINVAL, "auxv of %llu bytes (must be pairs, <= %u)",
				   (unsigned long long)p->mm.auxv_len, CLD_MAX_AUXV);
	if (p->sig.nr_shared_queue > CLD_MAX_SIGQ)
		return cld_err_set(err, -E2BIG, "%u queued signals (limit %u)",
				   p->sig.nr_shared_queue, CLD_MAX_SIGQ);
	if (img_str_len(p->cwd) > CLD_MAX_PATH || img_str_len(p->root) > CLD_MAX_PATH ||
	    img_str_len(p->exe) > CLD_MAX_PATH)
		return cld_err_set(err, -ENAMETOOLONG, "cwd, root or exe path too long");
	for (i = 0; i < p->nr_threads; i++) {
		const struct cld_thread *t = &p->threads[i];

		if (t->xstate_len > CLD_MAX_XSTATE)
			return cld_err_set(err, -E2BIG, "thread %d: xstate of %u bytes",
					   t->rec.tid, t->xstate_len);
		if (t->rec.nr_queue > CLD_MAX_SIGQ)
			return cld_err_set(err, -E2BIG, "thread %d: %u queued signals",
					   t->rec.tid, t->rec.nr_queue);
		if (t->rec.tid != t->prstatus.pr_pid)
			return cld_err_set(err, -EINVAL,
					   "thread %u: tid %d differs from NT_PRSTATUS pid %d", i,
					   t->rec.tid, t->prstatus.pr_pid);
	}
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		uint64_t npages, end = 0;

		if (v->rec.start >= v->rec.end || (v->rec.start | v->rec.end) % PAGE)
			return cld_err_set(err, -EINVAL,
					   "mapping %u: bad range %#llx-%#llx", i,
					   (unsigned long long)v->rec.start,
					   (unsigned long long)v->rec.end);
		if (v->rec.end > CLD_MAX_VADDR && !(v->rec.flags & CLD_VMA_VSYSCALL))
			return cld_err_set(err, -EINVAL, "mapping %u: %#llx beyond user space", i,
					   (unsigned long long)v->rec.end);
		if (i && v->rec.start < p->vmas[i - 1].rec.end)
			return cld_err_set(err, -EINVAL,
					   "mapping %u (%#llx) overlaps or precedes mapping %u", i,
					   (unsigned long long)v->rec.start, i - 1);
		if (v->rec.flags & ~CLD_VMA_KNOWN_FLAGS)
			return cld_err_set(err, -EINVAL, "mapping %u: unknown flags %#x", i,
					   v->rec.flags);
		if (v->rec.prot & ~7u)
			return cld_err_set(err, -EINVAL, "mapping %u: bad protection %#x", i,
					   v->rec.prot);
		if (img_str_len(v->name) > CLD_MAX_PATH)
			return cld_err_set(err, -ENAMETOOLONG, "mapping %u: name too long", i);
		if ((v->rec.flags & CLD_VMA_FILE) && !v->name)
			return cld_err_set(err, -EINVAL, "mapping %u: file mapping without path",
					   i);
		if (v->rec.pgoff % PAGE)
			return cld_err_set(err, -EINVAL, "mapping %u: unaligned file offset", i);
		npages = (v->rec.end - v->rec.start) / PAGE;
		for (j = 0; j < v->nr_ext; j++) {
			const struct cld_extent *e = &v->ext[j];

			if (!e->count || e->first < end || (j && e->first == end) ||
			    e->first > npages || e->count > npages - e->first)
				return cld_err_set(err, -EINVAL,
						   "mapping %u: page run %u (%llu+%llu) outside the mapping, empty, unsorted or touching its neighbour",
						   i, j, (unsigned long long)e->first,
						   (unsigned long long)e->count);
			end = e->first + e->count;
		}
		nr_ext += v->nr_ext;
	}
	if (nr_ext > CLD_MAX_EXTENTS)
		return cld_err_set(err, -E2BIG, "%llu page runs (limit %u)",
				   (unsigned long long)nr_ext, CLD_MAX_EXTENTS);
	for (i = 0; i < p->nr_fds; i++) {
		if (p->fds[i].rec.fd < 0 || (i && p->fds[i].rec.fd <= p->fds[i - 1].rec.fd))
			return cld_err_set(err, -EINVAL, "fd table not sorted/unique at fd %d",
					   p->fds[i].rec.fd);
		if (img_str_len(p->fds[i].name) > CLD_MAX_PATH)
			return cld_err_set(err, -ENAMETOOLONG, "fd %d: path too long",
					   p->fds[i].rec.fd);
	}
	for (i = 0; i < p->nr_pipes; i++)
		if (p->pipes[i].len > CLD_MAX_PIPE_DATA)
			return cld_err_set(err, -E2BIG, "pipe %llu: %u bytes of data",
					   (unsigned long long)p->pipes[i].ino, p->pipes[i].len);
	return 0;
}

/* ---- Segments ---------------------------------------------------------- */

static uint32_t prot_to_pflags(uint32_t prot)
{
	return ((prot & 1) ? PF_R : 0) | ((prot & 2) ? PF_W : 0) | ((prot & 4) ? PF_X : 0);
}

/*
 * Emit (or count, when segs is NULL) the segments of one VMA.  Data runs
 * are the extents; in anonymous VMAs, gaps shorter than CLD_ANON_GAP_PAGES
 * are kept inside a data run as holes (they read as zeros, which is what
 * the memory holds), so a sparse heap stays one segment.
 */
static uint32_t vma_segments(const struct cld_vma *v, uint32_t vi, struct cld_seg *segs)
{
	uint64_t npages = (v->rec.end - v->rec.start) / PAGE;
	int anon = !(v->rec.flags & CLD_VMA_FILE);
	uint64_t pos = 0; /* next page not yet covered */
	uint32_t n = 0, j = 0;

#define EMIT(first, count, data)                                                       \
	do {                                                                           \
		if (segs) {                                                            \
			segs[n].vaddr = v->rec.start + (first) * PAGE;                \
			segs[n].memsz = (count) * PAGE;                               \
			segs[n].filesz = (data) ? (count) * PAGE : 0;                 \
			segs[n].vma = vi;                                              \
			segs[n].pflags = prot_to_pflags(v->rec.prot);                 \
		}                                                                      \
		n++;                                                                   \
	} while (0)

	while (j < v->nr_ext) {
		uint64_t s = v->ext[j].first, e = s + v->ext[j].count;

		if (s > pos)
			EMIT(pos, s - pos, 0);
		j++;
		while (anon && j < v->nr_ext && v->ext[j].first - e < CLD_ANON_GAP_PAGES) {
			e = v->ext[j].first + v->ext[j].count;
			j++;
		}
		EMIT(s, e - s, 1);
		pos = e;
	}
	if (pos < npages)
		EMIT(pos, npages - pos, 0);
#undef EMIT
	return n;
}

uint64_t img_count_segments(const struct cld_proc *p)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < p->nr_vmas; i++)
		n += vma_segments(&p->vmas[i], i, NULL);
	return n;
}

uint64_t img_tail_size(uint64_t nr_dumped)
{
	/* note header (12) + "CLONDIKE\0" padded (12) + cld_digests_hdr + digests */
	return 12 + 12 + sizeof(struct cld_digests_hdr) + 8 * nr_dumped;
}

int cld_layout_compute(const struct cld_proc *p, uint64_t notes_size, struct cld_layout *lo,
		       struct cld_err *err)
{
	uint64_t nsegs = img_count_segments(p), off, idx = 0;
	uint32_t i, n = 0;

	memset(lo, 0, sizeof(*lo));
	if (nsegs > CLD_MAX_SEGS)
		return cld_err_set(err, -E2BIG, "%llu segments (limit %u)",
				   (unsigned long long)nsegs, CLD_MAX_SEGS);
	lo->segs = calloc(nsegs ? nsegs : 1, sizeof(*lo->segs));
	if (!lo->segs)
		return cld_err_set(err, -ENOMEM, "out of memory for %llu segments",
				   (unsigned long long)nsegs);
	for (i = 0; i < p->nr_vmas; i++)
		n += vma_segments(&p->vmas[i], i, lo->segs + n);
	lo->nr_segs = n;
	lo->phnum = n + 2;
	lo->phoff = sizeof(Elf64_Ehdr);
	off = lo->phoff + (uint64_t)lo->phnum * sizeof(Elf64_Phdr);
	if (lo->phnum >= PN_XNUM) {
		lo->shoff = off;
		off += sizeof(Elf64_Shdr);
	}
	lo->notes_off = off;
	lo->notes_size = notes_size;
	off = (off + notes_size + PAGE - 1) / PAGE * PAGE;
	lo->data_off = off;
	lo->data_bytes = lo->notes_off + notes_size;
	for (i = 0; i < n; i++) {
		struct cld_seg *s = &lo->segs[i];
		const struct cld_vma *v = &p->vmas[s->vma];
		uint32_t j;

		s->offset = off;
		s->first_dumped = idx;
		if (!s->filesz)
			continue;
		/* Count the dumped pages inside this data segment. */
		for (j = 0; j < v->nr_ext; j++) {
			uint64_t a = v->rec.start + v->ext[j].first * PAGE;

			if (a >= s->vaddr && a < s->vaddr + s->memsz)
				idx += v->ext[j].count;
		}
		off += s->filesz;
	}
	lo->nr_dumped = idx;
	lo->data_bytes += idx * PAGE;
	lo->tail_off = off;
	lo->tail_size = img_tail_size(idx);
	lo->size = off + lo->tail_size;
	lo->data_bytes += lo->tail_size;
	return 0;
}

void cld_layout_release(struct cld_layout *lo)
{
	free(lo->segs);
	memset(lo, 0, sizeof(*lo));
}

int cld_layout_find(const struct cld_layout *lo, const struct cld_proc *p, uint64_t addr,
		    uint64_t *dumped_idx, uint64_t *offset)
{
	uint32_t lo_i = 0, hi = lo->nr_segs;
	const struct cld_seg *s;
	const struct cld_vma *v;
	uint64_t pg, before = 0;
	uint32_t j;

	addr &= ~(uint64_t)(PAGE - 1);
	while (lo_i < hi) {
		uint32_t mid = lo_i + (hi - lo_i) / 2;

		if (lo->segs[mid].vaddr + lo->segs[mid].memsz <= addr)
			lo_i = mid + 1;
		else
			hi = mid;
	}
	if (lo_i >= lo->nr_segs || lo->segs[lo_i].vaddr > addr)
		return -ENOENT;
	s = &lo->segs[lo_i];
	if (!s->filesz)
		return -ENODATA;
	v = &p->vmas[s->vma];
	pg = (addr - v->rec.start) / PAGE;
	for (j = 0; j < v->nr_ext; j++) {
		const struct cld_extent *e = &v->ext[j];
		uint64_t a = v->rec.start + e->first * PAGE;

		if (a < s->vaddr)
			continue;
		if (pg < e->first)
			return -ENODATA;
		if (pg < e->first + e->count) {
			if (dumped_idx)
				*dumped_idx = s->first_dumped + before + (pg - e->first);
			if (offset)
				*offset = s->offset + (addr - s->vaddr);
			return 0;
		}
		before += e->count;
	}
	return -ENODATA;
}
