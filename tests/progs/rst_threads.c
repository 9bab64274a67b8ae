// SPDX-License-Identifier: MIT
/*
 * Restart test: multi-threaded processes (see rst_common.h for the protocol).
 *
 *   rst_threads RESULT CTL avx N
 *	N threads, each with its own values in ymm0-15 (xmm without AVX),
 *	rbx and r12-r15, spinning in an assembly loop that touches none of
 *	them while it counts; then each computes a known xorshift result.
 *	After the trigger every thread checks its registers, its TLS value,
 *	its result and, when the pid was kept, that it has its own tid.
 *
 *   rst_threads RESULT CTL block
 *	Threads blocked across the checkpoint: in pthread_cond_wait, on a
 *	mutex another thread holds (it sleeps holding it), in nanosleep and
 *	in read() on a pipe.  After the trigger each is released and must
 *	finish with the right value.
 *
 *   rst_threads RESULT CTL sig
 *	Per-thread signal masks, a SIGUSR1 sent with pthread_kill pending on
 *	the one thread that blocks it, per-thread TLS values and names (one
 *	of the full 15 bytes); after the trigger a pthread_kill reaches the
 *	right thread (glibc finds it by the tid it keeps, which a restart
 *	with new tids must update) and every thread has its own name.
 *
 *   rst_threads RESULT CTL churn
 *	A thread that keeps creating and joining short-lived threads while
 *	the checkpoint happens; after the trigger it must still run, and the
 *	count of joined threads must equal the count of created ones.
 *
 *   rst_threads RESULT CTL creds
 *	(root) One thread takes uid/gid 65534 for itself alone (a raw
 *	setresuid, as glibc's broadcast would not): checkpoints must refuse.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include "rst_common.h"
#include "rst_regs.h"

#define MAX_T 64

static __thread uint64_t tls_value;
static volatile int go;
static int avx;
static pid_t first_pid;

struct worker {
	pthread_t th;
	int idx;
	pid_t tid;
	uint8_t in[16][32] __attribute__((aligned(32)));
	uint8_t out[16][32] __attribute__((aligned(32)));
	uint64_t gin[5], gout[5];
	uint64_t result;
	volatile int ready;
	char fail[256];
};

static struct worker workers[MAX_T];

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint64_t known(int idx)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(idx + 1), h = 0;
	int i;

	for (i = 0; i < 200000; i++)
		h += rst_xorshift(&s);
	return h;
}

#define SPIN "movl $1, %[rdy]\n\t1: pause\n\tcmpl $0, %[go]\n\tje 1b\n\t"

static void *avx_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t s = 0x1234567ull + (uint64_t)w->idx * 0x1000193ull;
	int i, j, width = avx ? 32 : 16;

	w->tid = gettid_();
	tls_value = 0xabc000ull + (uint64_t)w->idx;
	for (i = 0; i < 16; i++)
		for (j = 0; j < 32; j += 8) {
			uint64_t v = rst_xorshift(&s);

			memcpy(&w->in[i][j], &v, 8);
		}
	for (i = 0; i < 5; i++)
		w->gin[i] = rst_xorshift(&s);
	if (avx)
		__asm__ volatile(ALL(LOADY) GPR_IN SPIN ALL(STOREY) GPR_OUT
				 : [rdy] "=m"(w->ready)
				 : [in] "r"(w->in), [out] "r"(w->out), [gin] "r"(w->gin),
				   [gout] "r"(w->gout), [go] "m"(go)
				 : CLOBBERS);
	else
		__asm__ volatile(ALL(LOADX) GPR_IN SPIN ALL(STOREX) GPR_OUT
				 : [rdy] "=m"(w->ready)
				 : [in] "r"(w->in), [out] "r"(w->out), [gin] "r"(w->gin),
				   [gout] "r"(w->gout), [go] "m"(go)
				 : CLOBBERS);
	for (i = 0; i < 16; i++)
		if (memcmp(w->in[i], w->out[i], (size_t)width)) {
			snprintf(w->fail, sizeof(w->fail), "thread %d: %cmm%d differs", w->idx,
				 avx ? 'y' : 'x', i);
			return NULL;
		}
	for (i = 0; i < 5; i++)
		if (w->gin[i] != w->gout[i]) {
			snprintf(w->fail, sizeof(w->fail), "thread %d: general register %d",
				 w->idx, i);
			return NULL;
		}
	if (tls_value != 0xabc000ull + (uint64_t)w->idx)
		snprintf(w->fail, sizeof(w->fail), "thread %d: TLS value %#llx", w->idx,
			 (unsigned long long)tls_value);
	else if (getpid() == first_pid && gettid_() != w->tid)
		snprintf(w->fail, sizeof(w->fail), "thread %d: tid %d, was %d", w->idx, gettid_(),
			 w->tid);
	w->result = known(w->idx);
	return NULL;
}

static void avx_test(int n)
{
	int i;

	avx = rst_have_avx();
	first_pid = getpid();
	RST_CHECK(n > 0 && n <= MAX_T, "1 to %d threads", MAX_T);
	for (i = 0; i < n; i++) {
		workers[i].idx = i;
		RST_CHECK(!pthread_create(&workers[i].th, NULL, avx_worker, &workers[i]),
			  "pthread_create");
	}
	for (i = 0; i < n; i++)
		while (!workers[i].ready)
			usleep(1000);
	rst_say("AVX %d THREADS %d", avx, n + 1);
	rst_ready();
	rst_wait_trigger();
	go = 1;
	for (i = 0; i < n; i++) {
		RST_CHECK(!pthread_join(workers[i].th, NULL), "pthread_join of thread %d", i);
		RST_CHECK(!workers[i].fail[0], "%s", workers[i].fail);
		RST_CHECK(workers[i].result == known(i), "thread %d: result %#llx", i,
			  (unsigned long long)workers[i].result);
	}
	rst_pass(avx ? "threads ymm0-15 rbx r12-r15 tls tid result" :
		       "threads xmm0-15 rbx r12-r15 tls tid result");
}

/* ---- block ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER, held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag, cond_seen, lock_got, sleep_done, pipe_fd[2];
static volatile int release_held, holder_in, locker_waiting, sleeper_in, reader_in;
static char read_buf[16];
static struct timespec sleep_start, sleep_end;

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!cond_flag)
		pthread_cond_wait(&cv, &mu);
	cond_seen = cond_flag;
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void *holder(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&held);
	holder_in = 1;
	while (!release_held)
		usleep(2000);
	pthread_mutex_unlock(&held);
	return NULL;
}

static void *locker(void *arg)
{
	(void)arg;
	locker_waiting = 1;
	pthread_mutex_lock(&held); /* blocks in futex until the holder lets go */
	lock_got = 1;
	pthread_mutex_unlock(&held);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec d = { 2, 0 };

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &sleep_start);
	sleeper_in = 1;
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &sleep_end);
	sleep_done = 1;
	return NULL;
}

