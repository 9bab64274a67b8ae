/* SPDX-License-Identifier: GPL-2.0 */
/*
 * clondike.ko internals shared by the freezer (cld_main.c, cld_file.c),
 * the snapshot (cld_snap.c), the description and image (cld_desc.c,
 * cld_vmas.c, cld_fds.c, cld_image.c) and the digest code.
 */
#ifndef CLD_INTERNAL_H
#define CLD_INTERNAL_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/task_work.h>
#include <linux/types.h>
#include <linux/version.h>
#include <linux/wait.h>

#include "clondike/format.h"
#include "clondike/kabi.h"

#define CLD_MODULE_VERSION "0.1.0"

struct cld_frz;
struct cld_img;

/*
 * One thread of a frozen group.  The thread fills the snapshot part itself,
 * from its own context, in cld_park() before it reports parked: there its
 * user registers are complete (pt_regs at the user-mode boundary) and its
 * FPU state can be flushed to memory.
 */
struct cld_thr {
	struct callback_head work;
	struct cld_frz *frz;
	struct task_struct *task; /* reference held */
	bool parked; /* waiting in cld_park() (frz->lock) */
	bool gone; /* exited or never ran the work (frz->lock) */
	bool snapped; /* the snapshot below is valid */

	/* snapshot, written by the thread before it reports parked */
	struct cld_regs regs; /* in restarted form (see rec.syscall_state) */
	struct cld_thread_rec rec;
	u8 fxsave[512];
	u8 *xstate; /* NT_X86_XSTATE, NULL without XSAVE */
	u32 xstate_len;
	u64 utime_ns, stime_ns;
	struct cld_siginfo *queue; /* rec.nr_queue */
	int snap_err;
};

/*
 * A frozen thread group.  Lifetime: a kref held by the registry list, by
 * each open image file and by each queued/parked thread work.
 */
struct cld_frz {
	struct kref ref;
	struct list_head node; /* cld_frozen, under cld_lock */
	bool listed; /* under cld_lock */
	struct pid *tgid; /* reference held */
	struct pid_namespace *ns; /* of the first freezer: pids reported in it */
	struct user_namespace *user_ns; /* of the first freezer (creds) */

	spinlock_t lock;
	/*
	 * Two queues, so that an arrival does not wake every parked thread:
	 * wq for the freezer and sharers (arrivals, departures, state),
	 * thaw_wq for the parked threads.
	 */
	wait_queue_head_t wq;
	wait_queue_head_t thaw_wq;
	int state; /* enum cld_kabi_state_val */
	int err; /* why a freeze failed, for sharers */
	bool thaw; /* parked threads may leave */
	bool persist; /* under cld_lock */
	bool noimage;
	unsigned int nr_files; /* under cld_lock */

	struct cld_thr **thr; /* frz->lock for the flags, freezer for the array */
	unsigned int nr_thr, cap_thr;
	unsigned int nr_parked, nr_gone;
	u64 freeze_ns;

	struct mutex img_lock; /* serialises image generation and reads */
	struct cld_img *img;
};

/* cld_main.c: the registry of frozen groups, under cld_lock */
extern struct mutex cld_lock;
void cld_frz_put(struct cld_frz *frz);
/* Take frz off the registry (cld_lock held): thaws it, drops its ref. */
void cld_unlist_locked(struct cld_frz *frz);

/* cld_snap.c: runs in the parked thread itself */
void cld_snap_thread(struct cld_thr *th);
void cld_thr_free_snap(struct cld_thr *th);

/* cld_xxh3.c */
u64 cld_xxh3_page(const void *page);
u64 cld_xxh3(const void *data, size_t len);

#endif /* CLD_INTERNAL_H */
