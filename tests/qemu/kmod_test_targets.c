// SPDX-License-Identifier: MIT
/*
 * The targets: forked children of the driver that report on the board
 * (progress, known data, self-check verdicts); spawn() and reap().
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "kmod_test.h"

uint64_t pattern_word(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull ^ 0x5555aaaa5555aaaaull;
}

/* n known words, announced on the board; NULL without memory. */
static uint64_t *make_pattern(uint64_t n)
{
	uint64_t *pat = malloc(n * 8), i;

	for (i = 0; pat && i < n; i++)
		pat[i] = pattern_word(i);
	B->pattern = (uintptr_t)pat;
	B->pattern_len = pat ? n * 8 : 0;
	return pat;
}

/* On one CPU, the kernel's rseq cpu_id update on the ptrace backend's
 * injected calls writes what is already there. */
static void pin_cpu0(void)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	sched_yield();
}

static void *worker(void *arg)
{
	long i = (long)arg;
	uint64_t local = 0;

	while (!B->stop) {
		local++;
		B->count[i] = local;
		/* Invariant the thread re-checks: memory and register state
		 * survive a freeze unchanged. */
		if (B->count[i] != local)
			B->verdict = -1;
	}
	return NULL;
}

/* Workers + a main thread blocked in read() on a pipe. */
int target_spin(void)
{
	pthread_t th[NWORK];
	uint64_t *pat, n = (1u << 20) / 8, i;
	char c;
	long k;

	int keep[2];

	/* A pipe it holds both ends of, with unread data: PIPEDATA. */
	if (pipe(keep) || write(keep[1], "clondike pipe", 13) != 13)
		return 3;
	pat = make_pattern(n);
	if (!pat)
		return 3;
	for (k = 0; k < NWORK; k++)
		pthread_create(&th[k], NULL, worker, (void *)k);
	B->nthreads = NWORK + 1;
	B->ready = 1;
	/* Restartable: with no handler installed it must never see EINTR. */
	while (read(B->pipe_in[0], &c, 1) < 0)
		if (errno == EINTR)
			B->eintr = 1;
	B->stop = 1;
	for (k = 0; k < NWORK; k++)
		pthread_join(th[k], NULL);
	for (i = 0; i < n; i++)
		if (pat[i] != pattern_word(i))
			B->verdict = -1;
	if (B->verdict == 0 && !B->eintr)
		B->verdict = 1;
	return B->verdict == 1 ? 0 : 1;
}

/* Single-threaded: blocked in read(). */
int target_single(void)
{
	uint64_t *pat, n = (256u << 10) / 8, i;
	int keep[2];
	char c;

	pin_cpu0();
	if (pipe(keep) || write(keep[1], "clondike pipe", 13) != 13)
		return 3;
	pat = make_pattern(n);
	if (!pat)
		return 3;
	B->ready = 1;
	while (read(B->pipe_in[0], &c, 1) < 0)
		if (errno == EINTR)
			B->eintr = 1;
	for (i = 0; i < n; i++)
		if (pat[i] != pattern_word(i))
			return 1;
	return B->eintr ? 1 : 0;
}

/*
 * Multi-threaded, for the ptrace comparison: besides the main thread
 * (blocked in read() like target_single), four named threads with their
 * own masks: 0 blocked in a futex (pthread_cond_wait), 1 in nanosleep
 * with a pthread_kill SIGUSR1 pending, 2 in read() on an empty pipe and
 * with a sigaltstack, 3 spinning (NMT, kmod_test.h).  All on CPU 0 (see
 * pin_cpu0).
 */
static pthread_mutex_t mt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mt_cond = PTHREAD_COND_INITIALIZER;
static int mt_pipe[2];
static volatile int mt_up;
static volatile pid_t mt_tid[NMT];

static void mt_name(long i, char name[16])
{
	snprintf(name, 16, "cmp-thread-%ld", i);
}

