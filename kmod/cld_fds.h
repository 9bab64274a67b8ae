/* SPDX-License-Identifier: GPL-2.0 */
/* The open fds of a frozen group and its pipes' data (cld_fds.c). */
#ifndef CLD_FDS_H
#define CLD_FDS_H

#include <linux/pid_namespace.h>
#include <linux/sched.h>

#include "clondike/codec.h"

/*
 * Fill p->fds, p->pipes and p->epolls as /proc/PID/fd, fdinfo and tee(2)
 * show them; pidfds' pids as seen from ns (the freezer's).
 */
int cld_fill_fds(struct cld_proc *p, struct task_struct *t,
		 struct pid_namespace *ns);

#endif /* CLD_FDS_H */
