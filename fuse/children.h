/* SPDX-License-Identifier: MIT */
/*
 * The daemon's children.  clondiked is a child subreaper: processes it
 * restores (guests of migrations included) become its children when their
 * restorer exits, so their exit status and their stops reach it, to be
 * sent home.  Every child is reaped here, on the loop thread, on SIGCHLD;
 * the owner of a pid (a restart worker, a guest) is called with what
 * waitid reported.  Children nobody watches are reaped and forgotten.
 *
 * Only the loop thread's children are waited for, by pid (never -1): a
 * wait for "any" would take the reports of the freezer threads' tracees.
 */
#ifndef CLDD_CHILDREN_H
#define CLDD_CHILDREN_H

#include <signal.h>
#include <sys/types.h>
#include <uv.h>

#include "cldd.h"

/* d->kids; SIGCHLD on d->loop. */
int cldd_children_init(struct cldd *d);

/* What waitid reported (si_code CLD_EXITED, CLD_KILLED, CLD_DUMPED,
 * CLD_STOPPED, CLD_CONTINUED; si_status). */
typedef void (*cldd_child_cb)(void *arg, pid_t pid, const siginfo_t *si);

/*
 * Call cb for each report of pid until it has exited (the exit is the last
 * call).  A child that exited before it was watched reports at once (its
 * status is kept for a while).
 */
int cldd_child_watch(struct cldd *d, pid_t pid, cldd_child_cb cb, void *arg);
void cldd_child_unwatch(struct cldd *d, pid_t pid);

/*
 * A child of ours that a freezer thread traced was reaped by that thread's
 * wait (the tracer's group is its parent): pass on its wait status.
 */
void cldd_child_reaped(struct cldd *d, pid_t pid, int status);

/* Reap now (after a kill that must not wait for the signal). */
void cldd_children_poll(struct cldd *d);

#endif /* CLDD_CHILDREN_H */
