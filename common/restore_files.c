// SPDX-License-Identifier: MIT
/*
 * Restore phase 2, in the parent: open every file the child will inherit
 * (fds, mapped files, the exe) and re-create in-process pipes with their
 * data, so identity checks and their errors happen before any process
 * exists.  Each lands in a slot of rs->pfd, which the child dup3()s to
 * svc_base + slot.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "restore_priv.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif
#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif

static int64_t mtime_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
}

int rst_add_pfd(struct cld_rst *rs, int fd, bool owned)
{
	if (rs->nr_pfd == rs->cap_pfd) {
		uint32_t cap = rs->cap_pfd ? rs->cap_pfd * 2 : 16;
		int *a = realloc(rs->pfd, cap * sizeof(*a));
		bool *b;

		if (!a)
			return -ENOMEM;
		rs->pfd = a;
		b = realloc(rs->pfd_owned, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		rs->pfd_owned = b;
		rs->cap_pfd = cap;
	}
	rs->pfd[rs->nr_pfd] = fd;
	rs->pfd_owned[rs->nr_pfd] = owned;
	return (int)rs->nr_pfd++;
}

static int add_owned(struct cld_rst *rs, int fd, struct cld_err *err)
{
	int slot = rst_add_pfd(rs, fd, true);

	if (slot < 0) {
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	return slot;
}

void rst_close_pfds(struct cld_rst *rs)
{
	uint32_t i;

	for (i = 0; i < rs->nr_pfd; i++)
		if (rs->pfd_owned[i] && rs->pfd[i] >= 0)
			close(rs->pfd[i]);
	rs->nr_pfd = 0;
}

static int check_ident(const char *what, const char *path, const struct stat *st, uint64_t dev,
		       uint64_t ino, struct cld_err *err)
{
	/* An image that does not say which file it was gets no file. */
	if (!dev && !ino)
		return cld_err_set(err, -ESTALE,
				   "%s %s: the image does not identify the file (no dev/inode)",
				   what, path);
	if (rst_dev_enc(st->st_dev) != dev || st->st_ino != ino)
		return cld_err_set(err, -ESTALE,
				   "%s %s is not the same file any more (dev/inode %llx/%llu, "
				   "image has %llx/%llu)",
				   what, path, (unsigned long long)rst_dev_enc(st->st_dev),
				   (unsigned long long)st->st_ino, (unsigned long long)dev,
				   (unsigned long long)ino);
	return 0;
}

/* The file type each fd kind must find (a FIFO named as a regular file
 * would block open or read; a directory swapped for a file...). */
static mode_t kind_type(uint32_t kind)
{
	switch (kind) {
	case CLD_FD_REG:
		return S_IFREG;
	case CLD_FD_DIR:
		return S_IFDIR;
	case CLD_FD_FIFO:
		return S_IFIFO;
	case CLD_FD_CHR:
		return S_IFCHR;
	default:
		return 0;
	}
}

