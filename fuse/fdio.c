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

int cldd_fwd_init(struct cldd *d, unsigned int lost_ms)
{
	struct cldd_fwd *fw = calloc(1, sizeof(*fw));

	if (!fw)
		return -ENOMEM;
	fw->loop = d->loop;
	fw->lost_ms = lost_ms;
	uv_timer_init(d->loop, &fw->detach_timer);
	uv_unref((uv_handle_t *)&fw->detach_timer);
	fw->detach_timer.data = fw;
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

static void free_rtx(struct cldd_chan *ch)
{
	struct chunk *c;

	while ((c = ch->rtx)) {
		ch->rtx = c->next;
		free(c);
	}
	ch->rtxt = &ch->rtx;
	ch->rtx_bytes = 0;
}

/* Keep a copy of bytes just sent, until the peer has written them out. */
static int rtx_keep(struct cldd_chan *ch, const uint8_t *b, size_t n)
{
	struct chunk *k = malloc(sizeof(*k) + n);

	if (!k)
		return -ENOMEM;
	k->next = NULL;
	k->off = 0;
	k->len = n;
	memcpy(k->data, b, n);
	*ch->rtxt = k;
	ch->rtxt = &k->next;
	ch->rtx_bytes += n;
	return 0;
}

/* The peer wrote n more bytes out: their copies go. */
static void rtx_drop(struct cldd_chan *ch, uint64_t n)
{
	struct chunk *c;

	while (n && (c = ch->rtx)) {
		size_t take = c->len - c->off < n ? c->len - c->off : (size_t)n;

		c->off += take;
		n -= take;
		ch->rtx_bytes -= take;
		if (c->off == c->len) {
			ch->rtx = c->next;
			if (!ch->rtx)
				ch->rtxt = &ch->rtx;
			free(c);
		}
	}
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
	ch->detached = false;
	free_queue(ch);
	free_rtx(ch);
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
		/* Sent or not (a connection that is down drops it), it is
		 * kept until written out at the other end. */
		if (n > 0 && rtx_keep(ch, b + sizeof(hd), (size_t)n))
			cldd_err("forwarded fd %u: out of memory: a reconnect would lose bytes",
				 ch->id);
		if (n > 0)
			ch->tx_total += (uint64_t)n;
		else
			ch->eof_sent = true;
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

	ch->eof_sent = true;
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
		ch->wr_total += (uint64_t)n;
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
	if (ch->detached) {
		ev = 0;
	} else if (ch->rd && !ch->rd_done && ch->credit && cldd_tty_may_read(ch))
		ev |= UV_READABLE;
	if (ch->q && !ch->detached)
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
	ch->rtxt = &ch->rtx;
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
	ch->rx_total += n;
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
	rtx_drop(ch, a.bytes);
	ch->credit += a.bytes;
	if (ch->credit > CLDD_FWD_WINDOW)
		ch->credit = CLDD_FWD_WINDOW;
	if (ch->fd >= 0 && done(ch))
		finish(ch);
	else
		cldd_fwd_update(ch);
}

/* ---- Through a reconnect ------------------------------------------------------- */

static void on_detach_tick(uv_timer_t *t)
{
	struct cldd_fwd *fw = t->data;
	uint64_t now = cldd_now_ns();
	struct cldd_chan *ch, *next;
	bool any = false;

	for (ch = fw->chans; ch; ch = next) {
		next = ch->next;
		if (!ch->detached)
			continue;
		if (now - ch->detached_ns < (uint64_t)fw->lost_ms * 1000000ull) {
			any = true;
			continue;
		}
		cldd_warn("forwarded fd %u: %s did not come back in time; the fd is closed", ch->id,
			  ch->peer->conf.name);
		finish(ch);
	}
	if (!any)
		uv_timer_stop(t);
}

void cldd_fwd_peer_down(struct cldd *d, struct cldd_peer *peer)
{
	struct cldd_fwd *fw = d->fwd;
	struct cldd_chan *ch, *next;

	for (ch = fw->chans; ch; ch = next) {
		next = ch->next;
		if (ch->peer != peer || ch->fd < 0 || ch->detached)
			continue;
		if (!ch->started || peer->removed || (done(ch) && !ch->q)) {
			cldd_warn("forwarded fd %u: %s is down; the fd is closed", ch->id,
				  peer->conf.name);
			finish(ch);
			continue;
		}
		/* Its bytes wait (the fd's reader or writer blocks, as on a
		 * full or empty pipe) until the peer is back. */
		cldd_warn("forwarded fd %u: %s is down; it waits for it (up to %u s)", ch->id,
			  peer->conf.name, fw->lost_ms / 1000);
		ch->detached = true;
		ch->detached_ns = cldd_now_ns();
		cldd_fwd_update(ch);
		if (!uv_is_active((uv_handle_t *)&fw->detach_timer))
			uv_timer_start(&fw->detach_timer, on_detach_tick, 1000, 1000);
	}
}

void cldd_fwd_peer_up(struct cldd *d, struct cldd_peer *peer)
{
	struct cldd_chan *ch;

	for (ch = d->fwd->chans; ch; ch = ch->next) {
		struct cldp_fwd_resync r;

		if (ch->peer != peer || !ch->detached)
			continue;
		r = (struct cldp_fwd_resync){
			.chan = ch->id,
			.flags = ch->home ? 0 : CLDP_FWD_TO_HOME,
			.received = ch->rx_total,
			.written = ch->wr_total,
		};
		ch->unacked = 0; /* written counts it */
		cldd_send_msg(peer, CLDP_FWD_RESYNC, &r, sizeof(r));
	}
}

/* Send again, from byte received of what was sent. */
static int resend(struct cldd_chan *ch, uint64_t received)
{
	uint64_t base = ch->tx_total - ch->rtx_bytes, skip;
	struct chunk *c;

	if (received < base || received > ch->tx_total)
		return -EPROTO;
	skip = received - base;
	for (c = ch->rtx; c; c = c->next) {
		size_t off = c->off;

		while (off < c->len) {
			struct cldp_fwd_hdr hd = { .chan = ch->id,
						   .flags = ch->home ? 0 : CLDP_FWD_TO_HOME };
			size_t n = c->len - off;
			struct cldd_out *o;
			uint8_t *b;

			if (skip >= n) {
				skip -= n;
				break;
			}
			off += (size_t)skip;
			n -= (size_t)skip;
			skip = 0;
			if (n > CLDD_FWD_CHUNK)
				n = CLDD_FWD_CHUNK;
			b = cldd_out_new(sizeof(hd) + n, &o);
			if (!b)
				return -ENOMEM;
			memcpy(b, &hd, sizeof(hd));
			memcpy(b + sizeof(hd), c->data + off, n);
			cldd_send_out(ch->peer, o, CLDP_FWD_DATA, sizeof(hd) + n);
			off += n;
		}
	}
	return 0;
}

void cldd_fwd_serve_resync(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			   const uint8_t *p)
{
	struct cldd_peer *peer = cldd_conn_peer(c);
	struct cldp_fwd_resync r;
	struct cldd_chan *ch;
	uint64_t unwritten;

	(void)h;
	memcpy(&r, p, sizeof(r));
	ch = cldd_fwd_find(d->fwd, peer, r.chan, r.flags & CLDP_FWD_TO_HOME);
	if (!ch || ch->fd < 0) {
		/* Not ours (any more): its other end is closed there. */
		struct cldp_fwd_resync g = { .chan = r.chan,
					     .flags = ((r.flags & CLDP_FWD_TO_HOME) ^
						       CLDP_FWD_TO_HOME) | CLDP_FWD_GONE };

		if (!(r.flags & CLDP_FWD_GONE))
			cldd_send_msg(peer, CLDP_FWD_RESYNC, &g, sizeof(g));
		return;
	}
	if (r.flags & CLDP_FWD_GONE) {
		cldd_warn("forwarded fd %u: %s no longer has it (its daemon restarted); the fd is "
			  "closed", ch->id, peer->conf.name);
		finish(ch);
		return;
	}
	/* What it wrote out, it will not ask for again. */
	unwritten = ch->tx_total - ch->rtx_bytes;
	if (r.written > unwritten)
		rtx_drop(ch, r.written - unwritten);
	if (r.written > r.received || resend(ch, r.received)) {
		cldd_err("forwarded fd %u: %s has %llu of its %llu bytes: cannot resume; the fd is "
			 "closed", ch->id, peer->conf.name, (unsigned long long)r.received,
			 (unsigned long long)ch->tx_total);
		finish(ch);
		return;
	}
	if (ch->eof_sent)
		send_eof(ch);
	ch->credit = ch->tx_total - r.written >= CLDD_FWD_WINDOW ?
			     0 :
			     CLDD_FWD_WINDOW - (uint32_t)(ch->tx_total - r.written);
	cldd_info("forwarded fd %u: %s is back; %llu bytes sent again", ch->id, peer->conf.name,
		  (unsigned long long)(ch->tx_total - r.received));
	ch->detached = false;
	if (ch->q)
		write_some(ch);
	if (ch->fd >= 0 && done(ch))
		finish(ch);
	else
		cldd_fwd_update(ch);
}
