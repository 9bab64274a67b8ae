/* SPDX-License-Identifier: MIT */
/*
 * The commit of a migration, on both sides (docs/migration.md, "The
 * commit"):
 *  - the target holds its restored guest stopped (cldd_commit_hold) until
 *    the home's COMMIT; when none comes in time it asks the home (QUERY),
 *    and it kills the guest when the home says "aborted" or stays silent
 *    past guest-lost-ms;
 *  - the home sends COMMIT once the original is its shadow
 *    (cldd_commit_send), and answers QUERY from its shadows or, when it is
 *    not the daemon that decided (restarted since), from whether the
 *    original still exists.
 * So a guest runs only once its original is a shadow (or gone with the
 * daemon that made it one), and an original that runs on never has a
 * guest: there are never two.
 */
#ifndef CLDD_COMMIT_H
#define CLDD_COMMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cldd.h"
#include "fdio.h"
#include "peer.h"
#include "restart.h"

/* Faults for the tests (clondiked --limit test-...=1). */
#define CLDD_FAULT_DROP_COMMIT 0x1u /* the home never sends COMMIT */
#define CLDD_FAULT_LOSE_READY 0x2u /* the home takes the target's answer as lost */

/* d->commit; lost_ms: how long a guest is held at most. */
int cldd_commit_init(struct cldd *d, unsigned int lost_ms, unsigned int faults);
/* This daemon's epoch (random, one per start), for RESTORE. */
uint64_t cldd_commit_epoch(struct cldd *d);
bool cldd_commit_fault(struct cldd *d, unsigned int fault);

/*
 * Target: guest pid, restored for home:home_pid and held (h), waits for
 * the commit.  chans are its relays (fdio.h): handed to the guest's pair
 * when it runs, dropped when it is killed.
 */
void cldd_commit_hold(struct cldd *d, struct cldd_restart *h, pid_t pid, struct cldd_peer *home,
		      pid_t home_pid, uint64_t start_ticks, uint64_t epoch,
		      struct cldd_chan **chans, unsigned int nr);

/* Home: the original of guest (on target) is its shadow; tell the target.
 * cb gets 0, -ESRCH (the target has no such guest held) or the call's
 * error, on the loop, never within this call. */
typedef void (*cldd_commit_cb)(void *arg, int status);
void cldd_commit_send(struct cldd *d, struct cldd_peer *target, pid_t home_pid, pid_t guest,
		      uint64_t start_ticks, cldd_commit_cb cb, void *arg);

/* COMMIT (here the target) and QUERY (here the home). */
void cldd_commit_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		       const uint8_t *payload);
/* A SIGNAL from a guest's home (serve.c, before pairs.c sees it): the
 * home has its shadow, so a guest still held is committed. */
void cldd_commit_on_signal(struct cldd *d, struct cldd_conn *c, const uint8_t *payload);
/* A peer came up: its held guests are asked about at once. */
void cldd_commit_peer(struct cldd *d, struct cldd_peer *p, bool up);

#endif /* CLDD_COMMIT_H */
