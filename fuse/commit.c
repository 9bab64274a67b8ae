// SPDX-License-Identifier: MIT
#include "commit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "pairs.h"
#include "procs.h"

/* A held guest with no COMMIT after this long asks its home; and again
 * at each tick while it cannot. */
#define ASK_AFTER_MS 2000u
#define TICK_MS 1000u

/* A guest waiting for its home's word (target side). */
struct held {
	struct cldd_commit *C;
	struct cldd_restart *h;
	pid_t pid;
	char home[64];
	pid_t home_pid;
	uint64_t start_ticks, epoch;
	struct cldd_chan *chans[CLDP_FWD_MAX];
	unsigned int nr;
	uint64_t since_ns;
	bool asking;
	struct held *next;
};

/* d->commit. */
struct cldd_commit {
	struct cldd *d;
	uint64_t epoch;
	unsigned int lost_ms, faults;
	struct held *held;
	uv_timer_t timer; /* runs while something is held; data: this */
};

static void tick(uv_timer_t *t);

int cldd_commit_init(struct cldd *d, unsigned int lost_ms, unsigned int faults)
{
	struct cldd_commit *C = calloc(1, sizeof(*C));

	if (!C)
		return -ENOMEM;
	C->d = d;
	C->lost_ms = lost_ms;
	C->faults = faults;
	/* Unpredictable, so that a restarted daemon never passes for the
	 * one that decided. */
	if (getrandom(&C->epoch, sizeof(C->epoch), 0) != sizeof(C->epoch))
		C->epoch = cldd_now_ns() ^ ((uint64_t)time(NULL) << 32);
	C->epoch |= 1; /* 0 is no epoch */
	uv_timer_init(d->loop, &C->timer);
	uv_unref((uv_handle_t *)&C->timer);
	C->timer.data = C;
	d->commit = C;
	return 0;
}

uint64_t cldd_commit_epoch(struct cldd *d)
{
	return d->commit->epoch;
}

bool cldd_commit_fault(struct cldd *d, unsigned int fault)
{
	return d->commit->faults & fault;
}

/* ---- Target: held guests ---------------------------------------------------- */

