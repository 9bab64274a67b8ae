// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The note encoder: a struct cld_proc to the first note segment of its
 * image (docs/image-format.md: note order, padding, records).  Shared by
 * clondike.ko and userspace (codec_env.h).
 */
#include "codec_env.h"

static void *buf_grow(struct cld_nbuf *b, size_t n)
{
	void *at;

	if (b->err)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		/* Past the limit the notes are refused anyway. */
		if (cap > CLD_MAX_NOTES_SIZE + CLD_PG) {
			b->err = -E2BIG;
			return NULL;
		}
		np = cld_malloc(cap);
		if (!np) {
			b->err = -ENOMEM;
			return NULL;
		}
		if (b->len)
			memcpy(np, b->p, b->len);
		cld_free(b->p);
		b->p = np;
		b->cap = cap;
	}
	at = b->p + b->len;
	memset(at, 0, n);
	b->len += n;
	return at;
}

static void buf_put(struct cld_nbuf *b, const void *d, size_t n)
{
	void *at = buf_grow(b, n);

	if (at && n)
		memcpy(at, d, n);
}

static void buf_pad(struct cld_nbuf *b, size_t align)
{
	buf_grow(b, (align - b->len % align) % align);
}

static void put_str(struct cld_nbuf *b, const char *s)
{
	buf_put(b, s, cld_str_len(s));
}

/* Start a note; returns the offset of its descsz field. */
static size_t note_begin(struct cld_nbuf *b, const char *name, uint32_t type)
{
	Elf64_Nhdr nh = { .n_namesz = (uint32_t)strlen(name) + 1, .n_type = type };
	size_t at = b->len + offsetof(Elf64_Nhdr, n_descsz);

	buf_put(b, &nh, sizeof(nh));
	buf_put(b, name, nh.n_namesz);
	buf_pad(b, 4);
	return at;
}

static void note_end(struct cld_nbuf *b, size_t at)
{
	uint32_t descsz, namesz;
	size_t desc;

	if (b->err)
		return;
	/* at points at n_descsz; the name follows the 12-byte header. */
	memcpy(&namesz, b->p + at - 4, sizeof(namesz));
	desc = at - 4 + sizeof(Elf64_Nhdr) + ((namesz + 3) & ~3u);
	descsz = (uint32_t)(b->len - desc);
	memcpy(b->p + at, &descsz, sizeof(descsz));
	buf_pad(b, 4);
}

static void note(struct cld_nbuf *b, const char *name, uint32_t type, const void *d, size_t n)
{
	size_t at = note_begin(b, name, type);

	buf_put(b, d, n);
	note_end(b, at);
}

static void encode_file_note(struct cld_nbuf *b, const struct cld_proc *p)
{
	uint64_t count = 0, page = CLD_PG;
	size_t at = note_begin(b, "CORE", CLD_NT_FILE);
	uint32_t i;

	for (i = 0; i < p->nr_vmas; i++)
		count += !!(p->vmas[i].rec.flags & CLD_VMA_FILE);
	buf_put(b, &count, 8);
	buf_put(b, &page, 8);
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		uint64_t pgoff = v->rec.pgoff / CLD_PG;

		if (!(v->rec.flags & CLD_VMA_FILE))
			continue;
		buf_put(b, &v->rec.start, 8);
		buf_put(b, &v->rec.end, 8);
		buf_put(b, &pgoff, 8);
	}
	for (i = 0; i < p->nr_vmas; i++)
		if (p->vmas[i].rec.flags & CLD_VMA_FILE)
			buf_put(b, p->vmas[i].name, strlen(p->vmas[i].name) + 1);
	note_end(b, at);
}

/* Standard notes, grouped per thread as gdb expects them. */
static void encode_thread_std(struct cld_nbuf *b, const struct cld_proc *p, uint32_t i)
{
	const struct cld_thread *t = &p->threads[i];

	note(b, "CORE", CLD_NT_PRSTATUS, &t->prstatus, sizeof(t->prstatus));
	if (i == 0) {
		note(b, "CORE", CLD_NT_PRPSINFO, &p->psinfo, sizeof(p->psinfo));
		note(b, "CORE", CLD_NT_AUXV, p->auxv, p->mm.auxv_len);
		encode_file_note(b, p);
	}
	note(b, "CORE", CLD_NT_FPREGSET, t->fpregs, sizeof(t->fpregs));
	if (t->xstate_len)
		note(b, "LINUX", CLD_NT_X86_XSTATE, t->xstate, t->xstate_len);
}