static int open_fd_file(struct cld_rst *rs, const struct cld_fd *f, struct cld_err *err)
{
	const struct cld_fd_rec *r = &f->rec;
	int flags = (int)(r->fl_flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_CLOEXEC |
		    O_NOCTTY | O_NONBLOCK;
	struct stat st;
	int fd, tmp = -1;

	if (r->kind == CLD_FD_DIR)
		flags |= O_DIRECTORY;
	/* Never block in open: hold a reader while opening a FIFO's write end. */
	if (r->kind == CLD_FD_FIFO)
		tmp = open(f->name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	fd = open(f->name, flags);
	if (fd < 0) {
		int e = errno;

		if (tmp >= 0)
			close(tmp);
		return cld_err_set(err, -e, "fd %d: cannot open %s: %s", r->fd, f->name,
				   strerror(e));
	}
	if (tmp >= 0)
		close(tmp);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return cld_err_set(err, -errno, "fd %d: fstat %s", r->fd, f->name);
	}
	if ((st.st_mode & S_IFMT) != kind_type(r->kind)) {
		close(fd);
		return cld_err_set(err, -ESTALE, "fd %d: %s is not a %s any more", r->fd, f->name,
				   cld_fd_kind_name(r->kind));
	}
	/* Status flags as the process had them (O_NONBLOCK only if it did);
	 * an O_PATH fd has none to set. */
	if (!(r->fl_flags & (O_NONBLOCK | O_PATH)) && fcntl(fd, F_SETFL, (int)(r->fl_flags & ~O_ACCMODE &
								  ~O_NONBLOCK)) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fd %d: fcntl %s: %s", r->fd, f->name, strerror(e));
	}
	if (r->kind == CLD_FD_CHR) {
		if (r->rdev && rst_dev_enc(st.st_rdev) != r->rdev) {
			close(fd);
			return cld_err_set(err, -ESTALE, "fd %d: %s is not the same device", r->fd,
					   f->name);
		}
	} else if (r->kind == CLD_FD_REG) {
		int ret = check_ident("fd", f->name, &st, r->dev, r->ino, err);

		if (ret) {
			close(fd);
			return cld_err_set(err, ret, "fd %d: %s", r->fd, err->msg);
		}
	}
	if (r->kind == CLD_FD_FIFO && r->size && r->size != (uint64_t)fcntl(fd, F_GETPIPE_SZ) &&
	    fcntl(fd, F_SETPIPE_SZ, (int)r->size) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fd %d: sizing FIFO %s to %llu bytes: %s", r->fd,
				   f->name, (unsigned long long)r->size, strerror(e));
	}
	if ((r->kind == CLD_FD_REG || r->kind == CLD_FD_DIR) && r->pos && !(r->fl_flags & O_PATH) &&
	    lseek(fd, (off_t)r->pos, SEEK_SET) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fd %d: seek %s to %llu: %s", r->fd, f->name,
				   (unsigned long long)r->pos, strerror(e));
	}
	return add_owned(rs, fd, err);
}

/*
 * fd f as the home forwards it, when this node has no such file or another
 * one under its name: status flags and offset as the image says (O_APPEND
 * included; the home appends).  The message says why both failed.
 */
static int open_fd_forwarded(struct cld_rst *rs, const struct cld_fd *f, struct cld_err *err)
{
	const struct cld_fd_rec *r = &f->rec;
	int flags = (int)(r->fl_flags &
			  ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_DIRECT | O_NOATIME)) |
		    O_CLOEXEC | O_NOCTTY;
	char why[sizeof(err->msg)], path[4096];
	int fd, e;

	snprintf(why, sizeof(why), "%s", err->msg);
	snprintf(path, sizeof(path), "%s/%d", rs->o->fwd_dir, r->fd);
	fd = open(path, flags);
	if (fd < 0) {
		e = errno;
		return cld_err_set(err, -e, "%s; nor forwarded from home (%s: %s)", why, path,
				   strerror(e));
	}
	if (r->pos && lseek(fd, (off_t)r->pos, SEEK_SET) < 0) {
		e = errno;
		close(fd);
		return cld_err_set(err, -e, "fd %d: seek %s to %llu: %s", r->fd, path,
				   (unsigned long long)r->pos, strerror(e));
	}
	cld_err_clear(err);
	return add_owned(rs, fd, err);
}

/* Another open file description of a pipe's end, as open(2) of
 * /proc/PID/fd/N gives. */
