// SPDX-License-Identifier: MIT
/*
 * A terminal program for the shadow tests:  sh_tty RESULT
 *
 * Prints "TTY <isatty(0)> <isatty(1)> <rows>x<cols>", appends "READY <pid>"
 * to RESULT, then reads lines: each is answered "GOT <line>"; the line
 * "raw" puts the terminal in raw mode ("RAW"), then each key is answered
 * "KEY <code>" until 'q' restores the settings ("COOKED").  A SIGWINCH is
 * answered "WINCH <rows> <cols>" (the size asked of fd 1).  The line
 * "pgrp" is answered "FRONT 1" when the terminal's foreground group
 * (tcgetpgrp) is this process's group, else "FRONT 0 <errno name>".
 * SIGINT keeps its default action.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void out(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(3);
}

static void show_winch(void)
{
	struct winsize ws = { 0 };
	char b[64];

	winch = 0;
	ioctl(1, TIOCGWINSZ, &ws);
	snprintf(b, sizeof(b), "WINCH %d %d\n", ws.ws_row, ws.ws_col);
	out(b);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct winsize ws = { 0 };
	char line[256], b[300];
	size_t len = 0;
	int fd;

	if (argc != 2)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_winch; /* no SA_RESTART: read returns EINTR */
	sigaction(SIGWINCH, &sa, NULL);
	ioctl(1, TIOCGWINSZ, &ws);
	snprintf(b, sizeof(b), "TTY %d %d %dx%d\n", isatty(0), isatty(1), ws.ws_row, ws.ws_col);
	out(b);
	fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	snprintf(b, sizeof(b), "READY %ld\n", (long)getpid());
	if (fd < 0 || write(fd, b, strlen(b)) < 0)
		return 1;
	close(fd);
	for (;;) {
		ssize_t n = read(0, line + len, 1);

		if (winch)
			show_winch();
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (line[len] != '\n' && len < sizeof(line) - 2) {
			len++;
			continue;
		}
		line[len] = 0;
		len = 0;
		if (!strcmp(line, "raw")) {
			struct termios t, raw;
			char c;

			tcgetattr(0, &t);
			raw = t;
			cfmakeraw(&raw);
			tcsetattr(0, TCSANOW, &raw);
			out("RAW\r\n");
			while (read(0, &c, 1) == 1 && c != 'q') {
				snprintf(b, sizeof(b), "KEY %d\r\n", c);
				out(b);
			}
			tcsetattr(0, TCSANOW, &t);
			out("COOKED\n");
			continue;
		}
		if (!strcmp(line, "pgrp")) {
			pid_t fg = tcgetpgrp(0);

			if (fg >= 0 && fg == getpgrp())
				snprintf(b, sizeof(b), "FRONT 1\n");
			else
				snprintf(b, sizeof(b), "FRONT 0 %s\n", fg < 0 ? strerror(errno) : "other");
			out(b);
			continue;
		}
		snprintf(b, sizeof(b), "GOT %s\n", line);
		out(b);
	}
}
