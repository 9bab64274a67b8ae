// SPDX-License-Identifier: MIT
/* The kind "an image being written": its bytes are incoming.c's buffer;
 * the writer's close waits for the verdict of the restart. */
#include "fs_in.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "incoming.h"
#include "mcopy.h"

void cldd_in_stat(const struct cldd_in *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = in->name[0] ? 1 : 0;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_size = (off_t)in->size;
	st->st_blocks = (blkcnt_t)((in->size + 511) / 512);
	st->st_blksize = CLDD_BLKSIZE;
	cldd_stat_time(st, in->mtime_ns);
}

static void in_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	struct cldd_in *in = cldd_in_by_ino(cldd_of(req), n->ino);
	struct stat st;

	if (!in) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	cldd_in_stat(in, &st);
	fuse_reply_attr(req, &st, 0);
}

static void in_setattr(fuse_req_t req, const struct cldd_ino *n, struct stat *attr, int to_set)
{
	struct cldd_in *in = cldd_in_by_ino(cldd_of(req), n->ino);
	struct stat st;
	int ret;

	if (!in) {
		cldd_reply_err(req, (to_set & FUSE_SET_ATTR_SIZE) ? EACCES : EPERM);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		ret = cldd_in_truncate(in, (uint64_t)attr->st_size);
		if (ret) {
			cldd_reply_err(req, -ret);
			return;
		}
	}
	cldd_in_stat(in, &st);
	fuse_reply_attr(req, &st, 0);
}

static void in_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_in *in = cldd_in_by_ino(cldd_of(req), n->ino);
	int ret;

	if (!in) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != in->uid) {
		cldd_reply_err(req, EACCES);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY && in->state != CLDD_IN_WRITING) {
		cldd_reply_err(req, EBUSY);
		return;
	}
	if (fi->flags & O_TRUNC) {
		ret = cldd_in_truncate(in, 0);
		if (ret) {
			cldd_reply_err(req, -ret);
			return;
		}
	}
	in->refs++;
	fi->fh = (uint64_t)(uintptr_t)in;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi))
		cldd_in_put(in);
}

static void in_read(fuse_req_t req, const struct cldd_ino *n, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = cldd_fs_rbuf(req, size);

	(void)n;
	if (buf) {
		int fd = ((struct cldd_in *)(uintptr_t)fi->fh)->fd;
		ssize_t r = pread(fd, buf, size, off);

		cldd_reply_read(req, buf, r < 0 ? -errno : r);
	}
}

static void in_lseek(fuse_req_t req, const struct cldd_ino *n, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct cldd_in *in = (struct cldd_in *)(uintptr_t)fi->fh;
	off_t r;

	(void)n;
	r = lseek(in->fd, off, whence);
	if (r < 0)
		cldd_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

static void in_release(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	(void)n;
	cldd_in_put((struct cldd_in *)(uintptr_t)fi->fh);
	cldd_reply_err(req, 0);
}

static void in_write(fuse_req_t req, const struct cldd_ino *n, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct cldd_in *in = (struct cldd_in *)(uintptr_t)fi->fh;
	ssize_t r;

	(void)n;
	if (cldd_mcopy_write(req, in, size, (uint64_t)off))
		return;
	r = cldd_in_write(in, buf, size, (uint64_t)off);
	if (r < 0)
		cldd_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void flush_done(void *arg, int ret)
{
	cldd_reply_err(arg, -ret);
}

static void in_flush(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	struct cldd_in *in = (struct cldd_in *)(uintptr_t)fi->fh;

	(void)n;
	/* The writer's close waits for the verdict (off the loop). */
	if (in->dirty || in->state != CLDD_IN_WRITING) {
		cldd_in_finish(in, flush_done, req);
		return;
	}
	cldd_reply_err(req, 0);
}

static int in_xattr(const struct cldd_in *in, const char *key, char *v, size_t cap)
{
	/* In the order of enum cldd_in_state. */
	static const char *const st[] = { "writing", "restarting", "restarted",
					  "failed",  "migrating",  "migrated" };
	int n;

	if (!strcmp(key, "state"))
		n = snprintf(v, cap, "%s", st[in->state]);
	else if (!strcmp(key, "uid"))
		n = snprintf(v, cap, "%u", (unsigned)in->uid);
	else if (!strcmp(key, "pid") && in->state == CLDD_IN_RESTARTED)
		n = snprintf(v, cap, "%d", (int)in->pid);
	else if (!strcmp(key, "error") && in->result)
		n = snprintf(v, cap, "%s", strerror(-in->result));
	else
		return -ENODATA;
	return n;
}

static void in_getxattr(fuse_req_t req, const struct cldd_ino *n, const char *key, size_t size)
{
	struct cldd_in *in = cldd_in_by_ino(cldd_of(req), n->ino);
	char v[4096];
	int r;

	r = in ? in_xattr(in, key, v, sizeof(v)) : -ENOENT;
	if (r < 0)
		cldd_reply_err(req, -r);
	else
		cldd_reply_xattr(req, v, (size_t)r, size);
}

static void in_listxattr(fuse_req_t req, const struct cldd_ino *n, size_t size)
{
	static const char *const names[] = { "state", "uid", "pid", "error" };
	struct cldd_in *in = cldd_in_by_ino(cldd_of(req), n->ino);
	char list[512], v[256];
	size_t len = 0, i;

	/* Only the ones that have a value: getfattr -d reads them all. */
	for (i = 0; in && i < 4; i++)
		if (in_xattr(in, names[i], v, sizeof(v)) >= 0)
			len = cldd_xattr_list_add(list, sizeof(list), len, names[i]);
	cldd_reply_xattr(req, list, len, size);
}

const struct cldd_kind_ops cldd_kind_in = {
	.getattr = in_getattr,
	.setattr = in_setattr,
	.open = in_open,
	.read = in_read,
	.lseek = in_lseek,
	.release = in_release,
	.write = in_write,
	.flush = in_flush,
	.getxattr = in_getxattr,
	.listxattr = in_listxattr,
};
