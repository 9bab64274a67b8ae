// SPDX-License-Identifier: MIT
/*
 * Open files: one record per fd from /proc/PID/fd and fdinfo, and the
 * unread data of pipes the process holds both ends of.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clondike/codec.h"
#include "freeze_ptrace_priv.h"

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fill_fd_kind(struct cld_fd *f, const char *link, const struct stat *st)
{
	unsigned int maj = major(st->st_rdev), min = minor(st->st_rdev);
	const char *name = link;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		f->rec.kind = CLD_FD_REG;
		break;
	case S_IFDIR:
		f->rec.kind = CLD_FD_DIR;
		break;
	case S_IFIFO:
		f->rec.kind = strncmp(link, "pipe:", 5) ? CLD_FD_FIFO : CLD_FD_PIPE;
		break;
	case S_IFCHR:
		/* 4: virtual consoles and serial; 136-143: pts; 5:0 /dev/tty,
		 * 5:1 console */
		if (maj == 4 || (maj >= 136 && maj <= 143) || (maj == 5 && min <= 1))
			f->rec.kind = CLD_FD_TTY;
		else
			f->rec.kind = CLD_FD_CHR;
		break;
	case S_IFSOCK:
		f->rec.kind = CLD_FD_UNSUPPORTED;
		break;
	default:
		f->rec.kind = cld_anon_kind(link);
		break;
	}
	f->name = strdup(name);
	return f->name ? 0 : -ENOMEM;
}

static int cmp_fd(const void *a, const void *b)
{
	const struct cld_fd *x = a, *y = b;

	return (x->rec.fd > y->rec.fd) - (x->rec.fd < y->rec.fd);
}

static int collect_one_fd(struct collect *c, struct cld_fd *f, int fd)
{
	char path[96], link[PATH_MAX + 1], *info = NULL, *v;
	struct stat st;
	ssize_t n;
	int ret;

	f->rec.fd = fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (stat(path, &st) < 0) {
		/* Unreachable target (e.g. another mount namespace): record
		 * what the link says. */
		memset(&st, 0, sizeof(st));
	}
	f->rec.dev = ptr_encode_dev(st.st_dev);
	f->rec.ino = st.st_ino;
	f->rec.rdev = ptr_encode_dev(st.st_rdev);
	f->rec.size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	f->rec.mtime_ns = S_ISREG(st.st_mode) ? ptr_ts_ns(&st.st_mtim) : 0;
	f->rec.mode = st.st_mode;
	ret = fill_fd_kind(f, link, &st);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "fdinfo/%d", fd);
	ret = cld_procfs_slurp(c->pid, path, &info, NULL);
	if (ret)
		return ret;
	v = strstr(info, "pos:");
	if (v)
		f->rec.pos = strtoull(v + 4, NULL, 10);
	v = strstr(info, "flags:");
	if (v) {
		unsigned long fl = strtoul(v + 6, NULL, 8);

		f->rec.fd_flags = (fl & O_CLOEXEC) ? FD_CLOEXEC : 0;
		f->rec.fl_flags = (uint32_t)(fl & ~(unsigned long)O_CLOEXEC);
	}
	/* flock, POSIX, OFD locks and leases on this open file. */
	if (strstr(info, "\nlock:"))
		c->p->proc.flags |= CLD_PROC_LOCKS;
	cld_fdinfo_state(&f->rec, info, realtime_ns());
	free(info);
	return 0;
}

/* Whether two fds of pid are one open file description (kcmp(2)). */
static bool same_file(pid_t pid, int a, int b)
{
	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

/*
 * Which fds share an open file description (dup, fork, SCM_RIGHTS), and
 * the capacity of pipes and FIFOs: what /proc does not say.  The pipe's
 * own file comes through pidfd_getfd, not a new open: opening a FIFO
 * would wake a writer blocked in its open.
 */
static int fds_sharing(struct collect *c)
{
	struct cld_proc *p = c->p;
	int pidfd, fd, sz;
	uint32_t i, j;

	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd_rec *f = &p->fds[i].rec;

		f->file_id = i + 1;
		for (j = 0; j < i; j++)
			if (p->fds[j].rec.file_id == j + 1 && p->fds[j].rec.ino == f->ino &&
			    p->fds[j].rec.dev == f->dev && same_file(c->pid, p->fds[j].rec.fd, f->fd)) {
				f->file_id = j + 1;
				break;
			}
	}
	pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (pidfd < 0)
		return cld_err_set(c->err, -errno, "pidfd_open(%d): %s", c->pid, strerror(errno));
	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd_rec *f = &p->fds[i].rec;

		if ((f->kind != CLD_FD_PIPE && f->kind != CLD_FD_FIFO) || f->file_id != i + 1)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, f->fd, 0);
		if (fd < 0) {
			int e = errno;

			close(pidfd);
			return cld_err_set(c->err, -e, "pidfd_getfd of fd %d of %d: %s", f->fd,
					   c->pid, strerror(e));
		}
		sz = fcntl(fd, F_GETPIPE_SZ);
		close(fd);
		if (sz > 0)
			f->size = (uint64_t)sz;
	}
	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd_rec *f = &p->fds[i].rec;

		if (f->file_id != i + 1)
			f->size = p->fds[f->file_id - 1].rec.size;
	}
	close(pidfd);
	return 0;
}

