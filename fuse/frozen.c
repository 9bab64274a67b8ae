// SPDX-License-Identifier: MIT
#include "frozen_priv.h"

#include <errno.h>
#include <pthread.h>
#include <sys/ptrace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clondike/freeze_ptrace.h"
#include "clondike/shadow.h"
#include "log.h"

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cldd_frz_post(struct cldd_freezer *F, struct event *e, bool thread_ends)
{
	pthread_mutex_lock(&F->mu);
	e->next = F->events;
	F->events = e;
	if (thread_ends) {
		F->threads--;
		pthread_cond_broadcast(&F->cv);
	}
	pthread_mutex_unlock(&F->mu);
	uv_async_send(&F->async);
}

/* ---- The freeze's thread --------------------------------------------------- */

static int do_freeze(struct cldd_freeze *f, struct cld_frozen **fz, struct cld_err *err)
{
	int ret = cld_freeze_timed(f->pid, 0, f->priv->fr->lim.timeout_ms, fz, err);

	/* Held by `clondike freeze`: talk to its holder instead. */
	if (ret == -EBUSY && cld_hold_connect(f->pid, fz, NULL) == 0) {
		cld_err_clear(err);
		ret = 0;
	}
	if (ret)
		return ret;
	/* Exact size and data now: an open image reports exact values.  The
	 * page-table scan is O(resident pages): here, not on the loop. */
	ret = cld_frozen_prepare(*fz, err);
	if (ret) {
		cld_frozen_free(*fz);
		*fz = NULL;
	}
	return ret;
}

struct job *cldd_frz_next_job(struct cldd_freeze_priv *p)
{
	struct job *j;

	pthread_mutex_lock(&p->mu);
	while (!p->jobs)
		pthread_cond_wait(&p->cv, &p->mu);
	j = p->jobs;
	p->jobs = j->next;
	if (!p->jobs)
		p->jobs_tail = &p->jobs;
	pthread_mutex_unlock(&p->mu);
	return j;
}

/* Wait up to ms for a job to be queued (it stays queued). */
void cldd_frz_wait_job(struct cldd_freeze_priv *p, long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&p->mu);
	while (!p->jobs && !pthread_cond_timedwait(&p->cv, &p->mu, &until))
		;
	pthread_mutex_unlock(&p->mu);
}

bool cldd_frz_has_job(struct cldd_freeze_priv *p)
{
	bool r;

	pthread_mutex_lock(&p->mu);
	r = p->jobs != NULL;
	pthread_mutex_unlock(&p->mu);
	return r;
}

void cldd_frz_drop_memory(struct cldd_freeze *f, struct cldd_freeze_priv *p)
{
	struct cld_err e = { 0 };
	uint64_t bytes = 0;

	if (cld_frozen_drop_memory(p->fz, &bytes, &e))
		cldd_warn("shadow %d: memory not released: %s", (int)f->pid, cld_err_str(&e));
	else
		cldd_info("shadow %d: its guest has every page; %llu MiB released", (int)f->pid,
			  (unsigned long long)(bytes >> 20));
}