static void held_unlink(struct held *g)
{
	struct held **pp;

	for (pp = &g->C->held; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (!g->C->held)
		uv_timer_stop(&g->C->timer);
	free(g);
}

static void held_run(struct held *g, const char *why)
{
	struct cldd *d = g->C->d;

	if (cldd_restart_release(g->h, true)) {
		cldd_err("guest %s:%d (pid %d) died while it was held", g->home, (int)g->home_pid,
			 (int)g->pid);
		while (g->nr)
			cldd_fwd_drop(g->chans[--g->nr]);
	} else {
		cldd_info("guest %s:%d runs here as pid %d (%s)", g->home, (int)g->home_pid,
			  (int)g->pid, why);
		cldd_guest_add(d, g->pid, g->home, g->home_pid, g->chans, g->nr);
	}
	held_unlink(g);
}

static void held_kill(struct held *g, const char *why)
{
	cldd_err("guest %s:%d (pid %d) killed before it ran: %s; the original stays at %s",
		 g->home, (int)g->home_pid, (int)g->pid, why, g->home);
	cldd_restart_release(g->h, false);
	while (g->nr)
		cldd_fwd_drop(g->chans[--g->nr]);
	held_unlink(g);
}

static struct held *held_find(struct cldd_commit *C, const char *home, pid_t home_pid,
			      pid_t pid)
{
	struct held *g;

	for (g = C->held; g; g = g->next)
		if (g->home_pid == home_pid && g->pid == pid && !strcmp(g->home, home))
			return g;
	return NULL;
}

struct ask {
	struct cldd_commit *C;
	char home[64];
	pid_t home_pid, pid;
};

static void answered(void *arg, int status, const uint8_t *data, size_t len)
{
	struct ask *a = arg;
	struct held *g = held_find(a->C, a->home, a->home_pid, a->pid);

	(void)data;
	(void)len;
	free(a);
	if (!g)
		return; /* settled meanwhile (a COMMIT came) */
	g->asking = false;
	if (!status)
		held_run(g, "committed, as its home said when asked");
	else if (status == -ESRCH)
		held_kill(g, "its home says the migration did not commit");
	/* Else the home could not be asked: again at the next tick. */
}

static void ask(struct held *g)
{
	struct cldd_peer *p = cldd_peer_by_name(g->C->d->cluster, g->home);
	struct cldp_commit_req rq = { .home_pid = g->home_pid,
				      .guest_pid = g->pid,
				      .start_ticks = g->start_ticks,
				      .epoch = g->epoch };
	struct ask *a;

	if (g->asking || !p || !p->conn)
		return;
	a = malloc(sizeof(*a));
	if (!a)
		return;
	a->C = g->C;
	snprintf(a->home, sizeof(a->home), "%s", g->home);
	a->home_pid = g->home_pid;
	a->pid = g->pid;
	if (cldd_call(p, CLDP_QUERY, &rq, sizeof(rq), answered, a)) {
		free(a);
		return;
	}
	g->asking = true;
	cldd_info("guest %s:%d (pid %d): no commit yet, asking %s", g->home, (int)g->home_pid,
		  (int)g->pid, g->home);
}

static void tick(uv_timer_t *t)
{
	struct cldd_commit *C = t->data;
	uint64_t now = cldd_now_ns();
	struct held *g, *next;

	for (g = C->held; g; g = next) {
		uint64_t age_ms = (now - g->since_ns) / 1000000ull;

		next = g->next;
		if (age_ms >= C->lost_ms)
			held_kill(g, "its home could not be asked in time (never two copies)");
		else if (age_ms >= ASK_AFTER_MS)
			ask(g);
	}
}

void cldd_commit_hold(struct cldd *d, struct cldd_restart *h, pid_t pid, struct cldd_peer *home,
		      pid_t home_pid, uint64_t start_ticks, uint64_t epoch,
		      struct cldd_chan **chans, unsigned int nr)
{
	struct cldd_commit *C = d->commit;
	struct held *g = calloc(1, sizeof(*g));
	unsigned int i;

	if (!g) {
		cldd_err("guest %s:%d: out of memory: killed", home->conf.name, (int)home_pid);
		cldd_restart_release(h, false);
		while (nr)
			cldd_fwd_drop(chans[--nr]);
		return;
	}
	g->C = C;
	g->h = h;
	g->pid = pid;
	snprintf(g->home, sizeof(g->home), "%s", home->conf.name);
	g->home_pid = home_pid;
	g->start_ticks = start_ticks;
	g->epoch = epoch;
	for (i = 0; i < nr && i < CLDP_FWD_MAX; i++)
		g->chans[i] = chans[i];
	g->nr = i;
	g->since_ns = cldd_now_ns();
	g->next = C->held;
	C->held = g;
	if (!uv_is_active((uv_handle_t *)&C->timer))
		uv_timer_start(&C->timer, tick, TICK_MS, TICK_MS);
}

void cldd_commit_on_signal(struct cldd *d, struct cldd_conn *c, const uint8_t *payload)
{
	struct cldd_peer *p = cldd_conn_peer(c);
	struct cldp_signal_req rq;
	struct held *g;

	memcpy(&rq, payload, sizeof(rq));
	g = p ? held_find(d->commit, p->conf.name, rq.home_pid, rq.guest_pid) : NULL;
	if (g)
		held_run(g, "committed: its home forwards its signals");
}

void cldd_commit_peer(struct cldd *d, struct cldd_peer *p, bool up)
{
	struct held *g;

	for (g = d->commit->held; up && g; g = g->next)
		if (!strcmp(g->home, p->conf.name))
			ask(g);
}

/* COMMIT, on the target. */
static int serve_commit(struct cldd *d, struct cldd_peer *p, const struct cldp_commit_req *r)
{
	struct held *g = held_find(d->commit, p->conf.name, r->home_pid, r->guest_pid);
	struct cldd_mig_info mi;

	if (g) {
		held_run(g, "committed");
		return 0;
	}
	/* Settled already by a QUERY whose answer came first. */
	cldd_migrate_info(d, r->guest_pid, 0, &mi);
	if (mi.role == CLDD_MIG_GUEST && mi.pid == r->home_pid && !strcmp(mi.node, p->conf.name))
		return 0;
	return -ESRCH;
}

/* QUERY, at the home: did the migration of home_pid to p commit? */
static int serve_query(struct cldd *d, struct cldd_peer *p, const struct cldp_commit_req *r)
{
	struct cldd_mig_info mi;
	struct cldd_pinfo pi;
	bool alive;

	if (r->epoch == d->commit->epoch) {
		cldd_migrate_info(d, r->home_pid, r->start_ticks, &mi);
		if (mi.role == CLDD_MIG_SHADOW && mi.pid == r->guest_pid &&
		    !strcmp(mi.node, p->conf.name)) {
			cldd_info("%s asks about guest %d of %d: committed", p->conf.name,
				  (int)r->guest_pid, (int)r->home_pid);
			return 0;
		}
		cldd_info("%s asks about guest %d of %d: not committed", p->conf.name,
			  (int)r->guest_pid, (int)r->home_pid);
		return -ESRCH;
	}
	/*
	 * Another daemon decided.  If it made the original a shadow, the
	 * original died with it (PTRACE_O_EXITKILL): the guest is the only
	 * copy left.  If it did not, the original was let go and runs here.
	 */
	alive = cldd_proc_info(d, r->home_pid, &pi) == 0 && pi.start_ticks == r->start_ticks;
	cldd_info("%s asks about guest %d of %d, decided by this node's previous daemon: "
		  "the original %s", p->conf.name, (int)r->guest_pid, (int)r->home_pid,
		  alive ? "runs here, so not committed" : "is gone, so committed");
	return alive ? -ESRCH : 0;
}

void cldd_commit_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		       const uint8_t *payload)
{
	struct cldd_peer *p = cldd_conn_peer(c);
	struct cldp_commit_req r;
	int ret;

	memcpy(&r, payload, sizeof(r));
	if (!p)
		ret = -EPERM;
	else if (h->type == CLDP_COMMIT)
		ret = serve_commit(d, p, &r);
	else
		ret = serve_query(d, p, &r);
	cldd_reply_status(c, h->type, h->id, ret);
}

