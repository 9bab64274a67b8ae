// SPDX-License-Identifier: MIT
#include "put.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* Chunks in flight while sending: enough to keep the link busy. */
#define PUT_WINDOW 4u
/* The receiver's restart has its own deadline; this one covers it. */
#define PUT_END_TIMEOUT_MS (CLDD_RESTART_TIMEOUT_MS + 10000u)
/* A buffer its sender stopped filling (its PUT timed out there, so it
 * never learnt the handle) goes after this long. */
#define PUT_IDLE_MS 10000u

/* An image being received (d->put). */
struct put_rx {
	struct put_rx *next;
	uint64_t id;
	struct cldd_later l; /* the PUT: its connection; then the PUT_END */
	struct cldd_in *in;
	bool ending; /* restarting: the connection no longer matters */
	uint64_t last_ns; /* its last request */
	struct cldd *d;
};

struct cldd_puts {
	struct put_rx *rx;
	uint64_t next_id;
	uv_timer_t sweep; /* runs while there are buffers */
};

static void rx_free(struct put_rx *rx);

static void sweep(uv_timer_t *t)
{
	struct cldd *d = t->data;
	struct put_rx *rx, *next;
	uint64_t now = cldd_now_ns();

	for (rx = d->put->rx; rx; rx = next) {
		next = rx->next;
		if (rx->ending || now - rx->last_ns < PUT_IDLE_MS * 1000000ull)
			continue;
		cldd_warn("%s: nothing from its sender for %u s; %llu KiB dropped", rx->in->name,
			  PUT_IDLE_MS / 1000, (unsigned long long)(rx->in->size >> 10));
		rx_free(rx);
	}
	if (!d->put->rx)
		uv_timer_stop(t);
}

int cldd_put_init(struct cldd *d)
{
	d->put = calloc(1, sizeof(*d->put));
	if (!d->put)
		return -ENOMEM;
	uv_timer_init(d->loop, &d->put->sweep);
	uv_unref((uv_handle_t *)&d->put->sweep);
	d->put->sweep.data = d;
	return 0;
}

/* ---- Sending ------------------------------------------------------------ */

struct put_tx {
	struct cldd *d;
	struct cldd_in *in;
	unsigned int slot;
	uint64_t gen; /* the connection the handle belongs to */
	uint64_t handle;
	uint64_t off; /* where to look for data next */
	uint64_t sent;
	unsigned int inflight;
	int err;
	char msg[256];
	uint64_t t0;
	uint8_t *buf; /* one PUT_DATA: header and chunk */
	cldd_restart_cb cb;
	void *arg;
};

static struct cldd_peer *tx_peer(struct put_tx *tx)
{
	struct cldd_peer *p = cldd_peer_by_slot(tx->d->cluster, tx->slot);

	return p && p->conn && p->gen == tx->gen ? p : NULL;
}

static void tx_fail(struct put_tx *tx, int err, const char *fmt, const char *detail)
{
	if (tx->err)
		return;
	tx->err = err;
	snprintf(tx->msg, sizeof(tx->msg), fmt, detail);
}

static void ignore_answer(void *arg, int status, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)status;
	(void)data;
	(void)len;
}

static void tx_done(struct put_tx *tx, const struct cldd_restart_result *res)
{
	tx->cb(tx->arg, res);
	free(tx->buf);
	free(tx);
}

static void tx_abort(struct put_tx *tx)
{
	struct cldd_restart_result res = { .ret = tx->err };
	struct cldd_peer *p = tx_peer(tx);

	/* The receiver drops what it buffered (or its connection did). */
	if (p && tx->handle) {
		struct cldp_put_end e = { .handle = tx->handle };

		cldd_call(p, CLDP_PUT_END, &e, sizeof(e), ignore_answer, NULL);
	}
	snprintf(res.msg, sizeof(res.msg), "%s", tx->msg);
	tx_done(tx, &res);
}

