/* SPDX-License-Identifier: MIT */
/*
 * Migration (docs/migration.md): `cp /clondike/A/PID /clondike/B/` arrives
 * at the caller's node as one COPY_FILE_RANGE.  The caller asks the home
 * node A (MIGRATE); A freezes PID and asks B to restore it (RESTORE); B
 * restores it lazily from /clondike/A/PID through its own mount, in a
 * worker acting as the user; once the guest runs on B, A keeps the
 * original stopped for good as its shadow (it dies with A's daemon, never
 * runs on) and the copy returns: that is the commit point.
 *
 * Roles: cldd_migrate_request (the caller), cldd_migrate_home (A),
 * cldd_migrate_restore (B).  All on the loop thread.
 */
#ifndef CLDD_MIGRATE_H
#define CLDD_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "clondike/proto.h"

#include "cldd.h"

struct cldd_conn;
struct cldd_peer;

/* How long the target may take to restore; the home's request waits a
 * little longer, the caller's longer still. */
#define CLDD_MIGRATE_RESTORE_MS 30000u

/* d->mig: mountpoint is where our own mount is (a target restores from
 * home's image through it). */
int cldd_migrate_init(struct cldd *d, const char *mountpoint);
const char *cldd_migrate_mountpoint(struct cldd *d);

/* Completion: ret 0 and the guest's pid and details, or a negative errno. */
typedef void (*cldd_migrate_cb)(void *arg, int ret, const struct cldp_migrate_resp *r);

/*
 * The caller's side: move pid of node home (NULL: this node) to node
 * target (NULL: this node), for uid/gid.
 */
void cldd_migrate_request(struct cldd *d, struct cldd_peer *home, pid_t pid, uint64_t start_ticks,
			  struct cldd_peer *target, uid_t uid, gid_t gid, cldd_migrate_cb cb,
			  void *arg);

/* Requests from peers (serve.c). */
void cldd_migrate_serve_home(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			     const uint8_t *p);
void cldd_migrate_serve_restore(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
				const uint8_t *p);

#endif /* CLDD_MIGRATE_H */