static void *mt_thread(void *arg)
{
	long i = (long)arg;
	struct timespec ts = { 3600, 0 };
	char name[16], c;
	sigset_t m;

	mt_name(i, name);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGRTMIN + (int)i);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	if (i == 2) {
		stack_t ss = { .ss_sp = malloc(65536), .ss_size = 65536 };

		sigaltstack(&ss, NULL);
	}
	mt_tid[i] = (pid_t)syscall(SYS_gettid);
	__atomic_add_fetch(&mt_up, 1, __ATOMIC_SEQ_CST);
	switch (i) {
	case 0:
		pthread_mutex_lock(&mt_lock);
		while (!B->stop)
			pthread_cond_wait(&mt_cond, &mt_lock);
		pthread_mutex_unlock(&mt_lock);
		break;
	case 1:
		nanosleep(&ts, NULL);
		break;
	case 2:
		while (read(mt_pipe[0], &c, 1) < 0 && errno == EINTR)
			B->eintr = 1;
		break;
	default:
		worker((void *)0);
	}
	return NULL;
}

/* The kernel's state letter of one of our threads ('?' if unknown). */
static char mt_state(pid_t tid)
{
	char path[64], buf[256], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

int target_threads(void)
{
	pthread_t th[NMT];
	uint64_t *pat, n = (256u << 10) / 8, i;
	char c, name[16], now[16];
	int keep[2], k, bad = 0;

	pin_cpu0();
	if (pipe(keep) || write(keep[1], "clondike pipe", 13) != 13 || pipe(mt_pipe))
		return 3;
	pat = make_pattern(n);
	if (!pat)
		return 3;
	for (k = 0; k < NMT; k++)
		if (pthread_create(&th[k], NULL, mt_thread, (void *)(long)k))
			return 3;
	/* Each blocking thread asleep in its call before the freeze. */
	for (k = 0; k < 2000 && (mt_up < NMT || mt_state(mt_tid[0]) != 'S' ||
				 mt_state(mt_tid[1]) != 'S' || mt_state(mt_tid[2]) != 'S');
	     k++)
		msleep(2);
	if (pthread_kill(th[1], SIGUSR1))
		return 3;
	B->nthreads = NMT + 1;
	B->ready = 1;
	while (read(B->pipe_in[0], &c, 1) < 0)
		if (errno == EINTR)
			B->eintr = 1;
	for (k = 0; k < NMT; k++) {
		mt_name(k, name);
		if (pthread_getname_np(th[k], now, sizeof(now)) || strcmp(now, name))
			bad = 1;
	}
	B->stop = 1;
	pthread_mutex_lock(&mt_lock);
	pthread_cond_broadcast(&mt_cond);
	pthread_mutex_unlock(&mt_lock);
	if (write(mt_pipe[1], "x", 1) != 1)
		bad = 1;
	pthread_join(th[0], NULL);
	pthread_join(th[2], NULL);
	pthread_join(th[3], NULL);
	for (i = 0; i < n; i++)
		if (pat[i] != pattern_word(i))
			bad = 1;
	/* The nanosleep thread ends with the process. */
	return bad || B->eintr || B->verdict < 0 ? 1 : 0;
}

/*
 * Runs to completion by itself: sleeps in steps, then checks its memory
 * and exits 0 (42 if the pattern was damaged).  For restart tests.
 */
int target_steps(void)
{
	uint64_t *pat, n = (128u << 10) / 8, i;
	volatile int step;

	pat = malloc(n * 8);
	for (i = 0; i < n; i++)
		pat[i] = pattern_word(i);
	B->ready = 1;
	for (step = 0; step < 15; step++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	for (i = 0; i < n; i++)
		if (pat[i] != pattern_word(i))
			return 42;
	return 0;
}

/* 32 MiB of populated anonymous memory, for read throughput. */
int target_big(void)
{
	size_t len = 32u << 20, i;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return 1;
	for (i = 0; i < len; i += 4096)
		memset(m + i, (int)(i >> 12), 4096);
	B->pattern = (uintptr_t)m;
	B->pattern_len = len;
	B->ready = 1;
	while (!B->stop)
		pause();
	return 0;
}

/* Sleeps in nanosleep: restart via restart_syscall. */
int target_sleep(void)
{
	struct timespec ts = { 3600, 0 };

	B->ready = 1;
	nanosleep(&ts, NULL);
	return 0;
}

/* Creates and joins threads as fast as it can. */
static void *short_thread(void *arg)
{
	(void)arg;
	return NULL;
}

int target_spawn(void)
{
	B->ready = 1;
	while (!B->stop) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_thread, NULL) == 0)
			pthread_join(t, NULL);
		B->count[0]++;
	}
	return 0;
}

