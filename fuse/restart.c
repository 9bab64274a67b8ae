// SPDX-License-Identifier: MIT
#include "restart.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clondike/creds.h"
#include "clondike/image_read.h"
#include "clondike/lazy.h"
#include "clondike/restore.h"
#include "clock.h"
#include "children.h"
#include "log.h"

struct cldd_restart {
	uv_pipe_t pipe; /* the child's message (two when held) */
	uv_timer_t timer;
	pid_t child;
	uint64_t t_spawn;
	struct cldd_restart_result res;
	size_t got;
	bool done;
	bool exited; /* the worker was reaped (children.c) */
	/* CLDD_RST_HOLD: the release pipe; held once the first result came,
	 * until cldd_restart_release. */
	int go_fd;
	bool held, released, go, dead;
	int closing;
	cldd_restart_cb cb;
	void *arg;
};

/* ---- The child ------------------------------------------------------------- */

#define CHILD_IMAGE_FD 3
#define CHILD_RESULT_FD 4
#define CHILD_GO_FD 5 /* CLDD_RST_HOLD: 'g' runs the process */
#define CHILD_FWD_FD 6 /* the forwarded fds' stand-ins, in order */

struct hold_ctx {
	struct cldd_restart_result *r;
	struct cld_restore_result *res;
	uint64_t t0;
	bool lazy;
};

