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
	struct cld_proc *p = d->p;
	struct cld_array_hdr ah;
	const uint8_t *tab;
	size_t tab_len;
	uint32_t i;
	int ret;

	/* state[] came with 1.2: older images have shorter records, read
	 * with zeros there (their kinds have no state). */
	ret = rimg_array_hdr(d, s, len, p->hdr.minor >= 2 ? sizeof(struct cld_fd_rec) :
						      CLD_FD_REC_SIZE_1_1,
			CLD_MAX_FDS, &ah, "CLONDIKE/FDS");
	if (ret)
		return ret;
	tab = s + sizeof(ah) + (size_t)ah.count * ah.rec_size;
	tab_len = len - sizeof(ah) - (size_t)ah.count * ah.rec_size;
	p->fds = calloc(ah.count ? ah.count : 1, sizeof(*p->fds));
	if (!p->fds)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	p->nr_fds = ah.count;
	for (i = 0; i < ah.count; i++) {
		struct cld_fd *f = &p->fds[i];
		char what[32];

		memcpy(&f->rec, s + sizeof(ah) + (size_t)i * ah.rec_size,
		       ah.rec_size < sizeof(f->rec) ? ah.rec_size : sizeof(f->rec));
		snprintf(what, sizeof(what), "fd %d", f->rec.fd);
		ret = rimg_take_name(d, &f->name, tab, tab_len, f->rec.name_off, f->rec.name_len, what);
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
		if (r.len > CLD_MAX_PIPE_DATA || span > len - at - sizeof(r))
			return cld_err_set(d->err, -EBADMSG,
					   "CLONDIKE/PIPEDATA: %u bytes for pipe %llu exceed the note",
					   r.len, (unsigned long long)r.ino);
		if (r.kind != CLD_PIPEDATA_PIPE && r.kind != CLD_PIPEDATA_FIFO &&
		    r.kind != CLD_PIPEDATA_SOCK)
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
	struct cld_proc *p = d->p;
	struct cld_array_hdr ah;
	uint32_t i;
	int ret;

	ret = rimg_array_hdr(d, s, len, sizeof(struct cld_epoll_rec), CLD_MAX_FDS, &ah,
			"CLONDIKE/EPOLL");
	if (ret)
		return ret;
	p->epolls = calloc(ah.count ? ah.count : 1, sizeof(*p->epolls));
	if (!p->epolls)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	p->nr_epolls = ah.count;
	for (i = 0; i < ah.count; i++)
		memcpy(&p->epolls[i], s + sizeof(ah) + (size_t)i * ah.rec_size,
		       sizeof(p->epolls[i]));
	return 0;
}

int rimg_dec_timers(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	struct cld_array_hdr ah;
	uint32_t i;
	int ret;

	ret = rimg_array_hdr(d, s, len, sizeof(struct cld_timer_rec), CLD_MAX_TIMERS, &ah,
			"CLONDIKE/TIMERS");
	if (ret)
		return ret;
	p->timers = calloc(ah.count ? ah.count : 1, sizeof(*p->timers));
	if (!p->timers)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	p->nr_timers = ah.count;
	for (i = 0; i < ah.count; i++)
		memcpy(&p->timers[i], s + sizeof(ah) + (size_t)i * ah.rec_size,
		       sizeof(p->timers[i]));
	return 0;
}

int rimg_dec_watches(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	struct cld_array_hdr ah;
	const uint8_t *tab;
	size_t tab_len;
	uint32_t i;
	int ret;

	ret = rimg_array_hdr(d, s, len, sizeof(struct cld_inotify_rec), CLD_MAX_FDS, &ah,
			     "CLONDIKE/INOTIFY");
	if (ret)
		return ret;
	tab = s + sizeof(ah) + (size_t)ah.count * ah.rec_size;
	tab_len = len - sizeof(ah) - (size_t)ah.count * ah.rec_size;
	p->watches = calloc(ah.count ? ah.count : 1, sizeof(*p->watches));
	if (!p->watches)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	p->nr_watches = ah.count;
	for (i = 0; i < ah.count; i++) {
		struct cld_inotify *w = &p->watches[i];

		memcpy(&w->rec, s + sizeof(ah) + (size_t)i * ah.rec_size, sizeof(w->rec));
		ret = rimg_take_name(d, &w->path, tab, tab_len, w->rec.name_off, w->rec.name_len,
				     "inotify watch");
		if (ret)
			return ret;
	}
	return 0;
}

int rimg_dec_guards(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	struct cld_array_hdr ah;
	uint32_t i;
	int ret;

	ret = rimg_array_hdr(d, s, len, sizeof(struct cld_range_rec), CLD_MAX_EXTENTS, &ah,
			"CLONDIKE/GUARDS");
	if (ret)
		return ret;
	p->guards = calloc(ah.count ? ah.count : 1, sizeof(*p->guards));
	if (!p->guards)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	p->nr_guards = ah.count;
	for (i = 0; i < ah.count; i++)
		memcpy(&p->guards[i], s + sizeof(ah) + (size_t)i * ah.rec_size,
		       sizeof(p->guards[i]));
	return 0;
}
