// SPDX-License-Identifier: MIT
/*
 * The reader's note decoder: the first note segment of an image back to a
 * struct cld_proc, every record checked against what contains it; and
 * cld_proc_dup (an encode and a decode).
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clondike/image_read.h"
#include "image_read_priv.h"


enum {
	SEEN_HEADER = 1 << 0,
	SEEN_PROC = 1 << 1,
	SEEN_MM = 1 << 2,
	SEEN_CREDS = 1 << 3,
	SEEN_VMAS = 1 << 4,
	SEEN_PAGES = 1 << 5,
	SEEN_FDS = 1 << 6,
	SEEN_PIPES = 1 << 7,
	SEEN_SIGNALS = 1 << 8,
	SEEN_PRPSINFO = 1 << 9,
	SEEN_AUXV = 1 << 10,
	SEEN_FILE = 1 << 11,
	SEEN_EPOLL = 1 << 12,
	SEEN_TIMERS = 1 << 13,
	SEEN_GUARDS = 1 << 14,
	SEEN_INOTIFY = 1 << 15,
	SEEN_REQUIRED = SEEN_HEADER | SEEN_PROC | SEEN_MM | SEEN_CREDS | SEEN_VMAS |
			SEEN_PAGES | SEEN_FDS | SEEN_SIGNALS | SEEN_PRPSINFO | SEEN_AUXV |
			SEEN_FILE,
};

static const char *const seen_names[] = {
	"CLONDIKE/HEADER", "CLONDIKE/PROC",  "CLONDIKE/MM",	 "CLONDIKE/CREDS",
	"CLONDIKE/VMAS",   "CLONDIKE/PAGES", "CLONDIKE/FDS",	 "CLONDIKE/PIPEDATA",
	"CLONDIKE/SIGNALS", "CORE/NT_PRPSINFO", "CORE/NT_AUXV", "CORE/NT_FILE",
	"CLONDIKE/EPOLL", "CLONDIKE/TIMERS", "CLONDIKE/GUARDS", "CLONDIKE/INOTIFY",
};

static int once(struct dec *d, uint32_t bit)
{
	int i = __builtin_ctz(bit);

	if (d->seen & bit)
		return cld_err_set(d->err, -EBADMSG, "duplicate %s note", seen_names[i]);
	d->seen |= bit;
	return 0;
}

/* Copy a fixed record that may have grown in a later minor version. */
static int take_rec(struct dec *d, void *dst, size_t size, const uint8_t *src, size_t len,
		    const char *what)
{
	if (len < size)
		return cld_err_set(d->err, -EBADMSG, "%s note too short: %zu bytes, need %zu",
				   what, len, size);
	memcpy(dst, src, size);
	return 0;
}

