/* SPDX-License-Identifier: MIT */
/*
 * What every inode kind of /clondike is made of: a table of operations
 * (struct cldd_kind_ops) that fs.c dispatches to once it has decoded the
 * inode number (ino.h), and the helpers those operations share: replies,
 * directory listings, attributes, the read buffer.
 *
 * A kind answers only what it fills in; fs.c answers the rest with the
 * errno a file of that sort would give (never ENOSYS).
 */
#ifndef CLDD_FS_KIND_H
#define CLDD_FS_KIND_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cldd.h"
#include "ino.h"

/* The daemon object is the session's userdata. */
static inline struct cldd *cldd_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The FUSE side of the daemon (struct cldd's fs). */
struct cldd_fs {
	char node[64];
	struct fuse_session *se;
	char *rbuf; /* read buffer, rbuf_cap bytes */
	size_t rbuf_cap;
	/* Image reads bypass the page cache (else: cached, with readahead;
	 * see docs/clondiked.md "Reads"). */
	int direct_io;
};

static inline struct cldd_fs *cldd_fs_of(fuse_req_t req)
{
	return cldd_of(req)->fs;
}

/* A read buffer of at least size bytes; NULL when out of memory, and req
 * is answered. */
char *cldd_fs_rbuf(fuse_req_t req, size_t size);
/* The answer to a read of r bytes into buf, or a negative errno. */
void cldd_reply_read(fuse_req_t req, const char *buf, ssize_t r);

/* One kind's operations; n is the decoded inode (for lookup, create and
 * unlink: the directory). */
struct cldd_kind_ops {
	/* Its images may be the source of `cp` to another node: reads of
	 * the copier end once that migration committed (mcopy.c). */
	bool migrates;
	void (*lookup)(fuse_req_t req, const struct cldd_ino *dir, const char *name);
	void (*getattr)(fuse_req_t req, const struct cldd_ino *n);
	void (*setattr)(fuse_req_t req, const struct cldd_ino *n, struct stat *attr, int to_set);
	void (*opendir)(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi);
	void (*open)(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi);
	/* read, lseek: fi->fh is set (fs.c answers EBADF otherwise). */
	void (*read)(fuse_req_t req, const struct cldd_ino *n, size_t size, off_t off,
		     struct fuse_file_info *fi);
	void (*lseek)(fuse_req_t req, const struct cldd_ino *n, off_t off, int whence,
		      struct fuse_file_info *fi);
	void (*release)(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi);
	void (*create)(fuse_req_t req, const struct cldd_ino *dir, const char *name,
		       struct fuse_file_info *fi);
	void (*write)(fuse_req_t req, const struct cldd_ino *n, const char *buf, size_t size,
		      off_t off, struct fuse_file_info *fi);
	void (*flush)(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi);
	void (*fsync)(fuse_req_t req, const struct cldd_ino *n, int datasync,
		      struct fuse_file_info *fi);
	void (*unlink)(fuse_req_t req, const struct cldd_ino *dir, const char *name);
	/* key: the name without CLDD_XA. */
	void (*getxattr)(fuse_req_t req, const struct cldd_ino *n, const char *key, size_t size);
	void (*listxattr)(fuse_req_t req, const struct cldd_ino *n, size_t size);
	void (*readlink)(fuse_req_t req, const struct cldd_ino *n);
};

/* Reads and writes of up to 1 MiB: cp and cat use st_blksize. */
#define CLDD_BLKSIZE (1u << 20)
#define CLDD_DIR_TIMEOUT 3600.0
/*
 * Unfrozen process files: attributes cached for a second (ls -l of a
 * thousand processes then needs one LOOKUP each, not LOOKUP + GETATTR).
 * Freezing and thawing invalidate them, so an open file always sees exact
 * values; frozen ones are not cached at all.
 */
#define CLDD_PID_TIMEOUT 1.0
/* The namespace of our extended attributes. */
#define CLDD_XA "user.clondike."

/* fuse_reply_err, never with ENOSYS. */
void cldd_reply_err(fuse_req_t req, int e);
/* A value for getxattr (or a list for listxattr): its size when size is 0,
 * ERANGE when too big. */
void cldd_reply_xattr(fuse_req_t req, const char *v, size_t n, size_t size);
/* Append CLDD_XA name and its NUL to a list of len bytes; the new length. */
size_t cldd_xattr_list_add(char *list, size_t cap, size_t len, const char *name);

/* A directory listing built at opendir, served by readdir. */
struct cldd_dirbuf {
	char *p;
	size_t len, cap;
};
int cldd_dirbuf_add(fuse_req_t req, struct cldd_dirbuf *b, const char *name, fuse_ino_t ino,
		    mode_t mode);
void cldd_dirbuf_free(struct cldd_dirbuf *b);
/* Open directory n: a listing of ".", ".." (parent) and what add() adds,
 * handed to readdir in fi->fh. */
void cldd_dir_list(fuse_req_t req, const struct cldd_ino *n, fuse_ino_t parent,
		   struct fuse_file_info *fi,
		   int (*add)(fuse_req_t req, const struct cldd_ino *n, struct cldd_dirbuf *b));

void cldd_stat_time(struct stat *st, uint64_t ns);
/* The fd a .fwd/<pid>/ entry names ("3"), below 2^CLDD_FWDFD_BITS; -1
 * if the name is not one. */
int cldd_parse_fd(const char *name);
struct cldp_pentry;
/* The stat of a process image described by pe (local or a peer's): exact
 * while frozen, estimated otherwise. */
void cldd_pentry_stat(const struct cldp_pentry *pe, fuse_ino_t ino, struct stat *st);

#endif /* CLDD_FS_KIND_H */
