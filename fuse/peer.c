// SPDX-License-Identifier: MIT
#include "peer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "serve.h"

/* Period of the housekeeping timer: deadlines, heartbeats, redials. */
#define TICK_MS 50
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* Beyond this much queued output a connection stops reading requests
 * until the peer has taken some of it: the peer's read-ahead is bounded,
 * this is the backstop. */
#define WQ_HIGH (16u << 20)
#define WQ_LOW (4u << 20)
#define PRE_AUTH_FRAME_MAX 4096
/*
 * Inbound connections (docs/security.md, "Peer connections and fds").
 * Anybody can connect before the handshake proves the key, so:
 *  - at most MAX_HANDSHAKES accepted connections are in the handshake at a
 *    time, and at most INBOUND_PER_NODE per configured node plus
 *    INBOUND_EXTRA inbound connections in all (authenticated ones
 *    included).  A new connection beyond either pushes out the oldest one
 *    still in the handshake (one that has sent nothing first): a real peer
 *    completes its handshake within a round trip or two, a flood's
 *    connections just sit there, so the newest has the best chance;
 *  - no connection is accepted while fewer than FD_RESERVE fds are left
 *    under the limit: those are for the mount, the images, the freezes and
 *    the connections to peers.
 * The handshake timeout (`timeout` in the configuration) ends the rest.
 */
#define MAX_HANDSHAKES 32
#define INBOUND_PER_NODE 4
#define INBOUND_EXTRA 16
#define FD_RESERVE 64
/* Connections refused for those reasons are logged at most this often. */
#define FLOOD_LOG_NS 1000000000ull
/* Accepts per turn of the loop: libuv accepts until the backlog is empty,
 * which under a flood could be for ever; the rest wait for the next turn,
 * so the peers' traffic (heartbeats) and the mount are served meanwhile. */
#define ACCEPT_BATCH 16

enum conn_state {
	C_CONNECTING,
	C_HELLO, /* waiting for the peer's HELLO */
	C_AUTH,	 /* waiting for its AUTH */
	C_UP,
	C_CLOSING,
};

struct cldd_call {
	struct cldd_call *next;
	uint32_t id;
	uint16_t type;
	uint64_t deadline_ns;
	cldd_call_cb cb;
	void *arg;
};

struct cldd_conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	enum conn_state state;
	bool initiator;
	bool close_after_write; /* refused: the HELLO goes out, then close */
	bool paused;		/* reading stopped by flow control */
	struct cldd_peer *peer; /* known when dialing, after HELLO when accepted */
	char addr[96];
	struct cldp_hs hs;
	struct cldp_chan ch;
	struct cldp_rx rx;
	uint64_t started_ns, last_rx_ns, last_ping_ns;
	struct cldd_call *calls;
	unsigned int ncalls;
	uint32_t next_id;
	void *served;
	struct cldd_conn *next; /* all connections */
};

struct cldd_out {
	uv_write_t w;
	struct cldd_conn *c;
	size_t cap;
	uint8_t buf[]; /* u32 length, header, payload (cap), tag */
};

static struct {
	uv_loop_t *loop;
	bool enabled;
	char conf_path[4096];
	struct cld_cluster_conf conf;
	struct cld_node_conf self;
	uint8_t key[CLD_KEY_BYTES];
	uv_tcp_t listener;
	uv_timer_t tick;
	uv_timer_t accept_later; /* the next turn's accepts (ACCEPT_BATCH) */
	uv_check_t accept_reset;
	unsigned int accepts; /* this turn */
	bool accept_deferred;
	struct cldd_peer **peers;
	unsigned int npeers;
	struct cldd_conn *conns;
	void (*hook)(struct cldd_peer *p, bool up);
} cl;

uint64_t cldd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *peer_name(const struct cldd_conn *c)
{
	return c->peer ? c->peer->conf.name : "?";
}

/* ---- Output ---------------------------------------------------------------- */

uint8_t *cldd_out_new(size_t cap, struct cldd_out **o)
{
	struct cldd_out *p =
		malloc(sizeof(*p) + 4 + sizeof(struct cldp_hdr) + cap + CLDP_TAG_BYTES);

	if (!p)
		return NULL;
	p->cap = cap;
	*o = p;
	return p->buf + 4 + sizeof(struct cldp_hdr);
}

void cldd_out_free(struct cldd_out *o)
{
	free(o);
}

