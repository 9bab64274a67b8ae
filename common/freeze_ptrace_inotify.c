// SPDX-License-Identifier: MIT
/*
 * inotify fds (format 1.2 CLONDIKE/INOTIFY): each watch of fdinfo (wd,
 * mask, the inode as a file handle) turned back into a path with
 * open_by_handle_at (CAP_DAC_READ_SEARCH) on the watched filesystem's
 * mount.  An inotify fd with events queued, or a watch whose path cannot
 * be found, stays unrestorable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "freeze_ptrace_priv.h"

/* A directory fd on the mount of device maj:min, from our mountinfo. */
static int mount_fd(unsigned int maj, unsigned int min)
{
	char line[4096], want[32], mp[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int fd = -1;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%u:%u", maj, min);
	while (fd < 0 && fgets(line, sizeof(line), f)) {
		char dev[32];

		if (sscanf(line, "%*d %*d %31s %*s %4095s", dev, mp) == 2 && !strcmp(dev, want))
			fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: EBADF */
	}
	fclose(f);
	return fd;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One "inotify wd:..." line to a watch with its path; false if not. */
static bool watch_of(const char *l, struct cld_inotify *w)
{
	unsigned int wd, sdev, mask, ign, bytes;
	unsigned long long ino;
	int type, n = 0, mfd, fd;
	char hex[2 * MAX_HANDLE_SZ + 1], link[64], path[PATH_MAX];
	union {
		struct file_handle h;
		unsigned char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} fh;
	struct stat st;
	ssize_t k;
	unsigned int i;

	if (sscanf(l, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x "
		      "fhandle-type:%x f_handle:%256s%n",
		   &wd, &ino, &sdev, &mask, &ign, &bytes, &type, hex, &n) < 8 ||
	    bytes > MAX_HANDLE_SZ || strlen(hex) != 2 * (size_t)bytes)
		return false;
	fh.h.handle_bytes = bytes;
	fh.h.handle_type = type;
	for (i = 0; i < bytes; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);

		if (a < 0 || b < 0)
			return false;
		fh.b[sizeof(struct file_handle) + i] = (unsigned char)(a << 4 | b);
	}
	mfd = mount_fd(sdev >> 20, sdev & 0xfffff);
	if (mfd < 0)
		return false;
	fd = (int)syscall(SYS_open_by_handle_at, mfd, &fh.h, O_PATH | O_CLOEXEC);
	close(mfd);
	if (fd < 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	k = readlink(link, path, sizeof(path) - 1);
	if (k <= 0 || fstat(fd, &st) < 0 || st.st_ino != ino) {
		close(fd);
		return false;
	}
	close(fd);
	path[k] = '\0';
	if (path[0] != '/' || strstr(path, " (deleted)"))
		return false;
	memset(w, 0, sizeof(*w));
	w->rec.wd = (int32_t)wd;
	w->rec.mask = mask;
	w->rec.ino = ino;
	w->rec.dev = ptr_encode_dev(st.st_dev);
	w->path = strdup(path);
	return w->path != NULL;
}

static int cmp_watch(const void *a, const void *b)
{
	const struct cld_inotify_rec *x = &((const struct cld_inotify *)a)->rec;
	const struct cld_inotify_rec *y = &((const struct cld_inotify *)b)->rec;

	if (x->fd != y->fd)
		return (x->fd > y->fd) - (x->fd < y->fd);
	return (x->wd > y->wd) - (x->wd < y->wd);
}

/* The watches of inotify fd p->fds[i], appended; false: not restorable. */
static bool one_inotify(struct collect *c, int pidfd, uint32_t i)
{
	struct cld_proc *p = c->p;
	struct cld_fd_rec *r = &p->fds[i].rec;
	uint32_t first = p->nr_watches;
	char path[64], *info = NULL, *l;
	int fd, queued = 0;
	bool ok = true;

	fd = (int)syscall(SYS_pidfd_getfd, pidfd, r->fd, 0);
	if (fd < 0)
		return false;
	/* Events queued would be lost. */
	if (ioctl(fd, FIONREAD, &queued) < 0 || queued) {
		close(fd);
		return false;
	}
	close(fd);
	snprintf(path, sizeof(path), "fdinfo/%d", r->fd);
	if (cld_procfs_slurp(c->pid, path, &info, NULL))
		return false;
	for (l = strstr(info, "inotify wd:"); l && ok; l = strstr(l + 1, "\ninotify wd:")) {
		struct cld_inotify *nw;

		if (*l == '\n')
			l++;
		nw = realloc(p->watches, (p->nr_watches + 1) * sizeof(*nw));
		if (!nw) {
			ok = false;
			break;
		}
		p->watches = nw;
		ok = watch_of(l, &p->watches[p->nr_watches]);
		if (ok)
			p->watches[p->nr_watches++].rec.fd = r->fd;
	}
	free(info);
	if (!ok)
		while (p->nr_watches > first)
			free(p->watches[--p->nr_watches].path);
	return ok;
}

int ptr_collect_inotify(struct collect *c)
{
	struct cld_proc *p = c->p;
	int pidfd = -1;
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd_rec *r = &p->fds[i].rec;

		if (r->kind != CLD_FD_INOTIFY)
			continue;
		if (pidfd < 0) {
			pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
			if (pidfd < 0)
				return cld_err_set(c->err, -errno, "pidfd_open(%d): %s", c->pid,
						   strerror(errno));
		}
		if (!one_inotify(c, pidfd, i))
			r->kind = CLD_FD_UNSUPPORTED;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (p->nr_watches)
		qsort(p->watches, p->nr_watches, sizeof(*p->watches), cmp_watch);
	return 0;
}
