// SPDX-License-Identifier: MIT
/*
 * The image writer.  An image is computed, never stored: the ELF header,
 * program headers and the first note segment are encoded once when the
 * image is built (their size is O(VMAs + threads)), page data is read from
 * the memory source when someone reads those bytes, and the digest note at
 * the end is filled from a cache that page reads keep warm.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/image.h"
#include "clondike/util.h"

#define PAGE CLD_PAGE_SIZE

/* A run of dumped pages with its place in the image. */
struct img_ext {
	uint64_t vaddr; /* of the first page */
	uint64_t count; /* pages */
	uint64_t off; /* file offset of the first page */
	uint64_t idx; /* image-wide index of the first dumped page */
};

struct cld_image {
	struct cld_proc *p;
	const struct cld_mem_ops *ops;
	void *ctx;
	struct cld_layout lo;
	uint8_t *head; /* ELF header, phdrs, [shdr], first note segment */
	size_t head_len;
	struct img_ext *ext; /* sorted by vaddr and by off */
	size_t nr_ext;
	uint8_t tail_hdr[40]; /* note header + cld_digests_hdr */
	uint64_t *digest; /* nr_dumped digests */
	uint64_t *digest_ok; /* bitmap of computed digests */
};

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

static size_t str_len(const char *s)
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
	if (str_len(p->cwd) > CLD_MAX_PATH || str_len(p->root) > CLD_MAX_PATH ||
	    str_len(p->exe) > CLD_MAX_PATH)
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
		if (str_len(v->name) > CLD_MAX_PATH)
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
		if (str_len(p->fds[i].name) > CLD_MAX_PATH)
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

static uint64_t count_segments(const struct cld_proc *p)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < p->nr_vmas; i++)
		n += vma_segments(&p->vmas[i], i, NULL);
	return n;
}

static uint64_t tail_size(uint64_t nr_dumped)
{
	/* note header (12) + "CLONDIKE\0" padded (12) + cld_digests_hdr + digests */
	return 12 + 12 + sizeof(struct cld_digests_hdr) + 8 * nr_dumped;
}

int cld_layout_compute(const struct cld_proc *p, uint64_t notes_size, struct cld_layout *lo,
		       struct cld_err *err)
{
	uint64_t nsegs = count_segments(p), off, idx = 0;
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
	lo->tail_size = tail_size(idx);
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

/* ---- Notes ------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

static void *buf_grow(struct buf *b, size_t n)
{
	void *at;

	if (b->oom)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return NULL;
		}
		b->p = np;
		b->cap = cap;
	}
	at = b->p + b->len;
	memset(at, 0, n);
	b->len += n;
	return at;
}

static void buf_put(struct buf *b, const void *d, size_t n)
{
	void *at = buf_grow(b, n);

	if (at && n)
		memcpy(at, d, n);
}

static void buf_pad(struct buf *b, size_t align)
{
	size_t pad = (align - b->len % align) % align;

	buf_grow(b, pad);
}

/* Start a note; returns the offset of its descsz field. */
static size_t note_begin(struct buf *b, const char *name, uint32_t type)
{
	Elf64_Nhdr nh = { .n_namesz = (uint32_t)strlen(name) + 1, .n_type = type };
	size_t at = b->len + offsetof(Elf64_Nhdr, n_descsz);

	buf_put(b, &nh, sizeof(nh));
	buf_put(b, name, nh.n_namesz);
	buf_pad(b, 4);
	return at;
}

static void note_end(struct buf *b, size_t at)
{
	uint32_t descsz, namesz;
	size_t desc;

	if (b->oom)
		return;
	/* at points at n_descsz; the name follows the 12-byte header. */
	memcpy(&namesz, b->p + at - 4, sizeof(namesz));
	desc = at - 4 + sizeof(Elf64_Nhdr) + ((namesz + 3) & ~3u);
	descsz = (uint32_t)(b->len - desc);
	memcpy(b->p + at, &descsz, sizeof(descsz));
	buf_pad(b, 4);
}

static void note(struct buf *b, const char *name, uint32_t type, const void *d, size_t n)
{
	size_t at = note_begin(b, name, type);

	buf_put(b, d, n);
	note_end(b, at);
}

static void put_str(struct buf *b, const char *s)
{
	buf_put(b, s, str_len(s));
}

static void encode_file_note(struct buf *b, const struct cld_proc *p)
{
	uint64_t count = 0, page = PAGE;
	size_t at = note_begin(b, "CORE", CLD_NT_FILE);
	uint32_t i;

	for (i = 0; i < p->nr_vmas; i++)
		count += !!(p->vmas[i].rec.flags & CLD_VMA_FILE);
	buf_put(b, &count, 8);
	buf_put(b, &page, 8);
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		uint64_t pgoff = v->rec.pgoff / PAGE;

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

static void encode_thread_std(struct buf *b, const struct cld_proc *p, uint32_t i)
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

static void encode_vmas(struct buf *b, struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_vma_rec), p->nr_vmas };
	size_t at = note_begin(b, CLD_NOTE_NAME, CLD_NT_VMAS);
	uint32_t i, soff = 0;

	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_vmas; i++) {
		struct cld_vma *v = &p->vmas[i];
		uint32_t j;

		v->rec.name_off = soff;
		v->rec.name_len = (uint32_t)str_len(v->name);
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

static void encode_pages(struct buf *b, const struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_extent_rec), 0 };
	size_t at = note_begin(b, CLD_NOTE_NAME, CLD_NT_PAGES);
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		ah.count += p->vmas[i].nr_ext;
	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_vmas; i++) {
		for (j = 0; j < p->vmas[i].nr_ext; j++) {
			struct cld_extent_rec r = { .vma = i,
						    .first = p->vmas[i].ext[j].first,
						    .count = p->vmas[i].ext[j].count };

			buf_put(b, &r, sizeof(r));
		}
	}
	note_end(b, at);
}

