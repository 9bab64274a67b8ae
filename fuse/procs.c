// SPDX-License-Identifier: MIT
#include "procs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clondike/procfs.h"
#include "clock.h"
#include "log.h"

/* hidepid: the options last read, and when (see below). */
struct hidepid {
	pthread_mutex_t mu;
	uint64_t read_ns;
	int mode;
	gid_t gid; /* the kernel's default is 0, the root group */
};

struct cldd_procs {
	uint64_t boot_ns;
	long clk_tck;
	struct hidepid hp;
};

int cldd_procs_init(struct cldd *d)
{
	struct cldd_procs *ps = calloc(1, sizeof(*ps));
	char buf[4096], *p;
	int fd;
	ssize_t n;

	if (!ps)
		return -ENOMEM;
	pthread_mutex_init(&ps->hp.mu, NULL);
	d->procs = ps;
	ps->clk_tck = sysconf(_SC_CLK_TCK);
	if (ps->clk_tck <= 0)
		ps->clk_tck = 100;
	fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strstr(buf, "\nbtime ");
	if (p)
		ps->boot_ns = strtoull(p + 7, NULL, 10) * 1000000000ull;
	return 0;
}

pid_t cldd_parse_pid(const char *name)
{
	unsigned long v = 0;
	const char *s;

	if (!*name || *name == '0')
		return 0;
	for (s = name; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > INT_MAX)
			return 0;
	}
	return (pid_t)v;
}

ssize_t cldd_proc_read(pid_t pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	size_t len = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (len + 1 < cap) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return n;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

int cldd_proc_info(struct cldd *d, pid_t pid, struct cldd_pinfo *pi)
{
	const struct cldd_procs *ps = d->procs;
	struct cld_procfs_stat sf;
	char buf[1024], dir[32];
	struct stat st;
	ssize_t n;

	memset(pi, 0, sizeof(*pi));
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (stat(dir, &st) < 0)
		return -ESRCH;
	n = cldd_proc_read(pid, "stat", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* Up to field 22: flags is 9, starttime is 22. */
	if (cld_procfs_stat_parse(buf, &sf) || sf.last < 22)
		return -EIO;
	n = (ssize_t)strnlen(sf.comm, sizeof(pi->comm) - 1);
	memcpy(pi->comm, sf.comm, (size_t)n);
	pi->comm[n] = 0;
	pi->state = sf.state;
	pi->start_ticks = (unsigned long long)sf.f[22];
	if (((unsigned long)sf.f[9] & CLD_PF_KTHREAD) || pi->state == 'Z' || pi->state == 'X')
		return -ENOENT;
	pi->pid = pid;
	pi->uid = st.st_uid;
	pi->gid = st.st_gid;
	pi->start_ns = ps->boot_ns + pi->start_ticks * (1000000000ull / (uint64_t)ps->clk_tck);
	return 0;
}

/* "Uid:\t1000\t1000\t1000\t1000" -> all of real, effective, saved == uid */
static bool ids_all(const char *status, const char *key, unsigned long id)
{
	const char *p = cld_status_field(status, key);
	char *end;
	int i;

	if (!p)
		return false;
	for (i = 0; i < 3; i++) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v != id)
			return false;
		p = end;
	}
	return true;
}

int cldd_proc_may_access(pid_t pid, uid_t uid, gid_t gid)
{
	char buf[4096], dir[32];
	struct stat st;
	ssize_t n;

	if (uid == 0)
		return 0;
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (stat(dir, &st) < 0)
		return -ESRCH;
	if (st.st_uid != uid) /* not ours, or not dumpable */
		return -EACCES;
	n = cldd_proc_read(pid, "status", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return ids_all(buf, "Uid", uid) && ids_all(buf, "Gid", gid) ? 0 : -EACCES;
}

static uint64_t status_kb(const char *status, const char *key)
{
	const char *v = cld_status_field(status, key);

	return v ? strtoull(v, NULL, 10) * 1024 : 0;
}

/*
 * The estimate: headers (ELF header, one program header per mapping plus
 * two, ~200 bytes of notes per mapping plus 8 KiB of fixed notes) rounded
 * to a page, then the anonymous resident and swapped bytes (the pages that
 * will be dumped, as the format dumps populated private pages), then 8
 * bytes of digest per such page.  Holes shorter than CLD_ANON_GAP_PAGES
 * inside a data segment and dirty private file pages are not counted.
 */
int cldd_proc_estimate(pid_t pid, uint64_t *size, uint64_t *data)
{
	char buf[4096];
	char *maps = NULL;
	uint64_t nvma = 0, head, anon, pathbytes = 0;
	size_t cap = 1 << 16;
	ssize_t n;
	char *p;

	n = cldd_proc_read(pid, "status", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	anon = status_kb(buf, "RssAnon") + status_kb(buf, "VmSwap");
	for (;;) {
		free(maps);
		maps = malloc(cap);
		if (!maps)
			return -ENOMEM;
		n = cldd_proc_read(pid, "maps", maps, cap);
		if (n < 0) {
			free(maps);
			return (int)n;
		}
		if ((size_t)n + 1 < cap)
			break;
		cap *= 4;
	}
	for (p = maps; *p; p++) {
		if (*p == '\n')
			nvma++;
		else if (*p == '/')
			pathbytes++;
	}
	free(maps);
	head = 64 + (nvma + 2) * 56 + 8192 + nvma * 200 + pathbytes * 16;
	head = (head + 4095) / 4096 * 4096;
	*data = head + anon + anon / 4096 * 8;
	*size = *data;
	return 0;
}

int cldd_proc_list(uid_t uid, pid_t **pids, size_t *n)
{
	size_t cap = 1024, cnt = 0;
	pid_t *v = malloc(cap * sizeof(*v)), *nv;
	struct dirent *de;
	DIR *d;
	int dfd, ret = 0;

	if (!v)
		return -ENOMEM;
	d = opendir("/proc");
	if (!d) {
		ret = -errno;
		goto fail;
	}
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		pid_t pid = cldd_parse_pid(de->d_name);
		char exe[32], lnk[8];
		struct stat st;

		if (!pid)
			continue;
		if (uid != 0) {
			if (fstatat(dfd, de->d_name, &st, 0) < 0 || st.st_uid != uid)
				continue;
		}
		/* Kernel threads and zombies have no executable. */
		snprintf(exe, sizeof(exe), "%d/exe", (int)pid);
		if (readlinkat(dfd, exe, lnk, sizeof(lnk)) < 0 && errno != EACCES)
			continue;
		if (cnt == cap) {
			cap *= 2;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				ret = -ENOMEM;
				goto fail_dir;
			}
			v = nv;
		}
		v[cnt++] = pid;
	}
	closedir(d);
	*pids = v;
	*n = cnt;
	return 0;
fail_dir:
	closedir(d);
fail:
	free(v);
	return ret;
}

