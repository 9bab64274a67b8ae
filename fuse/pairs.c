// SPDX-License-Identifier: MIT
#include "pairs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "children.h"
#include "clock.h"
#include "fdio.h"
#include "frozen.h"
#include "log.h"
#include "peer.h"
#include "procs.h"

struct cldd_pairs;

/* The original of a process that migrated away (home side). */
struct shadow {
	struct cldd_pairs *P;
	pid_t pid;
	unsigned long long start_ticks;
	struct cldd_freeze *f; /* its freeze, held for good */
	char node[64];	       /* where the guest runs */
	pid_t guest;
	bool ending;			       /* its guest ended: it ends the same way */
	uint64_t lost_ns;		       /* since when its guest's node is unreachable, 0 */
	struct cldd_chan *chans[CLDP_FWD_MAX]; /* its fds the guest uses */
	int fds[CLDP_FWD_MAX];		       /* their numbers (dups: no channel) */
	unsigned int nr_chans;
	struct shadow *next;
};

/* A process that migrated here (target side). */
struct guest {
	struct cldd_pairs *P;
	pid_t pid;
	unsigned long long start_ticks;
	char home[64];
	pid_t home_pid;
	bool watched;			       /* children.c reports its end: not pruned here */
	int stop_as;			       /* the stop signal its SIGSTOP stands for */
	struct cldd_chan *chans[CLDP_FWD_MAX]; /* its fds that are home's */
	unsigned int nr_chans;
	struct guest *next;
};

/* A guest's end that could not be told home yet (its link was down). */
struct news {
	struct cldd_pairs *P;
	struct cldp_guest_req rq;
	char home[64];
	struct news *next;
};

/* The pairs (d->pairs). */
struct cldd_pairs {
	struct cldd *d;
	uv_timer_t timer; /* shadows whose guest's node is unreachable; data: this */
	unsigned int lost_ms;
	struct shadow *shadows;
	struct guest *guests;
	struct news *news;
};

static struct shadow *shadow_find(struct cldd_pairs *P, pid_t pid)
{
	struct shadow *s;

	for (s = P->shadows; s; s = s->next)
		if (s->pid == pid)
			return s;
	return NULL;
}

/* A guest entry whose process is gone is forgotten. */
static struct guest *guest_find(struct cldd_pairs *P, pid_t pid)
{
	struct guest **pp = &P->guests, *g;
	struct cldd_pinfo pi;

	while ((g = *pp)) {
		if (!g->watched &&
		    (cldd_proc_info(P->d, g->pid, &pi) || pi.start_ticks != g->start_ticks)) {
			*pp = g->next;
			free(g);
			continue;
		}
		if (g->pid == pid)
			return g;
		pp = &g->next;
	}
	return NULL;
}

void cldd_migrate_info(struct cldd *d, pid_t pid, unsigned long long start_ticks,
		       struct cldd_mig_info *mi)
{
	struct shadow *s = shadow_find(d->pairs, pid);
	struct guest *g;

	memset(mi, 0, sizeof(*mi));
	if (s && s->start_ticks == start_ticks) {
		mi->role = CLDD_MIG_SHADOW;
		snprintf(mi->node, sizeof(mi->node), "%s", s->node);
		mi->pid = s->guest;
		return;
	}
	g = guest_find(d->pairs, pid);
	if (g && g->start_ticks == start_ticks) {
		mi->role = CLDD_MIG_GUEST;
		snprintf(mi->node, sizeof(mi->node), "%s", g->home);
		mi->pid = g->home_pid;
	}
}

static void shadow_unlink(struct shadow *s)
{
	struct shadow **pp;

	for (pp = &s->P->shadows; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			return;
		}
}

static void signal_sent(void *arg, int status, const uint8_t *data, size_t len)
{
	int sig = (int)(intptr_t)arg;

	(void)data;
	(void)len;
	if (status)
		cldd_warn("signal %d for a guest not delivered: %s", sig, strerror(-status));
}

