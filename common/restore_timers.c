// SPDX-License-Identifier: MIT
/*
 * POSIX timers (format 1.2), made again by timer_create calls injected
 * into the rebuilt process once its threads exist, with the ids they had:
 * a fresh process numbers its timers 0, 1, 2... so a timer whose id was
 * freed before the checkpoint is made by creating (and then deleting) a
 * stand-in for each missing id.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "restore_priv.h"

#define NS 1000000000ll

/* Scratch layout: the sigevent, the id written back, the itimerspec. */
#define SCR_SIGEV 0
#define SCR_ID 64
#define SCR_ITS 128

struct ksigevent {
	uint64_t value;
	int32_t signo, notify, tid;
	int32_t pad[11];
};

static int call(struct cld_rst *rs, long *v, const char *what, long nr, long a1, long a2,
		long a3, long a4, struct cld_err *err)
{
	int rc = cld_remote_syscall(rs->r, v, nr, a1, a2, a3, a4, 0, 0, err);

	if (!rc && *v < 0 && *v > -4096)
		rc = cld_err_set(err, (int)*v, "%s: %s", what, strerror((int)-*v));
	return rc;
}

/* The new tid of image thread tid (the same unless --new-pid). */
static pid_t new_tid(const struct cld_rst *rs, int32_t tid)
{
	uint32_t k;

	/* tids[] exists only for a process with threads. */
	if (rs->p->threads[0].rec.tid == tid)
		return rs->pid;
	for (k = 1; rs->tids && k < rs->p->nr_threads && k < rs->nr_tids; k++)
		if (rs->p->threads[k].rec.tid == tid)
			return rs->tids[k];
	return 0;
}

static int create(struct cld_rst *rs, const struct ksigevent *ev, int clock, int32_t *id,
		  struct cld_err *err)
{
	long v;
	int rc;

	if (cld_remote_write(rs->pid, rs->scratch + SCR_SIGEV, ev, sizeof(*ev)))
		return cld_err_set(err, -EIO, "writing a sigevent into the child");
	rc = call(rs, &v, "timer_create", SYS_timer_create, clock, (long)(rs->scratch + SCR_SIGEV),
		  (long)(rs->scratch + SCR_ID), 0, err);
	if (!rc && cld_remote_read(rs->pid, rs->scratch + SCR_ID, id, sizeof(*id)))
		rc = cld_err_set(err, -EIO, "reading a timer id from the child");
	return rc;
}

int rst_timers_create(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	const struct ksigevent none = { .notify = SIGEV_NONE };
	int32_t next = 0, id, stand_in[64];
	uint32_t i, nr_stand = 0, k;
	long v;
	int rc = 0;

	for (i = 0; i < p->nr_timers && !rc; i++) {
		const struct cld_timer_rec *t = &p->timers[i];
		struct ksigevent ev = { .value = t->value, .signo = t->signo, .notify = t->notify };
		struct itimerspec its = {
			.it_value = { t->value_ns / NS, t->value_ns % NS },
			.it_interval = { t->interval_ns / NS, t->interval_ns % NS },
		};

		while (next < t->id && !rc) {
			rc = create(rs, &none, CLOCK_MONOTONIC, &id, err);
			if (!rc && nr_stand < sizeof(stand_in) / sizeof(stand_in[0]))
				stand_in[nr_stand++] = id;
			else if (!rc)
				rc = call(rs, &v, "timer_delete", SYS_timer_delete, id, 0, 0, 0, err);
			next = id + 1;
		}
		if (rc)
			break;
		if (t->notify & SIGEV_THREAD_ID)
			ev.tid = new_tid(rs, t->tid);
		rc = create(rs, &ev, t->clock, &id, err);
		if (!rc && id != t->id)
			rc = cld_err_set(err, -EBUSY, "POSIX timer %d came back as timer %d", t->id, id);
		if (!rc && t->value_ns) {
			if (cld_remote_write(rs->pid, rs->scratch + SCR_ITS, &its, sizeof(its)))
				rc = cld_err_set(err, -EIO, "writing a timer's time into the child");
			else
				rc = call(rs, &v, "timer_settime", SYS_timer_settime, id, 0,
					  (long)(rs->scratch + SCR_ITS), 0, err);
		}
		next = id + 1;
	}
	for (k = 0; k < nr_stand && !rc; k++)
		rc = call(rs, &v, "timer_delete", SYS_timer_delete, stand_in[k], 0, 0, 0, err);
	return rc;
}
