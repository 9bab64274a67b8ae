// SPDX-License-Identifier: MIT
/*
 * "frz_parent REPORT PROG ARGS...": run PROG as a child and watch it the
 * way a parent can: SIGCHLD and waitid() with WSTOPPED|WCONTINUED.  When
 * the child exits, write "stops N continues N sigchld N status N" to
 * REPORT.  A freeze must leave stops, continues at 0 and sigchld at 1.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t nr_sigchld;

static void on_chld(int sig)
{
	(void)sig;
	nr_sigchld++;
}

int main(int argc, char **argv)
{
	int stops = 0, conts = 0, status = -1;
	struct sigaction sa;
	siginfo_t si;
	FILE *f;
	pid_t c;

	if (argc < 3)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	c = fork();
	if (c < 0)
		return 1;
	if (!c) {
		execv(argv[2], argv + 2);
		_exit(127);
	}
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, c, &si, WEXITED | WSTOPPED | WCONTINUED) < 0)
			continue;
		if (si.si_code == CLD_STOPPED || si.si_code == CLD_TRAPPED)
			stops++;
		else if (si.si_code == CLD_CONTINUED)
			conts++;
		else {
			status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
			break;
		}
	}
	f = fopen(argv[1], "w");
	if (!f)
		return 1;
	fprintf(f, "stops %d continues %d sigchld %d status %d\n", stops, conts, (int)nr_sigchld,
		status);
	fclose(f);
	return 0;
}
