// SPDX-License-Identifier: MIT
/* The kind "a local process's image": /clondike/<node>/<pid>, estimated
 * from /proc until opened, then frozen (frozen.c) and read exactly. */
#include "fs_pid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frozen.h"
#include "log.h"
#include "pairs.h"
#include "procs.h"

int cldd_pid_entry(struct cldd *d, pid_t pid, struct cldp_pentry *pe)
{
	struct cldd_freeze *f;
	struct cldd_pinfo pi;
	uint64_t size, data;
	int ret;

	ret = cldd_proc_info(d, pid, &pi);
	if (ret)
		return ret == -ESRCH || ret == -ENOENT ? -ENOENT : ret;
	memset(pe, 0, sizeof(*pe));
	pe->pid = pid;
	pe->uid = pi.uid;
	pe->gid = pi.gid;
	pe->state = (uint8_t)pi.state;
	pe->start_ticks = pi.start_ticks;
	f = cldd_freeze_find(d, pid);
	if (f && f->start_ticks == pi.start_ticks) {
		pe->flags |= CLDP_PE_FROZEN;
		pe->size = f->fz->size;
		pe->data_bytes = f->fz->data_bytes;
		pe->mtime_ns = f->frozen_ns;
		return 0;
	}
	if (cldd_proc_estimate(pid, &size, &data))
		size = data = 0; /* exited meanwhile, or not readable */
	pe->size = size;
	pe->data_bytes = data;
	pe->mtime_ns = pi.start_ns;
	return 0;
}

int cldd_pid_attr(struct cldd *d, pid_t pid, unsigned long long *start_ticks, struct stat *st)
{
	struct cldp_pentry pe;
	int ret;

	ret = cldd_pid_entry(d, pid, &pe);
	if (ret)
		return ret;
	*start_ticks = pe.start_ticks;
	cldd_pentry_stat(&pe, cldd_ino_pid(pid), st);
	return (pe.flags & CLDP_PE_FROZEN) ? 1 : 0; /* exact when frozen: do not cache */
}

/* hidepid: what the caller of req may know of pid (procs.h, CLDD_VIS_*). */
static int fuse_groups(void *arg, gid_t *list, int size)
{
	return fuse_req_getgroups(arg, size, list);
}

int cldd_pid_vis(fuse_req_t req, pid_t pid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_caller who = { ctx->uid, ctx->gid, fuse_groups, req };

	return cldd_proc_visible(cldd_of(req), pid, &who);
}

/* hidepid=noaccess: the owner and no more (what stat of /proc/PID shows). */
static void redact_attr(struct stat *st)
{
	st->st_size = 0;
	st->st_blocks = 0;
	cldd_stat_time(st, 0);
}

/* vis: pid_vis() of the caller. */
void cldd_pid_reply_entry(fuse_req_t req, pid_t pid, int vis)
{
	struct fuse_entry_param e;
	unsigned long long start_ticks = 0;
	int ret;

	memset(&e, 0, sizeof(e));
	ret = cldd_pid_attr(cldd_of(req), pid, &start_ticks, &e.attr);
	if (ret < 0) {
		cldd_reply_err(req, -ret);
		return;
	}
	if (vis & CLDD_VIS_REDACT)
		redact_attr(&e.attr);
	/* Under hidepid the kernel must ask again for every caller. */
	e.attr_timeout = e.entry_timeout = ret || (vis & CLDD_VIS_NOCACHE) ? 0 : CLDD_PID_TIMEOUT;
	e.ino = e.attr.st_ino;
	e.generation = start_ticks;
	fuse_reply_entry(req, &e);
}

/* An open waiting for its freeze. */
struct open_wait {
	fuse_req_t req;
	struct fuse_file_info fi;
	uid_t uid;
};

static void open_pid_done(void *arg, struct cldd_freeze *f, int ret, const char *msg)
{
	struct open_wait *ow = arg;
	fuse_req_t req = ow->req;

	if (ret) {
		cldd_err("open %d (uid %u): %s", f ? (int)f->pid : 0, (unsigned)ow->uid,
			 msg ? msg : strerror(-ret));
		cldd_reply_err(req, -ret);
		free(ow);
		return;
	}
	/* Drop cached estimates before the opener's fstat. */
	if (f->refs == 1)
		fuse_lowlevel_notify_inval_inode(cldd_fs_of(req)->se, cldd_ino_pid(f->pid), -1, 0);
	ow->fi.fh = (uint64_t)(uintptr_t)f;
	ow->fi.direct_io = cldd_fs_of(req)->direct_io;
	ow->fi.keep_cache = 0; /* a new freeze: drop what an earlier one cached */
	if (fuse_reply_open(req, &ow->fi))
		cldd_freeze_put(f); /* the opener went away (interrupted) */
	free(ow);
}

