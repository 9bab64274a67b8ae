/* SPDX-License-Identifier: MIT */
/*
 * The /clondike filesystem of one node: the fuse_lowlevel_ops table.
 *
 *   /            inode 1
 *   <node>/      inode 2, mode 1777 (anyone may drop an image in)
 *   <pid>        inode (1 << 32) + pid, generation = process start ticks
 *   <name>       an image being written: inode (2 << 32) + n
 */
#ifndef CLDD_FS_H
#define CLDD_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>

struct cldd_fs {
	char node[64];
	struct fuse_session *se;
	char *rbuf; /* read buffer, rbuf_cap bytes */
	size_t rbuf_cap;
	/* Image reads bypass the page cache (else: cached, with readahead;
	 * see docs/clondiked.md "Reads"). */
	int direct_io;
};

extern const struct fuse_lowlevel_ops cldd_fs_ops;

/* The image of local pid p is inode CLDD_INO_PID_BASE + p. */
#define CLDD_INO_PID_BASE (1ull << 32)

/* Unfrozen process files: attributes cached this long (seconds). */
#define CLDD_PID_TIMEOUT 1.0

struct cldp_pentry;

/* A directory listing built at opendir, served by readdir. */
struct cldd_dirbuf {
	char *p;
	size_t len, cap;
};
int cldd_dirbuf_add(fuse_req_t req, struct cldd_dirbuf *b, const char *name, fuse_ino_t ino,
		    mode_t mode);
void cldd_dirbuf_free(struct cldd_dirbuf *b);

/* fuse_reply_err, never with ENOSYS (see fs.c). */
void cldd_reply_err(fuse_req_t req, int e);
/* A value for getxattr: its size when size is 0, ERANGE when too big. */
void cldd_reply_xattr(fuse_req_t req, const char *v, size_t n, size_t size);
/* The stat of a process image described by pe. */
void cldd_pentry_stat(const struct cldp_pentry *pe, fuse_ino_t ino, struct stat *st);
/* user.clondike.<key> of a local pid; node is this node's name. */
int cldd_pid_xattr(const char *node, pid_t pid, const char *key, char *v, size_t cap);
struct fuse_session *cldd_fs_session(void);

#endif /* CLDD_FS_H */
