// SPDX-License-Identifier: MIT
/* The directory kinds: the root, this node's directory, a peer's. */
#include "fs_dir.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_in.h"
#include "fs_rfwd.h"
#include "fs_pid.h"
#include "incoming.h"
#include "log.h"
#include "mcopy.h"
#include "peer.h"
#include "procs.h"
#include "remote.h"
#include "fs_fwd.h"

static void dir_attr(fuse_ino_t ino, struct stat *st)
{
	struct cldd_ino n;

	cldd_ino_decode(ino, &n);
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	/* Anyone may drop an image into this node's directory; the
	 * directories of other nodes are read only (for now). */
	st->st_mode =
		n.kind == CLDD_K_NODE || n.kind == CLDD_K_RDIR ? S_IFDIR | 01777 : S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_blksize = CLDD_BLKSIZE;
}

static void dir_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	struct stat st;

	dir_attr(n->ino, &st);
	fuse_reply_attr(req, &st, CLDD_DIR_TIMEOUT);
}

static void dir_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	(void)n;
	(void)fi;
	cldd_reply_err(req, EISDIR);
}

/* ---- Extended attributes of node directories ------------------------------ */

static const char *const node_xattr_names[] = { "state", "role", "addr", "rtt_us", "error" };
#define NR_NODE_XATTRS (sizeof(node_xattr_names) / sizeof(node_xattr_names[0]))

/* Attributes of a node directory: what `clondike nodes` shows. */
static int node_xattr(struct cldd *d, fuse_ino_t ino, const char *key, char *v, size_t cap)
{
	const struct cld_node_conf *self = cldd_cluster_self(d->cluster);
	struct cldd_peer *p = ino == CLDD_INO_NODE ? NULL : cldd_remote_peer(d, ino);
	const struct cld_node_conf *n = p ? &p->conf : self;

	if (ino != CLDD_INO_NODE && !p)
		return -ENOENT;
	if (!strcmp(key, "state"))
		return snprintf(v, cap, "%s", !p ? "self" : p->conn ? "up" : "down");
	if (!strcmp(key, "role"))
		return snprintf(v, cap, "%s", cld_role_name(n ? n->role : CLD_ROLE_CORE));
	if (!strcmp(key, "addr") && n)
		return snprintf(v, cap, strchr(n->host, ':') ? "[%s]:%u" : "%s:%u", n->host,
				(unsigned int)n->port);
	if (!strcmp(key, "rtt_us") && p && p->conn && p->rtt_ns)
		return snprintf(v, cap, "%llu", (unsigned long long)(p->rtt_ns / 1000));
	if (!strcmp(key, "error") && p && p->error[0] && !p->conn)
		return snprintf(v, cap, "%s", p->error);
	return -ENODATA;
}

static void node_getxattr(fuse_req_t req, const struct cldd_ino *n, const char *key, size_t size)
{
	char v[4096];
	int r;

	r = node_xattr(cldd_of(req), n->ino, key, v, sizeof(v));
	if (r > (int)sizeof(v) - 1)
		r = (int)sizeof(v) - 1;
	if (r < 0)
		cldd_reply_err(req, -r);
	else
		cldd_reply_xattr(req, v, (size_t)r, size);
}

static void node_listxattr(fuse_req_t req, const struct cldd_ino *n, size_t size)
{
	char list[512], v[512];
	size_t len = 0, i;

	for (i = 0; i < NR_NODE_XATTRS; i++)
		if (node_xattr(cldd_of(req), n->ino, node_xattr_names[i], v, sizeof(v)) >= 0)
			len = cldd_xattr_list_add(list, sizeof(list), len, node_xattr_names[i]);
	cldd_reply_xattr(req, list, len, size);
}

/* ---- The root -------------------------------------------------------------- */

