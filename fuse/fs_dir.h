/* SPDX-License-Identifier: MIT */
/*
 * The directory kinds of /clondike: the root, this node's directory (where
 * its processes are listed and images are written) and a peer's directory
 * (whose lookups and listings remote.c asks the peer for).
 */
#ifndef CLDD_FS_DIR_H
#define CLDD_FS_DIR_H

#include "fs_kind.h"

extern const struct cldd_kind_ops cldd_kind_root;
extern const struct cldd_kind_ops cldd_kind_node;
extern const struct cldd_kind_ops cldd_kind_rdir;

#endif /* CLDD_FS_DIR_H */
