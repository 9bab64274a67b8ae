// SPDX-License-Identifier: MIT
/*
 * Forwarded-file throughput and latency, for tests/bench/bench_shadow.sh:
 *
 *   sh_fbench RESULT PATH GO MIB
 *
 * Opens PATH (created, emptied), says "READY pid" in RESULT and waits for
 * the file GO (it is migrated meanwhile).  Then it writes MIB MiB in 1 MiB
 * writes, fsyncs, reads them back in 1 MiB preads (checking every byte),
 * and times 2000 one-byte preads at scattered offsets.  Appends to RESULT
 * "TIMES <write us> <fsync us> <read us> <pread median us> <p90 us>", or
 * "FAIL <what>".  Exits 0, or 1 on a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define PROBES 2000

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Byte i of the file: a pattern that a misplaced chunk cannot match. */
static unsigned char pat(uint64_t i)
{
	return (unsigned char)((i >> 20) * 131 + (i & 0xffff) * 7);
}

int main(int argc, char **argv)
{
	static uint64_t lat[PROBES];
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	uint64_t t0, tw, ts, tr, i, size;
	unsigned char *buf;
	FILE *res;
	long mib;
	int fd;

	if (argc != 5 || (mib = strtol(argv[4], NULL, 10)) <= 0)
		return 2;
	size = (uint64_t)mib * CHUNK;
	buf = malloc(CHUNK);
	fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	res = fopen(argv[1], "a");
	if (!buf || fd < 0 || !res)
		return 2;
	setvbuf(res, NULL, _IOLBF, 0);
	fprintf(res, "READY %ld\n", (long)getpid());
	while (access(argv[3], F_OK))
		nanosleep(&nap, NULL);

	t0 = now_us();
	for (i = 0; i < size; i += CHUNK) {
		for (uint64_t k = 0; k < CHUNK; k++)
			buf[k] = pat(i + k);
		if (write(fd, buf, CHUNK) != CHUNK) {
			fprintf(res, "FAIL write at %llu: %s\n", (unsigned long long)i,
				strerror(errno));
			return 1;
		}
	}
	tw = now_us() - t0;
	t0 = now_us();
	if (fsync(fd)) {
		fprintf(res, "FAIL fsync: %s\n", strerror(errno));
		return 1;
	}
	ts = now_us() - t0;
	t0 = now_us();
	for (i = 0; i < size; i += CHUNK) {
		if (pread(fd, buf, CHUNK, (off_t)i) != CHUNK) {
			fprintf(res, "FAIL pread at %llu: %s\n", (unsigned long long)i,
				strerror(errno));
			return 1;
		}
		for (uint64_t k = 0; k < CHUNK; k += 4093)
			if (buf[k] != pat(i + k)) {
				fprintf(res, "FAIL byte %llu differs\n",
					(unsigned long long)(i + k));
				return 1;
			}
	}
	tr = now_us() - t0;
	for (i = 0; i < PROBES; i++) {
		uint64_t off = (i * 2654435761u) % size;
		unsigned char c;

		t0 = now_us();
		if (pread(fd, &c, 1, (off_t)off) != 1 || c != pat(off)) {
			fprintf(res, "FAIL 1-byte pread at %llu\n", (unsigned long long)off);
			return 1;
		}
		lat[i] = now_us() - t0;
	}
	qsort(lat, PROBES, sizeof(lat[0]), cmp_u64);
	fprintf(res, "TIMES %llu %llu %llu %llu %llu\n", (unsigned long long)tw,
		(unsigned long long)ts, (unsigned long long)tr, (unsigned long long)lat[PROBES / 2],
		(unsigned long long)lat[PROBES * 9 / 10]);
	return 0;
}
