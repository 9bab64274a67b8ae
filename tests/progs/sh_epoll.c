// SPDX-License-Identifier: MIT
/*
 * An event loop for the forwarded-fd tests (tests/integration/
 * test_shadow_io.sh):
 *
 *   sh_epoll RESULT
 *
 * Waits on its stdin (non-blocking), and for each wake-up appends "WAKE
 * <n> <bytes> EAGAIN|EOF" to RESULT after reading what is there (EAGAIN
 * ends the read, as it must on a non-blocking fd); exits 0 at the end of
 * its input.  The first wait is poll(2), the next ones epoll_wait(2) on an
 * epoll instance made after the first wake-up: an epoll fd cannot be
 * checkpointed yet, so the process is migrated in poll.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

static void say(const char *path, const char *line)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return;
	if (write(fd, line, strlen(line)) < 0)
		perror("write");
	close(fd);
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	char buf[4096], line[128];
	long wakes = 0;
	int ep = -1;

	if (argc != 2)
		return 2;
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	snprintf(line, sizeof(line), "READY %ld\n", (long)getpid());
	say(argv[1], line);
	for (;;) {
		long got = 0;
		ssize_t n;

		if (ep < 0) {
			struct pollfd pf = { .fd = 0, .events = POLLIN };

			if (poll(&pf, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				return 1;
			}
		} else if (epoll_wait(ep, &out, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		wakes++;
		while ((n = read(0, buf, sizeof(buf))) > 0)
			got += n;
		if (n < 0 && errno != EAGAIN) {
			snprintf(line, sizeof(line), "ERROR %d\n", errno);
			say(argv[1], line);
			return 1;
		}
		snprintf(line, sizeof(line), "WAKE %ld %ld %s %s\n", wakes, got,
			 n < 0 ? "EAGAIN" : "EOF", ep < 0 ? "poll" : "epoll");
		say(argv[1], line);
		if (n == 0)
			return 0;
		if (ep < 0) {
			ep = epoll_create1(EPOLL_CLOEXEC);
			if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0)
				return 1;
		}
	}
}