static void encode_fds(struct buf *b, struct cld_proc *p)
{
	struct cld_array_hdr ah = { sizeof(struct cld_fd_rec), p->nr_fds };
	size_t at = note_begin(b, CLD_NOTE_NAME, CLD_NT_FDS);
	uint32_t i, soff = 0;

	buf_put(b, &ah, sizeof(ah));
	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd *f = &p->fds[i];

		f->rec.name_off = soff;
		f->rec.name_len = (uint32_t)str_len(f->name);
		soff += f->rec.name_len;
		buf_put(b, &f->rec, sizeof(f->rec));
	}
	for (i = 0; i < p->nr_fds; i++)
		put_str(b, p->fds[i].name);
	note_end(b, at);
}

int cld_notes_encode(struct cld_proc *p, uint8_t **out, size_t *len, struct cld_err *err)
{
	struct buf b = { 0 };
	size_t at;
	uint32_t i;

	p->hdr.magic = CLD_HDR_MAGIC;
	p->hdr.major = CLD_FORMAT_MAJOR;
	p->hdr.minor = CLD_FORMAT_MINOR;
	p->hdr.page_size = PAGE;
	p->hdr.nr_threads = p->nr_threads;
	p->hdr.nr_vmas = p->nr_vmas;
	p->hdr.nr_fds = p->nr_fds;
	p->hdr.nr_segs = (uint32_t)count_segments(p);
	p->hdr.nr_dumped = cld_proc_nr_dumped(p);
	p->proc.cwd_len = (uint32_t)str_len(p->cwd);
	p->proc.root_len = (uint32_t)str_len(p->root);
	p->proc.exe_len = (uint32_t)str_len(p->exe);

	for (i = 0; i < p->nr_threads; i++)
		encode_thread_std(&b, p, i);

	note(&b, CLD_NOTE_NAME, CLD_NT_HEADER, &p->hdr, sizeof(p->hdr));

	at = note_begin(&b, CLD_NOTE_NAME, CLD_NT_PROC);
	buf_put(&b, &p->proc, sizeof(p->proc));
	put_str(&b, p->cwd);
	put_str(&b, p->root);
	put_str(&b, p->exe);
	note_end(&b, at);

	note(&b, CLD_NOTE_NAME, CLD_NT_MM, &p->mm, sizeof(p->mm));

	at = note_begin(&b, CLD_NOTE_NAME, CLD_NT_CREDS);
	buf_put(&b, &p->creds, sizeof(p->creds));
	buf_put(&b, p->groups, 4 * (size_t)p->creds.nr_groups);
	note_end(&b, at);

	for (i = 0; i < p->nr_threads; i++) {
		const struct cld_thread *t = &p->threads[i];

		at = note_begin(&b, CLD_NOTE_NAME, CLD_NT_THREAD);
		buf_put(&b, &t->rec, sizeof(t->rec));
		buf_put(&b, t->queue, sizeof(*t->queue) * (size_t)t->rec.nr_queue);
		note_end(&b, at);
	}

	encode_vmas(&b, p);
	encode_pages(&b, p);
	encode_fds(&b, p);

	if (p->nr_pipes) {
		at = note_begin(&b, CLD_NOTE_NAME, CLD_NT_PIPEDATA);
		for (i = 0; i < p->nr_pipes; i++) {
			struct cld_pipedata_rec r = { .ino = p->pipes[i].ino,
						      .len = p->pipes[i].len };

			buf_put(&b, &r, sizeof(r));
			buf_put(&b, p->pipes[i].data, r.len);
			buf_grow(&b, (8 - r.len % 8) % 8);
		}
		note_end(&b, at);
	}

	at = note_begin(&b, CLD_NOTE_NAME, CLD_NT_SIGNALS);
	buf_put(&b, &p->sig, sizeof(p->sig));
	buf_put(&b, p->shared_queue, sizeof(*p->shared_queue) * (size_t)p->sig.nr_shared_queue);
	note_end(&b, at);

	if (b.oom) {
		free(b.p);
		return cld_err_set(err, -ENOMEM, "out of memory encoding notes");
	}
	if (b.len > CLD_MAX_NOTES_SIZE) {
		free(b.p);
		return cld_err_set(err, -E2BIG, "notes of %zu bytes exceed the %u limit", b.len,
				   CLD_MAX_NOTES_SIZE);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ---- The virtual image ------------------------------------------------- */

static void encode_ehdr(struct cld_image *img)
{
	const struct cld_layout *lo = &img->lo;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img->head;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img->head + lo->phoff);
	uint32_t i;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = lo->phoff;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	if (lo->shoff) {
		Elf64_Shdr *sh = (Elf64_Shdr *)(img->head + lo->shoff);

		/* PN_XNUM: the real count lives in section 0's sh_info. */
		eh->e_phnum = PN_XNUM;
		eh->e_shoff = lo->shoff;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = 1;
		sh->sh_info = lo->phnum;
	} else {
		eh->e_phnum = (uint16_t)lo->phnum;
	}

	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = lo->notes_off;
	ph[0].p_filesz = lo->notes_size;
	ph[0].p_align = 4;
	for (i = 0; i < lo->nr_segs; i++) {
		const struct cld_seg *s = &lo->segs[i];
		Elf64_Phdr *q = &ph[1 + i];

		q->p_type = PT_LOAD;
		q->p_flags = s->pflags;
		q->p_offset = s->offset;
		q->p_vaddr = s->vaddr;
		q->p_filesz = s->filesz;
		q->p_memsz = s->memsz;
		q->p_align = PAGE;
	}
	ph[lo->phnum - 1].p_type = PT_NOTE;
	ph[lo->phnum - 1].p_offset = lo->tail_off;
	ph[lo->phnum - 1].p_filesz = lo->tail_size;
	ph[lo->phnum - 1].p_align = 4;
}

static int build_extents(struct cld_image *img, struct cld_err *err)
{
	const struct cld_proc *p = img->p;
	const struct cld_layout *lo = &img->lo;
	uint64_t n = 0;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		n += p->vmas[i].nr_ext;
	img->ext = calloc(n ? n : 1, sizeof(*img->ext));
	if (!img->ext)
		return cld_err_set(err, -ENOMEM, "out of memory for %llu page runs",
				   (unsigned long long)n);
	n = 0;
	for (i = 0; i < lo->nr_segs; i++) {
		const struct cld_seg *s = &lo->segs[i];
		const struct cld_vma *v = &p->vmas[s->vma];
		uint64_t idx = s->first_dumped;

		if (!s->filesz)
			continue;
		for (j = 0; j < v->nr_ext; j++) {
			uint64_t a = v->rec.start + v->ext[j].first * PAGE;

			if (a < s->vaddr || a >= s->vaddr + s->memsz)
				continue;
			img->ext[n].vaddr = a;
			img->ext[n].count = v->ext[j].count;
			img->ext[n].off = s->offset + (a - s->vaddr);
			img->ext[n].idx = idx;
			idx += v->ext[j].count;
			n++;
		}
	}
	img->nr_ext = n;
	return 0;
}

int cld_image_new(struct cld_proc *p, const struct cld_mem_ops *ops, void *ctx,
		  struct cld_image **out, struct cld_err *err)
{
	struct cld_image *img;
	struct cld_digests_hdr dh = { 8, CLD_DIGEST_XXH3_64, 0 };
	Elf64_Nhdr nh;
	uint8_t *notes = NULL;
	size_t notes_len;
	uint64_t words;
	int ret;

	ret = cld_proc_validate(p, err);
	if (ret)
		return ret;
	img = calloc(1, sizeof(*img));
	if (!img)
		return cld_err_set(err, -ENOMEM, "out of memory");
	img->p = p;
	img->ops = ops;
	img->ctx = ctx;
	ret = cld_notes_encode(p, &notes, &notes_len, err);
	if (ret)
		goto fail;
	ret = cld_layout_compute(p, notes_len, &img->lo, err);
	if (ret)
		goto fail;
	img->head_len = img->lo.notes_off + notes_len;
	img->head = calloc(1, img->head_len);
	if (!img->head) {
		ret = cld_err_set(err, -ENOMEM, "out of memory for image headers");
		goto fail;
	}
	encode_ehdr(img);
	memcpy(img->head + img->lo.notes_off, notes, notes_len);
	free(notes);
	notes = NULL;
	ret = build_extents(img, err);
	if (ret)
		goto fail;

	nh.n_namesz = sizeof(CLD_NOTE_NAME);
	nh.n_descsz = (uint32_t)(sizeof(dh) + 8 * img->lo.nr_dumped);
	nh.n_type = CLD_NT_DIGESTS;
	if ((uint64_t)sizeof(dh) + 8 * img->lo.nr_dumped > UINT32_MAX) {
		ret = cld_err_set(err, -E2BIG, "too many pages for one digest note");
		goto fail;
	}
	dh.count = img->lo.nr_dumped;
	memcpy(img->tail_hdr, &nh, sizeof(nh));
	memcpy(img->tail_hdr + 12, CLD_NOTE_NAME, sizeof(CLD_NOTE_NAME));
	memcpy(img->tail_hdr + 24, &dh, sizeof(dh));

	words = (img->lo.nr_dumped + 63) / 64;
	img->digest = calloc(img->lo.nr_dumped ? img->lo.nr_dumped : 1, 8);
	img->digest_ok = calloc(words ? words : 1, 8);
	if (!img->digest || !img->digest_ok) {
		ret = cld_err_set(err, -ENOMEM, "out of memory for page digests");
		goto fail;
	}
	*out = img;
	return 0;
fail:
	free(notes);
	cld_image_free(img);
	return ret;
}

void cld_image_free(struct cld_image *img)
{
	if (!img)
		return;
	cld_layout_release(&img->lo);
	free(img->head);
	free(img->ext);
	free(img->digest);
	free(img->digest_ok);
	free(img);
}

const struct cld_layout *cld_image_layout(const struct cld_image *img)
{
	return &img->lo;
}

/* First extent whose data ends after off (by file offset). */
static size_t ext_after(const struct cld_image *img, uint64_t off)
{
	size_t lo = 0, hi = img->nr_ext;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct img_ext *e = &img->ext[mid];

		if (e->off + e->count * PAGE <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline int digest_known(const struct cld_image *img, uint64_t i)
{
	return (img->digest_ok[i / 64] >> (i % 64)) & 1;
}

static inline void digest_store(struct cld_image *img, uint64_t i, uint64_t d)
{
	img->digest[i] = d;
	img->digest_ok[i / 64] |= 1ull << (i % 64);
}

/* Read [off, off+len) lying inside extent e; cache digests of whole pages. */
static int read_ext(struct cld_image *img, const struct img_ext *e, uint8_t *buf, size_t len,
		    uint64_t off)
{
	uint64_t rel = off - e->off;
	uint64_t first, last, pg;
	int ret;

	if (!img->ops || !img->ops->read)
		return -EIO;
	ret = img->ops->read(img->ctx, e->vaddr + rel, buf, len);
	if (ret)
		return ret;
	first = (rel + PAGE - 1) / PAGE;
	last = (rel + len) / PAGE; /* exclusive */
	for (pg = first; pg < last; pg++) {
		uint64_t i = e->idx + pg;

		if (!digest_known(img, i))
			digest_store(img, i, cld_page_digest(buf + (pg * PAGE - rel)));
	}
	return 0;
}

/* Fill digests [first, first+n): batch reads of contiguous unknown pages. */
static int fill_digests(struct cld_image *img, uint64_t first, uint64_t n)
{
	enum { BATCH = 64 };
	uint64_t i = first, end = first + n;
	uint8_t *scratch = NULL;
	int ret = 0;

	while (i < end) {
		size_t lo = 0, hi = img->nr_ext;
		const struct img_ext *e;
		uint64_t k, cnt;

		if (digest_known(img, i)) {
			i++;
			continue;
		}
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (img->ext[mid].idx + img->ext[mid].count <= i)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= img->nr_ext) {
			ret = -EIO;
			break;
		}
		e = &img->ext[lo];
		if (!scratch) {
			scratch = malloc(BATCH * PAGE);
			if (!scratch) {
				ret = -ENOMEM;
				break;
			}
		}
		cnt = e->idx + e->count - i;
		if (cnt > BATCH)
			cnt = BATCH;
		if (cnt > end - i)
			cnt = end - i;
		for (k = 1; k < cnt && !digest_known(img, i + k); k++)
			;
		cnt = k;
		ret = read_ext(img, e, scratch, cnt * PAGE, e->off + (i - e->idx) * PAGE);
		if (ret)
			break;
		i += cnt;
	}
	free(scratch);
	return ret;
}

static ssize_t read_tail(struct cld_image *img, uint8_t *buf, size_t len, uint64_t rel)
{
	size_t done = 0;
	int ret;

	if (rel < sizeof(img->tail_hdr)) {
		size_t n = sizeof(img->tail_hdr) - rel;

		if (n > len)
			n = len;
		memcpy(buf, img->tail_hdr + rel, n);
		done = n;
		rel += n;
	}
	if (done < len) {
		uint64_t drel = rel - sizeof(img->tail_hdr);
		uint64_t first = drel / 8, last = (drel + (len - done) + 7) / 8;

		if (last > img->lo.nr_dumped)
			last = img->lo.nr_dumped;
		ret = fill_digests(img, first, last - first);
		if (ret)
			return ret;
		memcpy(buf + done, (uint8_t *)img->digest + drel, len - done);
		done = len;
	}
	return (ssize_t)done;
}

ssize_t cld_image_pread(struct cld_image *img, void *vbuf, size_t len, uint64_t off)
{
	const struct cld_layout *lo = &img->lo;
	uint8_t *buf = vbuf;
	size_t done = 0;

	if (off >= lo->size)
		return 0;
	if (len > lo->size - off)
		len = (size_t)(lo->size - off);
	while (done < len) {
		uint64_t o = off + done;
		size_t want = len - done, n;

		if (o < img->head_len) {
			n = img->head_len - o < want ? img->head_len - o : want;
			memcpy(buf + done, img->head + o, n);
		} else if (o < lo->data_off) {
			n = lo->data_off - o < want ? lo->data_off - o : want;
			memset(buf + done, 0, n);
		} else if (o < lo->tail_off) {
			size_t k = ext_after(img, o);
			uint64_t lim = lo->tail_off;

			if (k < img->nr_ext && img->ext[k].off <= o) {
				const struct img_ext *e = &img->ext[k];
				int ret;

				lim = e->off + e->count * PAGE;
				n = lim - o < want ? lim - o : want;
				ret = read_ext(img, e, buf + done, n, o);
				if (ret)
					return done ? (ssize_t)done : ret;
			} else {
				if (k < img->nr_ext)
					lim = img->ext[k].off;
				n = lim - o < want ? lim - o : want;
				memset(buf + done, 0, n);
			}
		} else {
			ssize_t r = read_tail(img, buf + done, want, o - lo->tail_off);

			if (r < 0)
				return done ? (ssize_t)done : r;
			n = (size_t)r;
		}
		done += n;
	}
	return (ssize_t)done;
}

int64_t cld_image_seek(const struct cld_image *img, int64_t soff, int whence)
{
	const struct cld_layout *lo = &img->lo;
	uint64_t off = (uint64_t)soff;
	size_t k;

	if (soff < 0)
		return -EINVAL;
	if (off >= lo->size)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		if (off < img->head_len || off >= lo->tail_off)
			return soff;
		k = ext_after(img, off);
		if (k < img->nr_ext)
			return (int64_t)(img->ext[k].off > off ? img->ext[k].off : off);
		return (int64_t)lo->tail_off;
	}
	if (whence != SEEK_HOLE)
		return -EINVAL;
	/* Walk forward through adjacent data regions to the first gap. */
	if (off < img->head_len) {
		off = img->head_len;
		if (off < lo->data_off)
			return (int64_t)off;
	}
	if (off >= lo->tail_off)
		return (int64_t)lo->size;
	k = ext_after(img, off);
	while (k < img->nr_ext && img->ext[k].off <= off) {
		off = img->ext[k].off + img->ext[k].count * PAGE;
		k++;
	}
	/* Data running up to the digest note continues to the end. */
	return (int64_t)(off == lo->tail_off ? lo->size : off);
}

int cld_image_write_fd(struct cld_image *img, int fd,
		       void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg,
		       struct cld_err *err)
{
	enum { CHUNK = 1 << 20 };
	const struct cld_layout *lo = &img->lo;
	int seekable = lseek(fd, 0, SEEK_CUR) >= 0;
	uint64_t off = 0, total = lo->size, data_done = 0;
	uint8_t *buf;
	int ret = 0;

	buf = malloc(CHUNK);
	if (!buf)
		return cld_err_set(err, -ENOMEM, "out of memory");
	while (off < total) {
		uint64_t next;
		ssize_t n;
		size_t want;

		if (seekable) {
			/* Skip holes: the destination stays sparse. */
			int64_t d = cld_image_seek(img, (int64_t)off, SEEK_DATA);

			if (d < 0)
				break;
			off = (uint64_t)d;
			next = (uint64_t)cld_image_seek(img, (int64_t)off, SEEK_HOLE);
		} else {
			next = total;
		}
		want = next - off < CHUNK ? (size_t)(next - off) : CHUNK;
		n = cld_image_pread(img, buf, want, off);
		if (n <= 0) {
			ret = cld_err_set(err, n ? (int)n : -EIO,
					  "reading image at offset %llu: %s",
					  (unsigned long long)off, n ? strerror((int)-n) : "short");
			goto out;
		}
		if (seekable && lseek(fd, (off_t)off, SEEK_SET) < 0) {
			ret = cld_err_set(err, -errno, "seek in output: %s", strerror(errno));
			goto out;
		}
		ret = cld_write_all(fd, buf, (size_t)n);
		if (ret) {
			cld_err_set(err, ret, "writing image: %s", strerror(-ret));
			goto out;
		}
		off += (uint64_t)n;
		data_done += (uint64_t)n;
		if (progress)
			progress(arg, data_done, lo->data_bytes);
	}
	if (seekable && ftruncate(fd, (off_t)total) < 0) {
		/* Not a regular file (a pipe or device): nothing to size. */
		if (errno != EINVAL)
			ret = cld_err_set(err, -errno, "sizing output: %s", strerror(errno));
	}
out:
	free(buf);
	return ret;
}
