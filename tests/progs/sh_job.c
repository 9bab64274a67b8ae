// SPDX-License-Identifier: MIT
/*
 * A job for the shadow tests (tests/integration/test_shadow.sh):
 *
 *   sh_job RESULT MODE     MODE: exit:N | segv | fork:N
 *
 * Appends "READY <pid>" to RESULT, then "USR1 <n>" for each SIGUSR1 it
 * handles; on SIGUSR2 it ends as MODE says (exit code N, or a SIGSEGV from
 * a store through NULL; fork:N forks a child that prints "CHILD <pid>" on
 * stdout and exits N, reaps it, prints "REAPED <N>" and exits N).  SIGINT, SIGTSTP and the rest
 * keep their default actions.  It opens RESULT for each line, so it holds no fd on it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, usr2;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2 = 1;
}

static void say(const char *path, const char *fmt, long v)
{
	char line[128];
	int fd, n;

	n = snprintf(line, sizeof(line), fmt, v);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

int main(int argc, char **argv)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	struct sigaction sa;
	long seen = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: sh_job RESULT exit:N|segv\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	say(argv[1], "READY %ld\n", (long)getpid());
	for (;;) {
		nanosleep(&tick, NULL);
		if (usr1 != seen) {
			seen = usr1;
			say(argv[1], "USR1 %ld\n", seen);
		}
		if (!usr2)
			continue;
		if (!strncmp(argv[2], "exit:", 5))
			exit(atoi(argv[2] + 5));
		if (!strcmp(argv[2], "segv"))
			*(volatile int *)(uintptr_t)0 = 1;
		if (!strncmp(argv[2], "fork:", 5)) {
			int st = 0;
			pid_t c = fork();

			if (c == 0) {
				printf("CHILD %ld\n", (long)getpid());
				fflush(stdout);
				_exit(atoi(argv[2] + 5));
			}
			if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st))
				return 4;
			printf("REAPED %d\n", WEXITSTATUS(st));
			fflush(stdout);
			exit(WEXITSTATUS(st));
		}
		return 3;
	}
}