/* ---- hidepid ------------------------------------------------------------ */

/*
 * The hidepid= and gid= options of the daemon's /proc (the last proc mount
 * on /proc in /proc/self/mountinfo), read again at most once a second: a
 * remount is seen within a second, with no signal.
 */
enum { HIDEPID_OFF = 0, HIDEPID_NOACCESS = 1, HIDEPID_INVISIBLE = 2, HIDEPID_PTRACEABLE = 4 };

static int hidepid_value(const char *v)
{
	static const char *const names[] = { "off", "noaccess", "invisible", NULL, "ptraceable" };
	char *end;
	long n = strtol(v, &end, 10);
	int i;

	if (end != v && !*end)
		return n == 1 || n == 2 || n == 4 ? (int)n : HIDEPID_OFF;
	for (i = 0; i < 5; i++)
		if (names[i] && !strcmp(v, names[i]))
			return i;
	return HIDEPID_OFF;
}

/* Parse "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SRC SUPEROPTS". */
static void hidepid_read(int *mode, gid_t *gid)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	*mode = HIDEPID_OFF;
	*gid = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char mp[256], *sep, fstype[32], opts[1024], *o, *save = NULL;
		int m = HIDEPID_OFF;
		gid_t g = 0;

		if (sscanf(line, "%*s %*s %*s %*s %255s", mp) != 1 || strcmp(mp, "/proc"))
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%31s %*s %1023s", fstype, opts) != 2 ||
		    strcmp(fstype, "proc"))
			continue;
		for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
			if (!strncmp(o, "hidepid=", 8))
				m = hidepid_value(o + 8);
			else if (!strncmp(o, "gid=", 4))
				g = (gid_t)strtoul(o + 4, NULL, 10);
		}
		/* The last one listed is the one on top. */
		*mode = m;
		*gid = g;
	}
	fclose(f);
}

static void hidepid_get(struct cldd *d, int *mode, gid_t *gid)
{
	struct hidepid *hp = &d->procs->hp;
	uint64_t now = cldd_now_ns();

	pthread_mutex_lock(&hp->mu);
	if (!hp->read_ns || now - hp->read_ns >= 1000000000ull) {
		int old = hp->mode;

		hidepid_read(&hp->mode, &hp->gid);
		hp->read_ns = now;
		if (hp->mode != old)
			cldd_info("/proc hidepid=%d gid=%u: process files follow it", hp->mode,
				  (unsigned int)hp->gid);
	}
	*mode = hp->mode;
	*gid = hp->gid;
	pthread_mutex_unlock(&hp->mu);
}

bool cldd_hidepid_on(struct cldd *d)
{
	int mode;
	gid_t gid;

	hidepid_get(d, &mode, &gid);
	return mode != HIDEPID_OFF;
}

static bool caller_in_group(const struct cldd_caller *who, gid_t gid)
{
	gid_t list[256];
	int n, i;

	if (who->gid == gid)
		return true;
	if (!who->groups)
		return false;
	n = who->groups(who->arg, list, 256);
	if (n > 256)
		n = 256; /* beyond: not looked at */
	for (i = 0; i < n; i++)
		if (list[i] == gid)
			return true;
	return false;
}

int cldd_proc_visible(struct cldd *d, pid_t pid, const struct cldd_caller *who)
{
	int mode, r;
	gid_t gid;

	hidepid_get(d, &mode, &gid);
	if (mode == HIDEPID_OFF)
		return 0;
	if (who->uid == 0)
		return CLDD_VIS_NOCACHE;
	/* As the kernel's has_pid_permissions(): gid= exempts, except from
	 * "ptraceable"; otherwise the caller must be able to ptrace-read. */
	if (mode != HIDEPID_PTRACEABLE && caller_in_group(who, gid))
		return CLDD_VIS_NOCACHE;
	r = cldd_proc_may_access(pid, who->uid, who->gid);
	if (!r)
		return CLDD_VIS_NOCACHE;
	if (r == -ESRCH)
		return -ENOENT;
	return mode == HIDEPID_NOACCESS ? CLDD_VIS_NOCACHE | CLDD_VIS_REDACT : -ENOENT;
}
