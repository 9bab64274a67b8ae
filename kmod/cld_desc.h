/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The description of a frozen group (struct cld_proc of clondike/codec.h,
 * the shared codec's input), filled in the kernel the way the ptrace
 * backend fills it from /proc and injected calls: cld_desc.c (process-wide
 * state, threads), cld_vmas.c (mappings, dumped pages), cld_fds.c (fds,
 * pipe data).
 */
#ifndef CLD_DESC_H
#define CLD_DESC_H

#include <linux/jiffies.h>
#include <linux/kdev_t.h>
#include <linux/math64.h>
#include <linux/path.h>
#include <linux/stat.h>
#include <linux/time64.h>

#include "clondike/codec.h"
#include "cld_internal.h"

/*
 * Describe the frozen group: *mmp gets its mm (mmget() held, also on
 * failure when set).  The threads' snapshot buffers (xstate, queue) are
 * borrowed from their struct cld_thr, not copied.
 */
int cld_desc_build(struct cld_frz *frz, struct cld_proc *p,
		   struct mm_struct **mmp);
/* Free p and what it owns (not the borrowed thread buffers). */
void cld_desc_free(struct cld_proc *p);

/* Helpers of the description's files (cld_vmas.c, cld_fds.c too). */
char *cld_path(const struct path *path, bool strip, bool *deleted);
int cld_stat(const struct path *path, struct kstat *st);

static inline u64 cld_dev(dev_t d)
{
	return ((u64)MAJOR(d) << 32) | MINOR(d);
}

/* Clock ticks the way /proc/PID/stat reports them (USER_HZ). */
static inline u64 cld_ns_to_ticks(u64 ns)
{
	return div_u64(ns, NSEC_PER_SEC / USER_HZ);
}

static inline s64 cld_ts_ns(struct timespec64 ts)
{
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

#endif /* CLD_DESC_H */