static void *freeze_thread(void *arg)
{
	struct cldd_freeze *f = arg;
	struct cldd_freeze_priv *p = f->priv;
	struct cld_err err = { 0 };
	struct job *j;

	p->ret = do_freeze(f, &p->fz, &err);
	if (p->ret) {
		snprintf(p->msg, sizeof(p->msg), "%s", cld_err_str(&err));
		/* Ending the thread releases a task it could not stop. */
		cldd_frz_post(p->fr, &p->ev_frozen, true);
		return NULL;
	}
	p->inline_io = p->fz->owns_freeze; /* ptrace, kmod; not a holder's socket */
	p->pending = cld_shadow_pending(f->pid);
	cldd_frz_post(p->fr, &p->ev_frozen, false);
	for (;;) {
		j = cldd_frz_next_job(p);
		switch (j->op) {
		case J_READ:
			j->result = cld_frozen_pread(p->fz, j->buf, j->len, j->off);
			break;
		case J_SEEK:
			j->result = cld_frozen_seek(p->fz, (int64_t)j->off, j->whence);
			break;
		case J_EXITKILL:
			/* Only the tracer thread may change its options. */
			j->result =
				ptrace(PTRACE_SETOPTIONS, f->pid, NULL,
				       (void *)(long)(PTRACE_O_TRACESYSGOOD |
						      (j->whence ? PTRACE_O_EXITKILL : 0))) < 0 ?
					-errno :
					0;
			break;
		case J_DROP:
			cldd_frz_drop_memory(f, p);
			free(j);
			continue;
		case J_SHADOW:
			free(j);
			if (cldd_frz_shadow_thread(f, p))
				return NULL; /* it exited: the thread is done */
			continue;
		case J_SH_STOP:
		case J_SH_EXIT:
			free(j); /* not a shadow after all */
			continue;
		case J_THAW:
			free(j);
			cld_frozen_free(p->fz);
			p->fz = NULL;
			cldd_frz_post(p->fr, &p->ev_thawed, true);
			return NULL;
		}
		cldd_frz_post(p->fr, j->ev, false);
	}
}

static int start_thread(struct cldd_freeze *f)
{
	struct cldd_freezer *F = f->priv->fr;
	pthread_attr_t a;
	pthread_t t;
	int r;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* collect and the injected calls need little; sanitizers more. */
	pthread_attr_setstacksize(&a, 1u << 20);
	pthread_mutex_lock(&F->mu);
	F->threads++;
	pthread_mutex_unlock(&F->mu);
	r = pthread_create(&t, &a, freeze_thread, f);
	pthread_attr_destroy(&a);
	if (r) {
		pthread_mutex_lock(&F->mu);
		F->threads--;
		pthread_mutex_unlock(&F->mu);
	}
	return -r;
}

void cldd_frz_queue_job(struct cldd_freeze *f, struct job *j)
{
	struct cldd_freeze_priv *p = f->priv;

	pthread_mutex_lock(&p->mu);
	j->next = NULL;
	*p->jobs_tail = j;
	p->jobs_tail = &j->next;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	/* A shadow's thread waits on the task, not on its queue. */
	if (p->shadow_mode && !p->gone)
		cld_shadow_wake(f->pid);
}

/* ---- The loop thread -------------------------------------------------------- */

static void unlink_freeze(struct cldd_freeze *f)
{
	struct cldd_freezer *F = f->priv->fr;
	struct cldd_freeze **pp;

	for (pp = &F->list; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			F->count--;
			return;
		}
}

static void free_freeze(struct cldd_freeze *f)
{
	pthread_mutex_destroy(&f->priv->mu);
	pthread_cond_destroy(&f->priv->cv);
	free(f->priv);
	free(f);
}

static void fail_waiters(struct waiter *w, int ret, const char *msg)
{
	while (w) {
		struct waiter *next = w->next;

		w->cb(w->arg, NULL, ret, msg);
		free(w);
		w = next;
	}
}

/* Start (again) the freeze of f, whose waiters are queued. */
static void begin(struct cldd_freeze *f)
{
	struct cldd_freeze_priv *p = f->priv;
	int ret;

	p->state = F_FREEZING;
	p->ret = 0;
	p->msg[0] = 0;
	p->fz = NULL;
	ret = start_thread(f);
	if (ret) {
		struct waiter *w = p->waiters;

		cldd_err("freeze %d: cannot start a thread: %s", (int)f->pid, strerror(-ret));
		p->waiters = NULL;
		f->refs = 0;
		unlink_freeze(f);
		free_freeze(f);
		fail_waiters(w, ret, "cannot start a freezer thread");
	}
}