/* Touches little: big untouched anonymous and file mappings. */
int target_sparse(void)
{
	char *a = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/bin/busybox", O_RDONLY);
	char *f = fd >= 0 ? mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;

	if (a == MAP_FAILED)
		return 1;
	a[0] = 1;
	a[(32 << 20) + 5] = 2; /* two pages populated */
	(void)f;
	B->pattern = (uintptr_t)a;
	B->ready = 1;
	while (!B->stop)
		pause();
	return 0;
}

int target_pause(void)
{
	B->ready = 1;
	for (;;)
		pause();
	return 0;
}

/* A file of ST_FILE_SZ bytes at path, opened O_RDWR (-1 on error). */
static int st_file(const char *path)
{
	static const char zero[ST_FILE_SZ];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0 && write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int st_lock(int fd, int cmd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	return fcntl(fd, cmd, &fl);
}

/* Set up what target_state holds at the freeze; 0 or the failing step. */
static int st_setup(int what, volatile int *fd)
{
	char path[64];
	int p[2], o;

	fd[ST_FD_FILE] = st_file("/tmp/st-file");
	if (fd[ST_FD_FILE] < 0 || lseek(fd[ST_FD_FILE], ST_FILE_POS, SEEK_SET) != ST_FILE_POS)
		return 1;
	fd[ST_FD_FILE_DUP] = dup(fd[ST_FD_FILE]);
	fd[ST_FD_FILE_AGAIN] = open("/tmp/st-file", O_RDONLY);
	if (fd[ST_FD_FILE_DUP] < 0 || fd[ST_FD_FILE_AGAIN] < 0 ||
	    lseek(fd[ST_FD_FILE_AGAIN], ST_AGAIN_POS, SEEK_SET) != ST_AGAIN_POS)
		return 2;
	if (pipe(p) || fcntl(p[1], F_SETPIPE_SZ, ST_PIPE_SZ) != ST_PIPE_SZ ||
	    write(p[1], ST_PIPE_DATA, sizeof(ST_PIPE_DATA)) != sizeof(ST_PIPE_DATA))
		return 3;
	fd[ST_FD_PIPE_R] = p[0];
	fd[ST_FD_PIPE_W] = p[1];
	fd[ST_FD_PIPE_DUP] = dup(p[0]);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	fd[ST_FD_PIPE_AGAIN] = open(path, O_RDONLY | O_NONBLOCK);
	if (fd[ST_FD_PIPE_DUP] < 0 || fd[ST_FD_PIPE_AGAIN] < 0)
		return 4;
	unlink("/tmp/st-fifo");
	if (mkfifo("/tmp/st-fifo", 0600))
		return 5;
	fd[ST_FD_FIFO] = open("/tmp/st-fifo", O_RDWR);
	if (fd[ST_FD_FIFO] < 0 || fcntl(fd[ST_FD_FIFO], F_SETPIPE_SZ, ST_FIFO_SZ) != ST_FIFO_SZ)
		return 6;
	fd[ST_FD_FLOCK] = st_file("/tmp/st-flock");
	fd[ST_FD_POSIX] = st_file("/tmp/st-posix");
	fd[ST_FD_OFD] = st_file("/tmp/st-ofd");
	if (fd[ST_FD_FLOCK] < 0 || fd[ST_FD_POSIX] < 0 || fd[ST_FD_OFD] < 0)
		return 7;
	if (((what & ST_FLOCK) && flock(fd[ST_FD_FLOCK], LOCK_EX)) ||
	    ((what & ST_POSIX) && st_lock(fd[ST_FD_POSIX], F_SETLK)) ||
	    ((what & ST_OFD) && st_lock(fd[ST_FD_OFD], F_OFD_SETLK)))
		return 8;
	if (what & ST_TUNE) {
		o = open("/proc/self/oom_score_adj", O_WRONLY);
		snprintf(path, sizeof(path), "%d", ST_OOM);
		if (o < 0 || write(o, path, strlen(path)) != (ssize_t)strlen(path))
			return 9;
		close(o);
		if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
			return 10;
	}
	return 0;
}

/* After the thaw: the state is as it was (1 if not). */
static int st_check(int what, volatile int *fd)
{
	char buf[64], want[16];
	ssize_t n;
	int o, bad = 0;

	bad |= lseek(fd[ST_FD_FILE], 0, SEEK_CUR) != ST_FILE_POS;
	bad |= lseek(fd[ST_FD_FILE_DUP], 0, SEEK_CUR) != ST_FILE_POS;
	bad |= lseek(fd[ST_FD_FILE_AGAIN], 0, SEEK_CUR) != ST_AGAIN_POS;
	bad |= fcntl(fd[ST_FD_PIPE_R], F_GETPIPE_SZ) != ST_PIPE_SZ;
	bad |= fcntl(fd[ST_FD_FIFO], F_GETPIPE_SZ) != ST_FIFO_SZ;
	/* Its data, through the separate non-blocking open. */
	n = read(fd[ST_FD_PIPE_AGAIN], buf, sizeof(buf));
	bad |= n != sizeof(ST_PIPE_DATA) || memcmp(buf, ST_PIPE_DATA, sizeof(ST_PIPE_DATA));
	bad |= read(fd[ST_FD_PIPE_AGAIN], buf, sizeof(buf)) != -1 || errno != EAGAIN;
	bad |= (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1) != !!(what & ST_TUNE);
	o = open("/proc/self/oom_score_adj", O_RDONLY);
	n = o >= 0 ? read(o, buf, sizeof(buf) - 1) : -1;
	if (o >= 0)
		close(o);
	snprintf(want, sizeof(want), "%d\n", what & ST_TUNE ? ST_OOM : 0);
	bad |= n <= 0 || (buf[n] = 0, strcmp(buf, want));
	return bad;
}

/*
 * The state format 1.2 records (issue 18): open file descriptions shared
 * by dup and separate opens of one file or pipe, pipe and FIFO capacity,
 * file locks, a child, oom_score_adj and THP disable, as B->st_what asks
 * (ST_*; the fds in B->st_fd).  Single-threaded, blocked in read().
 */
int target_state(void)
{
	int what = B->st_what, r, bad;
	pid_t child = 0;
	char c;

	pin_cpu0();
	if (what & ST_CHILD) {
		child = fork();
		if (child < 0)
			return 3;
		if (child == 0) {
			/* Never outlives the target, however it ends. */
			prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
			if (getppid() == 1)
				_exit(0);
			for (;;)
				pause();
		}
		B->st_child = child;
	}
	r = st_setup(what, B->st_fd);
	if (r) {
		printf("INFO %s: target_state: setup step %d failed: %s\n", cur, r,
		       strerror(errno));
		fflush(stdout);
		return 3;
	}
	B->ready = 1;
	while (read(B->pipe_in[0], &c, 1) < 0)
		if (errno == EINTR)
			B->eintr = 1;
	bad = st_check(what, B->st_fd);
	if (child > 0) {
		kill(child, SIGKILL);
		if (waitpid(child, NULL, 0) == child)
			B->st_child = 0;
	}
	return bad || B->eintr ? 1 : 0;
}

/* Set up target_events' fds; 0 or the failing step. */
static int ev_setup(volatile int *fd)
{
	struct itimerspec its = { .it_interval = { EV_INTERVAL_S, 0 },
				  .it_value = { EV_TIMER_S, 0 } };
	struct epoll_event ev = { 0 };
	char path[64];
	sigset_t ss;
	int p[2];

	if (pipe(p))
		return 1;
	fd[EV_FD_PIPE_R] = p[0];
	fd[EV_FD_PIPE_W] = p[1];
	fd[EV_FD_WATCHED] = eventfd(0, 0);
	fd[EV_FD_COUNTER] = eventfd(EV_COUNT, EFD_SEMAPHORE);
	if (fd[EV_FD_WATCHED] < 0 || fd[EV_FD_COUNTER] < 0)
		return 2;
	fd[EV_FD_TIMER] = timerfd_create(CLOCK_MONOTONIC, 0);
	if (fd[EV_FD_TIMER] < 0 || timerfd_settime(fd[EV_FD_TIMER], 0, &its, NULL))
		return 3;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR1);
	fd[EV_FD_SIGNAL] = signalfd(-1, &ss, 0);
	if (fd[EV_FD_SIGNAL] < 0)
		return 4;
	/* Of the parent: a child would be a process tree (CHILDREN). */
	fd[EV_FD_PIDFD] = (int)syscall(SYS_pidfd_open, getppid(), 0);
	if (fd[EV_FD_PIDFD] < 0)
		return 5;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd[EV_FD_PIDFD]);
	fd[EV_FD_PIDPATH] = open(path, O_PATH);
	if (fd[EV_FD_PIDPATH] < 0)
		return 5;
	fd[EV_FD_EPOLL] = epoll_create1(0);
	if (fd[EV_FD_EPOLL] < 0)
		return 6;
	ev.events = EPOLLIN;
	ev.data.u64 = EV_DATA_PIPE;
	if (epoll_ctl(fd[EV_FD_EPOLL], EPOLL_CTL_ADD, fd[EV_FD_PIPE_R], &ev))
		return 7;
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = EV_DATA_EVENTFD;
	if (epoll_ctl(fd[EV_FD_EPOLL], EPOLL_CTL_ADD, fd[EV_FD_WATCHED], &ev))
		return 8;
	return 0;
}

