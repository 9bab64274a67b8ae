// SPDX-License-Identifier: MIT
/*
 * Memfds and deleted ("ghost") files, re-created in the parent from the
 * content in the image (format 1.3): one file per recorded inode, so dups,
 * separate opens and MAP_SHARED mappings of it meet in one file again.
 *
 * A memfd is a memfd again: its name, its mode, its content, then its
 * seals (after the content, or F_SEAL_WRITE would stop it).  A deleted
 * file becomes an O_TMPFILE in the directory it was in, if that exists
 * and its file system can (same file system, same quota, the name /proc
 * shows is the directory's), else a memfd named after it: its bytes, its
 * mode, its offset are what the process can see; its path is gone anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "clondike/compat.h"
#include "clondike/util.h"
#include "restore_priv.h"

#define DELETED_SUFFIX " (deleted)"

/* /proc's name without " (deleted)", in buf. */
static void bare_name(const char *name, char *buf, size_t size)
{
	size_t n = strlen(name), m = strlen(DELETED_SUFFIX);

	if (n >= m && !strcmp(name + n - m, DELETED_SUFFIX))
		n -= m;
	snprintf(buf, size, "%.*s", (int)n, name);
}

/* A memfd as the process made it: "/memfd:NAME"; MFD_ALLOW_SEALING unless
 * its only seal is F_SEAL_SEAL (what a memfd without it has). */
static int make_memfd(const char *bare, uint64_t seals)
{
	char name[250];
	unsigned int flags = MFD_CLOEXEC;

	snprintf(name, sizeof(name), "%.249s", !strncmp(bare, "/memfd:", 7) ? bare + 7 : bare);
	if (seals != F_SEAL_SEAL)
		flags |= MFD_ALLOW_SEALING;
	return memfd_create(name, flags);
}

/* An unlinked file in the directory the deleted one was in, else -1. */
static int make_tmpfile(const char *bare, mode_t mode)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%.4095s", bare);
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode & 0777);
}

/* The file of image fd g (the first with its inode's content). */
static int make_file(const struct cld_rst *rs, const struct cld_fd *g, struct cld_err *err)
{
	const struct cld_fd_rec *r = &g->rec;
	const struct cld_pipedata *d = cld_proc_file_data(rs->p, r->ino);
	bool memfd = r->state[0] & CLD_FDREG_MEMFD;
	char bare[4096];
	int fd = -1, ret;

	bare_name(g->name, bare, sizeof(bare));
	if (!d)
		return cld_err_set(err, -ESTALE, "fd %d: no content for %s", r->fd, g->name);
	if (!memfd)
		fd = make_tmpfile(bare, (mode_t)r->mode);
	if (fd < 0)
		fd = make_memfd(bare, memfd ? r->state[1] : 0);
	if (fd < 0)
		return cld_err_set(err, -errno, "fd %d: re-creating %s: %s", r->fd, g->name,
				   strerror(errno));
	/* Its mode before any F_SEAL_EXEC; a memfd starts at 0777.  No set-id
	 * bits: the file is the restorer's (root's, for another user's image)
	 * and its content the image's, and an O_TMPFILE can be linked in. */
	if (fchmod(fd, (mode_t)(r->mode & 0777)) < 0) {
		ret = cld_err_set(err, -errno, "fd %d: mode of %s: %s", r->fd, g->name,
				  strerror(errno));
		goto fail;
	}
	ret = cld_write_all(fd, d->data, d->len); /* a new file, at offset 0 */
	if (!ret && ftruncate(fd, (off_t)r->size) < 0)
		ret = -errno;
	if (ret) {
		ret = cld_err_set(err, ret, "fd %d: writing the %llu bytes of %s back: %s", r->fd,
				  (unsigned long long)r->size, g->name, strerror(-ret));
		goto fail;
	}
	if (memfd && r->state[1] && r->state[1] != F_SEAL_SEAL &&
	    fcntl(fd, F_ADD_SEALS, (int)r->state[1]) < 0) {
		ret = cld_err_set(err, -errno, "fd %d: seals %#llx on %s: %s", r->fd,
				  (unsigned long long)r->state[1], g->name, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

int rst_ghost_file(struct cld_rst *rs, uint64_t dev, uint64_t ino, struct cld_err *err)
{
	const struct cld_fd *g = cld_proc_ghost_fd(rs->p, dev, ino);
	uint32_t gi;
	int fd, slot;

	if (!g)
		return cld_err_set(err, -ESTALE, "no content in the image for deleted inode %llu",
				   (unsigned long long)ino);
	gi = (uint32_t)(g - rs->p->fds);
	if (rs->ghost_slot[gi] >= 0)
		return rs->ghost_slot[gi];
	fd = make_file(rs, g, err);
	if (fd < 0)
		return fd;
	slot = rst_add_pfd(rs, fd, true);
	if (slot < 0) {
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	rs->ghost_slot[gi] = slot;
	return slot;
}

/* An open file description of its own, as open(2) of /proc/PID/fd/N
 * gives: access mode and status flags as recorded, and its offset. */
int rst_open_ghost(struct cld_rst *rs, uint32_t i, struct cld_err *err)
{
	const struct cld_fd *f = &rs->p->fds[i];
	const struct cld_fd_rec *r = &f->rec;
	int flags = (int)(r->fl_flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_TMPFILE)) |
		    O_CLOEXEC | O_NOCTTY;
	int slot = rst_ghost_file(rs, r->dev, r->ino, err), fd;
	char path[64];

	if (slot < 0)
		return slot;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rs->pfd[slot]);
	fd = open(path, flags);
	if (fd < 0)
		return cld_err_set(err, -errno, "fd %d: opening re-created %s: %s", r->fd, f->name,
				   strerror(errno));
	if (r->pos && !(r->fl_flags & O_PATH) && lseek(fd, (off_t)r->pos, SEEK_SET) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fd %d: seek %s to %llu: %s", r->fd, f->name,
				   (unsigned long long)r->pos, strerror(e));
	}
	slot = rst_add_pfd(rs, fd, true);
	if (slot < 0) {
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	return slot;
}