static void open_pid(fuse_req_t req, pid_t pid, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct open_wait *ow;
	struct cldd_pinfo pi;
	char task[64];
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		cldd_info("open %d for writing refused: images of live processes are read only",
			  (int)pid);
		cldd_reply_err(req, EACCES);
		return;
	}
	ret = cldd_proc_info(cldd_of(req), pid, &pi);
	if (ret) {
		cldd_reply_err(req, ret == -ESRCH || ret == -ENOENT ? ENOENT : -ret);
		return;
	}
	/* A process opening its own image waits for this very request:
	 * freezing it would wait for it to stop, forever. */
	snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)pid, (int)ctx->pid);
	if (ctx->pid == pid || access(task, F_OK) == 0) {
		cldd_info("pid %d opened its own image: refused (EDEADLK)", (int)pid);
		cldd_reply_err(req, EDEADLK);
		return;
	}
	ret = cldd_proc_may_access(pid, ctx->uid, ctx->gid);
	if (ret) {
		cldd_info("uid %u may not read pid %d: %s", (unsigned)ctx->uid, (int)pid,
			  strerror(-ret));
		cldd_reply_err(req, -ret);
		return;
	}
	ow = malloc(sizeof(*ow));
	if (!ow) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	ow->req = req;
	ow->fi = *fi;
	ow->uid = ctx->uid;
	cldd_freeze_get(cldd_of(req), pid, pi.start_ticks, ctx->uid, open_pid_done, ow);
}

/*
 * A read or seek that the freeze's thread serves (a holder's image): the
 * reply is sent when it completes, from a buffer of its own.
 */
struct io_wait {
	fuse_req_t req;
	pid_t pid;
	bool seek;
	char buf[];
};

static void io_done(void *arg, int64_t r)
{
	struct io_wait *w = arg;

	if (r < 0) {
		if (!w->seek)
			cldd_err("read %d: %s", (int)w->pid, strerror((int)-r));
		cldd_reply_err(w->req, (int)-r);
	} else if (w->seek) {
		fuse_reply_lseek(w->req, (off_t)r);
	} else {
		fuse_reply_buf(w->req, w->buf, (size_t)r);
	}
	free(w);
}

static ssize_t read_pid(fuse_req_t req, struct cldd_freeze *f, char *buf, size_t size, uint64_t off)
{
	struct io_wait *w = NULL;
	ssize_t n;

	if (cldd_freeze_inline(f)) {
		n = cldd_freeze_pread(f, buf, size, off, NULL, NULL);
		goto done;
	}
	n = -ENOMEM;
	w = malloc(sizeof(*w) + size);
	if (!w)
		goto done;
	w->req = req;
	w->pid = f->pid;
	w->seek = false;
	n = cldd_freeze_pread(f, w->buf, size, off, io_done, w);
	if (n == -EINPROGRESS)
		return n;
	free(w);
done:
	if (n < 0)
		cldd_err("read %d at %llu: %s", (int)f->pid, (unsigned long long)off,
			 strerror((int)-n));
	return n;
}

static void pid_read(fuse_req_t req, const struct cldd_ino *n, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi->fh;
	char *buf = cldd_fs_rbuf(req, size);
	ssize_t r;

	(void)n;
	if (!buf)
		return;
	r = read_pid(req, f, buf, size, (uint64_t)off);
	if (r != -EINPROGRESS)
		cldd_reply_read(req, buf, r);
}

static void pid_lseek(fuse_req_t req, const struct cldd_ino *n, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi->fh;
	struct io_wait *w = NULL;
	int64_t r;

	(void)n;
	if (!cldd_freeze_inline(f)) {
		w = malloc(sizeof(*w));
		if (!w) {
			cldd_reply_err(req, ENOMEM);
			return;
		}
		w->req = req;
		w->pid = f->pid;
		w->seek = true;
	}
	r = cldd_freeze_seek(f, off, whence, w ? io_done : NULL, w);
	if (r == -EINPROGRESS)
		return;
	free(w);
	if (r < 0)
		cldd_reply_err(req, (int)-r);
	else
		fuse_reply_lseek(req, (off_t)r);
}

static void pid_release(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi->fh;

	/* The last release thaws: back to estimates (not cached yet). */
	if (f->refs == 1)
		fuse_lowlevel_notify_inval_inode(cldd_fs_of(req)->se, n->ino, -1, 0);
	cldd_freeze_put(f);
	cldd_reply_err(req, 0);
}

static void pid_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	unsigned long long start_ticks = 0;
	int vis = cldd_pid_vis(req, n->pid);
	struct stat st;
	int ret;

	ret = vis < 0 ? vis : cldd_pid_attr(cldd_of(req), n->pid, &start_ticks, &st);
	if (ret < 0) {
		cldd_reply_err(req, -ret);
		return;
	}
	if (vis & CLDD_VIS_REDACT)
		redact_attr(&st);
	fuse_reply_attr(req, &st, ret || (vis & CLDD_VIS_NOCACHE) ? 0 : CLDD_PID_TIMEOUT);
}

static void pid_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	open_pid(req, n->pid, fi);
}

