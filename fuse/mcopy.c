// SPDX-License-Identifier: MIT
#include "mcopy.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frozen.h"
#include "log.h"
#include "migrate.h"
#include "peer.h"
#include "procs.h"
#include "remote.h"

/* Copies that committed: their copier reads the source as ended. */
struct done {
	fuse_ino_t src_ino;
	pid_t caller;
	struct done *next;
};

/* d->mcopy. */
struct cldd_mcopy {
	struct done *dones;
};

int cldd_mcopy_init(struct cldd *d)
{
	d->mcopy = calloc(1, sizeof(*d->mcopy));
	return d->mcopy ? 0 : -ENOMEM;
}

static fuse_ino_t src_ino(bool remote, unsigned int slot, pid_t pid)
{
	return remote ? cldd_ino_rpid(slot, pid) : cldd_ino_pid(pid);
}

static void done_add(struct cldd_mcopy *mc, fuse_ino_t ino, pid_t caller)
{
	struct done **pp = &mc->dones, *dn;

	/* Forget copiers that are gone. */
	while ((dn = *pp)) {
		if (kill(dn->caller, 0) < 0 && errno == ESRCH) {
			*pp = dn->next;
			free(dn);
		} else {
			pp = &dn->next;
		}
	}
	dn = malloc(sizeof(*dn));
	if (!dn)
		return;
	dn->src_ino = ino;
	dn->caller = caller;
	dn->next = mc->dones;
	mc->dones = dn;
}

bool cldd_mcopy_eof(struct cldd *d, fuse_ino_t ino, pid_t caller)
{
	struct done *dn;

	for (dn = d->mcopy->dones; dn; dn = dn->next)
		if (dn->src_ino == ino && dn->caller == caller)
			return true;
	return false;
}

/* "<mnt>/<node>/<pid>" into node and pid. */
static bool parse_image_path(const char *link, const char *mnt, char *node, size_t cap,
			     pid_t *pid)
{
	size_t l = strlen(mnt);
	const char *rest, *slash;

	if (strncmp(link, mnt, l) || link[l] != '/')
		return false;
	rest = link + l + 1;
	slash = strchr(rest, '/');
	if (!slash || (size_t)(slash - rest) >= cap)
		return false;
	memcpy(node, rest, (size_t)(slash - rest));
	node[slash - rest] = 0;
	*pid = cldd_parse_pid(slash + 1);
	return *pid > 0;
}

void cldd_mcopy_created(struct cldd *d, struct cldd_in *in, pid_t caller)
{
	const struct cld_node_conf *self = cldd_cluster_self(d->cluster);
	const char *mnt = cldd_migrate_mountpoint(d);
	char dir[64], path[320], link[PATH_MAX], node[64];
	struct dirent *e;
	int found = 0;
	DIR *dir_p;

	if (!self || !caller)
		return;
	/* readlink only: a stat would come back to this very daemon. */
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)caller);
	dir_p = opendir(dir);
	if (!dir_p)
		return;
	while ((e = readdir(dir_p))) {
		ssize_t n;
		pid_t pid;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!parse_image_path(link, mnt, node, sizeof(node), &pid))
			continue;
		if (!strcmp(node, self->name)) {
			in->src.remote = false;
		} else {
			struct cldd_peer *p = cldd_peer_by_name(d->cluster, node);

			if (!p)
				continue;
			in->src.remote = true;
			in->src.slot = p->slot;
		}
		in->src.pid = pid;
		found++;
	}
	closedir(dir_p);
	/* Two images open: which one is being copied is not ours to guess. */
	in->src.set = found == 1;
	in->src.caller = caller;
}

struct copy_wait {
	fuse_req_t req;
	struct cldd_in *in;
	size_t count; /* answered on success */
	fuse_ino_t src_ino;
	pid_t caller;
};

static void migrated(void *arg, int ret, const struct cldp_migrate_resp *r)
{
	struct copy_wait *cw = arg;
	struct cldd_in *in = cw->in;

	if (ret) {
		in->state = CLDD_IN_FAILED;
		in->result = ret;
		cldd_reply_err(cw->req, -ret);
	} else {
		in->state = CLDD_IN_MIGRATED;
		in->pid = r->pid; /* here: the name is an alias of the guest */
		done_add(cldd_of(cw->req)->mcopy, cw->src_ino, cw->caller);
		fuse_reply_write(cw->req, cw->count);
	}
	cldd_in_put(in);
	free(cw);
}

