/* SPDX-License-Identifier: MIT */
/*
 * What remote.c (lookups, listings, attributes) and remote_read.c (open
 * images and their reads) share.  Private to remote*.c.
 */
#ifndef CLDD_REMOTE_PRIV_H
#define CLDD_REMOTE_PRIV_H

#include "peer.h"
#include "remote.h"

/* The remote side's state (d->remote): the chunk cache of peers' images. */
struct cldd_remote {
	struct cldd_chunk_cache cc;
};

/* What the last LIST or STAT said of a remote pid. */
struct cldd_rattr {
	struct cldp_pentry pe;
	uint64_t at_ns;
	struct cldd_rattr *next;
};
struct cldd_rattr *cldd_rattr_find(struct cldd_peer *p, pid_t pid);

/* A FUSE request waiting for a peer. */
struct cldd_rop {
	fuse_req_t req;
	struct cldd_peer *p;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	size_t size;
};
struct cldd_rop *cldd_rop_new(fuse_req_t req, struct cldd_peer *p, fuse_ino_t ino);
/* Send or fail the request at once. */
void cldd_rop_call(struct cldd_rop *r, uint16_t type, const void *pl, size_t len, cldd_call_cb cb);
/* The caller's credentials, as the peer checks them. */
void cldd_cred_of(fuse_req_t req, struct cldp_cred *c);

#endif /* CLDD_REMOTE_PRIV_H */
