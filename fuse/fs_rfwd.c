// SPDX-License-Identifier: MIT
#include "fs_rfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "clondike/proto.h"
#include "log.h"
#include "peer.h"
#include "procs.h"

/* The file is home's: nothing of it is cached here. */
#define RFWD_TIMEOUT 0.0
/* A write or an fsync may wait for a slow disk at home. */
#define RFWD_SLOW_MS 120000u
/* How often requests waiting for their peer look for it. */
#define WAIT_TICK_MS 100u

static struct cldd_peer *peer_of(fuse_req_t req, unsigned int slot)
{
	struct cldd_peer *p = cldd_peer_by_slot(cldd_of(req)->cluster, slot);

	return p && !p->removed ? p : NULL;
}

static void dir_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_blksize = CLDD_BLKSIZE;
}

static void reply_dir_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	dir_stat(ino, &e.attr);
	e.attr_timeout = e.entry_timeout = RFWD_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void any_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	struct stat st;

	dir_stat(n->ino, &st);
	fuse_reply_attr(req, &st, RFWD_TIMEOUT);
}

static int add_nothing(fuse_req_t req, const struct cldd_ino *n, struct cldd_dirbuf *b)
{
	(void)req, (void)n, (void)b;
	return 0;
}

/* ---- .fwd/ and .fwd/<pid>/ ------------------------------------------------- */

void cldd_rfwd_reply_entry(fuse_req_t req, unsigned int slot)
{
	reply_dir_entry(req, cldd_ino_rfwd(slot));
}

static void rfwd_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	pid_t pid = cldd_parse_pid(name);

	/* Whether pid has such files is asked when one is looked up. */
	if (!pid || pid > (1 << (CLDD_PID_BITS - 1)))
		cldd_reply_err(req, ENOENT);
	else
		reply_dir_entry(req, cldd_ino_rfwdpid(dir->slot, pid));
}

static void rfwd_opendir(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	cldd_dir_list(req, n,
		      n->kind == CLDD_K_RFWD ? cldd_ino_rdir(n->slot) : cldd_ino_rfwd(n->slot), fi,
		      add_nothing);
}

static void dir_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	(void)n, (void)fi;
	cldd_reply_err(req, EISDIR);
}

const struct cldd_kind_ops cldd_kind_rfwd = {
	.lookup = rfwd_lookup,
	.getattr = any_getattr,
	.opendir = rfwd_opendir,
	.open = dir_open,
};

/* ---- FILE requests -------------------------------------------------------- */

enum rop_kind { R_LOOKUP, R_GETATTR, R_OPEN, R_SETATTR, R_READ, R_WRITE, R_FSYNC };

struct rop {
	fuse_req_t req;
	enum rop_kind kind;
	struct cldd_ino n;
	struct fuse_file_info fi; /* R_OPEN */
	uid_t uid;		  /* R_LOOKUP: who asks */
	struct cldd *d;
	uint8_t *buf; /* the FILE request, to send again */
	size_t size;
	bool slow;
	bool append;	      /* R_WRITE on an O_APPEND file: never sent twice */
	uint64_t deadline_ns; /* waiting for the peer until then; 0: never waited */
	struct rop *next;
};

/*
 * d->rfwd: the requests that wait for their peer to come back.  A link
 * that goes away for less than guest-lost-ms makes the guest's file
 * operations wait, as its relayed fds do, not fail.  Each is sent again
 * when the peer is back: all of them are idempotent (the offset travels
 * with them), except a write on an O_APPEND file, which fails with EIO if
 * the link went while it was in flight (it may have been done).
 */
struct cldd_rfwd {
	struct cldd *d;
	unsigned int lost_ms;
	struct rop *waiting;
	uv_timer_t timer; /* runs while some wait; data: this */
};

int cldd_rfwd_init(struct cldd *d, unsigned int lost_ms)
{
	struct cldd_rfwd *W = calloc(1, sizeof(*W));

	if (!W)
		return -ENOMEM;
	W->d = d;
	W->lost_ms = lost_ms;
	uv_timer_init(d->loop, &W->timer);
	uv_unref((uv_handle_t *)&W->timer);
	W->timer.data = W;
	d->rfwd = W;
	return 0;
}

/* The link's failures are the file's I/O errors, as a disk's would be. */
static int io_err(int status)
{
	return status == -EHOSTDOWN || status == -ETIMEDOUT ? EIO : -status;
}

static void file_stat(const struct cldd_ino *n, const struct cldp_file_stat *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)fs->size;
	st->st_blocks = (blkcnt_t)fs->blocks;
	st->st_blksize = CLDD_BLKSIZE;
	cldd_stat_time(st, fs->mtime_ns);
	st->st_ctim.tv_sec = (time_t)(fs->ctime_ns / 1000000000ull);
	st->st_ctim.tv_nsec = (long)(fs->ctime_ns % 1000000000ull);
}

