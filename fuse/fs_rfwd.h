/* SPDX-License-Identifier: MIT */
/*
 * <peer>/.fwd/<pid>/<fd>: a regular file that process pid of that peer
 * holds open as fd, for a guest here that cannot open the same file itself
 * (docs/shadow.md, "Forwarded files").  Every operation on it is a FILE
 * request to the peer, done there on the process's own open file: read,
 * write, pread/pwrite (the offset is ours), fstat, ftruncate, fsync.
 * Nothing is cached: reads and writes go direct, attributes expire at
 * once, so home and guest see one file.  .fwd and .fwd/<pid>/ are found
 * by name only and list nothing.
 */
#ifndef CLDD_FS_RFWD_H
#define CLDD_FS_RFWD_H

#include "fs_kind.h"

/* d->rfwd; requests whose peer is down wait up to lost_ms for it. */
int cldd_rfwd_init(struct cldd *d, unsigned int lost_ms);

/* Answer a lookup of .fwd in the directory of the peer in slot. */
void cldd_rfwd_reply_entry(fuse_req_t req, unsigned int slot);

extern const struct cldd_kind_ops cldd_kind_rfwd;
extern const struct cldd_kind_ops cldd_kind_rfwdpid;
extern const struct cldd_kind_ops cldd_kind_rfwdfd;

#endif /* CLDD_FS_RFWD_H */
