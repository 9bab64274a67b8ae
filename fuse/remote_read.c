// SPDX-License-Identifier: MIT
/* A peer's open images: open, seek, release, and reads in chunks with
 * sequential read-ahead through the cache (remote_cache.c). */
#include "remote_priv.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "log.h"
#include "peer.h"

#define RA_MIN 2 /* chunks of read-ahead once a reader is sequential */
#define RA_MAX 16
#define RA_MIN_READ (64u << 10) /* the smallest read that counts as bulk */
#define INFLIGHT_MAX 32 /* requests to one peer before read-ahead waits */
#define READ_MAX (3 * CLDD_CHUNK) /* longer reads are answered short */
#define WAIT_CHUNKS 5	/* what READ_MAX spans at most, a split chunk included */

/* ---- Open images ----------------------------------------------------------- */

struct ropen {
	struct cldd_remote *rm; /* d->remote: the cache */
	struct cldd_peer *p;
	uint64_t gen; /* the peer's connection the handle belongs to */
	uint64_t handle, freeze_id, size;
	uint64_t start_ticks;
	pid_t pid;
	uint64_t next_off; /* where a sequential reader reads next */
	unsigned int ra;   /* read-ahead, chunks */
	uint64_t tail_off; /* the digest note segment, once known; else 0 */
	bool geom_known;   /* chunk 0 was looked at for it */
};

static int ropen_live(const struct ropen *ro);

static void open_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_rop *r = arg;
	struct cldp_open_resp o;
	struct cldp_pentry *pe;
	struct cldd_rattr *a;
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
	ro->rm = cldd_of(r->req)->remote;
	ro->p = r->p;
	ro->gen = r->p->gen;
	ro->handle = o.handle;
	ro->freeze_id = o.freeze_id;
	ro->size = o.size;
	ro->start_ticks = o.start_ticks;
	ro->pid = (pid_t)(r->ino & 0xffffffffu);
	/* Exact values from now on, as for a local open. */
	a = cldd_rattr_find(r->p, ro->pid);
	if (a) {
		pe = &a->pe;
		pe->flags |= CLDP_PE_FROZEN;
		pe->size = o.size;
		pe->data_bytes = o.data_bytes;
		pe->mtime_ns = o.frozen_ns;
		a->at_ns = cldd_now_ns();
	}
	fuse_lowlevel_notify_inval_inode(cldd_fs_of(r->req)->se, r->ino, -1, 0);
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

	if (!ro || ropen_live(ro))
		return -EIO;
	*p = ro->p;
	*pid = ro->pid;
	*start_ticks = ro->start_ticks;
	*size = ro->size;
	return 0;
}

void cldd_remote_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_peer *p = cldd_remote_peer(cldd_of(req), ino);
	struct cldp_pid_req q;
	struct cldd_rop *r;

	if (!p) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		cldd_reply_err(req, EACCES);
		return;
	}
	r = cldd_rop_new(req, p, ino);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->fi = *fi;
	memset(&q, 0, sizeof(q));
	cldd_cred_of(req, &q.cred);
	q.pid = (pid_t)(ino & 0xffffffffu);
	cldd_rop_call(r, CLDP_OPEN, &q, sizeof(q), open_done);
}

void cldd_remote_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct ropen *ro = (struct ropen *)(uintptr_t)fi->fh;
	struct cldd_rattr *a = cldd_rattr_find(ro->p, ro->pid);

	if (ro->p->conn && ro->p->gen == ro->gen)
		cldd_send_msg(ro->p, CLDP_CLOSE, &ro->handle, sizeof(ro->handle));
	if (a)
		a->at_ns = 0; /* it may thaw now: ask again */
	free(ro);
	cldd_reply_err(req, 0);
}

static void seek_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_rop *r = arg;
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
	struct cldd_rop *r;
	int ret = ropen_live(ro);

	if (!ret && whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = -EINVAL;
	if (ret) {
		cldd_reply_err(req, -ret);
		return;
	}
	r = cldd_rop_new(req, ro->p, 0);
	if (!r) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	memset(&q, 0, sizeof(q));
	q.handle = ro->handle;
	q.off = off;
	q.whence = whence;
	cldd_rop_call(r, CLDP_SEEK, &q, sizeof(q), seek_done);
}

