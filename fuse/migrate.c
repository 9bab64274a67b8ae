// SPDX-License-Identifier: MIT
#include "migrate.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "children.h"
#include "fdio.h"
#include "frozen.h"
#include "log.h"
#include "peer.h"
#include "procs.h"
#include "restart.h"
#include "serve.h"

/* The original of a process that migrated away (home side). */
struct shadow {
	pid_t pid;
	unsigned long long start_ticks;
	struct cldd_freeze *f; /* its freeze, held for good */
	char node[64]; /* where the guest runs */
	pid_t guest;
	bool ending; /* its guest ended: it ends the same way */
	struct cldd_chan *chans[CLDP_FWD_MAX]; /* its fds the guest uses */
	unsigned int nr_chans;
	struct shadow *next;
};

/* A process that migrated here (target side). */
struct guest {
	pid_t pid;
	unsigned long long start_ticks;
	char home[64];
	pid_t home_pid;
	bool watched; /* children.c reports its end: not pruned here */
	int stop_as; /* the stop signal its SIGSTOP stands for */
	struct cldd_chan *chans[CLDP_FWD_MAX]; /* its fds that are home's */
	unsigned int nr_chans;
	struct guest *next;
};

static struct {
	uv_loop_t *loop;
	char mnt[PATH_MAX];
	struct shadow *shadows;
	struct guest *guests;
} M;

void cldd_migrate_init(uv_loop_t *loop, const char *mountpoint)
{
	M.loop = loop;
	cldd_fwd_init(loop);
	snprintf(M.mnt, sizeof(M.mnt), "%s", mountpoint);
}

const char *cldd_migrate_mountpoint(void)
{
	return M.mnt;
}

static const char *self_name(void)
{
	const struct cld_node_conf *self = cldd_cluster_self();

	return self ? self->name : "";
}

static struct shadow *shadow_find(pid_t pid)
{
	struct shadow *s;

	for (s = M.shadows; s; s = s->next)
		if (s->pid == pid)
			return s;
	return NULL;
}

/* A guest entry whose process is gone is forgotten. */
static struct guest *guest_find(pid_t pid)
{
	struct guest **pp = &M.guests, *g;
	struct cldd_pinfo pi;

