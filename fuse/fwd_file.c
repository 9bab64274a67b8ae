// SPDX-License-Identifier: MIT
#include "fwd_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "peer.h"
#include "procs.h"

struct file_job {
	uv_work_t w;
	struct cldd_later l;
	struct cldp_file_req q;
	struct cldd_pinfo pi; /* the process's owner, for TRUNC's stat */
	int fd;		      /* ours: the process's open file */
	uint8_t *data;	      /* WRITE: the bytes */
	struct cldd_out *o;   /* the reply, when it has a payload */
	uint8_t *out;	      /* its payload */
	ssize_t ret;	      /* bytes, or a negative errno */
};

static void fill_stat(int fd, const struct cldd_pinfo *pi, const struct stat *st,
		      struct cldp_file_stat *fs)
{
	int fl = fcntl(fd, F_GETFL);

	memset(fs, 0, sizeof(*fs));
	fs->size = (uint64_t)st->st_size;
	fs->blocks = (uint64_t)st->st_blocks;
	fs->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec;
	fs->ctime_ns = (uint64_t)st->st_ctim.tv_sec * 1000000000ull + (uint64_t)st->st_ctim.tv_nsec;
	fs->uid = pi->uid;
	fs->gid = pi->gid;
	fs->flags = fl < 0 ? 0 : (uint32_t)fl;
}

/*
 * The process's fd q->fd, for q->cred: root, or who may read its image
 * (the ptrace rule: /proc/PID/fd/N would give them the same).  Only a
 * regular file: everything else is forwarded by relaying (fdio.c).
 */
static int get_file(struct cldd *d, const struct cldp_file_req *q, struct cldd_pinfo *pi,
		    struct stat *st)
{
	int pidfd, fd, ret;

	if (q->pid <= 0 || q->fd < 0)
		return -ENOENT;
	ret = cldd_proc_info(d, q->pid, pi);
	if (ret)
		return ret == -ESRCH ? -ENOENT : ret;
	if (q->cred.uid != 0) {
		ret = cldd_proc_may_access(q->pid, q->cred.uid, q->cred.gid);
		if (ret)
			return ret == -ESRCH ? -ENOENT : ret;
	}
	pidfd = (int)syscall(SYS_pidfd_open, q->pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, q->fd, 0);
	ret = fd < 0 ? (errno == EBADF ? -ENOENT : -errno) : 0;
	close(pidfd);
	if (ret)
		return ret;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* ---- On the thread pool ------------------------------------------------------ */

static void file_work(uv_work_t *w)
{
	struct file_job *j = w->data;
	ssize_t r;

	switch (j->q.op) {
	case CLDP_FILE_READ:
		r = pread(j->fd, j->out, j->q.len, (off_t)j->q.off);
		break;
	case CLDP_FILE_WRITE:
		/* With O_APPEND the kernel appends, whatever off: as at home. */
		r = pwrite(j->fd, j->data, j->q.len, (off_t)j->q.off);
		break;
	case CLDP_FILE_TRUNC:
		r = ftruncate(j->fd, (off_t)j->q.off);
		break;
	default: /* SYNC */
		r = j->q.len ? fdatasync(j->fd) : fsync(j->fd);
		break;
	}
	j->ret = r < 0 ? -errno : r;
}

/* The reply's payload, once the work is done: its length. */
static size_t reply_payload(struct file_job *j)
{
	struct cldp_file_stat fs;
	struct stat st;
	uint64_t n;

	switch (j->q.op) {
	case CLDP_FILE_READ:
		return (size_t)j->ret;
	case CLDP_FILE_WRITE:
		n = (uint64_t)j->ret;
		memcpy(j->out, &n, sizeof(n));
		return sizeof(n);
	case CLDP_FILE_TRUNC:
		if (fstat(j->fd, &st) < 0) {
			j->ret = -errno;
			return 0;
		}
		fill_stat(j->fd, &j->pi, &st, &fs);
		memcpy(j->out, &fs, sizeof(fs));
		return sizeof(fs);
	default:
		return 0;
	}
}

static void job_free(struct file_job *j)
{
	if (j->o)
		cldd_out_free(j->o);
	free(j->data);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

static void file_done(uv_work_t *w, int status)
{
	struct file_job *j = w->data;
	struct cldd_conn *c = cldd_later_conn(&j->l);
	size_t len = 0;

	if (status)
		j->ret = status;
	if (j->ret >= 0)
		len = reply_payload(j);
	if (c && j->o && j->ret >= 0) {
		cldd_out_reply(c, j->o, CLDP_FILE, j->l.id, 0, len);
		j->o = NULL;
	} else if (c) {
		cldd_reply_status(c, CLDP_FILE, j->l.id, j->ret < 0 ? (int32_t)j->ret : 0);
	}
	job_free(j);
}

/* ---- On the loop ------------------------------------------------------------- */

static size_t reply_cap(const struct cldp_file_req *q)
{
	switch (q->op) {
	case CLDP_FILE_READ:
		return q->len;
	case CLDP_FILE_WRITE:
		return sizeof(uint64_t);
	case CLDP_FILE_STAT:
	case CLDP_FILE_TRUNC:
		return sizeof(struct cldp_file_stat);
	default:
		return 0;
	}
}

void cldd_file_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		     const uint8_t *p)
{
	struct file_job *j = calloc(1, sizeof(*j));
	struct cldp_file_stat fs;
	struct stat st;
	size_t cap;
	int ret;

	if (!j) {
		cldd_reply_status(c, h->type, h->id, -ENOMEM);
		return;
	}
	memcpy(&j->q, p, sizeof(j->q));
	j->fd = get_file(d, &j->q, &j->pi, &st);
	if (j->fd < 0) {
		ret = j->fd;
		goto fail;
	}
	cap = reply_cap(&j->q);
	ret = -ENOMEM;
	if (cap && !(j->out = cldd_out_new(cap, &j->o)))
		goto fail;
	if (j->q.op == CLDP_FILE_STAT) {
		fill_stat(j->fd, &j->pi, &st, &fs);
		memcpy(j->out, &fs, sizeof(fs));
		cldd_out_reply(c, j->o, h->type, h->id, 0, sizeof(fs));
		j->o = NULL;
		job_free(j);
		return;
	}
	if (j->q.op == CLDP_FILE_WRITE) {
		j->data = malloc(j->q.len ? j->q.len : 1);
		if (!j->data)
			goto fail;
		memcpy(j->data, p + sizeof(j->q), j->q.len);
	}
	cldd_later_init(&j->l, c, h);
	j->w.data = j;
	ret = uv_queue_work(d->loop, &j->w, file_work, file_done);
	if (ret) {
		cldd_err("forwarded file %d of pid %d: cannot queue its %u: %s", (int)j->q.fd,
			 (int)j->q.pid, j->q.op, uv_strerror(ret));
		ret = -EIO;
		goto fail;
	}
	return;
fail:
	cldd_reply_status(c, h->type, h->id, ret);
	job_free(j);
}
