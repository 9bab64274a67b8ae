// SPDX-License-Identifier: MIT
/*
 * The process description (struct cld_proc: freeing, validating) and the
 * page runs behind an address.  The layout and the notes are encoded by the
 * shared codec (common/codec/), the image's bytes generated in image_virt.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clondike/image.h"
#include "image_priv.h"

/* ---- Process description ------------------------------------------------ */

void cld_proc_release(struct cld_proc *p)
{
	if (!p)
		return;
	cld_proc_drop(p, 1);
	memset(p, 0, sizeof(*p));
}

void cld_proc_free(struct cld_proc *p)
{
	cld_proc_release(p);
	free(p);
}

/* A comm as the kernel copies it out (strscpy_pad): a NUL, then only NULs.
 * Two writers of one frozen state then agree byte for byte. */
static bool name_is_padded(const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	size_t i;

	if (!nul)
		return false;
	for (i = (size_t)(nul - s); i < n; i++)
		if (s[i])
			return false;
	return true;
}

int cld_proc_validate(const struct cld_proc *p, struct cld_err *err)
{
	uint64_t nr_ext = 0;
	uint32_t i, j;
	int ret;

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
	if (cld_str_len(p->cwd) > CLD_MAX_PATH || cld_str_len(p->root) > CLD_MAX_PATH ||
	    cld_str_len(p->exe) > CLD_MAX_PATH)
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
		if (!name_is_padded(t->rec.name, sizeof(t->rec.name)))
			return cld_err_set(err, -EINVAL,
					   "thread %d: name not NUL terminated and NUL padded",
					   t->rec.tid);
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
		if (cld_str_len(v->name) > CLD_MAX_PATH)
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
		if (cld_str_len(p->fds[i].name) > CLD_MAX_PATH)
			return cld_err_set(err, -ENAMETOOLONG, "fd %d: path too long",
					   p->fds[i].rec.fd);
	}
	for (i = 0; i < p->nr_pipes; i++)
		if (p->pipes[i].kind != CLD_PIPEDATA_FILE && p->pipes[i].len > CLD_MAX_PIPE_DATA)
			return cld_err_set(err, -E2BIG, "pipe %llu: %u bytes of data",
					   (unsigned long long)p->pipes[i].ino, p->pipes[i].len);
	ret = cld_proc_validate_files(p, err);
	if (ret)
		return ret;
	if (p->nr_epolls > CLD_MAX_FDS)
		return cld_err_set(err, -E2BIG, "%u epoll registrations (limit %u)", p->nr_epolls,
				   CLD_MAX_FDS);
	for (i = 0; i < p->nr_epolls; i++) {
		const struct cld_epoll_rec *e = &p->epolls[i];
		const struct cld_fd *ep = cld_proc_fd(p, e->epfd);

		if (!ep || ep->rec.kind != CLD_FD_EPOLL || e->tfd < 0 || e->pad ||
		    (i && e->epfd < p->epolls[i - 1].epfd))
			return cld_err_set(err, -EINVAL,
					   "epoll registration %u (epfd %d, tfd %d): not an epoll fd "
					   "of the process, or out of order",
					   i, e->epfd, e->tfd);
	}
	if (p->nr_timers > CLD_MAX_TIMERS || (p->nr_timers && p->nr_timers != p->proc.nr_posix_timers))
		return cld_err_set(err, -EINVAL, "%u POSIX timer records for %u timers", p->nr_timers,
				   p->proc.nr_posix_timers);
	for (i = 0; i < p->nr_timers; i++) {
		const struct cld_timer_rec *t = &p->timers[i];

		if (t->id < 0 || (i && t->id <= p->timers[i - 1].id) || t->pad ||
		    t->value_ns < 0 || t->interval_ns < 0 ||
		    (t->notify != 0 && t->notify != 1 && t->notify != 2 && t->notify != 4) ||
		    t->signo < 0 || t->signo > 64)
			return cld_err_set(err, -EINVAL, "POSIX timer record %u (id %d) is not valid",
					   i, t->id);
	}
	for (i = 0; i < p->nr_watches; i++) {
		const struct cld_inotify_rec *w = &p->watches[i].rec;
		const struct cld_fd *f = cld_proc_fd(p, w->fd);

		if (!f || f->rec.kind != CLD_FD_INOTIFY || w->wd <= 0 || w->pad ||
		    !p->watches[i].path || p->watches[i].path[0] != '/' ||
		    cld_str_len(p->watches[i].path) > CLD_MAX_PATH ||
		    (i && (w->fd < p->watches[i - 1].rec.fd ||
			   (w->fd == p->watches[i - 1].rec.fd && w->wd <= p->watches[i - 1].rec.wd))))
			return cld_err_set(err, -EINVAL,
					   "inotify watch %u (fd %d, wd %d): not of an inotify fd, "
					   "without an absolute path, or out of order",
					   i, w->fd, w->wd);
	}
	for (i = 0, j = 0; i < p->nr_guards; i++) {
		const struct cld_range_rec *g = &p->guards[i];

		while (j < p->nr_vmas && p->vmas[j].rec.end <= g->start)
			j++;
		if (g->start >= g->end || (g->start | g->end) % PAGE ||
		    (i && g->start < p->guards[i - 1].end) || j == p->nr_vmas ||
		    g->start < p->vmas[j].rec.start || g->end > p->vmas[j].rec.end)
			return cld_err_set(err, -EINVAL,
					   "guard range %u (%#llx-%#llx) not inside one mapping, or "
					   "out of order",
					   i, (unsigned long long)g->start, (unsigned long long)g->end);
	}
	return 0;
}

const char *cld_fd_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		[CLD_FD_REG] = "file",	       [CLD_FD_DIR] = "dir",
		[CLD_FD_PIPE] = "pipe",	       [CLD_FD_FIFO] = "fifo",
		[CLD_FD_TTY] = "tty",	       [CLD_FD_CHR] = "chr",
		[CLD_FD_EPOLL] = "epoll",      [CLD_FD_EVENTFD] = "eventfd",
		[CLD_FD_TIMERFD] = "timerfd",  [CLD_FD_SIGNALFD] = "signalfd",
		[CLD_FD_PIDFD] = "pidfd",      [CLD_FD_SOCKPAIR] = "socketpair",
		[CLD_FD_INOTIFY] = "inotify",
	};

	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] :
									 "unsupported";
}

bool cld_fd_kind_is_anon(uint32_t kind)
{
	switch (kind) {
	case CLD_FD_EPOLL:
	case CLD_FD_EVENTFD:
	case CLD_FD_TIMERFD:
	case CLD_FD_SIGNALFD:
	case CLD_FD_PIDFD:
	case CLD_FD_INOTIFY:
		return true;
	default:
		return false;
	}
}

const struct cld_fd *cld_proc_fd(const struct cld_proc *p, int fd)
{
	uint32_t lo = 0, hi = p->nr_fds;

	/* The table is sorted by fd (checked above). */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->fds[mid].rec.fd == fd)
			return &p->fds[mid];
		if (p->fds[mid].rec.fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- Layout lookup (the layout itself: common/codec/codec_layout.c) ---- */

int cld_layout_find(const struct cld_layout *lo, const struct cld_proc *p, uint64_t addr,
		    uint64_t *dumped_idx, uint64_t *offset)
{
	const struct cld_seg *s;
	const struct cld_vma *v;
	uint64_t pg, before = 0;
	uint32_t j;

	addr &= ~(uint64_t)(PAGE - 1);
	s = cld_layout_seg_at(lo, addr);
	if (!s)
		return -ENOENT;
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
