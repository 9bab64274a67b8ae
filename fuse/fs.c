// SPDX-License-Identifier: MIT
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#include "frozen.h"
#include "incoming.h"
#include "log.h"
#include "mcopy.h"
#include "migrate.h"
#include "pairs.h"
#include "peer.h"
#include "procs.h"
#include "remote.h"
#include "serve.h"

#define INO_ROOT 1
#define INO_NODE 2
#define INO_PID_BASE CLDD_INO_PID_BASE
#define INO_IN_BASE (2ull << 32)
#define IS_PID_INO(i) ((i) > INO_PID_BASE && (i) < INO_IN_BASE)
#define IS_IN_INO(i) ((i) > INO_IN_BASE && (i) < CLDD_INO_RPID_BASE)

/* Reads and writes of up to 1 MiB: cp and cat use st_blksize. */
#define CLDD_BLKSIZE (1u << 20)
#define DIR_TIMEOUT 3600.0
/*
 * Unfrozen process files: attributes cached for a second (ls -l of a
 * thousand processes then needs one LOOKUP each, not LOOKUP + GETATTR).
 * Freezing and thawing invalidate them, so an open file always sees exact
 * values; frozen ones are not cached at all.
 */
#define PID_TIMEOUT CLDD_PID_TIMEOUT

static struct fuse_session *the_session;

struct fuse_session *cldd_fs_session(void)
{
	return the_session;
}

/*
 * Never answer ENOSYS: the kernel would take it as "operation not
 * implemented" and stop sending it (an open that answered ENOSYS once
 * would never reach the daemon again).
 */
void cldd_reply_err(fuse_req_t req, int e)
{
	fuse_reply_err(req, e == ENOSYS ? EOPNOTSUPP : e);
}

#define reply_err cldd_reply_err

static struct cldd_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void set_time(struct stat *st, uint64_t ns)
{
	st->st_mtim.tv_sec = (time_t)(ns / 1000000000ull);
	st->st_mtim.tv_nsec = (long)(ns % 1000000000ull);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void dir_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	/* Anyone may drop an image into this node's directory; the
	 * directories of other nodes are read only (for now). */
	st->st_mode = ino == INO_NODE || CLDD_IS_RDIR(ino) ? S_IFDIR | 01777 : S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_blksize = CLDD_BLKSIZE;
}

/* Attributes of an image from its listing entry (local or a peer's):
 * exact while frozen, estimated otherwise. */
void cldd_pentry_stat(const struct cldp_pentry *pe, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	st->st_uid = pe->uid;
	st->st_gid = pe->gid;
	st->st_blksize = CLDD_BLKSIZE;
	st->st_size = (off_t)pe->size;
	st->st_blocks = (blkcnt_t)((pe->data_bytes + 511) / 512);
	set_time(st, pe->mtime_ns);
}

static int pid_attr(pid_t pid, unsigned long long *start_ticks, struct stat *st)
{
	struct cldp_pentry pe;
	int ret;

	ret = cldd_pid_entry(pid, &pe);
	if (ret)
		return ret;
	*start_ticks = pe.start_ticks;
	cldd_pentry_stat(&pe, INO_PID_BASE + (uint64_t)pid, st);
	return (pe.flags & CLDP_PE_FROZEN) ? 1 : 0; /* exact when frozen: do not cache */
}

static void in_attr(const struct cldd_in *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = in->name[0] ? 1 : 0;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_size = (off_t)in->size;
	st->st_blocks = (blkcnt_t)((in->size + 511) / 512);
	st->st_blksize = CLDD_BLKSIZE;
	set_time(st, in->mtime_ns);
}

/* hidepid: what the caller of req may know of pid (procs.h, CLDD_VIS_*). */
static int fuse_groups(void *arg, gid_t *list, int size)
{
	return fuse_req_getgroups(arg, size, list);
}

static int pid_vis(fuse_req_t req, pid_t pid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_caller who = { ctx->uid, ctx->gid, fuse_groups, req };

	return cldd_proc_visible(pid, &who);
}

/* hidepid=noaccess: the owner and no more (what stat of /proc/PID shows). */
static void redact_attr(struct stat *st)
{
	st->st_size = 0;
	st->st_blocks = 0;
	set_time(st, 0);
}

