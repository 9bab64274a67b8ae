/* SPDX-License-Identifier: MIT */
/*
 * The serving side of the peer protocol: this node's processes listed,
 * frozen and read on behalf of callers on other nodes, with the same
 * permission rules as for local callers (the caller's uid/gid travel with
 * each request).  Handles live as long as the connection that opened them:
 * a lost peer thaws what it had frozen.
 */
#ifndef CLDD_SERVE_H
#define CLDD_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/proto.h"

#include "cldd.h"

struct cldd_conn;

/* A request from a peer (header checked by cldp_msg_check). */
void cldd_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		const uint8_t *payload);
/* The connection is going: release its handles (thaws). */
void cldd_serve_conn_closed(struct cldd *d, struct cldd_conn *c);

#endif /* CLDD_SERVE_H */
