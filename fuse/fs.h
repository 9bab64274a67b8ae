/* SPDX-License-Identifier: MIT */
/*
 * The /clondike filesystem of one node: the fuse_lowlevel_ops table, whose
 * operations dispatch on the inode's kind (ino.h) to that kind's table
 * (fs_kind.h): fs_dir.c (the root, this node's and the peers' directories),
 * fs_pid.c (local processes), fs_in.c (images being written), remote.c (a
 * peer's processes).
 */
#ifndef CLDD_FS_H
#define CLDD_FS_H

#include "fs_kind.h"

extern const struct fuse_lowlevel_ops cldd_fs_ops;

#endif /* CLDD_FS_H */