/* vis: pid_vis() of the caller. */
static void reply_pid_entry(fuse_req_t req, pid_t pid, int vis)
{
	struct fuse_entry_param e;
	unsigned long long start_ticks = 0;
	int ret;

	memset(&e, 0, sizeof(e));
	ret = pid_attr(pid, &start_ticks, &e.attr);
	if (ret < 0) {
		reply_err(req, -ret);
		return;
	}
	if (vis & CLDD_VIS_REDACT)
		redact_attr(&e.attr);
	/* Under hidepid the kernel must ask again for every caller. */
	e.attr_timeout = e.entry_timeout = ret || (vis & CLDD_VIS_NOCACHE) ? 0 : PID_TIMEOUT;
	e.ino = e.attr.st_ino;
	e.generation = start_ticks;
	fuse_reply_entry(req, &e);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct cldd_fs *fs = userdata;

	the_session = fs->se;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

static void ll_destroy(void *userdata)
{
	(void)userdata;
	cldd_freeze_thaw_all();
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cldd_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cldd_in *in;
	pid_t pid;

	memset(&e, 0, sizeof(e));
	if (parent == INO_ROOT) {
		struct cldd_peer *p = cldd_peer_by_name(name);

		if (!strcmp(name, fs->node))
			e.ino = INO_NODE;
		else if (p && !p->removed && p->slot < CLDD_RDIR_MAX)
			e.ino = CLDD_INO_RDIR + p->slot;
		else {
			reply_err(req, ENOENT);
			return;
		}
		dir_attr(e.ino, &e.attr);
		e.attr_timeout = e.entry_timeout = DIR_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (CLDD_IS_RDIR(parent)) {
		struct cldd_peer *p = cldd_remote_peer(parent);

		if (!p)
			reply_err(req, ENOENT);
		else
			cldd_remote_lookup(req, p, name);
		return;
	}
	if (parent != INO_NODE) {
		reply_err(req, ENOTDIR);
		return;
	}
	pid = cldd_parse_pid(name);
	if (pid) {
		unsigned long long start_ticks;
		struct stat st;
		int vis = pid_vis(req, pid);

		/* Hidden by hidepid: as if there were no such process. */
		if (vis >= 0 && pid_attr(pid, &start_ticks, &st) >= 0) {
			reply_pid_entry(req, pid, vis);
			return;
		}
	}
	in = cldd_in_by_name(name);
	if (!in) {
		reply_err(req, ENOENT);
		return;
	}
	if (in->state == CLDD_IN_RESTARTED) {
		int vis = pid_vis(req, in->pid);

		if (vis < 0)
			reply_err(req, -vis);
		else
			reply_pid_entry(req, in->pid, vis);
		return;
	}
	e.ino = in->ino;
	in_attr(in, &e.attr);
	fuse_reply_entry(req, &e);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	unsigned long long start_ticks = 0;
	struct cldd_in *in;
	struct stat st;
	int ret;

	(void)fi;
	if (CLDD_IS_RPID(ino)) {
		cldd_remote_getattr(req, ino);
		return;
	}
	if (ino == INO_ROOT || ino == INO_NODE || CLDD_IS_RDIR(ino)) {
		dir_attr(ino, &st);
		fuse_reply_attr(req, &st, DIR_TIMEOUT);
		return;
	}
	if (IS_PID_INO(ino)) {
		int vis = pid_vis(req, (pid_t)(ino - INO_PID_BASE));

		ret = vis < 0 ? vis : pid_attr((pid_t)(ino - INO_PID_BASE), &start_ticks, &st);
		if (ret < 0) {
			reply_err(req, -ret);
			return;
		}
		if (vis & CLDD_VIS_REDACT)
			redact_attr(&st);
		fuse_reply_attr(req, &st, ret || (vis & CLDD_VIS_NOCACHE) ? 0 : PID_TIMEOUT);
		return;
	}
	in = cldd_in_by_ino(ino);
	if (!in) {
		reply_err(req, ENOENT);
		return;
	}
	in_attr(in, &st);
	fuse_reply_attr(req, &st, 0);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct cldd_in *in = IS_IN_INO(ino) ? cldd_in_by_ino(ino) : NULL;
	struct stat st;
	int ret;

	(void)fi;
	if (!in) {
		/* Images of live processes are read only. */
		reply_err(req, (to_set & FUSE_SET_ATTR_SIZE) ? EACCES : EPERM);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		ret = cldd_in_truncate(in, (uint64_t)attr->st_size);
		if (ret) {
			reply_err(req, -ret);
			return;
		}
	}
	in_attr(in, &st);
	fuse_reply_attr(req, &st, 0);
}

/* ---- Directories --------------------------------------------------------- */

#define dirbuf cldd_dirbuf
#define dirbuf_add cldd_dirbuf_add

void cldd_dirbuf_free(struct cldd_dirbuf *b)
{
	free(b->p);
	free(b);
}

int cldd_dirbuf_add(fuse_req_t req, struct cldd_dirbuf *b, const char *name, fuse_ino_t ino,
		    mode_t mode)
{
	struct stat st;
	size_t need;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = mode;
	need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16384;
		char *p;

		while (cap < b->len + need)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	fuse_add_direntry(req, b->p + b->len, need, name, &st, (off_t)(b->len + need));
	b->len += need;
	return 0;
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_fs *fs = fs_of(req);
	struct dirbuf *b;
	pid_t *pids = NULL;
	size_t n = 0, i;
	char name[16];
	int ret;

	if (CLDD_IS_RDIR(ino)) {
		struct cldd_peer *p = cldd_remote_peer(ino);

		if (!p)
			reply_err(req, ENOENT);
		else
			cldd_remote_opendir(req, p, fi);
		return;
	}
	if (ino != INO_ROOT && ino != INO_NODE) {
		reply_err(req, ENOTDIR);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		reply_err(req, ENOMEM);
		return;
	}
	ret = dirbuf_add(req, b, ".", ino, S_IFDIR);
	if (!ret)
		ret = dirbuf_add(req, b, "..", INO_ROOT, S_IFDIR);
	if (ret)
		goto fail;
	if (ino == INO_ROOT) {
		unsigned int s;

		ret = dirbuf_add(req, b, fs->node, INO_NODE, S_IFDIR);
		for (s = 0; !ret && s < cldd_peer_slots() && s < CLDD_RDIR_MAX; s++) {
			struct cldd_peer *p = cldd_peer_by_slot(s);

			if (!p->removed)
				ret = dirbuf_add(req, b, p->conf.name, CLDD_INO_RDIR + s, S_IFDIR);
		}
		if (ret)
			goto fail;
		goto done;
	}
	ret = cldd_proc_list(ctx->uid, &pids, &n);
	if (ret) {
		cldd_err("readdir: listing /proc: %s", strerror(-ret));
		goto fail;
	}
	for (i = 0; i < n; i++) {
		/* hidepid=invisible/ptraceable: not listed either. */
		if (ctx->uid != 0 && pid_vis(req, pids[i]) < 0)
			continue;
		snprintf(name, sizeof(name), "%d", (int)pids[i]);
		ret = dirbuf_add(req, b, name, INO_PID_BASE + (uint64_t)pids[i], S_IFREG);
		if (ret)
			goto fail;
	}
done:
	free(pids);
	fi->fh = (uint64_t)(uintptr_t)b;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
	return;
fail:
	free(pids);
	free(b->p);
	free(b);
	reply_err(req, -ret);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirbuf *b = (struct dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	if (off < 0 || (size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Entries never straddle: the kernel parses whole dirents and stops
	 * at the first incomplete one, asking again from its offset. */
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	fuse_reply_buf(req, b->p + off, size);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirbuf *b = (struct dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	free(b->p);
	free(b);
	reply_err(req, 0);
}

/* ---- Process images ------------------------------------------------------ */

/* An open waiting for its freeze. */
struct open_wait {
	fuse_req_t req;
	struct fuse_file_info fi;
	uid_t uid;
};

static void open_pid_done(void *arg, struct cldd_freeze *f, int ret, const char *msg)
{
	struct open_wait *ow = arg;
	fuse_req_t req = ow->req;

	if (ret) {
		cldd_err("open %d (uid %u): %s", f ? (int)f->pid : 0, (unsigned)ow->uid,
			 msg ? msg : strerror(-ret));
		reply_err(req, -ret);
		free(ow);
		return;
	}
	/* Drop cached estimates before the opener's fstat. */
	if (f->refs == 1)
		fuse_lowlevel_notify_inval_inode(fs_of(req)->se, INO_PID_BASE + (uint64_t)f->pid,
						 -1, 0);
	ow->fi.fh = (uint64_t)(uintptr_t)f;
	ow->fi.direct_io = fs_of(req)->direct_io;
	ow->fi.keep_cache = 0; /* a new freeze: drop what an earlier one cached */
	if (fuse_reply_open(req, &ow->fi))
		cldd_freeze_put(f); /* the opener went away (interrupted) */
	free(ow);
}

static void open_pid(fuse_req_t req, pid_t pid, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct open_wait *ow;
	struct cldd_pinfo pi;
	char task[64];
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		cldd_info("open %d for writing refused: images of live processes are read only",
			  (int)pid);
		reply_err(req, EACCES);
		return;
	}
	ret = cldd_proc_info(pid, &pi);
	if (ret) {
		reply_err(req, ret == -ESRCH || ret == -ENOENT ? ENOENT : -ret);
		return;
	}
	/* A process opening its own image waits for this very request:
	 * freezing it would wait for it to stop, forever. */
	snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)pid, (int)ctx->pid);
	if (ctx->pid == pid || access(task, F_OK) == 0) {
		cldd_info("pid %d opened its own image: refused (EDEADLK)", (int)pid);
		reply_err(req, EDEADLK);
		return;
	}
	ret = cldd_proc_may_access(pid, ctx->uid, ctx->gid);
	if (ret) {
		cldd_info("uid %u may not read pid %d: %s", (unsigned)ctx->uid, (int)pid,
			  strerror(-ret));
		reply_err(req, -ret);
		return;
	}
	ow = malloc(sizeof(*ow));
	if (!ow) {
		reply_err(req, ENOMEM);
		return;
	}
	ow->req = req;
	ow->fi = *fi;
	ow->uid = ctx->uid;
	cldd_freeze_get(pid, pi.start_ticks, ctx->uid, open_pid_done, ow);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_in *in;
	int ret;

	if (IS_PID_INO(ino)) {
		open_pid(req, (pid_t)(ino - INO_PID_BASE), fi);
		return;
	}
	if (CLDD_IS_RPID(ino)) {
		cldd_remote_open(req, ino, fi);
		return;
	}
	in = IS_IN_INO(ino) ? cldd_in_by_ino(ino) : NULL;
	if (!in) {
		reply_err(req, ino == INO_ROOT || ino == INO_NODE || CLDD_IS_RDIR(ino) ? EISDIR : ENOENT);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != in->uid) {
		reply_err(req, EACCES);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY && in->state != CLDD_IN_WRITING) {
		reply_err(req, EBUSY);
		return;
	}
	if (fi->flags & O_TRUNC) {
		ret = cldd_in_truncate(in, 0);
		if (ret) {
			reply_err(req, -ret);
			return;
		}
	}
	in->refs++;
	fi->fh = (uint64_t)(uintptr_t)in;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi))
		cldd_in_put(in);
}

/*
 * A read or seek that the freeze's thread serves (a holder's image): the
 * reply is sent when it completes, from a buffer of its own.
 */
struct io_wait {
	fuse_req_t req;
	pid_t pid;
	bool seek;
	char buf[];
};

static void io_done(void *arg, int64_t r)
{
	struct io_wait *w = arg;

	if (r < 0) {
		if (!w->seek)
			cldd_err("read %d: %s", (int)w->pid, strerror((int)-r));
		reply_err(w->req, (int)-r);
	} else if (w->seek) {
		fuse_reply_lseek(w->req, (off_t)r);
	} else {
		fuse_reply_buf(w->req, w->buf, (size_t)r);
	}
	free(w);
}

static ssize_t read_pid(fuse_req_t req, struct cldd_freeze *f, char *buf, size_t size,
			uint64_t off)
{
	struct io_wait *w = NULL;
	ssize_t n;

	if (cldd_freeze_inline(f)) {
		n = cldd_freeze_pread(f, buf, size, off, NULL, NULL);
		goto done;
	}
	n = -ENOMEM;
	w = malloc(sizeof(*w) + size);
	if (!w)
		goto done;
	w->req = req;
	w->pid = f->pid;
	w->seek = false;
	n = cldd_freeze_pread(f, w->buf, size, off, io_done, w);
	if (n == -EINPROGRESS)
		return n;
	free(w);
done:
	if (n < 0)
		cldd_err("read %d at %llu: %s", (int)f->pid, (unsigned long long)off,
			 strerror((int)-n));
	return n;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cldd_fs *fs = fs_of(req);
	ssize_t n;

	if (!fi->fh) {
		reply_err(req, EBADF);
		return;
	}
	if ((IS_PID_INO(ino) || CLDD_IS_RPID(ino)) && cldd_mcopy_eof(ino, fuse_req_ctx(req)->pid)) {
		fuse_reply_buf(req, NULL, 0); /* its copy was a migration, done */
		return;
	}
	if (CLDD_IS_RPID(ino)) {
		cldd_remote_read(req, size, off, fi);
		return;
	}
	if (size > fs->rbuf_cap) {
		char *p = realloc(fs->rbuf, size);

		if (!p) {
			reply_err(req, ENOMEM);
			return;
		}
		fs->rbuf = p;
		fs->rbuf_cap = size;
	}
	if (IS_PID_INO(ino)) {
		struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi->fh;

		n = read_pid(req, f, fs->rbuf, size, (uint64_t)off);
		if (n == -EINPROGRESS)
			return;
	} else {
		struct cldd_in *in = (struct cldd_in *)(uintptr_t)fi->fh;

		n = pread(in->fd, fs->rbuf, size, off);
		if (n < 0)
			n = -errno;
	}
	if (n < 0)
		reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, fs->rbuf, (size_t)n);
}

