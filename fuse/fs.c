// SPDX-License-Identifier: MIT
/*
 * The FUSE operations: each decodes the inode once (ino.h) and hands the
 * request to its kind's table (fs_kind.h); what a kind does not answer
 * gets the errno a file of its sort would give, never ENOSYS.
 */
#include "fs.h"

#include <errno.h>
#include <string.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#include "frozen.h"
#include "fs_dir.h"
#include "fs_fwd.h"
#include "fs_in.h"
#include "fs_pid.h"
#include "fs_rfwd.h"
#include "log.h"
#include "mcopy.h"
#include "migrate.h"
#include "peer.h"
#include "procs.h"
#include "remote.h"

static const struct cldd_kind_ops none_kind;

static const struct cldd_kind_ops *const kinds[CLDD_K_COUNT] = {
	[CLDD_K_NONE] = &none_kind,	 [CLDD_K_ROOT] = &cldd_kind_root,
	[CLDD_K_NODE] = &cldd_kind_node, [CLDD_K_RDIR] = &cldd_kind_rdir,
	[CLDD_K_PID] = &cldd_kind_pid,	 [CLDD_K_IN] = &cldd_kind_in,
	[CLDD_K_RPID] = &cldd_kind_rpid, [CLDD_K_FWD] = &cldd_kind_fwd,
	[CLDD_K_FWDPID] = &cldd_kind_fwdpid, [CLDD_K_FWDFD] = &cldd_kind_fwdfd,
	[CLDD_K_RFWD] = &cldd_kind_rfwd, [CLDD_K_RFWDPID] = &cldd_kind_rfwdpid,
	[CLDD_K_RFWDFD] = &cldd_kind_rfwdfd,
};

/* The decoded inode and its kind's table. */
static const struct cldd_kind_ops *kind_of(fuse_ino_t ino, struct cldd_ino *n)
{
	cldd_ino_decode(ino, n);
	return kinds[n->kind];
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

static void ll_destroy(void *userdata)
{
	cldd_freeze_thaw_all(userdata);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(parent, &n);

	if (k->lookup)
		k->lookup(req, &n, name);
	else
		cldd_reply_err(req, ENOTDIR);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	(void)fi;
	if (k->getattr)
		k->getattr(req, &n);
	else
		cldd_reply_err(req, ENOENT);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	(void)fi;
	if (k->setattr)
		k->setattr(req, &n, attr, to_set);
	else /* images of live processes are read only */
		cldd_reply_err(req, (to_set & FUSE_SET_ATTR_SIZE) ? EACCES : EPERM);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->opendir)
		k->opendir(req, &n, fi);
	else
		cldd_reply_err(req, ENOTDIR);
}

/* Every directory's listing is a cldd_dirbuf built at opendir. */
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct cldd_dirbuf *b = (struct cldd_dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	if (off < 0 || (size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Entries never straddle: the kernel parses whole dirents and stops
	 * at the first incomplete one, asking again from its offset. */
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	fuse_reply_buf(req, b->p + off, size);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	cldd_dirbuf_free((struct cldd_dirbuf *)(uintptr_t)fi->fh);
	cldd_reply_err(req, 0);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->open)
		k->open(req, &n, fi);
	else
		cldd_reply_err(req, ENOENT);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (!fi->fh || !k->read) {
		cldd_reply_err(req, EBADF);
		return;
	}
	if (k->migrates && cldd_mcopy_eof(cldd_of(req), ino, fuse_req_ctx(req)->pid)) {
		fuse_reply_buf(req, NULL, 0); /* its copy was a migration, done */
		return;
	}
	k->read(req, &n, size, off, fi);
}

static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (!fi->fh || !k->lseek) {
		cldd_reply_err(req, EBADF);
		return;
	}
	if (k->migrates && cldd_mcopy_eof(cldd_of(req), ino, fuse_req_ctx(req)->pid)) {
		cldd_reply_err(req, ENXIO);
		return;
	}
	k->lseek(req, &n, off, whence, fi);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->release)
		k->release(req, &n, fi);
	else
		cldd_reply_err(req, 0);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(parent, &n);

	(void)mode;
	if (k->create)
		k->create(req, &n, name, fi);
	else
		cldd_reply_err(req, EACCES);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->write)
		k->write(req, &n, buf, size, off, fi);
	else
		cldd_reply_err(req, EBADF);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->flush)
		k->flush(req, &n, fi);
	else
		cldd_reply_err(req, 0);
}

/* Images have nothing to write back: fsync is a no-op, as on a file
 * opened read only. */
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->fsync)
		k->fsync(req, &n, datasync, fi);
	else
		cldd_reply_err(req, 0);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(parent, &n);

	if (k->unlink)
		k->unlink(req, &n, name);
	else
		cldd_reply_err(req, EPERM);
}

/* mv /clondike/A/PID /clondike/B/[NAME]: a migration (docs/migration.md). */
static void renamed(void *arg, int ret, const struct cldp_migrate_resp *r)
{
	(void)r;
	cldd_reply_err(arg, -ret);
}

static bool is_node_dir(const struct cldd_ino *n)
{
	return n->kind == CLDD_K_NODE || n->kind == CLDD_K_RDIR;
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_peer *home = NULL, *target = NULL;
	pid_t pid = cldd_parse_pid(name);
	const char *node = cldd_fs_of(req)->node;
	struct cldd_ino from, to;

	(void)newname;
	cldd_ino_decode(parent, &from);
	cldd_ino_decode(newparent, &to);
	/* mv asks RENAME_NOREPLACE: the guest's name is its own anyway. */
	if ((flags & ~RENAME_NOREPLACE) || !pid || parent == newparent || !is_node_dir(&from) ||
	    !is_node_dir(&to)) {
		/* Only a process moves, and only to another node. */
		cldd_reply_err(req, parent == newparent ? EPERM : EXDEV);
		return;
	}
	if (from.kind == CLDD_K_RDIR && !(home = cldd_remote_peer(cldd_of(req), parent))) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	if (to.kind == CLDD_K_RDIR && !(target = cldd_remote_peer(cldd_of(req), newparent))) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	cldd_info("uid %u moves %s:%d to %s (mv)", (unsigned)ctx->uid,
		  home ? home->conf.name : node, (int)pid, target ? target->conf.name : node);
	cldd_migrate_request(cldd_of(req), home, pid, 0, target, ctx->uid, ctx->gid, renamed, req);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (strncmp(name, CLDD_XA, strlen(CLDD_XA)) || !k->getxattr)
		cldd_reply_err(req, ENODATA);
	else
		k->getxattr(req, &n, name + strlen(CLDD_XA), size);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->listxattr)
		k->listxattr(req, &n, size);
	else
		cldd_reply_xattr(req, NULL, 0, size);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cldd_ino n;
	const struct cldd_kind_ops *k = kind_of(ino, &n);

	if (k->readlink)
		k->readlink(req, &n);
	else
		cldd_reply_err(req, EINVAL); /* not a symbolic link */
}

const struct fuse_lowlevel_ops cldd_fs_ops = {
	.readlink = ll_readlink,
	.init = ll_init,
	.destroy = ll_destroy,
	.lookup = ll_lookup,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.releasedir = ll_releasedir,
	.open = ll_open,
	.read = ll_read,
	.lseek = ll_lseek,
	.release = ll_release,
	.create = ll_create,
	.write = ll_write,
	.flush = ll_flush,
	.fsync = ll_fsync,
	.copy_file_range = cldd_mcopy_copy_file_range,
	.unlink = ll_unlink,
	.rename = ll_rename,
	.getxattr = ll_getxattr,
	.listxattr = ll_listxattr,
};
