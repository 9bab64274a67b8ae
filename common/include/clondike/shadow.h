/* SPDX-License-Identifier: MIT */
/*
 * The shadow: what stays at home of a process that migrated away
 * (docs/shadow.md).  It keeps the pid, the parent, the process group and
 * the session, so the home node's tools and the parent's wait() still see
 * the process; it never runs the program again.
 *
 * The calling thread is its ptrace tracer (the freezer's thread).  The
 * shadow is parked in pause(2) on the vDSO's syscall instruction, with an
 * empty signal mask: every signal sent to it stops it for the tracer
 * (signal-delivery stop), which suppresses it and forwards it to the guest.
 * Group stops are real ones (the parent sees them), made when the guest
 * stops; SIGKILL kills it as it would the process.
 */
#ifndef CLONDIKE_SHADOW_H
#define CLONDIKE_SHADOW_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "clondike/err.h"

struct cld_shadow {
	pid_t pid;
	struct user_regs_struct park; /* pause(2), ready to be (re)entered */
	int dying;		      /* the signal it is to die by, once asked to */
	int stopping;		      /* the stop signal it was sent by us */
	int group_sig;		      /* acting in a group stop: listen again after */
	bool listening;		      /* in a group stop (PTRACE_LISTEN) */
	bool interrupting;	      /* PTRACE_INTERRUPT sent, its report not seen */
	bool in_stop;		      /* in a ptrace stop the caller may act in */
};

enum cld_shadow_what {
	CLD_SHADOW_NONE,   /* nothing yet (cld_shadow_next without blocking) */
	CLD_SHADOW_SIGNAL, /* a signal was sent to it: si */
	CLD_SHADOW_WAKE,   /* cld_shadow_wake, or a stop to act in */
	CLD_SHADOW_GONE,   /* it exited: status (as from waitpid) */
};

struct cld_shadow_event {
	enum cld_shadow_what what;
	siginfo_t si;
	int status;
};

/* The signals pending in pid (bit sig - 1), read at the freeze. */
uint64_t cld_shadow_pending(pid_t pid);

/*
 * Turn pid, seized by this thread and in a ptrace stop, into a shadow:
 * the signals pending at the freeze (the guest got them with the image)
 * are consumed and its mask emptied.  It stays in the stop: act, then
 * cld_shadow_park.
 */
int cld_shadow_begin(struct cld_shadow *s, pid_t pid, uint64_t pending, struct cld_err *err);

/*
 * The next thing that happens to the shadow.  Group stops are kept
 * (PTRACE_LISTEN) internally.  With block false, CLD_SHADOW_NONE when
 * nothing is there; while listening the caller must poll (a stopped task
 * does not report a wake).  After SIGNAL or WAKE it is in a stop: act
 * (cld_shadow_stop, cld_shadow_exit, injected calls) and cld_shadow_park.
 */
int cld_shadow_next(struct cld_shadow *s, bool block, struct cld_shadow_event *ev,
		    struct cld_err *err);

/* Resume it into pause(2) (sig 0), or deliver sig on the way. */
int cld_shadow_park(struct cld_shadow *s, int sig, struct cld_err *err);

/* From a stop: enter a group stop as its guest did (by sig when the
 * shadow would stop by it, else by SIGSTOP). */
int cld_shadow_stop(struct cld_shadow *s, int sig, struct cld_err *err);

/*
 * From a stop: end as the guest did; code is the waitid si_code
 * (CLD_EXITED with status the exit code, CLD_KILLED or CLD_DUMPED with
 * status the signal).  The shadow's GONE event follows.
 */
int cld_shadow_exit(struct cld_shadow *s, int code, int status, struct cld_err *err);

/* Out of a PTRACE_LISTEN group stop into a stop to act in (a WAKE). */
int cld_shadow_interrupt(struct cld_shadow *s, struct cld_err *err);

/* From any thread of the tracer: make the shadow report a WAKE. */
int cld_shadow_wake(pid_t pid);

#endif /* CLONDIKE_SHADOW_H */
