/* SPDX-License-Identifier: MIT */
/*
 * The inode kind of a local process's image, <node>/<pid> (inode
 * cldd_ino_pid(pid), generation = the process's start ticks), and what
 * the server says of local processes to other nodes: their entries and
 * extended attributes, with the same rules.
 */
#ifndef CLDD_FS_PID_H
#define CLDD_FS_PID_H

#include <sys/types.h>

#include "fs_kind.h"

extern const struct cldd_kind_ops cldd_kind_pid;

/* hidepid: what the caller of req may know of pid (procs.h, CLDD_VIS_*). */
int cldd_pid_vis(fuse_req_t req, pid_t pid);
/* The stat of pid's image: 1 when exact (frozen: not to be cached), 0
 * when estimated, or a negative errno. */
int cldd_pid_attr(struct cldd *d, pid_t pid, unsigned long long *start_ticks, struct stat *st);
/* A lookup's answer for pid; vis: cldd_pid_vis() of the caller. */
void cldd_pid_reply_entry(fuse_req_t req, pid_t pid, int vis);

struct cldp_pentry;
/* What a directory entry says of a local pid: exact when frozen.  0,
 * -ENOENT (no such process, or no image: kernel thread, zombie). */
int cldd_pid_entry(struct cldd *d, pid_t pid, struct cldp_pentry *pe);
/* user.clondike.<key> of a local pid into v; node is this node's name.
 * The value's length, or a negative errno (-ENODATA: no such key). */
int cldd_pid_xattr(struct cldd *d, const char *node, pid_t pid, const char *key, char *v,
		   size_t cap);
/* The names of those attributes, as listxattr gives them; the length. */
size_t cldd_pid_xattr_list(char *list, size_t cap);

#endif /* CLDD_FS_PID_H */
