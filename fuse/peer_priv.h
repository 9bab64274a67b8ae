/* SPDX-License-Identifier: MIT */
/*
 * What peer.c (the cluster), peer_link.c (connections: handshake, accept,
 * dial, heartbeat) and peer_io.c (framing, sending, calls) share: the
 * connection and the cluster's state.  Private to peer*.c.
 */
#ifndef CLDD_PEER_PRIV_H
#define CLDD_PEER_PRIV_H

#include "peer.h"

/* Period of the housekeeping timer: deadlines, heartbeats, redials. */
#define TICK_MS 50
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

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
	struct cldd_cluster *cl; /* its cluster */
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

/* The cluster: allocated by cldd_cluster_new, held by the daemon object
 * (struct cldd), reached here through the connections and peers (their
 * cl) and the data of its handles. */
struct cldd_cluster {
	uv_loop_t *loop;
	bool enabled;
	char conf_path[4096];
	struct cld_cluster_conf conf;
	struct cld_node_conf self;
	uint8_t key[CLD_KEY_BYTES];
	/* Their data: this. */
	uv_tcp_t listener;
	uv_timer_t tick;
	uv_timer_t accept_later; /* the next turn's accepts (ACCEPT_BATCH) */
	uv_check_t accept_reset;
	unsigned int accepts; /* this turn */
	bool accept_deferred;
	struct cldd_peer **peers;
	unsigned int npeers;
	struct cldd_conn *conns;
	struct cldd_cluster_cbs cbs; /* the layers above (daemon.c) */
	/* peer_link.c: the flood log's last message and drops since; the
	 * estimate of open fds and when they were last counted. */
	uint64_t flood_last_ns, fds_at_ns;
	unsigned int flood_dropped;
	unsigned long long fds_est;
};

const char *cldd_conn_name(const struct cldd_conn *c);

/* peer_io.c */
int cldd_conn_send(struct cldd_conn *c, uint16_t type, uint16_t flags, uint32_t id, int32_t status,
		   const void *payload, size_t len);
/* Queue body_len bytes already in o->buf + 4. */
void cldd_out_queue(struct cldd_conn *c, struct cldd_out *o, size_t body_len);
/* Complete calls outside any list walk: callbacks may issue new calls. */
void cldd_calls_fail(struct cldd_call *list, int status);
void cldd_calls_expire(struct cldd_conn *c, uint64_t now);
void cldd_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
void cldd_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
void cldd_conn_resume(struct cldd_conn *c);

/* peer_link.c */
void cldd_conn_close(struct cldd_conn *c, int call_status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cldd_conn_on_hello(struct cldd_conn *c, uint8_t *body, size_t len);
void cldd_conn_on_auth(struct cldd_conn *c, uint8_t *body, size_t len);
/* Resolve host:port at start, before the loop runs (dials resolve
 * asynchronously). */
int cldd_link_resolve(const struct cld_node_conf *n, struct sockaddr_storage *ss);
void cldd_link_on_connection(uv_stream_t *server, int status);
void cldd_link_accept_reset(uv_check_t *h);
void cldd_link_tick(uv_timer_t *t);
void cldd_link_drop(struct cldd_peer *p, const char *why);

#endif /* CLDD_PEER_PRIV_H */
