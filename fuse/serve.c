// SPDX-License-Identifier: MIT
#include "serve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "frozen.h"
#include "fdio.h"
#include "fwd_file.h"
#include "fs_pid.h"
#include "log.h"
#include "migrate.h"
#include "pairs.h"
#include "peer.h"
#include "procs.h"
#include "put.h"

struct handle {
	uint64_t id;
	struct cldd_freeze *f;
};

/* The handles one connection holds. */
struct served {
	struct handle *h;
	size_t n, cap;
	uint64_t next_id;
};

static struct served *served_of(struct cldd_conn *c, bool create)
{
	void **slot = cldd_conn_served(c);

	if (!*slot && create)
		*slot = calloc(1, sizeof(struct served));
	return *slot;
}

static struct handle *find_handle(struct cldd_conn *c, uint64_t id)
{
	struct served *s = served_of(c, false);
	size_t i;

	for (i = 0; s && i < s->n; i++)
		if (s->h[i].id == id)
			return &s->h[i];
	return NULL;
}

void cldd_serve_conn_closed(struct cldd *d, struct cldd_conn *c)
{
	struct served *s = served_of(c, false);
	struct cldd_peer *p = cldd_conn_peer(c);
	size_t i;

	/* The peer's connection (not one being set up) is gone: so are the
	 * fds relayed over it. */
	if (p && !p->conn)
		cldd_fwd_peer_down(d, p);
	cldd_put_conn_closed(d, c);
	if (!s)
		return;
	if (s->n)
		cldd_info("peer %s gone: releasing %zu image(s) it had open",
			  cldd_conn_peer(c) ? cldd_conn_peer(c)->conf.name : "?", s->n);
	for (i = 0; i < s->n; i++)
		cldd_freeze_put(s->h[i].f);
	free(s->h);
	free(s);
	*cldd_conn_served(c) = NULL;
}

static void serve_list(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		       const uint8_t *p)
{
	struct cldp_cred cred;
	struct cldd_out *o = NULL;
	struct cldp_pentry *pe;
	pid_t *pids = NULL;
	size_t n = 0, i, k = 0;
	int ret;

	memcpy(&cred, p, sizeof(cred));
	ret = cldd_proc_list(cred.uid, &pids, &n);
	if (ret)
		goto fail;
	if (n > (CLDP_FRAME_MAX - 64) / sizeof(*pe))
		n = (CLDP_FRAME_MAX - 64) / sizeof(*pe); /* ~29,000 processes */
	pe = (struct cldp_pentry *)cldd_out_new(n * sizeof(*pe), &o);
	if (!pe) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct cldd_caller who = { cred.uid, cred.gid, NULL, NULL };
		int vis = cldd_proc_visible(d, pids[i], &who);

		/* hidepid (as locally, without supplementary groups: a
		 * request carries only uid and gid). */
		if (vis < 0 || cldd_pid_entry(d, pids[i], &pe[k]))
			continue;
		if (vis & CLDD_VIS_REDACT)
			pe[k].size = pe[k].data_bytes = pe[k].mtime_ns = 0;
		if (vis & CLDD_VIS_NOCACHE)
			pe[k].flags |= CLDP_PE_NOCACHE;
		k++;
	}
	free(pids);
	cldd_out_reply(c, o, h->type, h->id, 0, k * sizeof(*pe));
	return;
fail:
	free(pids);
	cldd_reply_status(c, h->type, h->id, ret);
}