static void ended(void *arg, int status, const uint8_t *data, size_t len)
{
	struct put_tx *tx = arg;
	struct cldd_restart_result res = { .ret = status };
	struct cldd_peer *p = cldd_peer_by_slot(tx->d->cluster, tx->slot);
	const char *node = p ? p->conf.name : "?";
	struct cldp_put_resp r;

	if (!status && len == sizeof(r)) {
		memcpy(&r, data, sizeof(r));
		res.pid = r.pid;
		res.same_pid = r.flags & CLDP_MF_SAME_PID;
		res.total_ns = cldd_now_ns() - tx->t0;
		cldd_info("%s: sent to %s (%llu KiB), restarted there as pid %d in %llu ms",
			  tx->in->name[0] ? tx->in->name : "image", node,
			  (unsigned long long)(tx->sent >> 10), (int)r.pid,
			  (unsigned long long)(res.total_ns / 1000000));
	} else if (status == -EHOSTDOWN || status == -ETIMEDOUT) {
		/* Whatever the receiver did, it undoes: see rx_finished. */
		snprintf(res.msg, sizeof(res.msg), "%s went away before its answer: %s", node,
			 strerror(-status));
	} else {
		if (!status)
			res.ret = -EIO;
		snprintf(res.msg, sizeof(res.msg), "%s refused it: %s (its log says why)", node,
			 strerror(-res.ret));
	}
	tx_done(tx, &res);
}

static void pump(struct put_tx *tx);

static void data_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct put_tx *tx = arg;

	(void)data;
	(void)len;
	tx->inflight--;
	if (status)
		tx_fail(tx, status, "sending the image: %s", strerror(-status));
	pump(tx);
}

/* The next run of data at or after tx->off, at most a chunk: 0 with *len
 * 0 at the end, or a negative errno. */
static int next_extent(struct put_tx *tx, uint64_t *start, size_t *len)
{
	uint64_t size = tx->in->size;
	off_t d0, h0;

	*len = 0;
	if (tx->off >= size)
		return 0;
	d0 = lseek(tx->in->fd, (off_t)tx->off, SEEK_DATA);
	if (d0 < 0)
		return errno == ENXIO ? 0 : -errno;
	h0 = lseek(tx->in->fd, d0, SEEK_HOLE);
	if (h0 < 0 || (uint64_t)h0 > size)
		h0 = (off_t)size;
	*start = (uint64_t)d0;
	*len = (uint64_t)(h0 - d0) < CLDP_PUT_CHUNK_MAX ? (size_t)(h0 - d0) : CLDP_PUT_CHUNK_MAX;
	return 0;
}

static void send_end(struct put_tx *tx, struct cldd_peer *p)
{
	struct cldp_put_end e = { .handle = tx->handle,
				  .size = tx->in->size,
				  .flags = CLDP_PUT_RESTART };
	int ret = cldd_call_timeout(p, CLDP_PUT_END, &e, sizeof(e), PUT_END_TIMEOUT_MS, ended, tx);

	if (ret) {
		tx_fail(tx, ret, "sending the image: %s", strerror(-ret));
		tx_abort(tx);
	}
}

static void pump(struct put_tx *tx)
{
	struct cldd_peer *p = tx_peer(tx);
	const size_t hdr = sizeof(struct cldp_put_data);

	if (!p)
		tx_fail(tx, -EHOSTDOWN, "the connection to the node was lost%s", "");
	while (!tx->err && tx->inflight < PUT_WINDOW) {
		struct cldp_put_data ph = { .handle = tx->handle };
		uint64_t start = 0;
		size_t len;
		ssize_t n;
		int ret = next_extent(tx, &start, &len);

		if (ret) {
			tx_fail(tx, ret, "reading the buffered image: %s", strerror(-ret));
			break;
		}
		if (!len) {
			tx->off = tx->in->size;
			break;
		}
		ph.off = start;
		n = pread(tx->in->fd, tx->buf + hdr, len, (off_t)start);
		if (n <= 0) {
			tx_fail(tx, n < 0 ? -errno : -EIO, "reading the buffered image: %s",
				strerror(n < 0 ? errno : EIO));
			break;
		}
		memcpy(tx->buf, &ph, hdr);
		ret = cldd_call(p, CLDP_PUT_DATA, tx->buf, hdr + (size_t)n, data_done, tx);
		if (ret) {
			tx_fail(tx, ret, "sending the image: %s", strerror(-ret));
			break;
		}
		tx->inflight++;
		tx->off = ph.off + (uint64_t)n;
		tx->sent += (uint64_t)n;
	}
	if (tx->inflight)
		return;
	if (tx->err)
		tx_abort(tx);
	else if (tx->off >= tx->in->size)
		send_end(tx, p);
}

