// SPDX-License-Identifier: MIT
/*
 * Baselines for bench_restart.sh: rst_bench_base FILE
 * Prints "memcpy_ms X read_ms Y bytes N fresh_ms Z" for the size of FILE:
 * memcpy between two pre-faulted buffers of that size (best of 3), reading
 * FILE once with read(2) into a 1 MiB buffer (best of 3; FILE is on
 * tmpfs), and reading FILE once into fresh (never touched) anonymous
 * memory, which is what any restore has to do at least.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	double best_cp = 1e30, best_rd = 1e30, t;
	static char buf[1 << 20];
	struct stat st;
	char *a, *b;
	size_t len;
	int i, fd;

	if (argc < 2 || stat(argv[1], &st) < 0)
		return 2;
	len = (size_t)st.st_size;
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		 -1, 0);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		 -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return 1;
	memset(a, 1, len);
	for (i = 0; i < 3; i++) {
		t = now_ms();
		memcpy(b, a, len);
		t = now_ms() - t;
		if (t < best_cp)
			best_cp = t;
	}
	for (i = 0; i < 3; i++) {
		ssize_t n;

		fd = open(argv[1], O_RDONLY);
		if (fd < 0)
			return 1;
		t = now_ms();
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		t = now_ms() - t;
		close(fd);
		if (t < best_rd)
			best_rd = t;
	}
	munmap(a, len);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = open(argv[1], O_RDONLY);
	if (a == MAP_FAILED || fd < 0)
		return 1;
	t = now_ms();
	{
		size_t off = 0;
		ssize_t n;

		while (off < len && (n = pread(fd, a + off, len - off, (off_t)off)) > 0)
			off += (size_t)n;
	}
	t = now_ms() - t;
	close(fd);
	printf("memcpy_ms %.3f read_ms %.3f bytes %zu fresh_ms %.3f\n", best_cp, best_rd, len, t);
	return b[len - 1] == 1 ? 0 : 1;
}
