/* SPDX-License-Identifier: MIT */
/*
 * Image files written into another node's directory (`cp job.core
 * /clondike/B/` on node X): X buffers the file as it does for its own
 * directory (incoming.c); when the writer closes it, X sends its bytes to
 * B (PUT, PUT_DATA, PUT_END), and B buffers and restarts it as the writer,
 * exactly as if it had been written into B's mount.  The close answers
 * B's verdict.  A connection that goes drops the buffers it was filling;
 * a restart whose answer can no longer be sent is undone (the process is
 * killed), so a failed close never leaves the image running.
 * See docs/migration.md ("Plain images").
 */
#ifndef CLDD_PUT_H
#define CLDD_PUT_H

#include <stdint.h>

#include "cldd.h"
#include "incoming.h"
#include "peer.h"
#include "restart.h"

/* d->put. */
int cldd_put_init(struct cldd *d);

/* The sending side: restart in (in->remote) on its node; the contract of
 * cldd_restart_start (0 and cb later, or a negative errno and no cb). */
int cldd_put_start(struct cldd *d, struct cldd_in *in, cldd_restart_cb cb, void *arg);

/* The receiving side: PUT, PUT_DATA and PUT_END requests. */
void cldd_put_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		    const uint8_t *payload);
/* c is going: drop the buffers it was filling. */
void cldd_put_conn_closed(struct cldd *d, struct cldd_conn *c);

#endif /* CLDD_PUT_H */