static void send_signal(struct shadow *s, int sig)
{
	struct cldp_signal_req rq = { .home_pid = s->pid, .guest_pid = s->guest, .sig = sig };
	struct cldd_peer *t = cldd_peer_by_name(s->P->d->cluster, s->node);
	int ret =
		t ? cldd_call(t, CLDP_SIGNAL, &rq, sizeof(rq), signal_sent, (void *)(intptr_t)sig) :
		    -ENOENT;

	if (ret)
		cldd_warn("shadow %d: signal %d for its guest on %s not sent: %s", (int)s->pid, sig,
			  s->node, strerror(-ret));
}

/* A signal sent to the shadow: the guest gets it. */
static void shadow_signal(void *arg, struct cldd_freeze *f, const siginfo_t *si)
{
	struct shadow *s = arg;

	(void)f;
	cldd_dbg("shadow %d: signal %d (from pid %d) to its guest %s:%d", (int)s->pid, si->si_signo,
		 (int)si->si_pid, s->node, (int)s->guest);
	if (s->ending)
		return;
	/* The new size first: the guest's handler asks its pty for it. */
	if (si->si_signo == SIGWINCH)
		for (unsigned int i = 0; i < s->nr_chans; i++)
			cldd_fwd_winch(s->chans[i]);
	send_signal(s, si->si_signo);
}

static void shadow_gone(void *arg, struct cldd_freeze *f, int status)
{
	struct shadow *s = arg;

	if (!s->ending) {
		/* Killed here (SIGKILL cannot be forwarded first): the guest
		 * follows it. */
		cldd_info("shadow %d was killed: its guest %s:%d is killed too", (int)s->pid,
			  s->node, (int)s->guest);
		send_signal(s, SIGKILL);
	} else {
		cldd_info("shadow %d ended as its guest did (status 0x%x)", (int)s->pid,
			  (unsigned)status);
	}
	while (s->nr_chans)
		cldd_fwd_release(s->chans[--s->nr_chans]);
	/* A shadow that was a guest here in turn (it migrated on) is our
	 * child, whose wait status its tracer took: its home's news now. */
	cldd_child_reaped(s->P->d, s->pid, status);
	shadow_unlink(s);
	free(s);
	cldd_freeze_put(f);
}

static const struct cldd_shadow_ops shadow_ops = {
	.signal = shadow_signal,
	.gone = shadow_gone,
};

/* What became of our guest on its node. */
void cldd_pairs_serve_guest(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			    const uint8_t *p)
{
	struct cldd_peer *from = cldd_conn_peer(c);
	struct cldp_guest_req r;
	struct shadow *s;
	int ret = 0;

	memcpy(&r, p, sizeof(r));
	s = shadow_find(d->pairs, r.home_pid);
	if (!s || s->guest != r.guest_pid || strcmp(s->node, from->conf.name)) {
		cldd_reply_status(c, h->type, h->id, -ESRCH);
		return;
	}
	switch (r.code) {
	case CLD_EXITED:
	case CLD_KILLED:
	case CLD_DUMPED:
		if (r.code != CLD_EXITED && (r.status <= 0 || r.status > 64)) {
			ret = -EINVAL;
			break;
		}
		cldd_info("guest %s:%d of %d ended (%s %d): so does its shadow", s->node,
			  (int)s->guest, (int)s->pid, r.code == CLD_EXITED ? "exit" : "signal",
			  r.status);
		s->ending = true;
		ret = cldd_freeze_shadow_exit(s->f, r.code, r.status);
		break;
	case CLD_STOPPED:
		if (r.status <= 0 || r.status > 64) {
			ret = -EINVAL;
			break;
		}
		ret = cldd_freeze_shadow_stop(s->f, r.status);
		break;
	case CLD_CONTINUED:
		break; /* by the SIGCONT it was sent from here */
	default:
		ret = -EINVAL;
	}
	cldd_reply_status(c, h->type, h->id, ret);
}

static void guest_unlink(struct guest *g)
{
	struct guest **pp;

	for (pp = &g->P->guests; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			return;
		}
}

static void news_unlink(struct news *n)
{
	struct news **pp;

	for (pp = &n->P->news; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			return;
		}
}

