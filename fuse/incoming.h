/* SPDX-License-Identifier: MIT */
/*
 * Images written into /clondike/<node>/: each is buffered in a memfd and,
 * when its writer closes it, validated with the reader and restarted with
 * the writer's credentials (restart.h: in a child process, as that user).
 * Afterwards the file's name is an alias of the restarted pid.  What users
 * may buffer is limited (bytes and files being written, per user and in
 * all); see docs/security.md.
 */
#ifndef CLDD_INCOMING_H
#define CLDD_INCOMING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/err.h"

#include "cldd.h"
#include "restart.h"

#include <uv.h>

enum cldd_in_state {
	CLDD_IN_WRITING, /* being written */
	CLDD_IN_RESTARTING, /* closed: being verified and restarted */
	CLDD_IN_RESTARTED, /* restarted: the name is an alias of pid */
	CLDD_IN_FAILED, /* invalid or refused: errno in result */
	CLDD_IN_MIGRATING, /* the target of a migration by copy_file_range */
	CLDD_IN_MIGRATED, /* that migration committed: pid runs on target */
};

struct cldd_in {
	struct cldd_incoming *owner; /* its table (d->in) */
	uint64_t ino;
	char name[256];
	int fd; /* memfd holding the bytes */
	uid_t uid; /* the writer's credentials: the restart gets these */
	gid_t gid;
	uint64_t size;
	uint64_t mtime_ns;
	bool dirty;
	enum cldd_in_state state;
	int result; /* 0 or the negative errno of the failure */
	pid_t pid; /* restarted pid */
	unsigned long long start_ticks;
	unsigned int refs; /* open files (and one while restarting) */
	struct cldd_in_wait *waiters; /* flushes waiting for the restart */
	/* Created in another node's directory (target_slot), or here under a
	 * name taken by a live pid: reached by inode only, never by name. */
	bool unnamed;
	bool remote;
	unsigned int target_slot;
	/* The process image its creator had open (mcopy.c): a migration. */
	struct {
		bool set;
		bool remote; /* slot is the node's; else this node */
		unsigned int slot;
		pid_t pid;
		pid_t caller; /* the creating thread's pid (cp) */
	} src;
	struct cldd_in *next;
};

struct cldd_in_limits {
	uint64_t user_bytes, total_bytes; /* buffered: EDQUOT / ENOSPC past them */
	unsigned int user_files, total_files; /* being written: EDQUOT / ENFILE */
	unsigned int restart_timeout_ms;
};

/* Defaults (MiB and files). */
#define CLDD_IN_USER_MB 4096u
#define CLDD_IN_TOTAL_MB 8192u
#define CLDD_IN_USER_FILES 16u
#define CLDD_IN_TOTAL_FILES 128u

/* d->in; lim NULL: the defaults. */
int cldd_in_init(struct cldd *d, const struct cldd_in_limits *lim);

int cldd_in_create(struct cldd *d, const char *name, uid_t uid, gid_t gid, struct cldd_in **out,
		   struct cld_err *err);
struct cldd_in *cldd_in_by_ino(struct cldd *d, uint64_t ino);
struct cldd_in *cldd_in_by_name(struct cldd *d, const char *name);
ssize_t cldd_in_write(struct cldd_in *in, const void *buf, size_t len, uint64_t off);
int cldd_in_truncate(struct cldd_in *in, uint64_t size);

/*
 * Validate and restart (once; later calls get the first result).  cb gets
 * 0 or a negative errno, on the loop thread, possibly before this returns.
 * Logs what happened.
 */
typedef void (*cldd_in_cb)(void *arg, int ret);
void cldd_in_finish(struct cldd_in *in, cldd_in_cb cb, void *arg);

/*
 * How an image written into another node's directory (remote) is
 * restarted there: put.c, registered by daemon.c; the contract of
 * cldd_restart_start, the image being in->fd's in->size bytes.  Without
 * it, such an image is refused (EROFS).
 */
typedef int (*cldd_in_remote_fn)(struct cldd *d, struct cldd_in *in, cldd_restart_cb cb,
				 void *arg);
void cldd_in_set_remote(struct cldd *d, cldd_in_remote_fn fn);

/* Drop an open reference; the buffer goes when the last one does, the
 * entry itself stays while it names a live restarted process. */
void cldd_in_put(struct cldd_in *in);

/* Forget the name (unlink). */
void cldd_in_unlink(struct cldd_in *in);

#endif /* CLDD_INCOMING_H */
