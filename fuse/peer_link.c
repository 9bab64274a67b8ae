// SPDX-License-Identifier: MIT
/* A peer's connection from its first byte to its end: handshake, accept
 * with admission limits, dial with back-off, heartbeats. */
#include "peer_priv.h"

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

	for (pp = &c->cl->conns; *pp; pp = &(*pp)->next)
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

void cldd_conn_close(struct cldd_conn *c, int call_status, const char *fmt, ...)
{
	struct cldd_cluster *cl = c->cl;
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
		if (cl->cbs.peer_updown)
			cl->cbs.peer_updown(cl->cbs.arg, p, false);
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
	if (cl->cbs.conn_closed)
		cl->cbs.conn_closed(cl->cbs.arg, c);
	calls = c->calls;
	c->calls = NULL;
	c->ncalls = 0;
	conn_unlink(c);
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, conn_freed);
	cldd_calls_fail(calls, call_status);
}

void cldd_link_drop(struct cldd_peer *p, const char *why)
{
	if (p->conn)
		cldd_conn_close(p->conn, -EHOSTDOWN, "%s", why);
	if (p->pending)
		cldd_conn_close(p->pending, -EHOSTDOWN, "%s", why);
}

static struct cldd_conn *conn_new(struct cldd_cluster *cl, bool initiator)
{
	struct cldd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (uv_tcp_init(cl->loop, &c->tcp)) {
		free(c);
		return NULL;
	}
	c->tcp.data = c;
	c->cl = cl;
	c->initiator = initiator;
	c->started_ns = c->last_rx_ns = cldd_now_ns();
	c->next = cl->conns;
	cl->conns = c;
	uv_tcp_nodelay(&c->tcp, 1);
	return c;
}

static void send_hello(struct cldd_conn *c)
{
	struct cldd_out *o;
	uint8_t *p = cldd_out_new(sizeof(c->hs.mine), &o);

	if (!p) {
		cldd_conn_close(c, -EHOSTDOWN, "out of memory");
		return;
	}
	memcpy(o->buf + 4, &c->hs.mine, sizeof(c->hs.mine));
	cldd_out_queue(c, o, sizeof(c->hs.mine));
}

static void send_auth(struct cldd_conn *c)
{
	if (cldd_conn_send(c, CLDP_AUTH, 0, 0, 0, c->hs.transcript, sizeof(c->hs.transcript)))
		cldd_conn_close(c, -EHOSTDOWN, "out of memory");
}

static void became_up(struct cldd_conn *c)
{
	struct cldd_cluster *cl = c->cl;
	struct cldd_peer *p = c->peer;

	c->state = C_UP;
	if (p->pending == c)
		p->pending = NULL;
	if (p->conn)
		cldd_conn_close(p->conn, -EHOSTDOWN, "replaced by a new connection");
	p->conn = c;
	p->gen++;
	p->backoff_ms = 0;
	p->error[0] = 0;
	c->last_ping_ns = 0;
	cldd_info("peer %s up (%s, %s)", p->conf.name, c->addr,
		  c->ch.aead == CLDP_AEAD_AES256GCM ? "aes256gcm" : "chacha20poly1305");
	if (cl->cbs.peer_updown)
		cl->cbs.peer_updown(cl->cbs.arg, p, true);
}

void cldd_conn_on_hello(struct cldd_conn *c, uint8_t *body, size_t len)
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
			cldd_conn_close(c, -EHOSTDOWN, "%s", cld_err_str(&err));
		else
			c->close_after_write = true;
		return;
	}
	if (c->initiator) {
		if (strcmp(c->hs.theirs.node, c->peer->conf.name)) {
			cldd_conn_close(c, -EHOSTDOWN, "answered as node '%s', not '%s'",
					c->hs.theirs.node, c->peer->conf.name);
			return;
		}
	} else {
		p = cldd_peer_by_name(c->cl, c->hs.theirs.node);
		if (!p || p->removed) {
			cldd_warn("connection from %s refused: unknown node '%s'", c->addr,
				  c->hs.theirs.node);
			c->close_after_write = true;
			return;
		}
		if (p->dials) {
			cldd_warn("connection from %s refused: node '%s' sorts after '%s', "
				  "so %s dials it",
				  c->addr, p->conf.name, c->cl->self.name, c->cl->self.name);
			c->close_after_write = true;
			return;
		}
		c->peer = p;
	}
	c->state = C_AUTH;
	send_auth(c);
}

