// SPDX-License-Identifier: MIT
#include "migrate.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "fdio.h"
#include "frozen.h"
#include "log.h"
#include "pairs.h"
#include "peer.h"
#include "procs.h"
#include "restart.h"

/* Migration's own (d->mig). */
struct cldd_migrate {
	char mnt[PATH_MAX];
};

int cldd_migrate_init(struct cldd *d, const char *mountpoint)
{
	struct cldd_migrate *M = calloc(1, sizeof(*M));

	if (!M)
		return -ENOMEM;
	snprintf(M->mnt, sizeof(M->mnt), "%s", mountpoint);
	d->mig = M;
	return 0;
}

const char *cldd_migrate_mountpoint(struct cldd *d)
{
	return d->mig->mnt;
}

static const char *self_name(struct cldd *d)
{
	const struct cld_node_conf *self = cldd_cluster_self(d->cluster);

	return self ? self->name : "";
}

/* ---- Home: freeze, have the target restore, keep the shadow --------------- */

struct home_job {
	struct cldd *d;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct cldd_peer *target;
	struct cldd_freeze *f;
	struct cldp_migrate_resp resp;
	struct cldd_chan *chans[CLDP_FWD_MAX];
	int fds[CLDP_FWD_MAX]; /* the fd of each */
	uint64_t start_ticks;
	unsigned int nr_chans;
	cldd_migrate_cb cb;
	void *arg;
	uint64_t t_start, t_frozen, t_asked, t_restored; /* CLOCK_MONOTONIC ns */
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

static void home_acked(void *arg, int status)
{
	struct home_job *hj = arg;

	if (status == -ESRCH) {
		/* The target had no guest held for it any more (it died while
		 * held): the process is gone, as if it had died there. */
		cldd_shadow_lose(hj->d, hj->pid, "was not held by its node any more");
		home_end(hj, -EIO, "the guest died before it could run");
		return;
	}
	if (status)
		cldd_warn("migration of %d: the COMMIT to %s was not acknowledged (%s); it asks, "
			  "and is told it committed",
			  (int)hj->pid, hj->target->conf.name, strerror(-status));
	cldd_info("migrated %d to %s as pid %d (%s, restored in %.1f ms); %d stays as its shadow",
		  (int)hj->pid, hj->target->conf.name, hj->resp.pid,
		  (hj->resp.flags & CLDP_MF_LAZY) ? "lazy" : "eager", hj->resp.restore_ns / 1e6,
		  (int)hj->pid);
	/* Where the downtime went (docs/performance.md). */
	cldd_info("migration of %d: freeze %.1f ms, fds %.1f ms, target %.1f ms (worker %.1f: "
		  "image open %.1f, prepare %.1f, map %.1f, fill %.1f, restore %.1f), commit %.1f ms",
		  (int)hj->pid, (hj->t_frozen - hj->t_start) / 1e6,
		  (hj->t_asked - hj->t_frozen) / 1e6, (hj->t_restored - hj->t_asked) / 1e6,
		  hj->resp.worker_ns / 1e6, hj->resp.open_ns / 1e6, hj->resp.prep_ns / 1e6,
		  hj->resp.map_ns / 1e6, hj->resp.fill_ns / 1e6, hj->resp.restore_ns / 1e6,
		  (cldd_now_ns() - hj->t_restored) / 1e6);
	home_end(hj, 0, NULL);
}

static void home_committed(void *arg, int64_t result)
{
	struct home_job *hj = arg;

	/* The decision: from here on the original must never run again. */
	if (result < 0)
		cldd_err("shadow %d: cannot tie it to the daemon (%s): it would run on if the daemon died",
			 (int)hj->pid, strerror((int)-result));
	cldd_commit_send(hj->d, hj->target, hj->pid, hj->resp.pid, hj->start_ticks, home_acked,
			 hj);
}

static void home_restored(void *arg, int status, const uint8_t *data, size_t len)
{
	struct home_job *hj = arg;
	int ret;

	hj->t_restored = cldd_now_ns();
	if (!status && cldd_commit_fault(hj->d, CLDD_FAULT_LOSE_READY)) {
		cldd_warn("test fault: the answer of %s for %d is taken as lost",
			  hj->target->conf.name, (int)hj->pid);
		status = -EHOSTDOWN;
	}
	if (status) {
		home_end(hj, status, status == -ETIMEDOUT ? "the target did not answer in time"
							  : NULL);
		return;
	}
	memcpy(&hj->resp, data, len < sizeof(hj->resp) ? len : sizeof(hj->resp));
	/* The commit point: the shadow is in the table before anything of
	 * the guest (its end, say) can arrive; its home fds serve the guest. */
	hj->f->migrating = false;
	hj->f->shadow = true;
	ret = cldd_freeze_exitkill(hj->f, true, home_committed, hj);
	cldd_shadow_add(hj->d, hj->pid, hj->f, hj->target->conf.name, hj->resp.pid, hj->chans,
			hj->fds, hj->nr_chans);
	hj->nr_chans = 0;
	hj->f = NULL; /* the shadow keeps the reference */
	if (ret != -EINPROGRESS)
		home_committed(hj, ret);
}

static void home_frozen(void *arg, struct cldd_freeze *f, int ret, const char *msg)
{
	struct home_job *hj = arg;
	struct cldp_restore_req rq;

	hj->t_frozen = cldd_now_ns();
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
	rq.epoch = cldd_commit_epoch(hj->d);
	hj->start_ticks = f->start_ticks;
	ret = cldd_fwd_collect(hj->d, hj->target, hj->pid, f->fz->proc, &rq, hj->chans);
	if (ret) {
		home_end(hj, ret, "cannot set up its forwarded fds");
		return;
	}
	hj->nr_chans = rq.nr_fwd;
	for (unsigned int i = 0; i < rq.nr_fwd; i++)
		hj->fds[i] = rq.fwd[i].fd;
	hj->t_asked = cldd_now_ns();
	ret = cldd_call_timeout(hj->target, CLDP_RESTORE, &rq, sizeof(rq),
				CLDD_MIGRATE_RESTORE_MS + 2000, home_restored, hj);
	if (ret)
		home_end(hj, ret, "cannot reach the target");
}

static void home_start(struct cldd *d, pid_t pid, uint64_t start_ticks, const char *target,
		       uid_t uid, gid_t gid, cldd_migrate_cb cb, void *arg)
{
	struct cldd_peer *t = cldd_peer_by_name(d->cluster, target);
	struct home_job *hj;
	struct cldd_pinfo pi;
	int ret;

	if (!strcmp(target, self_name(d)))
		ret = -EINVAL; /* already there */
	else if (!t || t->removed)
		ret = -ENOENT;
	else if (!t->conn)
		ret = -EHOSTDOWN;
	else if (cldd_proc_info(d, pid, &pi) || (start_ticks && pi.start_ticks != start_ticks))
		ret = -ESRCH;
	else if (cldd_shadow_exists(d, pid))
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
	hj->d = d;
	hj->pid = pid;
	hj->uid = uid;
	hj->gid = gid;
	hj->target = t;
	hj->cb = cb;
	hj->arg = arg;
	hj->t_start = cldd_now_ns();
	cldd_freeze_get(d, pid, pi.start_ticks, uid, home_frozen, hj);
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

void cldd_migrate_serve_home(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			     const uint8_t *p)
{
	struct served_job *sj = calloc(1, sizeof(*sj));
	struct cldp_migrate_req r;

	if (!sj) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	memcpy(&r, p, sizeof(r));
	cldd_later_init(&sj->l, c, h);
	home_start(d, r.pid, r.start_ticks, r.target, r.cred.uid, r.cred.gid, serve_home_done, sj);
}

/* ---- Target: restore from home's image, as the user ------------------------ */

struct target_job {
	struct cldd *d;
	struct cldd_later l;
	char home[64];
	pid_t home_pid;
	uint64_t start_ticks, epoch;
	char path[PATH_MAX + 96];
	char fwd_dir[PATH_MAX + 96];
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
	struct cldd_out *o;
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
		cldd_restart_release(res->held, false);
		cldd_err("guest %s:%d: home went away before the commit; pid %d killed", tj->home,
			 (int)tj->home_pid, (int)res->pid);
		target_free(tj, true);
		return;
	}
	r.pid = res->pid;
	r.flags = (res->same_pid ? CLDP_MF_SAME_PID : 0) | (res->lazy ? CLDP_MF_LAZY : 0);
	r.restore_ns = res->total_ns;
	r.open_ns = res->open_ns;
	r.prep_ns = res->prep_ns;
	r.map_ns = res->map_ns;
	r.fill_ns = res->fill_ns;
	r.worker_ns = res->worker_ns;
	cldd_info("guest %s:%d restored here as pid %d (%s), held until its home commits",
		  tj->home, (int)tj->home_pid, (int)res->pid, res->lazy ? "lazy" : "eager");
	b = cldd_out_new(sizeof(r), &o);
	if (!b) {
		cldd_restart_release(res->held, false);
		cldd_reply_status(c, tj->l.type, tj->l.id, -ENOMEM);
		target_free(tj, true);
		return;
	}
	memcpy(b, &r, sizeof(r));
	cldd_out_reply(c, o, tj->l.type, tj->l.id, 0, sizeof(r));
	/* It runs, and becomes a guest (its end then reaches home after
	 * the answer), when home commits (commit.c). */
	cldd_commit_hold(tj->d, res->held, res->pid, cldd_conn_peer(c), tj->home_pid,
			 tj->start_ticks, tj->epoch, tj->chans, tj->nr_chans);
	target_free(tj, false);
}

void cldd_migrate_serve_restore(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
				const uint8_t *p)
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
	tj->d = d;
	cldd_later_init(&tj->l, c, h);
	snprintf(tj->home, sizeof(tj->home), "%s", home->conf.name);
	tj->home_pid = r.pid;
	tj->start_ticks = r.start_ticks;
	tj->epoch = r.epoch;
	/* Through our own mount, in the worker: pages come from home on
	 * demand, with the remote chunk cache and read-ahead. */
	snprintf(tj->path, sizeof(tj->path), "%s/%s/%d", d->mig->mnt, home->conf.name, (int)r.pid);
	/* The files it has that we cannot open as the same: home's (fs_rfwd.c). */
	snprintf(tj->fwd_dir, sizeof(tj->fwd_dir), "%s/%s/.fwd/%d", d->mig->mnt, home->conf.name,
		 (int)r.pid);
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
		.flags = CLDD_RST_NO_STDIO | CLDD_RST_HOLD | (r.cred.uid == 0 ? CLDD_RST_LAZY : 0),
		.timeout_ms = CLDD_MIGRATE_RESTORE_MS,
		.fwd_dir = tj->fwd_dir,
	};
	ret = cldd_fwd_accept(d, home, &r, tj->guest_ends, tj->chans);
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
		if (r.fwd[i].kind == CLDD_FWD_TTY)
			rq.flags |= CLDD_RST_OWN_CTTY;
	}
	rq.nr_fwd = r.nr_fwd;
	ret = cldd_restart_start(d, &rq, target_restored, tj);
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

void cldd_migrate_request(struct cldd *d, struct cldd_peer *home, pid_t pid, uint64_t start_ticks,
			  struct cldd_peer *target, uid_t uid, gid_t gid, cldd_migrate_cb cb,
			  void *arg)
{
	const char *tname = target ? target->conf.name : self_name(d);
	struct cldp_migrate_req rq;
	struct req_job *rj;
	int ret;

	if (!cldd_cluster_enabled(d->cluster)) {
		cb(arg, -EXDEV, NULL); /* nowhere to go */
		return;
	}
	if (!home) {
		home_start(d, pid, start_ticks, tname, uid, gid, cb, arg);
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
