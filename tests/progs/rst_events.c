// SPDX-License-Identifier: MIT
/*
 * "rst_events RESULT CTL PID DIR": the kernel objects an event loop is
 * made of (issue 18), checked after a restart or a migration:
 *  - an eventfd in semaphore mode with a count of 5, and a non-blocking
 *    one counting 3;
 *  - a relative timerfd (30 s, then every 2 s), a CLOCK_REALTIME timerfd
 *    with an absolute deadline 40 s away, and one that expired before the
 *    checkpoint and was not read;
 *  - a signalfd for SIGUSR1 (blocked);
 *  - an epoll fd watching a pipe with a byte in it, the eventfd
 *    (edge-triggered), the expired timerfd and the signalfd, each with its
 *    own data; after the restart it reports exactly the ready ones, and
 *    EPOLL_CTL_MOD / DEL by fd number work;
 *  - a pidfd of process PID (still running; 0: none, a migration refuses
 *    a pidfd of a home process);
 *  - an O_PATH fd of DIR;
 *  - a stream socketpair with bytes queued both ways (two sends one way),
 *    a dup of one end, and an empty SOCK_SEQPACKET pair, non-blocking;
 *  - an inotify fd watching DIR (IN_CREATE), DIR/w2 (removed: a freed wd)
 *    and DIR/w3;
 *  - POSIX timers: id 0 (30 s, then every second, SIGEV_NONE), id 1 deleted,
 *    id 2 fired before the checkpoint (its signal pending, with its
 *    sigev_value), id 3 notifying the main thread (SIGEV_THREAD_ID) half a
 *    second after the setup.
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include "rst_common.h"

#define D_PIPE 0x1111ull
#define D_EFD 0x2222ull
#define D_TFD 0x3333ull
#define D_SFD 0x4444ull

static int pp[2], efd, efd2, trel, tabs, tdue, sfd, ep, pfd, opath, sp[2], sq[2], sp_dup;
static pid_t target;
static int ino_fd, ino_wd[3];
static char ino_dir[4096];
static int tmr[4];

static int ktimer(clockid_t clk, int notify, int sig, uint64_t value, int ns_after)
{
	struct sigevent sev;
	struct itimerspec its = { .it_value.tv_nsec = ns_after };
	int id = -1;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = notify;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)value;
	if (notify == SIGEV_THREAD_ID)
		sev._sigev_un._tid = (int)syscall(SYS_gettid);
	RST_CHECK(!syscall(SYS_timer_create, clk, &sev, &id), "timer_create: %s", strerror(errno));
	if (ns_after)
		RST_CHECK(!syscall(SYS_timer_settime, id, 0, &its, NULL), "timer_settime");
	return id;
}

static void timers_setup(void)
{
	struct itimerspec its = { .it_value.tv_sec = 30, .it_interval.tv_sec = 1 };
	sigset_t m;

	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 1);
	sigaddset(&m, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	tmr[0] = ktimer(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	RST_CHECK(!syscall(SYS_timer_settime, tmr[0], 0, &its, NULL), "timer_settime 0");
	tmr[1] = ktimer(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	RST_CHECK(!syscall(SYS_timer_delete, tmr[1]), "timer_delete");
	tmr[2] = ktimer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 1, 0xabc, 1000000);
	tmr[3] = ktimer(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN + 2, 0xdef, 500000000);
	RST_CHECK(tmr[0] == 0 && tmr[1] == 1 && tmr[2] == 2 && tmr[3] == 3, "timer ids %d %d %d %d",
		  tmr[0], tmr[1], tmr[2], tmr[3]);
}

static void timers_check(void)
{
	struct timespec wait = { .tv_sec = 3 };
	struct itimerspec its;
	siginfo_t si;
	sigset_t m;
	double left;

	RST_CHECK(!syscall(SYS_timer_gettime, tmr[0], &its), "timer 0 is gone: %s", strerror(errno));
	left = its.it_value.tv_sec + its.it_value.tv_nsec / 1e9;
	RST_CHECK(left > 20 && left <= 30 && its.it_interval.tv_sec == 1,
		  "timer 0: %.3f s left, interval %lld s", left, (long long)its.it_interval.tv_sec);
	RST_CHECK(syscall(SYS_timer_gettime, tmr[1], &its) < 0 && errno == EINVAL,
		  "timer 1 was deleted and is back");
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 1);
	RST_CHECK(sigtimedwait(&m, &si, &wait) == SIGRTMIN + 1 && si.si_code == SI_TIMER &&
			  si.si_value.sival_ptr == (void *)0xabc,
		  "timer 2's signal (code %d value %p)", si.si_code, si.si_value.sival_ptr);
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 2);
	RST_CHECK(sigtimedwait(&m, &si, &wait) == SIGRTMIN + 2 && si.si_code == SI_TIMER &&
			  si.si_value.sival_ptr == (void *)0xdef,
		  "timer 3's signal to the main thread (code %d value %p)", si.si_code,
		  si.si_value.sival_ptr);
}

static double left_s(int fd, double *interval)
{
	struct itimerspec its;

	RST_CHECK(!timerfd_gettime(fd, &its), "timerfd_gettime: %s", strerror(errno));
	if (interval)
		*interval = its.it_interval.tv_sec + its.it_interval.tv_nsec / 1e9;
	return its.it_value.tv_sec + its.it_value.tv_nsec / 1e9;
}

static void setup(const char *dir)
{
	struct itimerspec its = { .it_value.tv_sec = 30, .it_interval.tv_sec = 2 };
	struct epoll_event ev;
	struct timespec now;
	sigset_t m;

	RST_CHECK(!pipe(pp) && write(pp[1], "x", 1) == 1, "pipe");
	efd = eventfd(5, EFD_SEMAPHORE);
	efd2 = eventfd(3, EFD_NONBLOCK);
	trel = timerfd_create(CLOCK_MONOTONIC, 0);
	tabs = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	tdue = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	RST_CHECK(efd >= 0 && efd2 >= 0 && trel >= 0 && tabs >= 0 && tdue >= 0, "eventfd/timerfd");
	RST_CHECK(!timerfd_settime(trel, 0, &its, NULL), "timerfd_settime");
	clock_gettime(CLOCK_REALTIME, &now);
	its = (struct itimerspec){ .it_value.tv_sec = now.tv_sec + 40 };
	RST_CHECK(!timerfd_settime(tabs, TFD_TIMER_ABSTIME, &its, NULL), "timerfd_settime abs");
	its = (struct itimerspec){ .it_value.tv_nsec = 1000000 };
	RST_CHECK(!timerfd_settime(tdue, 0, &its, NULL), "timerfd_settime due");
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	sfd = signalfd(-1, &m, SFD_NONBLOCK);
	ep = epoll_create1(0);
	RST_CHECK(sfd >= 0 && ep >= 0, "signalfd/epoll");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = D_PIPE };
	RST_CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &ev), "epoll_ctl pipe");
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = D_EFD };
	RST_CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), "epoll_ctl eventfd");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = D_TFD };
	RST_CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, tdue, &ev), "epoll_ctl timerfd");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = D_SFD };
	RST_CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev), "epoll_ctl signalfd");
	pfd = target ? (int)syscall(SYS_pidfd_open, target, 0) : -1;
	opath = open(dir, O_PATH | O_DIRECTORY);
	RST_CHECK((!target || pfd >= 0) && opath >= 0, "pidfd_open %d / O_PATH %s: %s",
		  (int)target, dir, strerror(errno));
	RST_CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sp) &&
			  !socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sq),
		  "socketpair: %s", strerror(errno));
	RST_CHECK(send(sp[0], "hello ", 6, 0) == 6 && send(sp[0], "world", 5, 0) == 5 &&
			  send(sp[1], "back", 4, 0) == 4,
		  "send");
	sp_dup = dup(sp[1]);
	snprintf(ino_dir, sizeof(ino_dir), "%s/ino", dir);
	{
		char p2[4200], p3[4200];

		snprintf(p2, sizeof(p2), "%s/w2", ino_dir);
		snprintf(p3, sizeof(p3), "%s/w3", ino_dir);
		RST_CHECK(!mkdir(ino_dir, 0700) && !mkdir(p2, 0700) && !mkdir(p3, 0700), "mkdir");
		ino_fd = inotify_init1(IN_NONBLOCK);
		ino_wd[0] = inotify_add_watch(ino_fd, ino_dir, IN_CREATE);
		ino_wd[1] = inotify_add_watch(ino_fd, p2, IN_CREATE);
		ino_wd[2] = inotify_add_watch(ino_fd, p3, IN_DELETE);
		RST_CHECK(ino_wd[0] == 1 && ino_wd[1] == 2 && ino_wd[2] == 3 &&
				  !inotify_rm_watch(ino_fd, ino_wd[1]),
			  "inotify watches %d %d %d", ino_wd[0], ino_wd[1], ino_wd[2]);
		/* The IN_IGNORED of the removal, read before the checkpoint. */
		char ev[256];

		while (read(ino_fd, ev, sizeof(ev)) > 0)
			;
	}
	timers_setup();
	usleep(20000); /* tdue and timer 2 expire, unread */
}