static int reopen_end(struct cld_rst *rs, int end, bool rd, struct cld_err *err)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", end);
	fd = open(path, (rd ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
	if (fd < 0)
		return cld_err_set(err, -errno, "opening a pipe's end again: %s", strerror(errno));
	return add_owned(rs, fd, err);
}

/* Both ends of an in-process pipe, its unread data written back. */
static int open_pipe(struct cld_rst *rs, uint32_t idx, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint64_t ino = p->fds[idx].rec.ino, cap = p->fds[idx].rec.size;
	int pfd[2], rslot, wslot, slot;
	bool rused = false, wused = false;
	uint32_t i;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cld_err_set(err, -errno, "pipe: %s", strerror(errno));
	/* Its capacity as the process had set it (F_SETPIPE_SZ). */
	if (cap && cap != (uint64_t)fcntl(pfd[1], F_GETPIPE_SZ) &&
	    fcntl(pfd[1], F_SETPIPE_SZ, (int)cap) < 0) {
		int e = errno;

		close(pfd[0]);
		close(pfd[1]);
		return cld_err_set(err, -e, "sizing pipe:[%llu] to %llu bytes: %s",
				   (unsigned long long)ino, (unsigned long long)cap, strerror(e));
	}
	for (i = 0; i < p->nr_pipes; i++) {
		const struct cld_pipedata *d = &p->pipes[i];
		size_t off = 0;

		if (d->ino != ino || !d->len || d->kind != CLD_PIPEDATA_PIPE)
			continue;
		if (d->len > 65536 && d->len > cap)
			fcntl(pfd[1], F_SETPIPE_SZ, (int)d->len);
		while (off < d->len) {
			ssize_t n = write(pfd[1], d->data + off, d->len - off);

			if (n <= 0) {
				close(pfd[0]);
				close(pfd[1]);
				return cld_err_set(err, -EIO,
						   "writing %u bytes back into pipe:[%llu]",
						   d->len, (unsigned long long)ino);
			}
			off += (size_t)n;
		}
	}
	rslot = add_owned(rs, pfd[0], err);
	if (rslot < 0) {
		close(pfd[1]);
		return rslot;
	}
	wslot = add_owned(rs, pfd[1], err);
	if (wslot < 0)
		return wslot;
	/*
	 * Every fd of this pipe takes the end of its access mode.  Status
	 * flags (O_NONBLOCK) live in the open file description: fds that
	 * shared one share one again (file_id), and an end opened again
	 * separately (/proc/PID/fd/N) gets a description of its own.
	 */
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *f = &p->fds[i].rec;
		bool rd = (f->fl_flags & O_ACCMODE) == O_RDONLY;
		bool *used = rd ? &rused : &wused;

		if (f->kind != CLD_FD_PIPE || f->ino != ino)
			continue;
		if (f->file_id && f->file_id - 1 < i && rs->fd_slot[f->file_id - 1] >= 0) {
			rs->fd_slot[i] = rs->fd_slot[f->file_id - 1];
			continue;
		}
		if (!*used || !f->file_id) {
			slot = rd ? rslot : wslot;
			*used = true;
		} else {
			slot = reopen_end(rs, rd ? pfd[0] : pfd[1], rd, err);
			if (slot < 0)
				return slot;
		}
		rs->fd_slot[i] = slot;
		fcntl(rs->pfd[slot], F_SETFL, (int)(f->fl_flags & O_NONBLOCK));
	}
	return 0;
}

/*
 * A FIFO's unread data, back in it once its fds are open: written through
 * one of the process's fds that may write, else through a write end of our
 * own (a reader is there: the process's).  A FIFO that still holds bytes
 * is left alone: another holder kept it open, and those are the bytes.
 */
