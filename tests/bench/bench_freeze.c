// SPDX-License-Identifier: MIT
/*
 * Helper of bench_freeze.sh.
 *   bench_freeze hold MIB [T]    touch MIB of anonymous memory, start T-1 more
 *                                threads (idle in pause), print "ready", sleep
 *   bench_freeze lat PID N       freeze + thaw PID N times (ptrace backend); print
 *                                min and median freeze latency in ms, and the
 *                                median cost of laying out the image (the page
 *                                table scan that the first read pays)
 *   bench_freeze memcpy MIB      memcpy throughput over MIB, GB/s (best of 3)
 *   bench_freeze fresh MIB       memcpy into MIB of memory never touched before,
 *                                MB/s: the floor of any restore on this machine
 *                                (a VM's first touch of a page is costly)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clondike/freeze_ptrace.h"
#include "clondike/freezer.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char *touch(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	/* Distinct non-zero bytes: every page is a real private page. */
	for (i = 0; i < len; i += 64)
		p[i] = (char)(i >> 6 | 1);
	return p;
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "hold")) {
		int i, nt = argc == 4 ? atoi(argv[3]) : 1;

		if (!touch(strtoull(argv[2], NULL, 10) << 20))
			return 1;
		for (i = 1; i < nt; i++) {
			pthread_t t;

			if (pthread_create(&t, NULL, idle, NULL))
				return 1;
		}
		printf("ready %d\n", getpid());
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc == 4 && !strcmp(argv[1], "lat")) {
		int pid = atoi(argv[2]), n = atoi(argv[3]), i;
		double *t = calloc((size_t)n, sizeof(*t));
		double *tp = calloc((size_t)n, sizeof(*tp));
		uint64_t size = 0, data = 0;

		for (i = 0; i < n; i++) {
			struct cld_err err = { 0 };
			struct cld_frozen *fz;
			double t0 = now();

			if (cld_freeze(pid, CLD_FREEZE_PTRACE, &fz, &err)) {
				fprintf(stderr, "freeze: %s\n", cld_err_str(&err));
				return 1;
			}
			t[i] = (now() - t0) * 1e3;
			t0 = now();
			if (cld_frozen_prepare(fz, &err)) {
				fprintf(stderr, "prepare: %s\n", cld_err_str(&err));
				return 1;
			}
			tp[i] = (now() - t0) * 1e3;
			size = fz->size;
			data = fz->data_bytes;
			cld_frozen_free(fz);
			usleep(20000);
		}
		qsort(t, (size_t)n, sizeof(*t), cmp_d);
		qsort(tp, (size_t)n, sizeof(*tp), cmp_d);
		printf("freeze min %.2f median %.2f ms; layout on first read %.2f ms (image %llu bytes, %llu of data)\n",
		       t[0], t[n / 2], tp[n / 2], (unsigned long long)size,
		       (unsigned long long)data);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "memcpy")) {
		size_t len = strtoull(argv[2], NULL, 10) << 20;
		char *a = touch(len), *b = touch(len);
		double best = 0;
		int i;

		if (!a || !b)
			return 1;
		for (i = 0; i < 3; i++) {
			double t0 = now(), r;

			memcpy(b, a, len);
			r = (double)len / (now() - t0) / 1e9;
			if (r > best)
				best = r;
		}
		printf("%.2f\n", best);
		return b[len / 2] == a[len / 2] ? 0 : 1;
	}
	if (argc == 3 && !strcmp(argv[1], "fresh")) {
		size_t len = strtoull(argv[2], NULL, 10) << 20, chunk = 2u << 20, off;
		char *src = touch(chunk), *dst;
		double t0;

		dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!src || dst == MAP_FAILED || len % chunk)
			return 1;
		t0 = now();
		for (off = 0; off < len; off += chunk)
			memcpy(dst + off, src, chunk);
		printf("%.1f\n", (double)len / (now() - t0) / 1e6);
		return dst[len / 2] == src[0] ? 0 : 1;
	}
	fprintf(stderr, "usage: bench_freeze hold MIB [THREADS] | lat PID N | memcpy MIB | fresh MIB\n");
	return 2;
}
