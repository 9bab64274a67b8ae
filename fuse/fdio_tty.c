// SPDX-License-Identifier: MIT
/*
 * A forwarded terminal (docs/shadow.md).  On the guest's node the guest's
 * terminal is a pty of its own, so that isatty(), tcgetattr/tcsetattr,
 * TIOCGWINSZ and FIONREAD are real; its line discipline (echo, line
 * editing, output processing) does the work.  The terminal at home is put
 * into a relay mode while the shadow is in its foreground: the guest's
 * settings without that processing, but with the guest's ISIG and signal
 * keys, so that Ctrl-C and Ctrl-Z reach the shadow's process group at home
 * (and are forwarded from there) as they would the process's.  At the end
 * the terminal gets the guest's last settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "fdio_priv.h"
#include "log.h"
#include "peer.h"

_Static_assert(sizeof(struct termios) == sizeof(((struct cldp_tty *)0)->termios),
	       "struct termios is not what the protocol carries");
_Static_assert(sizeof(struct winsize) == sizeof(((struct cldp_tty *)0)->ws),
	       "struct winsize is not what the protocol carries");

/* Whether the shadow's process group is its terminal's foreground one. */
static bool in_front(pid_t pid)
{
	long long pgrp, tpgid;
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* ") S ppid pgrp session tty_nr tpgid" */
	if (!p || sscanf(p + 1, " %*c %*d %lld %*d %*d %lld", &pgrp, &tpgid) != 2)
		return false;
	return pgrp == tpgid;
}

static void relay_mode(int fd, const struct termios *g)
{
	struct termios t = *g;

	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ICANON | IEXTEN);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IGNCR | IXON | ISTRIP);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(fd, TCSANOW, &t);
}

bool cldd_tty_may_read(struct cldd_chan *ch)
{
	/* In the background the terminal's input is the shell's. */
	return !ch->tty || !ch->home || in_front(ch->sh_pid);
}

static void send_tty(struct cldd_chan *ch, uint32_t flags, const struct termios *t,
		     const struct winsize *ws)
{
	struct cldp_fwd_tty m;

	memset(&m, 0, sizeof(m));
	m.chan = ch->id;
	m.flags = flags | (ch->home ? 0 : CLDP_FWD_TO_HOME);
	m.tty.valid = 1;
	if (t)
		memcpy(m.tty.termios, t, sizeof(*t));
	if (ws)
		memcpy(m.tty.ws, ws, sizeof(*ws));
	cldd_send_msg(ch->peer, CLDP_FWD_TTY, &m, sizeof(m));
}

/* Guest's node: the guest may have changed its settings: home follows. */
void cldd_tty_traffic(struct cldd_chan *ch)
{
	struct termios t;
	int fd;

	if (ch->home || !ch->slave[0])
		return;
	fd = open(ch->slave, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!tcgetattr(fd, &t) && (!ch->have_tios || memcmp(&t, &ch->tios, sizeof(t)))) {
		ch->tios = t;
		ch->have_tios = true;
		send_tty(ch, CLDP_FWD_TIOS, &t, NULL);
	}
	close(fd);
}

/*
 * Guest's node: keys that would signal the foreground group (the guest
 * has ISIG) but came through home before home knew the setting, the
 * window of a mode change.  Here no group is in the pty's foreground, so
 * they are sent home as the signal, to the terminal's foreground group
 * there, and removed from the input.
 */
size_t cldd_tty_sigkeys(struct cldd_chan *ch, uint8_t *b, size_t len)
{
	size_t i, o = 0;

	cldd_tty_traffic(ch); /* the settings as they are now */
	if (ch->home || !ch->have_tios || !(ch->tios.c_lflag & ISIG))
		return len;
	for (i = 0; i < len; i++) {
		int sig = 0;

		if (b[i] && b[i] == ch->tios.c_cc[VINTR])
			sig = SIGINT;
		else if (b[i] && b[i] == ch->tios.c_cc[VQUIT])
			sig = SIGQUIT;
		else if (b[i] && b[i] == ch->tios.c_cc[VSUSP])
			sig = SIGTSTP;
		if (!sig) {
			b[o++] = b[i];
			continue;
		}
		struct cldp_fwd_tty m = { .chan = ch->id,
					  .flags = CLDP_FWD_SIG | CLDP_FWD_TO_HOME };

		m.tty.pad = (uint32_t)sig;
		cldd_send_msg(ch->peer, CLDP_FWD_TTY, &m, sizeof(m));
	}
	return o;
}

