// SPDX-License-Identifier: MIT
/*
 * Raw loopback TCP throughput, the baseline of bench_cluster.sh:
 *
 *   tcp_rate [MIB]     (default 1024)
 *   tcp_rate MIB --recv ADDR PORT    receive only (e.g. in one netns)
 *   tcp_rate MIB --send ADDR PORT    send only (in another)
 *
 * A receiver (this process) listens on 127.0.0.1 (ephemeral port); a
 * forked sender connects and writes MIB MiB in 1 MiB write()s of a buffer
 * touched beforehand; the receiver read()s them into one reused 1 MiB
 * buffer.  Time: from accept() to the last byte received.  Prints
 *
 *   tcp 127.0.0.1: BYTES bytes in S s: R MB/s
 *
 * (MB = 10^6 bytes).  Plain sockets, default buffer sizes, no TCP_NODELAY:
 * what a program that just writes big buffers to a socket gets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "tcp_rate: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sender(const struct sockaddr_in *sa, unsigned long long total)
{
	char *buf = malloc(CHUNK);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned long long sent = 0;
	size_t i;

	if (!buf || s < 0)
		_exit(1);
	for (i = 0; i < CHUNK; i++)
		buf[i] = (char)(i * 131 + 7);
	if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		_exit(1);
	while (sent < total) {
		size_t want = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
		ssize_t n = write(s, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		sent += (unsigned long long)n;
	}
	close(s);
	_exit(0);
}

int main(int argc, char **argv)
{
	unsigned long long mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024, total, got = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int l, c, status;
	double t0, t1;
	char *buf;
	pid_t pid;

	const char *mode = argc == 5 ? argv[2] : NULL;

	if ((argc != 5 && argc > 2) || !mib ||
	    (mode && strcmp(mode, "--recv") && strcmp(mode, "--send"))) {
		fprintf(stderr, "usage: tcp_rate [MIB [--recv|--send ADDR PORT]]\n");
		return 2;
	}
	total = mib << 20;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (mode) {
		if (inet_pton(AF_INET, argv[3], &sa.sin_addr) != 1)
			die("address");
		sa.sin_port = htons((uint16_t)atoi(argv[4]));
		if (!strcmp(mode, "--send"))
			sender(&sa, total); /* exits 0 or 1 */
	}
	buf = malloc(CHUNK);
	if (!buf)
		die("malloc");
	memset(buf, 0, CHUNK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		die("bind/listen");
	if (getsockname(l, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");
	pid = 0;
	if (!mode) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(l);
			sender(&sa, total);
		}
	}
	c = accept(l, NULL, NULL);
	if (c < 0) {
		if (pid)
			kill(pid, SIGKILL);
		die("accept");
	}
	t0 = now();
	while (got < total) {
		ssize_t n = read(c, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (pid)
				kill(pid, SIGKILL);
			die("read");
		}
		if (n == 0)
			break;
		got += (unsigned long long)n;
	}
	t1 = now();
	close(c);
	close(l);
	if ((pid && (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))) ||
	    got != total) {
		fprintf(stderr, "tcp_rate: sender failed after %llu of %llu bytes\n", got, total);
		return 1;
	}
	printf("tcp %s: %llu bytes in %.3f s: %.1f MB/s\n", mode ? argv[3] : "127.0.0.1", total, t1 - t0,
	       (double)total / (t1 - t0) / 1e6);
	free(buf);
	return 0;
}