static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int64_t r;

	if (!fi->fh) {
		reply_err(req, EBADF);
		return;
	}
	if ((IS_PID_INO(ino) || CLDD_IS_RPID(ino)) && cldd_mcopy_eof(ino, fuse_req_ctx(req)->pid)) {
		reply_err(req, ENXIO);
		return;
	}
	if (CLDD_IS_RPID(ino)) {
		cldd_remote_lseek(req, off, whence, fi);
		return;
	}
	if (IS_PID_INO(ino)) {
		struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi->fh;
		struct io_wait *w = NULL;

		if (!cldd_freeze_inline(f)) {
			w = malloc(sizeof(*w));
			if (!w) {
				reply_err(req, ENOMEM);
				return;
			}
			w->req = req;
			w->pid = f->pid;
			w->seek = true;
		}
		r = cldd_freeze_seek(f, off, whence, w ? io_done : NULL, w);
		if (r == -EINPROGRESS)
			return;
		free(w);
	} else {
		struct cldd_in *in = (struct cldd_in *)(uintptr_t)fi->fh;

		r = lseek(in->fd, off, whence);
		if (r < 0)
			r = -errno;
	}
	if (r < 0)
		reply_err(req, (int)-r);
	else
		fuse_reply_lseek(req, (off_t)r);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (CLDD_IS_RPID(ino)) {
		cldd_remote_release(req, fi);
		return;
	}
	if (IS_PID_INO(ino)) {
		struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi->fh;

		/* The last release thaws: back to estimates (not cached yet). */
		if (f->refs == 1)
			fuse_lowlevel_notify_inval_inode(fs_of(req)->se, ino, -1, 0);
		cldd_freeze_put(f);
	} else
		cldd_in_put((struct cldd_in *)(uintptr_t)fi->fh);
	reply_err(req, 0);
}