static void opened(void *arg, int status, const uint8_t *data, size_t len)
{
	struct put_tx *tx = arg;

	if (!status && len == sizeof(tx->handle))
		memcpy(&tx->handle, data, sizeof(tx->handle));
	else
		tx_fail(tx, status ? status : -EIO, "the node would not take it: %s",
			strerror(status ? -status : EIO));
	if (tx->err)
		tx_abort(tx);
	else
		pump(tx);
}

int cldd_put_start(struct cldd *d, struct cldd_in *in, cldd_restart_cb cb, void *arg)
{
	struct cldd_peer *p = cldd_peer_by_slot(d->cluster, in->target_slot);
	struct cldp_put_req rq = { .cred = { in->uid, in->gid } };
	struct put_tx *tx;
	int ret;

	if (!p || p->removed)
		return -ENOENT;
	if (!p->conn)
		return -EHOSTDOWN;
	tx = calloc(1, sizeof(*tx));
	if (tx)
		tx->buf = malloc(sizeof(struct cldp_put_data) + CLDP_PUT_CHUNK_MAX);
	if (!tx || !tx->buf) {
		free(tx);
		return -ENOMEM;
	}
	tx->d = d;
	tx->in = in;
	tx->slot = p->slot;
	tx->gen = p->gen;
	tx->cb = cb;
	tx->arg = arg;
	tx->t0 = cldd_now_ns();
	snprintf(rq.name, sizeof(rq.name), "%.63s", in->name[0] ? in->name : "image");
	ret = cldd_call(p, CLDP_PUT, &rq, sizeof(rq), opened, tx);
	if (ret) {
		free(tx->buf);
		free(tx);
	}
	return ret;
}

/* ---- Receiving ---------------------------------------------------------- */

static void rx_free(struct put_rx *rx)
{
	struct put_rx **pp;

	for (pp = &rx->d->put->rx; *pp; pp = &(*pp)->next)
		if (*pp == rx) {
			*pp = rx->next;
			break;
		}
	cldd_in_put(rx->in);
	free(rx);
}

/* The image of handle id, sent on c and not yet restarting. */
static struct put_rx *rx_find(struct cldd *d, struct cldd_conn *c, uint64_t id)
{
	struct put_rx *rx;

	for (rx = d->put->rx; rx; rx = rx->next)
		if (rx->id == id && !rx->ending && cldd_later_conn(&rx->l) == c)
			return rx;
	return NULL;
}