static void serve_stat(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		       const uint8_t *p)
{
	struct cldp_pid_req r;
	struct cldd_out *o;
	struct cldp_pentry *pe;
	int ret;

	memcpy(&r, p, sizeof(r));
	pe = (struct cldp_pentry *)cldd_out_new(sizeof(*pe), &o);
	if (!pe) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	{
		struct cldd_caller who = { r.cred.uid, r.cred.gid, NULL, NULL };
		int vis = cldd_proc_visible(d, r.pid, &who);

		ret = vis < 0 ? vis : cldd_pid_entry(d, r.pid, pe);
		if (!ret && (vis & CLDD_VIS_REDACT))
			pe->size = pe->data_bytes = pe->mtime_ns = 0;
		if (!ret && (vis & CLDD_VIS_NOCACHE))
			pe->flags |= CLDP_PE_NOCACHE;
	}
	if (!ret && r.start_ticks && pe->start_ticks != r.start_ticks)
		ret = -ENOENT;
	cldd_out_reply(c, o, h->type, h->id, ret, sizeof(*pe));
}

struct later {
	struct cldd_later l;
	pid_t pid;
	uid_t uid;
	unsigned long long start_ticks;
	struct cldd_out *o; /* read: the reply being filled */
};

static struct later *later_new(struct cldd_conn *c, const struct cldp_hdr *h)
{
	struct later *l = calloc(1, sizeof(*l));

	if (l)
		cldd_later_init(&l->l, c, h);
	return l;
}

#define later_conn(x) cldd_later_conn(&(x)->l)

static int add_handle(struct cldd_conn *c, struct cldd_freeze *f, uint64_t *id)
{
	struct served *s = served_of(c, true);

	if (!s)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct handle *nh = realloc(s->h, cap * sizeof(*nh));

		if (!nh)
			return -ENOMEM;
		s->h = nh;
		s->cap = cap;
	}
	s->h[s->n].id = ++s->next_id;
	s->h[s->n].f = f;
	s->n++;
	*id = s->next_id;
	return 0;
}

static void open_done(void *arg, struct cldd_freeze *f, int ret, const char *msg)
{
	struct later *l = arg;
	struct cldd_conn *c = later_conn(l);
	struct cldp_open_resp resp;
	struct cldd_out *o;
	uint64_t handle;
	uint8_t *b;

	if (!c) {
		/* The peer went away meanwhile: nobody holds this open. */
		cldd_freeze_put(f);
		free(l);
		return;
	}
	if (ret) {
		cldd_err("peer %s: open %d (uid %u): %s", cldd_conn_peer(c)->conf.name, l->pid,
			 l->uid, msg ? msg : strerror(-ret));
		goto fail;
	}
	memset(&resp, 0, sizeof(resp));
	ret = add_handle(c, f, &handle);
	if (ret) {
		cldd_freeze_put(f);
		goto fail;
	}
	resp.handle = handle;
	resp.freeze_id = f->id;
	resp.size = f->fz->size;
	resp.data_bytes = f->fz->data_bytes;
	resp.frozen_ns = f->frozen_ns;
	resp.start_ticks = l->start_ticks;
	cldd_dbg("peer %s: uid %u opened %d (handle %llu)", cldd_conn_peer(c)->conf.name, l->uid,
		 l->pid, (unsigned long long)resp.handle);
	b = cldd_out_new(sizeof(resp), &o);
	if (!b) {
		ret = -ENOMEM;
		goto fail; /* the handle stays until CLOSE or the connection ends */
	}
	memcpy(b, &resp, sizeof(resp));
	cldd_out_reply(c, o, l->l.type, l->l.id, 0, sizeof(resp));
	free(l);
	return;
fail:
	cldd_reply_status(c, l->l.type, l->l.id, ret);
	free(l);
}

static void serve_open(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		       const uint8_t *p)
{
	const char *who = cldd_conn_peer(c)->conf.name;
	struct cldd_pinfo pi;
	struct cldp_pid_req r;
	struct later *l;
	int ret;

	memcpy(&r, p, sizeof(r));
	ret = cldd_proc_info(d, r.pid, &pi);
	if (ret || (r.start_ticks && r.start_ticks != pi.start_ticks)) {
		ret = -ENOENT;
		goto out;
	}
	ret = cldd_proc_may_access(r.pid, r.cred.uid, r.cred.gid);
	if (ret) {
		cldd_info("peer %s: uid %u may not read pid %d: %s", who, r.cred.uid, r.pid,
			  strerror(-ret));
		goto out;
	}
	l = later_new(c, h);
	if (!l) {
		ret = -ENOMEM;
		goto out;
	}
	l->pid = r.pid;
	l->uid = r.cred.uid;
	l->start_ticks = pi.start_ticks;
	cldd_freeze_get(d, r.pid, pi.start_ticks, r.cred.uid, open_done, l);
	return;
out:
	cldd_reply_status(c, h->type, h->id, ret);
}

