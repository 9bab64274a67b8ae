/* SPDX-License-Identifier: MIT */
/*
 * `cp /clondike/A/PID /clondike/B/` as the kernel delivers it: a file
 * created in a node's directory by a process that has a process image of
 * this mount open is the target of a migration (docs/migration.md).
 *
 * cp (coreutils 9) moves the bytes with one copy_file_range when the
 * source does not look sparse, and with lseek plus read/write when it does
 * (process images usually do: their holes are real).  Both start the same
 * migration: the first copy_file_range, or the first write at offset 0.
 * Once it committed, the rest of the copy is a no-op: further ranges and
 * writes are accepted unread, and the copying process reads the source as
 * ending there, so no image byte has to pass through cp.
 */
#ifndef CLDD_MCOPY_H
#define CLDD_MCOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "fs_kind.h"
#include "incoming.h"

/* d->mcopy: the copies that committed. */
int cldd_mcopy_init(struct cldd *d);

/* in was just created by thread caller: note the image it has open. */
void cldd_mcopy_created(struct cldd *d, struct cldd_in *in, pid_t caller);

/* A write into in: true when handled here (the migration, or a no-op). */
bool cldd_mcopy_write(fuse_req_t req, struct cldd_in *in, size_t size, uint64_t off);

/* The source image ino as read by caller ends here (its copy committed). */
bool cldd_mcopy_eof(struct cldd *d, fuse_ino_t ino, pid_t caller);

void cldd_mcopy_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len, int flags);

#endif /* CLDD_MCOPY_H */
