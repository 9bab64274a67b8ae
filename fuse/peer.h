/* SPDX-License-Identifier: MIT */
/*
 * clondiked's peers: one authenticated, sealed TCP connection per pair of
 * nodes (the node whose name sorts lower dials), requests with ids and
 * deadlines, heartbeats, and redial with back-off.  Everything runs on the
 * loop thread.  The protocol is in docs/protocol.md.
 */
#ifndef CLDD_PEER_H
#define CLDD_PEER_H

#include "clock.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "clondike/config.h"
#include "clondike/err.h"
#include "clondike/proto.h"

struct cldd_conn;
struct cldd_cluster;

struct cldd_peer {
	struct cldd_cluster *cl; /* its cluster */
	unsigned int slot; /* stable for the daemon's life: inode numbers use it */
	struct cld_node_conf conf;
	bool removed; /* dropped from the configuration by a reload */
	bool dials; /* this node dials it (our name sorts lower) */
	struct cldd_conn *conn; /* the authenticated connection, when up */
	struct cldd_conn *pending; /* a connection being set up */
	bool resolving; /* its address is being looked up for a dial */
	uint64_t gen; /* bumped each time it comes up: remote handles die with it */
	uint64_t rtt_ns; /* last heartbeat round trip */
	char error[256]; /* last connection error, "" if none */
	unsigned int backoff_ms;
	uint64_t next_dial_ns;
	void *rstate; /* remote.c's per-peer state */
};

/*
 * Completion of a request: status is 0 with the response payload, the
 * peer's negative errno, or -EHOSTDOWN (not connected, or the connection
 * was lost), -ETIMEDOUT (no answer in time), -EIO (the response was
 * malformed).  data is valid during the call only.
 */
typedef void (*cldd_call_cb)(void *arg, int status, const uint8_t *data, size_t len);

/*
 * Send a request.  cb is called exactly once, never from within this call
 * when it returns 0.  A negative errno (EHOSTDOWN when the peer is down)
 * when it cannot be sent; cb is not called then.
 */
int cldd_call(struct cldd_peer *p, uint16_t type, const void *payload, size_t len,
	      cldd_call_cb cb, void *arg);
/* The same with its own deadline (a restore takes longer than a read). */
int cldd_call_timeout(struct cldd_peer *p, uint16_t type, const void *payload, size_t len,
		      unsigned int timeout_ms, cldd_call_cb cb, void *arg);
/* A one-way message (no response); dropped silently when the peer is down. */
void cldd_send_msg(struct cldd_peer *p, uint16_t type, const void *payload, size_t len);
/* The same with a buffer of cldd_out_new (the payload built in place);
 * frees o. */
struct cldd_out;
void cldd_send_out(struct cldd_peer *p, struct cldd_out *o, uint16_t type, size_t len);
/* Requests in flight to p. */
unsigned int cldd_calls_inflight(const struct cldd_peer *p);

/* ---- Replies (used by serve.c) ------------------------------------------- */

struct cldd_out;
/* A buffer for a message with up to cap payload bytes: returns where the
 * payload goes, NULL on ENOMEM. */
uint8_t *cldd_out_new(size_t cap, struct cldd_out **o);
void cldd_out_free(struct cldd_out *o);
/* Seal and queue a response of len payload bytes; frees o. */
void cldd_out_reply(struct cldd_conn *c, struct cldd_out *o, uint16_t type, uint32_t id,
		    int32_t status, size_t len);
/* A response without payload (errors, mostly). */
void cldd_reply_status(struct cldd_conn *c, uint16_t type, uint32_t id, int32_t status);
struct cldd_peer *cldd_conn_peer(struct cldd_conn *c);
/* serve.c's per-connection state (handles). */
void **cldd_conn_served(struct cldd_conn *c);

/*
 * A request whose answer comes later (a freeze, a holder's read, a
 * restore): the connection it came on may be gone by then, so it is found
 * again by peer slot and generation.
 */
struct cldd_later {
	struct cldd_cluster *cl;
	unsigned int slot;
	uint64_t gen;
	uint16_t type;
	uint32_t id;
};
void cldd_later_init(struct cldd_later *l, struct cldd_conn *c, const struct cldp_hdr *h);
/* The connection the request came on, if it is still the same; else NULL. */
struct cldd_conn *cldd_later_conn(const struct cldd_later *l);

/* ---- The cluster ----------------------------------------------------------- */

/*
 * What the layers above the peers (the server, the migration's pairs) are
 * told, on the loop thread.  The peer layer knows them only through these
 * (registered by daemon.c), so it never includes them.
 */
struct cldd_cluster_cbs {
	/* A request or one-way message (header checked by cldp_msg_check). */
	void (*request)(void *arg, struct cldd_conn *c, const struct cldp_hdr *h,
			const uint8_t *payload);
	/* c is going: release what it holds (thaws). */
	void (*conn_closed)(void *arg, struct cldd_conn *c);
	/* p's connection came up or went down. */
	void (*peer_updown)(void *arg, struct cldd_peer *p, bool up);
	void *arg;
};

/*
 * The cluster's state, for the daemon object (struct cldd's cluster) and
 * the daemon's life: empty (no peers, not enabled) until started.  NULL
 * when out of memory.
 */
struct cldd_cluster *cldd_cluster_new(uv_loop_t *loop);
/*
 * Load the configuration and the key, listen on this node's address and
 * start dialing.  self is this node's name in the configuration; cbs is
 * copied.  When it fails, cl stays as it was: not enabled.
 */
int cldd_cluster_start(struct cldd_cluster *cl, const char *conf_path, const char *self,
		       const struct cldd_cluster_cbs *cbs, struct cld_err *err);
/* Re-read the configuration (SIGHUP); on error the old one stays. */
int cldd_cluster_reload(struct cldd_cluster *cl, struct cld_err *err);
void cldd_cluster_stop(struct cldd_cluster *cl);
bool cldd_cluster_enabled(const struct cldd_cluster *cl);
const struct cld_cluster_conf *cldd_cluster_conf(const struct cldd_cluster *cl);
/* This node's entry in the configuration (NULL without a cluster). */
const struct cld_node_conf *cldd_cluster_self(const struct cldd_cluster *cl);

struct cldd_peer *cldd_peer_by_name(const struct cldd_cluster *cl, const char *name);
struct cldd_peer *cldd_peer_by_slot(const struct cldd_cluster *cl, unsigned int slot);
/* Peers in slot order, removed ones included: iterate 0..n-1. */
unsigned int cldd_peer_slots(const struct cldd_cluster *cl);

#endif /* CLDD_PEER_H */
