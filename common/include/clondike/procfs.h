/* SPDX-License-Identifier: MIT */
/*
 * Reading /proc/PID: whole small files, the fields of status, stat split
 * after the comm, limits.  The ptrace freezer reads a stopped task's state
 * with it; the daemon (fuse/procs.c) what it shows of running processes.
 * Functions return 0 or a negative errno (-ENOENT: no such process).
 */
#ifndef CLONDIKE_PROCFS_H
#define CLONDIKE_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The task flag of kernel threads, field 9 of stat (include/linux/sched.h). */
#define CLD_PF_KTHREAD 0x00200000u

/* Read a whole small /proc/PID/<name> into a NUL-terminated malloc'ed
 * buffer; *len (if not NULL) gets its length. */
int cld_procfs_slurp(pid_t pid, const char *name, char **out, size_t *len);

/* The target of the link /proc/PID/<name>, malloc'ed. */
int cld_procfs_link(pid_t pid, const char *name, char **out);

/* The value after "Key:" of a line of /proc/PID/status, NULL if none. */
const char *cld_status_field(const char *status, const char *key);
/* That value as hex (0 if absent) or decimal (dflt if absent). */
uint64_t cld_status_hex(const char *status, const char *key);
long long cld_status_dec(const char *status, const char *key, long long dflt);

/*
 * /proc/PID/stat, split after the comm (which may hold spaces and ')').
 * comm is cut at 63 characters (a kernel thread's name may be longer than
 * a task's 15); f[n] is field n, 1-based as in proc(5), for 4 <= n <= last.
 */
struct cld_procfs_stat {
	char state;
	char comm[64];
	int last;
	long long f[53];
};

/* Parse the contents of a stat file: 0, or -EPROTO when it has no comm. */
int cld_procfs_stat_parse(const char *buf, struct cld_procfs_stat *sf);
int cld_procfs_stat(pid_t pid, struct cld_procfs_stat *sf);

/* How many processes have pid as their parent (their stat's ppid): zombies
 * count, threads do not.  A negative errno if /proc cannot be read. */
int cld_procfs_children(pid_t pid);

/* /proc/PID/limits into pr->rlim: 0, or -EPROTO if it is not 16 rows. */
struct cld_proc_rec;
int cld_procfs_limits(pid_t pid, struct cld_proc_rec *pr);

#endif /* CLONDIKE_PROCFS_H */
