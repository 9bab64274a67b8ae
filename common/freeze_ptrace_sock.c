// SPDX-License-Identifier: MIT
/*
 * Unix socketpairs whose both ends the process holds (1.2 CLD_FD_SOCKPAIR:
 * asyncio's self-pipe, a thread's wake-up channel): which sockets they are,
 * from NETLINK_SOCK_DIAG (unix_diag: type, state, name, peer, queue), and
 * the bytes queued in them, peeked without being consumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "freeze_ptrace_priv.h"

struct udiag {
	uint8_t type, state;
	bool named;
	uint32_t peer, rqueue;
};

/* One unix socket by inode, in our network namespace: 0, or -ENOENT for
 * a socket that is not AF_UNIX (or not ours to see). */
static int unix_diag(int nl, uint32_t ino, struct udiag *u)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_ino = ino,
		       .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN,
		       .udiag_cookie = { ~0u, ~0u } },
	};
	union {
		struct nlmsghdr h;
		uint8_t b[8192];
	} buf;
	struct nlmsghdr *h = &buf.h;
	struct unix_diag_msg *m;
	struct rtattr *a;
	ssize_t n;
	int len;

	if (send(nl, &req, sizeof(req), 0) != sizeof(req))
		return -errno;
	n = recv(nl, &buf, sizeof(buf), 0);
	if (n < (ssize_t)sizeof(*h) || !NLMSG_OK(h, (size_t)n))
		return -EIO;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		return e->error ? e->error : -ENOENT;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EIO;
	m = NLMSG_DATA(h);
	if (m->udiag_ino != ino)
		return -ENOENT;
	memset(u, 0, sizeof(*u));
	u->type = m->udiag_type;
	u->state = m->udiag_state;
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == UNIX_DIAG_NAME)
			u->named = true;
		else if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= 4)
			memcpy(&u->peer, RTA_DATA(a), 4);
		else if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= 4)
			memcpy(&u->rqueue, RTA_DATA(a), 4);
	}
	return 0;
}

static bool holds_ino(const struct cld_proc *p, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++)
		if (p->fds[i].rec.ino == ino && !strncmp(p->fds[i].name ?: "", "socket:", 7))
			return true;
	return false;
}

int ptr_collect_sockpairs(struct collect *c)
{
	struct cld_proc *p = c->p;
	struct udiag u;
	int nl = -1, ret = 0;
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd_rec *r = &p->fds[i].rec;

		if (r->kind != CLD_FD_UNSUPPORTED || !p->fds[i].name ||
		    strncmp(p->fds[i].name, "socket:", 7))
			continue;
		if (nl < 0) {
			nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
			if (nl < 0)
				return 0; /* no sock_diag: sockets stay unrestorable */
		}
		ret = unix_diag(nl, (uint32_t)r->ino, &u);
		if (ret == -ENOENT || ret == -EOPNOTSUPP) {
			ret = 0;
			continue; /* not a unix socket */
		}
		if (ret)
			break;
		/* An unnamed connected pair, its peer here: nothing else can
		 * reach it, so a new pair is the same thing. */
		if (u.state != 1 /* TCP_ESTABLISHED */ || u.named || !u.peer ||
		    !holds_ino(p, u.peer) ||
		    (u.type != SOCK_STREAM && u.type != SOCK_DGRAM && u.type != SOCK_SEQPACKET))
			continue;
		/* Datagrams keep their boundaries, which are not recorded. */
		if (u.type != SOCK_STREAM && u.rqueue)
			continue;
		r->kind = CLD_FD_SOCKPAIR;
		r->state[0] = u.type;
		r->state[1] = u.peer;
		r->state[2] = u.rqueue;
	}
	if (nl >= 0)
		close(nl);
	if (ret)
		return cld_err_set(c->err, ret, "unix_diag of the sockets of %d: %s", c->pid,
				   strerror(-ret));
	return 0;
}

ssize_t ptr_peek_socket(int fd, uint8_t *buf, size_t len)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int) * 64)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
			     .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	bool fds = false;
	ssize_t n;

	n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	/* Passed fds were installed in us by the peek: not restorable. */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			size_t k, nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *v = (int *)CMSG_DATA(cm);

			for (k = 0; k < nfd; k++)
				close(v[k]);
			fds = true;
		}
	if (fds || (mh.msg_flags & MSG_CTRUNC))
		return -EBADMSG;
	return n;
}
