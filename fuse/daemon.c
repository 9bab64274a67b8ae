// SPDX-License-Identifier: MIT
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "children.h"
#include "commit.h"
#include "fdio.h"
#include "frozen.h"
#include "fs_rfwd.h"
#include "incoming.h"
#include "migrate.h"
#include "pairs.h"
#include "restart.h"
#include "log.h"
#include "mcopy.h"
#include "peer.h"
#include "procs.h"
#include "put.h"
#include "remote.h"
#include "serve.h"

#define DEFAULT_MOUNTPOINT "/clondike"
/* Requests handled per wakeup before the loop looks at signals again. */
#define BATCH 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: clondiked [options] [mountpoint]\n"
		"Serve /clondike/<node>/<pid> images of this node's processes.\n"
		"\n"
		"  -f              stay in the foreground, log to stderr\n"
		"  -d              debug: log every FUSE request (implies -f)\n"
		"  -o OPT[,OPT]    extra mount options\n"
		"  --node NAME     this node's name (default: the hostname)\n"
		"  --config FILE   cluster configuration (default " CLD_CONF_DEFAULT "\n"
		"                  when it exists; without one, a cluster of one node)\n"
		"  --limit NAME=N  a resource limit (repeatable): freeze-timeout-ms,\n"
		"                  restart-timeout-ms, guest-lost-ms, frozen-per-user, frozen-total,\n"
		"                  buffer-mb-per-user, buffer-mb-total, writers-per-user,\n"
		"                  writers-total (see docs/security.md); test-drop-commit,\n"
		"                  test-lose-ready inject faults (docs/migration.md)\n"
		"  -h, --help      this help\n"
		"  -V, --version   print the version\n"
		"\n"
		"The mountpoint defaults to " DEFAULT_MOUNTPOINT ". See docs/clondiked.md.\n");
}

static const struct {
	const char *name;
	size_t off;
} limit_names[] = {
#define L(n, f) { n, offsetof(struct cldd_limits, f) }
	L("freeze-timeout-ms", freeze_timeout_ms),
	L("restart-timeout-ms", restart_timeout_ms),
	L("guest-lost-ms", guest_lost_ms),
	L("frozen-per-user", frozen_per_user),
	L("frozen-total", frozen_total),
	L("buffer-mb-per-user", buffer_mb_per_user),
	L("buffer-mb-total", buffer_mb_total),
	L("writers-per-user", writers_per_user),
	L("writers-total", writers_total),
	L("test-drop-commit", test_drop_commit),
	L("test-lose-ready", test_lose_ready),
#undef L
};

static void default_limits(struct cldd_limits *l)
{
	l->freeze_timeout_ms = CLD_FREEZE_TIMEOUT_MS;
	l->restart_timeout_ms = CLDD_RESTART_TIMEOUT_MS;
	l->guest_lost_ms = CLDD_GUEST_LOST_MS;
	l->frozen_per_user = CLDD_FREEZES_PER_USER;
	l->frozen_total = CLDD_FREEZES_TOTAL;
	l->buffer_mb_per_user = CLDD_IN_USER_MB;
	l->buffer_mb_total = CLDD_IN_TOTAL_MB;
	l->writers_per_user = CLDD_IN_USER_FILES;
	l->writers_total = CLDD_IN_TOTAL_FILES;
}

static int set_limit(struct cldd_limits *l, const char *v)
{
	const char *eq = v ? strchr(v, '=') : NULL;
	unsigned long n;
	char *end;
	size_t i;

	if (!eq)
		goto bad;
	errno = 0;
	n = strtoul(eq + 1, &end, 10);
	if (errno || *end || end == eq + 1 || !n || n > 0xffffffffu)
		goto bad;
	for (i = 0; i < sizeof(limit_names) / sizeof(limit_names[0]); i++)
		if (strlen(limit_names[i].name) == (size_t)(eq - v) &&
		    !strncmp(limit_names[i].name, v, (size_t)(eq - v))) {
			*(unsigned int *)((char *)l + limit_names[i].off) = (unsigned int)n;
			return 0;
		}
bad:
	fprintf(stderr, "clondiked: --limit needs NAME=N (N > 0) with a known NAME: %s\n",
		v ? v : "");
	return -EINVAL;
}

