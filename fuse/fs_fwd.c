// SPDX-License-Identifier: MIT
#include "fs_fwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/proto.h"
#include "fs_pid.h"
#include "pairs.h"
#include "procs.h"

/* Shadows come and go: nothing below .fwd/ is cached by the kernel. */
#define FWD_TIMEOUT 0.0
#define MAX_LISTED 4096u

struct shadow_fds {
	int fds[CLDP_FWD_MAX];
	int n;
	uid_t uid;
	gid_t gid;
	uint64_t start_ns; /* the process's start: the entries' times */
};

/* pid's forwarded fds and owner, if it is a shadow here the caller may
 * see (hidepid, as for its image); else -ENOENT. */
static int shadow_of(fuse_req_t req, pid_t pid, struct shadow_fds *s)
{
	struct cldd *d = cldd_of(req);
	struct cldd_pinfo pi;

	s->n = pid > 0 ? cldd_shadow_fds(d, pid, s->fds) : -ESRCH;
	if (s->n < 0 || cldd_pid_vis(req, pid) < 0 || cldd_proc_info(d, pid, &pi))
		return -ENOENT;
	s->uid = pi.uid;
	s->gid = pi.gid;
	s->start_ns = pi.start_ns;
	return 0;
}

static bool has_fd(const struct shadow_fds *s, int fd)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->fds[i] == fd)
			return true;
	return false;
}

/* What the shadow's fd is, as /proc says: its length, or a negative errno. */
static int fd_target(pid_t pid, int fd, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, buf, cap - 1);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	buf[n] = 0;
	return (int)n;
}

static void dir_stat(fuse_ino_t ino, mode_t mode, uid_t uid, gid_t gid, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = 2;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_blksize = CLDD_BLKSIZE;
}

/* The attributes of fd's link; its length must be known (-errno if not). */
static int fd_stat(pid_t pid, int fd, const struct shadow_fds *s, struct stat *st)
{
	char buf[4096];
	int n = fd_target(pid, fd, buf, sizeof(buf));

	if (n < 0)
		return n;
	memset(st, 0, sizeof(*st));
	st->st_ino = cldd_ino_fwdfd(pid, fd);
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_size = n;
	cldd_stat_time(st, s->start_ns);
	return 0;
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = FWD_TIMEOUT;
	e.entry_timeout = FWD_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* ---- .fwd/ ---------------------------------------------------------------- */

void cldd_fwd_reply_entry(fuse_req_t req)
{
	struct stat st;

	dir_stat(CLDD_INO_FWD, 0555, 0, 0, &st);
	reply_entry(req, &st);
}

static void fwd_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	struct stat st;

	dir_stat(n->ino, 0555, 0, 0, &st);
	fuse_reply_attr(req, &st, FWD_TIMEOUT);
}

static void fwd_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	pid_t pid = cldd_parse_pid(name);
	struct shadow_fds s;
	struct stat st;

	(void)dir;
	if (shadow_of(req, pid, &s)) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	dir_stat(cldd_ino_fwdpid(pid), 0500, s.uid, s.gid, &st);
	cldd_stat_time(&st, s.start_ns);
	reply_entry(req, &st);
}

static int fwd_add(fuse_req_t req, const struct cldd_ino *n, struct cldd_dirbuf *b)
{
	pid_t *pids = malloc(MAX_LISTED * sizeof(*pids));
	unsigned int i, k;
	struct shadow_fds s;
	char name[16];
	int ret = 0;

	(void)n;
	if (!pids)
		return -ENOMEM;
	k = cldd_shadow_pids(cldd_of(req), pids, MAX_LISTED);
	for (i = 0; i < k && !ret; i++) {
		if (shadow_of(req, pids[i], &s))
			continue;
		snprintf(name, sizeof(name), "%d", (int)pids[i]);
		ret = cldd_dirbuf_add(req, b, name, cldd_ino_fwdpid(pids[i]), S_IFDIR);
	}
	free(pids);
	return ret;
}

static void fwd_opendir(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	cldd_dir_list(req, n, CLDD_INO_NODE, fi, fwd_add);
}

static void any_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	(void)fi;
	cldd_reply_err(req, n->kind == CLDD_K_FWDFD ? ELOOP : EISDIR);
}

const struct cldd_kind_ops cldd_kind_fwd = {
	.lookup = fwd_lookup,
	.getattr = fwd_getattr,
	.opendir = fwd_opendir,
	.open = any_open,
};

/* ---- .fwd/<pid>/ ---------------------------------------------------------- */

static void pid_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	struct shadow_fds s;
	struct stat st;

	if (shadow_of(req, n->pid, &s)) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	dir_stat(n->ino, 0500, s.uid, s.gid, &st);
	cldd_stat_time(&st, s.start_ns);
	fuse_reply_attr(req, &st, FWD_TIMEOUT);
}

static void pid_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	int fd = cldd_parse_fd(name);
	struct shadow_fds s;
	struct stat st;
	int ret;

	ret = shadow_of(req, dir->pid, &s);
	if (!ret && (fd < 0 || !has_fd(&s, fd)))
		ret = -ENOENT;
	if (!ret)
		ret = fd_stat(dir->pid, fd, &s, &st);
	if (ret)
		cldd_reply_err(req, -ret);
	else
		reply_entry(req, &st);
}

static int pid_add(fuse_req_t req, const struct cldd_ino *n, struct cldd_dirbuf *b)
{
	struct shadow_fds s;
	char name[16];
	int i, ret = 0;

	if (shadow_of(req, n->pid, &s))
		return 0; /* gone since the open */
	for (i = 0; i < s.n && !ret; i++) {
		snprintf(name, sizeof(name), "%d", s.fds[i]);
		ret = cldd_dirbuf_add(req, b, name, cldd_ino_fwdfd(n->pid, s.fds[i]), S_IFLNK);
	}
	return ret;
}

static void pid_opendir(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	struct shadow_fds s;

	if (shadow_of(req, n->pid, &s))
		cldd_reply_err(req, ENOENT);
	else
		cldd_dir_list(req, n, CLDD_INO_FWD, fi, pid_add);
}

const struct cldd_kind_ops cldd_kind_fwdpid = {
	.lookup = pid_lookup,
	.getattr = pid_getattr,
	.opendir = pid_opendir,
	.open = any_open,
};

/* ---- .fwd/<pid>/<fd> ------------------------------------------------------ */

static void fd_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	struct shadow_fds s;
	struct stat st;
	int ret = shadow_of(req, n->pid, &s);

	if (!ret && !has_fd(&s, n->fd))
		ret = -ENOENT;
	if (!ret)
		ret = fd_stat(n->pid, n->fd, &s, &st);
	if (ret)
		cldd_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, FWD_TIMEOUT);
}

static void fd_readlink(fuse_req_t req, const struct cldd_ino *n)
{
	struct shadow_fds s;
	char buf[4096];
	int ret = shadow_of(req, n->pid, &s);

	if (!ret && !has_fd(&s, n->fd))
		ret = -ENOENT;
	if (!ret)
		ret = fd_target(n->pid, n->fd, buf, sizeof(buf));
	if (ret < 0)
		cldd_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, buf);
}

const struct cldd_kind_ops cldd_kind_fwdfd = {
	.getattr = fd_getattr,
	.readlink = fd_readlink,
	.open = any_open,
};