/* Home: the terminal's foreground group gets sig, as from the key. */
static void signal_front(struct cldd_chan *ch, int sig)
{
	long long tpgid;
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)ch->sh_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %lld", &tpgid) == 1 && tpgid > 0)
		kill(-(pid_t)tpgid, sig);
}

void cldd_tty_end(struct cldd_chan *ch)
{
	if (ch->home && ch->have_tios && in_front(ch->sh_pid))
		tcsetattr(ch->fd, TCSADRAIN, &ch->tios);
}

/* Every 100 ms: settings changed without traffic; the shadow's job
 * coming to the front (fg) or going to the back. */
static void on_tick(uv_timer_t *t)
{
	struct cldd_fwd *fw = t->data;
	struct cldd_chan *ch;
	bool any = false;

	for (ch = fw->chans; ch; ch = ch->next) {
		if (!ch->tty || ch->fd < 0 || !ch->started)
			continue;
		any = true;
		if (!ch->home) {
			cldd_tty_traffic(ch);
			continue;
		}
		if (in_front(ch->sh_pid)) {
			if (!ch->front && ch->have_tios)
				relay_mode(ch->fd, &ch->tios);
			ch->front = true;
		} else {
			ch->front = false;
		}
		cldd_fwd_update(ch);
	}
	if (!any) {
		uv_timer_stop(&fw->tty_timer);
		fw->tty_running = false;
	}
}

void cldd_tty_started(struct cldd_chan *ch)
{
	struct cldd_fwd *fw = ch->fw;

	if (!fw->tty_running) {
		if (!fw->tty_timer.loop) {
			uv_timer_init(fw->loop, &fw->tty_timer);
			fw->tty_timer.data = fw;
		}
		uv_timer_start(&fw->tty_timer, on_tick, 100, 100);
		fw->tty_running = true;
	}
	if (ch->home) {
		ch->front = false;
		on_tick(&fw->tty_timer);
	} else {
		cldd_tty_traffic(ch);
	}
}

void cldd_fwd_winch(struct cldd_chan *ch)
{
	struct winsize ws;

	if (ch && ch->tty && ch->home && ch->fd >= 0 && !ioctl(ch->fd, TIOCGWINSZ, &ws))
		send_tty(ch, CLDP_FWD_WS, NULL, &ws);
}

void cldd_fwd_serve_tty(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
			const uint8_t *p)
{
	struct cldp_fwd_tty m;
	struct cldd_chan *ch;
	struct winsize ws;

	(void)h;
	memcpy(&m, p, sizeof(m));
	ch = cldd_fwd_find(d->fwd, cldd_conn_peer(c), m.chan, m.flags & CLDP_FWD_TO_HOME);
	if (!ch || !ch->tty || ch->fd < 0)
		return;
	if (ch->home && (m.flags & CLDP_FWD_SIG) && m.tty.pad > 0 && m.tty.pad < 65)
		signal_front(ch, (int)m.tty.pad);
	if (ch->home && (m.flags & CLDP_FWD_TIOS)) {
		memcpy(&ch->tios, m.tty.termios, sizeof(ch->tios));
		ch->have_tios = true;
		if (ch->front)
			relay_mode(ch->fd, &ch->tios);
	}
	if (!ch->home && (m.flags & CLDP_FWD_WS)) {
		memcpy(&ws, m.tty.ws, sizeof(ws));
		ioctl(ch->fd, TIOCSWINSZ, &ws);
	}
}

int cldd_tty_home_prepare(int fd, struct cldp_tty *out)
{
	struct termios t;
	struct winsize ws;

	if (tcgetattr(fd, &t) < 0)
		return -errno;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		memset(&ws, 0, sizeof(ws));
	memcpy(out->termios, &t, sizeof(t));
	memcpy(out->ws, &ws, sizeof(ws));
	out->valid = 1;
	return 0;
}

int cldd_tty_guest_open(const struct cldp_tty *in, int *master, int *slave, char *path, size_t len)
{
	struct termios t;
	struct winsize ws;
	int m, s, ret;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (grantpt(m) || unlockpt(m) || ptsname_r(m, path, len)) {
		ret = -errno;
		goto fail;
	}
	s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		ret = -errno;
		goto fail;
	}
	if (in->valid) {
		memcpy(&t, in->termios, sizeof(t));
		memcpy(&ws, in->ws, sizeof(ws));
		tcsetattr(s, TCSANOW, &t);
		ioctl(m, TIOCSWINSZ, &ws);
	}
	*master = m;
	*slave = s;
	return 0;
fail:
	close(m);
	return ret;
}
