// SPDX-License-Identifier: MIT
/*
 * clondike restart [--lazy [--no-pull] [--lazy-stats FILE]] [--detach] [--new-pid]
 *                  [--without-children] [--check] IMAGE
 *
 * Brings a checkpointed process back to life (common/restore.c).  Without
 * --detach the restarted process is our child: we wait for it and exit
 * with its status (128 + signal if it was killed), like a shell would; we
 * ignore SIGINT/SIGQUIT meanwhile (the terminal sends them to it too) and
 * pass SIGTERM/SIGHUP on.  With --detach we exit 0 as soon as it runs; it
 * is reparented to init (or the nearest subreaper).
 *
 * --lazy restores anonymous memory on demand (common/lazy.c): a pager
 * process serves page faults from IMAGE and pulls the rest in the
 * background; its statistics are printed when it is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "clondike/image_read.h"
#include "clondike/lazy.h"
#include "clondike/restore.h"

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* The terminal that stands in for the image's tty fds. */
static int find_tty(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (isatty(fd))
			return fd;
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	return fd;
}

static int wait_child(pid_t pid)
{
	struct sigaction sa;
	int st;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	child_pid = pid;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return cld_cli_fail("restart", "waitpid %d: %s", pid, strerror(errno));
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

int cld_cmd_restart(int argc, char **argv)
{
	struct cld_restore_opts o;
	struct cld_restore_result res;
	struct cld_rimage *ri = NULL;
	struct cld_err err = { 0 };
	const char *path = NULL;
	struct cld_lazy_opts lo = { 0 };
	struct cld_lazy lz;
	bool check_only = false, lazy = false;
	char *report = NULL, *abspath = NULL;
	int a, fd, ret, tty, status;

	cld_restore_opts_init(&o);
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--detach")) {
			o.flags |= CLD_RST_DETACH;
		} else if (!strcmp(argv[a], "--new-pid")) {
			o.flags |= CLD_RST_NEW_PID;
		} else if (!strcmp(argv[a], "--without-children")) {
			o.flags |= CLD_RST_WITHOUT_CHILDREN;
		} else if (!strcmp(argv[a], "--check")) {
			check_only = true;
		} else if (!strcmp(argv[a], "--lazy")) {
			lazy = true;
		} else if (!strcmp(argv[a], "--no-pull")) {
			lo.no_pull = true;
		} else if (!strcmp(argv[a], "--lazy-stats") && a + 1 < argc) {
			lo.stats_path = argv[++a];
		} else if (!strcmp(argv[a], "--")) {
			a++;
			break;
		} else if (argv[a][0] == '-') {
			fprintf(stderr, "clondike restart: unknown option %s\n", argv[a]);
			return cld_cli_usage(argv[0]);
		} else {
			break;
		}
	}
	if (a != argc - 1)
		return cld_cli_usage(argv[0]);
	path = argv[a];

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cld_cli_fail(argv[0], "%s: %s", path, strerror(errno));
	ret = cld_rimage_open_fd(fd, &ri, &err);
	if (ret) {
		close(fd);
		return cld_cli_fail(argv[0], "%s: %s", path, cld_err_str(&err));
	}
	tty = find_tty();
	o.tty_fd = tty;
	o.image_fd = fd;
	ret = cld_restore_check(ri, &o, &report, &err);
	if (ret) {
		char *line, *save = NULL;

		fprintf(stderr, "clondike restart: cannot restart %s:\n", path);
		for (line = strtok_r(report, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "  - %s\n", line);
		free(report);
		ret = 1;
		goto out;
	}
	if (check_only) {
		if (!cld_opts.quiet)
			fprintf(stderr, "clondike restart: %s can be restarted here\n", path);
		ret = 0;
		goto out;
	}
	if (lazy) {
		abspath = realpath(path, NULL);
		lo.image_path = abspath ? abspath : path;
		lo.detach = o.flags & CLD_RST_DETACH;
		cld_lazy_init(&lz, &lo);
		o.fill = cld_lazy_fill;
		o.fill_arg = &lz;
	}
	ret = cld_restore(ri, &o, &res, &err);
	if (ret) {
		ret = cld_cli_fail(argv[0], "%s: %s", path, cld_err_str(&err));
		if (lazy) {
			struct cld_lazy_stats st;

			cld_lazy_wait(&lz, &st, NULL);
		}
		goto out;
	}
	if (cld_opts.json) {
		printf("{\"pid\":%d,\"original_pid\":%d,\"same_pid\":%s,\"pid_errno\":\"%s\","
		       "\"exe_set\":%s,\"bytes_filled\":%llu,\"syscalls\":%u,"
		       "\"prep_ms\":%.3f,\"map_ms\":%.3f,\"fill_ms\":%.3f,\"total_ms\":%.3f}\n",
		       res.pid, ri->proc.proc.pid, res.same_pid ? "true" : "false",
		       res.pid_errno ? strerror(res.pid_errno) : "", res.exe_set ? "true" : "false",
		       (unsigned long long)res.bytes_filled, res.nr_syscalls, res.prep_ns / 1e6,
		       res.map_ns / 1e6, res.fill_ns / 1e6, res.total_ns / 1e6);
		fflush(stdout);
	} else if (!cld_opts.quiet) {
		if (res.same_pid)
			fprintf(stderr, "clondike restart: pid %d restarted (same pid) in %.1f ms\n",
				res.pid, res.total_ns / 1e6);
		else
			fprintf(stderr,
				"clondike restart: pid %d restarted as pid %d (original pid "
				"not available: %s) in %.1f ms\n",
				ri->proc.proc.pid, res.pid,
				res.pid_errno ? strerror(res.pid_errno) : "not asked for",
				res.total_ns / 1e6);
	}
	cld_rimage_free(ri);
	ri = NULL;
	close(fd);
	fd = -1;
	if (tty > 2)
		close(tty);
	tty = -1;
	if (o.flags & CLD_RST_DETACH) {
		if (lazy)
			cld_lazy_release(&lz);
		free(abspath);
		return 0;
	}
	status = wait_child(res.pid);
	if (lazy) {
		struct cld_lazy_stats st;

		if (cld_lazy_wait(&lz, &st, &err))
			cld_cli_fail(argv[0], "lazy pager: %s", cld_err_str(&err));
		else if (!cld_opts.quiet)
			fprintf(stderr,
				"clondike restart: lazy: %llu faults, %.1f MiB on faults, %.1f MiB pulled, %.1f MiB zero, %.1f MiB read from the image; %s %.1f ms\n",
				(unsigned long long)st.faults, st.bytes_fault / 1048576.0,
				st.bytes_pull / 1048576.0, st.bytes_zero / 1048576.0,
				st.image_bytes_read / 1048576.0,
				st.full_ns ? "independent of the image after" :
					     "the process ended before its memory was complete;",
				st.full_ns / 1e6);
	}
	free(abspath);
	return status;
out:
	free(abspath);
	if (ri)
		cld_rimage_free(ri);
	if (fd >= 0)
		close(fd);
	if (tty > 2)
		close(tty);
	return ret;
}
