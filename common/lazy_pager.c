// SPDX-License-Identifier: MIT
/*
 * The lazy pager, a process of its own: it serves the child's faults with
 * UFFDIO_COPY from the image and pulls the rest in the background in large
 * chunks.  Page-at-a-time paging costs ~80 us a fault here, so a fault is
 * served with a window that grows while the process reads sequentially
 * (16 pages up to 2 MiB).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "clondike/lazy.h"
#include "lazy_priv.h"

uint64_t lz_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void plog(const struct lz_pager *pg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void plog(const struct lz_pager *pg, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pg->o->detach)
		syslog(LOG_WARNING, "clondike pager (pid %d): %s", pg->pid, msg);
	fprintf(stderr, "clondike pager (pid %d): %s\n", pg->pid, msg);
}

/* ---- Where a page's bytes are ---------------------------------------- */

/*
 * Classify the image page at orig: returns 1 (dumped, *off = its image
 * offset) or 0 (reads as zero), and *run = how many pages from orig on are
 * of the same class and, if dumped, contiguous in the image.
 */
int lz_classify(const struct cld_rimage *ri, uint64_t orig, uint64_t *off, uint64_t *run)
{
	const struct cld_layout *lo = &ri->layout;
	const struct cld_seg *s;
	const struct cld_vma *v;
	size_t a = 0, b = lo->nr_segs;
	uint64_t pg;
	uint32_t j;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (lo->segs[m].vaddr + lo->segs[m].memsz <= orig)
			a = m + 1;
		else
			b = m;
	}
	if (a >= lo->nr_segs || lo->segs[a].vaddr > orig) {
		*run = 1;
		return 0;
	}
	s = &lo->segs[a];
	if (!s->filesz) {
		*run = (s->vaddr + s->memsz - orig) / PAGE;
		return 0;
	}
	v = &ri->proc.vmas[s->vma];
	pg = (orig - v->rec.start) / PAGE;
	/* Extents are sorted: find the first one ending after pg. */
	a = 0;
	b = v->nr_ext;
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (v->ext[m].first + v->ext[m].count <= pg)
			a = m + 1;
		else
			b = m;
	}
	j = (uint32_t)a;
	if (j < v->nr_ext && v->ext[j].first <= pg) {
		*off = s->offset + (orig - s->vaddr);
		*run = v->ext[j].first + v->ext[j].count - pg;
		/* Never past the segment's end. */
		if (*run > (s->vaddr + s->memsz - orig) / PAGE)
			*run = (s->vaddr + s->memsz - orig) / PAGE;
		return 1;
	}
	*run = (j < v->nr_ext ? v->ext[j].first : (v->rec.end - v->rec.start) / PAGE) - pg;
	if (*run > (s->vaddr + s->memsz - orig) / PAGE)
		*run = (s->vaddr + s->memsz - orig) / PAGE;
	return 0;
}

/* ---- Serving -------------------------------------------------------- */

static struct lz_range *find_range(struct lz_ctx *c, uint64_t addr, uint64_t *pg)
{
	size_t i;

	for (i = 0; i < c->nr; i++) {
		if (addr >= c->r[i].start && addr < c->r[i].end) {
			*pg = (addr - c->r[i].start) / PAGE;
			return &c->r[i];
		}
	}
	return NULL;
}

static void mark(struct lz_range *r, uint64_t pg, uint64_t n, uint8_t state)
{
	uint64_t i;

	for (i = pg; i < pg + n; i++) {
		if (r->st[i] == PG_MISSING && state != PG_MISSING)
			r->left--;
		r->st[i] = state;
	}
}

static int image_alive(struct lz_pager *pg)
{
	struct stat st;

	if (fstat(pg->img_fd, &st) < 0 || st.st_nlink == 0)
		return 0;
	return 1;
}

/* ENOENTs in a row before a range whose mapping vanished without any
 * event is given up (it should not happen: unmapping sends UNMAP). */
#define ENOENT_PATIENCE 100000

/*
 * A UFFDIO_COPY/ZEROPAGE at page p failed with errno e after installing
 * done bytes.  Returns how many pages to step over to go on, or -EAGAIN
 * (an event is pending) / -ESRCH (the mm is gone).
 */
