// SPDX-License-Identifier: MIT
/*
 * Restart test: signals.  rst_sig RESULT CTL
 *  - handlers (SA_SIGINFO, SA_RESTART, SA_ONSTACK) run after restart;
 *  - SIGHUP, SIGUSR1, SIGRTMIN+2, SIGRTMIN+3 are blocked and stay so; the
 *    script sends SIGHUP after restart and it must stay pending;
 *  - pending before the checkpoint: SIGUSR1 queued with value 77, two
 *    SIGRTMIN+2 with values 4242, 4243 (process-wide) and SIGRTMIN+3 sent
 *    to the thread; unblocked after restart they are delivered with their
 *    values, in order;
 *  - an alternate signal stack: in place, and SIGUSR2 runs on it;
 *  - ITIMER_REAL every 20 ms keeps firing (the trigger read() is
 *    interrupted by it all the time: SA_RESTART must keep working);
 *  - SIGPIPE ignored stays ignored.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "rst_common.h"

static char altstack[65536] __attribute__((aligned(16)));
static volatile sig_atomic_t usr1_count, usr1_value, hup_count, alrm_count, rt3_count;
static volatile int rt_values[8];
static volatile sig_atomic_t rt_count;
static volatile uintptr_t usr2_sp;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	usr1_count++;
	usr1_value = si->si_value.sival_int;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGRTMIN + 3) {
		rt3_count++;
		return;
	}
	if (rt_count < 8)
		rt_values[rt_count] = si->si_value.sival_int;
	rt_count++;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_count++;
}

static void on_alrm(int sig)
{
	(void)sig;
	alrm_count++;
}

static void on_usr2(int sig)
{
	int local;

	(void)sig;
	usr2_sp = (uintptr_t)&local;
}

static void handle(int sig, void (*h)(int), void (*a)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (a) {
		sa.sa_sigaction = a;
		sa.sa_flags = SA_SIGINFO;
	} else {
		sa.sa_handler = h;
	}
	sa.sa_flags |= flags;
	if (sigaction(sig, &sa, NULL) < 0)
		rst_fail("sigaction %d", sig);
}

static void sleep_ms(long ms)
{
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += ms * 1000000;
	end.tv_sec += end.tv_nsec / 1000000000;
	end.tv_nsec %= 1000000000;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &now);
}

int main(int argc, char **argv)
{
	struct itimerval itv = { { 0, 20000 }, { 0, 20000 } };
	sigset_t set, cur, pend;
	union sigval v;
	stack_t ss;
	struct sigaction old;
	int before;

	rst_init(argc, argv, 0, "");
	handle(SIGUSR1, NULL, on_usr1, SA_RESTART);
	handle(SIGRTMIN + 2, NULL, on_rt, SA_RESTART);
	handle(SIGRTMIN + 3, NULL, on_rt, SA_RESTART);
	handle(SIGHUP, on_hup, NULL, SA_RESTART);
	handle(SIGALRM, on_alrm, NULL, SA_RESTART);
	handle(SIGUSR2, on_usr2, NULL, SA_RESTART | SA_ONSTACK);
	signal(SIGPIPE, SIG_IGN);

	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	ss.ss_flags = 0;
	RST_CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack");

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 2);
	sigaddset(&set, SIGRTMIN + 3);
	RST_CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "sigprocmask");
	v.sival_int = 77;
	RST_CHECK(sigqueue(getpid(), SIGUSR1, v) == 0, "sigqueue USR1");
	v.sival_int = 4242;
	RST_CHECK(sigqueue(getpid(), SIGRTMIN + 2, v) == 0, "sigqueue RT");
	v.sival_int = 4243;
	RST_CHECK(sigqueue(getpid(), SIGRTMIN + 2, v) == 0, "sigqueue RT");
	RST_CHECK(syscall(SYS_tgkill, getpid(), gettid(), SIGRTMIN + 3) == 0, "tgkill");

	RST_CHECK(setitimer(ITIMER_REAL, &itv, NULL) == 0, "setitimer");
	while (alrm_count < 3)
		sleep_ms(10);

	rst_ready();
	rst_wait_trigger();

	/* Masks and pending signals as they were, plus the SIGHUP the
	 * script sent after the restart. */
	RST_CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0, "sigprocmask get");
	RST_CHECK(sigismember(&cur, SIGHUP) && sigismember(&cur, SIGUSR1) &&
			  sigismember(&cur, SIGRTMIN + 2) && sigismember(&cur, SIGRTMIN + 3) &&
			  !sigismember(&cur, SIGALRM),
		  "blocked mask not restored");
	RST_CHECK(sigpending(&pend) == 0, "sigpending");
	RST_CHECK(sigismember(&pend, SIGUSR1) && sigismember(&pend, SIGRTMIN + 2) &&
			  sigismember(&pend, SIGRTMIN + 3),
		  "pending signals lost (USR1 %d RT2 %d RT3 %d)", sigismember(&pend, SIGUSR1),
		  sigismember(&pend, SIGRTMIN + 2), sigismember(&pend, SIGRTMIN + 3));
	RST_CHECK(sigismember(&pend, SIGHUP) && hup_count == 0,
		  "SIGHUP sent after restart was not held pending (pending %d, delivered %d)",
		  sigismember(&pend, SIGHUP), (int)hup_count);
	RST_CHECK(sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_IGN,
		  "SIGPIPE no longer ignored");
	RST_CHECK(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_sigaction == on_usr1 &&
			  (old.sa_flags & SA_SIGINFO),
		  "SIGUSR1 action lost");

	/* The interval timer keeps firing. */
	RST_CHECK(getitimer(ITIMER_REAL, &itv) == 0 && itv.it_interval.tv_sec == 0 &&
			  itv.it_interval.tv_usec == 20000,
		  "itimer interval %ld.%06ld", (long)itv.it_interval.tv_sec,
		  (long)itv.it_interval.tv_usec);
	before = alrm_count;
	sleep_ms(300);
	RST_CHECK(alrm_count - before >= 5, "itimer fired %d times in 300 ms",
		  (int)(alrm_count - before));

	/* The alternate stack. */
	RST_CHECK(sigaltstack(NULL, &ss) == 0 && ss.ss_sp == altstack &&
			  ss.ss_size == sizeof(altstack) && !(ss.ss_flags & SS_DISABLE),
		  "sigaltstack not restored (%p %zu %#x)", ss.ss_sp, ss.ss_size, ss.ss_flags);
	raise(SIGUSR2);
	RST_CHECK(usr2_sp > (uintptr_t)altstack && usr2_sp < (uintptr_t)altstack + sizeof(altstack),
		  "SIGUSR2 handler ran at %#lx, not on the alternate stack", (unsigned long)usr2_sp);

	/* Deliver what was pending, in order, with its siginfo. */
	sigdelset(&set, SIGHUP);
	RST_CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0, "unblock");
	RST_CHECK(usr1_count == 1 && usr1_value == 77, "SIGUSR1 delivered %d times, value %d",
		  (int)usr1_count, (int)usr1_value);
	RST_CHECK(rt_count == 2 && rt_values[0] == 4242 && rt_values[1] == 4243,
		  "SIGRTMIN+2 delivered %d times, values %d %d", (int)rt_count, rt_values[0],
		  rt_values[1]);
	RST_CHECK(rt3_count == 1, "SIGRTMIN+3 delivered %d times", (int)rt3_count);
	RST_CHECK(hup_count == 0, "blocked SIGHUP was delivered");
	rst_pass("signals");
}
