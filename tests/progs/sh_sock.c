// SPDX-License-Identifier: MIT
/*
 * A client of a line server for the forwarded-fd tests:
 *
 *   sh_sock RESULT HOST PORT N
 *
 * Connects, appends "READY <pid>" to RESULT, then waits for the server:
 * for each of N lines the server sends ("ping K"), it answers "pong K",
 * alternating recv/send with read/write, and appends "GOT K" to RESULT.
 * Exits 0 after N exchanges, 1 on any error (with "ERROR ..." in RESULT).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *res;

static void say(const char *fmt, long v)
{
	char line[128];
	int fd = open(res, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644), n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), fmt, v);
	if (write(fd, line, (size_t)n) < 0)
		perror("write");
	close(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char buf[256];
	long i, n, k;
	int s;

	if (argc != 5)
		return 2;
	res = argv[1];
	n = atol(argv[4]);
	a.sin_port = htons((uint16_t)atoi(argv[3]));
	inet_pton(AF_INET, argv[2], &a.sin_addr);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		say("ERROR connect %ld\n", errno);
		return 1;
	}
	say("READY %ld\n", (long)getpid());
	for (i = 0; i < n; i++) {
		size_t got = 0;
		ssize_t r;

		/* One line, byte by byte: no read-ahead across lines. */
		while (got < sizeof(buf) - 1) {
			r = (i & 1) ? read(s, buf + got, 1) : recv(s, buf + got, 1, 0);
			if (r <= 0) {
				say("ERROR recv %ld\n", r < 0 ? errno : 0);
				return 1;
			}
			if (buf[got++] == '\n')
				break;
		}
		buf[got] = 0;
		if (sscanf(buf, "ping %ld", &k) != 1) {
			say("ERROR line %ld\n", i);
			return 1;
		}
		r = snprintf(buf, sizeof(buf), "pong %ld\n", k);
		if (((i & 1) ? write(s, buf, (size_t)r) : send(s, buf, (size_t)r, 0)) != r) {
			say("ERROR send %ld\n", errno);
			return 1;
		}
		say("GOT %ld\n", k);
	}
	shutdown(s, SHUT_WR);
	return 0;
}
