/* SPDX-License-Identifier: MIT */
/*
 * The daemon's table of freezes: one per pid, shared by every open file of
 * that pid and thawed when the last one is released.
 *
 * Nothing here blocks the loop thread.  Each freeze has a thread of its
 * own: it seizes the process (ptrace wants one tracer thread throughout),
 * stops it with a deadline, scans its page tables, later serves the reads
 * that may block (a holder's socket) and finally thaws it.  A process that
 * does not stop in time is not frozen (-ETIMEDOUT) and runs on: the thread
 * exits, which releases it.  Completions come back to the loop thread.
 */
#ifndef CLDD_FROZEN_H
#define CLDD_FROZEN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "clondike/err.h"
#include "clondike/freezer.h"

#include "cldd.h"

struct cldd_freeze_priv;

struct cldd_freeze {
	pid_t pid;
	unsigned long long start_ticks; /* which incarnation of pid */
	unsigned int refs;
	uid_t uid; /* whose request made it: counted against their limit */
	uint64_t id; /* unique per freeze: remote readers key their cache on it */
	uint64_t frozen_ns; /* CLOCK_REALTIME of the freeze */
	struct cld_frozen *fz; /* valid once ready */
	bool migrating; /* a migration of it is under way (migrate.c) */
	bool shadow; /* it migrated: held for good, never thawed */
	bool dropped; /* a shadow whose memory was released: no image any more */
	struct cldd_freeze_priv *priv;
	struct cldd_freeze *next;
};

/* Default limits (see docs/security.md): each freeze has a thread and an fd
 * or two, so these also bound the daemon's threads and fds. */
#define CLDD_FREEZES_PER_USER 128u
#define CLDD_FREEZES_TOTAL 1024u

/* Limits. */
struct cldd_freeze_limits {
	unsigned int timeout_ms; /* to stop a process */
	unsigned int per_user; /* freezes a non-root user's requests may hold */
	unsigned int total;
};

/* d->frz, on d->loop: 0 or a libuv error. */
int cldd_freeze_init(struct cldd *d, const struct cldd_freeze_limits *lim);

/*
 * Completion of cldd_freeze_get: f holds a reference for the caller, or
 * ret < 0 and msg says why.  Runs on the loop thread, possibly from within
 * cldd_freeze_get when the freeze was already in effect.
 */
typedef void (*cldd_freeze_cb)(void *arg, struct cldd_freeze *f, int ret, const char *msg);

/* Freeze pid for uid (or join its freeze). */
void cldd_freeze_get(struct cldd *d, pid_t pid, unsigned long long start_ticks, uid_t uid,
		     cldd_freeze_cb cb, void *arg);
void cldd_freeze_put(struct cldd_freeze *f);

/* The freeze in effect for pid (ready), or NULL (no reference taken). */
struct cldd_freeze *cldd_freeze_find(struct cldd *d, pid_t pid);

/*
 * Image bytes (SEEK_DATA/SEEK_HOLE for seek).  When the backend does not
 * block (cldd_freeze_inline: ptrace, kmod) the result is returned and cb is
 * not used.  Otherwise (a holder's socket) they return -EINPROGRESS and cb
 * gets the result on the loop thread later; buf must stay valid until then
 * and the caller's reference keeps f alive meanwhile.
 */
bool cldd_freeze_inline(const struct cldd_freeze *f);
typedef void (*cldd_freeze_io_cb)(void *arg, int64_t result);
ssize_t cldd_freeze_pread(struct cldd_freeze *f, void *buf, size_t len, uint64_t off,
			  cldd_freeze_io_cb cb, void *arg);
int64_t cldd_freeze_seek(struct cldd_freeze *f, int64_t off, int whence, cldd_freeze_io_cb cb,
			 void *arg);

/*
 * Make the process die if the freeze's thread (the daemon) dies, or not
 * (PTRACE_O_EXITKILL): a shadow must never run on as a second copy.  Only
 * for the ptrace backend (-EOPNOTSUPP otherwise); -EINPROGRESS, then cb.
 */
int cldd_freeze_exitkill(struct cldd_freeze *f, bool on, cldd_freeze_io_cb cb, void *arg);

/*
 * Make a frozen process (ptrace) the shadow of its guest
 * (clondike/shadow.h): from now on the signals sent to it are suppressed
 * and reported to ops->signal, and its exit (by cldd_freeze_shadow_exit,
 * or a SIGKILL) to ops->gone, with its wait status.  gone must put back
 * the reference the caller holds.  On the loop thread.
 */
struct cldd_shadow_ops {
	void (*signal)(void *arg, struct cldd_freeze *f, const siginfo_t *si);
	void (*gone)(void *arg, struct cldd_freeze *f, int status);
};
int cldd_freeze_shadow(struct cldd_freeze *f, const struct cldd_shadow_ops *ops, void *arg);
/* The guest stopped by sig: the shadow stops too (its parent sees it). */
int cldd_freeze_shadow_stop(struct cldd_freeze *f, int sig);
/* The guest ended (code CLD_EXITED, CLD_KILLED or CLD_DUMPED, status as
 * waitid gives it): the shadow ends the same way. */
int cldd_freeze_shadow_exit(struct cldd_freeze *f, int code, int status);

/* Whether pid has a freeze in any state (its wait reports are the
 * freezer's). */
bool cldd_freeze_held(struct cldd *d, pid_t pid);

/* Thaw everything and wait for the threads (shutdown). */
void cldd_freeze_thaw_all(struct cldd *d);

#endif /* CLDD_FROZEN_H */