static int64_t uffd_failed(struct lz_pager *pg, struct lz_range *r, uint64_t p, int64_t done,
			   int e)
{
	uint64_t n = done > 0 ? (uint64_t)done / PAGE : 0;

	mark(r, p, n, PG_PRESENT);
	if (e == EEXIST) {
		/* Someone else populated the next page (a DONTNEED'd page
		 * refaulted as zero, a COW...): it is there, go past it. */
		mark(r, p + n, 1, PG_PRESENT);
		return (int64_t)n + 1;
	}
	/*
	 * The mapping moved or went away (mremap, munmap) and its event is
	 * not read yet: the kernel looks the VMA up before it checks for
	 * pending events, so this is ENOENT rather than EAGAIN.  Take the
	 * events first; the range's pages will be elsewhere or gone.
	 */
	if (e == ENOENT) {
		if (++pg->enoent < ENOENT_PATIENCE)
			return -EAGAIN;
		plog(pg, "pages at %#llx vanished without an event: given up",
		     (unsigned long long)(r->start + (p + n) * PAGE));
		mark(r, p + n, 1, PG_GONE);
		pg->enoent = 0;
		return (int64_t)n + 1;
	}
	return e == EAGAIN ? -EAGAIN : -ESRCH;
}

/*
 * Install pages [first, first+n) of r, all PG_MISSING or PG_ZERO.
 * Returns 0, -EAGAIN (an event is pending: read it and retry),
 * -ESRCH (the mm is gone) or -EIO (the image failed: fatal).
 */
static int install(struct lz_pager *pg, struct lz_ctx *c, struct lz_range *r, uint64_t first,
		   uint64_t n, int pull)
{
	uint64_t p = first, end = first + n;

	while (p < end) {
		uint64_t addr = r->start + p * PAGE, off = 0, run, len;
		int data = r->st[p] == PG_ZERO ? 0 : lz_classify(pg->ri, r->orig + p * PAGE, &off, &run);

		if (r->st[p] == PG_ZERO)
			run = 1;
		if (run > end - p)
			run = end - p;
		/* Stop a run at the first page already handled. */
		for (len = 1; len < run && r->st[p + len] == r->st[p]; len++)
			;
		run = len;
		if (data) {
			struct uffdio_copy cp = { .dst = addr, .src = (uint64_t)(uintptr_t)pg->buf,
						  .len = run * PAGE };
			ssize_t got = pread(pg->img_fd, pg->buf, run * PAGE, (off_t)off);

			if (got != (ssize_t)(run * PAGE)) {
				plog(pg, "image %s unreadable at offset %llu (%s) while the process still needs it: killing it",
				     pg->o->image_path, (unsigned long long)off,
				     got < 0 ? strerror(errno) : "short read");
				pg->fatal = EIO;
				return -EIO;
			}
			pg->st.image_bytes_read += (uint64_t)got;
			if (ioctl(c->uffd, UFFDIO_COPY, &cp) < 0) {
				int64_t skip = uffd_failed(pg, r, p, cp.copy, errno);

				if (skip < 0)
					return (int)skip;
				p += (uint64_t)skip;
				continue;
			}
			if (pull)
				pg->st.bytes_pull += run * PAGE;
			else
				pg->st.bytes_fault += run * PAGE;
		} else {
			struct uffdio_zeropage zp = { .range = { .start = addr, .len = run * PAGE } };

			if (ioctl(c->uffd, UFFDIO_ZEROPAGE, &zp) < 0) {
				int64_t skip = uffd_failed(pg, r, p, zp.zeropage, errno);

				if (skip < 0)
					return (int)skip;
				p += (uint64_t)skip;
				continue;
			}
			pg->st.bytes_zero += run * PAGE;
		}
		mark(r, p, run, PG_PRESENT);
		p += run;
	}
	return 0;
}

static int serve_fault(struct lz_pager *pg, struct lz_ctx *c, uint64_t addr)
{
	uint64_t p, first, n, i;
	struct lz_range *r;
	int ret;

	addr &= ~(PAGE - 1);
	r = find_range(c, addr, &p);
	if (!r || r->st[p] == PG_PRESENT || r->st[p] == PG_GONE) {
		/* Raced with a pull or an event: just wake the thread. */
		struct uffdio_range wr = { .start = addr, .len = PAGE };

		ioctl(c->uffd, UFFDIO_WAKE, &wr);
		return 0;
	}
	pg->st.faults++;
	/* Read-ahead: grow the window while the faults are sequential. */
	if (addr == c->next_addr)
		c->window = c->window * 2 > pg->o->max_window ? pg->o->max_window : c->window * 2;
	else
		c->window = pg->o->min_window;
	first = p;
	n = c->window;
	if (n > (r->end - r->start) / PAGE - first)
		n = (r->end - r->start) / PAGE - first;
	/* Only pages still to be installed, from the faulting one on. */
	for (i = 1; i < n && (r->st[first + i] == PG_MISSING || r->st[first + i] == PG_ZERO); i++)
		;
	n = i;
	c->next_addr = addr + n * PAGE;
	ret = install(pg, c, r, first, n, 0);
	return ret;
}

