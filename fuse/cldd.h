/* SPDX-License-Identifier: MIT */
/*
 * The daemon object: what one clondiked holds, one pointer per subsystem.
 * main() (daemon.c) creates it and hands it down: as the FUSE session's
 * userdata (cldd_of), as an argument to each subsystem's init and calls,
 * and through the data of libuv handles and the objects that need it
 * later (a freeze, a channel, a peer connection).  There is no global
 * pointer to it.
 *
 * Each subsystem's state is its own type, private to its files; only its
 * pointer is here (forward declarations: this header includes no other of
 * fuse/).  A subsystem's init allocates it; it lives as long as the
 * process (threads that did not end in time at shutdown may still use it).
 */
#ifndef CLDD_CLDD_H
#define CLDD_CLDD_H

#include <uv.h>

struct cldd_fs;
struct cldd_freezer;
struct cldd_children;
struct cldd_incoming;
struct cldd_procs;
struct cldd_mcopy;
struct cldd_remote;
struct cldd_cluster;
struct cldd_migrate;
struct cldd_pairs;
struct cldd_fwd;
struct cldd_puts;
struct cldd_commit;
struct cldd_rfwd;

struct cldd {
	uv_loop_t *loop;
	struct cldd_fs *fs;	      /* the FUSE side (fs_kind.h) */
	struct cldd_procs *procs;     /* procs.c: clock, hidepid */
	struct cldd_freezer *frz;     /* frozen.c: the table of freezes */
	struct cldd_children *kids;   /* children.c: watched children */
	struct cldd_incoming *in;     /* incoming.c: images being written */
	struct cldd_mcopy *mcopy;     /* mcopy.c: copies that committed */
	struct cldd_remote *remote;   /* remote*.c: the chunk cache */
	struct cldd_cluster *cluster; /* peer*.c: never NULL once made */
	struct cldd_migrate *mig;     /* migrate.c */
	struct cldd_pairs *pairs;     /* pairs.c: shadows and guests */
	struct cldd_fwd *fwd;	      /* fdio*.c: forwarded fds */
	struct cldd_puts *put;	      /* put.c: images sent to restart */
	struct cldd_commit *commit;   /* commit.c: migrations' commit */
	struct cldd_rfwd *rfwd;	      /* fs_rfwd.c: forwarded files waiting */
};

#endif /* CLDD_CLDD_H */
