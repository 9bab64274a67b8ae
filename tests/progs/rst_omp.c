// SPDX-License-Identifier: MIT
/*
 * Restart test: an OpenMP (libgomp) program (see rst_common.h).
 *
 *   rst_omp RESULT CTL
 *	Four OpenMP threads compute rounds of a parallel reduction until the
 *	trigger, then 20 more; the sum of every round must equal a serial
 *	recomputation, and each round must have used all four threads.
 *	libgomp's threads wait for work between rounds (spinning, then in
 *	futex), so a checkpoint finds them in either state.
 */
#include <omp.h>
#include <poll.h>

#include "rst_common.h"

#define N 200000
#define NT 4

static uint64_t mix(uint64_t i, uint64_t round)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ (round << 32);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x;
}

static uint64_t parallel_round(uint64_t round, int *threads)
{
	uint64_t sum = 0;
	int seen = 0;
	long i;

#pragma omp parallel num_threads(NT) reduction(+ : sum)
	{
#pragma omp atomic
		seen |= 1 << omp_get_thread_num();
#pragma omp for schedule(static)
		for (i = 0; i < N; i++)
			sum += mix((uint64_t)i, round);
	}
	*threads = __builtin_popcount((unsigned int)seen);
	return sum;
}

int main(int argc, char **argv)
{
	struct pollfd pfd;
	uint64_t total = 0, want = 0, r, rounds = 0, after = 0;
	int threads;
	long i;

	rst_init(argc, argv, 0, "");
	omp_set_dynamic(0);
	for (;;) {
		total += parallel_round(rounds, &threads);
		RST_CHECK(threads == NT, "round %llu ran on %d threads",
			  (unsigned long long)rounds, threads);
		rounds++;
		if (rounds == 3)
			rst_ready();
		if (after) {
			if (++after > 20)
				break;
			continue;
		}
		pfd.fd = rst_ctl;
		pfd.events = POLLIN;
		if (rounds > 3 && poll(&pfd, 1, 0) == 1) {
			rst_wait_trigger();
			after = 1;
		}
	}
	for (r = 0; r < rounds; r++)
		for (i = 0; i < N; i++)
			want += mix((uint64_t)i, r);
	RST_CHECK(total == want, "sum of %llu rounds %#llx, serially %#llx",
		  (unsigned long long)rounds, (unsigned long long)total,
		  (unsigned long long)want);
	rst_say("ROUNDS %llu", (unsigned long long)rounds);
	rst_pass("openmp rounds");
}