/* ---- Extended attributes ------------------------------------------------- */

static const char *const xattr_names[] = { "state", "comm",	"cmdline",  "exe",
					   "uid",   "gid",	"pid",	    "home",
					   "node",  "home_pid", "guest_pid" };
#define NR_XATTRS (sizeof(xattr_names) / sizeof(xattr_names[0]))

size_t cldd_pid_xattr_list(char *list, size_t cap)
{
	size_t len = 0, i;

	for (i = 0; i < NR_XATTRS; i++)
		len = cldd_xattr_list_add(list, cap, len, xattr_names[i]);
	return len;
}

int cldd_pid_xattr(struct cldd *d, const char *node, pid_t pid, const char *key, char *v,
		   size_t cap)
{
	struct cldd_mig_info mi;
	struct cldd_freeze *f;
	struct cldd_pinfo pi;
	char path[64];
	ssize_t n;
	int ret;

	ret = cldd_proc_info(d, pid, &pi);
	if (ret)
		return -ENOENT;
	cldd_migrate_info(d, pid, pi.start_ticks, &mi);
	if (!strcmp(key, "state")) {
		f = cldd_freeze_find(d, pid);
		if (mi.role == CLDD_MIG_SHADOW)
			n = snprintf(v, cap, "migrated");
		else if (mi.role == CLDD_MIG_GUEST)
			n = snprintf(v, cap, "guest");
		else if (f && f->start_ticks == pi.start_ticks)
			n = snprintf(v, cap, "frozen");
		else if (pi.state == 'T' || pi.state == 't')
			n = snprintf(v, cap, "stopped");
		else
			n = snprintf(v, cap, "running");
	} else if (!strcmp(key, "comm")) {
		n = snprintf(v, cap, "%s", pi.comm);
	} else if (!strcmp(key, "cmdline")) {
		ssize_t i;

		n = cldd_proc_read(pid, "cmdline", v, cap);
		if (n < 0)
			return (int)n;
		while (n > 0 && !v[n - 1])
			n--;
		for (i = 0; i < n; i++)
			if (!v[i])
				v[i] = ' ';
	} else if (!strcmp(key, "exe")) {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		n = readlink(path, v, cap - 1);
		if (n < 0)
			return -errno;
	} else if (!strcmp(key, "uid")) {
		n = snprintf(v, cap, "%u", (unsigned)pi.uid);
	} else if (!strcmp(key, "gid")) {
		n = snprintf(v, cap, "%u", (unsigned)pi.gid);
	} else if (!strcmp(key, "pid")) {
		n = snprintf(v, cap, "%d", (int)pid);
	} else if (!strcmp(key, "home")) {
		n = snprintf(v, cap, "%s", mi.role == CLDD_MIG_GUEST ? mi.node : node);
	} else if (!strcmp(key, "node")) {
		/* Where it runs: a shadow's process runs on its guest's node. */
		n = snprintf(v, cap, "%s", mi.role == CLDD_MIG_SHADOW ? mi.node : node);
	} else if (!strcmp(key, "home_pid")) {
		n = snprintf(v, cap, "%d", mi.role == CLDD_MIG_GUEST ? (int)mi.pid : (int)pid);
	} else if (!strcmp(key, "guest_pid")) {
		if (mi.role != CLDD_MIG_SHADOW)
			return -ENODATA;
		n = snprintf(v, cap, "%d", (int)mi.pid);
	} else {
		return -ENODATA;
	}
	return (int)(n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n);
}

static void pid_getxattr(fuse_req_t req, const struct cldd_ino *n, const char *key, size_t size)
{
	int vis = cldd_pid_vis(req, n->pid);
	char v[4096];
	int r;

	/* hidepid: ENOENT when hidden, EACCES under noaccess. */
	if (vis < 0)
		r = vis;
	else if (vis & CLDD_VIS_REDACT)
		r = -EACCES;
	else
		r = cldd_pid_xattr(cldd_of(req), cldd_fs_of(req)->node, n->pid, key, v, sizeof(v));
	if (r < 0)
		cldd_reply_err(req, -r);
	else
		cldd_reply_xattr(req, v, (size_t)r, size);
}

static void pid_listxattr(fuse_req_t req, const struct cldd_ino *n, size_t size)
{
	int vis = cldd_pid_vis(req, n->pid);
	char list[512];
	size_t len;

	if (vis < 0 || (vis & CLDD_VIS_REDACT)) {
		cldd_reply_err(req, vis < 0 ? -vis : EACCES);
		return;
	}
	len = cldd_pid_xattr_list(list, sizeof(list));
	cldd_reply_xattr(req, list, len, size);
}

const struct cldd_kind_ops cldd_kind_pid = {
	.migrates = true,
	.getattr = pid_getattr,
	.open = pid_open,
	.read = pid_read,
	.lseek = pid_lseek,
	.release = pid_release,
	.getxattr = pid_getxattr,
	.listxattr = pid_listxattr,
};
