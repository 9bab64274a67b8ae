/* SPDX-License-Identifier: MIT */
/*
 * <node>/.fwd/: the fds that this node's shadows keep for their guests
 * (docs/shadow.md, "Forwarded fds").  .fwd/<pid>/ is one shadow's, as
 * /proc/<pid>/fd/ is a process's: each entry <fd> is a symbolic link to
 * what the shadow's fd is ("pipe:[1234]", "/dev/pts/3", "socket:[77]"),
 * and is the file the guest's stand-in on the other node is relayed to.
 * .fwd is not listed in <node>/ (so listings stay pids and images), only
 * found by its name.
 */
#ifndef CLDD_FS_FWD_H
#define CLDD_FS_FWD_H

#include "fs_kind.h"

#define CLDD_FWD_NAME ".fwd"

/* Answer a lookup of .fwd in this node's directory. */
void cldd_fwd_reply_entry(fuse_req_t req);

extern const struct cldd_kind_ops cldd_kind_fwd;
extern const struct cldd_kind_ops cldd_kind_fwdpid;
extern const struct cldd_kind_ops cldd_kind_fwdfd;

#endif /* CLDD_FS_FWD_H */
