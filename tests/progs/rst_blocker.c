// SPDX-License-Identifier: MIT
/*
 * Restart test: a process holding what cannot be restored (a socketpair, a
 * POSIX timer).  rst_blocker RESULT CTL.  Its image must be refused up
 * front, with every blocker listed; it never gets to verify itself.
 */
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "rst_common.h"

int main(int argc, char **argv)
{
	struct sigevent sev;
	timer_t t;
	int sv[2];

	rst_init(argc, argv, 0, "");
	RST_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_NONE;
	RST_CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create");
	rst_ready();
	rst_wait_trigger();
	rst_pass("blocker (should never be restarted)");
}
