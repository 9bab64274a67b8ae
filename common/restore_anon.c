// SPDX-License-Identifier: MIT
/*
 * Re-creating the anonymous-inode fds of format 1.2 (eventfd, timerfd,
 * signalfd, pidfd, epoll) in the parent before the fork, from the state
 * the freezer read in their fdinfo; the child registers the epoll interest
 * lists once every fd has its number (restore_child.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clondike/procfs.h"
#include "restore_priv.h"

#define NS 1000000000ull

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NS), .tv_nsec = (long)(ns % NS) };
}

bool rst_pidfd_target_here(const struct cld_fd_rec *r)
{
	struct cld_procfs_stat sf;

	/* The same process: its pid, and its start time (pids are reused). */
	return (int64_t)r->state[0] > 0 && (int64_t)r->state[0] <= INT32_MAX &&
	       !cld_procfs_stat((pid_t)r->state[0], &sf) && sf.last >= 22 &&
	       (uint64_t)sf.f[22] == r->state[1];
}

/*
 * A timerfd runs on from where it stood: the time left to its next expiry
 * (the time it was checkpointed does not count), or, armed with
 * TFD_TIMER_ABSTIME, its deadline (on CLOCK_REALTIME as it was; on the
 * other clocks, which do not carry over to another boot or machine, what
 * is left of it by the wall clock).  An expiry not read yet comes back as
 * one that is due now.
 */
static int arm_timer(int fd, const struct cld_fd_rec *r, struct cld_err *err)
{
	const uint64_t *st = (const uint64_t *)r->state;
	struct itimerspec its = { .it_interval = ts_of(st[3]) };
	int flags = (int)(st[1] & TFD_TIMER_CANCEL_ON_SET);
	uint64_t left = st[2];

	if (st[4]) {
		left = 1;
	} else if (left && (st[1] & TFD_TIMER_ABSTIME)) {
		uint64_t now = clock_ns(CLOCK_REALTIME), gone = now > st[5] ? now - st[5] : 0;

		if (st[0] == CLOCK_REALTIME || st[0] == CLOCK_REALTIME_ALARM) {
			flags |= TFD_TIMER_ABSTIME;
			left += st[5];
		} else {
			left = left > gone ? left - gone : 1;
		}
	}
	if (!left)
		return 0; /* disarmed */
	its.it_value = ts_of(left);
	if (timerfd_settime(fd, flags, &its, NULL) < 0)
		return cld_err_set(err, -errno, "fd %d: arming its timerfd: %s", r->fd,
				   strerror(errno));
	return 0;
}

/*
 * The watches of inotify fd r, made again with their wds: a new instance
 * numbers them 1, 2, 3... and on from the last one made even when it is
 * removed, so a wd freed before the checkpoint is made with a stand-in
 * watch, removed at once.
 */
static int add_watches(const struct cld_proc *p, const struct cld_fd_rec *r, int fd,
		       struct cld_err *err)
{
	int next = 1, wd;
	uint32_t i;

	for (i = 0; i < p->nr_watches; i++) {
		const struct cld_inotify *w = &p->watches[i];

		if (w->rec.fd != r->fd)
			continue;
		while (next < w->rec.wd) {
			struct inotify_event ev;

			wd = inotify_add_watch(fd, "/", IN_ATTRIB | IN_MASK_CREATE);
			if (wd < 0 || inotify_rm_watch(fd, wd) < 0)
				return cld_err_set(err, -errno, "fd %d: an inotify stand-in watch: %s",
						   r->fd, strerror(errno));
			/* Its IN_IGNORED is not the process's to read (the fd is
			 * still non-blocking here). */
			if (read(fd, &ev, sizeof(ev)) != sizeof(ev) || ev.wd != wd ||
			    !(ev.mask & IN_IGNORED))
				return cld_err_set(err, -EAGAIN,
						   "fd %d: an inotify event came while its watches "
						   "were made again", r->fd);
			next = wd + 1;
		}
		wd = inotify_add_watch(fd, w->path, w->rec.mask & ~IN_MASK_CREATE);
		if (wd < 0)
			return cld_err_set(err, -errno, "fd %d: watching %s: %s", r->fd, w->path,
					   strerror(errno));
		if (wd != w->rec.wd)
			return cld_err_set(err, -EBUSY, "fd %d: the watch of %s came back as wd %d, "
					   "not %d", r->fd, w->path, wd, w->rec.wd);
		next = wd + 1;
	}
	return 0;
}