	while ((g = *pp)) {
		if (!g->watched &&
		    (cldd_proc_info(g->pid, &pi) || pi.start_ticks != g->start_ticks)) {
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

void cldd_migrate_info(pid_t pid, unsigned long long start_ticks, struct cldd_mig_info *mi)
{
	struct shadow *s = shadow_find(pid);
	struct guest *g;

	memset(mi, 0, sizeof(*mi));
	if (s && s->start_ticks == start_ticks) {
		mi->role = CLDD_MIG_SHADOW;
		snprintf(mi->node, sizeof(mi->node), "%s", s->node);
		mi->pid = s->guest;
		return;
	}
	g = guest_find(pid);
	if (g && g->start_ticks == start_ticks) {
		mi->role = CLDD_MIG_GUEST;
		snprintf(mi->node, sizeof(mi->node), "%s", g->home);
		mi->pid = g->home_pid;
	}
}

/* ---- Home: freeze, have the target restore, keep the shadow --------------- */

struct home_job {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct cldd_peer *target;
	struct cldd_freeze *f;
	struct cldp_migrate_resp resp;
	struct cldd_chan *chans[CLDP_FWD_MAX];
	unsigned int nr_chans;
	cldd_migrate_cb cb;
	void *arg;
};

static void home_end(struct home_job *hj, int ret, const char *why)
{
	if (ret) {
		cldd_err("migration of %d to %s failed: %s", (int)hj->pid, hj->target->conf.name,
			 why ? why : strerror(-ret));
		while (hj->nr_chans)
			cldd_fwd_drop(hj->chans[--hj->nr_chans]);
		if (hj->f) {
			/* Before the commit point: it runs on here as if nothing
			 * had happened. */
			hj->f->migrating = false;
			cldd_freeze_put(hj->f);
		}
		hj->cb(hj->arg, ret, NULL);
	} else {
		hj->cb(hj->arg, 0, &hj->resp);
	}
	free(hj);
}

static void shadow_unlink(struct shadow *s)
{
	struct shadow **pp;

	for (pp = &M.shadows; *pp; pp = &(*pp)->next)
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
	struct cldd_peer *t = cldd_peer_by_name(s->node);
	int ret = t ? cldd_call(t, CLDP_SIGNAL, &rq, sizeof(rq), signal_sent,
				(void *)(intptr_t)sig)
		    : -ENOENT;

	if (ret)
		cldd_warn("shadow %d: signal %d for its guest on %s not sent: %s", (int)s->pid, sig,
			  s->node, strerror(-ret));
}

/* A signal sent to the shadow: the guest gets it. */
static void shadow_signal(void *arg, struct cldd_freeze *f, const siginfo_t *si)
{
	struct shadow *s = arg;

	(void)f;
	cldd_info("shadow %d: signal %d (from pid %d) to its guest %s:%d", (int)s->pid,
		 si->si_signo, (int)si->si_pid, s->node, (int)s->guest);
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
	shadow_unlink(s);
	free(s);
	cldd_freeze_put(f);
}

static const struct cldd_shadow_ops shadow_ops = {
	.signal = shadow_signal,
	.gone = shadow_gone,
};

static void home_committed(void *arg, int64_t result)
{
	struct home_job *hj = arg;

	/* The guest runs: from here on the original must never run again. */
	if (result < 0)
		cldd_err("shadow %d: cannot tie it to the daemon (%s): it would run on if the daemon died",
			 (int)hj->pid, strerror((int)-result));
	cldd_info("migrated %d to %s as pid %d (%s, restored in %.1f ms); %d stays as its shadow",
		  (int)hj->pid, hj->target->conf.name, hj->resp.pid,
		  (hj->resp.flags & CLDP_MF_LAZY) ? "lazy" : "eager", hj->resp.restore_ns / 1e6,
		  (int)hj->pid);
	home_end(hj, 0, NULL);
}

static void home_restored(void *arg, int status, const uint8_t *data, size_t len)
{
	struct home_job *hj = arg;
	struct shadow *s;
	int ret;

	if (status) {
		home_end(hj, status, status == -ETIMEDOUT ? "the target did not answer in time"
							  : NULL);
		return;
	}
	memcpy(&hj->resp, data, len < sizeof(hj->resp) ? len : sizeof(hj->resp));
	/* The commit point: the shadow is in the table before anything of
	 * the guest (its end, say) can arrive. */
	s = calloc(1, sizeof(*s));
	hj->f->migrating = false;
	hj->f->shadow = true;
	if (s) {
		s->pid = hj->pid;
		s->start_ticks = hj->f->start_ticks;
		s->f = hj->f;
		snprintf(s->node, sizeof(s->node), "%s", hj->target->conf.name);
		s->guest = hj->resp.pid;
		s->next = M.shadows;
		M.shadows = s;
	}
	/* Its home fds now serve the guest. */
	for (unsigned int i = 0; i < hj->nr_chans; i++) {
		cldd_fwd_start(hj->chans[i]);
		if (s)
			s->chans[s->nr_chans++] = hj->chans[i];
		else
			cldd_fwd_release(hj->chans[i]);
	}
	hj->nr_chans = 0;
	ret = cldd_freeze_exitkill(hj->f, true, home_committed, hj);
	if (s && cldd_freeze_shadow(s->f, &shadow_ops, s))
		cldd_err("shadow %d: its signals and exit are not forwarded", (int)s->pid);
	hj->f = NULL; /* the shadow keeps the reference */
	if (ret != -EINPROGRESS)
		home_committed(hj, ret);
}

static void home_frozen(void *arg, struct cldd_freeze *f, int ret, const char *msg)
{
	struct home_job *hj = arg;
	struct cldp_restore_req rq;

	if (ret) {
		home_end(hj, ret, msg);
		return;
	}
	if (f->migrating || f->shadow) {
		cldd_freeze_put(f);
		home_end(hj, -EBUSY, "a migration of it is already under way");
		return;
	}
	hj->f = f;
	if (strcmp(f->fz->backend, "ptrace")) {
		home_end(hj, -EOPNOTSUPP,
			 "it is frozen by a holder or the module, which cannot keep a shadow yet");
		return;
	}
	f->migrating = true;
	memset(&rq, 0, sizeof(rq));
	rq.cred.uid = hj->uid;
	rq.cred.gid = hj->gid;
	rq.pid = hj->pid;
	rq.start_ticks = f->start_ticks;
	rq.freeze_id = f->id;
	ret = cldd_fwd_collect(hj->target, hj->pid, f->fz->proc, &rq, hj->chans);
	if (ret) {
		home_end(hj, ret, "cannot set up its forwarded fds");
		return;
	}
	hj->nr_chans = rq.nr_fwd;
	ret = cldd_call_timeout(hj->target, CLDP_RESTORE, &rq, sizeof(rq),
				CLDD_MIGRATE_RESTORE_MS + 2000, home_restored, hj);
	if (ret)
		home_end(hj, ret, "cannot reach the target");
}

static void home_start(pid_t pid, uint64_t start_ticks, const char *target, uid_t uid, gid_t gid,
		       cldd_migrate_cb cb, void *arg)
{
	struct cldd_peer *t = cldd_peer_by_name(target);
	struct home_job *hj;
	struct cldd_pinfo pi;
	int ret;

	if (!strcmp(target, self_name()))
		ret = -EINVAL; /* already there */
	else if (!t || t->removed)
		ret = -ENOENT;
	else if (!t->conn)
		ret = -EHOSTDOWN;
	else if (cldd_proc_info(pid, &pi) || (start_ticks && pi.start_ticks != start_ticks))
		ret = -ESRCH;
	else if (shadow_find(pid))
		ret = -EALREADY;
	else
		ret = cldd_proc_may_access(pid, uid, gid);
	if (ret) {
		cldd_info("migration of %d to %s (uid %u) refused: %s", (int)pid, target,
			  (unsigned)uid, strerror(-ret));
		cb(arg, ret, NULL);
		return;
	}
	hj = calloc(1, sizeof(*hj));
	if (!hj) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	hj->pid = pid;
	hj->uid = uid;
	hj->gid = gid;
	hj->target = t;
	hj->cb = cb;
	hj->arg = arg;
	cldd_freeze_get(pid, pi.start_ticks, uid, home_frozen, hj);
}

struct served_job {
	struct cldd_later l;
};

static void serve_home_done(void *arg, int ret, const struct cldp_migrate_resp *r)
{
	struct served_job *sj = arg;
	struct cldd_conn *c = cldd_later_conn(&sj->l);
	struct cldd_out *o;
	uint8_t *b;

	/* A caller that went away: the migration stands (or failed) anyway. */
	if (c && !ret) {
		b = cldd_out_new(sizeof(*r), &o);
		if (b) {
			memcpy(b, r, sizeof(*r));
			cldd_out_reply(c, o, sj->l.type, sj->l.id, 0, sizeof(*r));
		} else {
			cldd_reply_status(c, sj->l.type, sj->l.id, -ENOMEM);
		}
	} else if (c) {
		cldd_reply_status(c, sj->l.type, sj->l.id, ret);
	}
	free(sj);
}

void cldd_migrate_serve_home(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct served_job *sj = calloc(1, sizeof(*sj));
	struct cldp_migrate_req r;

	if (!sj) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	memcpy(&r, p, sizeof(r));
	cldd_later_init(&sj->l, c, h);
	home_start(r.pid, r.start_ticks, r.target, r.cred.uid, r.cred.gid, serve_home_done, sj);
}

/* What became of our guest on its node. */
void cldd_migrate_serve_guest(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldd_peer *from = cldd_conn_peer(c);
	struct cldp_guest_req r;
	struct shadow *s;
	int ret = 0;

	memcpy(&r, p, sizeof(r));
	s = shadow_find(r.home_pid);
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

/* ---- Target: restore from home's image, as the user ------------------------ */

static void guest_unlink(struct guest *g)
{
	struct guest **pp;

	for (pp = &M.guests; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			return;
		}
}

static void guest_told(void *arg, int status, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
	if (status)
		cldd_warn("a guest's news did not reach its home: %s", strerror(-status));
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
	struct cldd_peer *home = cldd_peer_by_name(g->home);
	bool end = si->si_code != CLD_STOPPED && si->si_code != CLD_CONTINUED;
	int ret;

	if (si->si_code == CLD_STOPPED && si->si_status == SIGSTOP && g->stop_as) {
		rq.status = g->stop_as;
		g->stop_as = 0;
	}

	cldd_info("guest %d of %s:%d: %s %d", (int)pid, g->home, (int)g->home_pid,
		  si->si_code == CLD_EXITED    ? "exited with"
		  : si->si_code == CLD_STOPPED ? "stopped by"
		  : si->si_code == CLD_CONTINUED ? "continued by"
						 : "killed by signal",
		  si->si_status);
	/* Its last output goes home before the news of its end. */
	for (unsigned int i = 0; end && i < g->nr_chans; i++)
		cldd_fwd_drain(g->chans[i]);
	ret = home ? cldd_call(home, CLDP_GUEST, &rq, sizeof(rq), guest_told, NULL) : -ENOENT;
	if (ret)
		cldd_err("guest %d: its home %s cannot be told (%s)", (int)pid, g->home,
			 strerror(-ret));
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
void cldd_migrate_serve_signal(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldd_peer *from = cldd_conn_peer(c);
	struct cldp_signal_req r;
	struct guest *g;
	int ret = 0;

	memcpy(&r, p, sizeof(r));
	g = guest_find(r.guest_pid);
	if (!g || g->home_pid != r.home_pid || strcmp(g->home, from->conf.name))
		ret = -ESRCH;
	else if (r.sig <= 0 || r.sig > 64)
		ret = -EINVAL;
	if (ret) {
		cldd_reply_status(c, h->type, h->id, ret);
		return;
	}
	/*
	 * Here its process group is orphaned (its parent, the shell, is at
	 * home), and the kernel discards the terminal's stop signals for
	 * such a group.  Where the default action would stop it, SIGSTOP
	 * does it, and its stop is reported home as the original signal.
	 */
	if ((r.sig == SIGTSTP || r.sig == SIGTTIN || r.sig == SIGTTOU) && sig_default(g->pid, r.sig)) {
		g->stop_as = r.sig;
		r.sig = SIGSTOP;
	}
	if (kill(g->pid, r.sig) < 0)
		ret = -errno;
	cldd_reply_status(c, h->type, h->id, ret);
}

struct target_job {
	struct cldd_later l;
	char home[64];
	pid_t home_pid;
	char path[PATH_MAX + 96];
	/* Its fds that stay at home: our relays, the guest's stand-ins. */
	struct cldd_chan *chans[CLDP_FWD_MAX];
	int guest_ends[CLDP_FWD_MAX];
	unsigned int nr_chans;
};

static void target_free(struct target_job *tj, bool drop)
{
	unsigned int i;

	/* The restored process holds its own: ours would keep it from ever
	 * seeing EOF. */
	for (i = 0; i < tj->nr_chans; i++) {
		close(tj->guest_ends[i]);
		if (drop)
			cldd_fwd_drop(tj->chans[i]);
	}
	free(tj);
}

static void target_restored(void *arg, const struct cldd_restart_result *res)
{
	struct target_job *tj = arg;
	struct cldd_conn *c = cldd_later_conn(&tj->l);
	struct cldp_migrate_resp r = { 0 };
	struct cldd_pinfo pi;
	struct cldd_out *o;
	struct guest *g;
	uint8_t *b;

	if (res->ret) {
		cldd_err("guest %s:%d refused: %s", tj->home, (int)tj->home_pid, res->msg);
		if (c)
			cldd_reply_status(c, tj->l.type, tj->l.id, res->ret);
		target_free(tj, true);
		return;
	}
	if (!c) {
		/* Home cannot learn of it, so it keeps its original running:
		 * this copy must go. */
		kill(res->pid, SIGKILL);
		cldd_err("guest %s:%d: home went away before the commit; pid %d killed", tj->home,
			 (int)tj->home_pid, (int)res->pid);
		target_free(tj, true);
		return;
	}
	g = calloc(1, sizeof(*g));
	if (g && !cldd_proc_info(res->pid, &pi)) {
		g->pid = res->pid;
		g->start_ticks = pi.start_ticks;
		snprintf(g->home, sizeof(g->home), "%s", tj->home);
		g->home_pid = tj->home_pid;
		memcpy(g->chans, tj->chans, sizeof(g->chans));
		g->nr_chans = tj->nr_chans;
		g->next = M.guests;
		M.guests = g;
	} else {
		free(g);
		g = NULL;
	}
	r.pid = res->pid;
	r.flags = (res->same_pid ? CLDP_MF_SAME_PID : 0) | (res->lazy ? CLDP_MF_LAZY : 0);
	r.restore_ns = res->total_ns;
	cldd_info("guest %s:%d runs here as pid %d (%s)", tj->home, (int)tj->home_pid,
		  (int)res->pid, res->lazy ? "lazy" : "eager");
	b = cldd_out_new(sizeof(r), &o);
	if (!b) {
		kill(res->pid, SIGKILL);
		cldd_reply_status(c, tj->l.type, tj->l.id, -ENOMEM);
	} else {
		memcpy(b, &r, sizeof(r));
		cldd_out_reply(c, o, tj->l.type, tj->l.id, 0, sizeof(r));
	}
	/* After the answer: its end, even at once, reaches home second. */
	target_free(tj, !g);
	if (g && g->pid) {
		g->watched = true;
		if (cldd_child_watch(g->pid, guest_event, g)) {
			g->watched = false;
			cldd_err("guest %d: its exit will not reach home", (int)res->pid);
		}
	}
}

void cldd_migrate_serve_restore(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldd_peer *home = cldd_conn_peer(c);
	struct target_job *tj = calloc(1, sizeof(*tj));
	struct cldd_restart_req rq;
	struct cldp_restore_req r;
	unsigned int i;
	int ret;

	if (!tj) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	memcpy(&r, p, sizeof(r));
	cldd_later_init(&tj->l, c, h);
	snprintf(tj->home, sizeof(tj->home), "%s", home->conf.name);
	tj->home_pid = r.pid;
	/* Through our own mount, in the worker: pages come from home on
	 * demand, with the remote chunk cache and read-ahead. */
	snprintf(tj->path, sizeof(tj->path), "%s/%s/%d", M.mnt, home->conf.name, (int)r.pid);
	/*
	 * Lazily only for root: the pager needs userfaultfd's fork event,
	 * which the kernel grants with CAP_SYS_PTRACE only.  Other users'
	 * processes are restored eagerly (docs/migration.md).
	 */
	rq = (struct cldd_restart_req){
		.image_fd = -1,
		.image_path = tj->path,
		.uid = r.cred.uid,
		.gid = r.cred.gid,
		.flags = CLDD_RST_NO_STDIO | (r.cred.uid == 0 ? CLDD_RST_LAZY : 0),
		.timeout_ms = CLDD_MIGRATE_RESTORE_MS,
	};
	ret = cldd_fwd_accept(home, &r, tj->guest_ends, tj->chans);
	if (ret) {
		cldd_err("guest %s:%d: cannot relay its fds: %s", tj->home, (int)r.pid,
			 strerror(-ret));
		cldd_reply_status(c, h->type, h->id, ret);
		free(tj);
		return;
	}
	tj->nr_chans = r.nr_fwd;
	for (i = 0; i < r.nr_fwd; i++) {
		rq.fwd[i].fd = r.fwd[i].fd;
		rq.fwd[i].local = tj->guest_ends[i];
	}
	rq.nr_fwd = r.nr_fwd;
	ret = cldd_restart_start(M.loop, &rq, target_restored, tj);
	if (ret) {
		cldd_reply_status(c, h->type, h->id, ret);
		target_free(tj, true);
	}
}

/* ---- The caller ------------------------------------------------------------ */

struct req_job {
	cldd_migrate_cb cb;
	void *arg;
};

static void request_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct req_job *rj = arg;
	struct cldp_migrate_resp r = { 0 };

	if (!status)
		memcpy(&r, data, len < sizeof(r) ? len : sizeof(r));
	rj->cb(rj->arg, status, status ? NULL : &r);
	free(rj);
}

void cldd_migrate_request(struct cldd_peer *home, pid_t pid, uint64_t start_ticks,
			  struct cldd_peer *target, uid_t uid, gid_t gid, cldd_migrate_cb cb,
			  void *arg)
{
	const char *tname = target ? target->conf.name : self_name();
	struct cldp_migrate_req rq;
	struct req_job *rj;
	int ret;

	if (!cldd_cluster_enabled()) {
		cb(arg, -EXDEV, NULL); /* nowhere to go */
		return;
	}
	if (!home) {
		home_start(pid, start_ticks, tname, uid, gid, cb, arg);
		return;
	}
	rj = calloc(1, sizeof(*rj));
	if (!rj) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	rq.cred.uid = uid;
	rq.cred.gid = gid;
	rq.pid = pid;
	rq.start_ticks = start_ticks;
	snprintf(rq.target, sizeof(rq.target), "%s", tname);
	rj->cb = cb;
	rj->arg = arg;
	ret = cldd_call_timeout(home, CLDP_MIGRATE, &rq, sizeof(rq),
				CLDD_MIGRATE_RESTORE_MS + CLD_FREEZE_TIMEOUT_MS + 4000, request_done,
				rj);
	if (ret) {
		free(rj);
		cb(arg, ret, NULL);
	}
}
