/* SPDX-License-Identifier: MIT */
/*
 * /clondike/<peer>/ on this node: FUSE requests on another node's
 * directory and images, answered when the peer's response arrives.
 * Image reads go in 1 MiB chunks with sequential read-ahead, through a
 * bounded cache keyed by the peer's freeze (so a re-read of the same frozen
 * image is local, and a new freeze never sees old bytes).
 *
 * Inodes: the directory of the peer in slot s is cldd_ino_rdir(s), its pid p
 * cldd_ino_rpid(s, p) (ino.h).  remote.c has lookups, listings and
 * attributes, remote_read.c open images, remote_cache.c the cache.
 */
#ifndef CLDD_REMOTE_H
#define CLDD_REMOTE_H

#include <stdint.h>
#include <sys/types.h>

#include "fs_kind.h"
#include "remote_cache.h"

struct cldd_peer;

/* The kind of a peer's process's image. */
extern const struct cldd_kind_ops cldd_kind_rpid;

/* The peer a remote inode belongs to (NULL if none or removed). */
struct cldd_peer *cldd_remote_peer(struct cldd *d, fuse_ino_t ino);

void cldd_remote_lookup(fuse_req_t req, struct cldd_peer *p, const char *name);
void cldd_remote_getattr(fuse_req_t req, fuse_ino_t ino);
void cldd_remote_opendir(fuse_req_t req, struct cldd_peer *p, struct fuse_file_info *fi);
void cldd_remote_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cldd_remote_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi);
void cldd_remote_lseek(fuse_req_t req, off_t off, int whence, struct fuse_file_info *fi);
void cldd_remote_release(fuse_req_t req, struct fuse_file_info *fi);
/* What an open remote image is: its node, pid, incarnation and size. */
int cldd_remote_source(const struct fuse_file_info *fi, struct cldd_peer **p, pid_t *pid,
		       uint64_t *start_ticks, uint64_t *size);
void cldd_remote_getxattr(fuse_req_t req, fuse_ino_t ino, const char *key, size_t size);

/* d->remote, with the smallest cache. */
int cldd_remote_init(struct cldd *d);
/* Cache budget in MiB (the configuration's "cache"). */
void cldd_remote_set_cache(struct cldd *d, unsigned int mib);

const struct cldd_remote_stats *cldd_remote_stats(struct cldd *d);

#endif /* CLDD_REMOTE_H */