/* ---- Incoming images ----------------------------------------------------- */

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct cld_err err = { 0 };
	struct cldd_in *in;
	pid_t pid;
	int ret;

	struct cldd_peer *target = NULL;
	bool unnamed = false;

	(void)mode;
	if (CLDD_IS_RDIR(parent)) {
		/* Another node's directory: only a migration's target (the
		 * copy_file_range of cp), see ll_copy_file_range. */
		target = cldd_remote_peer(parent);
		if (!target) {
			reply_err(req, ENOENT);
			return;
		}
		unnamed = true;
	} else if (parent != INO_NODE) {
		reply_err(req, EACCES);
		return;
	} else {
		pid = cldd_parse_pid(name);
		if (cldd_in_by_name(name)) {
			reply_err(req, EEXIST);
			return;
		}
		/* `cp /clondike/A/PID /clondike/here/` where PID is taken
		 * here: a migration may still land, under another pid. */
		unnamed = pid && kill(pid, 0) == 0;
	}
	ret = cldd_in_create(name, ctx->uid, ctx->gid, &in, &err);
	if (ret) {
		cldd_err("create %s: %s", name, cld_err_str(&err));
		reply_err(req, -ret);
		return;
	}
	in->unnamed = unnamed;
	if (target) {
		in->remote = true;
		in->target_slot = target->slot;
	}
	cldd_mcopy_created(in, ctx->pid);
	memset(&e, 0, sizeof(e));
	e.ino = in->ino;
	in_attr(in, &e.attr);
	fi->fh = (uint64_t)(uintptr_t)in;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi))
		cldd_in_put(in);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct cldd_in *in = (struct cldd_in *)(uintptr_t)fi->fh;
	ssize_t n;

	if (!IS_IN_INO(ino)) {
		reply_err(req, EBADF);
		return;
	}
	if (cldd_mcopy_write(req, in, size, (uint64_t)off))
		return;
	if (in->remote) {
		/* Restarting a plain image file on another node is not done
		 * yet; migrating (cp from /clondike/A/PID) is. */
		reply_err(req, EROFS);
		return;
	}
	n = cldd_in_write(in, buf, size, (uint64_t)off);
	if (n < 0)
		reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void flush_done(void *arg, int ret)
{
	reply_err(arg, -ret);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cldd_in *in;

	if (IS_IN_INO(ino)) {
		in = (struct cldd_in *)(uintptr_t)fi->fh;
		/* The writer's close waits for the verdict (off the loop). */
		if (in->dirty || in->state != CLDD_IN_WRITING) {
			cldd_in_finish(in, flush_done, req);
			return;
		}
	}
	reply_err(req, 0);
}