void cldd_conn_on_auth(struct cldd_conn *c, uint8_t *body, size_t len)
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
		cldd_conn_close(c, -EHOSTDOWN, "%s", why);
		return;
	}
	memcpy(&h, body, sizeof(h));
	if (h.type != CLDP_AUTH || h.len != 32 || memcmp(body + sizeof(h), c->hs.transcript, 32)) {
		cldd_err("authentication failed with %s (%s): bad AUTH", c->hs.theirs.node,
			 c->addr);
		cldd_conn_close(c, -EHOSTDOWN, "authentication failed (bad AUTH)");
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
static void flood_note(struct cldd_cluster *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void flood_note(struct cldd_cluster *cl, const char *fmt, ...)
{
	uint64_t now = cldd_now_ns();
	char what[256];
	va_list ap;

	cl->flood_dropped++;
	if (cl->flood_last_ns && now - cl->flood_last_ns < FLOOD_LOG_NS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cldd_warn("inbound connections: %s (%u dropped since the last such message)", what,
		  cl->flood_dropped);
	cl->flood_last_ns = now;
	cl->flood_dropped = 0;
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
static bool fds_short(struct cldd_cluster *cl, int newfd, unsigned long long *open_fds,
		      unsigned long long *limit)
{
	uint64_t now = cldd_now_ns();
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	*limit = rl.rlim_cur;
	cl->fds_est++;
	if (newfd >= 0 && cl->fds_est < (unsigned long long)newfd + 1)
		cl->fds_est = (unsigned long long)newfd + 1;
	if (now - cl->fds_at_ns > 100000000ull || cl->fds_est + FD_RESERVE >= *limit) {
		cl->fds_est = count_fds();
		cl->fds_at_ns = now;
	}
	*open_fds = cl->fds_est;
	return cl->fds_est + FD_RESERVE >= *limit;
}

/* Room for c, just accepted?  Makes it, or closes c and returns false. */
static bool inbound_admit(struct cldd_conn *c)
{
	struct cldd_cluster *cl = c->cl;
	unsigned int cap = INBOUND_PER_NODE * (unsigned int)cl->conf.n + INBOUND_EXTRA;
	unsigned int inbound = 0, handshaking = 0;
	unsigned long long nfds, limit;
	struct cldd_conn *o, *victim = NULL;
	uv_os_fd_t fd = -1;

	uv_fileno((uv_handle_t *)&c->tcp, &fd);
	if (fds_short(cl, (int)fd, &nfds, &limit)) {
		flood_note(cl,
			   "%llu of %llu fds open, %u kept in reserve: connection from %s closed",
			   nfds, limit, FD_RESERVE, c->addr);
		cldd_conn_close(c, -EHOSTDOWN, "fd reserve");
		return false;
	}
	for (o = cl->conns; o; o = o->next) {
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
		flood_note(cl, "cap of %u inbound connections reached: connection from %s closed",
			   cap, c->addr);
		cldd_conn_close(c, -EHOSTDOWN, "too many inbound connections");
		return false;
	}
	if (handshaking >= MAX_HANDSHAKES)
		flood_note(cl,
			   "cap of %u connections in the handshake reached: the oldest, from %s, "
			   "closed for one from %s",
			   MAX_HANDSHAKES, victim->addr, c->addr);
	else
		flood_note(cl,
			   "cap of %u inbound connections reached: the oldest in the handshake, "
			   "from %s, closed for one from %s",
			   cap, victim->addr, c->addr);
	cldd_conn_close(victim, -EHOSTDOWN, "pushed out by a newer connection (too many)");
	return true;
}

/* After the poll of each turn: a new batch of accepts may start. */
void cldd_link_accept_reset(uv_check_t *h)
{
	struct cldd_cluster *cl = h->data;

	cl->accepts = 0;
}

/* The connection libuv holds for us (it stopped watching the listener
 * until we take it): take it now, which also resumes the listener. */
static void on_accept_later(uv_timer_t *t)
{
	struct cldd_cluster *cl = t->data;

	cl->accept_deferred = false;
	cl->accepts = 0;
	if (cl->enabled)
		cldd_link_on_connection((uv_stream_t *)&cl->listener, 0);
}

void cldd_link_on_connection(uv_stream_t *server, int status)
{
	struct cldd_cluster *cl = server->data;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct cldd_conn *c;

	if (status < 0) {
		/* EMFILE: libuv has accepted and closed it with its spare fd. */
		flood_note(cl, "accept: %s", uv_strerror(status));
		return;
	}
	if (cl->accepts >= ACCEPT_BATCH) {
		/* Not taken: libuv keeps it and stops watching the listener. */
		if (!cl->accept_deferred) {
			cl->accept_deferred = true;
			uv_timer_start(&cl->accept_later, on_accept_later, 0, 0);
		}
		return;
	}
	cl->accepts++;
	c = conn_new(cl, false);
	if (!c)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		cldd_conn_close(c, -EHOSTDOWN, "accept failed");
		return;
	}
	if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len))
		fmt_addr((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
	if (!inbound_admit(c))
		return;
	cldp_hs_start(&c->hs, false, cl->self.name, cl->key);
	c->state = C_HELLO;
	uv_read_start((uv_stream_t *)&c->tcp, cldd_conn_alloc, cldd_conn_read);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct cldd_conn *c = req->data;

	if (c->state == C_CLOSING)
		return;
	if (status < 0) {
		cldd_conn_close(c, -EHOSTDOWN, "connect: %s", uv_strerror(status));
		return;
	}
	cldp_hs_start(&c->hs, true, c->cl->self.name, c->cl->key);
	c->state = C_HELLO;
	send_hello(c);
	if (c->state != C_CLOSING)
		uv_read_start((uv_stream_t *)&c->tcp, cldd_conn_alloc, cldd_conn_read);
}

/* Resolve host:port (numeric, or a name through the resolver), blocking:
 * only for this node's own address, at start, before the loop runs. */
int cldd_link_resolve(const struct cld_node_conf *n, struct sockaddr_storage *ss)
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

static void connect_to(struct cldd_peer *p, const struct sockaddr *sa)
{
	struct cldd_conn *c;
	int r;

	c = conn_new(p->cl, true);
	if (!c) {
		schedule_redial(p);
		return;
	}
	c->peer = p;
	p->pending = c;
	fmt_addr(sa, c->addr, sizeof(c->addr));
	c->creq.data = c;
	c->state = C_CONNECTING;
	r = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
	if (r)
		cldd_conn_close(c, -EHOSTDOWN, "connect: %s", uv_strerror(r));
}

static void resolve_failed(struct cldd_peer *p)
{
	snprintf(p->error, sizeof(p->error), "cannot resolve %.200s", p->conf.host);
	schedule_redial(p);
}

/* A dial's name lookup, on libuv's thread pool: a slow resolver must not
 * hold up the loop (the mount, the other peers' heartbeats). */
struct resolving {
	uv_getaddrinfo_t req;
	struct cldd_peer *p;
	struct cld_node_conf conf; /* the address it was asked for */
};

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolving *rs = req->data;
	struct cldd_peer *p = rs->p;
	struct sockaddr_storage ss;
	bool stale;

	p->resolving = false;
	if (!status)
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
	uv_freeaddrinfo(res);
	/* Stopped, removed or moved meanwhile: the next tick dials anew. */
	stale = !p->cl->enabled || p->removed || rs->conf.port != p->conf.port ||
		strcmp(rs->conf.host, p->conf.host);
	free(rs);
	if (stale)
		return;
	if (status)
		resolve_failed(p);
	else
		connect_to(p, (struct sockaddr *)&ss);
}

static void dial(struct cldd_peer *p)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct resolving *rs = calloc(1, sizeof(*rs));
	char port[8];

	if (!rs) {
		schedule_redial(p);
		return;
	}
	rs->p = p;
	rs->conf = p->conf;
	rs->req.data = rs;
	snprintf(port, sizeof(port), "%u", (unsigned int)p->conf.port);
	if (uv_getaddrinfo(p->cl->loop, &rs->req, resolved, rs->conf.host, port, &hints)) {
		free(rs);
		resolve_failed(p);
		return;
	}
	p->resolving = true;
}

void cldd_link_tick(uv_timer_t *t)
{
	struct cldd_cluster *cl = t->data;
	uint64_t now = cldd_now_ns(), hb = (uint64_t)cl->conf.heartbeat_ms * 1000000ull;
	uint64_t to = (uint64_t)cl->conf.timeout_ms * 1000000ull;
	struct cldd_conn *c, *next;
	unsigned int i;

	for (c = cl->conns; c; c = next) {
		next = c->next;
		if (c->state == C_CLOSING)
			continue;
		if (c->state != C_UP) {
			if (now - c->started_ns > to)
				cldd_conn_close(c, -EHOSTDOWN, "handshake timed out");
			continue;
		}
		if (now - c->last_rx_ns > 3 * hb) {
			cldd_conn_close(c, -EHOSTDOWN, "no traffic for %llu ms",
					(unsigned long long)((now - c->last_rx_ns) / 1000000));
			continue;
		}
		if (now - c->last_ping_ns >= hb) {
			c->last_ping_ns = now;
			cldd_call(c->peer, CLDP_PING, &now, sizeof(now), on_ping_done, c->peer);
		}
		/* The ping may have failed and closed c. */
		if (c->state == C_UP)
			cldd_calls_expire(c, now);
	}
	for (i = 0; i < cl->npeers; i++) {
		struct cldd_peer *p = cl->peers[i];

		if (p->dials && !p->removed && !p->conn && !p->pending && !p->resolving &&
		    now >= p->next_dial_ns)
			dial(p);
	}
}

/* ---- The cluster ----------------------------------------------------------- */
