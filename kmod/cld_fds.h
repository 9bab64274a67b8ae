/* SPDX-License-Identifier: GPL-2.0 */
/* The open fds of a frozen group and its pipes' data (cld_fds.c). */
#ifndef CLD_FDS_H
#define CLD_FDS_H

#include <linux/sched.h>

#include "clondike/codec.h"

/* Fill p->fds and p->pipes as /proc/PID/fd, fdinfo and tee(2) show them. */
int cld_fill_fds(struct cld_proc *p, struct task_struct *t);

#endif /* CLD_FDS_H */