/* mv /clondike/A/PID /clondike/B/[NAME]: a migration (docs/migration.md). */
static void renamed(void *arg, int ret, const struct cldp_migrate_resp *r)
{
	(void)r;
	reply_err(arg, -ret);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_peer *home = NULL, *target = NULL;
	pid_t pid = cldd_parse_pid(name);

	(void)newname;
	/* mv asks RENAME_NOREPLACE: the guest's name is its own anyway. */
	if ((flags & ~RENAME_NOREPLACE) || !pid || parent == newparent ||
	    (parent != INO_NODE && !CLDD_IS_RDIR(parent)) ||
	    (newparent != INO_NODE && !CLDD_IS_RDIR(newparent))) {
		/* Only a process moves, and only to another node. */
		reply_err(req, parent == newparent ? EPERM : EXDEV);
		return;
	}
	if (CLDD_IS_RDIR(parent) && !(home = cldd_remote_peer(parent))) {
		reply_err(req, ENOENT);
		return;
	}
	if (CLDD_IS_RDIR(newparent) && !(target = cldd_remote_peer(newparent))) {
		reply_err(req, ENOENT);
		return;
	}
	cldd_info("uid %u moves %s:%d to %s (mv)", (unsigned)ctx->uid,
		  home ? home->conf.name : fs_of(req)->node, (int)pid,
		  target ? target->conf.name : fs_of(req)->node);
	cldd_migrate_request(home, pid, 0, target, ctx->uid, ctx->gid, renamed, req);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd_in *in;

	if (parent != INO_NODE) {
		reply_err(req, EPERM);
		return;
	}
	in = cldd_in_by_name(name);
	if (!in) {
		reply_err(req, cldd_parse_pid(name) ? EPERM : ENOENT);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != in->uid) {
		reply_err(req, EACCES);
		return;
	}
	cldd_in_unlink(in);
	reply_err(req, 0);
}