/* VMAS: array header, records, then the names back to back. */
static void encode_vmas(struct cld_nbuf *b, struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_vma_rec), p->nr_vmas };
	size_t at = note_begin(b, CLD_NOTE_NAME, CLD_NT_VMAS);
	uint32_t i, soff = 0;

	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_vmas; i++) {
		struct cld_vma *v = &p->vmas[i];
		uint32_t j;

		v->rec.name_off = soff;
		v->rec.name_len = (uint32_t)cld_str_len(v->name);
		soff += v->rec.name_len;
		v->rec.nr_dumped = 0;
		for (j = 0; j < v->nr_ext; j++)
			v->rec.nr_dumped += v->ext[j].count;
		buf_put(b, &v->rec, sizeof(v->rec));
	}
	for (i = 0; i < p->nr_vmas; i++)
		put_str(b, p->vmas[i].name);
	note_end(b, at);
}

/* PAGES: every extent, VMA by VMA. */
static void encode_pages(struct cld_nbuf *b, const struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_extent_rec), 0 };
	size_t at = note_begin(b, CLD_NOTE_NAME, CLD_NT_PAGES);
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		ah.count += p->vmas[i].nr_ext;
	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_vmas; i++) {
		for (j = 0; j < p->vmas[i].nr_ext; j++) {
			struct cld_extent_rec r = {
				.vma = i,
				.first = p->vmas[i].ext[j].first,
				.count = p->vmas[i].ext[j].count,
			};

			buf_put(b, &r, sizeof(r));
		}
	}
	note_end(b, at);
}

/* FDS: array header, records, then the names. */
static void encode_fds(struct cld_nbuf *b, struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_fd_rec), p->nr_fds };
	size_t at = note_begin(b, CLD_NOTE_NAME, CLD_NT_FDS);
	uint32_t i, soff = 0;

	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd *f = &p->fds[i];

		f->rec.name_off = soff;
		f->rec.name_len = (uint32_t)cld_str_len(f->name);
		soff += f->rec.name_len;
		buf_put(b, &f->rec, sizeof(f->rec));
	}
	for (i = 0; i < p->nr_fds; i++)
		put_str(b, p->fds[i].name);
	note_end(b, at);
}

/* EPOLL only when an epoll fd watches something. */
static void encode_epolls(struct cld_nbuf *b, const struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_epoll_rec), p->nr_epolls };
	size_t at;

	if (!p->nr_epolls)
		return;
	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_EPOLL);
	buf_put(b, &ah, sizeof(ah));
	buf_put(b, p->epolls, (size_t)p->nr_epolls * sizeof(*p->epolls));
	note_end(b, at);
}

/* TIMERS only when the process has POSIX timers recorded. */
static void encode_timers(struct cld_nbuf *b, const struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_timer_rec), p->nr_timers };
	size_t at;

	if (!p->nr_timers)
		return;
	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_TIMERS);
	buf_put(b, &ah, sizeof(ah));
	buf_put(b, p->timers, (size_t)p->nr_timers * sizeof(*p->timers));
	note_end(b, at);
}

/* INOTIFY only when there are watches: records, then their paths. */
static void encode_watches(struct cld_nbuf *b, struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_inotify_rec), p->nr_watches };
	uint32_t i, soff = 0;
	size_t at;

	if (!p->nr_watches)
		return;
	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_INOTIFY);
	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_watches; i++) {
		struct cld_inotify *w = &p->watches[i];

		w->rec.name_off = soff;
		w->rec.name_len = (uint32_t)cld_str_len(w->path);
		soff += w->rec.name_len;
		buf_put(b, &w->rec, sizeof(w->rec));
	}
	for (i = 0; i < p->nr_watches; i++)
		put_str(b, p->watches[i].path);
	note_end(b, at);
}

