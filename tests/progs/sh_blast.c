// SPDX-License-Identifier: MIT
/*
 * A bulk writer for bench_shadow.sh:  sh_blast MIB
 * Waits for SIGUSR1 (sent to its home pid once it has migrated), then
 * writes MIB MiB of a pattern to its stdout in 64 KiB writes and exits 0.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	static char buf[64 << 10];
	struct sigaction sa;
	long long left;
	sigset_t none;

	if (argc != 2)
		return 2;
	left = atoll(argv[1]) << 20;
	memset(buf, 'x', sizeof(buf));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&none);
	while (!go)
		sigsuspend(&none);
	while (left > 0) {
		ssize_t n =
			write(1, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n <= 0)
			return 1;
		left -= n;
	}
	return 0;
}
