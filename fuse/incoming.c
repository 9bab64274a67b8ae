// SPDX-License-Identifier: MIT
#include "incoming.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ino.h"
#include "log.h"
#include "procs.h"
#include "restart.h"

/* Largest image accepted through the filesystem. */
#define CLDD_IN_MAX_SIZE (64ull << 30)

struct cldd_in_wait {
	cldd_in_cb cb;
	void *arg;
	struct cldd_in_wait *next;
};

/* The images (d->in). */
struct cldd_incoming {
	struct cldd *d;
	struct cldd_in *ins;
	uint64_t seq;
	struct cldd_in_limits lim;
	cldd_in_remote_fn remote;
};

int cldd_in_init(struct cldd *d, const struct cldd_in_limits *l)
{
	struct cldd_incoming *I = calloc(1, sizeof(*I));

	if (!I)
		return -ENOMEM;
	I->d = d;
	I->lim = (struct cldd_in_limits){
		.user_bytes = (uint64_t)CLDD_IN_USER_MB << 20,
		.total_bytes = (uint64_t)CLDD_IN_TOTAL_MB << 20,
		.user_files = CLDD_IN_USER_FILES,
		.total_files = CLDD_IN_TOTAL_FILES,
		.restart_timeout_ms = CLDD_RESTART_TIMEOUT_MS,
	};
	if (l)
		I->lim = *l;
	d->in = I;
	return 0;
}

void cldd_in_set_remote(struct cldd *d, cldd_in_remote_fn fn)
{
	d->in->remote = fn;
}

