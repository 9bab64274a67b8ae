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

#include "clondike/image_read.h"
#include "clondike/restore.h"
#include "log.h"
#include "procs.h"

#define CLDD_INO_IN_BASE (2ull << 32)

/* Largest image accepted through the filesystem. */
#define CLDD_IN_MAX_SIZE (64ull << 30)

static struct cldd_in *ins;
static uint64_t in_seq;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cldd_in_create(const char *name, uid_t uid, gid_t gid, struct cldd_in **out,
		   struct cld_err *err)
{
	struct cldd_in *in;
	char tag[64];

	if (strlen(name) >= sizeof(in->name))
		return cld_err_set(err, -ENAMETOOLONG, "name too long");
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
	in->ino = CLDD_INO_IN_BASE + ++in_seq;
	in->uid = uid;
	in->gid = gid;
	in->mtime_ns = now_ns();
	in->refs = 1;
	in->next = ins;
	ins = in;
	*out = in;
	return 0;
}

struct cldd_in *cldd_in_by_ino(uint64_t ino)
{
	struct cldd_in *in;

	for (in = ins; in; in = in->next)
		if (in->ino == ino)
			return in;
	return NULL;
}

static bool alias_alive(struct cldd_in *in)
{
	struct cldd_pinfo pi;

	return cldd_proc_info(in->pid, &pi) == 0 && pi.start_ticks == in->start_ticks;
}

static void in_free(struct cldd_in *in);

struct cldd_in *cldd_in_by_name(const char *name)
{
	struct cldd_in *in, *next;

	for (in = ins; in; in = next) {
		next = in->next;
		if (strcmp(in->name, name))
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

ssize_t cldd_in_write(struct cldd_in *in, const void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	if (in->state != CLDD_IN_WRITING)
		return -EBADF;
	if (off + len > CLDD_IN_MAX_SIZE)
		return -EFBIG;
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
	if (in->state != CLDD_IN_WRITING)
		return -EBADF;
	if (size > CLDD_IN_MAX_SIZE)
		return -EFBIG;
	if (ftruncate(in->fd, (off_t)size) < 0)
		return -errno;
	in->size = size;
	in->dirty = true;
	return 0;
}

static int restart(struct cldd_in *in, struct cld_rimage *ri, struct cld_err *err)
{
	struct cld_restore_result res;
	struct cld_restore_opts o;
	struct cldd_pinfo pi;
	int ret;

	cld_restore_opts_init(&o);
	o.flags = CLD_RST_DETACH;
	o.image_fd = in->fd;
	o.caller_uid = in->uid;
	o.caller_gid = in->gid;
	o.tty_fd = -1;
	ret = cld_restore(ri, &o, &res, err);
	if (ret)
		return ret;
	in->pid = res.pid;
	if (cldd_proc_info(res.pid, &pi) == 0)
		in->start_ticks = pi.start_ticks;
	cldd_info("%s: restarted as pid %d%s (uid %u)", in->name, (int)res.pid,
		  res.same_pid ? "" : " (original pid taken)", (unsigned)in->uid);
	return 0;
}

int cldd_in_finish(struct cldd_in *in, struct cld_err *err)
{
	struct cld_rimage *ri = NULL;
	uint64_t nr = 0;
	int ret;

	if (in->state != CLDD_IN_WRITING)
		return in->result ? cld_err_set(err, in->result, "%s: restart already failed",
						in->name) : 0;
	ret = cld_rimage_open_fd(in->fd, &ri, err);
	if (ret)
		goto out;
	ret = cld_rimage_verify(ri, &nr, err);
	if (ret)
		goto out;
	ret = restart(in, ri, err);
out:
	cld_rimage_free(ri);
	in->result = ret;
	in->state = ret ? CLDD_IN_FAILED : CLDD_IN_RESTARTED;
	if (ret) {
		cld_err_prefix(err, "%s (uid %u)", in->name, (unsigned)in->uid);
		cldd_err("refused image %s", cld_err_str(err));
	}
	/* The bytes are no longer needed once restarted or refused. */
	if (ftruncate(in->fd, 0) < 0)
		cldd_warn("%s: cannot drop buffer: %s", in->name, strerror(errno));
	return ret;
}

static void in_free(struct cldd_in *in)
{
	struct cldd_in **pp;

	for (pp = &ins; *pp; pp = &(*pp)->next)
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
	if (in->state != CLDD_IN_RESTARTED)
		in_free(in);
}

void cldd_in_unlink(struct cldd_in *in)
{
	if (in->refs)
		in->name[0] = 0;
	else
		in_free(in);
}
