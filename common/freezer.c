// SPDX-License-Identifier: MIT
/*
 * The backend-neutral freezer: dispatch to a backend, the generic "image is
 * an fd" backend (what the kernel module hands out), writing an image out,
 * and the holder that keeps a process frozen after `clondike freeze` exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clondike/compat.h"
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

/* ---- The holder ------------------------------------------------------------ */

/*
 * Protocol on a SOCK_STREAM unix socket in the abstract namespace,
 * "@clondike/frozen/<pid>": a request is a struct hold_req; each answer is
 * one or more struct hold_resp (kind PROGRESS then FINAL), each followed by
 * msg_len bytes of text (an error message, or the backend for INFO), and a
 * FINAL answer to PREAD by ret bytes of image data.  WRITE_FD carries the
 * output fd as SCM_RIGHTS.  Both ends are on the same host and kernel, so
 * the structs go as they are.
 */
enum hold_op {
	HOLD_INFO = 1,
	HOLD_PREAD = 2,
	HOLD_SEEK = 3,
	HOLD_WRITE_FD = 4,
	HOLD_THAW = 5,
};

struct hold_req {
	uint32_t op;
	int32_t arg; /* whence for SEEK, enum cld_thaw_how for THAW */
	uint64_t off;
	uint64_t len;
};

#define HOLD_FINAL 0u
#define HOLD_PROGRESS 1u
#define HOLD_MAX_PREAD (8u << 20)

struct hold_resp {
	int64_t ret; /* >= 0 result, or -errno */
	uint32_t kind;
	uint32_t msg_len;
	uint64_t a, b; /* INFO: size, data_bytes; PROGRESS: done, total */
	int32_t pid;   /* INFO */
	uint32_t pad;  /* INFO: 1 if size and data_bytes are valid */
};

static void hold_addr(pid_t pid, struct sockaddr_un *sa, socklen_t *len)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "clondike/frozen/%d", (int)pid);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return done ? -EPROTO : -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int send_resp(int fd, const struct hold_resp *r, const char *msg, const void *data,
		     size_t dlen)
{
	struct hold_resp h = *r;
	int ret;

	h.msg_len = msg ? (uint32_t)strlen(msg) : 0;
	ret = cld_write_all(fd, (const uint8_t *)&h, sizeof(h));
	if (!ret && h.msg_len)
		ret = cld_write_all(fd, (const uint8_t *)msg, h.msg_len);
	if (!ret && dlen)
		ret = cld_write_all(fd, data, dlen);
	return ret;
}

int cld_hold_listen(pid_t pid, int *lfd, struct cld_err *err)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	hold_addr(pid, &sa, &len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cld_err_set(err, -errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		close(fd);
		if (e == EADDRINUSE)
			return cld_err_set(err, -EBUSY, "process %d is already frozen", pid);
		return cld_err_set(err, -e, "bind @%s: %s", sa.sun_path + 1, strerror(e));
	}
	if (listen(fd, 8) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "listen: %s", strerror(e));
	}
	*lfd = fd;
	return 0;
}

struct hold_progress {
	int fd;
	int failed;
};

static void hold_progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct hold_progress *hp = arg;
	struct hold_resp r = { .kind = HOLD_PROGRESS, .a = done, .b = total };

	if (!hp->failed && send_resp(hp->fd, &r, NULL, NULL, 0))
		hp->failed = 1; /* the client went away: keep writing anyway */
}

