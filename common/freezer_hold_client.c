// SPDX-License-Identifier: MIT
/*
 * The holder's client: a cld_frozen that reads and thaws a process kept
 * frozen by its holder (freezer_hold.c), which it first verifies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "clondike/freezer.h"
#include "clondike/kabi.h"
#include "freezer_hold_priv.h"

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
	hold_set_sock_timeouts(fd, HOLD_INFO_TIMEOUT_S, HOLD_CONNECT_TIMEOUT_S);
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
	hold_set_sock_timeouts(fd, HOLD_INFO_TIMEOUT_S, HOLD_IO_TIMEOUT_S);
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
	hold_set_sock_timeouts(fd, HOLD_IO_TIMEOUT_S, HOLD_IO_TIMEOUT_S);
	hc->timeout_s = HOLD_IO_TIMEOUT_S;
	*out = fz;
	return 0;
}

int cld_hold_connect(pid_t pid, struct cld_frozen **out, struct cld_err *err)
{
	return cld_hold_connect_ex(pid, NULL, out, err);
}