static void conn_close(struct cldd_conn *c, int call_status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conn_resume(struct cldd_conn *c);

static void on_write(uv_write_t *w, int status)
{
	struct cldd_out *o = w->data;
	struct cldd_conn *c = o->c;

	free(o);
	if (status == UV_ECANCELED)
		return; /* closing: c may be gone */
	if (c->state == C_CLOSING)
		return;
	if (status < 0) {
		conn_close(c, -EHOSTDOWN, "write: %s", uv_strerror(status));
		return;
	}
	if (c->close_after_write) {
		conn_close(c, -EHOSTDOWN, "refused");
		return;
	}
	/*
	 * While we are not reading (flow control), a drained write is the
	 * only sign of life we get: with a queue far beyond the socket
	 * buffer it completes only as the peer acknowledges data.  When we
	 * are reading, it proves nothing (a dead peer's socket still takes
	 * a ping), so heartbeats alone count.
	 */
	if (c->paused)
		c->last_rx_ns = cldd_now_ns();
	if (c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < WQ_LOW) {
		c->paused = false;
		cldd_dbg("peer %s: output drained, reading again", peer_name(c));
		conn_resume(c);
	}
}

/* Queue body_len bytes already in o->buf + 4. */
static void out_queue(struct cldd_conn *c, struct cldd_out *o, size_t body_len)
{
	uint32_t l = (uint32_t)body_len;
	uv_buf_t b;
	int r;

	memcpy(o->buf, &l, 4);
	o->c = c;
	o->w.data = o;
	b = uv_buf_init((char *)o->buf, (unsigned int)(4 + body_len));
	r = uv_write(&o->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (r) {
		free(o);
		conn_close(c, -EHOSTDOWN, "write: %s", uv_strerror(r));
		return;
	}
	if (!c->paused && c->state == C_UP &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WQ_HIGH) {
		c->paused = true;
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
}

/* Seal and queue a message whose payload is already in place. */
static void out_send(struct cldd_conn *c, struct cldd_out *o, uint16_t type, uint16_t flags,
		     uint32_t id, int32_t status, size_t len)
{
	struct cldp_hdr h = {
		.type = type, .flags = flags, .id = id, .status = status, .len = (uint32_t)len
	};

	if (c->state == C_CLOSING) {
		free(o);
		return;
	}
	memcpy(o->buf + 4, &h, sizeof(h));
	if (cldp_seal(&c->ch, o->buf + 4, sizeof(h) + len)) {
		free(o);
		conn_close(c, -EIO, "cannot seal a frame (out of memory?)");
		return;
	}
	out_queue(c, o, sizeof(h) + len + CLDP_TAG_BYTES);
}

static int send_simple(struct cldd_conn *c, uint16_t type, uint16_t flags, uint32_t id,
		       int32_t status, const void *payload, size_t len)
{
	struct cldd_out *o;
	uint8_t *p = cldd_out_new(len, &o);

	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, payload, len);
	out_send(c, o, type, flags, id, status, len);
	return 0;
}

void cldd_out_reply(struct cldd_conn *c, struct cldd_out *o, uint16_t type, uint32_t id,
		    int32_t status, size_t len)
{
	out_send(c, o, type, CLDP_F_RESP, id, status, status < 0 ? 0 : len);
}

void cldd_reply_status(struct cldd_conn *c, uint16_t type, uint32_t id, int32_t status)
{
	send_simple(c, type, CLDP_F_RESP, id, status, NULL, 0);
}

struct cldd_peer *cldd_conn_peer(struct cldd_conn *c)
{
	return c->peer;
}

void **cldd_conn_served(struct cldd_conn *c)
{
	return &c->served;
}

/* ---- Requests -------------------------------------------------------------- */

int cldd_call(struct cldd_peer *p, uint16_t type, const void *payload, size_t len, cldd_call_cb cb,
	      void *arg)
{
	return cldd_call_timeout(p, type, payload, len, cl.conf.timeout_ms, cb, arg);
}

int cldd_call_timeout(struct cldd_peer *p, uint16_t type, const void *payload, size_t len,
		      unsigned int timeout_ms, cldd_call_cb cb, void *arg)
{
	struct cldd_conn *c = p->conn;
	struct cldd_call *call;
	int ret;

	if (!c || c->state != C_UP)
		return -EHOSTDOWN;
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	do
		call->id = ++c->next_id;
	while (!call->id);
	call->type = type;
	call->cb = cb;
	call->arg = arg;
	call->deadline_ns = cldd_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	ret = send_simple(c, type, 0, call->id, 0, payload, len);
	if (ret) {
		free(call);
		return ret;
	}
	if (p->conn != c) { /* the write failed and closed it */
		free(call);
		return -EHOSTDOWN;
	}
	call->next = c->calls;
	c->calls = call;
	c->ncalls++;
	return 0;
}

void cldd_send_msg(struct cldd_peer *p, uint16_t type, const void *payload, size_t len)
{
	if (p->conn && p->conn->state == C_UP)
		send_simple(p->conn, type, 0, 0, 0, payload, len);
}

void cldd_send_out(struct cldd_peer *p, struct cldd_out *o, uint16_t type, size_t len)
{
	if (p->conn && p->conn->state == C_UP)
		out_send(p->conn, o, type, 0, 0, 0, len);
	else
		cldd_out_free(o);
}

unsigned int cldd_calls_inflight(const struct cldd_peer *p)
{
	return p->conn ? p->conn->ncalls : 0;
}

static struct cldd_call *take_call(struct cldd_conn *c, uint32_t id)
{
	struct cldd_call **pp, *call;

	for (pp = &c->calls; (call = *pp); pp = &call->next)
		if (call->id == id) {
			*pp = call->next;
			c->ncalls--;
			return call;
		}
	return NULL;
}

/* Complete calls outside any list walk: callbacks may issue new calls. */
static void fail_calls(struct cldd_call *list, int status)
{
	while (list) {
		struct cldd_call *next = list->next;

		list->cb(list->arg, status, NULL, 0);
		free(list);
		list = next;
	}
}

/* ---- Connections ----------------------------------------------------------- */

static void conn_freed(uv_handle_t *h)
{
	struct cldd_conn *c = h->data;

	cldp_rx_free(&c->rx);
	cldp_chan_free(&c->ch);
	sodium_memzero(&c->hs, sizeof(c->hs));
	free(c);
}

static void conn_unlink(struct cldd_conn *c)
{
	struct cldd_conn **pp;

	for (pp = &cl.conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void schedule_redial(struct cldd_peer *p)
{
	if (!p->dials || p->removed)
		return;
	p->next_dial_ns = cldd_now_ns() + (uint64_t)p->backoff_ms * 1000000ull;
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
}

static void conn_close(struct cldd_conn *c, int call_status, const char *fmt, ...)
{
	struct cldd_peer *p = c->peer;
	struct cldd_call *calls;
	char why[256];
	va_list ap;

	if (c->state == C_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (p && p->conn == c) {
		p->conn = NULL;
		cldd_warn("peer %s down: %s", p->conf.name, why);
		snprintf(p->error, sizeof(p->error), "%s", why);
		schedule_redial(p);
		if (cl.hook)
			cl.hook(p, false);
	} else if (p && p->pending == c) {
		p->pending = NULL;
		/* Log each distinct failure once, not every redial. */
		if (strcmp(p->error, why))
			cldd_info("peer %s (%s): %s", p->conf.name, c->addr, why);
		snprintf(p->error, sizeof(p->error), "%s", why);
		schedule_redial(p);
	} else {
		cldd_dbg("connection from %s closed: %s", c->addr, why);
	}
	c->state = C_CLOSING;
	cldd_serve_conn_closed(c);
	calls = c->calls;
	c->calls = NULL;
	c->ncalls = 0;
	conn_unlink(c);
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, conn_freed);
	fail_calls(calls, call_status);
}

static struct cldd_conn *conn_new(bool initiator)
{
	struct cldd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (uv_tcp_init(cl.loop, &c->tcp)) {
		free(c);
		return NULL;
	}
	c->tcp.data = c;
	c->initiator = initiator;
	c->started_ns = c->last_rx_ns = cldd_now_ns();
	c->next = cl.conns;
	cl.conns = c;
	uv_tcp_nodelay(&c->tcp, 1);
	return c;
}

static void send_hello(struct cldd_conn *c)
{
	struct cldd_out *o;
	uint8_t *p = cldd_out_new(sizeof(c->hs.mine), &o);

	if (!p) {
		conn_close(c, -EHOSTDOWN, "out of memory");
		return;
	}
	memcpy(o->buf + 4, &c->hs.mine, sizeof(c->hs.mine));
	out_queue(c, o, sizeof(c->hs.mine));
}

static void send_auth(struct cldd_conn *c)
{
	if (send_simple(c, CLDP_AUTH, 0, 0, 0, c->hs.transcript, sizeof(c->hs.transcript)))
		conn_close(c, -EHOSTDOWN, "out of memory");
}

static void became_up(struct cldd_conn *c)
{
	struct cldd_peer *p = c->peer;

	c->state = C_UP;
	if (p->pending == c)
		p->pending = NULL;
	if (p->conn)
		conn_close(p->conn, -EHOSTDOWN, "replaced by a new connection");
	p->conn = c;
	p->gen++;
	p->backoff_ms = 0;
	p->error[0] = 0;
	c->last_ping_ns = 0;
	cldd_info("peer %s up (%s, %s)", p->conf.name, c->addr,
		  c->ch.aead == CLDP_AEAD_AES256GCM ? "aes256gcm" : "chacha20poly1305");
	if (cl.hook)
		cl.hook(p, true);
}

void cldd_cluster_set_hook(void (*hook)(struct cldd_peer *p, bool up))
{
	cl.hook = hook;
}

static void on_hello(struct cldd_conn *c, uint8_t *body, size_t len)
{
	struct cld_err err = { 0 };
	struct cldd_peer *p;
	int ret;

	if (!c->initiator)
		send_hello(c); /* first, so a peer of another version learns ours */
	ret = cldp_hs_finish(&c->hs, body, len, &c->ch, &err);
	if (ret) {
		if (ret == -EPROTONOSUPPORT)
			cldd_err("%s (%s): protocol version mismatch: %s",
				 c->peer ? c->peer->conf.name : "connection from", c->addr,
				 cld_err_str(&err));
		else
			cldd_warn("%s: refused: %s", c->addr, cld_err_str(&err));
		if (c->initiator)
			conn_close(c, -EHOSTDOWN, "%s", cld_err_str(&err));
		else
			c->close_after_write = true;
		return;
	}
	if (c->initiator) {
		if (strcmp(c->hs.theirs.node, c->peer->conf.name)) {
			conn_close(c, -EHOSTDOWN, "answered as node '%s', not '%s'",
				   c->hs.theirs.node, c->peer->conf.name);
			return;
		}
	} else {
		p = cldd_peer_by_name(c->hs.theirs.node);
		if (!p || p->removed) {
			cldd_warn("connection from %s refused: unknown node '%s'", c->addr,
				  c->hs.theirs.node);
			c->close_after_write = true;
			return;
		}
		if (p->dials) {
			cldd_warn("connection from %s refused: node '%s' sorts after '%s', "
				  "so %s dials it",
				  c->addr, p->conf.name, cl.self.name, cl.self.name);
			c->close_after_write = true;
			return;
		}
		c->peer = p;
	}
	c->state = C_AUTH;
	send_auth(c);
}

static void on_auth(struct cldd_conn *c, uint8_t *body, size_t len)
{
	struct cldp_hdr h;

	if (cldp_open(&c->ch, body, len) || len != sizeof(h) + 32 + CLDP_TAG_BYTES) {
		static const char why[] = "authentication failed (wrong cluster key?)";
		struct cldd_peer *p = c->peer;

		/* Once per episode, not at every redial. */
		if (!p || strcmp(p->error, why))
			cldd_err("authentication failed with %s (%s): it does not hold this "
				 "cluster's key",
				 c->hs.theirs.node, c->addr);
		if (p && p->conn != c)
			snprintf(p->error, sizeof(p->error), "%s", why);
		conn_close(c, -EHOSTDOWN, "%s", why);
		return;
	}
	memcpy(&h, body, sizeof(h));
	if (h.type != CLDP_AUTH || h.len != 32 || memcmp(body + sizeof(h), c->hs.transcript, 32)) {
		cldd_err("authentication failed with %s (%s): bad AUTH", c->hs.theirs.node,
			 c->addr);
		conn_close(c, -EHOSTDOWN, "authentication failed (bad AUTH)");
		return;
	}
	became_up(c);
}

static void on_ping_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_peer *p = arg;
	uint64_t sent;

	if (status || len != sizeof(sent))
		return;
	memcpy(&sent, data, sizeof(sent));
	p->rtt_ns = cldd_now_ns() - sent;
}

static void on_message(struct cldd_conn *c, uint8_t *body, size_t len)
{
	struct cld_err err = { 0 };
	struct cldd_call *call;
	struct cldp_hdr h;
	size_t mlen;

	if (cldp_open(&c->ch, body, len)) {
		cldd_err("peer %s (%s): frame rejected (tampered, replayed or wrong key): "
			 "dropping the connection",
			 peer_name(c), c->addr);
		conn_close(c, -EIO, "frame rejected");
		return;
	}
	mlen = len - CLDP_TAG_BYTES;
	if (cldp_msg_check(body, mlen, &err)) {
		cldd_err("peer %s: protocol error: %s", peer_name(c), cld_err_str(&err));
		conn_close(c, -EIO, "protocol error: %s", cld_err_str(&err));
		return;
	}
	memcpy(&h, body, sizeof(h));
	if (h.flags & CLDP_F_RESP) {
		call = take_call(c, h.id);
		if (!call) {
			cldd_dbg("peer %s: late %s response %u", peer_name(c),
				 cldp_type_name(h.type), (unsigned int)h.id);
			return;
		}
		if (call->type != h.type) {
			call->cb(call->arg, -EIO, NULL, 0);
			free(call);
			conn_close(c, -EIO, "response of the wrong type");
			return;
		}
		call->cb(call->arg, h.status, body + sizeof(h), h.len);
		free(call);
		return;
	}
	switch (h.type) {
	case CLDP_AUTH:
		conn_close(c, -EIO, "protocol error: a second AUTH");
		return;
	case CLDP_PING:
		send_simple(c, CLDP_PING, CLDP_F_RESP, h.id, 0, body + sizeof(h), h.len);
		return;
	default:
		cldd_serve(c, &h, body + sizeof(h));
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct cldd_conn *c = h->data;
	size_t avail = 0;
	uint8_t *p;

	(void)hint;
	p = cldp_rx_space(&c->rx, 0, &avail);
	*b = uv_buf_init((char *)p, p ? (unsigned int)avail : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct cldd_conn *c = s->data;
	uint8_t *body;
	size_t len;
	int r;

	(void)b;
	if (n < 0) {
		conn_close(c, -EHOSTDOWN, "%s",
			   n == UV_EOF ? "connection closed by the peer" : uv_strerror((int)n));
		return;
	}
	if (!n)
		return;
	cldp_rx_commit(&c->rx, (size_t)n);
	c->last_rx_ns = cldd_now_ns();
	while (c->state != C_CLOSING && !c->paused) {
		r = cldp_rx_next(&c->rx, c->state == C_UP ? CLDP_FRAME_MAX : PRE_AUTH_FRAME_MAX,
				 &body, &len);
		if (r == 0)
			break;
		if (r < 0) {
			if (c->state == C_UP)
				cldd_err("peer %s: oversized frame: dropping the connection",
					 peer_name(c));
			else
				cldd_warn("%s: refused: not a clondike peer", c->addr);
			conn_close(c, -EIO, "oversized frame");
			break;
		}
		switch (c->state) {
		case C_HELLO:
			if (c->close_after_write)
				break;
			on_hello(c, body, len);
			break;
		case C_AUTH:
			on_auth(c, body, len);
			break;
		case C_UP:
			on_message(c, body, len);
			break;
		default:
			break;
		}
	}
}

static void conn_resume(struct cldd_conn *c)
{
	uint8_t *body;
	size_t len;
	int r;

	/* Frames that arrived before the pause are still buffered. */
	while (c->state == C_UP && !c->paused) {
		r = cldp_rx_next(&c->rx, CLDP_FRAME_MAX, &body, &len);
		if (r <= 0)
			break;
		on_message(c, body, len);
	}
	if (c->state == C_UP && !c->paused)
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void fmt_addr(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%d", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%d", ip, port);
	} else {
		snprintf(out, cap, "?");
	}
}

/* A connection refused or pushed out by the limits above: log at most once
 * per FLOOD_LOG_NS, with the count since the last message. */
static void flood_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void flood_note(const char *fmt, ...)
{
	static uint64_t last_ns;
	static unsigned int dropped;
	uint64_t now = cldd_now_ns();
	char what[256];
	va_list ap;

	dropped++;
	if (last_ns && now - last_ns < FLOOD_LOG_NS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cldd_warn("inbound connections: %s (%u dropped since the last such message)", what,
		  dropped);
	last_ns = now;
	dropped = 0;
}

static unsigned int count_fds(void)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* not the directory's own fd */
}

/*
 * Fewer than FD_RESERVE fds left, with newfd just accepted?  The count of
 * /proc/self/fd is taken again at most every 100 ms, or as soon as the
 * estimate (last count, plus accepts since, and at least newfd + 1: fds are
 * handed out lowest first) comes near the limit.
 */
static bool fds_short(int newfd, unsigned long long *open_fds, unsigned long long *limit)
{
	static uint64_t at_ns;
	static unsigned long long est;
	uint64_t now = cldd_now_ns();
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	*limit = rl.rlim_cur;
	est++;
	if (newfd >= 0 && est < (unsigned long long)newfd + 1)
		est = (unsigned long long)newfd + 1;
	if (now - at_ns > 100000000ull || est + FD_RESERVE >= *limit) {
		est = count_fds();
		at_ns = now;
	}
	*open_fds = est;
	return est + FD_RESERVE >= *limit;
}

/* Room for c, just accepted?  Makes it, or closes c and returns false. */
static bool inbound_admit(struct cldd_conn *c)
{
	unsigned int cap = INBOUND_PER_NODE * (unsigned int)cl.conf.n + INBOUND_EXTRA;
	unsigned int inbound = 0, handshaking = 0;
	unsigned long long nfds, limit;
	struct cldd_conn *o, *victim = NULL;
	uv_os_fd_t fd = -1;

	uv_fileno((uv_handle_t *)&c->tcp, &fd);
	if (fds_short((int)fd, &nfds, &limit)) {
		flood_note("%llu of %llu fds open, %u kept in reserve: connection from %s closed",
			   nfds, limit, FD_RESERVE, c->addr);
		conn_close(c, -EHOSTDOWN, "fd reserve");
		return false;
	}
	for (o = cl.conns; o; o = o->next) {
		if (o == c || o->initiator || o->state == C_CLOSING)
			continue;
		inbound++;
		if (o->state == C_UP)
			continue;
		handshaking++;
		/* The oldest that has sent nothing yet, else the oldest. */
		if (!victim || (o->state == C_HELLO && victim->state != C_HELLO) ||
		    (o->state == victim->state && o->started_ns < victim->started_ns))
			victim = o;
	}
	if (handshaking < MAX_HANDSHAKES && inbound < cap)
		return true;
	if (!victim) {
		flood_note("cap of %u inbound connections reached: connection from %s closed", cap,
			   c->addr);
		conn_close(c, -EHOSTDOWN, "too many inbound connections");
		return false;
	}
	if (handshaking >= MAX_HANDSHAKES)
		flood_note("cap of %u connections in the handshake reached: the oldest, from %s, "
			   "closed for one from %s",
			   MAX_HANDSHAKES, victim->addr, c->addr);
	else
		flood_note("cap of %u inbound connections reached: the oldest in the handshake, "
			   "from %s, closed for one from %s",
			   cap, victim->addr, c->addr);
	conn_close(victim, -EHOSTDOWN, "pushed out by a newer connection (too many)");
	return true;
}

static void on_connection(uv_stream_t *server, int status);

/* After the poll of each turn: a new batch of accepts may start. */
static void on_accept_reset(uv_check_t *h)
{
	(void)h;
	cl.accepts = 0;
}

/* The connection libuv holds for us (it stopped watching the listener
 * until we take it): take it now, which also resumes the listener. */
static void on_accept_later(uv_timer_t *t)
{
	(void)t;
	cl.accept_deferred = false;
	cl.accepts = 0;
	if (cl.enabled)
		on_connection((uv_stream_t *)&cl.listener, 0);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct cldd_conn *c;

	if (status < 0) {
		/* EMFILE: libuv has accepted and closed it with its spare fd. */
		flood_note("accept: %s", uv_strerror(status));
		return;
	}
	if (cl.accepts >= ACCEPT_BATCH) {
		/* Not taken: libuv keeps it and stops watching the listener. */
		if (!cl.accept_deferred) {
			cl.accept_deferred = true;
			uv_timer_start(&cl.accept_later, on_accept_later, 0, 0);
		}
		return;
	}
	cl.accepts++;
	c = conn_new(false);
	if (!c)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		conn_close(c, -EHOSTDOWN, "accept failed");
		return;
	}
	if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len))
		fmt_addr((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
	if (!inbound_admit(c))
		return;
	cldp_hs_start(&c->hs, false, cl.self.name, cl.key);
	c->state = C_HELLO;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct cldd_conn *c = req->data;

	if (c->state == C_CLOSING)
		return;
	if (status < 0) {
		conn_close(c, -EHOSTDOWN, "connect: %s", uv_strerror(status));
		return;
	}
	cldp_hs_start(&c->hs, true, cl.self.name, cl.key);
	c->state = C_HELLO;
	send_hello(c);
	if (c->state != C_CLOSING)
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Resolve host:port (numeric, or a name through the resolver). */
static int resolve(const struct cld_node_conf *n, struct sockaddr_storage *ss)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", (unsigned int)n->port);
	r = getaddrinfo(n->host, port, &hints, &res);
	if (r)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static void dial(struct cldd_peer *p)
{
	struct sockaddr_storage ss;
	struct cldd_conn *c;
	int r;

	r = resolve(&p->conf, &ss);
	if (r) {
		snprintf(p->error, sizeof(p->error), "cannot resolve %.200s", p->conf.host);
		schedule_redial(p);
		return;
	}
	c = conn_new(true);
	if (!c) {
		schedule_redial(p);
		return;
	}
	c->peer = p;
	p->pending = c;
	fmt_addr((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
	c->creq.data = c;
	c->state = C_CONNECTING;
	r = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&ss, on_connect);
	if (r)
		conn_close(c, -EHOSTDOWN, "connect: %s", uv_strerror(r));
}

static void expire_calls(struct cldd_conn *c, uint64_t now)
{
	struct cldd_call **pp = &c->calls, *call, *expired = NULL;

	while ((call = *pp)) {
		if (call->deadline_ns <= now) {
			*pp = call->next;
			c->ncalls--;
			cldd_warn("peer %s: %s request %u timed out", peer_name(c),
				  cldp_type_name(call->type), (unsigned int)call->id);
			call->next = expired;
			expired = call;
		} else {
			pp = &call->next;
		}
	}
	fail_calls(expired, -ETIMEDOUT);
}

static void on_tick(uv_timer_t *t)
{
	uint64_t now = cldd_now_ns(), hb = (uint64_t)cl.conf.heartbeat_ms * 1000000ull;
	uint64_t to = (uint64_t)cl.conf.timeout_ms * 1000000ull;
	struct cldd_conn *c, *next;
	unsigned int i;

	(void)t;
	for (c = cl.conns; c; c = next) {
		next = c->next;
		if (c->state == C_CLOSING)
			continue;
		if (c->state != C_UP) {
			if (now - c->started_ns > to)
				conn_close(c, -EHOSTDOWN, "handshake timed out");
			continue;
		}
		if (now - c->last_rx_ns > 3 * hb) {
			conn_close(c, -EHOSTDOWN, "no traffic for %llu ms",
				   (unsigned long long)((now - c->last_rx_ns) / 1000000));
			continue;
		}
		if (now - c->last_ping_ns >= hb) {
			c->last_ping_ns = now;
			cldd_call(c->peer, CLDP_PING, &now, sizeof(now), on_ping_done, c->peer);
		}
		/* The ping may have failed and closed c. */
		if (c->state == C_UP)
			expire_calls(c, now);
	}
	for (i = 0; i < cl.npeers; i++) {
		struct cldd_peer *p = cl.peers[i];

		if (p->dials && !p->removed && !p->conn && !p->pending && now >= p->next_dial_ns)
			dial(p);
	}
}

/* ---- The cluster ----------------------------------------------------------- */

bool cldd_cluster_enabled(void)
{
	return cl.enabled;
}

const struct cld_cluster_conf *cldd_cluster_conf(void)
{
	return cl.enabled ? &cl.conf : NULL;
}

const struct cld_node_conf *cldd_cluster_self(void)
{
	return cl.enabled ? &cl.self : NULL;
}

struct cldd_peer *cldd_peer_by_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < cl.npeers; i++)
		if (!strcmp(cl.peers[i]->conf.name, name))
			return cl.peers[i];
	return NULL;
}

struct cldd_peer *cldd_peer_by_slot(unsigned int slot)
{
	return slot < cl.npeers ? cl.peers[slot] : NULL;
}

unsigned int cldd_peer_slots(void)
{
	return cl.npeers;
}

static void drop_conns(struct cldd_peer *p, const char *why)
{
	if (p->conn)
		conn_close(p->conn, -EHOSTDOWN, "%s", why);
	if (p->pending)
		conn_close(p->pending, -EHOSTDOWN, "%s", why);
}

/* Make the peer table match conf (slots of known names are kept). */
static int apply_conf(const struct cld_cluster_conf *conf)
{
	unsigned int i;
	size_t j;

	for (i = 0; i < cl.npeers; i++) {
		struct cldd_peer *p = cl.peers[i];
		const struct cld_node_conf *n = cld_conf_find(conf, p->conf.name);

		if (!n || !strcmp(n->name, cl.self.name)) {
			if (!p->removed)
				cldd_info("node %s removed from the cluster", p->conf.name);
			p->removed = true;
			drop_conns(p, "removed from the configuration");
			continue;
		}
		if (strcmp(n->host, p->conf.host) || n->port != p->conf.port) {
			cldd_info("node %s moved to %s:%u", n->name, n->host, n->port);
			p->conf = *n;
			drop_conns(p, "address changed");
		}
		p->conf = *n;
		p->removed = false;
	}
	for (j = 0; j < conf->n; j++) {
		const struct cld_node_conf *n = &conf->nodes[j];
		struct cldd_peer *p, **np;

		if (!strcmp(n->name, cl.self.name) || cldd_peer_by_name(n->name))
			continue;
		p = calloc(1, sizeof(*p));
		np = realloc(cl.peers, (cl.npeers + 1) * sizeof(*np));
		if (!p || !np) {
			free(p);
			if (np)
				cl.peers = np;
			return -ENOMEM;
		}
		cl.peers = np;
		p->slot = cl.npeers;
		p->conf = *n;
		p->dials = strcmp(cl.self.name, n->name) < 0;
		cl.peers[cl.npeers++] = p;
	}
	return 0;
}

static int load(const char *path, const char *self, struct cld_cluster_conf *conf,
		uint8_t key[CLD_KEY_BYTES], struct cld_err *err)
{
	const struct cld_node_conf *me;
	int ret;

	ret = cld_conf_load(path, conf, err);
	if (ret)
		return ret;
	/* A relative key path is relative to the configuration file. */
	if (conf->key_path[0] != '/') {
		char dir[4096], *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash) {
			char rel[sizeof(conf->key_path)];

			*slash = 0;
			snprintf(rel, sizeof(rel), "%s", conf->key_path);
			if (snprintf(conf->key_path, sizeof(conf->key_path), "%s/%s", dir, rel) >=
			    (int)sizeof(conf->key_path)) {
				ret = cld_err_set(err, -ENAMETOOLONG, "key path too long");
				goto fail;
			}
		}
	}
	me = cld_conf_find(conf, self);
	if (!me) {
		ret = cld_err_set(err, -EINVAL, "%s: node '%s' (this node) is not in it", path,
				  self);
		goto fail;
	}
	ret = cld_key_load(conf->key_path, key, err);
	if (ret)
		goto fail;
	return 0;
fail:
	cld_conf_free(conf);
	return ret;
}

int cldd_cluster_start(uv_loop_t *loop, const char *conf_path, const char *self,
		       struct cld_err *err)
{
	struct sockaddr_storage ss;
	int r;

	if (cldp_crypto_init())
		return cld_err_set(err, -EIO, "libsodium cannot be initialised");
	r = load(conf_path, self, &cl.conf, cl.key, err);
	if (r)
		return r;
	cl.loop = loop;
	/* Reloads happen after the daemon has changed to /. */
	if (!realpath(conf_path, cl.conf_path))
		snprintf(cl.conf_path, sizeof(cl.conf_path), "%s", conf_path);
	cl.self = *cld_conf_find(&cl.conf, self);
	r = resolve(&cl.self, &ss);
	if (r) {
		cld_err_set(err, r, "cannot resolve this node's address %s", cl.self.host);
		goto fail;
	}
	r = apply_conf(&cl.conf);
	if (r) {
		cld_err_set(err, r, "out of memory");
		goto fail;
	}
	uv_tcp_init(loop, &cl.listener);
	r = uv_tcp_bind(&cl.listener, (struct sockaddr *)&ss, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&cl.listener, 64, on_connection);
	if (r) {
		cld_err_set(err, -EADDRINUSE, "cannot listen on %s:%u: %s", cl.self.host,
			    (unsigned int)cl.self.port, uv_strerror(r));
		uv_close((uv_handle_t *)&cl.listener, NULL);
		goto fail;
	}
	uv_timer_init(loop, &cl.tick);
	uv_timer_start(&cl.tick, on_tick, 0, TICK_MS);
	uv_timer_init(loop, &cl.accept_later);
	uv_check_init(loop, &cl.accept_reset);
	uv_check_start(&cl.accept_reset, on_accept_reset);
	cl.enabled = true;
	cldd_info("cluster: node %s (%s) listening on %s:%u, %u peer(s)", cl.self.name,
		  cld_role_name(cl.self.role), cl.self.host, (unsigned int)cl.self.port, cl.npeers);
	return 0;
fail:
	cld_conf_free(&cl.conf);
	return r < 0 ? r : -EINVAL;
}

int cldd_cluster_reload(struct cld_err *err)
{
	struct cld_cluster_conf conf;
	uint8_t key[CLD_KEY_BYTES];
	const struct cld_node_conf *me;
	int r;

	if (!cl.enabled)
		return 0;
	r = load(cl.conf_path, cl.self.name, &conf, key, err);
	if (r)
		return r;
	me = cld_conf_find(&conf, cl.self.name);
	if (strcmp(me->host, cl.self.host) || me->port != cl.self.port)
		cldd_warn("reload: this node's address changed to %s:%u; "
			  "it takes effect at the next start",
			  me->host, (unsigned int)me->port);
	cl.self.role = me->role;
	if (memcmp(key, cl.key, sizeof(key))) {
		unsigned int i;

		/* A new key: every session was made with the old one. */
		memcpy(cl.key, key, sizeof(key));
		for (i = 0; i < cl.npeers; i++)
			drop_conns(cl.peers[i], "cluster key changed");
		cldd_info("reload: new cluster key");
	}
	r = apply_conf(&conf);
	cld_conf_free(&cl.conf);
	cl.conf = conf;
	cldd_info("reload: %zu node(s) in %s", conf.n, cl.conf_path);
	return r;
}

void cldd_cluster_stop(void)
{
	unsigned int i;

	if (!cl.enabled)
		return;
	for (i = 0; i < cl.npeers; i++)
		drop_conns(cl.peers[i], "shutting down");
	while (cl.conns)
		conn_close(cl.conns, -EHOSTDOWN, "shutting down");
	uv_timer_stop(&cl.tick);
	uv_timer_stop(&cl.accept_later);
	uv_check_stop(&cl.accept_reset);
	cl.enabled = false;
}