/* ---- Extended attributes ------------------------------------------------- */

#define XA "user.clondike."
static const char *const xattr_names[] = { "state", "comm", "cmdline", "exe", "uid",
					   "gid", "pid", "home", "node", "home_pid",
					   "guest_pid" };
#define NR_XATTRS (sizeof(xattr_names) / sizeof(xattr_names[0]))

int cldd_pid_xattr(const char *node, pid_t pid, const char *key, char *v, size_t cap)
{
	struct cldd_mig_info mi;
	struct cldd_freeze *f;
	struct cldd_pinfo pi;
	char path[64];
	ssize_t n;
	int ret;

	ret = cldd_proc_info(pid, &pi);
	if (ret)
		return -ENOENT;
	cldd_migrate_info(pid, pi.start_ticks, &mi);
	if (!strcmp(key, "state")) {
		f = cldd_freeze_find(pid);
		if (mi.role == CLDD_MIG_SHADOW)
			n = snprintf(v, cap, "migrated");
		else if (mi.role == CLDD_MIG_GUEST)
			n = snprintf(v, cap, "guest");
		else if (f && f->start_ticks == pi.start_ticks)
			n = snprintf(v, cap, "frozen");
		else if (pi.state == 'T' || pi.state == 't')
			n = snprintf(v, cap, "stopped");
		else
			n = snprintf(v, cap, "running");
	} else if (!strcmp(key, "comm")) {
		n = snprintf(v, cap, "%s", pi.comm);
	} else if (!strcmp(key, "cmdline")) {
		ssize_t i;

		n = cldd_proc_read(pid, "cmdline", v, cap);
		if (n < 0)
			return (int)n;
		while (n > 0 && !v[n - 1])
			n--;
		for (i = 0; i < n; i++)
			if (!v[i])
				v[i] = ' ';
	} else if (!strcmp(key, "exe")) {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		n = readlink(path, v, cap - 1);
		if (n < 0)
			return -errno;
	} else if (!strcmp(key, "uid")) {
		n = snprintf(v, cap, "%u", (unsigned)pi.uid);
	} else if (!strcmp(key, "gid")) {
		n = snprintf(v, cap, "%u", (unsigned)pi.gid);
	} else if (!strcmp(key, "pid")) {
		n = snprintf(v, cap, "%d", (int)pid);
	} else if (!strcmp(key, "home")) {
		n = snprintf(v, cap, "%s", mi.role == CLDD_MIG_GUEST ? mi.node : node);
	} else if (!strcmp(key, "node")) {
		/* Where it runs: a shadow's process runs on its guest's node. */
		n = snprintf(v, cap, "%s", mi.role == CLDD_MIG_SHADOW ? mi.node : node);
	} else if (!strcmp(key, "home_pid")) {
		n = snprintf(v, cap, "%d", mi.role == CLDD_MIG_GUEST ? (int)mi.pid : (int)pid);
	} else if (!strcmp(key, "guest_pid")) {
		if (mi.role != CLDD_MIG_SHADOW)
			return -ENODATA;
		n = snprintf(v, cap, "%d", (int)mi.pid);
	} else {
		return -ENODATA;
	}
	return (int)(n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n);
}

