// SPDX-License-Identifier: MIT
/*
 * The main job's demo process: counts, keeping a running hash of its
 * count in memory, and prints both a few times a second.  After a restart
 * the count and hash carry on from where they were, which shows that the
 * memory, registers and the output file's offset all came back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t hash = 1469598103934665603ull; /* FNV-1a offset basis */

int main(int argc, char **argv)
{
	long limit = argc > 1 ? atol(argv[1]) : 0;
	struct timespec ts = { 0, 250 * 1000 * 1000 };
	long n;

	for (n = 1; !limit || n <= limit; n++) {
		hash = (hash ^ (uint64_t)n) * 1099511628211ull;
		printf("count %ld hash %016llx pid %d\n", n, (unsigned long long)hash,
		       (int)getpid());
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
	return 0;
}