int ptr_collect_fds(struct collect *c)
{
	struct cld_proc *p = c->p;
	char path[64];
	struct dirent *de;
	uint32_t cap = 0, i;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	d = opendir(path);
	if (!d)
		return cld_err_set(c->err, -errno, "opening %s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		struct cld_fd *f;
		char *end;
		long fd;

		if (de->d_name[0] == '.')
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end || fd < 0)
			continue;
		if (p->nr_fds == cap) {
			uint32_t ncap = cap ? cap * 2 : 16;
			struct cld_fd *nf = realloc(p->fds, ncap * sizeof(*nf));

			if (!nf) {
				ret = cld_err_set(c->err, -ENOMEM, "out of memory");
				break;
			}
			p->fds = nf;
			cap = ncap;
		}
		f = &p->fds[p->nr_fds];
		memset(f, 0, sizeof(*f));
		ret = collect_one_fd(c, f, (int)fd);
		if (ret == -ENOENT) {
			/* cannot happen while frozen, unless a holder of the file
			 * table outside the process closed it: skip */
			free(f->name);
			ret = 0;
			continue;
		}
		if (ret) {
			free(f->name);
			ret = cld_err_set(c->err, ret, "fd %ld of %d: %s", fd, c->pid,
					  strerror(-ret));
			break;
		}
		p->nr_fds++;
		if (p->nr_fds > CLD_MAX_FDS) {
			ret = cld_err_set(c->err, -E2BIG, "more than %u open fds", CLD_MAX_FDS);
			break;
		}
	}
	closedir(d);
	if (!ret && p->nr_fds) {
		qsort(p->fds, p->nr_fds, sizeof(*p->fds), cmp_fd);
		ret = fds_sharing(c);
	}
	for (i = 0; !ret && i < p->nr_fds; i++) {
		struct cld_fd_rec *r = &p->fds[i].rec;
		struct cld_procfs_stat sf;
		char *info = NULL;

		/* A pidfd's process is its pid and start time (pids are reused). */
		if (r->kind == CLD_FD_PIDFD) {
			if (!cld_procfs_stat((pid_t)r->state[0], &sf) && sf.last >= 22)
				r->state[1] = (uint64_t)sf.f[22];
			else
				r->kind = CLD_FD_UNSUPPORTED;
		}
		if (r->kind != CLD_FD_EPOLL)
			continue;
		snprintf(path, sizeof(path), "fdinfo/%d", p->fds[i].rec.fd);
		ret = cld_procfs_slurp(c->pid, path, &info, NULL);
		if (!ret)
			ret = cld_fdinfo_epoll(p, i, info);
		free(info);
		if (ret)
			ret = cld_err_set(c->err, ret, "epoll fd %d of %d: %s", p->fds[i].rec.fd,
					  c->pid, strerror(-ret));
	}
	if (!ret)
		ret = ptr_collect_sockpairs(c);
	return ret ? ret : ptr_collect_inotify(c);
}

/* What waits in the receive queue of socketpair end p->fds[i], all of it,
 * else the end is not restorable. */
