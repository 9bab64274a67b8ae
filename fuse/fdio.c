// SPDX-License-Identifier: MIT
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "clondike/image.h"

#include "log.h"
#include "peer.h"

/* A run of bytes from the peer not yet written to the fd. */
struct chunk {
	struct chunk *next;
	size_t len, off;
	uint8_t data[];
};

struct cldd_chan {
	struct cldd_peer *peer;
	uint32_t id;
	bool home; /* this side is the shadow's */
	bool sock; /* MSG_DONTWAIT calls on a shared open file */
	bool started;
	bool released; /* its owner let go: free it once done */
	int fd;
	uv_poll_t poll;
	int events; /* being polled for */
	/* fd to peer */
	bool rd, rd_done;
	uint32_t credit;
	/* peer to fd */
	bool wr, wr_eof, wr_done;
	struct chunk *q, **qt;
	uint32_t unacked;
	struct cldd_chan *next;
};

static struct {
	uv_loop_t *loop;
	struct cldd_chan *chans;
	uint32_t next_id;
} X;

static void update(struct cldd_chan *ch);

void cldd_fwd_init(uv_loop_t *loop)
{
	X.loop = loop;
}

static void poll_closed(uv_handle_t *h)
{
	free(h->data);
}

static bool done(const struct cldd_chan *ch)
{
	return (!ch->rd || ch->rd_done) && (!ch->wr || ch->wr_done);
}

static void unlink_chan(struct cldd_chan *ch)
{
	struct cldd_chan **pp;

	for (pp = &X.chans; *pp; pp = &(*pp)->next)
		if (*pp == ch) {
			*pp = ch->next;
			return;
		}
}

static void free_queue(struct cldd_chan *ch)
{
	struct chunk *c;

	while ((c = ch->q)) {
		ch->q = c->next;
		free(c);
	}
	ch->qt = &ch->q;
}

/* Close the fd (its ends see EOF or EPIPE) and free it if let go. */
static void finish(struct cldd_chan *ch)
{
	if (ch->fd >= 0) {
		uv_poll_stop(&ch->poll);
		ch->events = 0;
		close(ch->fd);
		ch->fd = -1;
	}
	ch->rd_done = ch->wr_done = true;
	free_queue(ch);
	if (ch->released) {
		unlink_chan(ch);
		uv_close((uv_handle_t *)&ch->poll, poll_closed);
	}
}

static void send_ack(struct cldd_chan *ch, uint32_t bytes, uint32_t flags)
{
	struct cldp_fwd_ack a = {
		.chan = ch->id,
		.flags = flags | (ch->home ? 0 : CLDP_FWD_TO_HOME),
		.bytes = bytes,
	};

	cldd_send_msg(ch->peer, CLDP_FWD_ACK, &a, sizeof(a));
}

/* The fd's write side is done: EOF for its reader. */
static void shut_write(struct cldd_chan *ch)
{
	ch->wr_done = true;
	free_queue(ch);
	if (ch->fd < 0)
		return;
	if (ch->sock)
		shutdown(ch->fd, SHUT_WR);
	else if (!ch->rd || ch->rd_done)
		finish(ch);
}

static void read_some(struct cldd_chan *ch, bool drain)
{
	struct cldp_fwd_hdr hd;
	struct cldd_out *o;
	uint8_t *b;
	ssize_t n;

	while (ch->rd && !ch->rd_done && ch->fd >= 0 && (ch->credit || drain)) {
		size_t want = drain || ch->credit > CLDD_FWD_CHUNK ? CLDD_FWD_CHUNK : ch->credit;

		/* Read straight into the frame: one copy less per byte. */
		b = cldd_out_new(sizeof(hd) + want, &o);
		if (!b)
			return; /* again at the next wake-up */
		n = ch->sock ? recv(ch->fd, b + sizeof(hd), want, MSG_DONTWAIT) :
			       read(ch->fd, b + sizeof(hd), want);
		if (n < 0 && errno == EINTR) {
			cldd_out_free(o);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			cldd_out_free(o);
			return;
		}
		hd.chan = ch->id;
		hd.flags = (ch->home ? 0 : CLDP_FWD_TO_HOME) | (n <= 0 ? CLDP_FWD_EOF : 0);
		memcpy(b, &hd, sizeof(hd));
		cldd_send_out(ch->peer, o, CLDP_FWD_DATA, sizeof(hd) + (n > 0 ? (size_t)n : 0));
		if (n <= 0) {
			/* EOF, or an error (ECONNRESET...): the peer sees EOF. */
			ch->rd_done = true;
			if (ch->sock && ch->fd >= 0)
				shutdown(ch->fd, SHUT_RD);
			return;
		}
		ch->credit = (size_t)n > ch->credit ? 0 : ch->credit - (uint32_t)n;
		if (drain && (size_t)n < want)
			return;
	}
}

