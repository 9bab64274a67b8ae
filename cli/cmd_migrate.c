// SPDX-License-Identifier: MIT
/*
 * clondike migrate [--from NODE] [--mount DIR] PID NODE: move a running
 * process to another node.  A thin front end over what `cp
 * /clondike/FROM/PID /clondike/NODE/` does: one copy_file_range from the
 * process's image into a new file of the target's directory, which the
 * daemons turn into a migration (docs/migration.md).  Prints where the
 * process runs now, its pid there and how long it was stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The node directory whose state is "self": this node. */
static int self_node(const char *mnt, char *out, size_t cap)
{
	struct dirent *e;
	char path[PATH_MAX], v[32];
	DIR *d = opendir(mnt);
	int ret = -ENOENT;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", mnt, e->d_name);
		n = getxattr(path, "user.clondike.state", v, sizeof(v) - 1);
		if (n > 0 && (v[n] = 0, !strcmp(v, "self"))) {
			ret = strlen(e->d_name) < cap ? 0 : -ENAMETOOLONG;
			if (!ret)
				memcpy(out, e->d_name, strlen(e->d_name) + 1);
			break;
		}
	}
	closedir(d);
	return ret;
}

static int xattr_str(const char *path, const char *key, char *v, size_t cap)
{
	char name[64];
	ssize_t n;

	snprintf(name, sizeof(name), "user.clondike.%s", key);
	n = getxattr(path, name, v, cap - 1);
	if (n < 0)
		return -errno;
	v[n] = 0;
	return 0;
}

int cld_cmd_migrate(int argc, char **argv)
{
	const char *mnt = "/clondike", *from = NULL, *to;
	char self[64], src[PATH_MAX], dst[PATH_MAX], node[64] = "?", gpid[32] = "?";
	uint64_t t0, t1;
	struct stat st;
	int a, in, out;
	long pid;
	char *end;

	for (a = 1; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "--from") && a + 1 < argc)
			from = argv[++a];
		else if (!strcmp(argv[a], "--mount") && a + 1 < argc)
			mnt = argv[++a];
		else
			return cld_cli_usage(argv[0]);
	}
	if (argc - a != 2)
		return cld_cli_usage(argv[0]);
	pid = strtol(argv[a], &end, 10);
	if (*end || pid <= 0)
		return cld_cli_fail(argv[0], "not a pid: %s", argv[a]);
	to = argv[a + 1];
	if (!from) {
		if (self_node(mnt, self, sizeof(self)))
			return cld_cli_fail(argv[0], "%s: no node of this machine (is clondiked running?)",
					    mnt);
		from = self;
	}
	snprintf(src, sizeof(src), "%s/%s/%ld", mnt, from, pid);
	/* A name no process has: the target may have a process PID too. */
	snprintf(dst, sizeof(dst), "%s/%s/.migrate-%s-%ld-%d", mnt, to, from, pid, (int)getpid());
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cld_cli_fail(argv[0], "%s: %s", src, strerror(errno));
	t0 = mono_ns(); /* the open froze it */
	if (fstat(in, &st) < 0) {
		close(in);
		return cld_cli_fail(argv[0], "%s: %s", src, strerror(errno));
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return cld_cli_fail(argv[0], "%s/%s: %s", mnt, to, strerror(errno));
	}
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)st.st_size, 0);

		if (n < 0) {
			int e = errno;

			close(in);
			close(out);
			return cld_cli_fail(argv[0], "%ld from %s to %s: %s", pid, from, to,
					    e == EXDEV ? "not a migration (is the mount clondike's?)"
						   : strerror(e));
		}
		if (!n)
			break;
	}
	t1 = mono_ns();
	xattr_str(src, "node", node, sizeof(node));
	xattr_str(src, "guest_pid", gpid, sizeof(gpid));
	close(out);
	close(in);
	if (cld_opts.json) {
		printf("{\"pid\":%ld,\"from\":", pid);
		cld_cli_json_str(from);
		printf(",\"node\":");
		cld_cli_json_str(node);
		printf(",\"guest_pid\":%s,\"stopped_ms\":%.3f}\n", gpid, (t1 - t0) / 1e6);
	} else if (!cld_opts.quiet) {
		printf("%ld migrated from %s: runs on %s as pid %s (stopped %.1f ms)\n", pid, from,
		       node, gpid, (t1 - t0) / 1e6);
	}
	return 0;
}