/* Receive one request, with an fd for WRITE_FD.  Returns 0, or <0 at EOF. */
static int recv_req(int cfd, struct hold_req *req, int *rfd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { req, sizeof(*req) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	*rfd = -1;
	do
		n = recvmsg(cfd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n ? -errno : -ECONNRESET;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(rfd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n < sizeof(*req))
		return read_full(cfd, (char *)req + n, sizeof(*req) - (size_t)n);
	return 0;
}

/*
 * Serve one request.  Returns 1 when the freeze ended (thawed), -1 when the
 * answer could not be sent (the client is dropped: its stream is out of
 * step), 0 otherwise.
 */
static int hold_one(int cfd, struct cld_frozen *fz, const struct hold_req *req, int rfd,
		    uint8_t **buf)
{
	struct hold_resp r = { .kind = HOLD_FINAL };
	struct cld_err err = { 0 };
	struct hold_progress hp = { cfd, 0 };
	int sent;

	switch (req->op) {
	case HOLD_INFO:
		/* arg 1: the client wants the size, so lay the image out now */
		if (req->arg) {
			r.ret = cld_frozen_prepare(fz, &err);
			if (r.ret)
				return send_resp(cfd, &r, cld_err_str(&err), NULL, 0) ? -1 : 0;
		}
		r.a = fz->size;
		r.pad = fz->prepared;
		r.b = fz->data_bytes;
		r.pid = fz->pid;
		sent = send_resp(cfd, &r, fz->backend, NULL, 0);
		break;
	case HOLD_PREAD: {
		size_t len = req->len < HOLD_MAX_PREAD ? (size_t)req->len : HOLD_MAX_PREAD;
		ssize_t n;

		if (!*buf)
			*buf = malloc(HOLD_MAX_PREAD);
		n = *buf ? cld_frozen_pread(fz, *buf, len, req->off) : -ENOMEM;
		r.ret = n;
		sent = send_resp(cfd, &r, NULL, *buf, n > 0 ? (size_t)n : 0);
		break;
	}
	case HOLD_SEEK:
		r.ret = cld_frozen_seek(fz, (int64_t)req->off, req->arg);
		sent = send_resp(cfd, &r, NULL, NULL, 0);
		break;
	case HOLD_WRITE_FD:
		if (rfd < 0) {
			r.ret = -EBADF;
			sent = send_resp(cfd, &r, "no output fd was passed", NULL, 0);
			break;
		}
		r.ret = cld_frozen_write_fd(fz, rfd, hold_progress_cb, &hp, &err);
		sent = send_resp(cfd, &r, r.ret ? cld_err_str(&err) : NULL, NULL, 0);
		break;
	case HOLD_THAW:
		r.ret = cld_frozen_thaw(
			fz, req->arg == CLD_THAW_KILL ? CLD_THAW_KILL : CLD_THAW_RESUME, &err);
		send_resp(cfd, &r, r.ret ? cld_err_str(&err) : NULL, NULL, 0);
		return 1;
	default:
		r.ret = -EOPNOTSUPP;
		sent = send_resp(cfd, &r, "unknown request", NULL, 0);
		break;
	}
	return sent ? -1 : 0;
}

/*
 * The holder's side of the trust: only root and the uid that made the
 * freeze may connect (SO_PEERCRED of the client, fixed at its connect).
 * The client's side (it must not trust whoever bound the name) is
 * hold_verify() below.
 */
static int peer_allowed(int cfd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return 0;
	return uc.uid == 0 || uc.uid == geteuid();
}

/*
 * Clients served at once (the daemon keeps one connection per open image,
 * each CLI command one): an idle client does not lock the others out.  More
 * wait in the listen backlog.
 */
#define HOLD_MAX_CLIENTS 16
/* A client that sends half a request, or stops reading its answer, for this
 * long is dropped: it cannot wedge the holder for everybody else. */
#define HOLD_CLIENT_TIMEOUT_S 10

static void set_sock_timeouts(int fd, int rcv_s, int snd_s)
{
	struct timeval r = { rcv_s, 0 }, s = { snd_s, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof(r));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof(s));
}

int cld_hold_serve(int lfd, struct cld_frozen *fz)
{
	pid_t pid = fz->pid;
	uint8_t *buf = NULL;
	int cfd[HOLD_MAX_CLIENTS];
	int pidfd, ret = 0, done = 0;
	unsigned int i, n = 0;

	/* A client that goes away mid-answer must not kill the holder. */
	signal(SIGPIPE, SIG_IGN);
	/* A pidfd tells us when the frozen process is killed under us. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	while (!done) {
		struct pollfd pf[2 + HOLD_MAX_CLIENTS];

		/* At the limit, new clients wait in the backlog. */
		pf[0] = (struct pollfd){ n < HOLD_MAX_CLIENTS ? lfd : -1, POLLIN, 0 };
		pf[1] = (struct pollfd){ pidfd, POLLIN, 0 };
		for (i = 0; i < n; i++)
			pf[2 + i] = (struct pollfd){ cfd[i], POLLIN, 0 };
		if (poll(pf, 2 + n, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (pf[1].revents & POLLIN) {
			ret = -ESRCH;
			break;
		}
		/* Backwards: a dropped client's slot takes the last one, which
		 * has had its turn already. */
		for (i = n; i-- > 0 && !done;) {
			struct hold_req req;
			int rfd, r;

			if (!(pf[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv_req(cfd[i], &req, &rfd);
			if (!r) {
				r = hold_one(cfd[i], fz, &req, rfd, &buf);
				if (rfd >= 0)
					close(rfd);
				if (r > 0)
					done = 1;
			}
			if (r < 0) {
				close(cfd[i]);
				cfd[i] = cfd[--n];
			}
		}
		if (!done && (pf[0].revents & POLLIN)) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0 && !peer_allowed(c)) {
				struct hold_resp r = { .ret = -EPERM, .kind = HOLD_FINAL };

				set_sock_timeouts(c, 1, 1);
				send_resp(c, &r, "permission denied: not the freezing user", NULL,
					  0);
				close(c);
			} else if (c >= 0) {
				set_sock_timeouts(c, HOLD_CLIENT_TIMEOUT_S, HOLD_CLIENT_TIMEOUT_S);
				cfd[n++] = c;
			}
		}
	}
	if (ret == -ESRCH) {
		int st;

		/* Reap the tracing link so the real parent sees the death. */
		fz->thawed = true;
		while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
			;
	}
	for (i = 0; i < n; i++)
		close(cfd[i]);
	if (pidfd >= 0)
		close(pidfd);
	close(lfd);
	free(buf);
	cld_frozen_free(fz);
	return ret;
}

/* ---- Holder client -------------------------------------------------------- */

/*
 * Anybody can bind "@clondike/frozen/<pid>" first: the abstract namespace
 * has no permissions.  So a client trusts the socket's owner only after
 * hold_verify() (docs/security.md, "Freeze holders"): the process that
 * bound and listens (SO_PEERCRED, fixed at its listen) must run as root or
 * as the frozen process's owner (real uid), and be its tracer (a ptrace
 * freeze) or hold a kmod image fd of it.  Nothing is sent to a socket, and
 * no fd passed, before that.
 *
 * Every answer is awaited with a timeout (SO_RCVTIMEO): the first (INFO)
 * HOLD_INFO_TIMEOUT_S, the others HOLD_IO_TIMEOUT_S.  While a verified
 * holder visibly works (its CPU time or its written bytes grow: a long
 * write into a slow file, a large page-table scan, another client's
 * request first) the wait goes on; a holder that neither answers nor works
 * for that long gets -ETIMEDOUT.
 */
#define HOLD_CONNECT_TIMEOUT_S 2
#define HOLD_INFO_TIMEOUT_S 5
#define HOLD_IO_TIMEOUT_S 10
/* A genuine holder binds its name just before it freezes: a socket owned
 * by a right uid whose process is not traced yet gets this long to become
 * its tracer. */
#define HOLD_FREEZING_WAIT_MS 1000
/* The kmod's image files live on this pseudo filesystem (kmod/cld_main.c). */
#define CLD_KMOD_FS_MAGIC 0x434c444bu

struct hold_client {
	int fd;
	pid_t peer; /* the holder: the process that bound and listens */
	uid_t peer_uid;
	int peer_pidfd; /* -1 when the kernel gives none */
	int timeout_s;	/* of the answer being awaited */
	uint64_t work;	/* the holder's CPU ticks + bytes written, last seen */
};

static void (*hold_warn_fn)(const char *msg);

void cld_hold_set_warn(void (*fn)(const char *msg))
{
	hold_warn_fn = fn;
}

/* The first number of "Key:" in /proc/PID/status, or -1. */
static long long proc_status_num(pid_t pid, const char *key)
{
	char path[64], buf[8192], *p;
	size_t kl = strlen(key), len = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len + 1 < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return strtoll(p + kl + 1, NULL, 10);
	return -1;
}

static bool peer_alive(const struct hold_client *hc)
{
	if (hc->peer_pidfd >= 0)
		return !syscall(SYS_pidfd_send_signal, hc->peer_pidfd, 0, NULL, 0) ||
		       errno == EPERM;
	return !kill(hc->peer, 0) || errno == EPERM;
}

/*
 * Does the peer hold a kmod image fd of pid (a kmod freeze leaves no
 * tracer)?  Looked at through pidfd_getfd(), so only for clients allowed to
 * (root; the holder's own uid unless Yama restricts ptrace).
 */
static bool peer_holds_kmod_image(const struct hold_client *hc, pid_t pid)
{
	int pidfd = hc->peer_pidfd, own = -1;
	unsigned int seen = 0;
	struct dirent *de;
	bool found = false;
	char dir[64];
	DIR *d;

	if (access(CLD_KABI_DEVICE, F_OK))
		return false;
	if (pidfd < 0) {
		own = pidfd = (int)syscall(SYS_pidfd_open, hc->peer, 0);
		if (pidfd < 0)
			return false;
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)hc->peer);
	d = opendir(dir);
	while (d && !found && seen++ < 256 && (de = readdir(d))) {
		struct cld_kabi_state st = { .size = sizeof(st) };
		struct statfs sfs;
		char *end;
		long v = strtol(de->d_name, &end, 10);
		int fd;

		if (end == de->d_name || *end || v < 0 || v > INT_MAX)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)v, 0);
		if (fd < 0)
			continue;
		/* The ioctl only on the module's own files. */
		if (!fstatfs(fd, &sfs) && (unsigned long)sfs.f_type == CLD_KMOD_FS_MAGIC &&
		    !ioctl(fd, CLD_IOC_STATE, &st) && st.pid == pid &&
		    st.state == CLD_KSTATE_FROZEN)
			found = true;
		close(fd);
	}
	if (d)
		closedir(d);
	if (own >= 0)
		close(own);
	return found;
}