static char *dup_bytes(const uint8_t *s, size_t n)
{
	char *r = malloc(n + 1);

	if (r) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

/* A name from a string table; NULL (and *ok = 0 on OOM/bounds) otherwise. */
int rimg_take_name(struct dec *d, char **out, const uint8_t *tab, size_t tab_len,
		     uint32_t off, uint32_t len, const char *what)
{
	*out = NULL;
	if (!len)
		return 0;
	if (len > CLD_MAX_PATH || off > tab_len || len > tab_len - off)
		return cld_err_set(d->err, -EBADMSG,
				   "%s: name at %u+%u outside its %zu-byte string table", what,
				   off, len, tab_len);
	if (memchr(tab + off, '\0', len))
		return cld_err_set(d->err, -EBADMSG, "%s: name contains a NUL byte", what);
	*out = dup_bytes(tab + off, len);
	return *out ? 0 : cld_err_set(d->err, -ENOMEM, "out of memory");
}

static struct cld_thread *add_thread(struct dec *d)
{
	struct cld_proc *p = d->p;
	struct cld_thread *t;

	if (p->nr_threads >= CLD_MAX_THREADS) {
		cld_err_set(d->err, -E2BIG, "more than %u threads", CLD_MAX_THREADS);
		return NULL;
	}
	t = realloc(p->threads, (p->nr_threads + 1) * sizeof(*t));
	if (!t) {
		cld_err_set(d->err, -ENOMEM, "out of memory");
		return NULL;
	}
	p->threads = t;
	t = &p->threads[p->nr_threads++];
	memset(t, 0, sizeof(*t));
	return t;
}

static int dec_proc(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	uint64_t var, base;
	int ret;

	/* The path lengths are in 1.1's part: they say where the record
	 * ends, and so how long it is. */
	ret = take_rec(d, &p->proc, CLD_PROC_REC_SIZE_1_1, s, len, "CLONDIKE/PROC");
	if (ret)
		return ret;
	var = (uint64_t)p->proc.cwd_len + p->proc.root_len + p->proc.exe_len;
	if (p->proc.cwd_len > CLD_MAX_PATH || p->proc.root_len > CLD_MAX_PATH ||
	    p->proc.exe_len > CLD_MAX_PATH || var > len - CLD_PROC_REC_SIZE_1_1)
		return cld_err_set(d->err, -EBADMSG,
				   "CLONDIKE/PROC: path lengths %u/%u/%u exceed the note",
				   p->proc.cwd_len, p->proc.root_len, p->proc.exe_len);
	base = len - var;
	if (base >= sizeof(p->proc))
		memcpy(&p->proc, s, sizeof(p->proc));
	else if (p->hdr.minor >= 2 || base != CLD_PROC_REC_SIZE_1_1)
		return cld_err_set(d->err, -EBADMSG,
				   "CLONDIKE/PROC: a record of %llu bytes (format %u.%u needs %zu)",
				   (unsigned long long)base, p->hdr.major, p->hdr.minor,
				   sizeof(p->proc));
	ret = rimg_take_name(d, &p->cwd, s + base, var, 0, p->proc.cwd_len, "cwd");
	if (!ret)
		ret = rimg_take_name(d, &p->root, s + base, var, p->proc.cwd_len, p->proc.root_len,
				"root");
	if (!ret)
		ret = rimg_take_name(d, &p->exe, s + base, var, p->proc.cwd_len + p->proc.root_len,
				p->proc.exe_len, "exe");
	return ret;
}

static int dec_creds(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	size_t glen;
	int ret;

	ret = take_rec(d, &p->creds, sizeof(p->creds), s, len, "CLONDIKE/CREDS");
	if (ret)
		return ret;
	if (p->creds.nr_groups > CLD_MAX_GROUPS ||
	    (uint64_t)p->creds.nr_groups * 4 > len - sizeof(p->creds))
		return cld_err_set(d->err, -EBADMSG, "CLONDIKE/CREDS: %u groups exceed the note",
				   p->creds.nr_groups);
	glen = (size_t)p->creds.nr_groups * 4;
	if (!glen)
		return 0;
	p->groups = malloc(glen);
	if (!p->groups)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	memcpy(p->groups, s + len - glen, glen);
	return 0;
}

/* Records of a queued-siginfo tail: n * 128 bytes at the end of a note. */
static int take_queue(struct dec *d, struct cld_siginfo **out, uint32_t n, const uint8_t *s,
		      size_t len, size_t rec, const char *what)
{
	size_t qlen;

	*out = NULL;
	if (n > CLD_MAX_SIGQ || (uint64_t)n * sizeof(struct cld_siginfo) > len - rec)
		return cld_err_set(d->err, -EBADMSG, "%s: %u queued signals exceed the note",
				   what, n);
	if (!n)
		return 0;
	qlen = (size_t)n * sizeof(struct cld_siginfo);
	*out = malloc(qlen);
	if (!*out)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	memcpy(*out, s + len - qlen, qlen);
	return 0;
}

static int dec_thread(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	struct cld_thread *t;
	int ret;

	if (d->nr_thread_recs >= p->nr_threads)
		return cld_err_set(d->err, -EBADMSG,
				   "CLONDIKE/THREAD note #%u without a matching NT_PRSTATUS",
				   d->nr_thread_recs + 1);
	t = &p->threads[d->nr_thread_recs++];
	ret = take_rec(d, &t->rec, CLD_THREAD_REC_SIZE_1_0, s, len, "CLONDIKE/THREAD");
	if (!ret)
		ret = take_queue(d, &t->queue, t->rec.nr_queue, s, len, CLD_THREAD_REC_SIZE_1_0,
				 "CLONDIKE/THREAD");
	if (ret)
		return ret;
	/* The record is what the queue leaves; whether a 1.0-sized one is
	 * allowed depends on the header's minor, checked after all notes. */
	if (len - (size_t)t->rec.nr_queue * sizeof(struct cld_siginfo) >= sizeof(t->rec))
		memcpy(&t->rec, s, sizeof(t->rec));
	else
		d->nr_short_threads++;
	return 0;
}

/*
 * Format 1.1 added the thread name: a 1.1 (or later) image must carry it in
 * every THREAD record; in a 1.0 image whatever follows the 1.0 record is
 * not a name, and the name reads as "" (the restorer leaves it alone).
 */
static int check_thread_names(struct dec *d)
{
	struct cld_proc *p = d->p;
	uint32_t i;

	if (p->hdr.minor >= 1 && d->nr_short_threads)
		return cld_err_set(
			d->err, -EBADMSG,
			"format %u.%u image with %u CLONDIKE/THREAD records of %u bytes (1.0 size, need %zu)",
			p->hdr.major, p->hdr.minor, d->nr_short_threads, CLD_THREAD_REC_SIZE_1_0,
			sizeof(p->threads[0].rec));
	if (p->hdr.minor == 0)
		for (i = 0; i < p->nr_threads; i++)
			memset(p->threads[i].rec.name, 0, sizeof(p->threads[i].rec.name));
	return 0;
}

static int dec_signals(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	int ret;

	ret = take_rec(d, &p->sig, sizeof(p->sig), s, len, "CLONDIKE/SIGNALS");
	if (ret)
		return ret;
	return take_queue(d, &p->shared_queue, p->sig.nr_shared_queue, s, len, sizeof(p->sig),
			  "CLONDIKE/SIGNALS");
}

int rimg_array_hdr(struct dec *d, const uint8_t *s, size_t len, size_t min_rec,
		     uint32_t limit, struct cld_array_hdr *ah, const char *what)
{
	if (len < sizeof(*ah))
		return cld_err_set(d->err, -EBADMSG, "%s note too short", what);
	memcpy(ah, s, sizeof(*ah));
	if (ah->rec_size < min_rec || ah->rec_size > 4096)
		return cld_err_set(d->err, -EBADMSG, "%s: record size %u (need %zu..4096)", what,
				   ah->rec_size, min_rec);
	if (ah->count > limit)
		return cld_err_set(d->err, -E2BIG, "%s: %u records (limit %u)", what, ah->count,
				   limit);
	if ((uint64_t)ah->count * ah->rec_size > len - sizeof(*ah))
		return cld_err_set(d->err, -EBADMSG, "%s: %u records of %u bytes exceed the note",
				   what, ah->count, ah->rec_size);
	return 0;
}

int rimg_take_array(struct dec *d, const uint8_t *s, size_t len, const struct rimg_array *a,
		    void **elems, uint32_t *count, struct rimg_tab *tab)
{
	struct cld_array_hdr ah;
	size_t copy, recs;
	uint8_t *out;
	uint32_t i;
	int ret;

	ret = rimg_array_hdr(d, s, len, a->min_rec, a->limit, &ah, a->what);
	if (ret)
		return ret;
	recs = (size_t)ah.count * ah.rec_size;
	if (tab) {
		tab->s = s + sizeof(ah) + recs;
		tab->len = len - sizeof(ah) - recs;
	}
	out = calloc(ah.count ? ah.count : 1, a->elem_size);
	if (!out)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	/* A newer writer's longer records are read up to what this reader
	 * knows; an older one's shorter ones leave zeros after them. */
	copy = ah.rec_size < a->rec_size ? ah.rec_size : a->rec_size;
	for (i = 0; i < ah.count; i++)
		memcpy(out + (size_t)i * a->elem_size, s + sizeof(ah) + (size_t)i * ah.rec_size,
		       copy);
	*elems = out;
	*count = ah.count;
	return 0;
}

static int dec_vmas(struct dec *d, const uint8_t *s, size_t len)
{
	static const struct rimg_array a = {
		"CLONDIKE/VMAS", sizeof(struct cld_vma_rec), sizeof(struct cld_vma_rec),
		CLD_MAX_VMAS, sizeof(struct cld_vma),
	};
	struct cld_proc *p = d->p;
	struct rimg_tab tab;
	uint32_t i;
	int ret;

	ret = rimg_take_array(d, s, len, &a, (void **)&p->vmas, &p->nr_vmas, &tab);
	if (ret)
		return ret;
	for (i = 0; i < p->nr_vmas; i++) {
		struct cld_vma *v = &p->vmas[i];
		char what[32];

		snprintf(what, sizeof(what), "mapping %u", i);
		ret = rimg_take_name(d, &v->name, tab.s, tab.len, v->rec.name_off, v->rec.name_len,
				     what);
		if (ret)
			return ret;
	}
	return 0;
}

static int dec_pages(struct dec *d)
{
	struct cld_proc *p = d->p;
	struct cld_array_hdr ah;
	uint32_t i, *fill;
	int ret;

	ret = rimg_array_hdr(d, d->pages_desc, d->pages_len, sizeof(struct cld_extent_rec),
			CLD_MAX_EXTENTS, &ah, "CLONDIKE/PAGES");
	if (ret)
		return ret;
	fill = calloc(p->nr_vmas ? p->nr_vmas : 1, sizeof(*fill));
	if (!fill)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	/* Two passes: count runs per VMA, then place them. */
	for (i = 0; i < ah.count; i++) {
		struct cld_extent_rec r;

		memcpy(&r, d->pages_desc + sizeof(ah) + (size_t)i * ah.rec_size, sizeof(r));
		if (r.vma >= p->nr_vmas) {
			free(fill);
			return cld_err_set(d->err, -EBADMSG,
					   "CLONDIKE/PAGES: run %u names mapping %u of %u", i, r.vma,
					   p->nr_vmas);
		}
		if (i) {
			struct cld_extent_rec q;

			memcpy(&q, d->pages_desc + sizeof(ah) + (size_t)(i - 1) * ah.rec_size,
			       sizeof(q));
			if (r.vma < q.vma) {
				free(fill);
				return cld_err_set(d->err, -EBADMSG,
						   "CLONDIKE/PAGES: runs not in mapping order at %u",
						   i);
			}
		}
		p->vmas[r.vma].nr_ext++;
	}
	for (i = 0; i < p->nr_vmas; i++) {
		if (!p->vmas[i].nr_ext)
			continue;
		p->vmas[i].ext = calloc(p->vmas[i].nr_ext, sizeof(struct cld_extent));
		if (!p->vmas[i].ext) {
			free(fill);
			return cld_err_set(d->err, -ENOMEM, "out of memory");
		}
	}
	for (i = 0; i < ah.count; i++) {
		struct cld_extent_rec r;

		memcpy(&r, d->pages_desc + sizeof(ah) + (size_t)i * ah.rec_size, sizeof(r));
		p->vmas[r.vma].ext[fill[r.vma]].first = r.first;
		p->vmas[r.vma].ext[fill[r.vma]].count = r.count;
		fill[r.vma]++;
	}
	free(fill);
	for (i = 0; i < p->nr_vmas; i++) {
		uint64_t n = 0;
		uint32_t j;

		for (j = 0; j < p->vmas[i].nr_ext; j++)
			n += p->vmas[i].ext[j].count;
		if (n != p->vmas[i].rec.nr_dumped)
			return cld_err_set(d->err, -EBADMSG,
					   "mapping %u: %llu dumped pages in CLONDIKE/PAGES, %llu in CLONDIKE/VMAS",
					   i, (unsigned long long)n,
					   (unsigned long long)p->vmas[i].rec.nr_dumped);
	}
	return 0;
}

static int dec_clondike(struct dec *d, uint32_t type, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	int ret;

	switch (type) {
	case CLD_NT_HEADER:
		ret = once(d, SEEN_HEADER);
		if (!ret)
			ret = take_rec(d, &p->hdr, sizeof(p->hdr), s, len, "CLONDIKE/HEADER");
		if (ret)
			return ret;
		if (p->hdr.magic != CLD_HDR_MAGIC)
			return cld_err_set(d->err, -EBADMSG, "CLONDIKE/HEADER: bad magic %#x",
					   p->hdr.magic);
		if (p->hdr.major != CLD_FORMAT_MAJOR)
			return cld_err_set(d->err, -EPROTONOSUPPORT,
					   "image format version %u.%u; this reader knows %u.x",
					   p->hdr.major, p->hdr.minor, CLD_FORMAT_MAJOR);
		if (p->hdr.page_size != PAGE)
			return cld_err_set(d->err, -EBADMSG, "page size %u, expected %u",
					   p->hdr.page_size, PAGE);
		return 0;
	case CLD_NT_PROC:
		ret = once(d, SEEN_PROC);
		return ret ? ret : dec_proc(d, s, len);
	case CLD_NT_MM:
		ret = once(d, SEEN_MM);
		return ret ? ret : take_rec(d, &p->mm, sizeof(p->mm), s, len, "CLONDIKE/MM");
	case CLD_NT_CREDS:
		ret = once(d, SEEN_CREDS);
		return ret ? ret : dec_creds(d, s, len);
	case CLD_NT_VMAS:
		ret = once(d, SEEN_VMAS);
		return ret ? ret : dec_vmas(d, s, len);
	case CLD_NT_PAGES:
		ret = once(d, SEEN_PAGES);
		d->pages_desc = s;
		d->pages_len = len;
		return ret;
	case CLD_NT_FDS:
		ret = once(d, SEEN_FDS);
		return ret ? ret : rimg_dec_fds(d, s, len);
	case CLD_NT_PIPEDATA:
		ret = once(d, SEEN_PIPES);
		return ret ? ret : rimg_dec_pipes(d, s, len);
	case CLD_NT_INOTIFY:
		ret = once(d, SEEN_INOTIFY);
		return ret ? ret : rimg_dec_watches(d, s, len);
	case CLD_NT_GUARDS:
		ret = once(d, SEEN_GUARDS);
		return ret ? ret : rimg_dec_guards(d, s, len);
	case CLD_NT_TIMERS:
		ret = once(d, SEEN_TIMERS);
		return ret ? ret : rimg_dec_timers(d, s, len);
	case CLD_NT_EPOLL:
		ret = once(d, SEEN_EPOLL);
		return ret ? ret : rimg_dec_epolls(d, s, len);
	case CLD_NT_SIGNALS:
		ret = once(d, SEEN_SIGNALS);
		return ret ? ret : dec_signals(d, s, len);
	case CLD_NT_THREAD:
		return dec_thread(d, s, len);
	case CLD_NT_DIGESTS:
		return cld_err_set(d->err, -EBADMSG,
				   "CLONDIKE/DIGESTS note inside the first note segment");
	default:
		if (type & CLD_NT_CRITICAL)
			return cld_err_set(d->err, -EPROTONOSUPPORT,
					   "unknown critical CLONDIKE note type %#x", type);
		return 0; /* a later minor's note: skip */
	}
}

static int dec_core(struct dec *d, uint32_t type, const uint8_t *s, size_t len)
{
	struct cld_proc *p = d->p;
	struct cld_thread *t;
	int ret;

	switch (type) {
	case CLD_NT_PRSTATUS:
		t = add_thread(d);
		if (!t)
			return d->err ? d->err->code : -ENOMEM;
		if (len != sizeof(t->prstatus))
			return cld_err_set(d->err, -EBADMSG, "NT_PRSTATUS of %zu bytes, need %zu",
					   len, sizeof(t->prstatus));
		memcpy(&t->prstatus, s, len);
		return 0;
	case CLD_NT_PRPSINFO:
		ret = once(d, SEEN_PRPSINFO);
		if (!ret && len != sizeof(p->psinfo))
			ret = cld_err_set(d->err, -EBADMSG, "NT_PRPSINFO of %zu bytes, need %zu",
					  len, sizeof(p->psinfo));
		if (!ret)
			memcpy(&p->psinfo, s, len);
		return ret;
	case CLD_NT_AUXV:
		ret = once(d, SEEN_AUXV);
		if (ret)
			return ret;
		if (len > CLD_MAX_AUXV || len % 16)
			return cld_err_set(d->err, -EBADMSG, "NT_AUXV of %zu bytes", len);
		p->auxv = malloc(len ? len : 1);
		if (!p->auxv)
			return cld_err_set(d->err, -ENOMEM, "out of memory");
		memcpy(p->auxv, s, len);
		d->auxv_len = len;
		return 0;
	case CLD_NT_FILE:
		ret = once(d, SEEN_FILE);
		d->file_desc = s;
		d->file_len = len;
		return ret;
	case CLD_NT_FPREGSET:
		/* One per thread, right after that thread's NT_PRSTATUS. */
		if (!p->nr_threads || d->nr_fpregs != p->nr_threads - 1)
			return cld_err_set(d->err, -EBADMSG,
					   "NT_FPREGSET not paired with its thread's NT_PRSTATUS");
		if (len != sizeof(p->threads[0].fpregs))
			return cld_err_set(d->err, -EBADMSG, "NT_FPREGSET of %zu bytes", len);
		memcpy(p->threads[p->nr_threads - 1].fpregs, s, len);
		d->nr_fpregs++;
		return 0;
	default:
		return 0; /* NT_SIGINFO and other informational notes */
	}
}

static int dec_xstate(struct dec *d, const uint8_t *s, size_t len)
{
	struct cld_thread *t;

	if (!d->p->nr_threads)
		return cld_err_set(d->err, -EBADMSG, "NT_X86_XSTATE before any NT_PRSTATUS");
	t = &d->p->threads[d->p->nr_threads - 1];
	if (t->xstate)
		return cld_err_set(d->err, -EBADMSG, "two NT_X86_XSTATE notes for one thread");
	if (len > CLD_MAX_XSTATE || len < 576)
		return cld_err_set(d->err, -EBADMSG, "NT_X86_XSTATE of %zu bytes", len);
	t->xstate = malloc(len);
	if (!t->xstate)
		return cld_err_set(d->err, -ENOMEM, "out of memory");
	memcpy(t->xstate, s, len);
	t->xstate_len = (uint32_t)len;
	return 0;
}

/* NT_FILE must list exactly the file-backed VMAs. */
static int check_file_note(struct dec *d)
{
	const struct cld_proc *p = d->p;
	const uint8_t *s = d->file_desc;
	size_t len = d->file_len, names;
	uint64_t count, page, nfile = 0;
	uint32_t i, k = 0;

	for (i = 0; i < p->nr_vmas; i++)
		nfile += !!(p->vmas[i].rec.flags & CLD_VMA_FILE);
	if (len < 16)
		return cld_err_set(d->err, -EBADMSG, "NT_FILE too short");
	memcpy(&count, s, 8);
	memcpy(&page, s + 8, 8);
	if (count != nfile || page != PAGE || count > (len - 16) / 24)
		return cld_err_set(d->err, -EBADMSG,
				   "NT_FILE lists %llu files (page size %llu); the image has %llu file mappings",
				   (unsigned long long)count, (unsigned long long)page,
				   (unsigned long long)nfile);
	names = 16 + 24 * count;
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		uint64_t e[3];
		size_t nl;

		if (!(v->rec.flags & CLD_VMA_FILE))
			continue;
		if (!v->name)
			return cld_err_set(d->err, -EBADMSG, "mapping %u: file mapping without path",
					   i);
		memcpy(e, s + 16 + 24 * (size_t)k++, 24);
		nl = strlen(v->name) + 1;
		if (e[0] != v->rec.start || e[1] != v->rec.end || e[2] != v->rec.pgoff / PAGE ||
		    names + nl > len || memcmp(s + names, v->name, nl))
			return cld_err_set(d->err, -EBADMSG,
					   "NT_FILE entry %u disagrees with mapping %u (%#llx)",
					   k - 1, i, (unsigned long long)v->rec.start);
		names += nl;
	}
	return 0;
}