/* ---- Reads through the chunk cache ----------------------------------------- */

struct waiter;

/* A read waiting for a chunk (one of the chunk's list). */
struct cldd_wlink {
	struct waiter *w;
	struct cldd_wlink *next;
};

/* A read: replied when the last of its chunks is there. */
struct waiter {
	struct cldd_chunk_cache *cc;
	fuse_req_t req;
	uint64_t off;
	size_t len;
	unsigned int nch, missing;
	int error;
	struct cldd_chunk *ch[WAIT_CHUNKS];
};

int cldd_remote_init(struct cldd *d)
{
	struct cldd_remote *rm = calloc(1, sizeof(*rm));

	if (!rm)
		return -ENOMEM;
	rm->cc.budget = 64;
	d->remote = rm;
	return 0;
}

void cldd_remote_set_cache(struct cldd *d, unsigned int mib)
{
	cldd_cache_set_budget(&d->remote->cc, mib);
	if (cldd_cache_prefault(&d->remote->cc))
		cldd_err("remote cache: out of memory for its buffers");
}

const struct cldd_remote_stats *cldd_remote_stats(struct cldd *d)
{
	return &d->remote->cc.st;
}

/*
 * Chunk geometry: 1 MiB chunks from offset 0, except that none straddles
 * the digest note segment at the image's end.  A home computes the digest
 * of every page whose entry a read covers, so a chunk holding the last page
 * data and the start of the digests cost hashing up to half the image
 * (88 ms for 1 GiB) on the path of a restore that never reads them.  The
 * segment's offset comes from the program headers in chunk 0; until chunk
 * 0 is here, the chunks are plain.  Chunks are keyed by their offset, so
 * the two geometries never mistake one chunk for another.
 */
static uint64_t chunk_base(const struct ropen *ro, uint64_t off)
{
	if (ro->tail_off && off >= ro->tail_off)
		return ro->tail_off + (off - ro->tail_off) / CLDD_CHUNK * CLDD_CHUNK;
	return off / CLDD_CHUNK * CLDD_CHUNK;
}

static uint64_t chunk_end(const struct ropen *ro, uint64_t base)
{
	uint64_t end = base + CLDD_CHUNK;

	if (ro->tail_off && base < ro->tail_off && end > ro->tail_off)
		end = ro->tail_off;
	return end < ro->size ? end : ro->size;
}

static void learn_tail(struct ropen *ro)
{
	const struct cldd_chunk *c0;
	uint64_t best = 0, at;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned int i;

	if (ro->geom_known)
		return;
	c0 = cldd_cache_find(&ro->rm->cc, ro->p->slot, ro->freeze_id, 0);
	if (!c0 || c0->state != CLDD_CH_READY)
		return;
	ro->geom_known = true;
	if (c0->len < sizeof(eh))
		return;
	memcpy(&eh, c0->data, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phentsize != sizeof(ph))
		return;
	for (i = 0; i < eh.e_phnum; i++) {
		at = eh.e_phoff + (uint64_t)i * sizeof(ph);
		if (at + sizeof(ph) > c0->len)
			return; /* headers past chunk 0: stay plain */
		memcpy(&ph, c0->data + at, sizeof(ph));
		if (ph.p_type == PT_NOTE && ph.p_offset > best)
			best = ph.p_offset;
	}
	if (best && best < ro->size && best % CLDD_CHUNK)
		ro->tail_off = best;
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
			struct cldd_chunk *c = w->ch[i];
			uint64_t in = pos - c->off;
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
		struct cldd_chunk *c = w->ch[i];

		if (--c->busy == 0 && c->state == CLDD_CH_FAILED)
			cldd_chunk_free(w->cc, c);
	}
	free(w);
}

