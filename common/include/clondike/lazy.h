/* SPDX-License-Identifier: MIT */
/*
 * Lazy restart: instead of writing every dumped page before the process
 * runs, its private anonymous mappings are registered with userfaultfd and
 * a pager serves each fault from the image (pread + UFFDIO_COPY, or
 * UFFDIO_ZEROPAGE for holes), with adaptive read-ahead and a background
 * pull that fetches the rest when faults go quiet.  Once everything is in,
 * the userfaultfd is closed and the process no longer depends on the image.
 *
 * Use: cld_lazy_init(), then pass cld_lazy_fill as the restorer's fill
 * hook with the cld_lazy as its argument.  The hook creates the uffd inside
 * the child (an injected userfaultfd(2), brought out with pidfd_getfd),
 * fills private file-mapping pages eagerly (userfaultfd cannot serve
 * them), registers the anonymous ranges and forks the pager process, so
 * faults are served from that moment on, also those the restorer's own
 * remaining work causes.  cld_lazy_wait() waits for the pager and gives
 * its statistics.
 */
#ifndef CLONDIKE_LAZY_H
#define CLONDIKE_LAZY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/err.h"
#include "clondike/restore.h"

struct cld_lazy_opts {
	const char *image_path; /* reopened by the pager; also for messages */
	bool no_pull; /* serve faults only, never pull in the background */
	bool detach; /* pager not a child of the caller (restart --detach) */
	const char *stats_path; /* if set, the pager writes its final stats */
	unsigned int min_window; /* pages per fault, first fault (default 16) */
	unsigned int max_window; /* pages per fault, sequential (default 512) */
};

struct cld_lazy_stats {
	uint64_t faults; /* page faults served */
	uint64_t events; /* fork/remap/remove/unmap events handled */
	uint64_t bytes_fault; /* bytes copied because of faults */
	uint64_t bytes_pull; /* bytes copied by the background pull */
	uint64_t bytes_zero; /* bytes mapped as zero pages (holes) */
	uint64_t image_bytes_read; /* bytes read from the image */
	uint64_t full_ns; /* restore to complete pull, 0 if never */
	int exit_reason; /* 0: pulled everything; ESRCH: process gone;
			    EIO: image unreadable (process killed) */
};

struct cld_lazy {
	struct cld_lazy_opts o;
	pid_t pager; /* the pager process, once forked */
	int stats_pipe; /* read end: the pager writes its stats here */
};

void cld_lazy_init(struct cld_lazy *lz, const struct cld_lazy_opts *o);

/* The restorer's fill hook (arg: struct cld_lazy *). */
int cld_lazy_fill(struct cld_rst *rs, void *arg, struct cld_err *err);

/* Wait for the pager to finish (all pulled, or the process gone). */
int cld_lazy_wait(struct cld_lazy *lz, struct cld_lazy_stats *st, struct cld_err *err);

/* Forget the pager without waiting (after --detach it lives on). */
void cld_lazy_release(struct cld_lazy *lz);

#endif /* CLONDIKE_LAZY_H */
