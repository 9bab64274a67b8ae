/* SPDX-License-Identifier: MIT */
/*
 * The pairs a migration leaves (docs/shadow.md): at home the shadow, on the
 * target the guest.  Signals sent to the shadow go to the guest (SIGNAL);
 * the guest's stops and its end come back to the shadow (GUEST), and its
 * fds that are home's are relayed (fdio.h).  A shadow whose guest's node
 * stays unreachable, or no longer knows the guest, is killed after a grace
 * period: never a copy that hangs.  A guest's end is kept until its home
 * has heard of it.
 */
#ifndef CLDD_PAIRS_H
#define CLDD_PAIRS_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "clondike/proto.h"

#include "cldd.h"

struct cldd_chan;
struct cldd_conn;
struct cldd_freeze;
struct cldd_peer;

/* How long a shadow waits for its guest's node to come back, by default. */
#define CLDD_GUEST_LOST_MS 30000u

/* d->pairs, its timer on d->loop. */
int cldd_pairs_init(struct cldd *d, unsigned int lost_ms);

/* Home, at the commit point: f (a reference it keeps) becomes the shadow of
 * guest on node; chans (its relayed fds, fds[i] the fd of chans[i]) start
 * moving bytes. */
void cldd_shadow_add(struct cldd *d, pid_t pid, struct cldd_freeze *f, const char *node,
		     pid_t guest, struct cldd_chan **chans, const int *fds, unsigned int nr);
bool cldd_shadow_exists(struct cldd *d, pid_t pid);
/* Its guest is gone without a word (never ran): the shadow is killed. */
void cldd_shadow_lose(struct cldd *d, pid_t pid, const char *why);
/* The shadows here (up to max pids, their number), and one's forwarded fds
 * (up to CLDP_FWD_MAX, their number, or -ESRCH), for .fwd/ (fs_fwd.c). */
unsigned int cldd_shadow_pids(struct cldd *d, pid_t *pids, unsigned int max);
int cldd_shadow_fds(struct cldd *d, pid_t pid, int *fds);
/* Target, once home has the answer: pid is home_pid of home. */
void cldd_guest_add(struct cldd *d, pid_t pid, const char *home, pid_t home_pid,
		    struct cldd_chan **chans, unsigned int nr);

/* A peer's connection came up or went down. */
void cldd_pairs_peer(struct cldd *d, struct cldd_peer *p, bool up);

/* Messages (serve.c): a signal for a guest here, or "is it yours?"
 * (signal 0); a guest's stop or end, for its shadow here. */
void cldd_pairs_serve_signal(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			     const uint8_t *p);
void cldd_pairs_serve_guest(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			    const uint8_t *p);

/* What a local pid is to migration, for its xattrs and listing. */
struct cldd_mig_info {
	enum { CLDD_MIG_NONE, CLDD_MIG_SHADOW, CLDD_MIG_GUEST } role;
	char node[64]; /* shadow: where the guest runs; guest: its home */
	pid_t pid;     /* the other side's pid */
};
void cldd_migrate_info(struct cldd *d, pid_t pid, unsigned long long start_ticks,
		       struct cldd_mig_info *mi);

#endif /* CLDD_PAIRS_H */
