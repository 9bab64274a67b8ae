/* SPDX-License-Identifier: MIT */
/* What frozen.c and frozen_shadow.c share: a freeze's thread and its jobs. */
#ifndef CLDD_FROZEN_PRIV_H
#define CLDD_FROZEN_PRIV_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "frozen.h"

/* What comes back to the loop thread. */
enum event_kind {
	E_FROZEN, /* the freeze attempt ended: ret, msg, fz */
	E_IO,	  /* a job ended */
	E_THAWED, /* the thread thawed and is gone */
	E_SIGNAL, /* a shadow was sent a signal: si (the event is malloc'ed) */
	E_GONE,	  /* a shadow exited: status; its thread is gone */
};

struct job;

struct event {
	enum event_kind kind;
	struct cldd_freeze *f;
	struct job *job;
	siginfo_t si;
	int status;
	struct event *next;
};

/* What a freeze's thread does besides freezing. */
enum job_op {
	J_READ,
	J_SEEK,
	J_EXITKILL, /* the process dies with the thread (a shadow) */
	J_DROP,	    /* a shadow's memory goes (its guest has every page) */
	J_SHADOW,   /* become a shadow: report signals, until it exits */
	J_SH_STOP,  /* a shadow stops (its guest did): whence is the signal */
	J_SH_EXIT,  /* a shadow ends as its guest did: whence code, off status */
	J_THAW,
};

struct job {
	enum job_op op;
	void *buf;
	size_t len;
	uint64_t off;
	int whence;
	cldd_freeze_io_cb cb;
	void *arg;
	int64_t result;
	struct job *next;
	struct event *ev; /* its completion */
};

struct waiter {
	cldd_freeze_cb cb;
	void *arg;
	struct waiter *next;
};

enum fstate {
	F_FREEZING,
	F_READY,
	F_THAWING,
	F_GONE, /* a shadow that exited: its thread is gone */
};

/* The table of freezes (d->frz). */
struct cldd_freezer {
	uv_loop_t *loop;  /* set once async is */
	uv_async_t async; /* data: this */
	struct cldd_freeze_limits lim;
	struct cldd_freeze *list;
	unsigned int count;
	uint64_t next_id;
	/* Events from the threads, and the number of threads alive. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct event *events;
	unsigned int threads;
};

struct cldd_freeze_priv {
	struct cldd_freezer *fr; /* its table */
	enum fstate state;
	struct waiter *waiters; /* for the freeze in progress (or the next one) */
	/* Set by the thread before E_FROZEN. */
	int ret;
	char msg[sizeof(((struct cld_err *)0)->msg)];
	struct cld_frozen *fz;
	/* The thread's queue. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *jobs, **jobs_tail;
	bool inline_io; /* reads do not block: done on the loop thread */
	struct event ev_frozen, ev_thawed, ev_gone;
	/* A shadow's. */
	uint64_t pending; /* signals pending at the freeze */
	bool shadow_mode; /* its thread waits on the task: wake it too */
	bool gone;
	const struct cldd_shadow_ops *sh_ops;
	void *sh_arg;
};

/* Post an event to the loop thread (thread_ends: the thread is done). */
void cldd_frz_post(struct cldd_freezer *fr, struct event *e, bool thread_ends);
/* The thread's queue. */
struct job *cldd_frz_next_job(struct cldd_freeze_priv *p);
void cldd_frz_wait_job(struct cldd_freeze_priv *p, long ms);
bool cldd_frz_has_job(struct cldd_freeze_priv *p);
void cldd_frz_queue_job(struct cldd_freeze *f, struct job *j);
void cldd_frz_drop_memory(struct cldd_freeze *f, struct cldd_freeze_priv *p);
/* A shadow's life on its thread (frozen_shadow.c): true once it exited
 * (the thread ends), false if it could not become one. */
bool cldd_frz_shadow_thread(struct cldd_freeze *f, struct cldd_freeze_priv *p);

#endif /* CLDD_FROZEN_PRIV_H */