static void chunk_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct cldd_chunk *c = arg;
	struct cldd_chunk_cache *cc = c->cache;
	struct cldd_wlink *l = c->waiters, *next;

	c->waiters = NULL;
	status = cldd_cache_fill(cc, c, status, data, len);
	/* The chunk stays alive through its waiters (busy); a failed one
	 * without any goes now. */
	if (c->state == CLDD_CH_FAILED && !c->busy && !l)
		cldd_chunk_free(cc, c);
	for (; l; l = next) {
		next = l->next;
		if (status && !l->w->error)
			l->w->error = -status;
		if (--l->w->missing == 0)
			waiter_finish(l->w);
		free(l);
	}
	cldd_cache_evict(cc);
}

/* The chunk at base: cached, in flight, or requested now (NULL: could not). */
static struct cldd_chunk *chunk_get(struct ropen *ro, uint64_t base, int *err)
{
	struct cldd_chunk_cache *cc = &ro->rm->cc;
	struct cldd_chunk *c = cldd_cache_find(cc, ro->p->slot, ro->freeze_id, base);
	struct cldp_read_req q;
	int ret;

	if (c)
		return c;
	ret = ropen_live(ro);
	if (ret) {
		*err = -ret;
		return NULL;
	}
	c = cldd_chunk_new(ro->p->slot, ro->freeze_id, base);
	if (!c) {
		*err = ENOMEM;
		return NULL;
	}
	c->cache = cc;
	memset(&q, 0, sizeof(q));
	q.handle = ro->handle;
	q.off = base;
	q.len = (uint32_t)(chunk_end(ro, base) - base);
	ret = cldd_call(ro->p, CLDP_READ, &q, sizeof(q), chunk_done, c);
	if (ret) {
		free(c);
		*err = -ret;
		return NULL;
	}
	cldd_cache_insert(cc, c);
	return c;
}

static void read_ahead(struct ropen *ro, uint64_t from)
{
	uint64_t base = from;
	unsigned int i;
	int err;

	for (i = 0; i < ro->ra && base < ro->size; i++, base = chunk_end(ro, base)) {
		if (cldd_calls_inflight(ro->p) >= INFLIGHT_MAX)
			return;
		if (!cldd_cache_find(&ro->rm->cc, ro->p->slot, ro->freeze_id, base)) {
			if (!chunk_get(ro, base, &err))
				return;
			ro->rm->cc.st.readahead++;
		}
	}
}

void cldd_remote_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ropen *ro = (struct ropen *)(uintptr_t)fi->fh;
	uint64_t end, base;
	struct waiter *w;
	int err = 0;

	if (off < 0 || (uint64_t)off >= ro->size || !size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > READ_MAX)
		size = READ_MAX; /* a short read */
	learn_tail(ro);
	end = (uint64_t)off + size;
	if (end > ro->size)
		end = ro->size;
	w = calloc(1, sizeof(*w));
	if (!w) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	w->cc = &ro->rm->cc;
	w->req = req;
	w->off = (uint64_t)off;
	w->len = (size_t)(end - (uint64_t)off);
	for (base = chunk_base(ro, (uint64_t)off); base < end; base = chunk_end(ro, base)) {
		struct cldd_chunk *c;

		if (w->nch == WAIT_CHUNKS) {
			w->len = (size_t)(base - (uint64_t)off); /* a short read */
			break;
		}
		c = chunk_get(ro, base, &err);

		if (!c)
			break;
		c->busy++;
		w->ch[w->nch++] = c;
		if (c->state == CLDD_CH_READY) {
			cldd_cache_hit(w->cc, c); /* recently used: to the front */
			continue;
		}
		{
			struct cldd_wlink *l = malloc(sizeof(*l));

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
	/* Sequential readers of bulk get a growing read-ahead window; small
	 * reads (a restorer reading the notes) do not: what it would fetch
	 * ahead delays the answers the restorer waits for. */
	if (size >= RA_MIN_READ &&
	    ((uint64_t)off == ro->next_off || (ro->next_off && (uint64_t)off == 0))) {
		ro->ra = ro->ra ? (ro->ra * 2 > RA_MAX ? RA_MAX : ro->ra * 2) : RA_MIN;
	} else {
		ro->ra = 0;
	}
	ro->next_off = end;
	if (!err && ro->ra)
		read_ahead(ro, base);
	if (!w->missing)
		waiter_finish(w);
	else
		w->cc->st.waits++;
}
