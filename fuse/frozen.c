// SPDX-License-Identifier: MIT
#include "frozen.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct cldd_freeze *freezes;
static uint64_t next_id;

struct cldd_freeze *cldd_freeze_find(pid_t pid)
{
	struct cldd_freeze *f;

	for (f = freezes; f; f = f->next)
		if (f->pid == pid)
			return f;
	return NULL;
}

static int do_freeze(pid_t pid, struct cld_frozen **fz, struct cld_err *err)
{
	int ret = cld_freeze(pid, 0, fz, err);

	/* Held by `clondike freeze`: talk to its holder instead. */
	if (ret == -EBUSY && cld_hold_connect(pid, fz, NULL) == 0) {
		cld_err_clear(err);
		ret = 0;
	}
	if (ret)
		return ret;
	/* Exact size and data now: an open image reports exact values. */
	ret = cld_frozen_prepare(*fz, err);
	if (ret) {
		cld_frozen_free(*fz);
		*fz = NULL;
	}
	return ret;
}

ssize_t cldd_freeze_pread(struct cldd_freeze *f, void *buf, size_t len, uint64_t off)
{
	return cld_frozen_pread(f->fz, buf, len, off);
}

int64_t cldd_freeze_seek(struct cldd_freeze *f, int64_t off, int whence)
{
	return cld_frozen_seek(f->fz, off, whence);
}

int cldd_freeze_get(pid_t pid, unsigned long long start_ticks, struct cldd_freeze **out,
		    struct cld_err *err)
{
	struct cldd_freeze *f = cldd_freeze_find(pid);
	struct timespec ts;
	int ret;

	if (f && f->start_ticks == start_ticks) {
		f->refs++;
		*out = f;
		return 0;
	}
	if (f)
		return cld_err_set(err, -EBUSY, "pid %d: an earlier process with this pid is still held",
				   (int)pid);
	if (pid == getpid())
		return cld_err_set(err, -EDEADLK, "pid %d is clondiked itself", (int)pid);
	f = calloc(1, sizeof(*f));
	if (!f)
		return cld_err_set(err, -ENOMEM, "out of memory");
	ret = do_freeze(pid, &f->fz, err);
	if (ret) {
		cld_err_prefix(err, "freeze %d", (int)pid);
		goto fail;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	f->frozen_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	f->pid = pid;
	f->start_ticks = start_ticks;
	f->refs = 1;
	/* Seeded by the clock: ids stay unique across daemon restarts. */
	if (!next_id)
		next_id = f->frozen_ns;
	f->id = next_id++;
	f->next = freezes;
	freezes = f;
	cldd_dbg("froze %d (%s): image %llu bytes", (int)pid, f->fz->backend,
		 (unsigned long long)f->fz->size);
	*out = f;
	return 0;
fail:
	free(f);
	return ret;
}

static void unlink_freeze(struct cldd_freeze *f)
{
	struct cldd_freeze **pp;

	for (pp = &freezes; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			return;
		}
}

void cldd_freeze_put(struct cldd_freeze *f)
{
	if (!f || --f->refs)
		return;
	unlink_freeze(f);
	cld_frozen_free(f->fz);
	cldd_dbg("thawed %d", (int)f->pid);
	free(f);
}

void cldd_freeze_thaw_all(void)
{
	while (freezes) {
		freezes->refs = 1;
		cldd_freeze_put(freezes);
	}
}