static void guest_told(void *arg, int status, const uint8_t *data, size_t len)
{
	struct news *n = arg;

	(void)data;
	(void)len;
	if (status == -EHOSTDOWN || status == -ETIMEDOUT) {
		/* Told again when the link is back (cldd_pairs_peer). */
		cldd_warn("guest %d's end did not reach %s yet: %s", (int)n->rq.guest_pid, n->home,
			  strerror(-status));
		return;
	}
	if (status)
		cldd_warn("guest %d's end: %s answers %s", (int)n->rq.guest_pid, n->home,
			  strerror(-status));
	news_unlink(n);
	free(n);
}

static void tell(struct news *n)
{
	struct cldd_peer *home = cldd_peer_by_name(n->P->d->cluster, n->home);
	int ret =
		home ? cldd_call(home, CLDP_GUEST, &n->rq, sizeof(n->rq), guest_told, n) : -ENOENT;

	if (ret == -EHOSTDOWN)
		cldd_warn("guest %d's end: %s is down; told when it is back", (int)n->rq.guest_pid,
			  n->home);
	else if (ret) {
		cldd_err("guest %d: its home %s cannot be told (%s)", (int)n->rq.guest_pid, n->home,
			 strerror(-ret));
		news_unlink(n);
		free(n);
	}
}

static void stop_told(void *arg, int status, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
	if (status)
		cldd_warn("a guest's stop did not reach its home: %s", strerror(-status));
}

/* A stop or the end of a guest (children.c): its shadow does the same. */
static void guest_event(void *arg, pid_t pid, const siginfo_t *si)
{
	struct guest *g = arg;
	struct cldp_guest_req rq = {
		.home_pid = g->home_pid,
		.guest_pid = pid,
		.code = si->si_code,
		.status = si->si_status,
	};
	struct cldd_peer *home = cldd_peer_by_name(g->P->d->cluster, g->home);
	bool end = si->si_code != CLD_STOPPED && si->si_code != CLD_CONTINUED;
	int ret;

	if (si->si_code == CLD_STOPPED && si->si_status == SIGSTOP && g->stop_as) {
		rq.status = g->stop_as;
		g->stop_as = 0;
	}

	cldd_info("guest %d of %s:%d: %s %d", (int)pid, g->home, (int)g->home_pid,
		  si->si_code == CLD_EXITED    ? "exited with" :
		  si->si_code == CLD_STOPPED   ? "stopped by" :
		  si->si_code == CLD_CONTINUED ? "continued by" :
						 "killed by signal",
		  si->si_status);
	/* Its last output goes home before the news of its end. */
	for (unsigned int i = 0; end && i < g->nr_chans; i++)
		cldd_fwd_drain(g->chans[i]);
	if (end) {
		/* Kept until home has it: a link cut does not lose it. */
		struct news *n = calloc(1, sizeof(*n));

		if (n) {
			n->P = g->P;
			n->rq = rq;
			snprintf(n->home, sizeof(n->home), "%s", g->home);
			n->next = g->P->news;
			g->P->news = n;
			tell(n);
		} else {
			cldd_err("guest %d: out of memory, its end is not told home", (int)pid);
		}
	} else {
		ret = home ? cldd_call(home, CLDP_GUEST, &rq, sizeof(rq), stop_told, NULL) :
			     -ENOENT;
		if (ret)
			cldd_warn("guest %d: its stop is not told home (%s)", (int)pid,
				  strerror(-ret));
	}
	if (end) {
		while (g->nr_chans)
			cldd_fwd_release(g->chans[--g->nr_chans]);
		guest_unlink(g);
		free(g);
	}
}

/* Whether pid takes sig's default action (neither caught nor ignored). */
static bool sig_default(pid_t pid, int sig)
{
	unsigned long long cgt = 0, ign = 0;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SigCgt:", 7))
			cgt = strtoull(line + 7, NULL, 16);
		else if (!strncmp(line, "SigIgn:", 7))
			ign = strtoull(line + 7, NULL, 16);
	}
	fclose(f);
	return !((cgt | ign) & (1ull << (sig - 1)));
}

