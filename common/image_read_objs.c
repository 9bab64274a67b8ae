// SPDX-License-Identifier: MIT
/*
 * The reader's decoders of the notes describing the kernel objects a
 * restart opens or re-creates: FDS, PIPEDATA, EPOLL, TIMERS and GUARDS
 * (called from image_read_notes.c, which checks the whole afterwards).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_read_priv.h"

int rimg_dec_fds(struct dec *d, const uint8_t *s, size_t len)
{
	/* state[] came with 1.2: older images have shorter records, read
	 * with zeros there (their kinds have no state). */
	const struct rimg_array a = {
		"CLONDIKE/FDS",
		d->p->hdr.minor >= 2 ? sizeof(struct cld_fd_rec) : CLD_FD_REC_SIZE_1_1,
		sizeof(struct cld_fd_rec), CLD_MAX_FDS, sizeof(struct cld_fd),
	};
	struct cld_proc *p = d->p;
	struct rimg_tab tab;
	uint32_t i;
	int ret;

	ret = rimg_take_array(d, s, len, &a, (void **)&p->fds, &p->nr_fds, &tab);
	if (ret)
		return ret;
	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd *f = &p->fds[i];
		char what[32];

		snprintf(what, sizeof(what), "fd %d", f->rec.fd);
		ret = rimg_take_name(d, &f->name, tab.s, tab.len, f->rec.name_off, f->rec.name_len,
				     what);
		if (ret)
			return ret;
	}
	return 0;
}

int rimg_dec_pipes(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	size_t at = 0;

	while (at < len) {
		struct cld_pipedata_rec r;
		struct cld_pipedata *np;
		size_t span;

		if (len - at < sizeof(r))
			return cld_err_set(d->err, -EBADMSG, "CLONDIKE/PIPEDATA: truncated record");
		memcpy(&r, s + at, sizeof(r));
		span = ((size_t)r.len + 7) / 8 * 8;
		if (r.len > (r.kind == CLD_PIPEDATA_FILE ? CLD_MAX_FILE_DATA : CLD_MAX_PIPE_DATA) ||
		    span > len - at - sizeof(r))
			return cld_err_set(d->err, -EBADMSG,
					   "CLONDIKE/PIPEDATA: %u bytes for inode %llu exceed the note",
					   r.len, (unsigned long long)r.ino);
		if (r.kind != CLD_PIPEDATA_PIPE && r.kind != CLD_PIPEDATA_FIFO &&
		    r.kind != CLD_PIPEDATA_SOCK && r.kind != CLD_PIPEDATA_FILE)
			return cld_err_set(d->err, -EBADMSG, "CLONDIKE/PIPEDATA: unknown kind %u",
					   r.kind);
		if (p->nr_pipes >= CLD_MAX_FDS)
			return cld_err_set(d->err, -E2BIG, "CLONDIKE/PIPEDATA: too many pipes");
		np = realloc(p->pipes, (p->nr_pipes + 1) * sizeof(*np));
		if (!np)
			return cld_err_set(d->err, -ENOMEM, "out of memory");
		p->pipes = np;
		np = &p->pipes[p->nr_pipes++];
		np->ino = r.ino;
		np->len = r.len;
		np->kind = r.kind;
		np->data = malloc(r.len ? r.len : 1);
		if (!np->data)
			return cld_err_set(d->err, -ENOMEM, "out of memory");
		memcpy(np->data, s + at + sizeof(r), r.len);
		at += sizeof(r) + span;
	}
	return 0;
}

/* Checked against the fds once every note is read (check_epolls). */
int rimg_dec_epolls(struct dec *d, const uint8_t *s, size_t len)
{
	static const struct rimg_array a = {
		"CLONDIKE/EPOLL", sizeof(struct cld_epoll_rec), sizeof(struct cld_epoll_rec), CLD_MAX_FDS, sizeof(struct cld_epoll_rec),
	};

	return rimg_take_array(d, s, len, &a, (void **)&d->p->epolls, &d->p->nr_epolls, NULL);
}

int rimg_dec_timers(struct dec *d, const uint8_t *s, size_t len)
{
	static const struct rimg_array a = {
		"CLONDIKE/TIMERS", sizeof(struct cld_timer_rec), sizeof(struct cld_timer_rec), CLD_MAX_TIMERS, sizeof(struct cld_timer_rec),
	};

	return rimg_take_array(d, s, len, &a, (void **)&d->p->timers, &d->p->nr_timers, NULL);
}

int rimg_dec_watches(struct dec *d, const uint8_t *s, size_t len)
{
	static const struct rimg_array a = {
		"CLONDIKE/INOTIFY", sizeof(struct cld_inotify_rec), sizeof(struct cld_inotify_rec),
		CLD_MAX_FDS, sizeof(struct cld_inotify),
	};
	struct cld_proc *p = d->p;
	struct rimg_tab tab;
	uint32_t i;
	int ret;

	ret = rimg_take_array(d, s, len, &a, (void **)&p->watches, &p->nr_watches, &tab);
	if (ret)
		return ret;
	for (i = 0; i < p->nr_watches; i++) {
		struct cld_inotify *w = &p->watches[i];

		ret = rimg_take_name(d, &w->path, tab.s, tab.len, w->rec.name_off, w->rec.name_len,
				     "inotify watch");
		if (ret)
			return ret;
	}
	return 0;
}

int rimg_dec_guards(struct dec *d, const uint8_t *s, size_t len)
{
	static const struct rimg_array a = {
		"CLONDIKE/GUARDS", sizeof(struct cld_range_rec), sizeof(struct cld_range_rec), CLD_MAX_EXTENTS, sizeof(struct cld_range_rec),
	};

	return rimg_take_array(d, s, len, &a, (void **)&d->p->guards, &d->p->nr_guards, NULL);
}
