// SPDX-License-Identifier: MIT
#include "remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "peer.h"
#include "procs.h"

#define CHUNK CLDP_READ_MAX
#define RA_MIN 2 /* chunks of read-ahead once a reader is sequential */
#define RA_MAX 16
#define INFLIGHT_MAX 32 /* requests to one peer before read-ahead waits */
#define CACHE_MIN_CHUNKS 16
#define CHUNK_BUCKETS 4096
#define ATTR_BUCKETS 1024
#define WAIT_CHUNKS 4			     /* a read spans at most this many chunks */
#define ATTR_KEEP_NS (60ull * 1000000000ull) /* then a listing forgets a pid */

/* ---- Attributes: what the last LIST or STAT said of each remote pid -------- */

struct rattr {
	struct cldp_pentry pe;
	uint64_t at_ns;
	struct rattr *next;
};

struct rpeer {
	struct rattr *attrs[ATTR_BUCKETS];
};

static struct rpeer *rstate(struct cldd_peer *p)
{
	if (!p->rstate)
		p->rstate = calloc(1, sizeof(struct rpeer));
	return p->rstate;
}

static struct rattr *attr_find(struct cldd_peer *p, pid_t pid)
{
	struct rpeer *r = rstate(p);
	struct rattr *a;

	for (a = r ? r->attrs[(unsigned int)pid % ATTR_BUCKETS] : NULL; a; a = a->next)
		if (a->pe.pid == pid)
			return a;
	return NULL;
}

static void attr_put(struct cldd_peer *p, const struct cldp_pentry *pe)
{
	struct rpeer *r = rstate(p);
	struct rattr *a = attr_find(p, pe->pid);

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
		struct rattr **pp = &r->attrs[i], *a;

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
	struct rattr *a = attr_find(p, pid);

	if (a && cldd_now_ns() - a->at_ns < (uint64_t)(CLDD_PID_TIMEOUT * 1e9))
		return &a->pe;
	return NULL;
}

struct cldd_peer *cldd_remote_peer(fuse_ino_t ino)
{
	struct cldd_peer *p = NULL;

	if (CLDD_IS_RDIR(ino))
		p = cldd_peer_by_slot((unsigned int)(ino - CLDD_INO_RDIR));
	else if (CLDD_IS_RPID(ino))
		p = cldd_peer_by_slot((unsigned int)((ino >> 32) - 3));
	return p && !p->removed ? p : NULL;
}

static fuse_ino_t rpid_ino(const struct cldd_peer *p, pid_t pid)
{
	return ((3ull + p->slot) << 32) + (uint64_t)pid;
}

static void fill_entry(struct cldd_peer *p, const struct cldp_pentry *pe,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = rpid_ino(p, pe->pid);
	cldd_pentry_stat(pe, e->ino, &e->attr);
	e->generation = pe->start_ticks;
	e->attr_timeout = e->entry_timeout =
		(pe->flags & (CLDP_PE_FROZEN | CLDP_PE_NOCACHE)) ? 0 : CLDD_PID_TIMEOUT;
}

/* A FUSE request waiting for a peer. */
struct rop {
	fuse_req_t req;
	struct cldd_peer *p;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	size_t size;
};

static struct rop *rop_new(fuse_req_t req, struct cldd_peer *p, fuse_ino_t ino)
{
	struct rop *r = calloc(1, sizeof(*r));

	if (r) {
		r->req = req;
		r->p = p;
		r->ino = ino;
	}
	return r;
}

/* Send or fail the request at once. */
static void rop_call(struct rop *r, uint16_t type, const void *pl, size_t len, cldd_call_cb cb)
{
	int ret = cldd_call(r->p, type, pl, len, cb, r);

	if (ret) {
		cldd_reply_err(r->req, -ret);
		free(r);
	}
}

static void cred_of(fuse_req_t req, struct cldp_cred *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	c->uid = ctx->uid;
	c->gid = ctx->gid;
}

/* ---- Lookup, getattr ------------------------------------------------------- */