/* A signal sent to a guest's shadow at home. */
void cldd_pairs_serve_signal(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			     const uint8_t *p)
{
	struct cldd_peer *from = cldd_conn_peer(c);
	struct cldp_signal_req r;
	struct guest *g;
	int ret = 0;

	memcpy(&r, p, sizeof(r));
	g = guest_find(d->pairs, r.guest_pid);
	if (!g || g->home_pid != r.home_pid || strcmp(g->home, from->conf.name))
		ret = -ESRCH;
	else if (r.sig < 0 || r.sig > 64)
		ret = -EINVAL;
	if (r.sig == 0 && ret == -ESRCH) {
		/* "Is it yours?": an ended guest whose news is on its way is. */
		struct news *n;

		for (n = d->pairs->news; n; n = n->next)
			if (n->rq.guest_pid == r.guest_pid && n->rq.home_pid == r.home_pid &&
			    !strcmp(n->home, from->conf.name))
				ret = 0;
	}
	if (ret || r.sig == 0) {
		cldd_reply_status(c, h->type, h->id, ret);
		return;
	}
	/*
	 * Here its process group is orphaned (its parent, the shell, is at
	 * home), and the kernel discards the terminal's stop signals for
	 * such a group.  Where the default action would stop it, SIGSTOP
	 * does it, and its stop is reported home as the original signal.
	 */
	if ((r.sig == SIGTSTP || r.sig == SIGTTIN || r.sig == SIGTTOU) &&
	    sig_default(g->pid, r.sig)) {
		g->stop_as = r.sig;
		r.sig = SIGSTOP;
	}
	if (kill(g->pid, r.sig) < 0)
		ret = -errno;
	cldd_reply_status(c, h->type, h->id, ret);
}

/* ---- Shadows whose guest cannot be reached -------------------------------------- */

static void lose_shadow(struct shadow *s, const char *why)
{
	cldd_err("shadow %d: its guest %s:%d %s: it is killed (never a copy that hangs)",
		 (int)s->pid, s->node, (int)s->guest, why);
	s->ending = true;
	if (cldd_freeze_shadow_exit(s->f, CLD_KILLED, SIGKILL))
		kill(s->pid, SIGKILL);
}

void cldd_shadow_lose(struct cldd *d, pid_t pid, const char *why)
{
	struct shadow *s = shadow_find(d->pairs, pid);

	if (s && !s->ending)
		lose_shadow(s, why);
}

static void on_lost_tick(uv_timer_t *t)
{
	struct cldd_pairs *P = t->data;
	uint64_t now = cldd_now_ns();
	struct shadow *s;
	bool any = false;

	for (s = P->shadows; s; s = s->next) {
		if (!s->lost_ns || s->ending)
			continue;
		if (now - s->lost_ns >= (uint64_t)P->lost_ms * 1000000ull)
			lose_shadow(s, "was not reachable in time");
		else
			any = true;
	}
	if (!any)
		uv_timer_stop(&P->timer);
}

struct check {
	struct cldd_pairs *P;
	pid_t home_pid, guest;
};

static void checked(void *arg, int status, const uint8_t *data, size_t len)
{
	struct check *k = arg;
	struct shadow *s = shadow_find(k->P, k->home_pid);

	(void)data;
	(void)len;
	if (s && s->guest == k->guest && !s->ending) {
		if (!status) {
			cldd_info("shadow %d: its guest %s:%d is still there", (int)s->pid, s->node,
				  (int)s->guest);
			s->lost_ns = 0;
		} else if (status == -ESRCH) {
			lose_shadow(s, "is not known there any more");
		}
	}
	free(k);
}