static void *reader(void *arg)
{
	ssize_t n;

	(void)arg;
	reader_in = 1;
	do {
		n = read(pipe_fd[0], read_buf, sizeof(read_buf) - 1);
	} while (n < 0 && errno == EINTR);
	return NULL;
}

static void block_test(void)
{
	pthread_t t[5];
	void *(*fn[5])(void *) = { cond_waiter, holder, locker, sleeper, reader };
	int i;

	RST_CHECK(!pipe(pipe_fd), "pipe");
	for (i = 0; i < 5; i++) {
		if (i == 2)
			while (!holder_in)
				usleep(1000);
		RST_CHECK(!pthread_create(&t[i], NULL, fn[i], NULL), "pthread_create");
	}
	while (!locker_waiting || !sleeper_in || !reader_in)
		usleep(1000);
	usleep(100000); /* let each enter its blocking call */
	rst_ready();
	rst_wait_trigger();
	pthread_mutex_lock(&mu);
	cond_flag = 42;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	RST_CHECK(write(pipe_fd[1], "through", 7) == 7, "write to the pipe");
	release_held = 1;
	for (i = 0; i < 5; i++)
		RST_CHECK(!pthread_join(t[i], NULL), "pthread_join %d", i);
	RST_CHECK(cond_seen == 42, "cond waiter saw %d", cond_seen);
	RST_CHECK(lock_got, "the mutex was never taken");
	RST_CHECK(sleep_done, "nanosleep did not end");
	RST_CHECK(!strcmp(read_buf, "through"), "reader got '%s'", read_buf);
	rst_pass("cond_wait mutex nanosleep read");
}