/* 0 if the socket's owner is pid's holder; -EPERM (and *untrusted) if not. */
static int hold_verify(struct hold_client *hc, pid_t pid, bool *untrusted, struct cld_err *err)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	unsigned int waited = 0;
	char why[128], msg[320];

	if (getsockopt(hc->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || len != sizeof(uc)) {
		snprintf(msg, sizeof(msg),
			 "refusing holder of pid %d: cannot tell who owns its socket: %s", (int)pid,
			 strerror(errno));
		goto refuse;
	}
	hc->peer = uc.pid;
	hc->peer_uid = uc.uid;
	/* A pidfd pins the peer's identity: a pid read below that is still
	 * alive afterwards is still the peer's. */
	len = sizeof(hc->peer_pidfd);
	if (getsockopt(hc->fd, SOL_SOCKET, SO_PEERPIDFD, &hc->peer_pidfd, &len) < 0)
		hc->peer_pidfd = -1;
	for (;;) {
		long long owner = proc_status_num(pid, "Uid");
		long long tracer = proc_status_num(pid, "TracerPid");
		long long tgid = tracer > 0 ? proc_status_num((pid_t)tracer, "Tgid") : -1;
		bool uid_ok = owner >= 0 && (uc.uid == 0 || (long long)uc.uid == owner);
		bool holds = tgid == (long long)uc.pid ||
			     (!tracer && uid_ok && peer_holds_kmod_image(hc, pid));

		if (uid_ok && holds && peer_alive(hc))
			return 0;
		/* Not traced yet: perhaps a holder between bind and freeze. */
		if (uid_ok && !tracer && waited < HOLD_FREEZING_WAIT_MS && peer_alive(hc)) {
			usleep(10000);
			waited += 10;
			continue;
		}
		if (owner < 0)
			snprintf(why, sizeof(why), "and process %d is not there", (int)pid);
		else if (!holds && !uid_ok)
			snprintf(why, sizeof(why),
				 "not the process's tracer, nor root or its owner (uid %lld)",
				 owner);
		else if (!holds || !peer_alive(hc))
			snprintf(why, sizeof(why), "not the process's tracer");
		else
			snprintf(why, sizeof(why),
				 "neither root nor the process's owner (uid %lld)", owner);
		break;
	}
	snprintf(msg, sizeof(msg), "refusing holder of pid %d: socket owned by pid %d uid %u, %s",
		 (int)pid, (int)uc.pid, (unsigned int)uc.uid, why);
refuse:
	if (untrusted)
		*untrusted = true;
	if (hold_warn_fn)
		hold_warn_fn(msg);
	return cld_err_set(err, -EPERM, "%s", msg);
}