static void check_epoll(void)
{
	struct epoll_event evs[8], ev;
	bool seen[5] = { false };
	int n, i;

	n = epoll_wait(ep, evs, 8, 0);
	for (i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;

		RST_CHECK(d >= D_PIPE && d <= D_SFD && d % D_PIPE == 0, "epoll data %#llx",
			  (unsigned long long)d);
		seen[d / D_PIPE] = true;
	}
	/* No SIGUSR1 yet: the signalfd is not ready. */
	RST_CHECK(n == 3 && seen[1] && seen[2] && seen[3],
		  "epoll_wait reported %d events (pipe %d eventfd %d timerfd %d signalfd %d)", n,
		  seen[1], seen[2], seen[3], seen[4]);
	/* Edge-triggered: the eventfd is not reported again. */
	n = epoll_wait(ep, evs, 8, 0);
	for (i = 0; i < n; i++)
		RST_CHECK(evs[i].data.u64 != D_EFD, "the edge-triggered eventfd came twice");
	kill(getpid(), SIGUSR1);
	n = epoll_wait(ep, evs, 8, 0);
	for (i = 0, seen[4] = false; i < n; i++)
		seen[4] |= evs[i].data.u64 == D_SFD;
	RST_CHECK(seen[4], "the signalfd is not reported after SIGUSR1");
	ev = (struct epoll_event){ .events = EPOLLOUT, .data.u64 = 7 };
	RST_CHECK(!epoll_ctl(ep, EPOLL_CTL_MOD, pp[0], &ev),
		  "EPOLL_CTL_MOD of the pipe (not registered under its fd number?): %s",
		  strerror(errno));
	RST_CHECK(!epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL), "EPOLL_CTL_DEL of the eventfd: %s",
		  strerror(errno));
}