/* After the thaw: the fds still work as set up (1 if not). */
static int ev_check(volatile int *fd)
{
	struct epoll_event evs[4];
	struct itimerspec its;
	uint64_t v = 0;
	int bad = 0;

	/* A semaphore: one at a time. */
	bad |= read(fd[EV_FD_COUNTER], &v, 8) != 8 || v != 1;
	bad |= timerfd_gettime(fd[EV_FD_TIMER], &its) || its.it_interval.tv_sec != EV_INTERVAL_S ||
	       (!its.it_value.tv_sec && !its.it_value.tv_nsec);
	/* Nothing ready (the pipe empty, the eventfd 0), then the pipe. */
	bad |= epoll_wait(fd[EV_FD_EPOLL], evs, 4, 0) != 0;
	bad |= write(fd[EV_FD_PIPE_W], "e", 1) != 1;
	bad |= epoll_wait(fd[EV_FD_EPOLL], evs, 4, 0) != 1 || evs[0].data.u64 != EV_DATA_PIPE;
	return bad;
}

/*
 * The anonymous-inode fds format 1.2 re-creates (B->ev_fd, EV_FD_*): an
 * epoll fd watching a pipe and an eventfd, an eventfd counting EV_COUNT,
 * a timerfd, a signalfd and a pidfd of its parent (and an O_PATH open
 * of it).  Single-threaded, blocked in read().
 */
