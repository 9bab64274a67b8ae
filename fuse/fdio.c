// SPDX-License-Identifier: MIT
#include "fdio_priv.h"

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

int cldd_fwd_init(struct cldd *d)
{
	struct cldd_fwd *fw = calloc(1, sizeof(*fw));

	if (!fw)
		return -ENOMEM;
	fw->loop = d->loop;
	d->fwd = fw;
	return 0;
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

	for (pp = &ch->fw->chans; *pp; pp = &(*pp)->next)
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
	if (ch->fd >= 0 && ch->tty)
		cldd_tty_end(ch);
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

	/* A terminal at home is read only while the shadow is in front:
	 * else its input is the shell's. */
	if (ch->tty && !cldd_tty_may_read(ch))
		return;
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
		/* A drain goes on to EAGAIN or EOF: a short read of a dead
		 * guest's pipe is followed by its EOF, which home waits for. */
		ch->credit = (size_t)n > ch->credit ? 0 : ch->credit - (uint32_t)n;
	}
}

/* The peer's end of a channel whose reading stops here sees EOF. */
static void send_eof(struct cldd_chan *ch)
{
	struct cldp_fwd_hdr hd = {
		.chan = ch->id,
		.flags = (ch->home ? 0 : CLDP_FWD_TO_HOME) | CLDP_FWD_EOF,
	};

	cldd_send_msg(ch->peer, CLDP_FWD_DATA, &hd, sizeof(hd));
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
	if (ch->tty && ch->fd >= 0)
		cldd_tty_traffic(ch);
	if (ch->fd >= 0 && done(ch))
		finish(ch);
	else
		cldd_fwd_update(ch);
}

void cldd_fwd_update(struct cldd_chan *ch)
{
	int ev = 0;

	if (ch->fd < 0 || !ch->started)
		return;
	if (ch->rd && !ch->rd_done && ch->credit && cldd_tty_may_read(ch))
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

static int chan_new(struct cldd_fwd *fw, struct cldd_peer *peer, uint32_t id, bool home, int fd,
		    bool sock, enum cldd_fwd_kind kind, struct cldd_chan **out)
{
	struct cldd_chan *ch = calloc(1, sizeof(*ch));
	int r;

	if (!ch)
		return -ENOMEM;
	ch->fw = fw;
	ch->peer = peer;
	ch->id = id;
	ch->home = home;
	ch->fd = fd;
	ch->sock = sock;
	ch->qt = &ch->q;
	ch->credit = CLDD_FWD_WINDOW;
	/* Home reads a pipe going to the guest; the guest's node reads one
	 * coming from it. */
	ch->tty = kind == CLDD_FWD_TTY;
	ch->rd = kind >= CLDD_FWD_DUPLEX || (home ? kind == CLDD_FWD_IN : kind == CLDD_FWD_OUT);
	ch->wr = kind >= CLDD_FWD_DUPLEX || (home ? kind == CLDD_FWD_OUT : kind == CLDD_FWD_IN);
	r = uv_poll_init(fw->loop, &ch->poll, fd);
	if (r) {
		free(ch);
		return r == UV_EPERM ? -EPERM : -EINVAL;
	}
	ch->poll.data = ch;
	ch->next = fw->chans;
	fw->chans = ch;
	*out = ch;
	return 0;
}

int cldd_fwd_home(struct cldd *d, struct cldd_peer *peer, int fd, bool sock,
		  enum cldd_fwd_kind kind, uint32_t *id, struct cldd_chan **out)
{
	struct cldd_fwd *fw = d->fwd;
	int r;

	if (!fw->next_id)
		fw->next_id = (uint32_t)getpid() << 16 | 1; /* unlike a restarted daemon's */
	r = chan_new(fw, peer, fw->next_id, true, fd, sock, kind, out);
	if (!r)
		*id = fw->next_id++;
	return r;
}

int cldd_fwd_guest(struct cldd *d, struct cldd_peer *peer, uint32_t id, int fd,
		   enum cldd_fwd_kind kind, struct cldd_chan **out)
{
	int r = chan_new(d->fwd, peer, id, false, fd, false, kind, out);

	if (!r)
		cldd_fwd_start(*out);
	return r;
}

void cldd_fwd_start(struct cldd_chan *ch)
{
	if (!ch)
		return;
	ch->started = true;
	if (ch->tty && ch->fd >= 0)
		cldd_tty_started(ch);
	if (ch->fd >= 0 && ch->q)
		write_some(ch);
	cldd_fwd_update(ch);
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
	/* The guest is gone: nothing is written to its end any more. */
	if (!ch->home && ch->wr) {
		ch->wr_done = true;
		free_queue(ch);
	}
	/* Nothing more to read for a guest that is gone; what it sent is
	 * still written, and the guest's side says EOF so that home lets
	 * go of its end (a reader there waits for it). */
	if (ch->rd && !ch->rd_done) {
		ch->rd_done = true;
		if (!ch->home && ch->started)
			send_eof(ch);
		if (ch->sock && ch->fd >= 0)
			shutdown(ch->fd, SHUT_RD);
	}
	if (done(ch) || ch->fd < 0)
		finish(ch);
	else
		cldd_fwd_update(ch);
}

struct cldd_chan *cldd_fwd_find(struct cldd_fwd *fw, struct cldd_peer *peer, uint32_t id, bool home)
{
	struct cldd_chan *ch;

	for (ch = fw->chans; ch; ch = ch->next)
		if (ch->peer == peer && ch->id == id && ch->home == home)
			return ch;
	return NULL;
}

void cldd_fwd_serve_data(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			 const uint8_t *p)
{
	struct cldp_fwd_hdr hd;
	struct cldd_chan *ch;
	struct chunk *k;
	size_t n = h->len - sizeof(hd);

	memcpy(&hd, p, sizeof(hd));
	ch = cldd_fwd_find(d->fwd, cldd_conn_peer(c), hd.chan, hd.flags & CLDP_FWD_TO_HOME);
	if (!ch || !ch->wr || ch->wr_done || ch->wr_eof)
		return; /* late bytes of a channel that ended: nobody wants them */
	if (n) {
		k = malloc(sizeof(*k) + n);
		if (!k) {
			cldd_err("forwarded fd %u: out of memory, its bytes are lost", hd.chan);
			return;
		}
		k->next = NULL;
		k->off = 0;
		memcpy(k->data, p + sizeof(hd), n);
		k->len = ch->tty ? cldd_tty_sigkeys(ch, k->data, n) : n;
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
		cldd_fwd_update(ch);
}

void cldd_fwd_serve_ack(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			const uint8_t *p)
{
	struct cldp_fwd_ack a;
	struct cldd_chan *ch;

	(void)h;
	memcpy(&a, p, sizeof(a));
	ch = cldd_fwd_find(d->fwd, cldd_conn_peer(c), a.chan, a.flags & CLDP_FWD_TO_HOME);
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
		cldd_fwd_update(ch);
}

void cldd_fwd_peer_down(struct cldd *d, struct cldd_peer *peer)
{
	struct cldd_chan *ch, *next;

	for (ch = d->fwd->chans; ch; ch = next) {
		next = ch->next;
		if (ch->peer != peer || ch->fd < 0)
			continue;
		cldd_warn("forwarded fd %u: %s is down; the fd is closed", ch->id, peer->conf.name);
		finish(ch);
	}
}
