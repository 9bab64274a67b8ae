/* SPDX-License-Identifier: MIT */
/*
 * The ptrace freezer backend: PTRACE_SEIZE + PTRACE_INTERRUPT, state from
 * /proc and from system calls injected into the stopped task, memory from
 * process_vm_readv when the image is read.  docs/freezer.md describes what
 * is captured and how.
 */
#ifndef CLONDIKE_FREEZE_PTRACE_H
#define CLONDIKE_FREEZE_PTRACE_H

#include <stdint.h>
#include <sys/types.h>

#include "clondike/err.h"
#include "clondike/freezer.h"

/* Flags for cld_freeze_ptrace(). */
#define CLD_PTRACE_NO_PAGEMAP_SCAN 0x1u /* force the /proc/PID/pagemap path */

/*
 * Freeze pid; wait at most timeout_ms (0: CLD_FREEZE_TIMEOUT_MS) for it to
 * stop.  -ETIMEDOUT when it did not: it is then still seized by the calling
 * thread (a running tracee cannot be detached) and is released at its next
 * stop by cld_freeze_ptrace_reap() (every freeze calls it) or when the
 * calling thread exits.  Either way it runs on unharmed.
 */
int cld_freeze_ptrace(pid_t pid, unsigned int flags, unsigned int timeout_ms,
		      struct cld_frozen **out, struct cld_err *err);

/* Record a task left seized by this thread; release those that stopped
 * since.  Returns how many are still left. */
void cld_freeze_ptrace_abandon(pid_t pid);
unsigned int cld_freeze_ptrace_reap(void);

/* ---- Pure helpers, exported for the unit tests --------------------------- */

/* One line of /proc/PID/maps. */
struct cld_maps_line {
	uint64_t start, end, pgoff, ino;
	uint32_t dev_major, dev_minor;
	uint32_t prot; /* PROT_* bits */
	int shared;
	char path[4096]; /* "" when anonymous; " (deleted)" kept */
};

/* Parse one line (without or with its newline): 0 or -EINVAL. */
int cld_maps_parse(const char *line, struct cld_maps_line *out);

/*
 * Classify a maps line into CLD_VMA_* flags and the name to record
 * (a pointer into l->path, NULL for none; " (deleted)" cut off by
 * writing a NUL into l->path).
 */
uint32_t cld_maps_classify(struct cld_maps_line *l, const char **name);

/*
 * Restart normalisation of a task stopped with registers regs: rewrite
 * *live (what the task resumes with) and *image (what the image records)
 * and fill the syscall fields of the thread record.  See docs/freezer.md.
 */
struct cld_regs;
struct cld_thread_rec;
void cld_restart_normalize(struct cld_regs *live, struct cld_regs *image,
			   struct cld_thread_rec *rec);

/* Pagemap fallback: turn one page's 64-bit pagemap entry into "dump it?"
 * for a mapping of the given CLD_VMA_* flags. */
int cld_pagemap_dumped(uint64_t entry, uint32_t vma_flags);

#endif /* CLONDIKE_FREEZE_PTRACE_H */
