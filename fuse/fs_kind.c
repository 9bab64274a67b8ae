// SPDX-License-Identifier: MIT
#include "fs_kind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clondike/proto.h"

char *cldd_fs_rbuf(fuse_req_t req, size_t size)
{
	struct cldd_fs *fs = cldd_fs_of(req);

	if (size > fs->rbuf_cap) {
		char *p = realloc(fs->rbuf, size);

		if (!p) {
			cldd_reply_err(req, ENOMEM);
			return NULL;
		}
		fs->rbuf = p;
		fs->rbuf_cap = size;
	}
	return fs->rbuf;
}

void cldd_reply_read(fuse_req_t req, const char *buf, ssize_t r)
{
	if (r < 0)
		cldd_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

/*
 * Never answer ENOSYS: the kernel would take it as "operation not
 * implemented" and stop sending it (an open that answered ENOSYS once
 * would never reach the daemon again).
 */
void cldd_reply_err(fuse_req_t req, int e)
{
	fuse_reply_err(req, e == ENOSYS ? EOPNOTSUPP : e);
}

void cldd_reply_xattr(fuse_req_t req, const char *v, size_t n, size_t size)
{
	if (!size)
		fuse_reply_xattr(req, n);
	else if (n > size)
		cldd_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, n);
}

size_t cldd_xattr_list_add(char *list, size_t cap, size_t len, const char *name)
{
	return len + (size_t)snprintf(list + len, cap - len, "%s%s", CLDD_XA, name) + 1;
}

void cldd_dirbuf_free(struct cldd_dirbuf *b)
{
	free(b->p);
	free(b);
}

int cldd_dirbuf_add(fuse_req_t req, struct cldd_dirbuf *b, const char *name, fuse_ino_t ino,
		    mode_t mode)
{
	struct stat st;
	size_t need;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = mode;
	need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16384;
		char *p;

		while (cap < b->len + need)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	fuse_add_direntry(req, b->p + b->len, need, name, &st, (off_t)(b->len + need));
	b->len += need;
	return 0;
}

void cldd_dir_list(fuse_req_t req, const struct cldd_ino *n, fuse_ino_t parent,
		   struct fuse_file_info *fi,
		   int (*add)(fuse_req_t req, const struct cldd_ino *n, struct cldd_dirbuf *b))
{
	struct cldd_dirbuf *b = calloc(1, sizeof(*b));
	int ret;

	if (!b) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	ret = cldd_dirbuf_add(req, b, ".", n->ino, S_IFDIR);
	if (!ret)
		ret = cldd_dirbuf_add(req, b, "..", parent, S_IFDIR);
	if (!ret)
		ret = add(req, n, b);
	if (ret) {
		cldd_dirbuf_free(b);
		cldd_reply_err(req, -ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)b;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

void cldd_stat_time(struct stat *st, uint64_t ns)
{
	st->st_mtim.tv_sec = (time_t)(ns / 1000000000ull);
	st->st_mtim.tv_nsec = (long)(ns % 1000000000ull);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

int cldd_parse_fd(const char *name)
{
	char *end;
	long fd;

	errno = 0;
	fd = strtol(name, &end, 10);
	if (errno || end == name || *end || fd < 0 || fd >= (1l << CLDD_FWDFD_BITS))
		return -1;
	return (int)fd;
}

void cldd_pentry_stat(const struct cldp_pentry *pe, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	st->st_uid = pe->uid;
	st->st_gid = pe->gid;
	st->st_blksize = CLDD_BLKSIZE;
	st->st_size = (off_t)pe->size;
	st->st_blocks = (blkcnt_t)((pe->data_bytes + 511) / 512);
	cldd_stat_time(st, pe->mtime_ns);
}