static void stat_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct rop *r = arg;
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
	struct rop *r;

	/* NOCACHE: another user's view (the peer has hidepid=): ask. */
	if (pe && !(pe->flags & (CLDP_PE_FROZEN | CLDP_PE_NOCACHE))) {
		fill_entry(p, pe, &e);
		if (getattr)
			fuse_reply_attr(req, &e.attr, e.attr_timeout);
		else
			fuse_reply_entry(req, &e);
		return;
	}
	r = rop_new(req, p, 0);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->size = getattr;
	memset(&q, 0, sizeof(q));
	cred_of(req, &q.cred);
	q.pid = pid;
	rop_call(r, CLDP_STAT, &q, sizeof(q), stat_done);
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
	struct cldd_peer *p = cldd_remote_peer(ino);

	if (!p) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	stat_pid(req, p, (pid_t)(ino & 0xffffffffu), true);
}

/* ---- Directories ----------------------------------------------------------- */

static void list_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct rop *r = arg;
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
		if (cldd_dirbuf_add(r->req, b, name, rpid_ino(r->p, pe.pid), S_IFREG))
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
	struct rop *r;

	r = rop_new(req, p, CLDD_INO_RDIR + p->slot);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->fi = *fi;
	cred_of(req, &c);
	rop_call(r, CLDP_LIST, &c, sizeof(c), list_done);
}

/* ---- Open images ----------------------------------------------------------- */

struct ropen {
	struct cldd_peer *p;
	uint64_t gen; /* the peer's connection the handle belongs to */
	uint64_t handle, freeze_id, size;
	uint64_t start_ticks;
	pid_t pid;
	uint64_t next_off; /* where a sequential reader reads next */
	unsigned int ra;   /* read-ahead, chunks */
};

static int ropen_live(const struct ropen *ro);

static void open_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct rop *r = arg;
	struct cldp_open_resp o;
	struct cldp_pentry *pe;
	struct rattr *a;
	struct ropen *ro;

	(void)len;
	if (status) {
		cldd_reply_err(r->req, -status);
		free(r);
		return;
	}
	memcpy(&o, data, sizeof(o));
	ro = calloc(1, sizeof(*ro));
	if (!ro) {
		cldd_send_msg(r->p, CLDP_CLOSE, &o.handle, sizeof(o.handle));
		cldd_reply_err(r->req, ENOMEM);
		free(r);
		return;
	}
	ro->p = r->p;
	ro->gen = r->p->gen;
	ro->handle = o.handle;
	ro->freeze_id = o.freeze_id;
	ro->size = o.size;
	ro->start_ticks = o.start_ticks;
	ro->pid = (pid_t)(r->ino & 0xffffffffu);
	/* Exact values from now on, as for a local open. */
	a = attr_find(r->p, ro->pid);
	if (a) {
		pe = &a->pe;
		pe->flags |= CLDP_PE_FROZEN;
		pe->size = o.size;
		pe->data_bytes = o.data_bytes;
		pe->mtime_ns = o.frozen_ns;
		a->at_ns = cldd_now_ns();
	}
	fuse_lowlevel_notify_inval_inode(cldd_fs_session(), r->ino, -1, 0);
	r->fi.fh = (uint64_t)(uintptr_t)ro;
	r->fi.direct_io = 1;
	r->fi.keep_cache = 0;
	if (fuse_reply_open(r->req, &r->fi)) {
		cldd_send_msg(ro->p, CLDP_CLOSE, &ro->handle, sizeof(ro->handle));
		free(ro);
	}
	free(r);
}

int cldd_remote_source(const struct fuse_file_info *fi, struct cldd_peer **p, pid_t *pid,
		       uint64_t *start_ticks, uint64_t *size)
{
	const struct ropen *ro = (const struct ropen *)(uintptr_t)fi->fh;

	if (!ro || !ropen_live(ro))
		return -EIO;
	*p = ro->p;
	*pid = ro->pid;
	*start_ticks = ro->start_ticks;
	*size = ro->size;
	return 0;
}

void cldd_remote_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_peer *p = cldd_remote_peer(ino);
	struct cldp_pid_req q;
	struct rop *r;

	if (!p) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		cldd_reply_err(req, EACCES);
		return;
	}
	r = rop_new(req, p, ino);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->fi = *fi;
	memset(&q, 0, sizeof(q));
	cred_of(req, &q.cred);
	q.pid = (pid_t)(ino & 0xffffffffu);
	rop_call(r, CLDP_OPEN, &q, sizeof(q), open_done);
}