/* One chunk of background pull; returns 1 when this ctx has nothing left. */
static int pull_chunk(struct lz_pager *pg, struct lz_ctx *c)
{
	while (c->pull_r < c->nr) {
		struct lz_range *r = &c->r[c->pull_r];
		uint64_t npages = (r->end - r->start) / PAGE, n;

		while (c->pull_pg < npages && r->st[c->pull_pg] != PG_MISSING)
			c->pull_pg++;
		if (c->pull_pg >= npages) {
			c->pull_r++;
			c->pull_pg = 0;
			continue;
		}
		for (n = 1; n < pg->o->max_window && c->pull_pg + n < npages &&
			    r->st[c->pull_pg + n] == PG_MISSING;
		     n++)
			;
		return install(pg, c, r, c->pull_pg, n, 1);
	}
	/* The cursor reached the end: anything left was faulted around it. */
	for (c->pull_r = 0; c->pull_r < c->nr; c->pull_r++)
		if (c->r[c->pull_r].left)
			break;
	if (c->pull_r < c->nr) {
		c->pull_pg = 0;
		return 0;
	}
	return 1;
}

static uint64_t orig_of(struct lz_ctx *c, uint64_t addr, uint8_t *state)
{
	uint64_t pg;
	struct lz_range *r = find_range(c, addr, &pg);

	if (!r) {
		*state = PG_GONE;
		return 0;
	}
	*state = r->st[pg];
	return r->orig + pg * PAGE;
}

int lz_add_range(struct lz_ctx *c, uint64_t start, uint64_t end, uint64_t orig)
{
	struct lz_range *nr = realloc(c->r, (c->nr + 1) * sizeof(*nr));
	uint64_t n = (end - start) / PAGE;

	if (!nr)
		return -ENOMEM;
	c->r = nr;
	nr = &c->r[c->nr];
	nr->start = start;
	nr->end = end;
	nr->orig = orig;
	nr->st = calloc(n ? n : 1, 1);
	if (!nr->st)
		return -ENOMEM;
	nr->left = n;
	c->nr++;
	return 0;
}

static void mark_addr(struct lz_ctx *c, uint64_t start, uint64_t end, uint8_t state)
{
	uint64_t a, pg;

	for (a = start & ~(PAGE - 1); a < end; a += PAGE) {
		struct lz_range *r = find_range(c, a, &pg);

		if (!r)
			continue;
		if (state == PG_ZERO) {
			/* DONTNEED: a page not yet installed reads as zero
			 * now, and one already there is gone again. */
			if (r->st[pg] == PG_MISSING)
				r->left--;
			r->st[pg] = PG_ZERO;
		} else {
			mark(r, pg, 1, state);
		}
	}
}

/*
 * Pages without data in the image are zero on a fault but never pulled:
 * memory the process had not touched stays unpopulated.
 */
void lz_mark_holes(const struct cld_rimage *ri, struct lz_range *r)
{
	uint64_t n = (r->end - r->start) / PAGE, p = 0;

	while (p < n) {
		uint64_t off, run;
		int data = lz_classify(ri, r->orig + p * PAGE, &off, &run);

		if (!run)
			run = 1;
		if (run > n - p)
			run = n - p;
		if (!data)
			mark(r, p, run, PG_ZERO);
		p += run;
	}
}

