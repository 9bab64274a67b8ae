// SPDX-License-Identifier: MIT
/*
 * clondike nodes: the cluster as one clondiked mount sees it (one line per
 * node directory, from its user.clondike.* xattrs; docs/cluster.md).
 * clondike keygen: a new cluster key file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli.h"
#include "clondike/util.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define KEYGEN_BYTES 64

struct node_row {
	char *name;
	/* NULL when the xattr is absent */
	char *state, *role, *addr, *error;
	long long rtt_us; /* -1: none */
};

/*
 * The value of xattr user.clondike.KEY of path as a string: NULL when the
 * attribute does not exist (or cannot be read: *err says why).
 */
static char *node_xattr(const char *path, const char *key, int *err)
{
	char name[64];
	char *v = NULL;
	int tries;

	snprintf(name, sizeof(name), "user.clondike.%s", key);
	for (tries = 0; tries < 4; tries++) {
		ssize_t n = lgetxattr(path, name, NULL, 0);
		char *nv;

		if (n < 0)
			break;
		nv = realloc(v, (size_t)n + 1);
		if (!nv)
			break;
		v = nv;
		n = lgetxattr(path, name, v, (size_t)n);
		if (n >= 0) {
			v[n] = '\0';
			/* Trailing newlines or NULs are not part of the text. */
			while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\0'))
				v[--n] = '\0';
			return v;
		}
		if (errno != ERANGE)
			break;
	}
	if (errno != ENODATA && errno != ENOTSUP && !*err)
		*err = errno;
	free(v);
	return NULL;
}

/* Unescape a mountinfo path field (spaces, tabs, newlines, \ are \ooo). */
static void mi_unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/*
 * Is the mount of device dev a clondike one (fstype fuse.clondike or
 * source clondike)?  1 yes, 0 no, -1 not found; *mp gets its mount point.
 */
static int mountinfo_clondike(dev_t dev, char *mp, size_t mplen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int ret = -1;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *point = NULL, *fstype = NULL, *source = NULL;
		unsigned int maj = 0, min = 0;
		int field = 0, after_dash = 0;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			field++;
			if (field == 3 && sscanf(tok, "%u:%u", &maj, &min) != 2)
				break;
			if (field == 5)
				point = tok;
			if (field > 6 && !after_dash && !strcmp(tok, "-")) {
				after_dash = field;
				continue;
			}
			if (after_dash && field == after_dash + 1)
				fstype = tok;
			if (after_dash && field == after_dash + 2)
				source = tok;
		}
		if (!fstype || !point || makedev(maj, min) != dev)
			continue;
		mi_unescape(point);
		snprintf(mp, mplen, "%s", point);
		ret = !strcmp(fstype, "fuse.clondike") || (source && !strcmp(source, "clondike"));
	}
	free(line);
	fclose(f);
	return ret;
}

/* 0 when mount is the root of a clondike mount, else the exit status. */
static int check_mount(const char *cmd, const char *mount)
{
	char mp[PATH_MAX], real[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	int r;

	if (statfs(mount, &sfs) < 0) {
		if (errno == ENOTCONN)
			return cld_cli_fail(cmd,
					    "%s: %s (its clondiked is gone; unmount it with "
					    "fusermount3 -u %s)",
					    mount, strerror(errno), mount);
		return cld_cli_fail(cmd, "%s: %s", mount, strerror(errno));
	}
	if (stat(mount, &st) < 0)
		return cld_cli_fail(cmd, "%s: %s", mount, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cld_cli_fail(cmd, "%s: not a directory", mount);
	if ((unsigned long)sfs.f_type != FUSE_SUPER_MAGIC)
		return cld_cli_fail(cmd, "%s is not a clondike mount (is clondiked running?)",
				    mount);
	r = mountinfo_clondike(st.st_dev, mp, sizeof(mp));
	if (r == 0)
		return cld_cli_fail(cmd, "%s is a FUSE mount but not a clondike one", mount);
	if (r > 0 && realpath(mount, real) && strcmp(real, mp))
		return cld_cli_fail(cmd, "%s is inside the clondike mount %s: give the mount point",
				    mount, mp);
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct node_row *)a)->name, ((const struct node_row *)b)->name);
}

