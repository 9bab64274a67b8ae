/* SPDX-License-Identifier: MIT */
/*
 * What the daemon knows of local processes without freezing them, all read
 * from /proc: identity, owner, start time, state, and an estimate of the
 * size of their image.
 */
#ifndef CLDD_PROCS_H
#define CLDD_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cldd.h"

/* The clock of /proc/PID/stat and the hidepid state, in d->procs. */
int cldd_procs_init(struct cldd *d);

struct cldd_pinfo {
	pid_t pid;
	uid_t uid; /* owner of /proc/PID: euid, or root when not dumpable */
	gid_t gid;
	unsigned long long start_ticks; /* identity of the pid (generation) */
	uint64_t start_ns; /* CLOCK_REALTIME of its start */
	char state; /* /proc/PID/stat state letter */
	char comm[32];
};

/* Read /proc/PID/stat and its owner.  -ESRCH if there is no such process,
 * -ENOENT for kernel threads and zombies (they have no image). */
int cldd_proc_info(struct cldd *d, pid_t pid, struct cldd_pinfo *pi);

/*
 * Whether uid/gid may read pid's image: root always; others only when the
 * process's real, effective and saved uids are all uid, its gids all gid,
 * and it is dumpable (the rule of ptrace).  0 or -EACCES / -ESRCH.
 */
int cldd_proc_may_access(pid_t pid, uid_t uid, gid_t gid);

/* Estimated logical size and data bytes of the image, without freezing
 * (see docs/clondiked.md "Sizes"). */
int cldd_proc_estimate(pid_t pid, uint64_t *size, uint64_t *data);

/* Contents of /proc/PID/<name> (at most cap - 1 bytes, NUL added);
 * returns the length or a negative errno. */
ssize_t cldd_proc_read(pid_t pid, const char *name, char *buf, size_t cap);

/*
 * The pids of /proc that have an executable (so no kernel threads and no
 * zombies) and, unless uid is 0, are owned by uid.  *pids is malloc'ed.
 */
int cldd_proc_list(uid_t uid, pid_t **pids, size_t *n);

/*
 * hidepid: /proc with hidepid= shows other users' processes less, and the
 * daemon (root, so not limited by it) shows no more of them than /proc
 * would show the caller (docs/security.md, "hidepid").  The options are
 * those of the daemon's own /proc, read again at most once a second.
 */
struct cldd_caller {
	uid_t uid;
	gid_t gid;
	/* Supplementary groups, asked for only when gid= needs them: fills
	 * up to size and returns their count, or < 0.  NULL: none known. */
	int (*groups)(void *arg, gid_t *list, int size);
	void *arg;
};

/* hidepid=noaccess: that it exists and its owner, no more (no size, no
 * times, no xattrs: EACCES). */
#define CLDD_VIS_REDACT 0x1
/* hidepid is on: the answer is for this caller only, not to be cached (by
 * the kernel, by peers) for others. */
#define CLDD_VIS_NOCACHE 0x2

/*
 * What who may know of pid: a mask of CLDD_VIS_*, 0 when /proc hides
 * nothing; -ENOENT when pid must look absent (hidepid=invisible or
 * ptraceable, and who is not root, not in the gid= group and cannot ptrace
 * pid).  Only the lookup, getattr, readdir and xattr paths use it.
 */
int cldd_proc_visible(struct cldd *d, pid_t pid, const struct cldd_caller *who);
/* Whether the daemon's /proc has a hidepid= other than off. */
bool cldd_hidepid_on(struct cldd *d);

/* Parse a decimal pid name ("4242"); 0 if it is not one. */
pid_t cldd_parse_pid(const char *name);

#endif /* CLDD_PROCS_H */