static void check(void)
{
	struct signalfd_siginfo si;
	double left, interval;
	struct timespec now;
	uint64_t v;
	char buf[64];

	check_epoll();
	RST_CHECK(read(efd, &v, 8) == 8 && v == 1, "semaphore eventfd read %llu, not 1",
		  (unsigned long long)v);
	RST_CHECK(read(efd2, &v, 8) == 8 && v == 3, "eventfd read %llu, not 3",
		  (unsigned long long)v);
	RST_CHECK(read(efd2, &v, 8) < 0 && errno == EAGAIN, "eventfd lost O_NONBLOCK");
	left = left_s(trel, &interval);
	RST_CHECK(left > 20 && left <= 30 && interval == 2,
		  "relative timerfd: %.3f s left (of 30), interval %.3f", left, interval);
	clock_gettime(CLOCK_REALTIME, &now);
	left = left_s(tabs, NULL);
	RST_CHECK(left > 0 && left <= 40, "absolute timerfd: %.3f s left", left);
	RST_CHECK(read(tdue, &v, 8) == 8 && v == 1, "the expired timerfd read %llu", (unsigned long long)v);
	RST_CHECK(read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR1,
		  "signalfd did not give SIGUSR1");
	RST_CHECK(read(pp[0], buf, 1) == 1 && buf[0] == 'x', "the pipe's byte");
	RST_CHECK(!target || syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) == 0,
		  "the pidfd does not reach process %d: %s", (int)target, strerror(errno));
	RST_CHECK(recv(sp_dup, buf, sizeof(buf), MSG_DONTWAIT) == 11 && !memcmp(buf, "hello world", 11),
		  "the socketpair's bytes one way");
	RST_CHECK(recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT) == 4 && !memcmp(buf, "back", 4),
		  "the socketpair's bytes the other way");
	RST_CHECK(send(sp[1], "ping", 4, 0) == 4 && recv(sp[0], buf, 4, 0) == 4,
		  "the socketpair's ends are not each other's");
	RST_CHECK(send(sq[0], "m1", 2, 0) == 2 && send(sq[0], "m22", 3, 0) == 3 &&
			  recv(sq[1], buf, sizeof(buf), 0) == 2 && recv(sq[1], buf, sizeof(buf), 0) == 3,
		  "the seqpacket pair lost its message boundaries or its peer");
	RST_CHECK(recv(sq[1], buf, 1, 0) < 0 && errno == EAGAIN, "the seqpacket end lost O_NONBLOCK");
	RST_CHECK(fcntl(opath, F_GETFL) & O_PATH, "the O_PATH fd is not O_PATH any more");
	timers_check();
	{
		char ev[512], path[4200];
		struct inotify_event *e = (struct inotify_event *)ev;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/new", ino_dir);
		close(open(path, O_CREAT | O_WRONLY, 0600));
		n = read(ino_fd, ev, sizeof(ev));
		RST_CHECK(n > 0 && e->wd == 1 && (e->mask & IN_CREATE) && !strcmp(e->name, "new"),
			  "inotify: no IN_CREATE of new on wd 1 (read %zd)", n);
		RST_CHECK(inotify_rm_watch(ino_fd, 2) < 0 && errno == EINVAL,
			  "inotify: wd 2 was removed, and is back");
		RST_CHECK(!inotify_rm_watch(ino_fd, 3), "inotify: wd 3 is gone");
	}
	RST_CHECK(faccessat(opath, ".", F_OK, 0) == 0, "the O_PATH fd does not lead to its dir");
}

int main(int argc, char **argv)
{
	rst_init(argc, argv, 2, "PID DIR");
	target = (pid_t)atoi(argv[3]);
	setup(argv[4]);
	rst_ready();
	rst_wait_trigger();
	check();
	rst_pass("eventfds, timerfds, signalfd, epoll (events, data, ET, MOD/DEL), pidfd, O_PATH, "
		 "socketpairs with their queues, POSIX timers, inotify");
}
