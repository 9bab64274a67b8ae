/* SPDX-License-Identifier: MIT */
/*
 * clondiked's process: options, mounting, the libuv loop that drives the
 * FUSE session (a uv_poll on /dev/fuse) and the signals.
 */
#ifndef CLDD_DAEMON_H
#define CLDD_DAEMON_H

#include <stdbool.h>
#include <uv.h>

#include "cldd.h"
#include "fs.h"

/* What users may hold of the daemon (--limit NAME=VALUE; docs/security.md). */
struct cldd_limits {
	unsigned int freeze_timeout_ms, restart_timeout_ms, guest_lost_ms;
	unsigned int frozen_per_user, frozen_total;
	unsigned int buffer_mb_per_user, buffer_mb_total;
	unsigned int writers_per_user, writers_total;
	/* Faults for the tests (commit.h): 1 to inject. */
	unsigned int test_drop_commit, test_lose_ready;
};

struct cldd_opts {
	const char *mountpoint; /* default /clondike */
	const char *node; /* default: the hostname */
	const char *config; /* cluster configuration; NULL: the default if present */
	bool foreground, debug;
	char *mount_opts; /* -o, comma separated; malloc'ed */
	struct cldd_limits lim;
};

/* The process: the daemon object it hands down (cldd.h), and what only
 * daemon.c uses (the handles' data is this). */
struct cldd_daemon {
	struct cldd d;
	struct cldd_opts opts;
	struct cldd_fs fs; /* d.fs */
	struct fuse_buf buf;
	uv_loop_t loop; /* d.loop */
	uv_poll_t poll;
	uv_signal_t sigterm, sigint, sighup;
	int exit_code;
};

/* Parse argv: 0, 1 to exit successfully (--help), or -EINVAL (message
 * printed). */
int cldd_parse_args(int argc, char **argv, struct cldd_opts *o);

#endif /* CLDD_DAEMON_H */