static int in_xattr(const struct cldd_in *in, const char *key, char *v, size_t cap)
{
	/* In the order of enum cldd_in_state. */
	static const char *const st[] = { "writing", "restarting", "restarted",
					  "failed",  "migrating",  "migrated" };
	int n;

	if (!strcmp(key, "state"))
		n = snprintf(v, cap, "%s", st[in->state]);
	else if (!strcmp(key, "uid"))
		n = snprintf(v, cap, "%u", (unsigned)in->uid);
	else if (!strcmp(key, "pid") && in->state == CLDD_IN_RESTARTED)
		n = snprintf(v, cap, "%d", (int)in->pid);
	else if (!strcmp(key, "error") && in->result)
		n = snprintf(v, cap, "%s", strerror(-in->result));
	else
		return -ENODATA;
	return n;
}

static const char *const node_xattr_names[] = { "state", "role", "addr", "rtt_us", "error" };
#define NR_NODE_XATTRS (sizeof(node_xattr_names) / sizeof(node_xattr_names[0]))

/* Attributes of a node directory: what `clondike nodes` shows. */
static int node_xattr(fuse_ino_t ino, const char *key, char *v, size_t cap)
{
	const struct cld_node_conf *self = cldd_cluster_self();
	struct cldd_peer *p = ino == INO_NODE ? NULL : cldd_remote_peer(ino);
	const struct cld_node_conf *n = p ? &p->conf : self;

	if (ino != INO_NODE && !p)
		return -ENOENT;
	if (!strcmp(key, "state"))
		return snprintf(v, cap, "%s", !p ? "self" : p->conn ? "up" : "down");
	if (!strcmp(key, "role"))
		return snprintf(v, cap, "%s", cld_role_name(n ? n->role : CLD_ROLE_CORE));
	if (!strcmp(key, "addr") && n)
		return snprintf(v, cap, strchr(n->host, ':') ? "[%s]:%u" : "%s:%u", n->host,
				(unsigned int)n->port);
	if (!strcmp(key, "rtt_us") && p && p->conn && p->rtt_ns)
		return snprintf(v, cap, "%llu", (unsigned long long)(p->rtt_ns / 1000));
	if (!strcmp(key, "error") && p && p->error[0] && !p->conn)
		return snprintf(v, cap, "%s", p->error);
	return -ENODATA;
}