static int sock_data(struct cld_proc *p, uint32_t i, int src)
{
	struct cld_fd_rec *r = &p->fds[i].rec;
	struct cld_pipedata *pd;
	uint8_t *buf;
	ssize_t n;

	if (r->state[2] > CLD_MAX_PIPE_DATA)
		goto unsupported;
	buf = malloc(r->state[2]);
	if (!buf)
		return -ENOMEM;
	n = ptr_peek_socket(src, buf, r->state[2]);
	if (n != (ssize_t)r->state[2]) {
		free(buf);
		goto unsupported;
	}
	pd = realloc(p->pipes, (p->nr_pipes + 1) * sizeof(*pd));
	if (!pd) {
		free(buf);
		return -ENOMEM;
	}
	p->pipes = pd;
	pd = &p->pipes[p->nr_pipes++];
	memset(pd, 0, sizeof(*pd));
	pd->ino = r->ino;
	pd->kind = CLD_PIPEDATA_SOCK;
	pd->len = (uint32_t)n;
	pd->data = buf;
	return 0;
unsupported:
	/* Fds in flight, more than we take, or a queue that moved. */
	r->kind = CLD_FD_UNSUPPORTED;
	memset(r->state, 0, sizeof(r->state));
	return 0;
}

/*
 * Unread data of pipes whose both ends the process holds (the restorer
 * recreates such a pipe and must refill it), and of FIFOs it reads.
 * tee() copies the bytes into a pipe of ours without consuming them, so
 * the frozen process loses nothing; the source is the process's own file
 * (pidfd_getfd): opening a FIFO again would wake a writer blocked in open.
 */
int ptr_collect_pipe_data(struct collect *c)
{
	struct cld_proc *p = c->p;
	int ret = 0, pidfd = -1;
	uint32_t i;

	for (i = 0; i < p->nr_fds && !ret; i++) {
		const struct cld_fd *r = &p->fds[i];
		int kind = cld_pipedata_kind(p, i), src = -1, pp[2] = { -1, -1 };
		struct cld_pipedata *pd;
		ssize_t n;
		int sz;

		if (kind < 0)
			continue;
		if (pidfd < 0) {
			pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
			if (pidfd < 0)
				return cld_err_set(c->err, -errno, "pidfd_open(%d): %s", c->pid,
						   strerror(errno));
		}
		src = (int)syscall(SYS_pidfd_getfd, pidfd, r->rec.fd, 0);
		if (src < 0) {
			ret = cld_err_set(c->err, -errno, "pidfd_getfd of fd %d of %d: %s",
					  r->rec.fd, c->pid, strerror(errno));
			goto next;
		}
		if (kind == CLD_PIPEDATA_SOCK) {
			ret = sock_data(p, i, src);
			goto next;
		}
		if (pipe2(pp, O_CLOEXEC | O_NONBLOCK) < 0) {
			ret = cld_err_set(c->err, -errno, "pipe: %s", strerror(errno));
			goto next;
		}
		sz = fcntl(src, F_GETPIPE_SZ);
		if (sz > 0 && (unsigned int)sz > CLD_MAX_PIPE_DATA)
			sz = CLD_MAX_PIPE_DATA;
		if (sz > 0 && fcntl(pp[1], F_SETPIPE_SZ, sz) < 0) {
			ret = cld_err_set(c->err, -errno,
					  "cannot size a pipe to %d bytes to copy pipe %llu: %s",
					  sz, (unsigned long long)r->rec.ino, strerror(errno));
			goto next;
		}
		n = tee(src, pp[1], CLD_MAX_PIPE_DATA, SPLICE_F_NONBLOCK);
		if (n < 0 && errno != EAGAIN) {
			ret = cld_err_set(c->err, -errno, "tee from %s %llu: %s",
					  kind == CLD_PIPEDATA_FIFO ? "FIFO" : "pipe",
					  (unsigned long long)r->rec.ino, strerror(errno));
			goto next;
		}
		if (n <= 0)
			goto next;
		pd = realloc(p->pipes, (p->nr_pipes + 1) * sizeof(*pd));
		if (!pd) {
			ret = cld_err_set(c->err, -ENOMEM, "out of memory");
			goto next;
		}
		p->pipes = pd;
		pd = &p->pipes[p->nr_pipes];
		memset(pd, 0, sizeof(*pd));
		pd->ino = r->rec.ino;
		pd->kind = (uint32_t)kind;
		pd->data = malloc((size_t)n);
		if (!pd->data) {
			ret = cld_err_set(c->err, -ENOMEM, "out of memory");
			goto next;
		}
		pd->len = (uint32_t)read(pp[0], pd->data, (size_t)n);
		if ((ssize_t)pd->len != n) {
			free(pd->data);
			ret = cld_err_set(c->err, -EIO, "short read of copied pipe data");
			goto next;
		}
		p->nr_pipes++;
next:
		if (src >= 0)
			close(src);
		if (pp[0] >= 0) {
			close(pp[0]);
			close(pp[1]);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}
