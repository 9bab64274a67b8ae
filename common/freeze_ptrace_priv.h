/* SPDX-License-Identifier: MIT */
/*
 * The ptrace freezer's private header, shared by common/freeze_ptrace*.c
 * only (the public API is clondike/freeze_ptrace.h): the state of one
 * collection and the steps each file carries out for cld_freeze_ptrace()
 * in freeze_ptrace.c.
 *
 *   freeze_ptrace_rules.c  restart normalisation, which pages of a mapping are dumped
 *   freeze_ptrace_scan.c   the page-table scan (PAGEMAP_SCAN or pagemap)
 *   freeze_ptrace_collect.c  mappings, creds, the threads, injected calls, the rest
 *   freeze_ptrace_fds.c    open files and the unread data of pipes
 *   freeze_ptrace.c        seizing, the frozen object and its operations
 *
 * /proc is read through clondike/procfs.h (procfs.c).
 */
#ifndef CLONDIKE_FREEZE_PTRACE_PRIV_H
#define CLONDIKE_FREEZE_PTRACE_PRIV_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/user.h>
#include <time.h>

#include "clondike/compat.h"
#include "clondike/err.h"
#include "clondike/freeze_ptrace.h"
#include "clondike/image.h"
#include "clondike/procfs.h"

#define PAGE CLD_PAGE_SIZE

/* ---- Small helpers ----------------------------------------------------------- */

static inline uint64_t ptr_encode_dev(dev_t d)
{
	return ((uint64_t)major(d) << 32) | minor(d);
}

static inline int64_t ptr_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* ---- freeze_ptrace_rules.c --------------------------------------------------- */

enum dump_policy {
	DUMP_NONE,
	DUMP_ALL,  /* every page (the vDSO, see docs/decisions.md) */
	DUMP_ANY,  /* present or swapped, file pages too (shared anon, deleted) */
	DUMP_ANON, /* present or swapped anonymous pages (private mappings) */
};

/* Which pages of a mapping of these CLD_VMA_* flags the image holds. */
enum dump_policy ptr_vma_policy(uint32_t flags);

/* ---- The state of one collection ---------------------------------------------- */

struct collect {
	pid_t pid;
	const pid_t *tids; /* every thread, stopped; tids[0] == pid */
	unsigned int nr_tids;
	unsigned int flags;
	struct cld_proc *p;
	struct cld_err *err;
	char *status;
	struct cld_procfs_stat sf;
	int pm_fd;
	int use_scan; /* 1 yes, 0 unknown, -1 no */
	bool guard_scan; /* PAGEMAP_SCAN knows PAGE_IS_GUARD (6.14) */
};

/* Each fills its part of c->p; 0 or a negative errno with c->err set. */

/* freeze_ptrace_collect.c */
int ptr_collect_threads(struct collect *c);
int ptr_collect_creds(struct collect *c);
int ptr_collect_injected(struct collect *c);
int ptr_collect_misc(struct collect *c);
int ptr_collect_vmas(struct collect *c);
int ptr_collect_vmflags(struct collect *c);
int ptr_collect_vdso_digest(struct collect *c);

/* freeze_ptrace_fds.c */
int ptr_collect_fds(struct collect *c);
int ptr_collect_pipe_data(struct collect *c);
/* freeze_ptrace_ghost.c: the content of memfds and deleted files (1.3). */
int ptr_collect_file_data(struct collect *c);
/* freeze_ptrace_timers.c: POSIX timers, with calls injected through r
 * (scratch: a page of the task's). */
struct cld_remote;
int ptr_collect_timers(struct collect *c, struct cld_remote *r, uint64_t scratch);
/* freeze_ptrace_inotify.c: the watches of inotify fds, by path. */
int ptr_collect_inotify(struct collect *c);
/* freeze_ptrace_sock.c: unix socketpairs held whole, and peeking their
 * queues (bytes, or a negative errno; -EBADMSG: fds in flight). */
int ptr_collect_sockpairs(struct collect *c);
ssize_t ptr_peek_socket(int fd, uint8_t *buf, size_t len);

/* freeze_ptrace_scan.c: the extents of every mapping; opens c->pm_fd,
 * which the caller closes. */
int ptr_collect_pages(struct collect *c);

#endif /* CLONDIKE_FREEZE_PTRACE_PRIV_H */