static void row_free(struct node_row *r)
{
	free(r->name);
	free(r->state);
	free(r->role);
	free(r->addr);
	free(r->error);
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

static void rtt_str(const struct node_row *r, char *out, size_t len)
{
	if (r->rtt_us < 0 || !r->state || strcmp(r->state, "up"))
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.2f ms", (double)r->rtt_us / 1000.0);
}

static void print_table(const struct node_row *rows, size_t n)
{
	int w_name = 4, w_state = 5, w_role = 4, w_addr = 7, w_rtt = 3, any_error = 0;
	char rtt[32];
	size_t i;

#define WIDEN(w, s)                            \
	do {                                   \
		int l_ = (int)strlen(dash(s)); \
		if (l_ > (w))                  \
			(w) = l_;              \
	} while (0)
	for (i = 0; i < n; i++) {
		WIDEN(w_name, rows[i].name);
		WIDEN(w_state, rows[i].state);
		WIDEN(w_role, rows[i].role);
		WIDEN(w_addr, rows[i].addr);
		rtt_str(&rows[i], rtt, sizeof(rtt));
		WIDEN(w_rtt, rtt);
		if (rows[i].error && *rows[i].error)
			any_error = 1;
	}
#undef WIDEN
	printf("%-*s  %-*s  %-*s  %-*s  %*s%s\n", w_name, "NAME", w_state, "STATE", w_role, "ROLE",
	       w_addr, "ADDRESS", w_rtt, "RTT", any_error ? "  ERROR" : "");
	for (i = 0; i < n; i++) {
		const struct node_row *r = &rows[i];

		rtt_str(r, rtt, sizeof(rtt));
		printf("%-*s  %-*s  %-*s  %-*s  %*s", w_name, r->name, w_state, dash(r->state),
		       w_role, dash(r->role), w_addr, dash(r->addr), w_rtt, rtt);
		if (r->error && *r->error)
			printf("  %s", r->error);
		putchar('\n');
	}
}

static void print_json(const char *mount, const struct node_row *rows, size_t n)
{
	size_t i;

	printf("{\"mount\":");
	cld_cli_json_str(mount);
	printf(",\"nodes\":[");
	for (i = 0; i < n; i++) {
		const struct node_row *r = &rows[i];

		printf("%s{\"name\":", i ? "," : "");
		cld_cli_json_str(r->name);
		printf(",\"state\":");
		cld_cli_json_str(r->state);
		printf(",\"role\":");
		cld_cli_json_str(r->role);
		printf(",\"addr\":");
		cld_cli_json_str(r->addr);
		if (r->rtt_us >= 0)
			printf(",\"rtt_us\":%lld", r->rtt_us);
		else
			printf(",\"rtt_us\":null");
		printf(",\"error\":");
		cld_cli_json_str(r->error && *r->error ? r->error : NULL);
		putchar('}');
	}
	printf("]}\n");
}

int cld_cmd_nodes(int argc, char **argv)
{
	const char *mount = NULL;
	struct node_row *rows = NULL;
	size_t n = 0, cap = 0, i, with_state = 0;
	struct dirent *de;
	int xerr = 0, ret = 0;
	DIR *d;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--json"))
			cld_opts.json = true;
		else if (argv[i][0] == '-' || mount)
			return cld_cli_usage(argv[0]);
		else
			mount = argv[i];
	}
	if (!mount)
		mount = "/clondike";
	if (check_mount(argv[0], mount))
		return 1;
	d = opendir(mount);
	if (!d)
		return cld_cli_fail(argv[0], "%s: %s", mount, strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		struct node_row *r;
		char path[PATH_MAX], *rtt;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", mount, de->d_name) >= (int)sizeof(path))
			continue;
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_UNKNOWN || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
			continue;
		if (n == cap) {
			struct node_row *nr = realloc(rows, (cap ? cap * 2 : 8) * sizeof(*rows));

			if (!nr) {
				ret = cld_cli_fail(argv[0], "out of memory");
				goto out;
			}
			rows = nr;
			cap = cap ? cap * 2 : 8;
		}
		r = &rows[n];
		memset(r, 0, sizeof(*r));
		r->name = strdup(de->d_name);
		if (!r->name) {
			ret = cld_cli_fail(argv[0], "out of memory");
			goto out;
		}
		n++;
		r->state = node_xattr(path, "state", &xerr);
		r->role = node_xattr(path, "role", &xerr);
		r->addr = node_xattr(path, "addr", &xerr);
		r->error = node_xattr(path, "error", &xerr);
		rtt = node_xattr(path, "rtt_us", &xerr);
		r->rtt_us = -1;
		if (rtt) {
			char *end;
			long long v = strtoll(rtt, &end, 10);

			if (end != rtt && !*end && v >= 0)
				r->rtt_us = v;
			free(rtt);
		}
		if (r->state)
			with_state++;
	}
	if (errno) {
		ret = cld_cli_fail(argv[0], "%s: readdir: %s", mount, strerror(errno));
		goto out;
	}
	if (n && !with_state) {
		ret = xerr ? cld_cli_fail(argv[0], "%s: node attributes: %s", mount,
					  strerror(xerr)) :
			     cld_cli_fail(argv[0],
					  "%s: no node has user.clondike.state: not a clondike "
					  "mount, or a clondiked without cluster support",
					  mount);
		goto out;
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	if (cld_opts.json)
		print_json(mount, rows, n);
	else
		print_table(rows, n);
out:
	for (i = 0; i < n; i++)
		row_free(&rows[i]);
	free(rows);
	closedir(d);
	return ret;
}

int cld_cmd_keygen(int argc, char **argv)
{
	unsigned char key[KEYGEN_BYTES];
	const char *path;
	size_t got = 0;
	int fd, r;

	if (argc != 2 || argv[1][0] == '-')
		return cld_cli_usage(argv[0]);
	path = argv[1];
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cld_cli_fail(argv[0], "getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = errno;
		explicit_bzero(key, sizeof(key));
		if (r == EEXIST)
			return cld_cli_fail(argv[0],
					    "%s exists: refusing to overwrite a key "
					    "(remove it first to replace it)",
					    path);
		return cld_cli_fail(argv[0], "%s: %s", path, strerror(r));
	}
	/* The umask may have taken bits away: the daemon wants exactly 0600. */
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (!r)
		r = cld_write_all(fd, key, sizeof(key));
	if (!r && fsync(fd) < 0)
		r = -errno;
	explicit_bzero(key, sizeof(key));
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r) {
		unlink(path);
		return cld_cli_fail(argv[0], "%s: %s", path, strerror(-r));
	}
	if (cld_opts.json) {
		printf("{\"key\":");
		cld_cli_json_str(path);
		printf(",\"bytes\":%d,\"mode\":\"0600\"}\n", KEYGEN_BYTES);
	} else if (!cld_opts.quiet) {
		printf("%s: %d random bytes, mode 0600; copy it to every node of the cluster\n",
		       path, KEYGEN_BYTES);
	}
	return 0;
}