static int fill_fifos(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint32_t i, j;

	for (i = 0; i < p->nr_pipes; i++) {
		const struct cld_pipedata *d = &p->pipes[i];
		int rfd = -1, wfd = -1, own = -1, queued = 0;
		const char *path = NULL;
		size_t off = 0;

		if (d->kind != CLD_PIPEDATA_FIFO || !d->len)
			continue;
		for (j = 0; j < p->nr_fds; j++) {
			const struct cld_fd *f = &p->fds[j];
			int acc = (int)(f->rec.fl_flags & O_ACCMODE);

			if (f->rec.kind != CLD_FD_FIFO || f->rec.ino != d->ino || rs->fd_slot[j] < 0)
				continue;
			path = f->name;
			if (acc != O_WRONLY && rfd < 0)
				rfd = rs->pfd[rs->fd_slot[j]];
			if (acc != O_RDONLY && wfd < 0)
				wfd = rs->pfd[rs->fd_slot[j]];
		}
		if (rfd < 0 || !path)
			continue; /* not read here (a forwarded fd) */
		if (ioctl(rfd, FIONREAD, &queued) == 0 && queued > 0)
			continue;
		if (wfd < 0) {
			own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
			if (own < 0)
				return cld_err_set(err, -errno, "FIFO %s: opening it to write its "
						   "%u bytes back: %s", path, d->len, strerror(errno));
			wfd = own;
		}
		if (d->len > 65536 && (uint64_t)d->len > (uint64_t)fcntl(wfd, F_GETPIPE_SZ))
			fcntl(wfd, F_SETPIPE_SZ, (int)d->len);
		while (off < d->len) {
			ssize_t n = write(wfd, d->data + off, d->len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				int e = n < 0 ? errno : EIO;

				if (own >= 0)
					close(own);
				return cld_err_set(err, -e, "FIFO %s: writing %u bytes back: %s",
						   path, d->len, strerror(e));
			}
			off += (size_t)n;
		}
		if (own >= 0)
			close(own);
	}
	return 0;
}

int rst_open_fds(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	int tty_slot = -1, ret;
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++)
		rs->fd_slot[i] = -1;
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *f = &p->fds[i];

		if (rs->fd_slot[i] >= 0)
			continue;
		ret = cld_restore_fwd(rs->o, f->rec.fd);
		if (ret >= 0) {
			/* Forwarded home: the relay's end, flags as in the
			 * image (its own open file: nobody else shares them). */
			int local = ret;

			ret = rst_add_pfd(rs, local, false);
			if (ret < 0)
				return cld_err_set(err, -ENOMEM, "out of memory");
			fcntl(local, F_SETFL, (int)(f->rec.fl_flags & O_NONBLOCK));
			rs->fd_slot[i] = ret;
			continue;
		}
		/* A dup of an fd before it: the same open file again (its
		 * offset and flags shared, as they were). */
		if (f->rec.file_id && f->rec.file_id - 1 < i &&
		    rs->fd_slot[f->rec.file_id - 1] >= 0 && f->rec.kind != CLD_FD_TTY) {
			rs->fd_slot[i] = rs->fd_slot[f->rec.file_id - 1];
			continue;
		}
		if (cld_fd_kind_is_anon(f->rec.kind)) {
			ret = rst_open_anon(rs, f, err);
			if (ret < 0)
				return ret;
			rs->fd_slot[i] = ret;
			continue;
		}
		switch (f->rec.kind) {
		case CLD_FD_TTY:
			if (tty_slot < 0) {
				tty_slot = rst_add_pfd(rs, rs->o->tty_fd, false);
				if (tty_slot < 0)
					return cld_err_set(err, -ENOMEM, "out of memory");
			}
			rs->fd_slot[i] = tty_slot;
			break;
		case CLD_FD_PIPE:
			if (!rst_pipe_has_both(p, f->rec.ino)) {
				/* One end of a pipeline at 0-2: the restarting
				 * command's own stdio takes its place. */
				ret = rst_add_pfd(rs, f->rec.fd, false);
				if (ret < 0)
					return cld_err_set(err, -ENOMEM, "out of memory");
				if (fcntl(f->rec.fd, F_GETFD) < 0)
					return cld_err_set(err, -EBADF,
							   "fd %d is one end of a pipe and the "
							   "restarting command has no fd %d to give",
							   f->rec.fd, f->rec.fd);
				rs->fd_slot[i] = ret;
				break;
			}
			ret = open_pipe(rs, i, err);
			if (ret)
				return ret;
			break;
		case CLD_FD_SOCKPAIR:
			ret = rst_open_sockpair(rs, i, err);
			if (ret)
				return ret;
			break;
		default:
			if (f->rec.kind == CLD_FD_REG && (f->rec.state[0] & CLD_FDREG_CONTENT))
				ret = rst_open_ghost(rs, i, err);
			else
				ret = open_fd_file(rs, f, err);
			if (ret < 0 && f->rec.kind == CLD_FD_REG && rs->o->fwd_dir &&
			    !(f->rec.fl_flags & O_PATH))
				ret = open_fd_forwarded(rs, f, err);
			if (ret < 0)
				return ret;
			rs->fd_slot[i] = ret;
			break;
		}
	}
	return fill_fifos(rs, err);
}