/* ---- sig ---- */

static volatile int sig_ready[4];
static volatile sig_atomic_t got_usr1[4], got_usr2[4];
static char sig_fail[4][160];
static volatile int sig_go;

static void on_usr1(int s)
{
	int i;

	(void)s;
	for (i = 0; i < 4; i++)
		if (tls_value == 0x5150ull + (uint64_t)i)
			got_usr1[i]++;
}

static void on_usr2(int s)
{
	int i;

	(void)s;
	for (i = 0; i < 4; i++)
		if (tls_value == 0x5150ull + (uint64_t)i)
			got_usr2[i]++;
}

/* Thread i's name; 3's fills all 15 bytes TASK_COMM_LEN leaves. */
static void sig_name(int idx, char name[16])
{
	snprintf(name, 16, idx == 3 ? "fifteen-chars-%d" : "rst-sig-%d", idx);
}

static void *sig_worker(void *arg)
{
	int idx = (int)(intptr_t)arg, s;
	sigset_t m, want, pend;
	char name[16], now[16] = "";

	tls_value = 0x5150ull + (uint64_t)idx;
	sig_name(idx, name);
	pthread_setname_np(pthread_self(), name);
	/* Thread i blocks SIGRTMIN+i, and thread 0 also SIGUSR1. */
	sigemptyset(&want);
	sigaddset(&want, SIGRTMIN + idx);
	if (idx == 0)
		sigaddset(&want, SIGUSR1);
	pthread_sigmask(SIG_SETMASK, &want, NULL);
	sig_ready[idx] = 1;
	while (!sig_go)
		usleep(1000);
	pthread_sigmask(SIG_SETMASK, NULL, &m);
	for (s = 1; s < SIGRTMAX; s++)
		if (sigismember(&m, s) != sigismember(&want, s)) {
			snprintf(sig_fail[idx], sizeof(sig_fail[idx]),
				 "thread %d: signal %d %s in its mask", idx, s,
				 sigismember(&m, s) ? "is" : "is not");
			return NULL;
		}
	sigpending(&pend);
	if (idx == 0 && !sigismember(&pend, SIGUSR1))
		snprintf(sig_fail[idx], sizeof(sig_fail[idx]), "thread 0: SIGUSR1 not pending");
	else if (tls_value != 0x5150ull + (uint64_t)idx)
		snprintf(sig_fail[idx], sizeof(sig_fail[idx]), "thread %d: TLS", idx);
	else if (prctl(PR_GET_NAME, now) || strcmp(now, name))
		snprintf(sig_fail[idx], sizeof(sig_fail[idx]), "thread %d: named '%s', not '%s'",
			 idx, now, name);
	if (idx == 0) {
		/* Unblock: it is delivered here, to this thread. */
		sigdelset(&want, SIGUSR1);
		pthread_sigmask(SIG_SETMASK, &want, NULL);
		if (!got_usr1[0] && !sig_fail[0][0])
			snprintf(sig_fail[0], sizeof(sig_fail[0]),
				 "thread 0: SIGUSR1 not delivered to it");
	}
	return NULL;
}

