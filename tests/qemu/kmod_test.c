// SPDX-License-Identifier: MIT
/*
 * The in-VM test driver of clondike.ko (run by tests/qemu/init.sh inside
 * QEMU, as root, with the module loaded).  Each test prints one line,
 * "PASS <name>" or "FAIL <name>: <why>", or "SKIP <name>: <why>";
 * run.sh counts them from the serial console.
 *
 * Targets are forked children of this driver, so they share an anonymous
 * MAP_SHARED "board" with it: progress counters, addresses of known data,
 * and their self-check verdicts.
 *
 *   kmod_test [test...]        run the named tests (all when none)
 *   kmod_test --bench          print freeze/read figures, module vs ptrace
 */
#include "kmod_test.h"

struct board *B;
int devfd = -1;
int failures;
const char *cur;

void pass(void)
{
	printf("PASS %s\n", cur);
	fflush(stdout);
}

int fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", cur);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
	return -1;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Did worker 0 advance past c within ms?  (TCG VMs can be slow.) */
int progressed(uint64_t c, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (B->count[0] != c)
			return 1;
		msleep(10);
	}
	return B->count[0] != c;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "version", t_version },
	{ "freeze_thaw", t_freeze_thaw },
	{ "restart_read", t_restart_read },
	{ "restart_sleep", t_restart_sleep },
	{ "sigkill_frozen", t_sigkill },
	{ "exit_while_read", t_exit_while_read },
	{ "concurrent_freeze", t_concurrent },
	{ "early_close", t_early_close },
	{ "permission", t_permission },
	{ "thread_churn", t_thread_churn },
	{ "nofault", t_nofault },
	{ "stopped_timeout", t_stopped_timeout },
	{ "deferred_signal", t_deferred_signal },
	{ "image", t_image },
	{ "ptrace_compare", t_ptrace_compare },
	{ "ptrace_compare_threads", t_ptrace_compare_threads },
	{ "ptrace_compare_state", t_ptrace_compare_state },
	{ "ptrace_compare_state_each", t_ptrace_compare_state_each },
	{ "ptrace_compare_events", t_ptrace_compare_events },
	{ "restart_image", t_restart_image },
	{ "persist_kill", t_persist_kill },
	{ "unload_while_frozen", t_unload },
};

int main(int argc, char **argv)
{
	size_t i;
	int a;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	B = mmap(NULL, sizeof(*B), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (B == MAP_FAILED || pipe(B->pipe_in))
		return 2;
	devfd = open(CLD_KABI_DEVICE, O_RDWR | O_CLOEXEC);
	if (devfd < 0) {
		printf("FAIL open %s: %s\n", CLD_KABI_DEVICE, strerror(errno));
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--bench")) {
		bench();
		return 0;
	}
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int want = argc == 1;

		for (a = 1; a < argc; a++)
			if (!strcmp(argv[a], tests[i].name))
				want = 1;
		if (!want)
			continue;
		cur = tests[i].name;
		tests[i].fn();
	}
	return failures ? 1 : 0;
}