int target_events(void)
{
	int r;
	char c;

	pin_cpu0();
	r = ev_setup(B->ev_fd);
	if (r) {
		printf("INFO %s: target_events: setup step %d failed: %s\n", cur, r,
		       strerror(errno));
		fflush(stdout);
		return 3;
	}
	B->ready = 1;
	while (read(B->pipe_in[0], &c, 1) < 0)
		if (errno == EINTR)
			B->eintr = 1;
	return ev_check(B->ev_fd) || B->eintr ? 1 : 0;
}

/* Fork a target; wait until it reports ready. */
pid_t spawn(int (*fn)(void), uid_t uid, int dumpable)
{
	pid_t pid;
	int i;

	B->ready = 0;
	B->stop = 0;
	B->verdict = 0;
	B->eintr = 0;
	B->st_child = 0;
	memset((void *)B->count, 0, sizeof(B->count));
	pid = fork();
	if (pid == 0) {
		/* An inherited /dev/clondike would pin the module. */
		close(devfd);
		if (uid) {
			if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
				_exit(99);
			prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
		}
		_exit(fn());
	}
	for (i = 0; i < 5000 && !B->ready; i++)
		msleep(1);
	return pid;
}

int reap(pid_t pid, int sig_kill)
{
	int st = 0;

	if (sig_kill)
		kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return st;
}
