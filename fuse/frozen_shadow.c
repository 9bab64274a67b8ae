// SPDX-License-Identifier: MIT
/*
 * A shadow's side of a freeze (frozen.h): its thread, the tracer for good,
 * reports the signals sent to it and makes it stop and end as its guest
 * does (clondike/shadow.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/shadow.h"
#include "frozen_priv.h"
#include "log.h"

/* The jobs of a shadow, done while it is in a stop.  False once it is
 * ending (nothing to resume). */
static bool shadow_jobs(struct cldd_freeze *f, struct cldd_freeze_priv *p, struct cld_shadow *s)
{
	struct cld_err e = { 0 };
	bool resume = true;
	struct job *j;

	while (cldd_frz_has_job(p)) {
		j = cldd_frz_next_job(p);
		switch (j->op) {
		case J_READ:
			j->result = cld_frozen_pread(p->fz, j->buf, j->len, j->off);
			break;
		case J_SEEK:
			j->result = cld_frozen_seek(p->fz, (int64_t)j->off, j->whence);
			break;
		case J_DROP:
			/* An ending shadow is not in a stop, and its memory
			 * goes with it anyway. */
			if (resume)
				cldd_frz_drop_memory(f, p);
			free(j);
			continue;
		case J_SH_STOP:
			if (cld_shadow_stop(s, j->whence, &e))
				cldd_warn("shadow %d: cannot stop it: %s", (int)f->pid,
					  cld_err_str(&e));
			free(j);
			continue;
		case J_SH_EXIT:
			if (cld_shadow_exit(s, j->whence, (int)j->off, &e)) {
				cldd_err("shadow %d: cannot end it as its guest did (%s): killed",
					 (int)f->pid, cld_err_str(&e));
				kill(f->pid, SIGKILL);
			}
			resume = false;
			free(j);
			continue;
		default: /* exitkill is set, thaw never comes: nothing to do */
			j->result = 0;
			if (!j->ev) {
				free(j);
				continue;
			}
			break;
		}
		cldd_frz_post(p->fr, j->ev, false);
	}
	return resume;
}

/*
 * A shadow's life: it reports the signals sent to it, stops when its
 * guest stops and ends as its guest ended (clondike/shadow.h).
 */
bool cldd_frz_shadow_thread(struct cldd_freeze *f, struct cldd_freeze_priv *p)
{
	struct cld_shadow_event ev;
	struct cld_err err = { 0 };
	struct cld_shadow s;
	struct event *e;

	if (cld_shadow_begin(&s, f->pid, p->pending, &err)) {
		/* It stays stopped for good, as before shadows had a life. */
		cldd_err("shadow %d: cannot forward its signals: %s", (int)f->pid,
			 cld_err_str(&err));
		return false;
	}
	goto act; /* jobs queued meanwhile: their wake was consumed */
	for (;;) {
		/* A task in a group stop does not report a wake: poll it. */
		if (s.listening) {
			if (!cldd_frz_has_job(p))
				cldd_frz_wait_job(p, 20);
			if (cldd_frz_has_job(p))
				cld_shadow_interrupt(&s, &err);
		}
		if (cld_shadow_next(&s, true, &ev, &err)) {
			cldd_err("shadow %d: %s", (int)f->pid, cld_err_str(&err));
			cld_err_clear(&err);
			usleep(100000);
			continue;
		}
		switch (ev.what) {
		case CLD_SHADOW_NONE:
			continue;
		case CLD_SHADOW_GONE:
			p->ev_gone.status = ev.status;
			cldd_frz_post(p->fr, &p->ev_gone, true);
			return true;
		case CLD_SHADOW_SIGNAL:
			e = calloc(1, sizeof(*e));
			if (e) {
				e->kind = E_SIGNAL;
				e->f = f;
				e->si = ev.si;
				cldd_frz_post(p->fr, e, false);
			}
			break;
		case CLD_SHADOW_WAKE:
			break;
		}
act:
		if (shadow_jobs(f, p, &s) && cld_shadow_park(&s, 0, &err)) {
			cldd_err("shadow %d: %s", (int)f->pid, cld_err_str(&err));
			cld_err_clear(&err);
		}
	}
}

int cldd_freeze_shadow(struct cldd_freeze *f, const struct cldd_shadow_ops *ops, void *arg)
{
	struct cldd_freeze_priv *p = f->priv;
	struct job *j;

	if (strcmp(f->fz->backend, "ptrace"))
		return -EOPNOTSUPP;
	if (p->shadow_mode)
		return -EALREADY;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	p->sh_ops = ops;
	p->sh_arg = arg;
	j->op = J_SHADOW;
	cldd_frz_queue_job(f, j);
	p->shadow_mode = true; /* after: this job finds the thread waiting */
	return 0;
}

static int shadow_job(struct cldd_freeze *f, enum job_op op, int whence, uint64_t off)
{
	struct job *j;

	if (!f->priv->shadow_mode || f->priv->gone)
		return -ESRCH;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->op = op;
	j->whence = whence;
	j->off = off;
	cldd_frz_queue_job(f, j);
	return 0;
}

int cldd_freeze_shadow_stop(struct cldd_freeze *f, int sig)
{
	return shadow_job(f, J_SH_STOP, sig, 0);
}

int cldd_freeze_shadow_exit(struct cldd_freeze *f, int code, int status)
{
	return shadow_job(f, J_SH_EXIT, code, (uint64_t)status);
}