/* The holder's CPU ticks plus bytes written so far: is it working? */
static uint64_t peer_work(const struct hold_client *hc)
{
	unsigned long long ut = 0, st = 0, wchar = 0;
	char path[64], buf[1024], *p;
	uint64_t sum = 0;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)hc->peer);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		/* Fields 14 and 15 (utime, stime), counted after the comm. */
		p = strrchr(buf, ')');
		for (i = 2; p && i < 14; i++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p, " %llu %llu", &ut, &st) == 2)
			sum += ut + st;
	}
	snprintf(path, sizeof(path), "/proc/%d/io", (int)hc->peer);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		p = strstr(buf, "wchar:");
		if (p && sscanf(p + 6, "%llu", &wchar) == 1)
			sum += wchar;
	}
	return sum;
}

/* read_full with the holder's timeout (see above). */
static int hold_read(struct hold_client *hc, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(hc->fd, (char *)buf + done, len - done);

		if (n < 0) {
			uint64_t w;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			w = peer_work(hc);
			if (w == hc->work || !peer_alive(hc))
				return -ETIMEDOUT;
			hc->work = w;
			continue;
		}
		if (!n)
			return done ? -EPROTO : -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int hold_call(struct cld_frozen *fz, const struct hold_req *req, int pass_fd,
		     struct hold_resp *r, char *msg, size_t msg_size, void *data,
		     cld_progress_fn progress, void *arg)
{
	struct hold_client *hc = fz->priv;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)req, sizeof(*req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int ret;

	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	hc->work = peer_work(hc);
	do
		n = sendmsg(hc->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -ETIMEDOUT;
	/* A holder that refuses us answers at once and hangs up, possibly
	 * before our request went out: its answer is still worth reading. */
	if (n < 0 && errno != EPIPE && errno != ECONNRESET)
		return -errno;
	if (n >= 0 && n != (ssize_t)sizeof(*req))
		return -EPROTO;
	for (;;) {
		char tmp[512];
		size_t keep;

		ret = hold_read(hc, r, sizeof(*r));
		if (ret)
			return ret;
		if (r->msg_len > sizeof(tmp))
			return -EPROTO;
		ret = hold_read(hc, tmp, r->msg_len);
		if (ret)
			return ret;
		if (msg && msg_size) {
			keep = r->msg_len < msg_size - 1 ? r->msg_len : msg_size - 1;
			memcpy(msg, tmp, keep);
			msg[keep] = '\0';
		}
		if (r->kind == HOLD_PROGRESS) {
			if (progress)
				progress(arg, r->a, r->b);
			continue;
		}
		break;
	}
	if (req->op == HOLD_PREAD && r->ret > 0) {
		if ((uint64_t)r->ret > req->len)
			return -EPROTO;
		ret = hold_read(hc, data, (size_t)r->ret);
		if (ret)
			return ret;
	}
	return 0;
}

/* The message for a failed exchange with the holder. */
static int hold_fail(struct cld_frozen *fz, int ret, struct cld_err *err)
{
	struct hold_client *hc = fz->priv;

	if (ret == -ETIMEDOUT)
		return cld_err_set(err, ret,
				   "the holder of %d (pid %d) did not answer within %d s "
				   "and is not working: giving up",
				   fz->pid, (int)hc->peer, hc->timeout_s);
	return cld_err_set(err, ret, "talking to the holder of %d (pid %d): %s", fz->pid,
			   (int)hc->peer, strerror(-ret));
}

static ssize_t hold_pread(struct cld_frozen *fz, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		struct hold_req req = { .op = HOLD_PREAD, .off = off + done };
		struct hold_resp r;
		int ret;

		req.len = len - done < HOLD_MAX_PREAD ? len - done : HOLD_MAX_PREAD;
		ret = hold_call(fz, &req, -1, &r, NULL, 0, (char *)buf + done, NULL, NULL);
		if (ret)
			return done ? (ssize_t)done : ret;
		if (r.ret < 0)
			return done ? (ssize_t)done : (ssize_t)r.ret;
		if (!r.ret)
			break;
		done += (size_t)r.ret;
	}
	return (ssize_t)done;
}

static int64_t hold_seek(struct cld_frozen *fz, int64_t off, int whence)
{
	struct hold_req req = { .op = HOLD_SEEK, .arg = whence, .off = (uint64_t)off };
	struct hold_resp r;
	int ret;

	ret = hold_call(fz, &req, -1, &r, NULL, 0, NULL, NULL, NULL);
	return ret ? ret : r.ret;
}

static int hold_write_fd(struct cld_frozen *fz, int fd, cld_progress_fn progress, void *arg,
			 struct cld_err *err)
{
	struct hold_req req = { .op = HOLD_WRITE_FD };
	struct hold_resp r;
	char msg[512] = "";
	int ret;

	ret = hold_call(fz, &req, fd, &r, msg, sizeof(msg), NULL, progress, arg);
	if (ret)
		return hold_fail(fz, ret, err);
	if (r.ret)
		return cld_err_set(err, (int)r.ret, "%s", msg[0] ? msg : strerror((int)-r.ret));
	return 0;
}

static int hold_thaw(struct cld_frozen *fz, enum cld_thaw_how how, struct cld_err *err)
{
	struct hold_req req = { .op = HOLD_THAW, .arg = (int32_t)how };
	struct hold_resp r;
	char msg[512] = "";
	int ret;

	ret = hold_call(fz, &req, -1, &r, msg, sizeof(msg), NULL, NULL, NULL);
	if (ret)
		return hold_fail(fz, ret, err);
	if (r.ret)
		return cld_err_set(err, (int)r.ret, "%s", msg[0] ? msg : strerror((int)-r.ret));
	return 0;
}

static void hold_release(struct cld_frozen *fz)
{
	struct hold_client *hc = fz->priv;

	if (hc) {
		close(hc->fd);
		if (hc->peer_pidfd >= 0)
			close(hc->peer_pidfd);
		free(hc);
	}
}

static int hold_info(struct cld_frozen *fz, int prepare, struct cld_err *err)
{
	struct hold_req req = { .op = HOLD_INFO, .arg = prepare };
	struct hold_resp r;
	char msg[512] = "";
	int ret;

	ret = hold_call(fz, &req, -1, &r, msg, sizeof(msg), NULL, NULL, NULL);
	if (ret)
		return hold_fail(fz, ret, err);
	if (r.ret < 0)
		return cld_err_set(err, (int)r.ret, "%s", msg[0] ? msg : strerror((int)-r.ret));
	if (r.pad) {
		fz->size = r.a;
		fz->data_bytes = r.b;
		fz->prepared = true;
	}
	snprintf(fz->backend, sizeof(fz->backend), "%.15s", msg);
	return 0;
}

static int hold_prepare(struct cld_frozen *fz, struct cld_err *err)
{
	return hold_info(fz, 1, err);
}

static const struct cld_frozen_ops hold_ops = {
	.prepare = hold_prepare,
	.pread = hold_pread,
	.seek = hold_seek,
	.write_fd = hold_write_fd,
	.thaw = hold_thaw,
	.release = hold_release,
};

int cld_hold_connect_ex(pid_t pid, bool *untrusted, struct cld_frozen **out, struct cld_err *err)
{
	struct hold_client *hc;
	struct cld_frozen *fz;
	struct sockaddr_un sa;
	socklen_t len;
	int fd, ret;

	if (untrusted)
		*untrusted = false;
	hold_addr(pid, &sa, &len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cld_err_set(err, -errno, "socket: %s", strerror(errno));
	/* connect() waits while the listener's backlog is full: bounded by
	 * the send timeout.  A listener that never accepts is not a holder. */
	set_sock_timeouts(fd, HOLD_INFO_TIMEOUT_S, HOLD_CONNECT_TIMEOUT_S);
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		close(fd);
		if (e != EAGAIN && e != EWOULDBLOCK)
			return -ENOENT;
		if (untrusted)
			*untrusted = true;
		return cld_err_set(err, -ETIMEDOUT,
				   "ignoring the socket @%s: it takes no connection "
				   "within %d s (not a holder)",
				   sa.sun_path + 1, HOLD_CONNECT_TIMEOUT_S);
	}
	fz = calloc(1, sizeof(*fz));
	hc = calloc(1, sizeof(*hc));
	if (!fz || !hc) {
		free(fz);
		free(hc);
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	hc->fd = fd;
	hc->peer_pidfd = -1;
	ret = hold_verify(hc, pid, untrusted, err);
	if (ret) {
		if (hc->peer_pidfd >= 0)
			close(hc->peer_pidfd);
		free(hc);
		free(fz);
		close(fd);
		return ret;
	}
	set_sock_timeouts(fd, HOLD_INFO_TIMEOUT_S, HOLD_IO_TIMEOUT_S);
	hc->timeout_s = HOLD_INFO_TIMEOUT_S;
	fz->ops = &hold_ops;
	fz->priv = hc;
	fz->pid = pid;
	ret = hold_info(fz, 0, err);
	if (ret) {
		cld_frozen_free(fz);
		if (ret == -EPERM)
			return cld_err_set(
				err, ret,
				"permission denied: process %d was frozen by another user", pid);
		return ret;
	}
	set_sock_timeouts(fd, HOLD_IO_TIMEOUT_S, HOLD_IO_TIMEOUT_S);
	hc->timeout_s = HOLD_IO_TIMEOUT_S;
	*out = fz;
	return 0;
}

int cld_hold_connect(pid_t pid, struct cld_frozen **out, struct cld_err *err)
{
	return cld_hold_connect_ex(pid, NULL, out, err);
}