/* GUARDS only when there are guard pages. */
static void encode_guards(struct cld_nbuf *b, const struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_range_rec), p->nr_guards };
	size_t at;

	if (!p->nr_guards)
		return;
	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_GUARDS);
	buf_put(b, &ah, sizeof(ah));
	buf_put(b, p->guards, (size_t)p->nr_guards * sizeof(*p->guards));
	note_end(b, at);
}

/* PIPEDATA only when there is pipe data: records padded to 8. */
static void encode_pipes(struct cld_nbuf *b, const struct cld_proc *p)
{
	size_t at;
	uint32_t i;

	if (!p->nr_pipes)
		return;
	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_PIPEDATA);
	for (i = 0; i < p->nr_pipes; i++) {
		struct cld_pipedata_rec r = { .ino = p->pipes[i].ino,
					       .len = p->pipes[i].len,
					       .kind = p->pipes[i].kind };

		buf_put(b, &r, sizeof(r));
		buf_put(b, p->pipes[i].data, r.len);
		buf_grow(b, (8 - r.len % 8) % 8);
	}
	note_end(b, at);
}

static void fill_counts(struct cld_proc *p)
{
	p->hdr.magic = CLD_HDR_MAGIC;
	p->hdr.major = CLD_FORMAT_MAJOR;
	p->hdr.minor = CLD_FORMAT_MINOR;
	p->hdr.page_size = CLD_PG;
	p->hdr.nr_threads = p->nr_threads;
	p->hdr.nr_vmas = p->nr_vmas;
	p->hdr.nr_fds = p->nr_fds;
	p->hdr.nr_segs = (uint32_t)cld_count_segments(p);
	p->hdr.nr_dumped = cld_proc_nr_dumped(p);
	p->proc.cwd_len = (uint32_t)cld_str_len(p->cwd);
	p->proc.root_len = (uint32_t)cld_str_len(p->root);
	p->proc.exe_len = (uint32_t)cld_str_len(p->exe);
}

int cld_notes_build(struct cld_proc *p, struct cld_nbuf *b)
{
	size_t at;
	uint32_t i;

	fill_counts(p);
	for (i = 0; i < p->nr_threads; i++)
		encode_thread_std(b, p, i);

	note(b, CLD_NOTE_NAME, CLD_NT_HEADER, &p->hdr, sizeof(p->hdr));

	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_PROC);
	buf_put(b, &p->proc, sizeof(p->proc));
	put_str(b, p->cwd);
	put_str(b, p->root);
	put_str(b, p->exe);
	note_end(b, at);

	note(b, CLD_NOTE_NAME, CLD_NT_MM, &p->mm, sizeof(p->mm));

	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_CREDS);
	buf_put(b, &p->creds, sizeof(p->creds));
	buf_put(b, p->groups, 4 * (size_t)p->creds.nr_groups);
	note_end(b, at);

	for (i = 0; i < p->nr_threads; i++) {
		const struct cld_thread *t = &p->threads[i];

		at = note_begin(b, CLD_NOTE_NAME, CLD_NT_THREAD);
		buf_put(b, &t->rec, sizeof(t->rec));
		buf_put(b, t->queue, sizeof(*t->queue) * (size_t)t->rec.nr_queue);
		note_end(b, at);
	}

	encode_vmas(b, p);
	encode_pages(b, p);
	encode_fds(b, p);
	encode_pipes(b, p);
	encode_epolls(b, p);
	encode_timers(b, p);
	encode_guards(b, p);
	encode_watches(b, p);

	at = note_begin(b, CLD_NOTE_NAME, CLD_NT_SIGNALS);
	buf_put(b, &p->sig, sizeof(p->sig));
	buf_put(b, p->shared_queue, sizeof(*p->shared_queue) * (size_t)p->sig.nr_shared_queue);
	note_end(b, at);

	if (!b->err && b->len > CLD_MAX_NOTES_SIZE)
		b->err = -E2BIG;
	return b->err;
}

void cld_nbuf_release(struct cld_nbuf *b)
{
	cld_free(b->p);
	memset(b, 0, sizeof(*b));
}
