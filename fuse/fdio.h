/* SPDX-License-Identifier: MIT */
/*
 * Forwarded fds (docs/shadow.md): a guest's fd that refers to a resource
 * at home (a pipe, a connected stream socket) is, on the guest's node, one
 * end of a local pipe or socketpair; the other end is held by this daemon,
 * which relays the bytes to the home daemon over the peer connection, where
 * they are read from or written to the shadow's own open file.  The guest
 * keeps real kernel semantics on its side: poll, epoll, O_NONBLOCK and
 * EAGAIN, send/recv, shutdown.
 *
 * A channel carries one fd; data flows in DATA messages with a window of
 * CLDD_FWD_WINDOW bytes per direction, returned by ACKs once written.  The
 * home's channels are held still until the migration commits: nothing of
 * the original is read or written if it is to run on at home.  When the
 * peer's connection is lost, channels wait (up to lost_ms) and, once it is
 * back, each side sends again what the other did not receive: no byte is
 * lost or reordered by a reconnect.
 */
#ifndef CLDD_FDIO_H
#define CLDD_FDIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "clondike/proto.h"

#include "cldd.h"

struct cldd_conn;
struct cldd_peer;
struct cldd_chan;

#define CLDD_FWD_WINDOW (4u << 20)
#define CLDD_FWD_CHUNK (64u << 10)

/* Which way the bytes go (enum in the RESTORE request). */
enum cldd_fwd_kind {
	CLDD_FWD_IN = 1,     /* home to guest: the guest reads (a pipe's read end) */
	CLDD_FWD_OUT = 2,    /* guest to home: the guest writes */
	CLDD_FWD_DUPLEX = 3, /* both: a connected stream socket */
	CLDD_FWD_TTY = 4, /* both: a terminal (a pty on the guest's node) */
};

/* d->fwd, on d->loop; lost_ms: how long a channel waits for its peer to
 * come back before its fd is closed. */
int cldd_fwd_init(struct cldd *d, unsigned int lost_ms);

/*
 * Home: relay fd (ours: closed with the channel) of a shadow-to-be for the
 * guest on peer; *id names the channel in the RESTORE request.  sock: fd
 * shares the shadow's open file, so every call is made non-blocking by
 * flag (MSG_DONTWAIT) instead of O_NONBLOCK.  Held until cldd_fwd_start.
 */
int cldd_fwd_home(struct cldd *d, struct cldd_peer *peer, int fd, bool sock,
		  enum cldd_fwd_kind kind, uint32_t *id, struct cldd_chan **out);
/* Guest's node: relay fd (ours, non-blocking) of channel id of peer. */
int cldd_fwd_guest(struct cldd *d, struct cldd_peer *peer, uint32_t id, int fd,
		   enum cldd_fwd_kind kind, struct cldd_chan **out);

/* The migration committed: bytes move. */
void cldd_fwd_start(struct cldd_chan *ch);
/* Drop it now (a failed migration). */
void cldd_fwd_drop(struct cldd_chan *ch);
/* Its owner is done with it (the shadow or guest ended): it reads no
 * more, writes what it was sent until EOF, then goes. */
void cldd_fwd_release(struct cldd_chan *ch);
/* Send now what the local fd still holds (before a guest's end is told
 * home, so its last output arrives first). */
void cldd_fwd_drain(struct cldd_chan *ch);

/*
 * Home, before RESTORE: a channel to peer for each fd of p (frozen pid)
 * that stays at home: a pipe whose other end is not p's, a connected
 * stream socket.  Fills rq's forwarding table and chans (CLDP_FWD_MAX).
 */
struct cld_proc;
int cldd_fwd_collect(struct cldd *d, struct cldd_peer *peer, pid_t pid, const struct cld_proc *p,
		     struct cldp_restore_req *rq, struct cldd_chan **chans);
/*
 * Guest's node, on RESTORE: a pipe or socketpair for each entry, our end
 * relayed (chans), the other (guest_ends) for the restorer to install.
 */
int cldd_fwd_accept(struct cldd *d, struct cldd_peer *home, const struct cldp_restore_req *rq,
		    int *guest_ends, struct cldd_chan **chans);

/* Home: the shadow was sent SIGWINCH: the guest's pty takes the size of
 * the terminal first, so its handler reads the new one. */
void cldd_fwd_winch(struct cldd_chan *ch);

/* Messages (serve.c), and a connection that went down. */
void cldd_fwd_serve_tty(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			const uint8_t *p);
void cldd_fwd_serve_data(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			 const uint8_t *p);
void cldd_fwd_serve_ack(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			const uint8_t *p);
void cldd_fwd_serve_resync(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			   const uint8_t *p);
/* peer's connection went down (its channels wait) or came back (they
 * resynchronise). */
void cldd_fwd_peer_down(struct cldd *d, struct cldd_peer *peer);
void cldd_fwd_peer_up(struct cldd *d, struct cldd_peer *peer);

#endif /* CLDD_FDIO_H */
