// SPDX-License-Identifier: MIT
/*
 * Reading /proc: whole small files, the fields of status, stat split after
 * the comm, limits (clondike/procfs.h), and one line of maps
 * (clondike/freeze_ptrace.h).  The ptrace freezer reads every part of a
 * process's state it can from here, the daemon what it lists.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clondike/format.h"
#include "clondike/freeze_ptrace.h"
#include "clondike/procfs.h"

/* Read a whole small /proc file into a NUL-terminated malloc'ed buffer. */
int cld_procfs_slurp(pid_t pid, const char *name, char **out, size_t *len)
{
	char path[64];
	size_t cap = 4096, n = 0;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			free(buf);
			close(fd);
			return -e;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int cld_procfs_link(pid_t pid, const char *name, char **out)
{
	char path[96], buf[PATH_MAX + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

/* "Key:\tvalue" line of /proc/PID/status. */
const char *cld_status_field(const char *status, const char *key)
{
	size_t kl = strlen(key);
	const char *p = status;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return p + kl + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

uint64_t cld_status_hex(const char *status, const char *key)
{
	const char *v = cld_status_field(status, key);

	return v ? strtoull(v, NULL, 16) : 0;
}

long long cld_status_dec(const char *status, const char *key, long long dflt)
{
	const char *v = cld_status_field(status, key);

	return v ? strtoll(v, NULL, 10) : dflt;
}

int cld_procfs_stat_parse(const char *buf, struct cld_procfs_stat *sf)
{
	const char *open_p, *close_p, *p;
	size_t clen;
	int i;

	memset(sf, 0, sizeof(*sf));
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p || close_p[1] != ' ' || !close_p[2])
		return -EPROTO;
	clen = (size_t)(close_p - open_p - 1);
	if (clen > sizeof(sf->comm) - 1)
		clen = sizeof(sf->comm) - 1;
	memcpy(sf->comm, open_p + 1, clen);
	sf->state = close_p[2];
	p = close_p + 3;
	for (i = 4; i < 53 && *p; i++) {
		char *end;

		/* unsigned fields above LLONG_MAX (kstkesp...) do not matter here */
		sf->f[i] = strtoll(p, &end, 10);
		if (end == p)
			break;
		p = end;
		while (*p == ' ')
			p++;
	}
	sf->last = i - 1;
	return 0;
}

int cld_procfs_stat(pid_t pid, struct cld_procfs_stat *sf)
{
	char *buf;
	int ret;

	ret = cld_procfs_slurp(pid, "stat", &buf, NULL);
	if (ret)
		return ret;
	ret = cld_procfs_stat_parse(buf, sf);
	free(buf);
	return ret;
}

int cld_procfs_children(pid_t pid)
{
	struct cld_procfs_stat sf;
	struct dirent *de;
	int n = 0;
	DIR *d;

	/* Without CONFIG_PROC_CHILDREN there is no task/TID/children: every
	 * process's parent is read instead. */
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long q = strtol(de->d_name, &end, 10);

		if (*end || q <= 0 || q == pid)
			continue;
		if (!cld_procfs_stat((pid_t)q, &sf) && sf.last >= 4 && sf.f[4] == pid)
			n++;
	}
	closedir(d);
	return n;
}

/* /proc/PID/limits: rows in RLIMIT_* order, "unlimited" or a number. */
int cld_procfs_limits(pid_t pid, struct cld_proc_rec *pr)
{
	char *buf, *line, *next;
	int i = 0, ret;

	ret = cld_procfs_slurp(pid, "limits", &buf, NULL);
	if (ret)
		return ret;
	line = strchr(buf, '\n'); /* header */
	for (line = line ? line + 1 : NULL; line && *line && i < 16; line = next, i++) {
		char soft[32], hard[32];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* the name column is 26 characters wide */
		if (strlen(line) < 26 || sscanf(line + 26, "%31s %31s", soft, hard) != 2) {
			free(buf);
			return -EPROTO;
		}
		pr->rlim[i].cur =
			strcmp(soft, "unlimited") ? strtoull(soft, NULL, 10) : RLIM_INFINITY;
		pr->rlim[i].max =
			strcmp(hard, "unlimited") ? strtoull(hard, NULL, 10) : RLIM_INFINITY;
	}
	free(buf);
	return i == 16 ? 0 : -EPROTO;
}

/* ---- /proc/PID/maps -------------------------------------------------------- */

int cld_maps_parse(const char *line, struct cld_maps_line *l)
{
	unsigned long long s, e, off, ino;
	unsigned int maj, min;
	char perms[5];
	int pos = 0;
	const char *path;
	size_t plen;

	memset(l, 0, sizeof(*l));
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &s, &e, perms, &off, &maj, &min, &ino,
		   &pos) != 7 ||
	    pos <= 0)
		return -EINVAL;
	if (strlen(perms) != 4 || s >= e || (s | e) % CLD_PAGE_SIZE)
		return -EINVAL;
	l->start = s;
	l->end = e;
	l->pgoff = off;
	l->ino = ino;
	l->dev_major = maj;
	l->dev_minor = min;
	l->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	l->shared = perms[3] == 's';
	path = line + pos;
	while (*path == ' ' || *path == '\t')
		path++;
	plen = strcspn(path, "\n");
	if (plen >= sizeof(l->path))
		return -ENAMETOOLONG;
	memcpy(l->path, path, plen);
	l->path[plen] = '\0';
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

uint32_t cld_maps_classify(struct cld_maps_line *l, const char **name)
{
	uint32_t flags = l->shared ? CLD_VMA_SHARED : 0;
	char *p = l->path;

	*name = NULL;
	if (!p[0])
		return flags;
	if (p[0] == '[') {
		*name = p;
		if (!strcmp(p, "[heap]"))
			return flags | CLD_VMA_HEAP;
		if (!strcmp(p, "[stack]"))
			return flags | CLD_VMA_STACK | CLD_VMA_GROWSDOWN;
		if (!strcmp(p, "[vdso]"))
			return flags | CLD_VMA_VDSO;
		if (!strncmp(p, "[vvar", 5)) /* [vvar] and [vvar_vclock] (6.13+) */
			return flags | CLD_VMA_VVAR;
		if (!strcmp(p, "[vsyscall]"))
			return flags | CLD_VMA_VSYSCALL;
		/* Named anonymous memory (PR_SET_VMA_ANON_NAME) is ordinary memory. */
		if (!strncmp(p, "[anon:", 6) || !strncmp(p, "[anon_shmem:", 12))
			return flags;
		return flags | CLD_VMA_SPECIAL;
	}
	if (p[0] != '/') {
		/* anon_inode:... and other non-path names: not restorable as files */
		*name = p;
		return flags | CLD_VMA_SPECIAL;
	}
	/* MAP_SHARED|MAP_ANONYMOUS memory is a deleted shmem "/dev/zero". */
	if (l->shared && !strcmp(p, "/dev/zero (deleted)"))
		return flags;
	if (!strncmp(p, "/SYSV", 5) && ends_with(p, " (deleted)")) {
		*name = p;
		return flags | CLD_VMA_SYSVSHM;
	}
	flags |= CLD_VMA_FILE;
	if (ends_with(p, " (deleted)")) {
		p[strlen(p) - strlen(" (deleted)")] = '\0';
		flags |= CLD_VMA_DELETED;
	}
	*name = p;
	return flags;
}
