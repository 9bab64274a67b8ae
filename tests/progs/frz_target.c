// SPDX-License-Identifier: MIT
/*
 * Freezer test target.  "frz_target MODE FILE" sets up known state (a
 * patterned buffer, a pipe holding unread data, FILE open at offset 5,
 * /dev/null, a SIGUSR1 handler), prints one line describing itself and
 * then runs MODE until SIGUSR1:
 *   spin   busy loop in frz_spin() (stopped in user mode)
 *   sleep  20 ms nanosleeps in frz_sleep() (stopped inside a syscall)
 *   mem N  like spin with N MiB of touched anonymous memory
 * On SIGUSR1 it checks that everything is as it left it and exits 0, or
 * prints what differs and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_SIZE (8u << 20)
static const char pipe_msg[] = "unread pipe data survives a freeze";

volatile long frz_counter;
long frz_magic;
static volatile sig_atomic_t stop;
static unsigned char *pattern;
static int pfd[2], filefd, nullfd;

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

void __attribute__((noinline)) frz_spin(void)
{
	while (!stop)
		frz_counter++;
}

void __attribute__((noinline)) frz_sleep(void)
{
	while (!stop) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		/* SA_RESTART does not apply to nanosleep: EINTR is how our
		 * own SIGUSR1 ends it; anything else is a failure. */
		if (nanosleep(&ts, NULL) && errno != EINTR) {
			perror("nanosleep");
			exit(1);
		}
		frz_counter++;
	}
}

static int selfcheck(void)
{
	char buf[sizeof(pipe_msg)];
	size_t i;
	int bad = 0;

	for (i = 0; i < PATTERN_SIZE; i++) {
		if (pattern[i] != (unsigned char)(i * 7 + (i >> 12))) {
			printf("pattern differs at %zu\n", i);
			bad = 1;
			break;
		}
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	if (read(pfd[0], buf, sizeof(buf)) != (ssize_t)sizeof(pipe_msg) ||
	    memcmp(buf, pipe_msg, sizeof(pipe_msg))) {
		printf("pipe data lost\n");
		bad = 1;
	}
	if (lseek(filefd, 0, SEEK_CUR) != 5) {
		printf("file offset moved\n");
		bad = 1;
	}
	if (frz_magic != 0x5eed0000L + getpid()) {
		printf("frz_magic changed\n");
		bad = 1;
	}
	if (frz_counter <= 0) {
		printf("never ran\n");
		bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	size_t i, mem = 0;
	char *big = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: frz_target spin|sleep|mem N FILE\n");
		return 2;
	}
	if (!strcmp(argv[1], "mem")) {
		if (argc < 4)
			return 2;
		mem = strtoull(argv[2], NULL, 10) << 20;
		argv++;
	}
	frz_magic = 0x5eed0000L + getpid();
	pattern = malloc(PATTERN_SIZE);
	if (!pattern)
		return 1;
	for (i = 0; i < PATTERN_SIZE; i++)
		pattern[i] = (unsigned char)(i * 7 + (i >> 12));
	if (mem) {
		big = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (big == MAP_FAILED)
			return 1;
		for (i = 0; i < mem; i += 4096)
			big[i] = (char)(i >> 12 | 1);
	}
	if (pipe(pfd) || write(pfd[1], pipe_msg, sizeof(pipe_msg)) != sizeof(pipe_msg))
		return 1;
	filefd = open(argv[2], O_RDWR | O_CREAT, 0600);
	if (filefd < 0 || write(filefd, "01234567", 8) != 8 || lseek(filefd, 5, SEEK_SET) != 5)
		return 1;
	nullfd = open("/dev/null", O_WRONLY);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);

	printf("pid %d magic %ld counter_addr %p pipe %d %d file %d null %d\n", getpid(), frz_magic,
	       (void *)&frz_counter, pfd[0], pfd[1], filefd, nullfd);
	fflush(stdout);
	if (!strcmp(argv[1], "sleep"))
		frz_sleep();
	else
		frz_spin();
	if (selfcheck())
		return 1;
	printf("selfcheck ok counter %ld\n", frz_counter);
	return 0;
}
