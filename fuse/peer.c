// SPDX-License-Identifier: MIT
/* The cluster: its configuration and key, the table of peers, starting,
 * reloading and stopping (connections in peer_link.c, frames in
 * peer_io.c). */
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

void cldd_later_init(struct cldd_later *l, struct cldd_conn *c, const struct cldp_hdr *h)
{
	struct cldd_peer *p = cldd_conn_peer(c);

	l->cl = c->cl;
	l->slot = p->slot;
	l->gen = p->gen;
	l->type = h->type;
	l->id = h->id;
}

struct cldd_conn *cldd_later_conn(const struct cldd_later *l)
{
	struct cldd_peer *p = cldd_peer_by_slot(l->cl, l->slot);

	return p && p->conn && p->gen == l->gen ? p->conn : NULL;
}

/* ---- The cluster ----------------------------------------------------------- */

bool cldd_cluster_enabled(const struct cldd_cluster *cl)
{
	return cl->enabled;
}

const struct cld_cluster_conf *cldd_cluster_conf(const struct cldd_cluster *cl)
{
	return cl->enabled ? &cl->conf : NULL;
}

const struct cld_node_conf *cldd_cluster_self(const struct cldd_cluster *cl)
{
	return cl->enabled ? &cl->self : NULL;
}

struct cldd_peer *cldd_peer_by_name(const struct cldd_cluster *cl, const char *name)
{
	unsigned int i;

	for (i = 0; i < cl->npeers; i++)
		if (!strcmp(cl->peers[i]->conf.name, name))
			return cl->peers[i];
	return NULL;
}

struct cldd_peer *cldd_peer_by_slot(const struct cldd_cluster *cl, unsigned int slot)
{
	return slot < cl->npeers ? cl->peers[slot] : NULL;
}

unsigned int cldd_peer_slots(const struct cldd_cluster *cl)
{
	return cl->npeers;
}