/* An open may not ask more than the process's own open file has. */
static bool may_open(int want, uint32_t has)
{
	int acc = (int)has & O_ACCMODE;

	switch (want & O_ACCMODE) {
	case O_RDONLY:
		return acc == O_RDONLY || acc == O_RDWR;
	case O_WRONLY:
		return acc == O_WRONLY || acc == O_RDWR;
	default:
		return acc == O_RDWR;
	}
}

static void stat_done(struct rop *r, const uint8_t *data, size_t len)
{
	struct cldp_file_stat fs;
	struct fuse_entry_param e;

	if (len != sizeof(fs)) {
		cldd_reply_err(r->req, EIO);
		return;
	}
	memcpy(&fs, data, sizeof(fs));
	memset(&e, 0, sizeof(e));
	e.ino = r->n.ino;
	file_stat(&r->n, &fs, &e.attr);
	e.attr_timeout = e.entry_timeout = RFWD_TIMEOUT;
	switch (r->kind) {
	case R_LOOKUP:
		/* Looked up as the daemon (a lookup that fails would unhash the
		 * guest's own name of the file); to others than the owner it
		 * shows nothing but its owner, and opening it is theirs to be
		 * refused (mode 0600, and home checks each request). */
		if (r->uid != 0 && r->uid != fs.uid) {
			e.attr.st_size = 0;
			e.attr.st_blocks = 0;
			memset(&e.attr.st_mtim, 0, sizeof(e.attr.st_mtim));
			e.attr.st_atim = e.attr.st_ctim = e.attr.st_mtim;
		}
		fuse_reply_entry(r->req, &e);
		break;
	case R_OPEN:
		if (!may_open(r->fi.flags, fs.flags)) {
			cldd_reply_err(r->req, EACCES);
			break;
		}
		r->fi.fh = 1;
		r->fi.direct_io = 1; /* home's file: no page cache here */
		r->fi.keep_cache = 0;
		r->fi.noflush = 1;
		fuse_reply_open(r->req, &r->fi);
		break;
	default: /* getattr, setattr */
		fuse_reply_attr(r->req, &e.attr, RFWD_TIMEOUT);
		break;
	}
}

static void rop_free(struct rop *r)
{
	free(r->buf);
	free(r);
}

static void rop_wait(struct rop *r);

static void file_done(void *arg, int status, const uint8_t *data, size_t len)
{
	struct rop *r = arg;
	uint64_t n;

	/* The connection went with it: sent again once the peer is back. */
	if (status == -EHOSTDOWN && !r->append) {
		rop_wait(r);
		return;
	}
	/* Its process at home is gone (a new daemon there no longer has
	 * it): the open file's I/O fails, as a disk's that went away. */
	if (status == -ENOENT && r->kind != R_LOOKUP)
		status = -EIO;
	if (status) {
		cldd_reply_err(r->req, io_err(status));
		goto out;
	}
	switch (r->kind) {
	case R_READ:
		fuse_reply_buf(r->req, (const char *)data, len);
		break;
	case R_WRITE:
		if (len != sizeof(n)) {
			cldd_reply_err(r->req, EIO);
			break;
		}
		memcpy(&n, data, sizeof(n));
		fuse_reply_write(r->req, (size_t)n);
		break;
	case R_FSYNC:
		cldd_reply_err(r->req, len ? EIO : 0);
		break;
	default:
		stat_done(r, data, len);
		break;
	}
out:
	rop_free(r);
}

static void rop_send(struct rop *r)
{
	struct cldd_peer *p = cldd_peer_by_slot(r->d->cluster, r->n.slot);
	int ret;

	if (!p || p->removed) {
		cldd_reply_err(r->req, EIO);
		rop_free(r);
		return;
	}
	ret = r->slow ?
		      cldd_call_timeout(p, CLDP_FILE, r->buf, r->size, RFWD_SLOW_MS, file_done, r) :
		      cldd_call(p, CLDP_FILE, r->buf, r->size, file_done, r);
	if (ret == -EHOSTDOWN) {
		rop_wait(r);
	} else if (ret) {
		cldd_reply_err(r->req, io_err(ret));
		rop_free(r);
	}
}

static void wait_tick(uv_timer_t *t)
{
	struct cldd_rfwd *W = t->data;
	struct rop *r = W->waiting, *next;
	uint64_t now = cldd_now_ns();

	W->waiting = NULL;
	uv_timer_stop(&W->timer); /* rop_wait starts it again for those left */
	for (; r; r = next) {
		next = r->next;
		r->next = NULL;
		if (now >= r->deadline_ns) {
			cldd_reply_err(r->req, EIO);
			rop_free(r);
		} else {
			rop_send(r); /* waits again while the peer is down */
		}
	}
}

static void rop_wait(struct rop *r)
{
	struct cldd_rfwd *W = r->d->rfwd;

	if (!r->deadline_ns) {
		r->deadline_ns = cldd_now_ns() + (uint64_t)W->lost_ms * 1000000ull;
		cldd_info("forwarded file %d of %d: its home is down; it waits for it", r->n.fd,
			  (int)r->n.pid);
	}
	r->next = W->waiting;
	W->waiting = r;
	if (!uv_is_active((uv_handle_t *)&W->timer))
		uv_timer_start(&W->timer, wait_tick, WAIT_TICK_MS, WAIT_TICK_MS);
}

