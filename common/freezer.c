// SPDX-License-Identifier: MIT
/*
 * The backend-neutral freezer: dispatch to a backend, the generic "image is
 * an fd" backend (what the kernel module hands out), and writing an image
 * out.  The holder that keeps a process frozen after `clondike freeze`
 * exits is freezer_hold.c, its clients freezer_hold_client.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clondike/freeze_ptrace.h"
#include "clondike/freezer.h"
#include "clondike/kabi.h"
#include "clondike/util.h"

#define WRITE_CHUNK (4u << 20)

/* ---- Generic operations ------------------------------------------------- */

int cld_frozen_prepare(struct cld_frozen *fz, struct cld_err *err)
{
	int ret;

	if (fz->prepared)
		return 0;
	if (fz->thawed)
		return cld_err_set(err, -ESTALE, "process %d is no longer frozen", fz->pid);
	if (fz->ops->prepare) {
		ret = fz->ops->prepare(fz, err);
		if (ret)
			return ret;
	}
	fz->prepared = true;
	return 0;
}

ssize_t cld_frozen_pread(struct cld_frozen *fz, void *buf, size_t len, uint64_t off)
{
	int ret;

	if (fz->thawed)
		return -ESTALE;
	ret = cld_frozen_prepare(fz, NULL);
	if (ret)
		return ret;
	return fz->ops->pread(fz, buf, len, off);
}

int64_t cld_frozen_seek(struct cld_frozen *fz, int64_t off, int whence)
{
	int ret;

	if (fz->thawed)
		return -ESTALE;
	ret = cld_frozen_prepare(fz, NULL);
	if (ret)
		return ret;
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= fz->size)
		return -ENXIO;
	if (fz->ops->seek)
		return fz->ops->seek(fz, off, whence);
	/* No hole information: everything is data, the end is the only hole. */
	if (whence == SEEK_DATA)
		return off;
	if (whence == SEEK_HOLE)
		return (int64_t)fz->size;
	return -EINVAL;
}

/*
 * The generic writer: pread in large chunks, skip holes when the output
 * can seek, and overlap reading with writing.  Reading a chunk (one
 * process_vm_readv plus the page digests for the ptrace backend) and
 * writing it (a copy into the page cache) cost about the same, so a writer
 * thread working on chunk n while we read chunk n+1 nearly halves the time
 * on a machine with two cores.
 */
#define NR_WBUF 3

struct wchunk {
	uint8_t *buf;
	uint64_t off;
	size_t len;
};

struct wqueue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wchunk c[NR_WBUF];
	unsigned int head, tail; /* filled: [head, tail) modulo NR_WBUF */
	int fd, seekable, done, error;
};

static void *writer_main(void *arg)
{
	struct wqueue *q = arg;

	for (;;) {
		struct wchunk c;
		int ret = 0;

		pthread_mutex_lock(&q->lock);
		while (q->head == q->tail && !q->done)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->head == q->tail) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		c = q->c[q->head % NR_WBUF];
		pthread_mutex_unlock(&q->lock);

		if (q->seekable) {
			size_t done = 0;

			while (done < c.len && !ret) {
				ssize_t w = pwrite(q->fd, c.buf + done, c.len - done,
						   (off_t)(c.off + done));

				if (w < 0 && errno != EINTR)
					ret = -errno;
				else if (w > 0)
					done += (size_t)w;
			}
		} else {
			ret = cld_write_all(q->fd, c.buf, c.len);
		}

		pthread_mutex_lock(&q->lock);
		q->head++;
		if (ret && !q->error)
			q->error = ret;
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
	}
}

static int generic_write_fd(struct cld_frozen *fz, int fd, cld_progress_fn progress, void *arg,
			    struct cld_err *err)
{
	struct wqueue q = { .fd = fd };
	uint8_t *bufs[NR_WBUF] = { NULL };
	uint64_t off = 0, done = 0;
	pthread_t writer;
	unsigned int i;
	int ret = 0, werr;

