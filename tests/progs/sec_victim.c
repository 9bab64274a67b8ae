// SPDX-License-Identifier: MIT
/*
 * sec_victim FILE MAPFILE: an ordinary user process for the security tests.
 * Holds FILE open at fd 3 and MAPFILE mapped privately; every 100 ms it
 * prints what it can see through them and its groups, so a restart that
 * gave it more than its user may have would show it in its output.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void show(const char *what, const char *p, ssize_t n)
{
	char line[64];
	ssize_t i;

	for (i = 0; i < n && i < (ssize_t)sizeof(line) - 1 && p[i] != '\n'; i++)
		line[i] = p[i];
	line[i > 0 ? i : 0] = 0;
	printf(" %s=[%s]", what, line);
}

int main(int argc, char **argv)
{
	char buf[64];
	gid_t g[64];
	const char *map;
	unsigned long tick = 0;
	int fd, mfd, n, i;

	if (argc != 3)
		return 2;
	fd = open(argv[1], O_RDONLY);
	mfd = open(argv[2], O_RDONLY);
	if (fd != 3 || mfd < 0)
		return 3;
	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, mfd, 0);
	close(mfd);
	if (map == MAP_FAILED)
		return 4;
	for (;;) {
		ssize_t r = pread(3, buf, sizeof(buf), 0);

		printf("tick %lu", tick++);
		show("fd3", buf, r);
		show("map", map, 64);
		n = getgroups(64, g);
		printf(" groups=");
		for (i = 0; i < n; i++)
			printf("%s%u", i ? "," : "", (unsigned)g[i]);
		printf("\n");
		fflush(stdout);
		usleep(100000);
	}
}