/* What is buffered (bytes) and being written (files), for uid or all. */
static void usage_of(struct cldd_incoming *I, uid_t uid, bool all, uint64_t *bytes,
		     unsigned int *files)
{
	struct cldd_in *in;

	*bytes = 0;
	*files = 0;
	for (in = I->ins; in; in = in->next) {
		if (!all && in->uid != uid)
			continue;
		*bytes += in->size;
		*files += in->state == CLDD_IN_WRITING;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cldd_in_create(struct cldd *d, const char *name, uid_t uid, gid_t gid, struct cldd_in **out,
		   struct cld_err *err)
{
	struct cldd_incoming *I = d->in;
	const struct cldd_in_limits *lim = &I->lim;
	struct cldd_in *in;
	char tag[64];
	uint64_t bytes;
	unsigned int files;

	if (strlen(name) >= sizeof(in->name))
		return cld_err_set(err, -ENAMETOOLONG, "name too long");
	usage_of(I, uid, false, &bytes, &files);
	if (uid != 0 && files >= lim->user_files)
		return cld_err_set(err, -EDQUOT,
				   "uid %u is writing %u images already (limit %u per user)",
				   (unsigned)uid, files, lim->user_files);
	usage_of(I, uid, true, &bytes, &files);
	if (files >= lim->total_files)
		return cld_err_set(err, -ENFILE, "%u images are being written already (limit %u)",
				   files, lim->total_files);
	in = calloc(1, sizeof(*in));
	if (!in)
		return cld_err_set(err, -ENOMEM, "out of memory");
	snprintf(tag, sizeof(tag), "clondike-in-%.40s", name);
	in->fd = memfd_create(tag, MFD_CLOEXEC);
	if (in->fd < 0) {
		int e = -errno;

		free(in);
		return cld_err_set(err, e, "memfd_create: %s", strerror(-e));
	}
	strcpy(in->name, name);
	in->owner = I;
	in->ino = cldd_ino_in(++I->seq);
	in->uid = uid;
	in->gid = gid;
	in->mtime_ns = now_ns();
	in->refs = 1;
	in->next = I->ins;
	I->ins = in;
	*out = in;
	return 0;
}

struct cldd_in *cldd_in_by_ino(struct cldd *d, uint64_t ino)
{
	struct cldd_in *in;

	for (in = d->in->ins; in; in = in->next)
		if (in->ino == ino)
			return in;
	return NULL;
}

static bool alias_alive(struct cldd_in *in)
{
	struct cldd_pinfo pi;

	return cldd_proc_info(in->owner->d, in->pid, &pi) == 0 && pi.start_ticks == in->start_ticks;
}

static void in_free(struct cldd_in *in);

struct cldd_in *cldd_in_by_name(struct cldd *d, const char *name)
{
	struct cldd_in *in, *next;

	for (in = d->in->ins; in; in = next) {
		next = in->next;
		if (in->unnamed || strcmp(in->name, name))
			continue;
		/* An alias of a process that has exited: forget it. */
		if (in->state == CLDD_IN_RESTARTED && !in->refs && !alias_alive(in)) {
			in_free(in);
			continue;
		}
		return in;
	}
	return NULL;
}

/* May in grow to size?  -EDQUOT past the user's budget, -ENOSPC past the
 * daemon's; root is bound by the second only. */
static int check_room(struct cldd_in *in, uint64_t size)
{
	const struct cldd_in_limits *lim = &in->owner->lim;
	uint64_t bytes, grow = size > in->size ? size - in->size : 0;
	unsigned int files;

	if (!grow)
		return 0;
	usage_of(in->owner, in->uid, false, &bytes, &files);
	if (in->uid != 0 && bytes + grow > lim->user_bytes) {
		cldd_warn("%s: uid %u would buffer %llu MiB (limit %llu MiB per user): EDQUOT",
			  in->name, (unsigned)in->uid, (unsigned long long)((bytes + grow) >> 20),
			  (unsigned long long)(lim->user_bytes >> 20));
		return -EDQUOT;
	}
	usage_of(in->owner, in->uid, true, &bytes, &files);
	if (bytes + grow > lim->total_bytes) {
		cldd_warn("%s: images being written would take %llu MiB (limit %llu MiB): ENOSPC",
			  in->name, (unsigned long long)((bytes + grow) >> 20),
			  (unsigned long long)(lim->total_bytes >> 20));
		return -ENOSPC;
	}
	return 0;
}

ssize_t cldd_in_write(struct cldd_in *in, const void *buf, size_t len, uint64_t off)
{
	ssize_t n;
	int ret;

	if (in->state != CLDD_IN_WRITING)
		return -EBADF;
	if (off + len > CLDD_IN_MAX_SIZE)
		return -EFBIG;
	ret = check_room(in, off + len);
	if (ret)
		return ret;
	n = pwrite(in->fd, buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	if (off + (uint64_t)n > in->size)
		in->size = off + (uint64_t)n;
	in->dirty = true;
	in->mtime_ns = now_ns();
	return n;
}

int cldd_in_truncate(struct cldd_in *in, uint64_t size)
{
	int ret;

	/* cp sets the size of its copy at the end: nothing to do. */
	if (in->state == CLDD_IN_MIGRATED)
		return 0;
	if (in->state != CLDD_IN_WRITING)
		return -EBADF;
	if (size > CLDD_IN_MAX_SIZE)
		return -EFBIG;
	ret = check_room(in, size);
	if (ret)
		return ret;
	if (ftruncate(in->fd, (off_t)size) < 0)
		return -errno;
	in->size = size;
	in->dirty = true;
	return 0;
}

static void in_release_buffer(struct cldd_in *in)
{
	/* The bytes are no longer needed once restarted or refused. */
	if (in->fd >= 0)
		close(in->fd);
	in->fd = -1;
	in->size = 0;
}

static void restarted(void *arg, const struct cldd_restart_result *res)
{
	struct cldd_in *in = arg;
	struct cldd_in_wait *w = in->waiters, *next;
	struct cldd_pinfo pi;

	in->waiters = NULL;
	in->result = res->ret;
	in->state = res->ret ? CLDD_IN_FAILED : CLDD_IN_RESTARTED;
	if (res->ret) {
		cldd_err("refused image %s (uid %u): %s", in->name, (unsigned)in->uid, res->msg);
	} else if (in->remote) {
		in->pid = res->pid; /* there: put.c said where */
	} else {
		in->pid = res->pid;
		if (cldd_proc_info(in->owner->d, res->pid, &pi) == 0)
			in->start_ticks = pi.start_ticks;
		cldd_info("%s: restarted as pid %d%s (uid %u)", in->name, (int)res->pid,
			  res->same_pid ? "" : " (original pid taken or not ours to choose)",
			  (unsigned)in->uid);
	}
	in_release_buffer(in);
	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, in->result);
		free(w);
	}
	cldd_in_put(in); /* the restart's own reference */
}

void cldd_in_finish(struct cldd_in *in, cldd_in_cb cb, void *arg)
{
	struct cldd_in_wait *w;
	int ret;

	if (in->state == CLDD_IN_RESTARTED || in->state == CLDD_IN_FAILED ||
	    in->state == CLDD_IN_MIGRATED) {
		cb(arg, in->result);
		return;
	}
	if (in->state == CLDD_IN_MIGRATING) {
		cb(arg, -EBUSY); /* its writer is still waiting for the commit */
		return;
	}
	w = malloc(sizeof(*w));
	if (!w) {
		cb(arg, -ENOMEM);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	w->next = in->waiters;
	in->waiters = w;
	if (in->state == CLDD_IN_RESTARTING)
		return;
	in->state = CLDD_IN_RESTARTING;
	in->refs++;
	if (in->remote)
		ret = in->owner->remote ? in->owner->remote(in->owner->d, in, restarted, in)
					: -EROFS;
	else
		ret = cldd_restart_start(
		in->owner->d,
		&(struct cldd_restart_req){ .image_fd = in->fd,
					    .uid = in->uid,
					    .gid = in->gid,
					    .timeout_ms = in->owner->lim.restart_timeout_ms },
		restarted, in);
	if (ret) {
		struct cldd_restart_result res = { .ret = ret };

		snprintf(res.msg, sizeof(res.msg), "cannot start the restorer: %s",
			 strerror(-ret));
		restarted(in, &res);
	}
}

static void in_free(struct cldd_in *in)
{
	struct cldd_in **pp;

	for (pp = &in->owner->ins; *pp; pp = &(*pp)->next)
		if (*pp == in) {
			*pp = in->next;
			break;
		}
	if (in->fd >= 0)
		close(in->fd);
	free(in);
}

void cldd_in_put(struct cldd_in *in)
{
	if (!in || !in->refs || --in->refs)
		return;
	/* A file written but never closed through flush (or a writer that
	 * gave up): refuse rather than start something half written. */
	if (in->state == CLDD_IN_WRITING) {
		in->state = CLDD_IN_FAILED;
		in->result = -ECANCELED;
	}
	if (in->state != CLDD_IN_RESTARTED || in->unnamed)
		in_free(in);
}

void cldd_in_unlink(struct cldd_in *in)
{
	if (in->refs)
		in->name[0] = 0;
	else
		in_free(in);
}