	/* pwrite at image offsets: not for pipes, nor O_APPEND files (where
	 * Linux's pwrite appends). */
	q.seekable = lseek(fd, 0, SEEK_CUR) >= 0 && !(fcntl(fd, F_GETFL) & O_APPEND);
	for (i = 0; i < NR_WBUF; i++) {
		bufs[i] = malloc(WRITE_CHUNK);
		if (!bufs[i]) {
			ret = cld_err_set(err, -ENOMEM, "out of memory for write buffers");
			goto free;
		}
	}
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
	ret = pthread_create(&writer, NULL, writer_main, &q);
	if (ret) {
		ret = cld_err_set(err, -ret, "starting the writer thread: %s", strerror(ret));
		goto destroy;
	}
	while (off < fz->size) {
		uint64_t next = fz->size;
		struct wchunk *c;
		size_t want;
		ssize_t n;

		if (q.seekable) {
			int64_t d = cld_frozen_seek(fz, (int64_t)off, SEEK_DATA);

			if (d == -ENXIO)
				break;
			if (d < 0) {
				ret = cld_err_set(err, (int)d, "SEEK_DATA in image at %llu: %s",
						  (unsigned long long)off, strerror((int)-d));
				break;
			}
			off = (uint64_t)d;
			d = cld_frozen_seek(fz, (int64_t)off, SEEK_HOLE);
			if (d < 0) {
				ret = cld_err_set(err, (int)d, "SEEK_HOLE in image at %llu: %s",
						  (unsigned long long)off, strerror((int)-d));
				break;
			}
			next = (uint64_t)d;
		}
		/* Wait for a free buffer. */
		pthread_mutex_lock(&q.lock);
		while (q.tail - q.head == NR_WBUF && !q.error)
			pthread_cond_wait(&q.cond, &q.lock);
		werr = q.error;
		pthread_mutex_unlock(&q.lock);
		if (werr)
			break;
		c = &q.c[q.tail % NR_WBUF];
		c->buf = bufs[q.tail % NR_WBUF];
		want = next - off < WRITE_CHUNK ? (size_t)(next - off) : WRITE_CHUNK;
		n = cld_frozen_pread(fz, c->buf, want, off);
		if (n <= 0) {
			ret = cld_err_set(
				err, n ? (int)n : -EIO, "reading image at offset %llu: %s",
				(unsigned long long)off, n ? strerror((int)-n) : "unexpected end");
			break;
		}
		c->off = off;
		c->len = (size_t)n;
		pthread_mutex_lock(&q.lock);
		q.tail++;
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
		off += (uint64_t)n;
		done += (uint64_t)n;
		if (progress)
			progress(arg, done, fz->data_bytes);
	}
	pthread_mutex_lock(&q.lock);
	q.done = 1;
	pthread_cond_broadcast(&q.cond);
	pthread_mutex_unlock(&q.lock);
	pthread_join(writer, NULL);
	if (!ret && q.error)
		ret = cld_err_set(err, q.error, "writing image: %s", strerror(-q.error));
	/* A trailing hole is only a size. */
	if (!ret && q.seekable && ftruncate(fd, (off_t)fz->size) < 0 && errno != EINVAL)
		ret = cld_err_set(err, -errno, "sizing output: %s", strerror(errno));
destroy:
	pthread_cond_destroy(&q.cond);
	pthread_mutex_destroy(&q.lock);
free:
	for (i = 0; i < NR_WBUF; i++)
		free(bufs[i]);
	return ret;
}

int cld_frozen_write_fd(struct cld_frozen *fz, int fd, cld_progress_fn progress, void *arg,
			struct cld_err *err)
{
	int ret;

	if (fz->thawed)
		return cld_err_set(err, -ESTALE, "process %d is no longer frozen", fz->pid);
	ret = cld_frozen_prepare(fz, err);
	if (ret)
		return ret;
	if (fz->ops->write_fd)
		return fz->ops->write_fd(fz, fd, progress, arg, err);
	return generic_write_fd(fz, fd, progress, arg, err);
}

int cld_frozen_drop_memory(struct cld_frozen *fz, uint64_t *bytes, struct cld_err *err)
{
	*bytes = 0;
	if (!fz->ops->drop_memory)
		return cld_err_set(err, -EOPNOTSUPP, "the %s backend cannot drop memory",
				   fz->backend);
	return fz->ops->drop_memory(fz, bytes, err);
}

int cld_frozen_thaw(struct cld_frozen *fz, enum cld_thaw_how how, struct cld_err *err)
{
	int ret;

	if (fz->thawed)
		return cld_err_set(err, -EALREADY, "process %d is already thawed", fz->pid);
	ret = fz->ops->thaw(fz, how, err);
	/* Even a failed thaw leaves nothing frozen that we could still act on
	 * (the backends detach or close whatever happens). */
	fz->thawed = true;
	return ret;
}