/* Send op on n's file: the request, then the bytes of a write. */
static void file_call(fuse_req_t req, const struct cldd_ino *n, enum rop_kind kind, uint32_t op,
		      uint64_t off, uint32_t len, const void *data, const struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldp_file_req q = {
		.cred = { ctx->uid, ctx->gid },
		.pid = n->pid,
		.fd = n->fd,
		.op = op,
		.len = len,
		.off = off,
	};
	struct rop *r;

	if (!peer_of(req, n->slot)) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r) {
		r->size = sizeof(q) + (op == CLDP_FILE_WRITE ? len : 0);
		r->buf = malloc(r->size);
	}
	if (!r || !r->buf) {
		free(r);
		cldd_reply_err(req, ENOMEM);
		return;
	}
	r->d = cldd_of(req);
	r->req = req;
	r->kind = kind;
	r->n = *n;
	r->uid = ctx->uid;
	r->slow = op == CLDP_FILE_WRITE || op == CLDP_FILE_TRUNC || op == CLDP_FILE_SYNC;
	r->append = kind == R_WRITE && fi && (fi->flags & O_APPEND);
	if (kind == R_LOOKUP)
		q.cred.uid = q.cred.gid = 0;
	if (fi)
		r->fi = *fi;
	memcpy(r->buf, &q, sizeof(q));
	if (op == CLDP_FILE_WRITE)
		memcpy(r->buf + sizeof(q), data, len);
	rop_send(r);
}

/* ---- .fwd/<pid>/<fd> ------------------------------------------------------ */

static void rpid_lookup(fuse_req_t req, const struct cldd_ino *dir, const char *name)
{
	struct cldd_ino n = *dir;

	n.fd = cldd_parse_fd(name);
	if (n.fd < 0) {
		cldd_reply_err(req, ENOENT);
		return;
	}
	n.kind = CLDD_K_RFWDFD;
	n.ino = cldd_ino_rfwdfd(dir->slot, dir->pid, n.fd);
	file_call(req, &n, R_LOOKUP, CLDP_FILE_STAT, 0, 0, NULL, NULL);
}

const struct cldd_kind_ops cldd_kind_rfwdpid = {
	.lookup = rpid_lookup,
	.getattr = any_getattr,
	.opendir = rfwd_opendir,
	.open = dir_open,
};

static void fd_getattr(fuse_req_t req, const struct cldd_ino *n)
{
	file_call(req, n, R_GETATTR, CLDP_FILE_STAT, 0, 0, NULL, NULL);
}

static void fd_open(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	file_call(req, n, R_OPEN, CLDP_FILE_STAT, 0, 0, NULL, fi);
}

/* Only the size changes here (ftruncate, O_TRUNC); the rest is home's. */
static void fd_setattr(fuse_req_t req, const struct cldd_ino *n, struct stat *attr, int to_set)
{
	if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |
		       FUSE_SET_ATTR_CTIME)) {
		cldd_reply_err(req, EPERM);
		return;
	}
	if (!(to_set & FUSE_SET_ATTR_SIZE)) {
		fd_getattr(req, n);
		return;
	}
	file_call(req, n, R_SETATTR, CLDP_FILE_TRUNC, (uint64_t)attr->st_size, 0, NULL, NULL);
}

static void fd_read(fuse_req_t req, const struct cldd_ino *n, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	if (size > CLDP_READ_MAX)
		size = CLDP_READ_MAX;
	file_call(req, n, R_READ, CLDP_FILE_READ, (uint64_t)off, (uint32_t)size, NULL, NULL);
}

static void fd_write(fuse_req_t req, const struct cldd_ino *n, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	if (size > CLDP_READ_MAX)
		size = CLDP_READ_MAX; /* a short write: the kernel sends the rest */
	file_call(req, n, R_WRITE, CLDP_FILE_WRITE, (uint64_t)off, (uint32_t)size, buf, fi);
}

static void fd_fsync(fuse_req_t req, const struct cldd_ino *n, int datasync,
		     struct fuse_file_info *fi)
{
	(void)fi;
	file_call(req, n, R_FSYNC, CLDP_FILE_SYNC, 0, datasync ? 1 : 0, NULL, NULL);
}

static void fd_release(fuse_req_t req, const struct cldd_ino *n, struct fuse_file_info *fi)
{
	(void)n, (void)fi;
	cldd_reply_err(req, 0); /* the process's file stays open at home */
}

const struct cldd_kind_ops cldd_kind_rfwdfd = {
	.getattr = fd_getattr,
	.setattr = fd_setattr,
	.open = fd_open,
	.read = fd_read,
	.write = fd_write,
	.fsync = fd_fsync,
	.release = fd_release,
	.flush = fd_release,
};