/* mremap moved [from, from+len) to [to, to+len). */
int lz_remap(struct lz_ctx *c, uint64_t from, uint64_t to, uint64_t len)
{
	uint64_t n = len / PAGE, i, base;
	uint8_t s0;
	int ret;

	base = orig_of(c, from, &s0);
	ret = lz_add_range(c, to, to + len, base);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		uint8_t s;
		uint64_t o = orig_of(c, from + i * PAGE, &s);

		/* A page whose image address is not where the block says
		 * cannot be fetched any more: it was never touched, so a
		 * moved copy of it reads as zero. */
		if (s == PG_GONE || o != base + i * PAGE)
			s = (s == PG_PRESENT) ? PG_PRESENT : PG_ZERO;
		c->r[c->nr - 1].st[i] = s;
		if (s != PG_MISSING)
			c->r[c->nr - 1].left--;
	}
	mark_addr(c, from, from + len, PG_GONE);
	return 0;
}

/* A new context for uffd; with from_idx >= 0 a copy of that one's state
 * (a forked child's). */
int lz_new_ctx(struct lz_pager *pg, int uffd, ssize_t from_idx)
{
	struct lz_ctx *n = realloc(pg->ctx, (pg->nr_ctx + 1) * sizeof(*n));
	const struct lz_ctx *from;
	size_t i;

	if (!n)
		return -ENOMEM;
	pg->ctx = n;
	from = from_idx >= 0 ? &pg->ctx[from_idx] : NULL; /* after the realloc */
	n = &pg->ctx[pg->nr_ctx++];
	memset(n, 0, sizeof(*n));
	n->uffd = uffd;
	n->window = pg->o->min_window;
	for (i = 0; from && i < from->nr; i++) {
		const struct lz_range *r = &from->r[i];
		uint64_t np = (r->end - r->start) / PAGE;

		if (lz_add_range(n, r->start, r->end, r->orig))
			return -ENOMEM;
		/* The child has what the parent had at fork; the rest is
		 * still the image's and is served to it the same way. */
		memcpy(n->r[i].st, r->st, np);
		n->r[i].left = r->left;
	}
	return 0;
}

static int handle_msgs(struct lz_pager *pg, size_t ci)
{
	struct uffd_msg msg[16];
	ssize_t got;
	int i, ret = 0;

	got = read(pg->ctx[ci].uffd, msg, sizeof(msg));
	if (got < 0)
		return errno == EAGAIN ? 0 : -errno;
	for (i = 0; i < (int)(got / (ssize_t)sizeof(msg[0])); i++) {
		struct lz_ctx *c = &pg->ctx[ci];

		if (msg[i].event != UFFD_EVENT_PAGEFAULT)
			pg->enoent = 0; /* the map changed: worth trying again */

		switch (msg[i].event) {
		case UFFD_EVENT_PAGEFAULT:
			do {
				ret = serve_fault(pg, c, msg[i].arg.pagefault.address);
				if (ret == -EAGAIN) {
					/* An event is queued behind: take it first. */
					int r2 = handle_msgs(pg, ci);

					if (r2 < 0)
						return r2;
					c = &pg->ctx[ci];
				}
			} while (ret == -EAGAIN);
			if (ret)
				return ret;
			break;
		case UFFD_EVENT_FORK:
			pg->st.events++;
			ret = lz_new_ctx(pg, (int)msg[i].arg.fork.ufd, (ssize_t)ci);
			if (ret)
				return ret;
			break;
		case UFFD_EVENT_REMAP:
			pg->st.events++;
			ret = lz_remap(c, msg[i].arg.remap.from, msg[i].arg.remap.to,
				    msg[i].arg.remap.len);
			if (ret)
				return ret;
			break;
		case UFFD_EVENT_REMOVE:
			pg->st.events++;
			mark_addr(c, msg[i].arg.remove.start, msg[i].arg.remove.end, PG_ZERO);
			break;
		case UFFD_EVENT_UNMAP:
			pg->st.events++;
			mark_addr(c, msg[i].arg.remove.start, msg[i].arg.remove.end, PG_GONE);
			break;
		default:
			break;
		}
	}
	return 0;
}

void lz_close_ctx(struct lz_ctx *c)
{
	size_t i;

	if (c->uffd >= 0)
		close(c->uffd); /* unregisters: the process is on its own */
	c->uffd = -1;
	c->done = 1;
	for (i = 0; i < c->nr; i++)
		free(c->r[i].st);
	free(c->r);
	c->r = NULL;
	c->nr = 0;
}

