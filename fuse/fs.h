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

#endif /* CLDD_FS_H */