static void serve_put(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		      const uint8_t *p)
{
	struct cldd_peer *from = cldd_conn_peer(c);
	struct cld_err err = { 0 };
	struct cldp_put_req r;
	struct put_rx *rx;
	struct cldd_out *o;
	uint8_t *b;
	char name[sizeof(r.name) + 72];
	int ret;

	memcpy(&r, p, sizeof(r));
	snprintf(name, sizeof(name), "%s:%s", from->conf.name, r.name);
	rx = calloc(1, sizeof(*rx));
	if (!rx) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	ret = cldd_in_create(d, name, r.cred.uid, r.cred.gid, &rx->in, &err);
	if (ret) {
		cldd_err("image %s (uid %u) not taken: %s", name, (unsigned)r.cred.uid,
			 cld_err_str(&err));
		free(rx);
		cldd_reply_status(c, h->type, h->id, ret);
		return;
	}
	rx->in->unnamed = true; /* not an alias here: the sender has the name */
	rx->d = d;
	rx->id = ++d->put->next_id;
	cldd_later_init(&rx->l, c, h);
	b = cldd_out_new(sizeof(rx->id), &o);
	if (!b) {
		cldd_in_put(rx->in);
		free(rx);
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	rx->last_ns = cldd_now_ns();
	rx->next = d->put->rx;
	d->put->rx = rx;
	if (!uv_is_active((uv_handle_t *)&d->put->sweep))
		uv_timer_start(&d->put->sweep, sweep, PUT_IDLE_MS / 2, PUT_IDLE_MS / 2);
	memcpy(b, &rx->id, sizeof(rx->id));
	cldd_out_reply(c, o, h->type, h->id, 0, sizeof(rx->id));
}

static void serve_data(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		       const uint8_t *p)
{
	struct cldp_put_data ph;
	struct put_rx *rx;
	size_t len = h->len - sizeof(ph);
	ssize_t n;

	memcpy(&ph, p, sizeof(ph));
	rx = rx_find(d, c, ph.handle);
	if (!rx) {
		cldd_reply_status(c, h->type, h->id, -EBADF);
		return;
	}
	rx->last_ns = cldd_now_ns();
	n = cldd_in_write(rx->in, p + sizeof(ph), len, ph.off);
	if (n >= 0 && (size_t)n != len)
		n = -EIO;
	cldd_reply_status(c, h->type, h->id, n < 0 ? (int)n : 0);
}

static void rx_finished(void *arg, int ret)
{
	struct put_rx *rx = arg;
	struct cldd_conn *c = cldd_later_conn(&rx->l);
	struct cldp_put_resp r = { 0 };
	struct cldd_out *o;
	uint8_t *b;

	if (!ret && !c) {
		/* The sender's close fails: the image must not run. */
		kill(rx->in->pid, SIGKILL);
		cldd_err("%s: its sender went away before the answer; pid %d killed",
			 rx->in->name, (int)rx->in->pid);
	} else if (c && ret) {
		cldd_reply_status(c, rx->l.type, rx->l.id, ret);
	} else if (c) {
		r.pid = rx->in->pid;
		b = cldd_out_new(sizeof(r), &o);
		if (!b) {
			kill(r.pid, SIGKILL);
			cldd_reply_status(c, rx->l.type, rx->l.id, -ENOMEM);
		} else {
			memcpy(b, &r, sizeof(r));
			cldd_out_reply(c, o, rx->l.type, rx->l.id, 0, sizeof(r));
		}
	}
	rx_free(rx);
}

static void serve_end(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		      const uint8_t *p)
{
	struct cldp_put_end e;
	struct put_rx *rx;
	int ret;

	memcpy(&e, p, sizeof(e));
	rx = rx_find(d, c, e.handle);
	if (!rx) {
		cldd_reply_status(c, h->type, h->id, -EBADF);
		return;
	}
	if (!(e.flags & CLDP_PUT_RESTART)) {
		rx_free(rx);
		cldd_reply_status(c, h->type, h->id, -ECANCELED);
		return;
	}
	ret = e.size == rx->in->size ? 0 : cldd_in_truncate(rx->in, e.size);
	if (ret) {
		rx_free(rx);
		cldd_reply_status(c, h->type, h->id, ret);
		return;
	}
	rx->ending = true;
	cldd_later_init(&rx->l, c, h);
	cldd_in_finish(rx->in, rx_finished, rx); /* may call back at once */
}

void cldd_put_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		    const uint8_t *payload)
{
	switch (h->type) {
	case CLDP_PUT:
		serve_put(d, c, h, payload);
		break;
	case CLDP_PUT_DATA:
		serve_data(d, c, h, payload);
		break;
	default:
		serve_end(d, c, h, payload);
	}
}

void cldd_put_conn_closed(struct cldd *d, struct cldd_conn *c)
{
	struct put_rx *rx, *next;
	struct cldd_conn *rc;

	for (rx = d->put->rx; rx; rx = next) {
		next = rx->next;
		rc = cldd_later_conn(&rx->l);
		if (rx->ending || (rc && rc != c))
			continue;
		cldd_warn("%s: its sender's connection went; %llu KiB dropped", rx->in->name,
			  (unsigned long long)(rx->in->size >> 10));
		rx_free(rx);
	}
}