static void read_done(void *arg, int64_t n)
{
	struct later *l = arg;
	struct cldd_conn *c = later_conn(l);

	if (!c) {
		cldd_out_free(l->o);
	} else {
		if (n < 0)
			cldd_err("peer %s: read %d: %s", cldd_conn_peer(c)->conf.name, (int)l->pid,
				 strerror((int)-n));
		cldd_out_reply(c, l->o, l->l.type, l->l.id, n < 0 ? (int32_t)n : 0,
			       n < 0 ? 0 : (size_t)n);
	}
	free(l);
}

static void serve_read(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldp_read_req r;
	struct later *l = NULL;
	struct cldd_out *o;
	struct handle *hd;
	uint8_t *buf;
	ssize_t n;

	memcpy(&r, p, sizeof(r));
	hd = find_handle(c, r.handle);
	if (!hd) {
		cldd_reply_status(c, h->type, h->id, -EBADF);
		return;
	}
	buf = cldd_out_new(r.len, &o);
	if (buf && !cldd_freeze_inline(hd->f)) {
		l = later_new(c, h);
		if (!l)
			cldd_out_free(o);
	}
	if (!buf || (!l && !cldd_freeze_inline(hd->f))) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	if (l) {
		l->pid = hd->f->pid;
		l->o = o;
	}
	n = cldd_freeze_pread(hd->f, buf, r.len, r.off, read_done, l);
	if (n == -EINPROGRESS)
		return;
	free(l);
	if (n < 0)
		cldd_err("peer %s: read %d at %llu: %s", cldd_conn_peer(c)->conf.name,
			 (int)hd->f->pid, (unsigned long long)r.off, strerror((int)-n));
	cldd_out_reply(c, o, h->type, h->id, n < 0 ? (int32_t)n : 0, n < 0 ? 0 : (size_t)n);
}

static void reply_off(struct cldd_conn *c, uint16_t type, uint32_t id, int64_t off)
{
	struct cldd_out *o;
	uint8_t *b;

	if (off < 0) {
		cldd_reply_status(c, type, id, (int32_t)off);
		return;
	}
	b = cldd_out_new(sizeof(off), &o);
	if (!b) {
		cldd_reply_status(c, type, id, -ENOMEM);
		return;
	}
	memcpy(b, &off, sizeof(off));
	cldd_out_reply(c, o, type, id, 0, sizeof(off));
}

static void seek_done(void *arg, int64_t off)
{
	struct later *l = arg;
	struct cldd_conn *c = later_conn(l);

	if (c)
		reply_off(c, l->l.type, l->l.id, off);
	free(l);
}

static void serve_seek(struct cldd_conn *c, const struct cldp_hdr *h, const uint8_t *p)
{
	struct cldp_seek_req r;
	struct later *l = NULL;
	struct handle *hd;
	int64_t off;

	memcpy(&r, p, sizeof(r));
	hd = find_handle(c, r.handle);
	if (!hd) {
		cldd_reply_status(c, h->type, h->id, -EBADF);
		return;
	}
	if (r.whence != SEEK_DATA && r.whence != SEEK_HOLE) {
		cldd_reply_status(c, h->type, h->id, -EINVAL);
		return;
	}
	if (!cldd_freeze_inline(hd->f)) {
		l = later_new(c, h);
		if (!l) {
			cldd_reply_status(c, h->type, h->id, -ENOMEM);
			return;
		}
	}
	off = cldd_freeze_seek(hd->f, r.off, r.whence, seek_done, l);
	if (off == -EINPROGRESS)
		return;
	free(l);
	reply_off(c, h->type, h->id, off);
}