static void start(fuse_req_t req, struct cldd_in *in, struct cldd_peer *home, pid_t pid,
		  uint64_t start_ticks, size_t count)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cldd *d = cldd_of(req);
	struct cldd_peer *target = NULL;
	struct copy_wait *cw;

	if (in->remote) {
		target = cldd_peer_by_slot(d->cluster, in->target_slot);
		if (!target) {
			cldd_reply_err(req, ENOENT);
			return;
		}
	}
	if (target == home) {
		cldd_reply_err(req, EINVAL); /* already there */
		return;
	}
	cw = calloc(1, sizeof(*cw));
	if (!cw) {
		cldd_reply_err(req, ENOMEM);
		return;
	}
	cw->req = req;
	cw->in = in;
	cw->count = count;
	cw->src_ino = src_ino(home != NULL, home ? home->slot : 0, pid);
	cw->caller = ctx->pid;
	in->state = CLDD_IN_MIGRATING;
	in->refs++;
	cldd_info("uid %u migrates %s:%d to %s", (unsigned)ctx->uid,
		  home ? home->conf.name : cldd_cluster_self(d->cluster)->name, (int)pid,
		  target ? target->conf.name : cldd_cluster_self(d->cluster)->name);
	cldd_migrate_request(d, home, pid, start_ticks, target, ctx->uid, ctx->gid, migrated, cw);
}

bool cldd_mcopy_write(fuse_req_t req, struct cldd_in *in, size_t size, uint64_t off)
{
	struct cldd_peer *home = NULL;
	uint64_t start_ticks = 0;

	if (in->state == CLDD_IN_MIGRATED) {
		fuse_reply_write(req, size);
		return true;
	}
	if (!in->src.set || in->state != CLDD_IN_WRITING || off || in->size ||
	    fuse_req_ctx(req)->pid != in->src.caller)
		return false;
	if (in->src.remote) {
		home = cldd_peer_by_slot(cldd_of(req)->cluster, in->src.slot);
		if (!home) {
			cldd_reply_err(req, EHOSTDOWN);
			return true;
		}
	} else {
		struct cldd_freeze *f = cldd_freeze_find(cldd_of(req), in->src.pid);

		if (f)
			start_ticks = f->start_ticks; /* the one cp has open */
	}
	start(req, in, home, in->src.pid, start_ticks, size);
	return true;
}

void cldd_mcopy_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct cldd_in *in = cldd_in_by_ino(cldd_of(req), ino_out);
	struct cldd_peer *home = NULL;
	uint64_t start_ticks, size;
	pid_t pid;
	struct cldd_ino src;
	size_t count;

	(void)off_out;
	(void)flags;
	cldd_ino_decode(ino_in, &src);
	if (src.kind == CLDD_K_PID) {
		struct cldd_freeze *f = (struct cldd_freeze *)(uintptr_t)fi_in->fh;

		pid = f->pid;
		start_ticks = f->start_ticks;
		size = f->fz->size;
	} else if (src.kind != CLDD_K_RPID ||
		   cldd_remote_source(fi_in, &home, &pid, &start_ticks, &size)) {
		cldd_reply_err(req, EXDEV); /* not a process: let cp copy bytes */
		return;
	}
	if (!in || (struct cldd_in *)(uintptr_t)fi_out->fh != in ||
	    (in->state != CLDD_IN_WRITING && in->state != CLDD_IN_MIGRATED) ||
	    (in->state == CLDD_IN_WRITING && in->size)) {
		cldd_reply_err(req, EXDEV);
		return;
	}
	count = (uint64_t)off_in >= size		  ? 0
		: len < size - (uint64_t)off_in ? len
						  : (size_t)(size - (uint64_t)off_in);
	if (in->state == CLDD_IN_MIGRATED) {
		fuse_reply_write(req, count);
		return;
	}
	start(req, in, home, pid, start_ticks, count);
}
