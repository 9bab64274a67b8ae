// SPDX-License-Identifier: MIT
/* A two-threaded process, for the freezer's refusal: prints its pid. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, idle, NULL))
		return 1;
	printf("%d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