static void root_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	struct cldd_peer *p = cldd_peer_by_name(cldd_of(req)->cluster, name);
	struct fuse_entry_param e;

	(void)dir;
	memset(&e, 0, sizeof(e));
	if (!strcmp(name, cldd_fs_of(req)->node))
		e.ino = CLDD_INO_NODE;
	else if (p && !p->removed && p->slot < CLDD_RDIR_MAX)
		e.ino = cldd_ino_rdir(p->slot);
	else {
		cldd_reply_err(req, ENOENT);
		return;
	}
	dir_attr(e.ino, &e.attr);
	e.attr_timeout = e.entry_timeout = CLDD_DIR_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static int root_add(fuse_req_t req, const struct cldd_ino *dir, struct cldd_dirbuf *b)
{
	const struct cldd_cluster *cl = cldd_of(req)->cluster;
	unsigned int s;
	int ret;

	(void)dir;
	ret = cldd_dirbuf_add(req, b, cldd_fs_of(req)->node, CLDD_INO_NODE, S_IFDIR);
	for (s = 0; !ret && s < cldd_peer_slots(cl) && s < CLDD_RDIR_MAX; s++) {
		struct cldd_peer *p = cldd_peer_by_slot(cl, s);

		if (!p->removed)
			ret = cldd_dirbuf_add(req, b, p->conf.name, cldd_ino_rdir(s), S_IFDIR);
	}
	return ret;
}

static void root_opendir(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	cldd_dir_list(req, n, CLDD_INO_ROOT, fi, root_add);
}

static void root_getxattr(fuse_req_t req, const struct cldd_ino *n, const char *key, size_t size)
{
	const struct cldd_remote_stats *st = cldd_remote_stats(cldd_of(req));
	char v[4096];
	int r;

	(void)n;
	if (strcmp(key, "stats")) {
		cldd_reply_err(req, ENODATA);
		return;
	}
	/* Remote reads: what came from the cache, what crossed the network,
	 * and how often a reader had to wait. */
	r = snprintf(v, sizeof(v),
		     "chunk_hits=%llu chunk_fetches=%llu bytes_fetched=%llu "
		     "readahead=%llu waits=%llu",
		     (unsigned long long)st->chunk_hits, (unsigned long long)st->chunk_fetches,
		     (unsigned long long)st->bytes_fetched, (unsigned long long)st->readahead,
		     (unsigned long long)st->waits);
	cldd_reply_xattr(req, v, (size_t)r, size);
}

static void root_listxattr(fuse_req_t req, const struct cldd_ino *n, size_t size)
{
	char list[64];
	size_t len;

	(void)n;
	len = cldd_xattr_list_add(list, sizeof(list), 0, "stats");
	cldd_reply_xattr(req, list, len, size);
}

const struct cldd_kind_ops cldd_kind_root = {
	.lookup = root_lookup,
	.getattr = dir_getattr,
	.opendir = root_opendir,
	.open = dir_open,
	.getxattr = root_getxattr,
	.listxattr = root_listxattr,
};

/* ---- This node's directory ------------------------------------------------- */

static void node_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	struct fuse_entry_param e;
	struct cldd_in *in;
	pid_t pid;

	(void)dir;
	if (!strcmp(name, CLDD_FWD_NAME)) {
		cldd_fwd_reply_entry(req);
		return;
	}
	pid = cldd_parse_pid(name);
	if (pid) {
		unsigned long long start_ticks;
		struct stat st;
		int vis = cldd_pid_vis(req, pid);

		/* Hidden by hidepid: as if there were no such process. */
		if (vis >= 0 && cldd_pid_attr(cldd_of(req), pid, &start_ticks, &st) >= 0) {
			cldd_pid_reply_entry(req, pid, vis);
			return;
		}
	}
	in = cldd_in_by_name(cldd_of(req), name);
	if (!in) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	/* A restarted image's name is an alias of its process. */
	if (in->state == CLDD_IN_RESTARTED) {
		int vis = cldd_pid_vis(req, in->pid);

		if (vis < 0)
			cldd_reply_err(req, -vis);
		else
			cldd_pid_reply_entry(req, in->pid, vis);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = in->ino;
	cldd_in_stat(in, &e.attr);
	fuse_reply_entry(req, &e);
}

