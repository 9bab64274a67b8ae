// SPDX-License-Identifier: MIT
/* /clondike/<peer>/ on this node: lookups, attributes and listings asked of
 * the peer, with what it said of each pid kept for a while; the kind of a
 * peer's process (its reads are remote_read.c's). */
#include "remote_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_pid.h"
#include "log.h"
#include "procs.h"

#define ATTR_BUCKETS 1024
#define ATTR_KEEP_NS (60ull * 1000000000ull) /* then a listing forgets a pid */

/* ---- Attributes: what the last LIST or STAT said of each remote pid -------- */

struct rpeer {
	struct cldd_rattr *attrs[ATTR_BUCKETS];
};

static struct rpeer *rstate(struct cldd_peer *p)
{
	if (!p->rstate)
		p->rstate = calloc(1, sizeof(struct rpeer));
	return p->rstate;
}

struct cldd_rattr *cldd_rattr_find(struct cldd_peer *p, pid_t pid)
{
	struct rpeer *r = rstate(p);
	struct cldd_rattr *a;

	for (a = r ? r->attrs[(unsigned int)pid % ATTR_BUCKETS] : NULL; a; a = a->next)
		if (a->pe.pid == pid)
			return a;
	return NULL;
}

static void attr_put(struct cldd_peer *p, const struct cldp_pentry *pe)
{
	struct rpeer *r = rstate(p);
	struct cldd_rattr *a = cldd_rattr_find(p, pe->pid);

	if (!r)
		return;
	if (!a) {
		a = malloc(sizeof(*a));
		if (!a)
			return;
		a->next = r->attrs[(unsigned int)pe->pid % ATTR_BUCKETS];
		r->attrs[(unsigned int)pe->pid % ATTR_BUCKETS] = a;
	}
	a->pe = *pe;
	a->at_ns = cldd_now_ns();
}

/* Forget what was last heard of pids long ago: they come and go. */
static void attr_prune(struct cldd_peer *p, uint64_t older_than_ns)
{
	struct rpeer *r = rstate(p);
	unsigned int i;

	for (i = 0; r && i < ATTR_BUCKETS; i++) {
		struct cldd_rattr **pp = &r->attrs[i], *a;

		while ((a = *pp)) {
			if (a->at_ns < older_than_ns) {
				*pp = a->next;
				free(a);
			} else {
				pp = &a->next;
			}
		}
	}
}

/* A fresh entry (younger than the attribute timeout), or NULL. */
static const struct cldp_pentry *attr_fresh(struct cldd_peer *p, pid_t pid)
{
	struct cldd_rattr *a = cldd_rattr_find(p, pid);

	if (a && cldd_now_ns() - a->at_ns < (uint64_t)(CLDD_PID_TIMEOUT * 1e9))
		return &a->pe;
	return NULL;
}

struct cldd_peer *cldd_remote_peer(struct cldd *d, fuse_ino_t ino)
{
	struct cldd_peer *p = NULL;
	struct cldd_ino n;

	cldd_ino_decode(ino, &n);
	if (n.kind == CLDD_K_RDIR || n.kind == CLDD_K_RPID)
		p = cldd_peer_by_slot(d->cluster, n.slot);
	return p && !p->removed ? p : NULL;
}

static void fill_entry(struct cldd_peer *p, const struct cldp_pentry *pe,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = cldd_ino_rpid(p->slot, pe->pid);
	cldd_pentry_stat(pe, e->ino, &e->attr);
	e->generation = pe->start_ticks;
	e->attr_timeout = e->entry_timeout =
		(pe->flags & (CLDP_PE_FROZEN | CLDP_PE_NOCACHE)) ? 0 : CLDD_PID_TIMEOUT;
}

struct cldd_rop *cldd_rop_new(fuse_req_t req, struct cldd_peer *p, fuse_ino_t ino)
{
	struct cldd_rop *r = calloc(1, sizeof(*r));

	if (r) {
		r->req = req;
		r->p = p;
		r->ino = ino;
	}
	return r;
}

void cldd_rop_call(struct cldd_rop *r, uint16_t type, const void *pl, size_t len, cldd_call_cb cb)
{
	int ret = cldd_call(r->p, type, pl, len, cb, r);

	if (ret) {
		cldd_reply_err(r->req, -ret);
		free(r);
	}
}

void cldd_cred_of(fuse_req_t req, struct cldp_cred *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	c->uid = ctx->uid;
	c->gid = ctx->gid;
}

/* ---- Lookup, getattr ------------------------------------------------------- */

static void stat_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_rop *r = arg;
	struct fuse_entry_param e;
	struct cldp_pentry pe;

	(void)len;
	if (status) {
		cldd_reply_err(r->req, -status);
		goto out;
	}
	memcpy(&pe, data, sizeof(pe));
	attr_put(r->p, &pe);
	fill_entry(r->p, &pe, &e);
	if (r->size) /* a getattr */
		fuse_reply_attr(r->req, &e.attr, e.attr_timeout);
	else
		fuse_reply_entry(r->req, &e);
out:
	free(r);
}

static void stat_pid(fuse_req_t req, struct cldd_peer *p, pid_t pid, bool getattr)
{
	const struct cldp_pentry *pe = attr_fresh(p, pid);
	struct cldp_pid_req q;
	struct fuse_entry_param e;
	struct cldd_rop *r;

	/* NOCACHE: another user's view (the peer has hidepid=): ask. */
	if (pe && !(pe->flags & (CLDP_PE_FROZEN | CLDP_PE_NOCACHE))) {
		fill_entry(p, pe, &e);
		if (getattr)
			fuse_reply_attr(req, &e.attr, e.attr_timeout);
		else
			fuse_reply_entry(req, &e);
		return;
	}
	r = cldd_rop_new(req, p, 0);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->size = getattr;
	memset(&q, 0, sizeof(q));
	cldd_cred_of(req, &q.cred);
	q.pid = pid;
	cldd_rop_call(r, CLDP_STAT, &q, sizeof(q), stat_done);
}