void cldd_remote_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct ropen *ro = (struct ropen *)(uintptr_t)fi->fh;
	struct rattr *a = attr_find(ro->p, ro->pid);

	if (ro->p->conn && ro->p->gen == ro->gen)
		cldd_send_msg(ro->p, CLDP_CLOSE, &ro->handle, sizeof(ro->handle));
	if (a)
		a->at_ns = 0; /* it may thaw now: ask again */
	free(ro);
	cldd_reply_err(req, 0);
}

static void seek_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct rop *r = arg;
	int64_t off;

	(void)len;
	if (status) {
		cldd_reply_err(r->req, -status);
	} else {
		memcpy(&off, data, sizeof(off));
		fuse_reply_lseek(r->req, (off_t)off);
	}
	free(r);
}

/* The handle still names the freeze the peer holds for us? */
static int ropen_live(const struct ropen *ro)
{
	if (!ro->p->conn)
		return -EHOSTDOWN;
	/* The connection was lost since the open: the peer thawed it. */
	if (ro->p->gen != ro->gen)
		return -ESTALE;
	return 0;
}

void cldd_remote_lseek(fuse_req_t req, off_t off, int whence, struct fuse_file_info *fi)
{
	struct ropen *ro = (struct ropen *)(uintptr_t)fi->fh;
	struct cldp_seek_req q;
	struct rop *r;
	int ret = ropen_live(ro);

	if (!ret && whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = -EINVAL;
	if (ret) {
		cldd_reply_err(req, -ret);
		return;
	}
	r = rop_new(req, ro->p, 0);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	memset(&q, 0, sizeof(q));
	q.handle = ro->handle;
	q.off = off;
	q.whence = whence;
	rop_call(r, CLDP_SEEK, &q, sizeof(q), seek_done);
}

/* ---- The chunk cache -------------------------------------------------------- */

enum chunk_state { CH_PENDING, CH_READY, CH_FAILED };

struct waiter;

struct wlink {
	struct waiter *w;
	struct wlink *next;
};

struct chunk {
	unsigned int slot;
	uint64_t freeze_id, idx;
	enum chunk_state state;
	uint8_t *data;
	size_t len;
	unsigned int busy; /* waiters holding it: not evicted */
	struct wlink *waiters;
	struct chunk *hnext, *lprev, *lnext; /* hash chain; LRU when ready */
};

struct waiter {
	fuse_req_t req;
	uint64_t off;
	size_t len;
	unsigned int nch, missing;
	int error;
	struct chunk *ch[WAIT_CHUNKS];
};

static struct {
	struct chunk *hash[CHUNK_BUCKETS];
	struct chunk *lru_head, *lru_tail; /* head: most recent */
	size_t ready, budget;
	struct cldd_remote_stats st;
} cc = { .budget = 64 };

void cldd_remote_set_cache(unsigned int mib)
{
	cc.budget = mib < CACHE_MIN_CHUNKS ? CACHE_MIN_CHUNKS : mib;
}

const struct cldd_remote_stats *cldd_remote_stats(void)
{
	return &cc.st;
}

static unsigned int chunk_bucket(unsigned int slot, uint64_t fid, uint64_t idx)
{
	uint64_t h = (fid * 0x9e3779b97f4a7c15ull) ^ (idx * 0xc2b2ae3d27d4eb4full) ^ slot;

	return (unsigned int)(h >> 40) % CHUNK_BUCKETS;
}

static struct chunk *chunk_find(unsigned int slot, uint64_t fid, uint64_t idx)
{
	struct chunk *c;

	for (c = cc.hash[chunk_bucket(slot, fid, idx)]; c; c = c->hnext)
		if (c->idx == idx && c->freeze_id == fid && c->slot == slot)
			return c;
	return NULL;
}

static void hash_del(struct chunk *c)
{
	struct chunk **pp = &cc.hash[chunk_bucket(c->slot, c->freeze_id, c->idx)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			return;
		}
}

static void lru_del(struct chunk *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		cc.lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		cc.lru_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void lru_add(struct chunk *c)
{
	c->lprev = NULL;
	c->lnext = cc.lru_head;
	if (cc.lru_head)
		cc.lru_head->lprev = c;
	cc.lru_head = c;
	if (!cc.lru_tail)
		cc.lru_tail = c;
}

/*
 * Chunk buffers: 1 MiB slots carved from huge-page-backed regions and
 * recycled, never returned.  A fresh malloc'ed MiB costs 256 page faults,
 * which on a VM take longer than the network transfer that fills them.
 */
#define POOL_REGION (32u << 20)
#define HUGE (2u << 20)

static void *pool_free;

static void *buf_get(void)
{
	void *b;

	if (!pool_free) {
		uint8_t *r = mmap(NULL, POOL_REGION + HUGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			*a;
		size_t i;

		if (r == MAP_FAILED)
			return NULL;
		a = (uint8_t *)(((uintptr_t)r + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
		madvise(a, POOL_REGION, MADV_HUGEPAGE);
		for (i = POOL_REGION / CHUNK; i-- > 0;) {
			*(void **)(a + i * CHUNK) = pool_free;
			pool_free = a + i * CHUNK;
		}
	}
	b = pool_free;
	pool_free = *(void **)b;
	return b;
}

static void buf_put(void *b)
{
	if (!b)
		return;
	*(void **)b = pool_free;
	pool_free = b;
}

static void chunk_free(struct chunk *c)
{
	buf_put(c->data);
	free(c);
}

static void evict(void)
{
	struct chunk *c = cc.lru_tail;

	while (c && cc.ready > cc.budget) {
		struct chunk *prev = c->lprev;

		if (!c->busy) {
			lru_del(c);
			hash_del(c);
			cc.ready--;
			chunk_free(c);
		}
		c = prev;
	}
}

static void waiter_finish(struct waiter *w)
{
	struct iovec iov[WAIT_CHUNKS];
	unsigned int i, n = 0;
	uint64_t pos = w->off, end = w->off + w->len;

	if (w->error) {
		cldd_reply_err(w->req, w->error);
	} else {
		for (i = 0; i < w->nch && pos < end; i++) {
			struct chunk *c = w->ch[i];
			uint64_t base = c->idx * CHUNK, in = pos - base;
			size_t take;

			if (in >= c->len)
				break; /* the image ended early */
			take = c->len - in;
			if (take > end - pos)
				take = end - pos;
			iov[n].iov_base = c->data + in;
			iov[n].iov_len = take;
			n++;
			pos += take;
		}
		fuse_reply_iov(w->req, iov, (int)n);
	}
	for (i = 0; i < w->nch; i++) {
		struct chunk *c = w->ch[i];

		if (--c->busy == 0 && c->state == CH_FAILED)
			chunk_free(c);
	}
	free(w);
}

static void chunk_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct chunk *c = arg;
	struct wlink *l = c->waiters, *next;

	c->waiters = NULL;
	if (!status) {
		c->data = buf_get();
		if (!c->data)
			status = -ENOMEM;
	}
	if (status) {
		hash_del(c);
		c->state = CH_FAILED;
	} else {
		memcpy(c->data, data, len);
		c->len = len;
		c->state = CH_READY;
		lru_add(c);
		cc.ready++;
		cc.st.bytes_fetched += len;
	}
	/* The chunk stays alive through its waiters (busy); a failed one
	 * without any goes now. */
	if (c->state == CH_FAILED && !c->busy && !l)
		chunk_free(c);
	for (; l; l = next) {
		next = l->next;
		if (status && !l->w->error)
			l->w->error = -status;
		if (--l->w->missing == 0)
			waiter_finish(l->w);
		free(l);
	}
	evict();
}

/* The chunk at idx: cached, in flight, or requested now (NULL: could not). */
static struct chunk *chunk_get(struct ropen *ro, uint64_t idx, int *err)
{
	struct chunk *c = chunk_find(ro->p->slot, ro->freeze_id, idx);
	struct cldp_read_req q;
	uint64_t left;
	int ret;

	if (c)
		return c;
	ret = ropen_live(ro);
	if (ret) {
		*err = -ret;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		*err = ENOMEM;
		return NULL;
	}
	c->slot = ro->p->slot;
	c->freeze_id = ro->freeze_id;
	c->idx = idx;
	c->state = CH_PENDING;
	memset(&q, 0, sizeof(q));
	q.handle = ro->handle;
	q.off = idx * CHUNK;
	left = ro->size > q.off ? ro->size - q.off : 0;
	q.len = (uint32_t)(left < CHUNK ? left : CHUNK);
	ret = cldd_call(ro->p, CLDP_READ, &q, sizeof(q), chunk_done, c);
	if (ret) {
		free(c);
		*err = -ret;
		return NULL;
	}
	c->hnext = cc.hash[chunk_bucket(c->slot, c->freeze_id, idx)];
	cc.hash[chunk_bucket(c->slot, c->freeze_id, idx)] = c;
	cc.st.chunk_fetches++;
	return c;
}

static void read_ahead(struct ropen *ro, uint64_t from_idx)
{
	uint64_t last = ro->size ? (ro->size - 1) / CHUNK : 0, i;
	int err;

	for (i = from_idx; i < from_idx + ro->ra && i <= last; i++) {
		if (cldd_calls_inflight(ro->p) >= INFLIGHT_MAX)
			return;
		if (!chunk_find(ro->p->slot, ro->freeze_id, i)) {
			if (!chunk_get(ro, i, &err))
				return;
			cc.st.readahead++;
		}
	}
}

void cldd_remote_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ropen *ro = (struct ropen *)(uintptr_t)fi->fh;
	uint64_t end, idx, first, last;
	struct waiter *w;
	int err = 0;

	if (off < 0 || (uint64_t)off >= ro->size || !size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > (size_t)WAIT_CHUNKS * CHUNK - CHUNK)
		size = (size_t)WAIT_CHUNKS * CHUNK - CHUNK; /* a short read */
	end = (uint64_t)off + size;
	if (end > ro->size)
		end = ro->size;
	w = calloc(1, sizeof(*w));
	if (!w) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	w->req = req;
	w->off = (uint64_t)off;
	w->len = (size_t)(end - (uint64_t)off);
	first = (uint64_t)off / CHUNK;
	last = (end - 1) / CHUNK;
	for (idx = first; idx <= last; idx++) {
		struct chunk *c = chunk_get(ro, idx, &err);

		if (!c)
			break;
		c->busy++;
		w->ch[w->nch++] = c;
		if (c->state == CH_READY) {
			cc.st.chunk_hits++;
			/* Recently used: to the front. */
			lru_del(c);
			lru_add(c);
			continue;
		}
		{
			struct wlink *l = malloc(sizeof(*l));

			if (!l) {
				err = ENOMEM;
				break;
			}
			l->w = w;
			l->next = c->waiters;
			c->waiters = l;
			w->missing++;
		}
	}
	if (err && !w->error)
		w->error = err;
	/* Sequential readers get a growing read-ahead window. */
	if ((uint64_t)off == ro->next_off || (ro->next_off && (uint64_t)off == 0)) {
		ro->ra = ro->ra ? (ro->ra * 2 > RA_MAX ? RA_MAX : ro->ra * 2) : RA_MIN;
	} else {
		ro->ra = 0;
	}
	ro->next_off = end;
	if (!err && ro->ra)
		read_ahead(ro, last + 1);
	if (!w->missing)
		waiter_finish(w);
	else
		cc.st.waits++;
}

/* ---- Extended attributes ---------------------------------------------------- */

static void xattr_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct rop *r = arg;

	if (status)
		cldd_reply_err(r->req, -status);
	else
		cldd_reply_xattr(r->req, (const char *)data, len, r->size);
	free(r);
}

void cldd_remote_getxattr(fuse_req_t req, fuse_ino_t ino, const char *key, size_t size)
{
	struct cldd_peer *p = cldd_remote_peer(ino);
	struct cldp_xattr_req q;
	struct rop *r;

	if (!p) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	if (strlen(key) >= sizeof(q.name)) {
		cldd_reply_err(req, ENODATA);
		return;
	}
	r = rop_new(req, p, ino);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->size = size;
	memset(&q, 0, sizeof(q));
	cred_of(req, &q.cred);
	q.pid = (pid_t)(ino & 0xffffffffu);
	strcpy(q.name, key);
	rop_call(r, CLDP_XATTR, &q, sizeof(q), xattr_done);
}
