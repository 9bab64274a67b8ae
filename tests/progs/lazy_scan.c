// SPDX-License-Identifier: MIT
/*
 * Lazy restart benchmark: lazy_scan RESULT CTL SIZE_MB
 *
 * Fills SIZE_MB MiB; on the trigger measures (1) single-fault latency:
 * one read each of 64 pages spread over the region, far apart so each is a
 * first fault, and (2) a full sequential scan, then reports
 * "PASS fault_us=... scan_ms=..." (protocol: tests/progs/rst_common.h).
 */
#include <sys/mman.h>
#include <time.h>

#include "rst_common.h"

static uint64_t ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t size, words, i, stride;
	volatile uint64_t sink = 0;
	uint64_t *w, t, fault_ns, scan_ns, sum = 0;
	char msg[128];

	rst_init(argc, argv, 1, "SIZE_MB");
	size = (size_t)atol(argv[3]) << 20;
	words = size / 8;
	w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RST_CHECK(w != MAP_FAILED, "mmap failed");
	for (i = 0; i < words; i++)
		w[i] = i * 2654435761u;
	rst_ready();
	rst_wait_trigger();

	stride = words / 64;
	t = ns();
	for (i = 0; i < 64; i++)
		sink += w[i * stride + stride / 2];
	fault_ns = (ns() - t) / 64;
	t = ns();
	for (i = 0; i < words; i += 8)
		sum += w[i];
	scan_ns = ns() - t;
	sink += sum;
	snprintf(msg, sizeof(msg), "fault_us=%.1f scan_ms=%.1f", fault_ns / 1e3, scan_ns / 1e6);
	rst_pass(msg);
}
