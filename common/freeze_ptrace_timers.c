// SPDX-License-Identifier: MIT
/*
 * POSIX timers (format 1.2 CLONDIKE/TIMERS): what /proc/PID/timers says
 * of each (id, signal and sigev_value, notification, clock), and its time
 * left and interval from a timer_gettime injected into the task.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "clondike/inject.h"
#include "freeze_ptrace_priv.h"

#define NS 1000000000ll

/* One "ID:" block of /proc/PID/timers; false if it does not parse. */
static bool parse_timer(const char *s, struct cld_timer_rec *t)
{
	char how[16], whom[8];
	unsigned long long value;
	int id, signo, target, clock;

	memset(t, 0, sizeof(*t));
	if (sscanf(s, "ID: %d signal: %d/%llx notify: %15[a-z]/%7[a-z].%d ClockID: %d", &id,
		   &signo, &value, how, whom, &target, &clock) != 7)
		return false;
	t->id = id;
	t->signo = signo;
	t->value = value;
	t->clock = clock;
	if (!strcmp(how, "signal"))
		t->notify = SIGEV_SIGNAL;
	else if (!strcmp(how, "none"))
		t->notify = SIGEV_NONE;
	else if (!strcmp(how, "thread"))
		t->notify = SIGEV_THREAD;
	else
		return false;
	if (!strcmp(whom, "tid")) {
		t->notify |= SIGEV_THREAD_ID;
		t->tid = target;
	}
	return true;
}

/* The next "ID:" at the start of a line ("ClockID:" has one too). */
static char *next_block(char *q, bool first)
{
	if (first && !strncmp(q, "ID:", 3))
		return q;
	q = strstr(q, "\nID:");
	return q ? q + 1 : NULL;
}

static int cmp_id(const void *a, const void *b)
{
	const struct cld_timer_rec *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

int ptr_collect_timers(struct collect *c, struct cld_remote *r, uint64_t scratch)
{
	struct cld_proc *p = c->p;
	struct itimerspec its;
	char *buf = NULL, *q;
	uint32_t n = 0, i;
	long ret;
	int rc;

	if (cld_procfs_slurp(c->pid, "timers", &buf, NULL))
		return 0; /* no /proc/PID/timers (CONFIG_CHECKPOINT_RESTORE): none known */
	for (q = next_block(buf, true); q; q = next_block(q, false))
		n++;
	p->proc.nr_posix_timers = n;
	if (!n || n > CLD_MAX_TIMERS) {
		free(buf);
		return 0; /* too many: none recorded, and the restart refuses */
	}
	p->timers = calloc(n, sizeof(*p->timers));
	if (!p->timers) {
		free(buf);
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	}
	for (q = next_block(buf, true), i = 0; q && i < n; q = next_block(q, false)) {
		struct cld_timer_rec *t = &p->timers[i];

		if (!parse_timer(q, t))
			continue;
		rc = cld_remote_syscall(r, &ret, SYS_timer_gettime, t->id, (long)scratch, 0, 0, 0,
					0, c->err);
		if (rc)
			goto fail;
		if (ret)
			continue; /* gone meanwhile: cannot be, frozen */
		rc = cld_remote_read(c->pid, scratch, &its, sizeof(its));
		if (rc) {
			cld_err_set(c->err, rc, "reading timer %d's time from %d", t->id, c->pid);
			goto fail;
		}
		t->value_ns = its.it_value.tv_sec * NS + its.it_value.tv_nsec;
		t->interval_ns = its.it_interval.tv_sec * NS + its.it_interval.tv_nsec;
		i++;
	}
	free(buf);
	p->nr_timers = i;
	if (i != n) {
		/* Some block did not parse: none is recorded, and the restart
		 * refuses rather than lose one. */
		free(p->timers);
		p->timers = NULL;
		p->nr_timers = 0;
		return 0;
	}
	qsort(p->timers, n, sizeof(*p->timers), cmp_id);
	return 0;
fail:
	free(buf);
	free(p->timers);
	p->timers = NULL;
	p->nr_timers = 0;
	return rc;
}