static int node_add(fuse_req_t req, const struct cldd_ino *dir, struct cldd_dirbuf *b)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	pid_t *pids = NULL;
	size_t n = 0, i;
	char name[16];
	int ret;

	(void)dir;
	ret = cldd_proc_list(ctx->uid, &pids, &n);
	if (ret) {
		cldd_err("readdir: listing /proc: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; !ret && i < n; i++) {
		/* hidepid=invisible/ptraceable: not listed either. */
		if (ctx->uid != 0 && cldd_pid_vis(req, pids[i]) < 0)
			continue;
		snprintf(name, sizeof(name), "%d", (int)pids[i]);
		ret = cldd_dirbuf_add(req, b, name, cldd_ino_pid(pids[i]), S_IFREG);
	}
	free(pids);
	return ret;
}

static void node_opendir(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	cldd_dir_list(req, n, CLDD_INO_ROOT, fi, node_add);
}

/* A new image, written here or (target set) the target of a migration by
 * cp; unnamed: reached by inode only. */
static void create_in(fuse_req_t req, const char *name, struct fuse_file_info *fi,
		      struct cldd_peer *target, bool unnamed)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct cld_err err = { 0 };
	struct cldd_in *in;
	int ret;

	ret = cldd_in_create(cldd_of(req), name, ctx->uid, ctx->gid, &in, &err);
	if (ret) {
		cldd_err("create %s: %s", name, cld_err_str(&err));
		cldd_reply_err(req, -ret);
		return;
	}
	in->unnamed = unnamed;
	if (target) {
		in->remote = true;
		in->target_slot = target->slot;
	}
	cldd_mcopy_created(cldd_of(req), in, ctx->pid);
	memset(&e, 0, sizeof(e));
	e.ino = in->ino;
	cldd_in_stat(in, &e.attr);
	fi->fh = (uint64_t)(uintptr_t)in;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi))
		cldd_in_put(in);
}

static void node_create(fuse_req_t req, const struct cldd_ino *dir, const char *name,
			struct fuse_file_info *fi)
{
	pid_t pid = cldd_parse_pid(name);

	(void)dir;
	if (cldd_in_by_name(cldd_of(req), name) || !strcmp(name, CLDD_FWD_NAME)) {
		cldd_reply_err(req, EEXIST);
		return;
	}
	/* `cp /clondike/A/PID /clondike/here/` where PID is taken here: a
	 * migration may still land, under another pid. */
	create_in(req, name, fi, NULL, pid && kill(pid, 0) == 0);
}

static void node_unlink(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_in *in = cldd_in_by_name(cldd_of(req), name);

	(void)dir;
	if (!in) {
		cldd_reply_err(req, cldd_parse_pid(name) ? EPERM : ENOENT);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != in->uid) {
		cldd_reply_err(req, EACCES);
		return;
	}
	cldd_in_unlink(in);
	cldd_reply_err(req, 0);
}

const struct cldd_kind_ops cldd_kind_node = {
	.lookup = node_lookup,
	.getattr = dir_getattr,
	.opendir = node_opendir,
	.open = dir_open,
	.create = node_create,
	.unlink = node_unlink,
	.getxattr = node_getxattr,
	.listxattr = node_listxattr,
};

/* ---- A peer's directory ---------------------------------------------------- */

static void rdir_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	struct cldd_peer *p = cldd_remote_peer(cldd_of(req), dir->ino);

	if (!p)
		cldd_reply_err(req, ENOENT);
	else if (!strcmp(name, CLDD_FWD_NAME)) /* its processes' files, for guests here */
		cldd_rfwd_reply_entry(req, p->slot);
	else
		cldd_remote_lookup(req, p, name);
}

static void rdir_opendir(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	struct cldd_peer *p = cldd_remote_peer(cldd_of(req), n->ino);

	if (!p)
		cldd_reply_err(req, ENOENT);
	else
		cldd_remote_opendir(req, p, fi);
}

/* Only a migration's target (the copy_file_range of cp, mcopy.c). */
static void rdir_create(fuse_req_t req, const struct cldd_ino *dir, const char *name,
			struct fuse_file_info *fi)
{
	struct cldd_peer *target = cldd_remote_peer(cldd_of(req), dir->ino);

	if (!target) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	create_in(req, name, fi, target, true);
}

const struct cldd_kind_ops cldd_kind_rdir = {
	.lookup = rdir_lookup,
	.getattr = dir_getattr,
	.opendir = rdir_opendir,
	.open = dir_open,
	.create = rdir_create,
	.getxattr = node_getxattr,
	.listxattr = node_listxattr,
};