static void on_frozen(struct cldd_freeze *f)
{
	struct cldd_freeze_priv *p = f->priv;
	struct cldd_freezer *F = p->fr;
	struct waiter *w = p->waiters, *next;

	p->waiters = NULL;
	if (p->ret) {
		char msg[sizeof(((struct cld_err *)0)->msg)];
		int ret = p->ret;

		snprintf(msg, sizeof(msg), "%s", p->msg);
		cldd_err("freeze %d: %s", (int)f->pid, msg);
		unlink_freeze(f);
		free_freeze(f);
		fail_waiters(w, ret, msg);
		return;
	}
	f->fz = p->fz;
	f->frozen_ns = realtime_ns();
	/* Seeded by the clock: ids stay unique across daemon restarts. */
	if (!F->next_id)
		F->next_id = f->frozen_ns;
	f->id = F->next_id++;
	p->state = F_READY;
	cldd_dbg("froze %d (%s): image %llu bytes", (int)f->pid, f->fz->backend,
		 (unsigned long long)f->fz->size);
	/* Every waiter holds one reference; one may put it back at once. */
	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, f, 0, NULL);
		free(w);
	}
}

static void on_thawed(struct cldd_freeze *f)
{
	struct cldd_freeze_priv *p = f->priv;

	f->fz = NULL;
	cldd_dbg("thawed %d", (int)f->pid);
	/* Someone asked again while it was thawing: freeze anew. */
	if (p->waiters) {
		begin(f);
		return;
	}
	unlink_freeze(f);
	free_freeze(f);
}

static void on_gone(struct cldd_freeze *f, int status)
{
	struct cldd_freeze_priv *p = f->priv;

	p->gone = true;
	p->state = F_GONE;
	/* Its owner puts its reference back; readers may hold more. */
	if (p->sh_ops)
		p->sh_ops->gone(p->sh_arg, f, status);
}

static void on_async(uv_async_t *h)
{
	struct cldd_freezer *F = h->data;
	struct event *e, *next, *rev = NULL;

	pthread_mutex_lock(&F->mu);
	e = F->events;
	F->events = NULL;
	pthread_mutex_unlock(&F->mu);
	/* In the order posted. */
	for (; e; e = next) {
		next = e->next;
		e->next = rev;
		rev = e;
	}
	for (e = rev; e; e = next) {
		next = e->next;
		switch (e->kind) {
		case E_FROZEN:
			on_frozen(e->f);
			break;
		case E_THAWED:
			on_thawed(e->f);
			break;
		case E_IO: {
			struct job *j = e->job;

			j->cb(j->arg, j->result);
			free(j);
			break;
		}
		case E_SIGNAL:
			if (e->f->priv->sh_ops)
				e->f->priv->sh_ops->signal(e->f->priv->sh_arg, e->f, &e->si);
			free(e);
			break;
		case E_GONE:
			on_gone(e->f, e->status);
			break;
		}
	}
}

int cldd_freeze_init(struct cldd *d, const struct cldd_freeze_limits *lim)
{
	struct cldd_freezer *F = calloc(1, sizeof(*F));
	int r;

	if (!F)
		return UV_ENOMEM;
	pthread_mutex_init(&F->mu, NULL);
	pthread_cond_init(&F->cv, NULL);
	F->lim = *lim;
	F->async.data = F;
	r = uv_async_init(d->loop, &F->async, on_async);
	if (!r)
		F->loop = d->loop;
	d->frz = F;
	return r;
}

struct cldd_freeze *cldd_freeze_find(struct cldd *d, pid_t pid)
{
	struct cldd_freezer *F = d->frz;
	struct cldd_freeze *f;

	for (f = F->list; f; f = f->next)
		if (f->pid == pid && f->priv->state == F_READY)
			return f;
	return NULL;
}

static struct cldd_freeze *find_any(struct cldd_freezer *F, pid_t pid)
{
	struct cldd_freeze *f;