/* Make the peer table match conf (slots of known names are kept). */
static int apply_conf(struct cldd_cluster *cl, const struct cld_cluster_conf *conf)
{
	unsigned int i;
	size_t j;

	for (i = 0; i < cl->npeers; i++) {
		struct cldd_peer *p = cl->peers[i];
		const struct cld_node_conf *n = cld_conf_find(conf, p->conf.name);

		if (!n || !strcmp(n->name, cl->self.name)) {
			if (!p->removed)
				cldd_info("node %s removed from the cluster", p->conf.name);
			p->removed = true;
			cldd_link_drop(p, "removed from the configuration");
			continue;
		}
		if (strcmp(n->host, p->conf.host) || n->port != p->conf.port) {
			cldd_info("node %s moved to %s:%u", n->name, n->host, n->port);
			p->conf = *n;
			cldd_link_drop(p, "address changed");
		}
		p->conf = *n;
		p->removed = false;
	}
	for (j = 0; j < conf->n; j++) {
		const struct cld_node_conf *n = &conf->nodes[j];
		struct cldd_peer *p, **np;

		if (!strcmp(n->name, cl->self.name) || cldd_peer_by_name(cl, n->name))
			continue;
		p = calloc(1, sizeof(*p));
		np = realloc(cl->peers, (cl->npeers + 1) * sizeof(*np));
		if (!p || !np) {
			free(p);
			if (np)
				cl->peers = np;
			return -ENOMEM;
		}
		cl->peers = np;
		p->cl = cl;
		p->slot = cl->npeers;
		p->conf = *n;
		p->dials = strcmp(cl->self.name, n->name) < 0;
		cl->peers[cl->npeers++] = p;
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

struct cldd_cluster *cldd_cluster_new(uv_loop_t *loop)
{
	struct cldd_cluster *cl = calloc(1, sizeof(*cl));

	if (cl)
		cl->loop = loop;
	return cl;
}

int cldd_cluster_start(struct cldd_cluster *cl, const char *conf_path, const char *self,
		       const struct cldd_cluster_cbs *cbs, struct cld_err *err)
{
	uv_loop_t *loop = cl->loop;
	struct sockaddr_storage ss;
	int r;

	if (cldp_crypto_init())
		return cld_err_set(err, -EIO, "libsodium cannot be initialised");
	r = load(conf_path, self, &cl->conf, cl->key, err);
	if (r)
		return r;
	cl->cbs = *cbs;
	/* Reloads happen after the daemon has changed to /. */
	if (!realpath(conf_path, cl->conf_path))
		snprintf(cl->conf_path, sizeof(cl->conf_path), "%s", conf_path);
	cl->self = *cld_conf_find(&cl->conf, self);
	r = cldd_link_resolve(&cl->self, &ss);
	if (r) {
		cld_err_set(err, r, "cannot resolve this node's address %s", cl->self.host);
		goto fail;
	}
	r = apply_conf(cl, &cl->conf);
	if (r) {
		cld_err_set(err, r, "out of memory");
		goto fail;
	}
	uv_tcp_init(loop, &cl->listener);
	cl->listener.data = cl->tick.data = cl->accept_later.data = cl->accept_reset.data = cl;
	r = uv_tcp_bind(&cl->listener, (struct sockaddr *)&ss, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&cl->listener, 64, cldd_link_on_connection);
	if (r) {
		cld_err_set(err, -EADDRINUSE, "cannot listen on %s:%u: %s", cl->self.host,
			    (unsigned int)cl->self.port, uv_strerror(r));
		uv_close((uv_handle_t *)&cl->listener, NULL);
		goto fail;
	}
	uv_timer_init(loop, &cl->tick);
	uv_timer_start(&cl->tick, cldd_link_tick, 0, TICK_MS);
	uv_timer_init(loop, &cl->accept_later);
	uv_check_init(loop, &cl->accept_reset);
	uv_check_start(&cl->accept_reset, cldd_link_accept_reset);
	cl->enabled = true;
	cldd_info("cluster: node %s (%s) listening on %s:%u, %u peer(s)", cl->self.name,
		  cld_role_name(cl->self.role), cl->self.host, (unsigned int)cl->self.port,
		  cl->npeers);
	return 0;
fail:
	cld_conf_free(&cl->conf);
	return r < 0 ? r : -EINVAL;
}

int cldd_cluster_reload(struct cldd_cluster *cl, struct cld_err *err)
{
	struct cld_cluster_conf conf;
	uint8_t key[CLD_KEY_BYTES];
	const struct cld_node_conf *me;
	int r;

	if (!cl->enabled)
		return 0;
	r = load(cl->conf_path, cl->self.name, &conf, key, err);
	if (r)
		return r;
	me = cld_conf_find(&conf, cl->self.name);
	if (strcmp(me->host, cl->self.host) || me->port != cl->self.port)
		cldd_warn("reload: this node's address changed to %s:%u; "
			  "it takes effect at the next start",
			  me->host, (unsigned int)me->port);
	cl->self.role = me->role;
	if (memcmp(key, cl->key, sizeof(key))) {
		unsigned int i;

		/* A new key: every session was made with the old one. */
		memcpy(cl->key, key, sizeof(key));
		for (i = 0; i < cl->npeers; i++)
			cldd_link_drop(cl->peers[i], "cluster key changed");
		cldd_info("reload: new cluster key");
	}
	r = apply_conf(cl, &conf);
	cld_conf_free(&cl->conf);
	cl->conf = conf;
	cldd_info("reload: %zu node(s) in %s", conf.n, cl->conf_path);
	return r;
}

void cldd_cluster_stop(struct cldd_cluster *cl)
{
	unsigned int i;

	if (!cl->enabled)
		return;
	for (i = 0; i < cl->npeers; i++)
		cldd_link_drop(cl->peers[i], "shutting down");
	while (cl->conns)
		cldd_conn_close(cl->conns, -EHOSTDOWN, "shutting down");
	uv_timer_stop(&cl->tick);
	uv_timer_stop(&cl->accept_later);
	uv_check_stop(&cl->accept_reset);
	cl->enabled = false;
}
