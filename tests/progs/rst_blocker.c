// SPDX-License-Identifier: MIT
/*
 * Restart test: a process holding what cannot be restored (a listening
 * unix socket, an inotify fd with an event queued, a POSIX timer on its
 * own CPU-time clock named by pid, a deleted file over the image's limit
 * for the content of memfds and deleted files, CLD_MAX_FILE_DATA).
 * rst_blocker RESULT CTL.  Its image must be refused up front, with every
 * blocker listed; it never gets to verify itself.
 */
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "rst_common.h"

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigevent sev;
	clockid_t clk;
	char path[4096];
	timer_t t;
	int s, in, big;

	rst_init(argc, argv, 0, "");
	/* An abstract name: nothing to clean up. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "cld-blocker-%d", (int)getpid());
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	RST_CHECK(s >= 0 && !bind(s, (struct sockaddr *)&sa, sizeof(sa)) && !listen(s, 1),
		  "listening socket: %s", strerror(errno));
	in = inotify_init1(0);
	RST_CHECK(in >= 0 && inotify_add_watch(in, argv[2], IN_OPEN) >= 0, "inotify");
	close(open(argv[2], O_RDWR)); /* an event, queued: it would be lost */
	RST_CHECK(clock_getcpuclockid(getpid(), &clk) == 0, "clock_getcpuclockid");
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_NONE;
	RST_CHECK(timer_create(clk, &sev, &t) == 0, "timer_create");
	/* Beside the result file; not sparse to the freezer, which reads it all. */
	snprintf(path, sizeof(path), "%s.big", argv[1]);
	big = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	RST_CHECK(big >= 0 && !ftruncate(big, 40 << 20) && !unlink(path), "a deleted file: %s",
		  strerror(errno));
	rst_ready();
	rst_wait_trigger();
	rst_pass("blocker (should never be restarted)");
}