int rst_open_anon(struct cld_rst *rs, const struct cld_fd *f, struct cld_err *err)
{
	const struct cld_fd_rec *r = &f->rec;
	bool nb = r->fl_flags & O_NONBLOCK;
	sigset_t mask;
	int fd = -1, slot, s;

	switch (r->kind) {
	case CLD_FD_EVENTFD:
		fd = eventfd(0, EFD_CLOEXEC | (nb ? EFD_NONBLOCK : 0) |
					(r->state[1] ? EFD_SEMAPHORE : 0));
		/* The counter may exceed eventfd()'s unsigned int. */
		if (fd >= 0 && r->state[0] &&
		    write(fd, &r->state[0], sizeof(r->state[0])) != sizeof(r->state[0])) {
			close(fd);
			return cld_err_set(err, -EIO, "fd %d: eventfd counter %llu", r->fd,
					   (unsigned long long)r->state[0]);
		}
		break;
	case CLD_FD_TIMERFD:
		fd = timerfd_create((int)r->state[0], TFD_CLOEXEC | (nb ? TFD_NONBLOCK : 0));
		if (fd >= 0) {
			s = arm_timer(fd, r, err);
			if (s) {
				close(fd);
				return s;
			}
		}
		break;
	case CLD_FD_SIGNALFD:
		sigemptyset(&mask);
		for (s = 1; s <= 64; s++)
			if (r->state[0] & (1ull << (s - 1)))
				sigaddset(&mask, s);
		fd = signalfd(-1, &mask, SFD_CLOEXEC | (nb ? SFD_NONBLOCK : 0));
		break;
	case CLD_FD_PIDFD:
		if (!rst_pidfd_target_here(r))
			return cld_err_set(err, -ESRCH, "fd %d: process %lld is gone", r->fd,
					   (long long)r->state[0]);
		fd = (int)syscall(SYS_pidfd_open, (pid_t)r->state[0], nb ? O_NONBLOCK : 0);
		if (fd >= 0)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		break;
	case CLD_FD_EPOLL:
		fd = epoll_create1(EPOLL_CLOEXEC);
		break;
	case CLD_FD_INOTIFY:
		fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (fd >= 0) {
			s = add_watches(rs->p, r, fd, err);
			if (!s && !nb && fcntl(fd, F_SETFL, 0) < 0)
				s = cld_err_set(err, -errno, "fd %d: fcntl: %s", r->fd,
						strerror(errno));
			if (s) {
				close(fd);
				return s;
			}
		}
		break;
	default:
		return cld_err_set(err, -EINVAL, "fd %d: not an anonymous-inode kind", r->fd);
	}
	if (fd < 0)
		return cld_err_set(err, -errno, "fd %d: re-creating its %s: %s", r->fd,
				   cld_fd_kind_name(r->kind), strerror(errno));
	slot = rst_add_pfd(rs, fd, true);
	if (slot < 0) {
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	return slot;
}

/* Queued bytes back in an end's receive queue: sent from the other end. */
static int refill(const struct cld_proc *p, uint64_t ino, int from, struct cld_err *err)
{
	uint32_t i;

	for (i = 0; i < p->nr_pipes; i++) {
		const struct cld_pipedata *d = &p->pipes[i];
		size_t off = 0;

		if (d->kind != CLD_PIPEDATA_SOCK || d->ino != ino)
			continue;
		while (off < d->len) {
			ssize_t n = send(from, d->data + off, d->len - off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return cld_err_set(err, n < 0 ? -errno : -EIO,
						   "socket:[%llu]: putting back %u queued bytes: %s",
						   (unsigned long long)ino, d->len,
						   n < 0 ? strerror(errno) : "short send");
			off += (size_t)n;
		}
	}
	return 0;
}

int rst_open_sockpair(struct cld_rst *rs, uint32_t idx, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	const struct cld_fd_rec *r = &p->fds[idx].rec;
	uint64_t ino[2] = { r->ino, r->state[1] };
	int sv[2], slot[2], ret, k;
	uint32_t i;

	if (socketpair(AF_UNIX, (int)r->state[0] | SOCK_CLOEXEC, 0, sv) < 0)
		return cld_err_set(err, -errno, "fd %d: socketpair: %s", r->fd, strerror(errno));
	slot[0] = rst_add_pfd(rs, sv[0], true);
	slot[1] = slot[0] < 0 ? -1 : rst_add_pfd(rs, sv[1], true);
	if (slot[1] < 0) {
		if (slot[0] < 0)
			close(sv[0]);
		close(sv[1]);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	/* A socket has one open file description (it cannot be opened
	 * again): every fd of an end is that end. */
	for (i = 0; i < p->nr_fds; i++)
		for (k = 0; k < 2; k++)
			if (p->fds[i].rec.kind == CLD_FD_SOCKPAIR && p->fds[i].rec.ino == ino[k]) {
				rs->fd_slot[i] = slot[k];
				fcntl(sv[k], F_SETFL, (int)(p->fds[i].rec.fl_flags & O_NONBLOCK) |
					     (fcntl(sv[k], F_GETFL) & ~O_NONBLOCK));
			}
	ret = refill(p, ino[0], sv[1], err);
	if (!ret)
		ret = refill(p, ino[1], sv[0], err);
	return ret;
}