/* ---- Home: COMMIT --------------------------------------------------------- */

struct sent {
	cldd_commit_cb cb;
	void *arg;
	uv_timer_t t; /* a dropped COMMIT (test fault): cb later, as promised */
};

static void acked(void *arg, int status, const uint8_t *data, size_t len)
{
	struct sent *s = arg;

	(void)data;
	(void)len;
	s->cb(s->arg, status);
	free(s);
}

static void dropped_closed(uv_handle_t *h)
{
	free(h->data);
}

static void dropped(uv_timer_t *t)
{
	struct sent *s = t->data;

	s->cb(s->arg, -ECANCELED);
	uv_close((uv_handle_t *)t, dropped_closed);
}

void cldd_commit_send(struct cldd *d, struct cldd_peer *target, pid_t home_pid, pid_t guest,
		      uint64_t start_ticks, cldd_commit_cb cb, void *arg)
{
	struct cldp_commit_req rq = { .home_pid = home_pid,
				      .guest_pid = guest,
				      .start_ticks = start_ticks,
				      .epoch = d->commit->epoch };
	struct sent *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		cb(arg, -ENOMEM); /* the target asks instead */
		return;
	}
	s->cb = cb;
	s->arg = arg;
	if (cldd_commit_fault(d, CLDD_FAULT_DROP_COMMIT)) {
		cldd_warn("test fault: the COMMIT of %d is not sent", (int)home_pid);
		uv_timer_init(d->loop, &s->t);
		s->t.data = s;
		uv_timer_start(&s->t, dropped, 0, 0);
		return;
	}
	ret = cldd_call(target, CLDP_COMMIT, &rq, sizeof(rq), acked, s);
	if (ret) {
		/* Not even sent: the same as lost, which the target's QUERY
		 * settles.  Answered on the next turn of the loop. */
		uv_timer_init(d->loop, &s->t);
		s->t.data = s;
		uv_timer_start(&s->t, dropped, 0, 0);
	}
}