void cld_frozen_free(struct cld_frozen *fz)
{
	if (!fz)
		return;
	if (fz->owns_freeze && !fz->thawed)
		cld_frozen_thaw(fz, CLD_THAW_RESUME, NULL);
	if (fz->ops->release)
		fz->ops->release(fz);
	free(fz);
}

/* ---- Backend selection -------------------------------------------------- */

int cld_freeze(pid_t pid, unsigned int flags, struct cld_frozen **out, struct cld_err *err)
{
	return cld_freeze_timed(pid, flags, 0, out, err);
}

int cld_freeze_timed(pid_t pid, unsigned int flags, unsigned int timeout_ms,
		     struct cld_frozen **out, struct cld_err *err)
{
	struct cld_frozen *h;
	const char *backend;

	if (pid <= 0)
		return cld_err_set(err, -EINVAL, "invalid pid %d", (int)pid);
	if (!(flags & CLD_FREEZE_HOLDER) && !cld_hold_connect(pid, &h, NULL)) {
		cld_frozen_free(h);
		return cld_err_set(
			err, -EBUSY,
			"process %d is already frozen by 'clondike freeze' (thaw it first)", pid);
	}
	/* The kernel module when /dev/clondike is there, ptrace otherwise;
	 * CLD_FREEZER=ptrace|kmod in the environment forces one. */
	backend = getenv("CLD_FREEZER");
	if (backend && !strcmp(backend, "ptrace"))
		flags |= CLD_FREEZE_PTRACE;
	else if (backend && !strcmp(backend, "kmod"))
		flags |= CLD_FREEZE_KMOD;
	if (!(flags & CLD_FREEZE_PTRACE)) {
		struct cld_kabi_freeze fr;
		int fd = cld_kabi_freeze_pid(pid, 0, timeout_ms, &fr);

		if (fd >= 0)
			return cld_frozen_from_fd(fd, pid, "kmod", out, err);
		if ((flags & CLD_FREEZE_KMOD) || (fd != -ENOENT && fd != -ENODEV))
			return cld_err_set(err, fd, "kernel freezer (/dev/clondike): %s",
					   strerror(-fd));
	}
	return cld_freeze_ptrace(pid, 0, timeout_ms, out, err);
}

/* ---- The fd backend (kmod) ------------------------------------------------ */

static ssize_t fd_pread(struct cld_frozen *fz, void *buf, size_t len, uint64_t off)
{
	int fd = (int)(intptr_t)fz->priv;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		if (!n)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int64_t fd_seek(struct cld_frozen *fz, int64_t off, int whence)
{
	off_t r = lseek((int)(intptr_t)fz->priv, (off_t)off, whence);

	return r < 0 ? -errno : (int64_t)r;
}

static int fd_thaw(struct cld_frozen *fz, enum cld_thaw_how how, struct cld_err *err)
{
	int fd = (int)(intptr_t)fz->priv;
	int ret = 0;

	/* Kill first, then let go: the process never runs another instruction. */
	if (how == CLD_THAW_KILL && kill(fz->pid, SIGKILL) < 0)
		ret = cld_err_set(err, -errno, "kill %d: %s", fz->pid, strerror(errno));
	if (fd >= 0 && close(fd) < 0 && !ret)
		ret = cld_err_set(err, -errno, "closing the image fd of %d: %s", fz->pid,
				  strerror(errno));
	fz->priv = (void *)(intptr_t)-1;
	return ret;
}

static void fd_release(struct cld_frozen *fz)
{
	int fd = (int)(intptr_t)fz->priv;

	if (fd >= 0)
		close(fd);
}

static const struct cld_frozen_ops fd_ops = {
	.pread = fd_pread,
	.seek = fd_seek,
	.thaw = fd_thaw,
	.release = fd_release,
};

int cld_frozen_from_fd(int fd, pid_t pid, const char *backend, struct cld_frozen **out,
		       struct cld_err *err)
{
	struct cld_frozen *fz;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fstat of the image fd of %d: %s", pid, strerror(e));
	}
	fz = calloc(1, sizeof(*fz));
	if (!fz) {
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	fz->ops = &fd_ops;
	snprintf(fz->backend, sizeof(fz->backend), "%s", backend);
	fz->pid = pid;
	fz->size = (uint64_t)st.st_size;
	/* st_blocks is what the kmod reports for data; good enough for progress. */
	fz->data_bytes = st.st_blocks ? (uint64_t)st.st_blocks * 512 : fz->size;
	fz->owns_freeze = true;
	fz->prepared = true;
	fz->priv = (void *)(intptr_t)fd;
	*out = fz;
	return 0;
}