void cldd_reply_xattr(fuse_req_t req, const char *v, size_t n, size_t size)
{
	if (!size)
		fuse_reply_xattr(req, n);
	else if (n > size)
		reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, n);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char v[4096];
	int n;

	if (strncmp(name, XA, strlen(XA))) {
		reply_err(req, ENODATA);
		return;
	}
	name += strlen(XA);
	if (CLDD_IS_RPID(ino)) {
		cldd_remote_getxattr(req, ino, name, size);
		return;
	}
	if (ino == INO_ROOT && !strcmp(name, "stats")) {
		const struct cldd_remote_stats *st = cldd_remote_stats();

		/* Remote reads: what came from the cache, what crossed the
		 * network, and how often a reader had to wait. */
		n = snprintf(v, sizeof(v),
			     "chunk_hits=%llu chunk_fetches=%llu bytes_fetched=%llu "
			     "readahead=%llu waits=%llu",
			     (unsigned long long)st->chunk_hits,
			     (unsigned long long)st->chunk_fetches,
			     (unsigned long long)st->bytes_fetched,
			     (unsigned long long)st->readahead, (unsigned long long)st->waits);
	} else if (ino == INO_NODE || CLDD_IS_RDIR(ino)) {
		n = node_xattr(ino, name, v, sizeof(v));
		if (n > (int)sizeof(v) - 1)
			n = (int)sizeof(v) - 1;
	} else if (IS_PID_INO(ino)) {
		int vis = pid_vis(req, (pid_t)(ino - INO_PID_BASE));

		/* hidepid: ENOENT when hidden, EACCES under noaccess. */
		if (vis < 0)
			n = vis;
		else if (vis & CLDD_VIS_REDACT)
			n = -EACCES;
		else
			n = cldd_pid_xattr(fs_of(req)->node, (pid_t)(ino - INO_PID_BASE), name, v,
					   sizeof(v));
	} else if (IS_IN_INO(ino)) {
		struct cldd_in *in = cldd_in_by_ino(ino);

		n = in ? in_xattr(in, name, v, sizeof(v)) : -ENOENT;
	} else {
		n = -ENODATA;
	}
	if (n < 0)
		reply_err(req, -n);
	else
		cldd_reply_xattr(req, v, (size_t)n, size);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char list[512];
	size_t len = 0, i;

	if (ino == INO_ROOT) {
		len = (size_t)snprintf(list, sizeof(list), "%sstats", XA) + 1;
	} else if (ino == INO_NODE || CLDD_IS_RDIR(ino)) {
		char v[512];

		for (i = 0; i < NR_NODE_XATTRS; i++)
			if (node_xattr(ino, node_xattr_names[i], v, sizeof(v)) >= 0)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
							XA, node_xattr_names[i]) + 1;
	} else if (IS_PID_INO(ino) || CLDD_IS_RPID(ino)) {
		int vis = IS_PID_INO(ino) ? pid_vis(req, (pid_t)(ino - INO_PID_BASE)) : 0;

		if (vis < 0 || (vis & CLDD_VIS_REDACT)) {
			reply_err(req, vis < 0 ? -vis : EACCES);
			return;
		}
		for (i = 0; i < NR_XATTRS; i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", XA,
						xattr_names[i]) + 1;
	} else if (IS_IN_INO(ino)) {
		static const char *const in_names[] = { "state", "uid", "pid", "error" };
		struct cldd_in *in = cldd_in_by_ino(ino);
		char v[256];

		/* Only the ones that have a value: getfattr -d reads them all. */
		for (i = 0; in && i < 4; i++)
			if (in_xattr(in, in_names[i], v, sizeof(v)) >= 0)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
							XA, in_names[i]) + 1;
	}
	if (!size)
		fuse_reply_xattr(req, len);
	else if (len > size)
		reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, len);
}

const struct fuse_lowlevel_ops cldd_fs_ops = {
	.init = ll_init,
	.destroy = ll_destroy,
	.lookup = ll_lookup,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.releasedir = ll_releasedir,
	.open = ll_open,
	.read = ll_read,
	.lseek = ll_lseek,
	.release = ll_release,
	.create = ll_create,
	.write = ll_write,
	.flush = ll_flush,
	.copy_file_range = cldd_mcopy_copy_file_range,
	.unlink = ll_unlink,
	.rename = ll_rename,
	.getxattr = ll_getxattr,
	.listxattr = ll_listxattr,
};