int rst_open_mapped_files(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		bool shared = v->rec.flags & CLD_VMA_SHARED;
		struct stat st;
		int fd, ret;

		rs->vma_slot[i] = -1;
		if (rs->vkind[i] != VK_FILE)
			continue;
		/* Most files are mapped several times in a row (text, data...). */
		for (j = i; j-- > 0;) {
			const struct cld_vma *w = &p->vmas[j];

			if (rs->vma_slot[j] >= 0 && w->rec.ino == v->rec.ino &&
			    w->rec.dev == v->rec.dev &&
			    !!(w->rec.flags & CLD_VMA_SHARED) == shared &&
			    !strcmp(w->name, v->name)) {
				rs->vma_slot[i] = rs->vma_slot[j];
				break;
			}
		}
		if (rs->vma_slot[i] >= 0)
			continue;
		if (v->rec.flags & CLD_VMA_DELETED) {
			/* The file its fds have, re-created (VK_FILE says one has). */
			ret = rst_ghost_file(rs, v->rec.dev, v->rec.ino, err);
			if (ret < 0)
				return ret;
			rs->vma_slot[i] = ret;
			continue;
		}
		fd = -1;
		if (shared)
			fd = open(v->name, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			fd = open(v->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return cld_err_set(err, -errno, "mapping %llx-%llx: cannot open %s: %s",
					   (unsigned long long)v->rec.start,
					   (unsigned long long)v->rec.end, v->name, strerror(errno));
		if (fstat(fd, &st) < 0) {
			close(fd);
			return cld_err_set(err, -errno, "fstat %s", v->name);
		}
		ret = S_ISREG(st.st_mode) ? 0
					  : cld_err_set(err, -ESTALE,
							"mapped file %s is not a regular file",
							v->name);
		if (!ret)
			ret = check_ident("mapped file", v->name, &st, v->rec.dev, v->rec.ino,
					  err);
		if (!ret && v->rec.mtime_ns && ((uint64_t)st.st_size != v->rec.fsize ||
						mtime_of(&st) != v->rec.mtime_ns))
			ret = cld_err_set(err, -ESTALE,
					  "mapped file %s changed since the checkpoint (size %lld, "
					  "was %llu; mtime differs: %s)",
					  v->name, (long long)st.st_size,
					  (unsigned long long)v->rec.fsize,
					  mtime_of(&st) != v->rec.mtime_ns ? "yes" : "no");
		if (ret) {
			close(fd);
			return ret;
		}
		ret = add_owned(rs, fd, err);
		if (ret < 0)
			return ret;
		rs->vma_slot[i] = ret;
	}
	return 0;
}

/* The exe for PR_SET_MM_MAP; needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE,
 * so only tried as root; /proc/PID/exe stays the restorer's otherwise. */
void rst_open_exe(struct cld_rst *rs)
{
	struct stat st;
	int fd, slot;

	rs->slot_exe = -1;
	if (geteuid() != 0 || !rs->p->exe || rs->p->exe[0] != '/')
		return;
	fd = open(rs->p->exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || (rs->p->mm.exe_ino && (st.st_ino != rs->p->mm.exe_ino ||
							  rst_dev_enc(st.st_dev) != rs->p->mm.exe_dev))) {
		close(fd);
		return;
	}
	slot = rst_add_pfd(rs, fd, true);
	if (slot < 0) {
		close(fd);
		return;
	}
	rs->slot_exe = slot;
}
