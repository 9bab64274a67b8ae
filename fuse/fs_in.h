/* SPDX-License-Identifier: MIT */
/*
 * The inode kind of an image being written into <node>/ (inode
 * cldd_ino_in(n)): its attributes, reads and writes of the buffer, the
 * close that restarts it (incoming.c owns the image).
 */
#ifndef CLDD_FS_IN_H
#define CLDD_FS_IN_H

#include "fs_kind.h"

struct cldd_in;

extern const struct cldd_kind_ops cldd_kind_in;

void cldd_in_stat(const struct cldd_in *in, struct stat *st);

#endif /* CLDD_FS_IN_H */
