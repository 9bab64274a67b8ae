// SPDX-License-Identifier: MIT
/* A connection's frames: output queued with flow control, requests with ids
 * and deadlines, input cut into frames and dispatched. */
#include "peer_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Beyond this much queued output a connection stops reading requests
 * until the peer has taken some of it: the peer's read-ahead is bounded,
 * this is the backstop. */
#define WQ_HIGH (16u << 20)
#define WQ_LOW (4u << 20)
#define PRE_AUTH_FRAME_MAX 4096

/* ---- Output ---------------------------------------------------------------- */

const char *cldd_conn_name(const struct cldd_conn *c)
{
	return c->peer ? c->peer->conf.name : "?";
}

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
		cldd_conn_close(c, -EHOSTDOWN, "write: %s", uv_strerror(status));
		return;
	}
	if (c->close_after_write) {
		cldd_conn_close(c, -EHOSTDOWN, "refused");
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
		cldd_dbg("peer %s: output drained, reading again", cldd_conn_name(c));
		cldd_conn_resume(c);
	}
}

/* Queue body_len bytes already in o->buf + 4. */
void cldd_out_queue(struct cldd_conn *c, struct cldd_out *o, size_t body_len)
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
		cldd_conn_close(c, -EHOSTDOWN, "write: %s", uv_strerror(r));
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
		cldd_conn_close(c, -EIO, "cannot seal a frame (out of memory?)");
		return;
	}
	cldd_out_queue(c, o, sizeof(h) + len + CLDP_TAG_BYTES);
}

int cldd_conn_send(struct cldd_conn *c, uint16_t type, uint16_t flags, uint32_t id, int32_t status,
		   const void *payload, size_t len)
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
	cldd_conn_send(c, type, CLDP_F_RESP, id, status, NULL, 0);
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
	return cldd_call_timeout(p, type, payload, len, p->cl->conf.timeout_ms, cb, arg);
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
	ret = cldd_conn_send(c, type, 0, call->id, 0, payload, len);
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
		cldd_conn_send(p->conn, type, 0, 0, 0, payload, len);
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
void cldd_calls_fail(struct cldd_call *list, int status)
{
	while (list) {
		struct cldd_call *next = list->next;

		list->cb(list->arg, status, NULL, 0);
		free(list);
		list = next;
	}
}

/* ---- Connections ----------------------------------------------------------- */

/* ---- Input ----------------------------------------------------------------- */

static void on_message(struct cldd_conn *c, uint8_t *body, size_t len)
{
	struct cld_err err = { 0 };
	struct cldd_call *call;
	struct cldp_hdr h;
	size_t mlen;

	if (cldp_open(&c->ch, body, len)) {
		cldd_err("peer %s (%s): frame rejected (tampered, replayed or wrong key): "
			 "dropping the connection",
			 cldd_conn_name(c), c->addr);
		cldd_conn_close(c, -EIO, "frame rejected");
		return;
	}
	mlen = len - CLDP_TAG_BYTES;
	if (cldp_msg_check(body, mlen, &err)) {
		cldd_err("peer %s: protocol error: %s", cldd_conn_name(c), cld_err_str(&err));
		cldd_conn_close(c, -EIO, "protocol error: %s", cld_err_str(&err));
		return;
	}
	memcpy(&h, body, sizeof(h));
	if (h.flags & CLDP_F_RESP) {
		call = take_call(c, h.id);
		if (!call) {
			cldd_dbg("peer %s: late %s response %u", cldd_conn_name(c),
				 cldp_type_name(h.type), (unsigned int)h.id);
			return;
		}
		if (call->type != h.type) {
			call->cb(call->arg, -EIO, NULL, 0);
			free(call);
			cldd_conn_close(c, -EIO, "response of the wrong type");
			return;
		}
		call->cb(call->arg, h.status, body + sizeof(h), h.len);
		free(call);
		return;
	}
	switch (h.type) {
	case CLDP_AUTH:
		cldd_conn_close(c, -EIO, "protocol error: a second AUTH");
		return;
	case CLDP_PING:
		cldd_conn_send(c, CLDP_PING, CLDP_F_RESP, h.id, 0, body + sizeof(h), h.len);
		return;
	default:
		if (c->cl->cbs.request)
			c->cl->cbs.request(c->cl->cbs.arg, c, &h, body + sizeof(h));
	}
}

void cldd_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct cldd_conn *c = h->data;
	size_t avail = 0;
	uint8_t *p;

	(void)hint;
	p = cldp_rx_space(&c->rx, 0, &avail);
	*b = uv_buf_init((char *)p, p ? (unsigned int)avail : 0);
}

void cldd_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct cldd_conn *c = s->data;
	uint8_t *body;
	size_t len;
	int r;

	(void)b;
	if (n < 0) {
		cldd_conn_close(c, -EHOSTDOWN, "%s",
				n == UV_EOF ? "connection closed by the peer" :
					      uv_strerror((int)n));
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
					 cldd_conn_name(c));
			else
				cldd_warn("%s: refused: not a clondike peer", c->addr);
			cldd_conn_close(c, -EIO, "oversized frame");
			break;
		}
		switch (c->state) {
		case C_HELLO:
			if (c->close_after_write)
				break;
			cldd_conn_on_hello(c, body, len);
			break;
		case C_AUTH:
			cldd_conn_on_auth(c, body, len);
			break;
		case C_UP:
			on_message(c, body, len);
			break;
		default:
			break;
		}
	}
}

void cldd_conn_resume(struct cldd_conn *c)
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
		uv_read_start((uv_stream_t *)&c->tcp, cldd_conn_alloc, cldd_conn_read);
}

void cldd_calls_expire(struct cldd_conn *c, uint64_t now)
{
	struct cldd_call **pp = &c->calls, *call, *expired = NULL;

	while ((call = *pp)) {
		if (call->deadline_ns <= now) {
			*pp = call->next;
			c->ncalls--;
			cldd_warn("peer %s: %s request %u timed out", cldd_conn_name(c),
				  cldp_type_name(call->type), (unsigned int)call->id);
			call->next = expired;
			expired = call;
		} else {
			pp = &call->next;
		}
	}
	cldd_calls_fail(expired, -ETIMEDOUT);
}