/* The process is complete: say so, then wait for the word. */
static int child_hold(void *arg, pid_t pid, struct cld_err *err)
{
	struct hold_ctx *h = arg;
	struct cldd_restart_result *r = h->r;
	char c = 0;
	ssize_t n;

	r->holding = true;
	r->pid = pid;
	r->same_pid = h->res->same_pid;
	r->lazy = h->lazy;
	r->prep_ns = h->res->prep_ns;
	r->map_ns = h->res->map_ns;
	r->fill_ns = h->res->fill_ns;
	r->total_ns = cldd_now_ns() - h->t0;
	if (write(CHILD_RESULT_FD, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		return cld_err_set(err, -EPIPE, "the daemon is gone: not let go");
	r->holding = false;
	do
		n = read(CHILD_GO_FD, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 'g')
		return 0;
	return cld_err_set(err, -ECANCELED, "not committed: the held process is dropped");
}

static void child_restart(uid_t uid, gid_t gid, unsigned int flags, const char *fwd,
			  const char *fwd_dir, const char *path, struct cldd_restart_result *r)
{
	struct cld_restore_result res;
	struct cld_restore_opts o;
	struct cld_rimage *ri = NULL;
	struct cld_err err = { 0 };
	struct cld_lazy lz;
	uint64_t nr = 0, t0 = cldd_now_ns();
	struct hold_ctx hold = { r, &res, t0, flags & CLDD_RST_LAZY };
	int fd = CHILD_IMAGE_FD;

	/* Who asks first: nothing of the image is touched as root for a user. */
	if (uid != 0)
		r->ret = cld_creds_become(uid, gid, &err);
	if (!r->ret && path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r->ret = cld_err_set(&err, -errno, "%s: %s", path, strerror(errno));
	}
	if (!r->ret)
		r->ret = cld_rimage_open_fd_flags(fd, (flags & CLDD_RST_LAZY) ? CLD_RIMAGE_NO_DIGESTS : 0,
						  &ri, &err);
	r->open_ns = cldd_now_ns() - t0;
	/* Not for a lazy restore: verifying reads every page, which is what
	 * lazy restoring avoids before the process runs. */
	if (!r->ret && !(flags & CLDD_RST_LAZY))
		r->ret = cld_rimage_verify(ri, &nr, &err);
	if (!r->ret) {
		cld_restore_opts_init(&o);
		o.flags = CLD_RST_DETACH;
		if (flags & CLDD_RST_NO_STDIO)
			o.flags |= CLD_RST_NO_STDIO;
		if (flags & CLDD_RST_OWN_CTTY)
			o.flags |= CLD_RST_OWN_CTTY;
		o.image_fd = fd;
		o.caller_uid = uid;
		o.caller_gid = gid;
		o.tty_fd = -1;
		o.fwd_dir = fwd_dir;
		/* "-", or the image's fd numbers, comma separated. */
		while (fwd && *fwd && *fwd != '-' && o.nr_fwd < CLD_RST_FWD_MAX) {
			char *end;

			o.fwd[o.nr_fwd].fd = (int)strtol(fwd, &end, 10);
			o.fwd[o.nr_fwd].local = CHILD_FWD_FD + (int)o.nr_fwd;
			o.nr_fwd++;
			fwd = *end == ',' ? end + 1 : end;
		}
		if (flags & CLDD_RST_LAZY) {
			cld_lazy_init(&lz, &(struct cld_lazy_opts){ .image_path = path,
								     .detach = true });
			o.fill = cld_lazy_fill;
			o.fill_arg = &lz;
		}
		if (flags & CLDD_RST_HOLD) {
			o.hold = child_hold;
			o.hold_arg = &hold;
		}
		r->ret = cld_restore(ri, &o, &res, &err);
		r->pid = res.pid;
		r->same_pid = res.same_pid;
		r->lazy = flags & CLDD_RST_LAZY;
		r->total_ns = res.total_ns;
		r->prep_ns = res.prep_ns;
		r->map_ns = res.map_ns;
		r->fill_ns = res.fill_ns;
		if (flags & CLDD_RST_LAZY)
			cld_lazy_release(&lz);
	}
	cld_rimage_free(ri);
	if (r->ret)
		snprintf(r->msg, sizeof(r->msg), "%s", cld_err_str(&err));
}

int cldd_restart_worker_main(int argc, char **argv)
{
	struct cldd_restart_result r = { 0 };
	unsigned long uid, gid;
	char *e1, *e2;

	unsigned long flags;
	char *e3;

	unsigned int nr_fwd = 0;
	const char *c;

	if (argc != 7 && argc != 8)
		return 2;
	uid = strtoul(argv[2], &e1, 10);
	gid = strtoul(argv[3], &e2, 10);
	flags = strtoul(argv[4], &e3, 10);
	if (*e1 || *e2 || *e3)
		return 2;
	for (c = argv[5]; *c && *c != '-'; c++)
		nr_fwd += *c == ',';
	if (*argv[5] && *argv[5] != '-')
		nr_fwd++;
	/* Only the image, the result pipe and the stand-ins, whatever leaked
	 * past CLOEXEC. */
	syscall(SYS_close_range, CHILD_FWD_FD + nr_fwd, ~0u, 0);
	if (!(flags & CLDD_RST_HOLD))
		close(CHILD_GO_FD);
	child_restart((uid_t)uid, (gid_t)gid, (unsigned int)flags, argv[5],
		      strcmp(argv[6], "-") ? argv[6] : NULL, argc == 8 ? argv[7] : NULL, &r);
	/* One write under PIPE_BUF: atomic. */
	if (write(CHILD_RESULT_FD, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return 1;
	return 0;
}

/*
 * A fresh process (the daemon's own binary again), not a fork: the daemon
 * has threads and libuv state (fork handlers that recreate pipes) that a
 * forked child must not inherit.
 */
static int spawn_worker(const struct cldd_restart_req *rq, int result_fd, int go_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char us[16], gs[16], fs[16], fwd[CLD_RST_FWD_MAX * 12 + 2] = "-";
	char *argv[] = { "clondiked", CLDD_RESTART_WORKER_ARG, us, gs, fs, fwd,
			 rq->fwd_dir ? (char *)rq->fwd_dir : "-", (char *)rq->image_path, NULL };
	size_t fl = 0;
	unsigned int i;
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	sigset_t none, all;
	int r;

	snprintf(us, sizeof(us), "%u", (unsigned)rq->uid);
	snprintf(gs, sizeof(gs), "%u", (unsigned)rq->gid);
	snprintf(fs, sizeof(fs), "%u", rq->flags);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* No stdin or stdout of the daemon's for anything restored. */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (rq->image_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, rq->image_fd, CHILD_IMAGE_FD);
	posix_spawn_file_actions_adddup2(&fa, result_fd, CHILD_RESULT_FD);
	if (go_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, go_fd, CHILD_GO_FD);
	for (i = 0; i < rq->nr_fwd && i < CLD_RST_FWD_MAX; i++) {
		posix_spawn_file_actions_adddup2(&fa, rq->fwd[i].local, CHILD_FWD_FD + (int)i);
		fl += (size_t)snprintf(fwd + fl, sizeof(fwd) - fl, "%s%d", i ? "," : "",
				       rq->fwd[i].fd);
	}
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(pid, "/proc/self/exe", &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -r;
}

/* ---- The loop side ------------------------------------------------------------ */

/* How long a released worker has to say how its process started. */
#define RELEASE_TIMEOUT_MS 10000u

static void closed(uv_handle_t *h)
{
	struct cldd_restart *rs = h->data;

	if (--rs->closing == 0)
		free(rs);
}

/* Everything is over (answered, reaped, and released if it was held). */
static void maybe_free(struct cldd_restart *rs)
{
	if (!rs->done || !rs->exited || (rs->held && !rs->released) || rs->closing)
		return;
	uv_timer_stop(&rs->timer);
	if (rs->go_fd >= 0)
		close(rs->go_fd);
	rs->go_fd = -1;
	rs->closing = 2;
	uv_close((uv_handle_t *)&rs->pipe, closed);
	uv_close((uv_handle_t *)&rs->timer, closed);
}

/*
 * The worker is reaped by children.c, never waited for on the loop: it
 * may still need us (its exit closes an image of this very mount, a FLUSH
 * we must answer).
 */
static void worker_exited(void *arg, pid_t pid, const siginfo_t *si)
{
	struct cldd_restart *rs = arg;

	(void)pid;
	(void)si;
	rs->exited = true;
	maybe_free(rs);
}

static void finish(struct cldd_restart *rs, int ret, const char *why)
{
	if (rs->done)
		return;
	rs->done = true;
	uv_read_stop((uv_stream_t *)&rs->pipe);
	uv_timer_stop(&rs->timer);
	if (rs->held) {
		/* The second result of a held worker: its answer went out with
		 * the first; only a failure to let it go is news. */
		if ((ret || rs->res.ret) && (!rs->released || rs->go))
			cldd_err("held restore of pid %d: %s", (int)rs->res.pid,
				 ret ? why : rs->res.msg);
		if (ret || rs->res.ret)
			rs->dead = true;
		if (ret)
			kill(rs->child, SIGKILL);
		maybe_free(rs);
		return;
	}
	if (ret) {
		rs->res.ret = ret;
		snprintf(rs->res.msg, sizeof(rs->res.msg), "%s", why);
		kill(rs->child, SIGKILL); /* its half-built process dies with it */
	}
	rs->res.worker_ns = cldd_now_ns() - rs->t_spawn;
	rs->cb(rs->arg, &rs->res);
	maybe_free(rs);
}

/* A held worker's first result: its process is complete and stopped. */
static void held(struct cldd_restart *rs)
{
	struct cldd_restart_result res = rs->res;

	rs->held = true;
	rs->got = 0;
	uv_timer_stop(&rs->timer); /* how long it is held is the caller's */
	res.held = rs;
	res.worker_ns = cldd_now_ns() - rs->t_spawn;
	rs->cb(rs->arg, &res);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct cldd_restart *rs = h->data;

	(void)hint;
	*b = uv_buf_init((char *)&rs->res + rs->got, (unsigned int)(sizeof(rs->res) - rs->got));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct cldd_restart *rs = s->data;

	(void)b;
	if (n > 0) {
		rs->got += (size_t)n;
		if (rs->got < sizeof(rs->res))
			return;
		if (rs->res.holding && !rs->held && !rs->res.ret)
			held(rs);
		else
			finish(rs, 0, NULL);
		return;
	}
	if (n < 0)
		finish(rs, -ECHILD, "the restorer died before answering (see the daemon's log)");
}

static void on_timeout(uv_timer_t *t)
{
	struct cldd_restart *rs = t->data;

	finish(rs, -ETIMEDOUT, rs->held ? "the released restorer did not finish in time"
					: "the restore did not finish in time and was stopped");
}

int cldd_restart_release(struct cldd_restart *rs, bool go)
{
	pid_t pid = rs->res.pid;
	bool dead = rs->done && rs->dead;
	ssize_t n;

	if (!rs->held || rs->released)
		return -EINVAL;
	rs->released = true;
	rs->go = go;
	do
		n = write(rs->go_fd, go ? "g" : "k", 1);
	while (n < 0 && errno == EINTR);
	close(rs->go_fd);
	rs->go_fd = -1;
	if (!go && pid > 0)
		kill(pid, SIGKILL); /* the worker does too: this is if it hangs */
	if (!rs->done)
		uv_timer_start(&rs->timer, on_timeout, RELEASE_TIMEOUT_MS, 0);
	maybe_free(rs);
	/* It died while held (the worker went, or its pipe broke). */
	return (n != 1 || dead) && go ? -ESRCH : 0;
}

int cldd_restart_start(struct cldd *d, const struct cldd_restart_req *rq, cldd_restart_cb cb,
		       void *arg)
{
	struct cldd_restart *rs;
	int p[2], g[2] = { -1, -1 }, r;

	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->go_fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		free(rs);
		return r;
	}
	if ((rq->flags & CLDD_RST_HOLD) && pipe2(g, O_CLOEXEC) < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		free(rs);
		return r;
	}
	rs->cb = cb;
	rs->arg = arg;
	rs->t_spawn = cldd_now_ns();
	r = spawn_worker(rq, p[1], g[0], &rs->child);
	close(p[1]);
	if (g[0] >= 0)
		close(g[0]);
	rs->go_fd = g[1];
	if (r) {
		close(p[0]);
		if (g[1] >= 0)
			close(g[1]);
		free(rs);
		return r;
	}
	uv_pipe_init(d->loop, &rs->pipe, 0);
	uv_timer_init(d->loop, &rs->timer);
	rs->pipe.data = rs->timer.data = rs;
	r = uv_pipe_open(&rs->pipe, p[0]);
	if (!r)
		r = uv_read_start((uv_stream_t *)&rs->pipe, on_alloc, on_read);
	if (!r)
		r = uv_timer_start(&rs->timer, on_timeout,
				   rq->timeout_ms ? rq->timeout_ms : CLDD_RESTART_TIMEOUT_MS, 0);
	if (r) {
		/* Nothing is watching it: stop it now, say so. */
		rs->done = true;
		kill(rs->child, SIGKILL);
		while (waitpid(rs->child, NULL, 0) < 0 && errno == EINTR)
			;
		if (rs->go_fd >= 0)
			close(rs->go_fd);
		rs->closing = 2;
		uv_close((uv_handle_t *)&rs->pipe, closed);
		uv_close((uv_handle_t *)&rs->timer, closed);
		cldd_err("restart: %s", uv_strerror(r));
		return -EIO;
	}
	r = cldd_child_watch(d, rs->child, worker_exited, rs);
	if (r)
		cldd_err("restart worker %d: not watched (%s): it stays a zombie", (int)rs->child,
			 strerror(-r));
	return 0;
}