static int add_mount_opt(struct cldd_opts *o, const char *opt)
{
	size_t old = o->mount_opts ? strlen(o->mount_opts) : 0;
	char *p = realloc(o->mount_opts, old + strlen(opt) + 2);

	if (!p)
		return -ENOMEM;
	if (old)
		p[old++] = ',';
	strcpy(p + old, opt);
	o->mount_opts = p;
	return 0;
}

int cldd_parse_args(int argc, char **argv, struct cldd_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	default_limits(&o->lim);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("clondiked " CLD_VERSION "\n");
			return 1;
		} else if (!strcmp(a, "-f")) {
			o->foreground = true;
		} else if (!strcmp(a, "-d")) {
			o->debug = o->foreground = true;
		} else if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
			const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v || !*v) {
				fprintf(stderr, "clondiked: -o needs a value\n");
				return -EINVAL;
			}
			if (add_mount_opt(o, v))
				return -ENOMEM;
		} else if (!strcmp(a, "--node") || !strncmp(a, "--node=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v || !*v || strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, "..") ||
			    strlen(v) >= 64) {
				fprintf(stderr, "clondiked: --node needs a name (no '/', < 64 chars)\n");
				return -EINVAL;
			}
			o->node = v;
		} else if (!strcmp(a, "--config") || !strncmp(a, "--config=", 9)) {
			const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v || !*v) {
				fprintf(stderr, "clondiked: --config needs a file\n");
				return -EINVAL;
			}
			o->config = v;
		} else if (!strcmp(a, "--limit") || !strncmp(a, "--limit=", 8)) {
			const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);

			if (set_limit(&o->lim, v))
				return -EINVAL;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "clondiked: unknown option %s\n", a);
			usage(stderr);
			return -EINVAL;
		} else if (!o->mountpoint) {
			o->mountpoint = a;
		} else {
			fprintf(stderr, "clondiked: more than one mountpoint (%s, %s)\n",
				o->mountpoint, a);
			return -EINVAL;
		}
	}
	if (!o->mountpoint)
		o->mountpoint = DEFAULT_MOUNTPOINT;
	return 0;
}

/* Is path already a mount point (of anything)? */
static bool is_mounted(const char *path)
{
	char line[8192], real[PATH_MAX];
	bool found = false;
	FILE *f;

	if (!realpath(path, real))
		return false;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX];

		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*d %*d %*s %*s %4095s", mp) == 1 && !strcmp(mp, real))
			found = true;
	}
	fclose(f);
	return found;
}

/* Clear errors before libfuse prints its own. */
static int check_mountpoint(const char *mp, bool is_default)
{
	struct stat st;
	int fd;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		cldd_err("FUSE is not available: /dev/fuse: %s%s", strerror(e),
			 e == ENOENT ? " (modprobe fuse)" : "");
		return -e;
	}
	close(fd);
	if (stat(mp, &st) < 0) {
		int e = errno;

		if (e == ENOENT && is_default && mkdir(mp, 0755) == 0)
			return 0;
		if (e == ENOTCONN)
			cldd_err("mountpoint %s: a dead FUSE mount is still there "
				 "(run: fusermount3 -u %s)", mp, mp);
		else
			cldd_err("mountpoint %s: %s", mp, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		cldd_err("mountpoint %s is not a directory", mp);
		return -ENOTDIR;
	}
	if (is_mounted(mp)) {
		cldd_err("mountpoint %s is busy: something is already mounted there "
			 "(another clondiked? unmount it with: fusermount3 -u %s)", mp, mp);
		return -EBUSY;
	}
	return 0;
}

static void stop(struct cldd_daemon *dm, const char *why)
{
	cldd_info("%s: unmounting %s", why, dm->opts.mountpoint);
	fuse_session_exit(dm->fs.se);
	uv_stop(&dm->loop);
}