	for (f = F->list; f; f = f->next)
		if (f->pid == pid)
			return f;
	return NULL;
}

static unsigned int count_uid(struct cldd_freezer *F, uid_t uid)
{
	struct cldd_freeze *f;
	unsigned int n = 0;

	for (f = F->list; f; f = f->next)
		n += f->uid == uid;
	return n;
}

static int add_waiter(struct cldd_freeze *f, cldd_freeze_cb cb, void *arg)
{
	struct waiter *w = malloc(sizeof(*w)), **pp;

	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->next = NULL;
	for (pp = &f->priv->waiters; *pp; pp = &(*pp)->next)
		;
	*pp = w;
	f->refs++;
	return 0;
}

void cldd_freeze_get(struct cldd *d, pid_t pid, unsigned long long start_ticks, uid_t uid,
		     cldd_freeze_cb cb, void *arg)
{
	struct cldd_freezer *F = d->frz;
	struct cldd_freeze *f = find_any(F, pid);
	char msg[160];
	int ret;

	if (f && f->start_ticks != start_ticks) {
		snprintf(msg, sizeof(msg), "pid %d: an earlier process with this pid is still held",
			 (int)pid);
		cb(arg, NULL, -EBUSY, msg);
		return;
	}
	if (f && f->priv->gone) {
		snprintf(msg, sizeof(msg), "pid %d migrated and has exited", (int)pid);
		cb(arg, NULL, -ESRCH, msg);
		return;
	}
	if (f && f->dropped) {
		snprintf(msg, sizeof(msg),
			 "pid %d migrated and its memory is with its guest: read the guest's image",
			 (int)pid);
		cb(arg, NULL, -ENODATA, msg);
		return;
	}
	if (f && f->priv->state == F_READY) {
		f->refs++;
		cb(arg, f, 0, NULL);
		return;
	}
	if (f) {
		/* Being frozen (join it) or thawed (freeze again after). */
		ret = add_waiter(f, cb, arg);
		if (ret)
			cb(arg, NULL, ret, "out of memory");
		return;
	}
	if (pid == getpid()) {
		snprintf(msg, sizeof(msg), "pid %d is clondiked itself", (int)pid);
		cb(arg, NULL, -EDEADLK, msg);
		return;
	}
	if (F->count >= F->lim.total || (uid != 0 && count_uid(F, uid) >= F->lim.per_user)) {
		snprintf(
			msg, sizeof(msg),
			"too many processes frozen at once (%u for uid %u, %u in all; limits %u and %u)",
			count_uid(F, uid), (unsigned)uid, F->count, F->lim.per_user, F->lim.total);
		cb(arg, NULL, -EMFILE, msg);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (f)
		f->priv = calloc(1, sizeof(*f->priv));
	if (!f || !f->priv) {
		free(f);
		cb(arg, NULL, -ENOMEM, "out of memory");
		return;
	}
	f->pid = pid;
	f->start_ticks = start_ticks;
	f->uid = uid;
	f->priv->fr = F;
	pthread_mutex_init(&f->priv->mu, NULL);
	pthread_cond_init(&f->priv->cv, NULL);
	f->priv->jobs_tail = &f->priv->jobs;
	f->priv->ev_frozen = (struct event){ .kind = E_FROZEN, .f = f };
	f->priv->ev_thawed = (struct event){ .kind = E_THAWED, .f = f };
	f->priv->ev_gone = (struct event){ .kind = E_GONE, .f = f };
	if (add_waiter(f, cb, arg)) {
		free_freeze(f);
		cb(arg, NULL, -ENOMEM, "out of memory");
		return;
	}
	f->next = F->list;
	F->list = f;
	F->count++;
	begin(f);
}

void cldd_freeze_put(struct cldd_freeze *f)
{
	struct job *j;

	if (!f)
		return;
	/* Only the shadow's own reference left: nobody reads its image any
	 * more, the guest's pager included (it pulled everything). */
	if (--f->refs == 1 && f->shadow && !f->dropped && !f->priv->gone) {
		j = calloc(1, sizeof(*j));
		if (j) {
			f->dropped = true;
			j->op = J_DROP;
			cldd_frz_queue_job(f, j);
		}
	}
	if (f->refs)
		return;
	if (f->priv->gone) {
		/* Nothing to thaw, no thread to ask. */
		cld_frozen_free(f->fz);
		f->fz = NULL;
		unlink_freeze(f);
		free_freeze(f);
		return;
	}
	j = calloc(1, sizeof(*j));
	f->priv->state = F_THAWING;
	if (!j) {
		/* Cannot ask the thread: at least keep the entry (frozen) in
		 * the table so that nothing touches it as unfrozen. */
		cldd_err("thaw %d: out of memory", (int)f->pid);
		return;
	}
	j->op = J_THAW;
	cldd_frz_queue_job(f, j);
}

bool cldd_freeze_inline(const struct cldd_freeze *f)
{
	return f->priv->inline_io;
}

static int64_t io(struct cldd_freeze *f, struct job *proto, cldd_freeze_io_cb cb, void *arg)
{
	struct job *j = malloc(sizeof(*j) + sizeof(struct event));

	if (!j)
		return -ENOMEM;
	*j = *proto;
	j->cb = cb;
	j->arg = arg;
	j->ev = (struct event *)(j + 1);
	*j->ev = (struct event){ .kind = E_IO, .job = j };
	cldd_frz_queue_job(f, j);
	return -EINPROGRESS;
}

ssize_t cldd_freeze_pread(struct cldd_freeze *f, void *buf, size_t len, uint64_t off,
			  cldd_freeze_io_cb cb, void *arg)
{
	if (f->priv->inline_io)
		return cld_frozen_pread(f->fz, buf, len, off);
	return (ssize_t)io(f, &(struct job){ .op = J_READ, .buf = buf, .len = len, .off = off }, cb,
			   arg);
}

int64_t cldd_freeze_seek(struct cldd_freeze *f, int64_t off, int whence, cldd_freeze_io_cb cb,
			 void *arg)
{
	if (f->priv->inline_io)
		return cld_frozen_seek(f->fz, off, whence);
	return io(f, &(struct job){ .op = J_SEEK, .off = (uint64_t)off, .whence = whence }, cb,
		  arg);
}

int cldd_freeze_exitkill(struct cldd_freeze *f, bool on, cldd_freeze_io_cb cb, void *arg)
{
	if (strcmp(f->fz->backend, "ptrace"))
		return -EOPNOTSUPP;
	return (int)io(f, &(struct job){ .op = J_EXITKILL, .whence = on }, cb, arg);
}

bool cldd_freeze_held(struct cldd *d, pid_t pid)
{
	struct cldd_freeze *f = find_any(d->frz, pid);

	/* A shadow that exited has no tracer any more. */
	return f && !f->priv->gone;
}

void cldd_freeze_thaw_all(struct cldd *d)
{
	struct cldd_freezer *F = d->frz;
	struct timespec until;
	struct cldd_freeze *f;

	if (!F)
		return;

	/* A shadow is not thawed: it dies with our threads (EXITKILL). */
	for (f = F->list; f; f = f->next)
		if (f->priv->state == F_READY && !f->shadow) {
			f->refs = 1;
			cldd_freeze_put(f);
		}
	/* Freezes still stopping give up at their deadline. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += F->lim.timeout_ms / 1000 + 2;
	pthread_mutex_lock(&F->mu);
	while (F->threads && pthread_cond_timedwait(&F->cv, &F->mu, &until) == 0)
		;
	if (F->threads)
		cldd_warn("%u freezer thread(s) did not end in time", F->threads);
	pthread_mutex_unlock(&F->mu);
	if (F->loop)
		on_async(&F->async);
}
