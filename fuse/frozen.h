/* SPDX-License-Identifier: MIT */
/*
 * The daemon's table of freezes: one per pid, shared by every open file of
 * that pid and thawed when the last one is released.  All calls happen on
 * the loop thread (ptrace wants the same tracer thread throughout).
 */
#ifndef CLDD_FROZEN_H
#define CLDD_FROZEN_H

#include <stdint.h>
#include <sys/types.h>

#include "clondike/err.h"
#include "clondike/freezer.h"

struct cldd_freeze {
	pid_t pid;
	unsigned long long start_ticks; /* which incarnation of pid */
	unsigned int refs;
	uint64_t id; /* unique per freeze: remote readers key their cache on it */
	uint64_t frozen_ns; /* CLOCK_REALTIME of the freeze */
	struct cld_frozen *fz;
	struct cldd_freeze *next;
};

/* Freeze pid (or join its freeze): a reference the caller puts back. */
int cldd_freeze_get(pid_t pid, unsigned long long start_ticks, struct cldd_freeze **out,
		    struct cld_err *err);
void cldd_freeze_put(struct cldd_freeze *f);

/* The freeze in effect for pid, or NULL (no reference taken). */
struct cldd_freeze *cldd_freeze_find(pid_t pid);

/* Image bytes and SEEK_DATA/SEEK_HOLE of the frozen process. */
ssize_t cldd_freeze_pread(struct cldd_freeze *f, void *buf, size_t len, uint64_t off);
int64_t cldd_freeze_seek(struct cldd_freeze *f, int64_t off, int whence);

/* Thaw everything (shutdown). */
void cldd_freeze_thaw_all(void);

#endif /* CLDD_FROZEN_H */
