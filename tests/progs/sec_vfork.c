// SPDX-License-Identifier: MIT
/*
 * sec_vfork SECONDS: the parent waits in vfork for a child that sleeps
 * SECONDS before exiting, so it cannot be stopped that long (it is in the
 * kernel).  Prints "vfork waiting" first and "vfork done" after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec ts = { argc > 1 ? atoi(argv[1]) : 10, 0 };
	pid_t pid;

	printf("vfork waiting\n");
	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		/* Only raw system calls in a vfork child. */
		syscall(SYS_nanosleep, &ts, NULL);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("vfork done\n");
	fflush(stdout);
	for (;;)
		pause();
}
