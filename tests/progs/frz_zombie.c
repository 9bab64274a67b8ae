// SPDX-License-Identifier: MIT
/* Leaves a zombie child (never reaped) and prints its pid. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	pid_t c = fork();

	if (c < 0)
		return 1;
	if (!c)
		_exit(0);
	printf("%d\n", c);
	fflush(stdout);
	for (;;)
		pause();
}
