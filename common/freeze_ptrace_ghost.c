// SPDX-License-Identifier: MIT
/*
 * Memfds and deleted ("ghost") files: nothing to reopen them by at
 * restart, so their content goes into the image (PIPEDATA records of kind
 * FILE, one per inode) with their seals, up to CLD_MAX_FILE_DATA for all
 * of them; a file over what is left is marked CLD_FDREG_TOOBIG and the
 * restart refuses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "freeze_ptrace_priv.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Whether fd's file has a link after all (a name that ends in
 * " (deleted)"): memfds and unlinked files have none. */
static bool linked(pid_t pid, int fd)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	return stat(path, &st) == 0 && st.st_nlink > 0;
}

/* A readable file of fd: the process's own (pread leaves its offset
 * alone), else a new open of it through /proc (write-only, O_PATH). */
static int readable(struct collect *c, int pidfd, const struct cld_fd_rec *r)
{
	char path[64];
	int fd, acc = (int)(r->fl_flags & O_ACCMODE);

	if (acc != O_WRONLY && !(r->fl_flags & O_PATH)) {
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, r->fd, 0);
		if (fd >= 0)
			return fd;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, r->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = pread(fd, buf + off, len - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* it shrank: not while frozen */
		off += (size_t)n;
	}
	return 0;
}

/* The content of fd i's inode, recorded once; *budget what is left. */
static int record_one(struct collect *c, int pidfd, uint32_t i, uint64_t *budget)
{
	struct cld_proc *p = c->p;
	struct cld_fd_rec *r = &p->fds[i].rec;
	struct cld_pipedata *pd;
	uint8_t *buf = NULL;
	int fd, ret, seals;

	/* Unreadable (another mount namespace...): recorded without its
	 * content, which the restart refuses; the freeze goes on. */
	fd = readable(c, pidfd, r);
	if (fd < 0)
		return 0;
	if (r->state[0] & CLD_FDREG_MEMFD) {
		seals = fcntl(fd, F_GET_SEALS);
		r->state[1] = seals > 0 ? (uint64_t)seals : 0;
	}
	if (r->size > *budget) {
		r->state[0] |= CLD_FDREG_TOOBIG;
		close(fd);
		return 0;
	}
	buf = malloc(r->size ? r->size : 1);
	if (!buf) {
		close(fd);
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	}
	ret = read_all(fd, buf, r->size);
	close(fd);
	if (ret) {
		free(buf);
		return cld_err_set(c->err, ret, "fd %d of %d: reading deleted file %s: %s", r->fd,
				   c->pid, p->fds[i].name, strerror(-ret));
	}
	pd = realloc(p->pipes, (p->nr_pipes + 1) * sizeof(*pd));
	if (!pd) {
		free(buf);
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	}
	p->pipes = pd;
	pd = &p->pipes[p->nr_pipes++];
	memset(pd, 0, sizeof(*pd));
	pd->ino = r->ino;
	pd->kind = CLD_PIPEDATA_FILE;
	pd->len = (uint32_t)r->size;
	pd->data = buf;
	*budget -= r->size;
	r->state[0] |= CLD_FDREG_CONTENT;
	return 0;
}

int ptr_collect_file_data(struct collect *c)
{
	struct cld_proc *p = c->p;
	uint64_t budget = CLD_MAX_FILE_DATA;
	int pidfd = -1, ret = 0;
	uint32_t i, j;

	for (i = 0; i < p->nr_fds && !ret; i++) {
		struct cld_fd_rec *r = &p->fds[i].rec;
		const char *n = p->fds[i].name;
		bool memfd;

		if (r->kind != CLD_FD_REG || !n || !ends_with(n, " (deleted)") ||
		    linked(c->pid, r->fd))
			continue;
		memfd = !strncmp(n, "/memfd:", 7);
		/* An inode seen before, or one of the same number elsewhere
		 * (the content is keyed by inode): its flags, its seals. */
		for (j = 0; j < i; j++)
			if (p->fds[j].rec.kind == CLD_FD_REG && p->fds[j].rec.ino == r->ino &&
			    (p->fds[j].rec.state[0] & CLD_FDREG_DELETED))
				break;
		if (j < i) {
			if (p->fds[j].rec.dev == r->dev) {
				r->state[0] = p->fds[j].rec.state[0];
				r->state[1] = p->fds[j].rec.state[1];
			} else {
				r->state[0] = CLD_FDREG_DELETED; /* no content: refused */
			}
			continue;
		}
		r->state[0] = CLD_FDREG_DELETED | (memfd ? CLD_FDREG_MEMFD : 0);
		if (pidfd < 0) {
			pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
			if (pidfd < 0)
				return cld_err_set(c->err, -errno, "pidfd_open(%d): %s", c->pid,
						   strerror(errno));
		}
		ret = record_one(c, pidfd, i, &budget);
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}