static void serve_close(struct cldd_conn *c, const uint8_t *p)
{
	struct served *s = served_of(c, false);
	struct handle *hd;
	uint64_t id;

	memcpy(&id, p, sizeof(id));
	hd = find_handle(c, id);
	if (!hd)
		return;
	cldd_freeze_put(hd->f);
	*hd = s->h[--s->n];
}

static void serve_xattr(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			const uint8_t *p)
{
	const struct cld_node_conf *self = cldd_cluster_self(d->cluster);
	struct cldp_xattr_req r;
	struct cldp_pentry pe;
	struct cldd_out *o;
	uint8_t *b;
	int n;

	memcpy(&r, p, sizeof(r));
	{
		struct cldd_caller who = { r.cred.uid, r.cred.gid, NULL, NULL };
		int vis = cldd_proc_visible(d, r.pid, &who);

		/* hidepid: ENOENT when hidden, EACCES under noaccess. */
		n = vis < 0		    ? vis :
		    (vis & CLDD_VIS_REDACT) ? -EACCES :
					      cldd_pid_entry(d, r.pid, &pe);
	}
	/* As locally: the image is mode 0400, so only its owner reads them. */
	if (!n && r.cred.uid != 0 && r.cred.uid != pe.uid)
		n = -EACCES;
	if (n) {
		cldd_reply_status(c, h->type, h->id, n);
		return;
	}
	b = cldd_out_new(4096, &o);
	if (!b) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	n = cldd_pid_xattr(d, self ? self->name : "", r.pid, r.name, (char *)b, 4096);
	cldd_out_reply(c, o, h->type, h->id, n < 0 ? n : 0, n < 0 ? 0 : (size_t)n);
}

void cldd_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		const uint8_t *payload)
{
	switch (h->type) {
	case CLDP_LIST:
		serve_list(d, c, h, payload);
		break;
	case CLDP_STAT:
		serve_stat(d, c, h, payload);
		break;
	case CLDP_OPEN:
		serve_open(d, c, h, payload);
		break;
	case CLDP_READ:
		serve_read(c, h, payload);
		break;
	case CLDP_SEEK:
		serve_seek(c, h, payload);
		break;
	case CLDP_CLOSE:
		serve_close(c, payload);
		break;
	case CLDP_XATTR:
		serve_xattr(d, c, h, payload);
		break;
	case CLDP_MIGRATE:
		cldd_migrate_serve_home(d, c, h, payload);
		break;
	case CLDP_RESTORE:
		cldd_migrate_serve_restore(d, c, h, payload);
		break;
	case CLDP_SIGNAL:
		cldd_commit_on_signal(d, c, payload);
		cldd_pairs_serve_signal(d, c, h, payload);
		break;
	case CLDP_COMMIT:
	case CLDP_QUERY:
		cldd_commit_serve(d, c, h, payload);
		break;
	case CLDP_GUEST:
		cldd_pairs_serve_guest(d, c, h, payload);
		break;
	case CLDP_FWD_DATA:
		cldd_fwd_serve_data(d, c, h, payload);
		break;
	case CLDP_FWD_ACK:
		cldd_fwd_serve_ack(d, c, h, payload);
		break;
	case CLDP_FWD_TTY:
		cldd_fwd_serve_tty(d, c, h, payload);
		break;
	case CLDP_FWD_RESYNC:
		cldd_fwd_serve_resync(d, c, h, payload);
		break;
	case CLDP_FILE:
		cldd_file_serve(d, c, h, payload);
		break;
	case CLDP_PUT:
	case CLDP_PUT_DATA:
	case CLDP_PUT_END:
		cldd_put_serve(d, c, h, payload);
		break;
	default:
		cldd_reply_status(c, h->type, h->id, -EOPNOTSUPP);
	}
}