static int pager_loop(struct lz_pager *pg)
{
	struct pollfd *pfd = NULL;
	int alive = 1;

	for (;;) {
		size_t i, live = 0, n = 0;
		int pulling = 0, timeout, ret;

		free(pfd);
		pfd = calloc(pg->nr_ctx + 1, sizeof(*pfd));
		if (!pfd)
			return -ENOMEM;
		for (i = 0; i < pg->nr_ctx; i++) {
			if (pg->ctx[i].done)
				continue;
			live++;
		}
		if (!live)
			break;
		pulling = !pg->o->no_pull;
		pfd[n].fd = pg->pidfd;
		pfd[n++].events = POLLIN;
		for (i = 0; i < pg->nr_ctx; i++) {
			pfd[n].fd = pg->ctx[i].done ? -1 : pg->ctx[i].uffd;
			pfd[n++].events = POLLIN;
		}
		timeout = pulling ? 0 : 1000;
		ret = poll(pfd, n, timeout);
		if (ret < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			alive = 0;
			break;
		}
		/* Only the contexts polled: a fork event adds one meanwhile. */
		for (i = 0; i < n - 1; i++) {
			if (pg->ctx[i].done || !(pfd[1 + i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			ret = handle_msgs(pg, i);
			if (ret == -EIO)
				goto fatal;
			if (ret < 0)
				lz_close_ctx(&pg->ctx[i]);
		}
		if (!image_alive(pg)) {
			plog(pg, "image %s was removed while the process still needs pages from it: killing it",
			     pg->o->image_path);
			pg->fatal = EIO;
			goto fatal;
		}
		if (!pulling)
			continue;
		for (i = 0; i < pg->nr_ctx; i++) {
			if (pg->ctx[i].done)
				continue;
			ret = pull_chunk(pg, &pg->ctx[i]);
			if (ret == -EIO)
				goto fatal;
			if (ret == 1 || ret == -ESRCH) {
				if (i == 0 && ret == 1 && !pg->st.full_ns)
					pg->st.full_ns = lz_now_ns() - pg->t0;
				lz_close_ctx(&pg->ctx[i]);
			}
			break; /* one chunk, then look at faults again */
		}
	}
	free(pfd);
	pg->st.exit_reason = alive ? 0 : ESRCH;
	return 0;
fatal:
	free(pfd);
	kill(pg->pid, SIGKILL);
	pg->st.exit_reason = EIO;
	return -EIO;
}

static void report(struct lz_pager *pg, int stats_wr)
{
	const struct cld_lazy_stats *s = &pg->st;

	if (stats_wr >= 0) {
		ssize_t w = write(stats_wr, s, sizeof(*s));

		(void)w;
	}
	if (pg->o->stats_path) {
		FILE *f = fopen(pg->o->stats_path, "we");

		if (f) {
			fprintf(f,
				"faults=%llu events=%llu bytes_fault=%llu bytes_pull=%llu bytes_zero=%llu image_bytes_read=%llu full_ms=%.3f exit=%s\n",
				(unsigned long long)s->faults, (unsigned long long)s->events,
				(unsigned long long)s->bytes_fault,
				(unsigned long long)s->bytes_pull,
				(unsigned long long)s->bytes_zero,
				(unsigned long long)s->image_bytes_read, s->full_ns / 1e6,
				s->exit_reason == 0 ? "pulled" :
				s->exit_reason == ESRCH ? "exited" : "image-error");
			fclose(f);
		}
	}
}

/* Close every fd but the ones listed (sorted ascending). */
static void close_others(const int *keep, size_t n)
{
	unsigned int lo = 3;
	size_t i;

	for (i = 0; i < n; i++) {
		if (keep[i] < 3)
			continue;
		if ((unsigned int)keep[i] > lo)
			syscall(SYS_close_range, lo, (unsigned int)keep[i] - 1, 0);
		lo = (unsigned int)keep[i] + 1;
	}
	syscall(SYS_close_range, lo, ~0u, 0);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void __attribute__((noreturn)) lz_pager_main(struct lz_pager *pg, int stats_wr)
{
	int keep[4] = { pg->pidfd, pg->img_fd, pg->ctx[0].uffd, stats_wr };
	struct sigaction sa;

	/* Only a SIGKILL may end the pager: its death would leave the
	 * process reading zeros where its memory has not arrived yet. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	setsid();
	qsort(keep, 4, sizeof(int), cmp_int);
	close_others(keep, 4);
	pager_loop(pg);
	report(pg, stats_wr);
	_exit(pg->st.exit_reason == EIO ? 1 : 0);
}