static void write_some(struct cldd_chan *ch)
{
	struct chunk *c;
	ssize_t n;

	while ((c = ch->q) && ch->fd >= 0) {
		n = ch->sock ? send(ch->fd, c->data + c->off, c->len - c->off,
				    MSG_DONTWAIT | MSG_NOSIGNAL) :
			       write(ch->fd, c->data + c->off, c->len - c->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* EPIPE: nobody reads any more; the peer stops. */
			send_ack(ch, 0, CLDP_FWD_GONE);
			ch->wr_eof = true;
			shut_write(ch);
			return;
		}
		c->off += (size_t)n;
		ch->unacked += (uint32_t)n;
		if (c->off == c->len) {
			ch->q = c->next;
			if (!ch->q)
				ch->qt = &ch->q;
			free(c);
		}
	}
	/* Credit back in large steps, and whenever the queue is empty. */
	if (ch->unacked && (!ch->q || ch->unacked >= CLDD_FWD_WINDOW / 4)) {
		send_ack(ch, ch->unacked, 0);
		ch->unacked = 0;
	}
	if (!ch->q && ch->wr_eof && !ch->wr_done)
		shut_write(ch);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct cldd_chan *ch = h->data;

	if (status < 0)
		events = UV_READABLE | UV_WRITABLE; /* the calls say what it is */
	if (events & UV_WRITABLE)
		write_some(ch);
	if ((events & UV_READABLE) && ch->fd >= 0)
		read_some(ch, false);
	if (ch->fd >= 0 && done(ch))
		finish(ch);
	else
		update(ch);
}

/* Poll for what can go on now. */
static void update(struct cldd_chan *ch)
{
	int ev = 0;

	if (ch->fd < 0 || !ch->started)
		return;
	if (ch->rd && !ch->rd_done && ch->credit)
		ev |= UV_READABLE;
	if (ch->q)
		ev |= UV_WRITABLE;
	if (ev == ch->events)
		return;
	ch->events = ev;
	if (ev)
		uv_poll_start(&ch->poll, ev, on_poll);
	else
		uv_poll_stop(&ch->poll);
}

static int chan_new(struct cldd_peer *peer, uint32_t id, bool home, int fd, bool sock,
		    enum cldd_fwd_kind kind, struct cldd_chan **out)
{
	struct cldd_chan *ch = calloc(1, sizeof(*ch));
	int r;

	if (!ch)
		return -ENOMEM;
	ch->peer = peer;
	ch->id = id;
	ch->home = home;
	ch->fd = fd;
	ch->sock = sock;
	ch->qt = &ch->q;
	ch->credit = CLDD_FWD_WINDOW;
	/* Home reads a pipe going to the guest; the guest's node reads one
	 * coming from it. */
	ch->rd = kind == CLDD_FWD_DUPLEX || (home ? kind == CLDD_FWD_IN : kind == CLDD_FWD_OUT);
	ch->wr = kind == CLDD_FWD_DUPLEX || (home ? kind == CLDD_FWD_OUT : kind == CLDD_FWD_IN);
	r = uv_poll_init(X.loop, &ch->poll, fd);
	if (r) {
		free(ch);
		return r == UV_EPERM ? -EPERM : -EINVAL;
	}
	ch->poll.data = ch;
	ch->next = X.chans;
	X.chans = ch;
	*out = ch;
	return 0;
}

int cldd_fwd_home(struct cldd_peer *peer, int fd, bool sock, enum cldd_fwd_kind kind, uint32_t *id,
		  struct cldd_chan **out)
{
	int r;

	if (!X.next_id)
		X.next_id = (uint32_t)getpid() << 16 | 1; /* unlike a restarted daemon's */
	r = chan_new(peer, X.next_id, true, fd, sock, kind, out);
	if (!r)
		*id = X.next_id++;
	return r;
}

int cldd_fwd_guest(struct cldd_peer *peer, uint32_t id, int fd, enum cldd_fwd_kind kind,
		   struct cldd_chan **out)
{
	int r = chan_new(peer, id, false, fd, false, kind, out);

	if (!r)
		cldd_fwd_start(*out);
	return r;
}

void cldd_fwd_start(struct cldd_chan *ch)
{
	if (!ch)
		return;
	ch->started = true;
	if (ch->fd >= 0 && ch->q)
		write_some(ch);
	update(ch);
}

