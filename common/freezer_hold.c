// SPDX-License-Identifier: MIT
/*
 * The holder: the process that keeps a process frozen after `clondike
 * freeze` exits, serving its image and its thaw to the clients of
 * freezer_hold_client.c over a unix socket (protocol in freezer_hold_priv.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "clondike/freezer.h"
#include "clondike/util.h"
#include "freezer_hold_priv.h"

void hold_addr(pid_t pid, struct sockaddr_un *sa, socklen_t *len)
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
 * hold_verify() in freezer_hold_client.c.
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

void hold_set_sock_timeouts(int fd, int rcv_s, int snd_s)
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

				hold_set_sock_timeouts(c, 1, 1);
				send_resp(c, &r, "permission denied: not the freezing user", NULL,
					  0);
				close(c);
			} else if (c >= 0) {
				hold_set_sock_timeouts(c, HOLD_CLIENT_TIMEOUT_S,
						       HOLD_CLIENT_TIMEOUT_S);
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