void cldd_pairs_peer(struct cldd *d, struct cldd_peer *p, bool up)
{
	struct cldd_pairs *P = d->pairs;
	struct news *n, *next;
	struct shadow *s;

	for (s = P->shadows; s; s = s->next) {
		if (s->ending || strcmp(s->node, p->conf.name))
			continue;
		if (!up) {
			if (!s->lost_ns)
				s->lost_ns = cldd_now_ns();
			uv_timer_start(&P->timer, on_lost_tick, 1000, 1000);
		} else if (s->lost_ns) {
			struct cldp_signal_req rq = { .home_pid = s->pid, .guest_pid = s->guest };
			struct check *k = malloc(sizeof(*k));

			if (!k)
				continue;
			k->P = P;
			k->home_pid = s->pid;
			k->guest = s->guest;
			if (cldd_call(p, CLDP_SIGNAL, &rq, sizeof(rq), checked, k))
				free(k);
		}
	}
	/* Guests' ends that home has not heard of yet. */
	for (n = P->news; up && n; n = next) {
		next = n->next;
		if (!strcmp(n->home, p->conf.name))
			tell(n);
	}
}

int cldd_pairs_init(struct cldd *d, unsigned int lost_ms)
{
	struct cldd_pairs *P = calloc(1, sizeof(*P));

	if (!P)
		return -ENOMEM;
	P->d = d;
	P->lost_ms = lost_ms;
	uv_timer_init(d->loop, &P->timer);
	P->timer.data = P;
	d->pairs = P;
	return 0;
}

bool cldd_shadow_exists(struct cldd *d, pid_t pid)
{
	return shadow_find(d->pairs, pid) != NULL;
}

unsigned int cldd_shadow_pids(struct cldd *d, pid_t *pids, unsigned int max)
{
	struct shadow *s;
	unsigned int n = 0;

	for (s = d->pairs->shadows; s && n < max; s = s->next)
		if (!s->ending)
			pids[n++] = s->pid;
	return n;
}

int cldd_shadow_fds(struct cldd *d, pid_t pid, int *fds)
{
	struct shadow *s = shadow_find(d->pairs, pid);

	if (!s || s->ending)
		return -ESRCH;
	memcpy(fds, s->fds, s->nr_chans * sizeof(*fds));
	return (int)s->nr_chans;
}

void cldd_shadow_add(struct cldd *d, pid_t pid, struct cldd_freeze *f, const char *node,
		     pid_t guest, struct cldd_chan **chans, const int *fds, unsigned int nr)
{
	struct shadow *s = calloc(1, sizeof(*s));
	unsigned int i;

	for (i = 0; i < nr; i++) {
		cldd_fwd_start(chans[i]);
		if (s) {
			s->fds[s->nr_chans] = fds[i];
			s->chans[s->nr_chans++] = chans[i];
		} else
			cldd_fwd_release(chans[i]);
	}
	if (!s) {
		cldd_err("shadow %d: out of memory: its signals and exit are not forwarded",
			 (int)pid);
		return;
	}
	s->P = d->pairs;
	s->pid = pid;
	s->start_ticks = f->start_ticks;
	s->f = f;
	snprintf(s->node, sizeof(s->node), "%s", node);
	s->guest = guest;
	s->next = d->pairs->shadows;
	d->pairs->shadows = s;
	if (cldd_freeze_shadow(f, &shadow_ops, s))
		cldd_err("shadow %d: its signals and exit are not forwarded", (int)pid);
}

void cldd_guest_add(struct cldd *d, pid_t pid, const char *home, pid_t home_pid,
		    struct cldd_chan **chans, unsigned int nr)
{
	struct guest *g = calloc(1, sizeof(*g));
	struct cldd_pinfo pi;

	if (!g || cldd_proc_info(d, pid, &pi)) {
		free(g);
		while (nr)
			cldd_fwd_drop(chans[--nr]);
		return;
	}
	g->P = d->pairs;
	g->pid = pid;
	g->start_ticks = pi.start_ticks;
	snprintf(g->home, sizeof(g->home), "%s", home);
	g->home_pid = home_pid;
	memcpy(g->chans, chans, nr * sizeof(*chans));
	g->nr_chans = nr;
	g->next = d->pairs->guests;
	d->pairs->guests = g;
	g->watched = true;
	if (cldd_child_watch(d, pid, guest_event, g)) {
		g->watched = false;
		cldd_err("guest %d: its exit will not reach home", (int)pid);
	}
}