static void on_fuse(uv_poll_t *h, int status, int events)
{
	struct cldd_daemon *dm = h->data;
	int i, r;

	(void)events;
	if (status < 0) {
		cldd_err("polling /dev/fuse: %s", uv_strerror(status));
		dm->exit_code = 1;
		stop(dm, "error");
		return;
	}
	for (i = 0; i < BATCH; i++) {
		r = fuse_session_receive_buf(dm->fs.se, &dm->buf);
		if (r == -EAGAIN)
			return;
		if (r == -EINTR)
			continue;
		if (r <= 0 || fuse_session_exited(dm->fs.se)) {
			if (r < 0)
				cldd_err("reading /dev/fuse: %s", strerror(-r));
			stop(dm, r < 0 ? "error" : "unmounted");
			return;
		}
		fuse_session_process_buf(dm->fs.se, &dm->buf);
	}
}

/* Root entries are cached for long: drop those of removed nodes. */
static void forget_removed(struct cldd_daemon *dm)
{
	const struct cldd_cluster *cl = dm->d.cluster;
	unsigned int s;

	for (s = 0; s < cldd_peer_slots(cl); s++) {
		struct cldd_peer *p = cldd_peer_by_slot(cl, s);

		if (p->removed)
			fuse_lowlevel_notify_inval_entry(dm->fs.se, FUSE_ROOT_ID, p->conf.name,
							 strlen(p->conf.name));
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct cldd_daemon *dm = h->data;
	struct cldd_cluster *cl = dm->d.cluster;

	if (signum == SIGHUP) {
		struct cld_err err = { 0 };

		cldd_info("SIGHUP: node %s, mount %s", dm->fs.node, dm->opts.mountpoint);
		if (cldd_cluster_enabled(cl) && cldd_cluster_reload(cl, &err))
			cldd_err("reload failed, keeping the old configuration: %s",
				 cld_err_str(&err));
		else if (cldd_cluster_enabled(cl))
			cldd_remote_set_cache(&dm->d, cldd_cluster_conf(cl)->cache_mb);
		forget_removed(dm);
		return;
	}
	stop(dm, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int build_args(struct cldd_daemon *dm, struct fuse_args *args)
{
	static const char base[] = "allow_other,default_permissions,fsname=clondike,"
				   "subtype=clondike";
	char *opts;
	int ret = -ENOMEM;

	if (fuse_opt_add_arg(args, "clondiked"))
		return ret;
	if (dm->opts.debug && fuse_opt_add_arg(args, "-d"))
		return ret;
	if (asprintf(&opts, "%s%s%s", base, dm->opts.mount_opts ? "," : "",
		     dm->opts.mount_opts ? dm->opts.mount_opts : "") < 0)
		return ret;
	if (!fuse_opt_add_arg(args, "-o") && !fuse_opt_add_arg(args, opts))
		ret = 0;
	free(opts);
	return ret;
}

static int start_loop(struct cldd_daemon *dm)
{
	int fd = fuse_session_fd(dm->fs.se), r;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	dm->poll.data = dm->sigterm.data = dm->sigint.data = dm->sighup.data = dm;
	r = uv_poll_init(&dm->loop, &dm->poll, fd);
	if (!r)
		r = uv_poll_start(&dm->poll, UV_READABLE, on_fuse);
	if (!r)
		r = uv_signal_init(&dm->loop, &dm->sigterm);
	if (!r)
		r = uv_signal_start(&dm->sigterm, on_signal, SIGTERM);
	if (!r)
		r = uv_signal_init(&dm->loop, &dm->sigint);
	if (!r)
		r = uv_signal_start(&dm->sigint, on_signal, SIGINT);
	if (!r)
		r = uv_signal_init(&dm->loop, &dm->sighup);
	if (!r)
		r = uv_signal_start(&dm->sighup, on_signal, SIGHUP);
	return r;
}

/* Holder sockets that fail the owner check (common/freezer.c) are logged. */
static void hold_warn(const char *msg)
{
	cldd_warn("%s", msg);
}

/*
 * Every peer connection, frozen process and open image costs fds; the
 * usual service limit of 1,024 is small for that.  Raise the soft limit to
 * the hard one (docs/security.md, "Peer connections and fds").
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			cldd_warn("cannot raise the fd limit from %llu to %llu: %s",
				  (unsigned long long)old, (unsigned long long)rl.rlim_max,
				  strerror(errno));
			return;
		}
	}
	cldd_info("fd limit %llu", (unsigned long long)rl.rlim_cur);
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, close_cb);
}

/* The cluster's callbacks (arg: the daemon object): the peer layer calls
 * up only through these. */
static void on_peer_request(void *arg, struct cldd_conn *c, const struct cldp_hdr *h,
			    const uint8_t *payload)
{
	cldd_serve(arg, c, h, payload);
}

static void on_conn_closed(void *arg, struct cldd_conn *c)
{
	cldd_serve_conn_closed(arg, c);
}

static void on_peer_updown(void *arg, struct cldd_peer *p, bool up)
{
	cldd_pairs_peer(arg, p, up);
	cldd_commit_peer(arg, p, up);
	if (up)
		cldd_fwd_peer_up(arg, p);
}

/* The subsystems' state that the loop and the cluster's callbacks may
 * reach before the mount (and the daemon's fork). */
static int init_state(struct cldd_daemon *dm)
{
	struct cldd *d = &dm->d;
	const struct cldd_limits *l = &dm->opts.lim;
	int ret;

	ret = cldd_procs_init(d);
	if (ret)
		return ret;
	ret = cldd_freeze_init(d, &(struct cldd_freeze_limits){
					  .timeout_ms = l->freeze_timeout_ms,
					  .per_user = l->frozen_per_user,
					  .total = l->frozen_total,
				  });
	if (ret) {
		cldd_err("freezer: %s", uv_strerror(ret));
		return -EIO;
	}
	ret = cldd_in_init(d, &(struct cldd_in_limits){
				      .user_bytes = (uint64_t)l->buffer_mb_per_user << 20,
				      .total_bytes = (uint64_t)l->buffer_mb_total << 20,
				      .user_files = l->writers_per_user,
				      .total_files = l->writers_total,
				      .restart_timeout_ms = l->restart_timeout_ms,
			      });
	if (!ret)
		ret = cldd_mcopy_init(d);
	if (!ret)
		ret = cldd_remote_init(d);
	if (!ret)
		ret = cldd_fwd_init(d, l->guest_lost_ms);
	if (!ret)
		ret = cldd_pairs_init(d, l->guest_lost_ms);
	if (!ret)
		ret = cldd_put_init(d);
	if (!ret)
		ret = cldd_commit_init(d, l->guest_lost_ms,
				       (l->test_drop_commit ? CLDD_FAULT_DROP_COMMIT : 0) |
					       (l->test_lose_ready ? CLDD_FAULT_LOSE_READY : 0));
	if (!ret)
		ret = cldd_rfwd_init(d, l->guest_lost_ms);
	if (!ret)
		cldd_in_set_remote(d, cldd_put_start);
	if (!ret && !(d->cluster = cldd_cluster_new(d->loop)))
		ret = -ENOMEM;
	if (ret)
		cldd_err("daemon state: %s", strerror(-ret));
	return ret;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	/* The process and its daemon object, handed down from here (static,
	 * not on main's stack: what it points to stays reachable for leak
	 * checkers until exit). */
	static struct cldd_daemon dm;
	static char mp_abs[PATH_MAX];
	struct cldd *d = &dm.d;
	char host[256];
	bool is_default;
	int ret;

	if (argc > 1 && !strcmp(argv[1], CLDD_RESTART_WORKER_ARG))
		return cldd_restart_worker_main(argc, argv);
	ret = cldd_parse_args(argc, argv, &dm.opts);
	if (ret)
		return ret > 0 ? 0 : 2;
	cldd_log_init(true, dm.opts.debug);
	is_default = !strcmp(dm.opts.mountpoint, DEFAULT_MOUNTPOINT);
	if (!dm.opts.node) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			strcpy(host, "localhost");
		host[sizeof(dm.fs.node) - 1] = 0;
		dm.opts.node = host;
	}
	snprintf(dm.fs.node, sizeof(dm.fs.node), "%s", dm.opts.node);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	cld_hold_set_warn(hold_warn);
	/*
	 * Image data moves through 1 MiB buffers.  Keep freed ones in the
	 * heap instead of giving them back to the kernel: on a VM, faulting
	 * 256 fresh pages in costs more than the copy that fills them.
	 */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	dm.fs.direct_io = !getenv("CLDD_CACHED_READS");
	d->fs = &dm.fs;

	ret = uv_loop_init(&dm.loop);
	if (ret) {
		cldd_err("event loop: %s", uv_strerror(ret));
		goto out_free;
	}
	d->loop = &dm.loop;
	ret = init_state(&dm);
	if (ret)
		goto out_loop_only;
	/* The cluster first: a bad configuration or key stops us before
	 * anything is mounted. */
	if (dm.opts.config || access(CLD_CONF_DEFAULT, F_OK) == 0) {
		const char *conf = dm.opts.config ? dm.opts.config : CLD_CONF_DEFAULT;
		const struct cldd_cluster_cbs cluster_cbs = {
			.request = on_peer_request,
			.conn_closed = on_conn_closed,
			.peer_updown = on_peer_updown,
			.arg = d,
		};
		struct cld_err err = { 0 };

		ret = cldd_cluster_start(d->cluster, conf, dm.fs.node, &cluster_cbs, &err);
		if (ret) {
			cldd_err("cluster: %s", cld_err_str(&err));
			goto out_loop_only;
		}
		cldd_remote_set_cache(d, cldd_cluster_conf(d->cluster)->cache_mb);
	}
	ret = check_mountpoint(dm.opts.mountpoint, is_default);
	if (ret)
		goto out_loop_only;
	/* fuse_daemonize() changes to /: unmount by the absolute path. */
	if (realpath(dm.opts.mountpoint, mp_abs))
		dm.opts.mountpoint = mp_abs;
	ret = build_args(&dm, &args);
	if (ret)
		goto out_args;
	dm.fs.se = fuse_session_new(&args, &cldd_fs_ops, sizeof(cldd_fs_ops), d);
	if (!dm.fs.se) {
		cldd_err("cannot create the FUSE session (bad -o option?)");
		ret = -EINVAL;
		goto out_args;
	}
	if (fuse_session_mount(dm.fs.se, dm.opts.mountpoint)) {
		cldd_err("cannot mount %s (see the message above)", dm.opts.mountpoint);
		ret = -EIO;
		goto out_session;
	}
	cldd_log_init(dm.opts.foreground, dm.opts.debug);
	if (fuse_daemonize(dm.opts.foreground)) {
		ret = -errno;
		goto out_unmount;
	}
	if (!dm.opts.foreground)
		uv_loop_fork(&dm.loop);
	ret = cldd_migrate_init(d, dm.opts.mountpoint);
	if (!ret)
		ret = cldd_children_init(d);
	if (!ret)
		ret = start_loop(&dm);
	if (ret) {
		cldd_err("event loop: %s", ret < 0 && ret > -4096 ? strerror(-ret) : "error");
		goto out_loop;
	}
	cldd_info("serving node %s on %s", dm.fs.node, dm.opts.mountpoint);
	uv_run(&dm.loop, UV_RUN_DEFAULT);
	ret = dm.exit_code ? -EIO : 0;
out_loop:
	if (dm.poll.loop)
		uv_poll_stop(&dm.poll); /* before the session closes its fd */
	/* Requests waiting for peers are answered while the session lives. */
	cldd_cluster_stop(d->cluster);
out_unmount:
	cldd_freeze_thaw_all(d);
	fuse_session_unmount(dm.fs.se);
out_session:
	fuse_session_destroy(dm.fs.se);
out_args:
	fuse_opt_free_args(&args);
out_loop_only:
	if (d->cluster)
		cldd_cluster_stop(d->cluster);
	uv_walk(&dm.loop, walk_close, NULL);
	uv_run(&dm.loop, UV_RUN_DEFAULT);
	uv_loop_close(&dm.loop);
out_free:
	free(dm.fs.rbuf);
	free(dm.buf.mem);
	free(dm.opts.mount_opts);
	return ret ? 1 : 0;
}
