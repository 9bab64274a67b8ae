/* SPDX-License-Identifier: MIT */
/* What fdio.c, fdio_plan.c and fdio_tty.c share. */
#ifndef CLDD_FDIO_PRIV_H
#define CLDD_FDIO_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>
#include <uv.h>

#include "fdio.h"

/* A run of bytes from the peer not yet written to the fd. */
struct chunk {
	struct chunk *next;
	size_t len, off;
	uint8_t data[];
};

/* The forwarded fds (d->fwd). */
struct cldd_fwd {
	uv_loop_t *loop;
	struct cldd_chan *chans;
	uint32_t next_id;
	/* Terminals' settings and foreground, looked at every 100 ms
	 * (fdio_tty.c); data: this. */
	uv_timer_t tty_timer;
	bool tty_running;
	/* Channels waiting for their peer to come back, looked at every
	 * second; closed after lost_ms.  data: this. */
	uv_timer_t detach_timer;
	unsigned int lost_ms;
};

struct cldd_chan {
	struct cldd_fwd *fw; /* its table */
	struct cldd_peer *peer;
	uint32_t id;
	bool home; /* this side is the shadow's */
	bool sock; /* MSG_DONTWAIT calls on a shared open file */
	bool started;
	bool released; /* its owner let go: free it once done */
	int fd;
	uv_poll_t poll;
	int events; /* being polled for */
	/* fd to peer */
	bool rd, rd_done;
	uint32_t credit;
	/* peer to fd */
	bool wr, wr_eof, wr_done;
	struct chunk *q, **qt;
	uint32_t unacked;
	/*
	 * Through a reconnect (CLDP_FWD_RESYNC): the bytes sent are kept
	 * until the peer has written them out (its ACKs), so that what the
	 * lost connection carried is sent again; totals of each direction.
	 */
	uint64_t tx_total, rx_total, wr_total;
	struct chunk *rtx, **rtxt;
	uint64_t rtx_bytes;
	bool eof_sent;
	bool detached; /* its peer's connection is down: nothing moves */
	uint64_t detached_ns;
	/* A terminal (fdio_tty.c). */
	bool tty;
	pid_t sh_pid; /* home: the shadow, whose tpgid says if it is in front */
	bool have_tios;
	bool front; /* home: the shadow's group was in front at the last look */
	struct termios tios; /* the guest's latest settings */
	char slave[64]; /* guest's node: the pty's slave */
	struct cldd_chan *next;
};

/* The channel id of peer, by the side it is. */
struct cldd_chan *cldd_fwd_find(struct cldd_fwd *fw, struct cldd_peer *peer, uint32_t id,
				bool home);
/* Poll for what can go on now. */
void cldd_fwd_update(struct cldd_chan *ch);

/* Terminals (fdio_tty.c). */
bool cldd_tty_may_read(struct cldd_chan *ch);
void cldd_tty_traffic(struct cldd_chan *ch);
void cldd_tty_end(struct cldd_chan *ch);
/* Guest's node: signal keys out of input for the pty (sent home). */
size_t cldd_tty_sigkeys(struct cldd_chan *ch, uint8_t *b, size_t len);
/* The channel moves bytes now: home goes into relay mode if in front. */
void cldd_tty_started(struct cldd_chan *ch);
/* Home: the terminal's settings for the RESTORE request. */
int cldd_tty_home_prepare(int fd, struct cldp_tty *out);
/* Guest's node: a pty with the home terminal's settings; path: the slave. */
int cldd_tty_guest_open(const struct cldp_tty *in, int *master, int *slave, char *path,
			size_t len);

#endif /* CLDD_FDIO_PRIV_H */