void cldd_fwd_drop(struct cldd_chan *ch)
{
	if (!ch)
		return;
	ch->released = true;
	finish(ch);
}

void cldd_fwd_drain(struct cldd_chan *ch)
{
	if (ch && ch->started)
		read_some(ch, true);
}

void cldd_fwd_release(struct cldd_chan *ch)
{
	if (!ch)
		return;
	ch->released = true;
	/* Nothing more to read for a guest that is gone; what it sent is
	 * still written. */
	if (ch->rd && !ch->rd_done) {
		ch->rd_done = true;
		if (ch->sock && ch->fd >= 0)
			shutdown(ch->fd, SHUT_RD);
	}
	if (done(ch) || ch->fd < 0)
		finish(ch);
	else
		update(ch);
}

static struct cldd_chan *find(struct cldd_peer *peer, uint32_t id, bool home)
{
	struct cldd_chan *ch;

	for (ch = X.chans; ch; ch = ch->next)
		if (ch->peer == peer && ch->id == id && ch->home == home)
			return ch;
	return NULL;
}

void cldd_fwd_serve_data(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldp_fwd_hdr hd;
	struct cldd_chan *ch;
	struct chunk *k;
	size_t n = h->len - sizeof(hd);

	memcpy(&hd, p, sizeof(hd));
	ch = find(cldd_conn_peer(c), hd.chan, hd.flags & CLDP_FWD_TO_HOME);
	if (!ch || !ch->wr || ch->wr_done || ch->wr_eof)
		return; /* late bytes of a channel that ended: nobody wants them */
	if (n) {
		k = malloc(sizeof(*k) + n);
		if (!k) {
			cldd_err("forwarded fd %u: out of memory, its bytes are lost", hd.chan);
			return;
		}
		k->next = NULL;
		k->len = n;
		k->off = 0;
		memcpy(k->data, p + sizeof(hd), n);
		*ch->qt = k;
		ch->qt = &k->next;
	}
	if (hd.flags & CLDP_FWD_EOF)
		ch->wr_eof = true;
	if (!ch->started)
		return; /* held until the commit */
	write_some(ch);
	if (ch->fd >= 0 && done(ch))
		finish(ch);
	else
		update(ch);
}

void cldd_fwd_serve_ack(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldp_fwd_ack a;
	struct cldd_chan *ch;

	(void)h;
	memcpy(&a, p, sizeof(a));
	ch = find(cldd_conn_peer(c), a.chan, a.flags & CLDP_FWD_TO_HOME);
	if (!ch || !ch->rd)
		return;
	if (a.flags & CLDP_FWD_GONE) {
		/* Its reader is gone: so is ours, for the writer here. */
		ch->rd_done = true;
		if (ch->sock && ch->fd >= 0)
			shutdown(ch->fd, SHUT_RD);
	}
	ch->credit += a.bytes;
	if (ch->credit > CLDD_FWD_WINDOW)
		ch->credit = CLDD_FWD_WINDOW;
	if (ch->fd >= 0 && done(ch))
		finish(ch);
	else
		update(ch);
}

void cldd_fwd_peer_down(struct cldd_peer *peer)
{
	struct cldd_chan *ch, *next;

	for (ch = X.chans; ch; ch = next) {
		next = ch->next;
		if (ch->peer != peer || ch->fd < 0)
			continue;
		cldd_warn("forwarded fd %u: %s is down; the fd is closed", ch->id, peer->conf.name);
		finish(ch);
	}
}

/* ---- Which fds go home, and their stand-ins on the guest's node ------------ */

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

int cldd_fwd_collect(struct cldd_peer *peer, pid_t pid, const struct cld_proc *p,
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
		ret = cldd_fwd_home(peer, fd, sock, kind, &id, &chans[rq->nr_fwd]);
		if (ret) {
			close(fd);
			break;
		}
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

int cldd_fwd_accept(struct cldd_peer *home, const struct cldp_restore_req *rq, int *guest_ends,
		    struct cldd_chan **chans)
{
	uint32_t i;
	int ret = 0;

	for (i = 0; i < rq->nr_fwd; i++) {
		const struct cldp_fwd_ent *e = &rq->fwd[i];
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
		if (e->kind == CLDD_FWD_DUPLEX) {
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
		ret = cldd_fwd_guest(home, e->chan, p[1], (enum cldd_fwd_kind)e->kind, &chans[i]);
		if (ret) {
			close(p[0]);
			close(p[1]);
			break;
		}
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
