// SPDX-License-Identifier: MIT
/* Which fds of a migrating process stay at home, and their stand-ins on
 * the guest's node (fdio.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clondike/image.h"
#include "fdio_priv.h"
#include "log.h"

/* Whether the other end of pipe ino is in the process too (kept local). */
static bool both_ends(const struct cld_proc *p, uint64_t ino)
{
	unsigned int r = 0, w = 0;
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *f = &p->fds[i].rec;

		if (f->kind != CLD_FD_PIPE || f->ino != ino)
			continue;
		if ((f->fl_flags & O_ACCMODE) == O_RDONLY)
			r++;
		else
			w++;
	}
	return r && w;
}

/* A connected stream socket, of our own copy of the shadow's fd. */
static bool stream_connected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = 0, acc = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_STREAM)
		return false;
	l = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) || acc)
		return false;
	return getpeername(fd, (struct sockaddr *)&ss, &sl) == 0;
}

int cldd_fwd_collect(struct cldd *d, struct cldd_peer *peer, pid_t pid, const struct cld_proc *p,
		     struct cldp_restore_req *rq, struct cldd_chan **chans)
{
	int pidfd = -1, fd, ret = 0;
	uint32_t i;

	rq->nr_fwd = 0;
	for (i = 0; i < p->nr_fds && rq->nr_fwd < CLDP_FWD_MAX; i++) {
		const struct cld_fd *f = &p->fds[i];
		enum cldd_fwd_kind kind;
		bool sock = false;
		char path[64];
		uint32_t id, j;

		/* Another fd of the same pipe end or socket (a dup, bash's
		 * fd 63...): the same channel, so one reader gets the bytes. */
		for (j = 0; j < i; j++)
			if (p->fds[j].rec.ino == f->rec.ino && p->fds[j].rec.kind == f->rec.kind &&
			    (p->fds[j].rec.fl_flags & O_ACCMODE) == (f->rec.fl_flags & O_ACCMODE))
				break;
		if (j < i) {
			uint32_t k;

			for (k = 0; k < rq->nr_fwd; k++)
				if (rq->fwd[k].fd == p->fds[j].rec.fd)
					break;
			if (k < rq->nr_fwd) {
				rq->fwd[rq->nr_fwd] = rq->fwd[k];
				rq->fwd[rq->nr_fwd].fd = f->rec.fd;
				chans[rq->nr_fwd++] = NULL;
			}
			continue;
		}

		if (f->rec.kind == CLD_FD_PIPE && !both_ends(p, f->rec.ino)) {
			int acc = (int)(f->rec.fl_flags & O_ACCMODE);

			/* An open file of our own on the same pipe: its flags
			 * are ours to set. */
			kind = acc == O_RDONLY ? CLDD_FWD_IN : CLDD_FWD_OUT;
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, f->rec.fd);
			fd = open(path,
				  (acc == O_RDONLY ? O_RDONLY : O_WRONLY) | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0) {
				cldd_warn("pid %d fd %d: cannot be forwarded: %s", (int)pid,
					  f->rec.fd, strerror(errno));
				continue; /* the target refuses it, with the reason */
			}
		} else if (f->rec.kind == CLD_FD_TTY && !rq->tty.valid) {
			/* Our own open file of the terminal: O_NONBLOCK is ours. */
			kind = CLDD_FWD_TTY;
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, f->rec.fd);
			fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0 || cldd_tty_home_prepare(fd, &rq->tty)) {
				cldd_warn("pid %d fd %d: its terminal cannot be forwarded: %s",
					  (int)pid, f->rec.fd, strerror(errno));
				if (fd >= 0)
					close(fd);
				continue;
			}
		} else if (f->rec.kind == CLD_FD_UNSUPPORTED && f->name &&
			   !strncmp(f->name, "socket:", 7)) {
			if (pidfd < 0)
				pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
			fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, f->rec.fd, 0);
			if (fd < 0)
				continue;
			if (!stream_connected(fd)) {
				close(fd); /* listening, datagram...: refused by the target */
				continue;
			}
			kind = CLDD_FWD_DUPLEX;
			sock = true;
		} else {
			continue;
		}
		ret = cldd_fwd_home(d, peer, fd, sock, kind, &id, &chans[rq->nr_fwd]);
		if (ret) {
			close(fd);
			break;
		}
		if (kind == CLDD_FWD_TTY)
			chans[rq->nr_fwd]->sh_pid = pid;
		rq->fwd[rq->nr_fwd].chan = id;
		rq->fwd[rq->nr_fwd].fd = f->rec.fd;
		rq->fwd[rq->nr_fwd].kind = kind;
		rq->nr_fwd++;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (ret) {
		for (i = 0; i < rq->nr_fwd; i++)
			cldd_fwd_drop(chans[i]);
		rq->nr_fwd = 0;
	}
	return ret;
}

int cldd_fwd_accept(struct cldd *d, struct cldd_peer *home, const struct cldp_restore_req *rq,
		    int *guest_ends, struct cldd_chan **chans)
{
	uint32_t i;
	int ret = 0;

	for (i = 0; i < rq->nr_fwd; i++) {
		const struct cldp_fwd_ent *e = &rq->fwd[i];
		char slave[64];
		int p[2];

		uint32_t j;

		guest_ends[i] = -1;
		chans[i] = NULL;
		for (j = 0; j < i; j++)
			if (rq->fwd[j].chan == e->chan)
				break;
		if (j < i) {
			/* A second fd of the same pipe: an open file of its own
			 * (its flags are its own, as at home); a socket's dup. */
			char path[64];

			snprintf(path, sizeof(path), "/proc/self/fd/%d", guest_ends[j]);
			guest_ends[i] =
				e->kind == CLDD_FWD_DUPLEX ?
					dup(guest_ends[j]) :
					open(path, (e->kind == CLDD_FWD_IN ? O_RDONLY : O_WRONLY) |
							   O_CLOEXEC);
			if (guest_ends[i] < 0) {
				ret = -errno;
				break;
			}
			continue;
		}
		if (e->kind == CLDD_FWD_TTY) {
			ret = cldd_tty_guest_open(&rq->tty, &p[1], &p[0], slave, sizeof(slave));
			if (ret)
				break;
		} else if (e->kind == CLDD_FWD_DUPLEX) {
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) {
				ret = -errno;
				break;
			}
		} else if (e->kind == CLDD_FWD_IN || e->kind == CLDD_FWD_OUT) {
			if (pipe2(p, O_CLOEXEC) < 0) {
				ret = -errno;
				break;
			}
			/* Room for a window's worth in flight, if allowed. */
			fcntl(p[0], F_SETPIPE_SZ, 256 << 10);
			if (e->kind == CLDD_FWD_OUT) { /* the guest writes p[1] */
				int t = p[0];

				p[0] = p[1];
				p[1] = t;
			}
		} else {
			ret = -EPROTO;
			break;
		}
		/* p[0] is the guest's, p[1] ours. */
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		ret = cldd_fwd_guest(d, home, e->chan, p[1], (enum cldd_fwd_kind)e->kind,
				     &chans[i]);
		if (ret) {
			close(p[0]);
			close(p[1]);
			break;
		}
		if (e->kind == CLDD_FWD_TTY)
			snprintf(chans[i]->slave, sizeof(chans[i]->slave), "%s", slave);
		guest_ends[i] = p[0];
	}
	if (ret) {
		while (i--) {
			close(guest_ends[i]);
			cldd_fwd_drop(chans[i]);
		}
	}
	return ret;
}
