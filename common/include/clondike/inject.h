/* SPDX-License-Identifier: MIT */
/*
 * Remote system calls: make a ptrace-stopped task execute system calls on
 * our behalf (the technique of CRIU's compel).  Used by the ptrace freezer
 * to read state only the task itself can report, and by the restorer to
 * rebuild a forked child into the image's process.
 *
 * The task must be traced by the caller (PTRACE_SEIZE'd with
 * PTRACE_O_TRACESYSGOOD) and be in a ptrace stop.  While a cld_remote is
 * open, every signal but SIGKILL/SIGSTOP is blocked in the task (via
 * PTRACE_SETSIGMASK), so injected calls cannot be interrupted by handlers;
 * cld_remote_close() puts back registers and mask exactly as they were.
 * A cld_remote is opaque (as compel's parasite_ctl): cld_remote_open()
 * allocates it, cld_remote_close() or cld_remote_free() releases it.
 */
#ifndef CLONDIKE_INJECT_H
#define CLONDIKE_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "clondike/err.h"

struct cld_remote;

/*
 * Start injecting into pid; *out is the new handle (NULL on failure).  The
 * syscall site is found in the task's vDSO; site may be given instead
 * (nonzero) when the caller knows one.
 */
int cld_remote_open(struct cld_remote **out, pid_t pid, uint64_t site,
		    struct cld_err *err);

/*
 * Execute syscall nr with up to six arguments in the task.  *ret gets the
 * raw return value (a negative errno for failed calls).  Returns 0, or a
 * negative errno if the injection itself failed (the task died: -ESRCH).
 */
int cld_remote_syscall(struct cld_remote *r, long *ret, long nr, long a1,
		       long a2, long a3, long a4, long a5, long a6,
		       struct cld_err *err);

/* Map (once) a private anonymous scratch area of at least len bytes in
 * the task; *addr gets its remote address. */
int cld_remote_scratch(struct cld_remote *r, size_t len, uint64_t *addr,
		       struct cld_err *err);

/* Copy to/from the task's memory (process_vm_writev/readv, falling back
 * to /proc/PID/mem for pages not writable by the task). */
int cld_remote_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
int cld_remote_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Move the syscall site (e.g. after the restorer moved the vDSO). */
void cld_remote_set_site(struct cld_remote *r, uint64_t site);

/* The task, the syscall site, the task's registers when opened, the
 * number of calls injected so far. */
pid_t cld_remote_pid(const struct cld_remote *r);
uint64_t cld_remote_site(const struct cld_remote *r);
const struct user_regs_struct *cld_remote_saved_regs(const struct cld_remote *r);
unsigned int cld_remote_nr_calls(const struct cld_remote *r);

/*
 * Finish: unmap the scratch area, restore registers and signal mask, free
 * r (whatever the result).  With keep_regs, registers are left as the
 * caller set them (the restorer installs the image's registers itself).
 */
int cld_remote_close(struct cld_remote *r, int keep_regs, struct cld_err *err);

/* Free r without touching the task (one that is being killed).  NULL is
 * allowed. */
void cld_remote_free(struct cld_remote *r);

/* Find a "syscall" instruction in pid's vDSO: 0 and *site, or -ENOENT. */
int cld_remote_find_site(pid_t pid, uint64_t *site);

#endif /* CLONDIKE_INJECT_H */