void cldd_remote_lookup(fuse_req_t req, struct cldd_peer *p, const char *name)
{
	pid_t pid = cldd_parse_pid(name);

	if (!p->conn) {
		cldd_reply_err(req, EHOSTDOWN);
		return;
	}
	if (!pid) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	stat_pid(req, p, pid, false);
}

void cldd_remote_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct cldd_peer *p = cldd_remote_peer(cldd_of(req), ino);

	if (!p) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	stat_pid(req, p, (pid_t)(ino & 0xffffffffu), true);
}

/* ---- Directories ----------------------------------------------------------- */

static void list_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_rop *r = arg;
	struct cldd_dirbuf *b = NULL;
	struct cldp_pentry pe;
	char name[16];
	size_t i;
	int ret = -status;

	if (status)
		goto fail;
	b = calloc(1, sizeof(*b));
	ret = ENOMEM;
	if (!b || cldd_dirbuf_add(r->req, b, ".", r->ino, S_IFDIR) ||
	    cldd_dirbuf_add(r->req, b, "..", 1, S_IFDIR))
		goto fail;
	for (i = 0; i + sizeof(pe) <= len; i += sizeof(pe)) {
		memcpy(&pe, data + i, sizeof(pe));
		attr_put(r->p, &pe);
		snprintf(name, sizeof(name), "%d", (int)pe.pid);
		if (cldd_dirbuf_add(r->req, b, name, cldd_ino_rpid(r->p->slot, pe.pid), S_IFREG))
			goto fail;
	}
	if (cldd_now_ns() > ATTR_KEEP_NS)
		attr_prune(r->p, cldd_now_ns() - ATTR_KEEP_NS);
	r->fi.fh = (uint64_t)(uintptr_t)b;
	r->fi.cache_readdir = 0;
	if (fuse_reply_open(r->req, &r->fi))
		cldd_dirbuf_free(b);
	free(r);
	return;
fail:
	if (b)
		cldd_dirbuf_free(b);
	if (status)
		cldd_dbg("readdir of %s: %s", r->p->conf.name, strerror(ret));
	cldd_reply_err(r->req, ret);
	free(r);
}

void cldd_remote_opendir(fuse_req_t req, struct cldd_peer *p, struct fuse_file_info *fi)
{
	struct cldp_cred c;
	struct cldd_rop *r;

	r = cldd_rop_new(req, p, cldd_ino_rdir(p->slot));
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->fi = *fi;
	cldd_cred_of(req, &c);
	cldd_rop_call(r, CLDP_LIST, &c, sizeof(c), list_done);
}

/* ---- Extended attributes ---------------------------------------------------- */

static void xattr_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_rop *r = arg;

	if (status)
		cldd_reply_err(r->req, -status);
	else
		cldd_reply_xattr(r->req, (const char *)data, len, r->size);
	free(r);
}

void cldd_remote_getxattr(fuse_req_t req, fuse_ino_t ino, const char *key, size_t size)
{
	struct cldd_peer *p = cldd_remote_peer(cldd_of(req), ino);
	struct cldp_xattr_req q;
	struct cldd_rop *r;

	if (!p) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	if (strlen(key) >= sizeof(q.name)) {
		cldd_reply_err(req, ENODATA);
		return;
	}
	r = cldd_rop_new(req, p, ino);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->size = size;
	memset(&q, 0, sizeof(q));
	cldd_cred_of(req, &q.cred);
	q.pid = (pid_t)(ino & 0xffffffffu);
	strcpy(q.name, key);
	cldd_rop_call(r, CLDP_XATTR, &q, sizeof(q), xattr_done);
}

/* ---- The kind of a peer's process ------------------------------------------ */

static void rpid_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	cldd_remote_getattr(req, n->ino);
}

static void rpid_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	cldd_remote_open(req, n->ino, fi);
}

static void rpid_read(fuse_req_t req, const struct cldd_ino *n, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)n;
	cldd_remote_read(req, size, off, fi);
}

static void rpid_lseek(fuse_req_t req, const struct cldd_ino *n, off_t off, int whence,
		       struct fuse_file_info *fi)
{
	(void)n;
	cldd_remote_lseek(req, off, whence, fi);
}

static void rpid_release(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	(void)n;
	cldd_remote_release(req, fi);
}

static void rpid_getxattr(fuse_req_t req, const struct cldd_ino *n, const char *key, size_t size)
{
	cldd_remote_getxattr(req, n->ino, key, size);
}

/* The same names as a local process's: the peer says which have a value. */
static void rpid_listxattr(fuse_req_t req, const struct cldd_ino *n, size_t size)
{
	char list[512];
	size_t len;

	(void)n;
	len = cldd_pid_xattr_list(list, sizeof(list));
	cldd_reply_xattr(req, list, len, size);
}

const struct cldd_kind_ops cldd_kind_rpid = {
	.migrates = true,
	.getattr = rpid_getattr,
	.open = rpid_open,
	.read = rpid_read,
	.lseek = rpid_lseek,
	.release = rpid_release,
	.getxattr = rpid_getxattr,
	.listxattr = rpid_listxattr,
};
