/* SPDX-License-Identifier: MIT */
/* The daemon's clock for intervals and deadlines: CLOCK_MONOTONIC, in ns. */
#ifndef CLDD_CLOCK_H
#define CLDD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cldd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* CLDD_CLOCK_H */
