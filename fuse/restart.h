/* SPDX-License-Identifier: MIT */
/*
 * Restarts off the loop thread: each runs in a child process of its own
 * that first becomes the asking user (their uid, gid and the groups the
 * system gives them; root stays root), then verifies the image and restores
 * it.  Every file the image names is thus opened with that user's rights,
 * a restore that hangs is killed at its deadline, and the loop keeps
 * answering everyone else meanwhile.
 */
#ifndef CLDD_RESTART_H
#define CLDD_RESTART_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "clondike/err.h"
#include "clondike/restore.h"

#include "cldd.h"

struct cldd_restart;

struct cldd_restart_result {
	int ret; /* 0 or a negative errno */
	/* CLDD_RST_HOLD: the process is complete and stopped, and runs or is
	 * killed only by cldd_restart_release(held).  NULL otherwise. */
	struct cldd_restart *held;
	bool holding; /* the worker's first of two results (held) */
	pid_t pid; /* the restarted process */
	bool same_pid; /* it got the image's pid */
	bool lazy; /* its memory is paged in by a pager */
	uint64_t total_ns; /* the restore itself */
	/* Where the time went (ns): the worker's image open (notes read),
	 * the restore's phases (cld_restore_result), and the worker's life
	 * from spawn to answer as the loop saw it. */
	uint64_t open_ns, prep_ns, map_ns, fill_ns, worker_ns;
	char msg[512]; /* why not, when ret < 0 */
};

/* cldd_restart_req.flags */
#define CLDD_RST_LAZY 0x1u /* page memory in on demand (root only, see .c) */
#define CLDD_RST_NO_STDIO 0x2u /* image pipes at 0-2 get no stand-in: refused */
#define CLDD_RST_HOLD 0x4u /* the result comes before the process runs (held) */
#define CLDD_RST_OWN_CTTY 0x8u /* its terminal is a stand-in pty: CLD_RST_OWN_CTTY */

struct cldd_restart_req {
	int image_fd; /* the image, kept open by the caller until cb; or -1 */
	const char *image_path; /* else: opened by the worker, as the user */
	uid_t uid;
	gid_t gid;
	unsigned int flags; /* CLDD_RST_* */
	unsigned int timeout_ms; /* 0: CLDD_RESTART_TIMEOUT_MS */
	/* Image fds that a local fd stands in for (forwarded home): the
	 * caller keeps them open until cb. */
	struct {
		int fd, local;
	} fwd[CLD_RST_FWD_MAX];
	unsigned int nr_fwd;
	/* A migration's guest: where its home's forwarded files are
	 * (cld_restore_opts.fwd_dir); NULL: none. */
	const char *fwd_dir;
};

/* Runs on the loop thread, exactly once. */
typedef void (*cldd_restart_cb)(void *arg, const struct cldd_restart_result *res);

/* Deadline of a restart when none is configured. */
#define CLDD_RESTART_TIMEOUT_MS 60000u

/* Restart an image.  0, or a negative errno (nothing started, no cb). */
int cldd_restart_start(struct cldd *d, const struct cldd_restart_req *rq, cldd_restart_cb cb,
		       void *arg);

/*
 * A held restart: let its process run (go), or kill it.  Exactly once per
 * held result; the handle is not to be used afterwards.  Returns 0, or
 * -ESRCH when the process died while held (nothing runs then).
 */
int cldd_restart_release(struct cldd_restart *h, bool go);

/* The worker is the daemon's binary run as "clondiked --restore-worker UID
 * GID FLAGS FWD FWDDIR [PATH]" (FWDDIR "-": none) with the image at fd 3 (unless PATH), the result
 * pipe at fd 4, with CLDD_RST_HOLD the release pipe at fd 5 (a byte: 'g'
 * to run), and the stand-ins of the forwarded fds FWD ("-", or image fd
 * numbers "0,1") from fd 6 on.  A held worker writes its result twice:
 * when the process is complete (held set), and at the end. */
#define CLDD_RESTART_WORKER_ARG "--restore-worker"
int cldd_restart_worker_main(int argc, char **argv);

#endif /* CLDD_RESTART_H */