int rimg_name_is(const uint8_t *name, uint32_t namesz, const char *want)
{
	return namesz == strlen(want) + 1 && !memcmp(name, want, namesz);
}

int rimg_decode_notes(const uint8_t *buf, size_t len, struct cld_proc *p, struct cld_err *err)
{
	struct dec d = { .p = p, .err = err };
	size_t at = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	while (at < len) {
		Elf64_Nhdr nh;
		const uint8_t *name, *desc;
		size_t nsz, dsz;

		if (len - at < sizeof(nh))
			return cld_err_set(err, -EBADMSG, "truncated note header at note offset %zu",
					   at);
		memcpy(&nh, buf + at, sizeof(nh));
		nsz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
		dsz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
		if (nsz > len - at - sizeof(nh) || dsz > len - at - sizeof(nh) - nsz)
			return cld_err_set(err, -EBADMSG,
					   "note at offset %zu (type %#x) runs past its segment", at,
					   nh.n_type);
		name = buf + at + sizeof(nh);
		desc = name + nsz;
		if (rimg_name_is(name, nh.n_namesz, CLD_NOTE_NAME))
			ret = dec_clondike(&d, nh.n_type, desc, nh.n_descsz);
		else if (rimg_name_is(name, nh.n_namesz, "CORE"))
			ret = dec_core(&d, nh.n_type, desc, nh.n_descsz);
		else if (rimg_name_is(name, nh.n_namesz, "LINUX") && nh.n_type == CLD_NT_X86_XSTATE)
			ret = dec_xstate(&d, desc, nh.n_descsz);
		else
			ret = 0; /* foreign notes are allowed and ignored */
		if (ret)
			return ret;
		at += sizeof(nh) + nsz + dsz;
	}
	if ((d.seen & SEEN_REQUIRED) != SEEN_REQUIRED) {
		uint32_t missing = SEEN_REQUIRED & ~d.seen;

		return cld_err_set(err, -EBADMSG, "not a clondike image: no %s note",
				   seen_names[__builtin_ctz(missing)]);
	}
	if (!p->nr_threads)
		return cld_err_set(err, -EBADMSG, "no NT_PRSTATUS note");
	if (d.nr_thread_recs != p->nr_threads || d.nr_fpregs != p->nr_threads)
		return cld_err_set(err, -EBADMSG,
				   "%u threads (NT_PRSTATUS) but %u CLONDIKE/THREAD and %u NT_FPREGSET notes",
				   p->nr_threads, d.nr_thread_recs, d.nr_fpregs);
	if (p->hdr.nr_threads != p->nr_threads || p->hdr.nr_vmas != p->nr_vmas ||
	    p->hdr.nr_fds != p->nr_fds)
		return cld_err_set(err, -EBADMSG,
				   "header counts (%u threads, %u mappings, %u fds) disagree with notes (%u, %u, %u)",
				   p->hdr.nr_threads, p->hdr.nr_vmas, p->hdr.nr_fds, p->nr_threads,
				   p->nr_vmas, p->nr_fds);
	ret = check_thread_names(&d);
	if (ret)
		return ret;
	if (p->mm.auxv_len != d.auxv_len)
		return cld_err_set(err, -EBADMSG, "CLONDIKE/MM says %llu auxv bytes, NT_AUXV has %zu",
				   (unsigned long long)p->mm.auxv_len, d.auxv_len);
	ret = dec_pages(&d);
	if (ret)
		return ret;
	ret = check_file_note(&d);
	if (ret)
		return ret;
	ret = cld_proc_validate(p, err);
	if (ret) {
		/* In a file, an invalid description is a malformed image. */
		if (ret == -EINVAL && err)
			err->code = -EBADMSG;
		cld_err_prefix(err, "inconsistent image");
		return ret == -EINVAL ? -EBADMSG : ret;
	}
	if (p->hdr.nr_dumped != cld_proc_nr_dumped(p))
		return cld_err_set(err, -EBADMSG, "header says %llu dumped pages, runs add up to %llu",
				   (unsigned long long)p->hdr.nr_dumped,
				   (unsigned long long)cld_proc_nr_dumped(p));
	return 0;
}

int cld_proc_dup(const struct cld_proc *src, struct cld_proc **out, struct cld_err *err)
{
	struct cld_proc tmp = *src; /* encode fills counts; work on a shallow copy */
	struct cld_proc *p;
	uint8_t *buf;
	size_t len;
	int ret;

	ret = cld_notes_encode(&tmp, &buf, &len, err);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p) {
		free(buf);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	ret = rimg_decode_notes(buf, len, p, err);
	free(buf);
	if (ret) {
		cld_proc_free(p);
		return ret;
	}
	*out = p;
	return 0;
}
