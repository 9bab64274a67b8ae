// SPDX-License-Identifier: MIT
/*
 * Restart test: a process sleeping in nanosleep() when it is checkpointed.
 * rst_sleep RESULT CTL SECS
 * Writes READY, then sleeps SECS seconds in one nanosleep(); checkpoint,
 * kill and restart it during the sleep.  The call must come back with 0
 * (not EINTR, not a leaked -ERESTART code) after at least SECS seconds of
 * CLOCK_MONOTONIC since it started; then the trigger read() (blocked in
 * the FIFO) must also work.
 */
#include <time.h>

#include "rst_common.h"

int main(int argc, char **argv)
{
	struct timespec req = { 0, 0 }, rem = { 0, 0 }, t0, t1;
	double el;
	int ret;

	rst_init(argc, argv, 1, "SECS");
	req.tv_sec = atol(argv[3]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rst_ready();
	ret = nanosleep(&req, &rem);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	el = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	RST_CHECK(ret == 0, "nanosleep returned %d errno %d (rem %ld.%09ld)", ret, errno,
		  (long)rem.tv_sec, rem.tv_nsec);
	RST_CHECK(el >= (double)req.tv_sec - 0.001, "slept only %.3f s of %ld", el,
		  (long)req.tv_sec);
	rst_say("SLEPT %.3f", el);
	rst_wait_trigger();
	rst_pass("nanosleep");
}