static void sig_test(void)
{
	struct sigaction sa;
	pthread_t t[4];
	sigset_t pend;
	char name[16], now[16];
	int i;

	pthread_setname_np(pthread_self(), "rst-sig-main");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	for (i = 0; i < 4; i++)
		RST_CHECK(!pthread_create(&t[i], NULL, sig_worker, (void *)(intptr_t)i),
			  "pthread_create");
	for (i = 0; i < 4; i++)
		while (!sig_ready[i])
			usleep(1000);
	RST_CHECK(!pthread_kill(t[0], SIGUSR1), "pthread_kill");
	rst_ready();
	rst_wait_trigger();
	sigpending(&pend);
	RST_CHECK(!sigismember(&pend, SIGUSR1), "SIGUSR1 pending on the main thread too");
	/* pthread_kill finds the thread by the tid glibc keeps: right even
	 * if the restart gave the thread another one. */
	RST_CHECK(!pthread_kill(t[1], SIGUSR2), "pthread_kill after restart");
	/* Read through /proc/self/task/TID/comm, TID as glibc keeps it. */
	for (i = 0; i < 4; i++) {
		sig_name(i, name);
		RST_CHECK(!pthread_getname_np(t[i], now, sizeof(now)) && !strcmp(now, name),
			  "thread %d is named '%s', not '%s'", i, now, name);
	}
	RST_CHECK(!pthread_getname_np(pthread_self(), now, sizeof(now)) &&
			  !strcmp(now, "rst-sig-main"),
		  "the main thread is named '%s'", now);
	usleep(20000);
	sig_go = 1;
	for (i = 0; i < 4; i++) {
		RST_CHECK(!pthread_join(t[i], NULL), "pthread_join %d", i);
		RST_CHECK(!sig_fail[i][0], "%s", sig_fail[i]);
	}
	for (i = 1; i < 4; i++)
		RST_CHECK(!got_usr1[i], "SIGUSR1 went to thread %d", i);
	for (i = 0; i < 4; i++)
		RST_CHECK(got_usr2[i] == (i == 1), "thread %d got SIGUSR2 %d times", i,
			  (int)got_usr2[i]);
	rst_pass("per-thread masks, pthread_kill pending, tls, names");
}

/* ---- churn ---- */

static volatile unsigned long created, joined;
static volatile int churn_stop;

static void *short_lived(void *arg)
{
	(void)arg;
	return (void *)1;
}

static void *churner(void *arg)
{
	(void)arg;
	while (!churn_stop) {
		pthread_t t;
		void *rv = NULL;

		if (pthread_create(&t, NULL, short_lived, NULL))
			continue;
		__atomic_fetch_add(&created, 1, __ATOMIC_RELAXED); /* two churners */
		if (!pthread_join(t, &rv) && rv == (void *)1)
			__atomic_fetch_add(&joined, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void churn_test(void)
{
	pthread_t c[2];
	unsigned long before;
	int i;

	for (i = 0; i < 2; i++)
		RST_CHECK(!pthread_create(&c[i], NULL, churner, NULL), "pthread_create");
	while (created < 100)
		usleep(1000);
	rst_ready();
	rst_wait_trigger();
	before = created;
	for (i = 0; i < 2000 && created < before + 100; i++)
		usleep(1000);
	RST_CHECK(created >= before + 100, "churn stopped: %lu threads created", created);
	churn_stop = 1;
	for (i = 0; i < 2; i++)
		RST_CHECK(!pthread_join(c[i], NULL), "pthread_join");
	RST_CHECK(created == joined, "%lu created, %lu joined", created, joined);
	rst_say("CHURN %lu", created);
	rst_pass("threads created and joined across the checkpoint");
}

/* ---- creds ---- */

static void *other_creds(void *arg)
{
	(void)arg;
	if (syscall(SYS_setresgid, 65534, 65534, 65534) || syscall(SYS_setresuid, 65534, 65534, 65534))
		rst_fail("setresuid in a thread: %s", strerror(errno));
	for (;;)
		pause();
	return NULL;
}

static void creds_test(void)
{
	pthread_t t;

	RST_CHECK(!pthread_create(&t, NULL, other_creds, NULL), "pthread_create");
	usleep(100000);
	rst_ready();
	rst_wait_trigger();
	rst_pass("creds");
}

int main(int argc, char **argv)
{
	rst_init(argc, argv, 1, "avx N | block | sig | churn | creds");
	if (!strcmp(argv[3], "avx"))
		avx_test(argc > 4 ? atoi(argv[4]) : 16);
	else if (!strcmp(argv[3], "block"))
		block_test();
	else if (!strcmp(argv[3], "sig"))
		sig_test();
	else if (!strcmp(argv[3], "churn"))
		churn_test();
	else if (!strcmp(argv[3], "creds"))
		creds_test();
	rst_fail("unknown mode %s", argv[3]);
}
