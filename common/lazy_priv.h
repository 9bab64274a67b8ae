/* SPDX-License-Identifier: MIT */
/*
 * The lazy pager's private header, shared by common/lazy*.c only (the
 * public API is clondike/lazy.h): the pager's state, which the fill hook
 * (lazy.c) sets up before it forks the pager (lazy_pager.c).
 */
#ifndef CLONDIKE_LAZY_PRIV_H
#define CLONDIKE_LAZY_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/lazy.h"

#define PAGE ((uint64_t)CLD_PAGE_SIZE)

enum { PG_MISSING = 0, PG_PRESENT = 1, PG_GONE = 2, PG_ZERO = 3 };

struct lz_range {
	uint64_t start, end; /* where the pages are now */
	uint64_t orig; /* image address of start */
	uint8_t *st; /* per page: PG_* */
	uint64_t left; /* pages still PG_MISSING */
};

struct lz_ctx {
	int uffd;
	struct lz_range *r;
	size_t nr;
	uint64_t next_addr; /* where a sequential reader faults next */
	unsigned int window;
	size_t pull_r; /* background pull cursor */
	uint64_t pull_pg;
	int done;
};

struct lz_pager {
	const struct cld_lazy_opts *o;
	const struct cld_rimage *ri;
	pid_t pid;
	int pidfd, img_fd;
	struct lz_ctx *ctx;
	size_t nr_ctx;
	uint8_t *buf;
	struct cld_lazy_stats st;
	uint64_t t0;
	int fatal; /* EIO: image unreadable */
	unsigned int enoent; /* UFFDIO_* ENOENTs since the last event */
};

/* lazy_pager.c */
uint64_t lz_now_ns(void);
int lz_classify(const struct cld_rimage *ri, uint64_t orig, uint64_t *off, uint64_t *run);
int lz_add_range(struct lz_ctx *c, uint64_t start, uint64_t end, uint64_t orig);
void lz_mark_holes(const struct cld_rimage *ri, struct lz_range *r);
int lz_remap(struct lz_ctx *c, uint64_t from, uint64_t to, uint64_t len);
int lz_new_ctx(struct lz_pager *pg, int uffd, ssize_t from_idx);
void lz_close_ctx(struct lz_ctx *c);
/* The pager process: serves pg until the process ends, then reports its
 * statistics on stats_wr. */
void __attribute__((noreturn)) lz_pager_main(struct lz_pager *pg, int stats_wr);

#endif /* CLONDIKE_LAZY_PRIV_H */
