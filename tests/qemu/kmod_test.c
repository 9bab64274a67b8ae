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
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clondike/format.h"
#include "clondike/image.h"
#include "clondike/image_read.h"
#include "clondike/kabi.h"

uint64_t cld_xxh3_page(const void *page);

#define NWORK 3

struct board {
	volatile uint64_t count[8]; /* per worker thread progress */
	volatile int stop; /* targets finish and self-check */
	volatile int ready;
	volatile int verdict; /* 1 ok, -1 self-check failed */
	volatile uint64_t pattern; /* address of the pattern buffer */
	volatile uint64_t pattern_len;
	volatile int nthreads;
	volatile int eintr; /* a restartable call returned EINTR */
	int pipe_in[2]; /* driver -> target */
};

static struct board *B;
static int devfd = -1;
static int failures;
static const char *cur;

static void pass(void)
{
	printf("PASS %s\n", cur);
	fflush(stdout);
}

static int fail(const char *fmt, ...)
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Did worker 0 advance past c within ms?  (TCG VMs can be slow.) */
static int progressed(uint64_t c, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (B->count[0] != c)
			return 1;
		msleep(10);
	}
	return B->count[0] != c;
}

static uint64_t pattern_word(uint64_t i)
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

/* ---- targets ------------------------------------------------------------ */

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
static int target_spin(void)
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
static int target_single(void)
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
 * with a sigaltstack, 3 spinning.  All on CPU 0 (see pin_cpu0).
 */
#define NMT 4

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

static int target_threads(void)
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
static int target_steps(void)
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
static int target_big(void)
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
static int target_sleep(void)
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

static int target_spawn(void)
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
static int target_sparse(void)
{
	char *a = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/bin/busybox", O_RDONLY);
	char *f = fd >= 0 ? mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE, fd, 0) :
			    MAP_FAILED;

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

static int target_pause(void)
{
	B->ready = 1;
	for (;;)
		pause();
	return 0;
}

/* Fork a target; wait until it reports ready. */
static pid_t spawn(int (*fn)(void), uid_t uid, int dumpable)
{
	pid_t pid;
	int i;

	B->ready = 0;
	B->stop = 0;
	B->verdict = 0;
	B->eintr = 0;
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

static int reap(pid_t pid, int sig_kill)
{
	int st = 0;

	if (sig_kill)
		kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return st;
}

/* ---- module calls -------------------------------------------------------- */

static int freeze(pid_t pid, uint32_t flags, struct cld_kabi_freeze *out)
{
	struct cld_kabi_freeze fr = { .size = sizeof(fr), .flags = flags, .pid = pid };

	if (ioctl(devfd, CLD_IOC_FREEZE, &fr) < 0)
		return -errno;
	if (out)
		*out = fr;
	return fr.fd;
}

static int query(pid_t pid, struct cld_kabi_state *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->pid = pid;
	return ioctl(devfd, CLD_IOC_STATE, st) < 0 ? -errno : 0;
}

static int nr_tasks(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Every thread listed in /proc/PID/task is parked (state D: our killable
 * sleep) or on its way out (zombie, dead, or PF_EXITING).  Returns the
 * tid of a thread that is neither, 0 if none.
 */
static pid_t unparked_thread(pid_t pid, char *state)
{
	char path[320], buf[1024], *p;
	struct dirent *de;
	pid_t bad = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!bad && (de = readdir(d))) {
		unsigned long long flags = 0;
		int fd, i;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		p = strrchr(buf, ')');
		if (!p || !p[1])
			continue;
		*state = p[2];
		/* field 9 (flags): skip state 3 .. 8 */
		p += 3;
		for (i = 3; i < 9 && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p)
			flags = strtoull(p, NULL, 10);
		if (*state != 'D' && *state != 'Z' && *state != 'X' && !(flags & 0x4))
			bad = atoi(de->d_name);
	}
	closedir(d);
	return bad;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Read the whole image into memory. */
static uint8_t *slurp(int fd, uint64_t size, int *err)
{
	uint8_t *buf = malloc(size ? size : 1);
	uint64_t off = 0;

	*err = 0;
	while (buf && off < size) {
		ssize_t n = pread(fd, buf + off, size - off > (1 << 20) ? 1 << 20 : size - off,
				  (off_t)off);

		if (n < 0) {
			*err = -errno;
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		off += (uint64_t)n;
	}
	if (buf && off != size) {
		*err = -EIO;
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- tests --------------------------------------------------------------- */

static int t_version(void)
{
	struct cld_kabi_version v;

	if (ioctl(devfd, CLD_IOC_VERSION, &v) < 0)
		return fail("CLD_IOC_VERSION: %s", strerror(errno));
	if (v.kabi != CLD_KABI_VERSION || v.format_major != CLD_FORMAT_MAJOR)
		return fail("kabi %u format %u", v.kabi, v.format_major);
	if (ioctl(devfd, _IO(CLD_KABI_IOC_MAGIC, 0x7f), 0) == 0 || errno != ENOTTY)
		return fail("unknown ioctl not ENOTTY");
	pass();
	return 0;
}

static int t_freeze_thaw(void)
{
	struct cld_kabi_freeze fr;
	struct cld_kabi_state st;
	uint64_t c1[NWORK], c2[NWORK];
	pid_t pid = spawn(target_spin, 0, 1);
	int fd, i, wst, ret = -1;
	char c = 'x';

	msleep(50);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		fail("freeze: %s", strerror(-fd));
		goto out;
	}
	if (fr.nr_threads != NWORK + 1) {
		fail("nr_threads %u, want %u", fr.nr_threads, NWORK + 1);
		goto out_fd;
	}
	for (i = 0; i < NWORK; i++)
		c1[i] = B->count[i];
	msleep(200);
	for (i = 0; i < NWORK; i++)
		c2[i] = B->count[i];
	if (memcmp(c1, c2, sizeof(c1))) {
		fail("a worker ran while frozen");
		goto out_fd;
	}
	/* The parent (us) sees no stop. */
	if (waitpid(pid, &wst, WNOHANG | WUNTRACED | WCONTINUED) != 0) {
		fail("parent saw a state change");
		goto out_fd;
	}
	if (query(pid, &st) || st.state != CLD_KSTATE_FROZEN || st.nr_files != 1 ||
	    st.nr_threads != NWORK + 1) {
		fail("state %u files %u threads %u", st.state, st.nr_files, st.nr_threads);
		goto out_fd;
	}
	close(fd);
	fd = -1;
	if (!progressed(c2[0], 3000)) {
		fail("did not resume after close");
		goto out;
	}
	if (query(pid, &st) || st.state != CLD_KSTATE_NONE) {
		fail("state %u after thaw", st.state);
		goto out;
	}
	if (write(B->pipe_in[1], &c, 1) != 1)
		goto out;
	wst = reap(pid, 0);
	pid = 0;
	if (!WIFEXITED(wst) || WEXITSTATUS(wst)) {
		fail("target self-check failed (status %#x, eintr %d)", wst, B->eintr);
		goto out;
	}
	pass();
	ret = 0;
out_fd:
	if (fd >= 0)
		close(fd);
out:
	if (pid > 0)
		reap(pid, 1);
	return ret;
}

/* Walk the first PT_NOTE of an image in memory. */
static const uint8_t *find_note(const uint8_t *img, uint64_t size, const char *owner,
				uint32_t type, int nth, uint32_t *len)
{
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	uint64_t off = ph[0].p_offset, end = off + ph[0].p_filesz;

	if (size < sizeof(*eh) || end > size)
		return NULL;
	while (off + 12 <= end) {
		const Elf64_Nhdr *nh = (const void *)(img + off);
		const char *name = (const char *)(nh + 1);
		uint64_t desc = off + 12 + ((nh->n_namesz + 3) & ~3u);

		if (nh->n_type == type && !strcmp(name, owner) && nth-- == 0) {
			*len = nh->n_descsz;
			return img + desc;
		}
		off = desc + ((nh->n_descsz + 3) & ~3u);
	}
	return NULL;
}

static int read_thread_rec(pid_t pid, struct cld_thread_rec *rec, struct cld_prstatus *ps)
{
	struct cld_kabi_freeze fr;
	const uint8_t *d;
	uint8_t *img;
	uint32_t len;
	int fd, err;

	fd = freeze(pid, 0, &fr);
	if (fd < 0)
		return fd;
	img = slurp(fd, fr.image_size, &err);
	close(fd);
	if (!img)
		return err;
	d = find_note(img, fr.image_size, CLD_NOTE_NAME, CLD_NT_THREAD, 0, &len);
	if (d && len >= sizeof(*rec))
		memcpy(rec, d, sizeof(*rec));
	err = d ? 0 : -ENOENT;
	d = find_note(img, fr.image_size, "CORE", CLD_NT_PRSTATUS, 0, &len);
	if (d && len >= sizeof(*ps))
		memcpy(ps, d, sizeof(*ps));
	free(img);
	return err;
}

static int t_restart_read(void)
{
	struct cld_thread_rec rec;
	struct cld_prstatus ps;
	pid_t pid = spawn(target_spin, 0, 1);
	int err, wst;
	char c = 'x';

	msleep(50);
	err = read_thread_rec(pid, &rec, &ps);
	if (err) {
		reap(pid, 1);
		return fail("image: %s", strerror(-err));
	}
	if (write(B->pipe_in[1], &c, 1) != 1)
		return fail("write");
	wst = reap(pid, 0);
	if (rec.syscall_state != CLD_SYSCALL_RESTART || rec.orig_syscall != SYS_read ||
	    rec.orig_result != -512 /* -ERESTARTSYS */)
		return fail("main thread: state %u syscall %lld result %lld",
			    rec.syscall_state, (long long)rec.orig_syscall,
			    (long long)rec.orig_result);
	if (ps.pr_reg.rax != SYS_read || ps.pr_reg.orig_rax != (uint64_t)-1)
		return fail("regs not in restarted form: rax %llu orig_rax %lld",
			    (unsigned long long)ps.pr_reg.rax, (long long)ps.pr_reg.orig_rax);
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) || B->eintr)
		return fail("target saw EINTR or failed (status %#x)", wst);
	pass();
	return 0;
}

static int t_restart_sleep(void)
{
	struct cld_thread_rec rec;
	struct cld_prstatus ps;
	pid_t pid = spawn(target_sleep, 0, 1);
	int err;

	msleep(50);
	err = read_thread_rec(pid, &rec, &ps);
	reap(pid, 1);
	if (err)
		return fail("image: %s", strerror(-err));
	/* Recorded as the original call: a restored process has no kernel
	 * restart block for restart_syscall() to use. */
	if (rec.syscall_state != CLD_SYSCALL_RESTART ||
	    rec.orig_result != -516 /* -ERESTART_RESTARTBLOCK */ ||
	    ps.pr_reg.rax != (uint64_t)rec.orig_syscall ||
	    (rec.orig_syscall != SYS_nanosleep && rec.orig_syscall != SYS_clock_nanosleep))
		return fail("state %u result %lld rax %llu", rec.syscall_state,
			    (long long)rec.orig_result, (unsigned long long)ps.pr_reg.rax);
	pass();
	return 0;
}

static int t_sigkill(void)
{
	struct cld_kabi_state st;
	pid_t pid = spawn(target_spin, 0, 1);
	uint8_t buf[64];
	uint64_t t0;
	int fd, wst;

	msleep(20);
	fd = freeze(pid, 0, NULL);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	t0 = now_ns();
	kill(pid, SIGKILL);
	wst = reap(pid, 0);
	if (!WIFSIGNALED(wst) || WTERMSIG(wst) != SIGKILL) {
		close(fd);
		return fail("status %#x", wst);
	}
	if (now_ns() - t0 > 2000000000ull) {
		close(fd);
		return fail("SIGKILL took %llu ms", (unsigned long long)(now_ns() - t0) / 1000000);
	}
	if (pread(fd, buf, sizeof(buf), 0) >= 0 || errno != ESRCH) {
		close(fd);
		return fail("read after death: %s", strerror(errno));
	}
	close(fd);
	if (query(pid, &st) != -ESRCH && st.state != CLD_KSTATE_NONE)
		return fail("still registered: state %u", st.state);
	pass();
	return 0;
}

/* The target dies while a reader streams its image. */
static int t_exit_while_read(void)
{
	struct cld_kabi_freeze fr;
	pid_t pid = spawn(target_spin, 0, 1), rd;
	int fd, st, i;

	msleep(20);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	rd = fork();
	if (rd == 0) {
		static uint8_t buf[1 << 16];

		for (i = 0; i < 200; i++) {
			uint64_t off;

			for (off = 0; off < fr.image_size; off += sizeof(buf))
				if (pread(fd, buf, sizeof(buf), (off_t)off) < 0)
					_exit(errno == ESRCH ? 0 : 2);
		}
		_exit(0);
	}
	msleep(30);
	kill(pid, SIGKILL);
	reap(pid, 0);
	st = reap(rd, 0);
	close(fd);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return fail("reader status %#x", st);
	pass();
	return 0;
}

static void *freezer_thread(void *arg)
{
	pid_t pid = (pid_t)(long)arg;

	return (void *)(long)freeze(pid, 0, NULL);
}

static int t_concurrent(void)
{
	struct cld_kabi_state st;
	pthread_t th[4];
	long fds[4];
	pid_t pid = spawn(target_spin, 0, 1);
	uint64_t c;
	int i, ok = 1;
	char ch = 'x';

	msleep(20);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, freezer_thread, (void *)(long)pid);
	for (i = 0; i < 4; i++) {
		void *r;

		pthread_join(th[i], &r);
		fds[i] = (long)r;
		if (fds[i] < 0)
			ok = 0;
	}
	if (!ok) {
		reap(pid, 1);
		return fail("a concurrent freeze failed");
	}
	if (query(pid, &st) || st.state != CLD_KSTATE_FROZEN || st.nr_files != 4) {
		reap(pid, 1);
		return fail("state %u files %u", st.state, st.nr_files);
	}
	for (i = 0; i < 3; i++)
		close((int)fds[i]);
	c = B->count[0];
	msleep(100);
	if (B->count[0] != c) {
		reap(pid, 1);
		return fail("thawed while an fd is open");
	}
	close((int)fds[3]);
	if (!progressed(c, 3000)) {
		reap(pid, 1);
		return fail("not thawed by the last close");
	}
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0)
		return fail("target self-check failed");
	pass();
	return 0;
}

static int t_early_close(void)
{
	struct cld_kabi_freeze fr;
	pid_t pid = spawn(target_spin, 0, 1);
	uint8_t buf[8192];
	uint64_t c;
	int fd;
	char ch = 'x';

	msleep(20);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	if (pread(fd, buf, sizeof(buf), 0) != sizeof(buf)) {
		close(fd);
		reap(pid, 1);
		return fail("partial read");
	}
	c = B->count[0];
	close(fd);
	if (!progressed(c, 3000)) {
		reap(pid, 1);
		return fail("not thawed");
	}
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0)
		return fail("target self-check failed");
	pass();
	return 0;
}

/* A stopped task cannot park: the freeze times out and leaves no trace. */
static int t_stopped_timeout(void)
{
	struct cld_kabi_freeze fr = { .size = sizeof(fr), .pid = 0, .timeout_ms = 300 };
	struct cld_kabi_state st;
	pid_t pid = spawn(target_spin, 0, 1);
	uint64_t c;
	int fd, wst;
	char ch = 'x';

	msleep(20);
	kill(pid, SIGSTOP);
	waitpid(pid, &wst, WUNTRACED);
	fr.pid = pid;
	if (ioctl(devfd, CLD_IOC_FREEZE, &fr) == 0 || errno != ETIMEDOUT) {
		reap(pid, 1);
		return fail("freeze of a stopped task: %s", strerror(errno));
	}
	if (query(pid, &st) || st.state != CLD_KSTATE_NONE) {
		reap(pid, 1);
		return fail("state %u after the timeout", st.state);
	}
	kill(pid, SIGCONT);
	c = B->count[0];
	if (!progressed(c, 3000)) {
		reap(pid, 1);
		return fail("the abandoned freeze still holds the task");
	}
	fd = freeze(pid, 0, NULL);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze after SIGCONT: %s", strerror(-fd));
	}
	close(fd);
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0)
		return fail("target self-check failed");
	pass();
	return 0;
}

/* Signals sent while frozen wait for the thaw; the parent sees no stop. */
static int t_deferred_signal(void)
{
	pid_t pid = spawn(target_spin, 0, 1);
	int fd, wst, r;
	char ch = 'x';

	msleep(20);
	fd = freeze(pid, 0, NULL);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	kill(pid, SIGSTOP);
	msleep(100);
	r = waitpid(pid, &wst, WNOHANG | WUNTRACED);
	close(fd);
	if (r != 0) {
		reap(pid, 1);
		return fail("SIGSTOP took effect while frozen");
	}
	if (waitpid(pid, &wst, WUNTRACED) != pid || !WIFSTOPPED(wst)) {
		reap(pid, 1);
		return fail("SIGSTOP lost across the thaw (%#x)", wst);
	}
	kill(pid, SIGCONT);
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0)
		return fail("target self-check failed");
	pass();
	return 0;
}

/* A persistent freeze whose process is killed is forgotten, not leaked. */
static int t_persist_kill(void)
{
	struct cld_kabi_state st;
	pid_t pid = spawn(target_spin, 0, 1);
	int fd, wst, r;

	msleep(20);
	fd = freeze(pid, CLD_KFREEZE_PERSIST, NULL);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	close(fd);
	if (query(pid, &st) || st.state != CLD_KSTATE_FROZEN || st.nr_files) {
		reap(pid, 1);
		return fail("persistent freeze: state %u files %u", st.state, st.nr_files);
	}
	kill(pid, SIGKILL);
	wst = reap(pid, 0);
	if (!WIFSIGNALED(wst))
		return fail("status %#x", wst);
	r = query(pid, &st);
	if (r != -ESRCH && st.state != CLD_KSTATE_NONE)
		return fail("dead freeze still reported: state %u", st.state);
	pass();
	return 0;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int t_unload(void)
{
	struct cld_kabi_state st;
	pid_t pid = spawn(target_spin, 0, 1);
	uint64_t c;
	int fd, persist = 1, tid = pid;
	char ch = 'x';

	msleep(20);
	fd = freeze(pid, 0, NULL);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	if (run("rmmod clondike 2>/dev/null") == 0) {
		reap(pid, 1);
		return fail("rmmod succeeded with a frozen task");
	}
	/* Persistent: survives the close, and still blocks the unload. */
	if (ioctl(fd, CLD_IOC_PERSIST, &persist) < 0) {
		reap(pid, 1);
		return fail("CLD_IOC_PERSIST: %s", strerror(errno));
	}
	close(fd);
	c = B->count[0];
	msleep(100);
	if (B->count[0] != c || query(pid, &st) || st.state != CLD_KSTATE_FROZEN ||
	    !(st.flags & CLD_KSTATE_PERSIST)) {
		reap(pid, 1);
		return fail("persistent freeze did not hold");
	}
	if (run("rmmod clondike 2>/dev/null") == 0) {
		reap(pid, 1);
		return fail("rmmod succeeded with a persistent freeze");
	}
	if (ioctl(devfd, CLD_IOC_THAW, &tid) < 0) {
		reap(pid, 1);
		return fail("CLD_IOC_THAW: %s", strerror(errno));
	}
	if (!progressed(c, 3000)) {
		reap(pid, 1);
		return fail("not thawed by CLD_IOC_THAW");
	}
	close(devfd);
	/*
	 * Each parked thread drops its module reference as it returns to user
	 * mode: one thread counting again does not mean all have run yet (on
	 * a 2-CPU TCG guest they may wait for a CPU), so allow them 3 s.
	 */
	for (int i = 0; run("rmmod clondike 2>/dev/null") != 0; i++) {
		if (i == 30) {
			reap(pid, 1);
			return fail("rmmod failed 3 s after the thaw");
		}
		msleep(100);
	}
	if (run("insmod /clondike.ko") != 0)
		return fail("insmod again failed");
	devfd = open(CLD_KABI_DEVICE, O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		return fail("reopen: %s", strerror(errno));
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0)
		return fail("target self-check failed");
	pass();
	return 0;
}

/* Freeze attempted by an unprivileged uid, in a child. */
static int freeze_as(uid_t uid, pid_t target)
{
	pid_t c = fork();
	int st;

	if (c == 0) {
		int fd;

		if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(100);
		fd = freeze(target, 0, NULL);
		_exit(fd >= 0 ? 0 : -fd);
	}
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 101;
}

static int t_permission(void)
{
	pid_t root_t = spawn(target_pause, 0, 1);
	pid_t user_t = spawn(target_pause, 1000, 1);
	pid_t nodump = spawn(target_pause, 1000, 0);
	int r1, r2, r3, r4, fd;

	r1 = freeze_as(1000, root_t);
	r2 = freeze_as(1000, user_t);
	r3 = freeze_as(1001, user_t);
	r4 = freeze_as(1000, nodump);
	fd = freeze(getpid(), 0, NULL);
	reap(root_t, 1);
	reap(user_t, 1);
	reap(nodump, 1);
	if (r1 != EPERM)
		return fail("uid 1000 froze a root task (%d)", r1);
	if (r2 != 0)
		return fail("uid 1000 could not freeze its own task (%s)", strerror(r2));
	if (r3 != EPERM)
		return fail("uid 1001 froze a uid 1000 task (%d)", r3);
	if (r4 != EPERM)
		return fail("a non-dumpable task was frozen by its owner (%d)", r4);
	if (fd != -EDEADLK)
		return fail("freezing ourselves: %d", fd);
	pass();
	return 0;
}

static int t_thread_churn(void)
{
	struct cld_kabi_freeze fr;
	pid_t pid = spawn(target_spawn, 0, 1);
	int fd, i, n, bad = 0;

	for (i = 0; i < 40 && !bad; i++) {
		msleep(5);
		fd = freeze(pid, 0, &fr);
		if (fd < 0) {
			bad = fail("freeze %d: %s", i, strerror(-fd));
			break;
		}
		{
			char stc = '?';
			pid_t t = unparked_thread(pid, &stc);
			int tries;

			/* A thread that just reported parked may not have gone
			 * to sleep yet: only a lasting R counts. */
			for (tries = 0; t && tries < 50; tries++) {
				msleep(10);
				t = unparked_thread(pid, &stc);
			}

			n = nr_tasks(pid);
			/* Threads still listed but exiting are not part of it. */
			if (t)
				bad = fail("thread %d of %d not parked (state %c), froze %u of %d",
					   t, pid, stc, fr.nr_threads, n);
			else if ((int)fr.nr_threads > n || fr.nr_threads < 1)
				bad = fail("froze %u threads, /proc lists %d", fr.nr_threads, n);
		}
		close(fd);
	}
	B->stop = 1;
	if (reap(pid, 0) != 0 && !bad)
		return fail("target failed");
	if (!bad)
		pass();
	return bad;
}

/* Freezing and imaging must not populate pages. */
static int t_nofault(void)
{
	struct cld_kabi_freeze fr;
	pid_t pid = spawn(target_sparse, 0, 1);
	long before, after;
	uint8_t *img;
	int fd, err;

	msleep(20);
	before = rss_kb(pid);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	img = slurp(fd, fr.image_size, &err);
	close(fd);
	after = rss_kb(pid);
	reap(pid, 1);
	free(img);
	if (!img)
		return fail("read: %s", strerror(-err));
	if (after > before + 64)
		return fail("RSS grew from %ld to %ld kB", before, after);
	if (fr.image_size > (8u << 20))
		return fail("image of %llu bytes for a sparse process",
			    (unsigned long long)fr.image_size);
	pass();
	return 0;
}

struct mem_src {
	const uint8_t *img;
	struct cld_rimage *ri;
};

/* Page data for the userspace writer, from the module's image. */
static int img_mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mem_src *m = ctx;
	uint8_t *out = buf;

	while (len) {
		uint64_t off, n = CLD_PAGE_SIZE - (addr % CLD_PAGE_SIZE);

		if (n > len)
			n = len;
		if (cld_layout_find(&m->ri->layout, &m->ri->proc, addr, NULL, &off))
			return -EFAULT;
		memcpy(out, m->img + off, n);
		out += n;
		addr += n;
		len -= n;
	}
	return 0;
}

/*
 * The image is well formed (the project's reader accepts it and every
 * page matches its digest), holds the target's memory where the segments
 * say, reports holes consistently, and re-encoding its description with
 * the userspace writer gives back the same bytes.
 */
static int t_image(void)
{
	static const struct cld_mem_ops ops = { img_mem_read };
	struct cld_kabi_freeze fr;
	struct cld_rimage *ri = NULL;
	struct cld_image *wimg = NULL;
	struct cld_proc *copy = NULL;
	struct mem_src ms;
	struct cld_err e = { 0 };
	pid_t pid = spawn(target_spin, 0, 1);
	uint8_t *img = NULL, *again = NULL;
	uint64_t checked = 0, off, i;
	int fd = -1, err, ret = -1;
	off_t d, h;
	char ch = 'x';

	msleep(20);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		fail("freeze: %s", strerror(-fd));
		goto out;
	}
	img = slurp(fd, fr.image_size, &err);
	if (!img) {
		fail("read: %s", strerror(-err));
		goto out;
	}
	{
		struct stat st;

		if (fstat(fd, &st) || (uint64_t)st.st_size != fr.image_size ||
		    !S_ISREG(st.st_mode) || (uint64_t)st.st_blocks * 512 > fr.image_size + 511) {
			fail("fstat: size %lld blocks %lld, image %llu", (long long)st.st_size,
			     (long long)st.st_blocks, (unsigned long long)fr.image_size);
			goto out;
		}
	}
	if (cld_rimage_open_buf(img, fr.image_size, &ri, &e)) {
		fail("reader refused the image: %s", cld_err_str(&e));
		goto out;
	}
	if (cld_rimage_verify(ri, &checked, &e)) {
		fail("digest check: %s", cld_err_str(&e));
		goto out;
	}
	if (ri->proc.nr_threads != NWORK + 1 || ri->proc.proc.pid != pid) {
		fail("threads %u pid %d", ri->proc.nr_threads, ri->proc.proc.pid);
		goto out;
	}
	{
		uint32_t k, found = 0;

		for (k = 0; k < ri->proc.nr_pipes; k++)
			if (ri->proc.pipes[k].len == 13 &&
			    !memcmp(ri->proc.pipes[k].data, "clondike pipe", 13))
				found = 1;
		if (!found) {
			fail("pipe data missing (%u pipes)", ri->proc.nr_pipes);
			goto out;
		}
	}
	/* The pattern buffer, page by page, where the layout puts it. */
	for (i = 0; i < B->pattern_len; i += CLD_PAGE_SIZE) {
		uint64_t a = B->pattern + i, w;
		uint64_t first = (i + 7) / 8;

		if (cld_layout_find(&ri->layout, &ri->proc, a, NULL, &off)) {
			fail("pattern page %#llx not dumped", (unsigned long long)a);
			goto out;
		}
		off += (a % CLD_PAGE_SIZE) + (first * 8 - i);
		memcpy(&w, img + off, 8);
		if (w != pattern_word(first)) {
			fail("pattern word %llu wrong in image", (unsigned long long)first);
			goto out;
		}
	}
	/* SEEK_DATA/SEEK_HOLE agree with the layout: holes read as zeros. */
	for (off = 0; off < fr.image_size;) {
		d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		for (i = off; i < (uint64_t)d; i++)
			if (img[i]) {
				fail("nonzero byte at %llu inside a hole", (unsigned long long)i);
				goto out;
			}
		off = (uint64_t)h;
	}
	/* Byte for byte against the userspace writer's encoding. */
	if (cld_proc_dup(&ri->proc, &copy, &e)) {
		fail("dup: %s", cld_err_str(&e));
		goto out;
	}
	ms.img = img;
	ms.ri = ri;
	if (cld_image_new(copy, &ops, &ms, &wimg, &e)) {
		fail("writer refused the description: %s", cld_err_str(&e));
		goto out;
	}
	if (cld_image_layout(wimg)->size != fr.image_size) {
		fail("writer size %llu, module %llu",
		     (unsigned long long)cld_image_layout(wimg)->size,
		     (unsigned long long)fr.image_size);
		goto out;
	}
	again = malloc(fr.image_size);
	if (!again || cld_image_pread(wimg, again, fr.image_size, 0) != (ssize_t)fr.image_size) {
		fail("writer pread");
		goto out;
	}
	for (i = 0; i < fr.image_size; i++)
		if (img[i] != again[i]) {
			fail("writer and module differ first at byte %llu of %llu",
			     (unsigned long long)i, (unsigned long long)fr.image_size);
			goto out;
		}
	printf("INFO image: %llu bytes, %llu pages checked, %u segments, NT_X86_XSTATE %u bytes\n",
	       (unsigned long long)fr.image_size, (unsigned long long)checked,
	       ri->layout.nr_segs, ri->proc.threads[0].xstate_len);
	pass();
	ret = 0;
out:
	if (wimg)
		cld_image_free(wimg);
	if (copy)
		cld_proc_free(copy);
	if (ri)
		cld_rimage_free(ri);
	free(img);
	free(again);
	if (fd >= 0)
		close(fd);
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0) {
		if (!ret)
			fail("target self-check failed after imaging");
		ret = -1;
	}
	return ret;
}

/* Write a whole image fd to path; returns bytes or -errno. */
static int64_t copy_image(int fd, uint64_t size, const char *path)
{
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (out < 0)
		return -errno;
	while (off < size) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);

		if (n <= 0 || write(out, buf, (size_t)n) != n) {
			close(out);
			return -EIO;
		}
		off += (uint64_t)n;
	}
	close(out);
	return (int64_t)off;
}

/* Name the note holding image offset off, for a readable mismatch. */
static void describe_off(const uint8_t *img, uint64_t size, uint64_t at, char *out, size_t n)
{
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	uint64_t off = ph[0].p_offset, end = off + ph[0].p_filesz;

	snprintf(out, n, "offset %llu (outside the first note segment)",
		 (unsigned long long)at);
	{
		uint32_t i;

		for (i = 1; i < eh->e_phnum && eh->e_phnum != 0xffff; i++)
			if (ph[i].p_type == PT_LOAD && ph[i].p_filesz &&
			    at >= ph[i].p_offset && at < ph[i].p_offset + ph[i].p_filesz)
				snprintf(out, n, "offset %llu: memory at %#llx",
					 (unsigned long long)at,
					 (unsigned long long)(ph[i].p_vaddr + at - ph[i].p_offset));
			else if (ph[i].p_type == PT_NOTE && at >= ph[i].p_offset)
				snprintf(out, n, "offset %llu: digest note, word %llu",
					 (unsigned long long)at,
					 (unsigned long long)(at - ph[i].p_offset - 40) / 8);
	}
	if (at < off) {
		snprintf(out, n, "offset %llu in the ELF/program headers", (unsigned long long)at);
		return;
	}
	while (off + 12 <= end && end <= size) {
		const Elf64_Nhdr *nh = (const void *)(img + off);
		uint64_t desc = off + 12 + ((nh->n_namesz + 3) & ~3u);
		uint64_t next = desc + ((nh->n_descsz + 3) & ~3u);

		if (at < next) {
			snprintf(out, n, "note %s/%#x, byte %lld of its desc",
				 (const char *)(nh + 1), nh->n_type, (long long)(at - desc));
			return;
		}
		off = next;
	}
}

/*
 * The module's image of a frozen process equals the ptrace backend's
 * image of the same frozen state.  The ptrace freezer seizes the task
 * while the module holds it; the thaw then drops it straight into the
 * ptrace stop, before it runs a single user instruction.
 */
/* Every thread of pid has a tracer (the CLI seized them all). */
static int all_traced(pid_t pid)
{
	char path[64], line[256];
	struct dirent *de;
	int n = 0, traced = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		FILE *f;
		int tracer = 0;

		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, atoi(de->d_name));
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "TracerPid: %d", &tracer);
		if (f)
			fclose(f);
		traced += tracer != 0;
	}
	if (d)
		closedir(d);
	return n && traced == n;
}

static int ptrace_compare(int (*target)(void), int want_threads)
{
	struct cld_kabi_freeze fr;
	struct stat st;
	pid_t pid, cli;
	uint8_t *a = NULL, *b = NULL;
	const uint8_t *hdr;
	uint32_t hlen;
	char pidstr[16], where[160];
	int fd, err, i, wst, ndiff = 0, bfd, nthr;
	uint64_t k, first = 0;
	char ch = 'x';

	if (access("/bin/clondike", X_OK)) {
		printf("SKIP %s: no clondike CLI in the VM\n", cur);
		return 0;
	}
	pid = spawn(target, 0, 1);
	msleep(20);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	a = slurp(fd, fr.image_size, &err);
	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	unlink("/tmp/ptrace.img");
	cli = fork();
	if (cli == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		setenv("CLD_FREEZER", "ptrace", 1); /* the backend to compare with */
		execl("/bin/clondike", "clondike", "checkpoint", pidstr, "/tmp/ptrace.img",
		      (char *)NULL);
		_exit(127);
	}
	/* Wait for the seizes, then give PTRACE_INTERRUPT time to land. */
	for (i = 0; i < 500 && !all_traced(pid); i++)
		msleep(10);
	msleep(200);
	close(fd);
	waitpid(cli, &wst, 0);
	if (!a) {
		reap(pid, 1);
		return fail("module image: %s", strerror(-err));
	}
	if (!WIFEXITED(wst) || WEXITSTATUS(wst)) {
		reap(pid, 1);
		free(a);
		return fail("clondike checkpoint failed (status %#x)", wst);
	}
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0) {
		free(a);
		return fail("target self-check failed");
	}
	bfd = open("/tmp/ptrace.img", O_RDONLY);
	if (bfd < 0 || fstat(bfd, &st)) {
		free(a);
		return fail("no ptrace image");
	}
	b = slurp(bfd, (uint64_t)st.st_size, &err);
	close(bfd);
	if (!b) {
		free(a);
		return fail("reading the ptrace image: %s", strerror(-err));
	}
	/* Mask what the format calls volatile: created_ns, backend, producer. */
	hdr = find_note(a, fr.image_size, CLD_NOTE_NAME, CLD_NT_HEADER, 0, &hlen);
	if (hdr && (uint64_t)st.st_size == fr.image_size) {
		uint64_t h = (uint64_t)(hdr - a);

		memset(a + h + offsetof(struct cld_hdr, created_ns), 0, 8);
		memset(b + h + offsetof(struct cld_hdr, created_ns), 0, 8);
		memset(a + h + offsetof(struct cld_hdr, backend), 0, 16 + 32);
		memset(b + h + offsetof(struct cld_hdr, backend), 0, 16 + 32);
	}
	/*
	 * Fields image-format.md fixes (5.1) that the ptrace backend may not
	 * fill that way yet: the module's image must follow the format; a
	 * ptrace image that does not is reported and its field set aside, so
	 * the comparison judges the rest.
	 */
	for (i = 0; (uint64_t)st.st_size == fr.image_size; i++) {
		const uint8_t *ps = find_note(a, fr.image_size, "CORE", CLD_NT_PRSTATUS, i, &hlen);
		const uint8_t *tr = find_note(a, fr.image_size, CLD_NOTE_NAME, CLD_NT_THREAD, i,
					      &hlen);
		size_t t_off = offsetof(struct cld_prstatus, pr_utime);
		size_t p_off = offsetof(struct cld_prstatus, pr_sigpend);
		static const uint8_t zero[64];
		uint64_t h, kpend, tpend;

		if (!ps || !tr)
			break;
		h = (uint64_t)(ps - a);
		if (hlen < sizeof(struct cld_thread_rec) ||
		    !tr[offsetof(struct cld_thread_rec, name)]) {
			free(a);
			free(b);
			return fail("module image: thread %d has no name", i);
		}
		if (memcmp(a + h + t_off, zero, 64)) {
			free(a);
			free(b);
			return fail("module image: thread %d CPU times not 0", i);
		}
		if (memcmp(b + h + t_off, zero, 64)) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: thread %d CPU times not 0\n",
			       cur, i);
			memset(b + h + t_off, 0, 64);
		}
		memcpy(&kpend, a + h + p_off, 8);
		memcpy(&tpend, tr + offsetof(struct cld_thread_rec, pending), 8);
		if (kpend != tpend) {
			free(a);
			free(b);
			return fail("module image: pr_sigpend is not the private set");
		}
		if (memcmp(a + h + p_off, b + h + p_off, 8)) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: thread %d pr_sigpend not the private set\n",
			       cur, i);
			memcpy(b + h + p_off, a + h + p_off, 8);
		}
	}
	nthr = i;
	if ((uint64_t)st.st_size == fr.image_size && nthr != want_threads) {
		free(a);
		free(b);
		return fail("module image has %d threads, the target %d", nthr, want_threads);
	}
	hdr = find_note(a, fr.image_size, "CORE", CLD_NT_PRPSINFO, 0, &hlen);
	if (hdr && (uint64_t)st.st_size == fr.image_size) {
		uint64_t h = (uint64_t)(hdr - a);
		size_t f_off = offsetof(struct cld_prpsinfo, pr_flag);
		size_t a_off = offsetof(struct cld_prpsinfo, pr_psargs);
		uint64_t kflag, pflag;
		char ka[81] = "", pa[81] = "";
		size_t kl, pl;

		memcpy(&kflag, a + h + f_off, 8);
		memcpy(&pflag, b + h + f_off, 8);
		if (kflag) {
			free(a);
			free(b);
			return fail("module image: pr_flag not 0");
		}
		if (pflag) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: pr_flag %#llx, not 0\n",
			       cur, (unsigned long long)pflag);
			memset(b + h + f_off, 0, 8);
		}
		memcpy(ka, a + h + a_off, 80);
		memcpy(pa, b + h + a_off, 80);
		kl = strlen(ka);
		pl = strlen(pa);
		/* The core dump way keeps a trailing space; cut off is a deviation. */
		if (strcmp(ka, pa) && pl < kl && !strncmp(ka, pa, pl) &&
		    strspn(ka + pl, " ") == kl - pl) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: pr_psargs without its trailing space\n",
			       cur);
			memcpy(b + h + a_off, a + h + a_off, 80);
		}
	}
	if ((uint64_t)st.st_size != fr.image_size) {
		for (k = 0; k < fr.image_size && k < (uint64_t)st.st_size && a[k] == b[k]; k++)
			;
		describe_off(a, fr.image_size, k, where, sizeof(where));
		fail("sizes differ: module %llu, ptrace %llu; first difference at %s",
		     (unsigned long long)fr.image_size, (unsigned long long)st.st_size, where);
		free(a);
		free(b);
		return -1;
	}
	for (k = 0; k < fr.image_size; k++) {
		if (a[k] == b[k])
			continue;
		if (!ndiff++)
			first = k;
		describe_off(a, fr.image_size, k, where, sizeof(where));
		printf("INFO %s: differ at %s: module %02x ptrace %02x\n", cur, where, a[k], b[k]);
		if (ndiff >= 12)
			break;
		/* One line per field: skip to the next 8-byte word. */
		k |= 7;
	}
	free(a);
	free(b);
	if (ndiff)
		return fail("images differ (first at byte %llu)", (unsigned long long)first);
	printf("INFO %s: %llu bytes identical, %d threads (volatile created_ns/backend/producer masked)\n",
	       cur, (unsigned long long)fr.image_size, nthr);
	pass();
	return 0;
}

static int t_ptrace_compare(void)
{
	return ptrace_compare(target_single, 1);
}

/* Per-thread notes, their order, tids, masks, altstacks, rseq, robust
 * lists and names of a process with threads in several states. */
static int t_ptrace_compare_threads(void)
{
	return ptrace_compare(target_threads, NMT + 1);
}

/*
 * An image the module produced restarts with the userspace restorer
 * (clondike restart) and the program finishes its self-check.
 */
static int t_restart_image(void)
{
	struct cld_kabi_freeze fr;
	pid_t pid, cli;
	int fd, wst;
	int64_t n;

	if (access("/bin/clondike", X_OK)) {
		printf("SKIP %s: no clondike CLI in the VM\n", cur);
		return 0;
	}
	pid = spawn(target_steps, 0, 1);
	msleep(250);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	n = copy_image(fd, fr.image_size, "/tmp/restart.img");
	/* Kill while still frozen: the original never runs again. */
	kill(pid, SIGKILL);
	close(fd);
	reap(pid, 0);
	if (n != (int64_t)fr.image_size)
		return fail("writing the image: %s", strerror((int)-n));
	cli = fork();
	if (cli == 0) {
		execl("/bin/clondike", "clondike", "restart", "/tmp/restart.img", (char *)NULL);
		_exit(127);
	}
	waitpid(cli, &wst, 0);
	unlink("/tmp/restart.img");
	if (!WIFEXITED(wst) || WEXITSTATUS(wst))
		return fail("restarted program: status %#x (exit %d)", wst,
			    WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
	pass();
	return 0;
}

/* ---- benchmark: module vs a minimal ptrace freezer ---------------------- */

static int ptrace_freeze(pid_t pid, pid_t *tids, int n)
{
	int i, st;

	for (i = 0; i < n; i++)
		if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) || ptrace(PTRACE_INTERRUPT, tids[i], 0, 0))
			return -errno;
	for (i = 0; i < n; i++)
		if (waitpid(tids[i], &st, __WALL) < 0)
			return -errno;
	(void)pid;
	return 0;
}

static int list_tids(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < max)
		if (de->d_name[0] != '.')
			tids[n++] = atoi(de->d_name);
	closedir(d);
	return n;
}

static int run_cli_checkpoint(pid_t pid, const char *path)
{
	char pidstr[16];
	pid_t c;
	int st;

	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	c = fork();
	if (c == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		setenv("CLD_FREEZER", "ptrace", 1); /* the backend to compare with */
		execl("/bin/clondike", "clondike", "checkpoint", pidstr, path, (char *)NULL);
		_exit(127);
	}
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Figures, module vs ptrace, in the same VM run:
 *  - parking latency of a 4-thread process: the module's park time (and
 *    its whole ioctl, which also builds the image description) against
 *    PTRACE_SEIZE + PTRACE_INTERRUPT + wait of every thread;
 *  - a whole checkpoint of a single-threaded process to a file: module
 *    (ioctl, pread, write, close) against `clondike checkpoint` (the
 *    ptrace backend, process start included);
 *  - read throughput: the module's image fd against process_vm_readv of
 *    as many bytes.
 */
static void bench(void)
{
	const int rounds = 10;
	uint64_t t0, park = 0, ioc = 0, ptr = 0, kckpt = 0, pckpt = 0, kread = 0, vread = 0;
	uint64_t bytes = 0, vbytes = 0;
	struct cld_kabi_freeze fr;
	pid_t pid, tids[16];
	uint8_t *buf = malloc(1 << 20);
	int i, n, fd, err, cli = !access("/bin/clondike", X_OK);
	char ch = 'x';

	pid = spawn(target_spin, 0, 1);
	msleep(50);
	n = list_tids(pid, tids, 16);
	for (i = 0; i < rounds; i++) {
		int k;

		t0 = now_ns();
		fd = freeze(pid, 0, &fr);
		ioc += now_ns() - t0;
		if (fd < 0)
			break;
		park += fr.freeze_ns;
		close(fd);
		msleep(5);
		t0 = now_ns();
		ptrace_freeze(pid, tids, n);
		ptr += now_ns() - t0;
		for (k = 0; k < n; k++)
			ptrace(PTRACE_DETACH, tids[k], 0, 0);
		msleep(5);
	}
	printf("BENCH park_us threads=%d kmod=%.0f (ioctl with image description %.0f) ptrace=%.0f ratio(ptrace/kmod)=%.2f\n",
	       n, park / 1e3 / rounds, ioc / 1e3 / rounds, ptr / 1e3 / rounds,
	       park ? (double)ptr / (double)park : 0);
	if (write(B->pipe_in[1], &ch, 1) == 1)
		reap(pid, 0);

	pid = spawn(target_single, 0, 1);
	msleep(50);
	for (i = 0; i < rounds; i++) {
		uint8_t *img;

		t0 = now_ns();
		fd = freeze(pid, 0, &fr);
		if (fd < 0)
			break;
		copy_image(fd, fr.image_size, "/tmp/bench-kmod.img");
		close(fd);
		kckpt += now_ns() - t0;
		bytes = fr.image_size;

		fd = freeze(pid, 0, &fr);
		t0 = now_ns();
		img = slurp(fd, fr.image_size, &err);
		kread += now_ns() - t0;
		free(img);
		close(fd);
		/* The same amount of memory through process_vm_readv. */
		t0 = now_ns();
		{
			uint64_t left = bytes;

			while (left) {
				size_t chunk = left < B->pattern_len ? left : B->pattern_len;
				struct iovec l = { buf, chunk };
				struct iovec r = { (void *)(uintptr_t)B->pattern, chunk };
				ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

				if (got <= 0)
					break;
				left -= (uint64_t)got;
				vbytes += (uint64_t)got;
			}
		}
		vread += now_ns() - t0;
		if (cli) {
			t0 = now_ns();
			run_cli_checkpoint(pid, "/tmp/bench-ptrace.img");
			pckpt += now_ns() - t0;
		}
	}
	printf("BENCH checkpoint_ms image_bytes=%llu kmod=%.1f ptrace_cli=%s%.1f ratio(ptrace/kmod)=%.2f\n",
	       (unsigned long long)bytes, kckpt / 1e6 / rounds, cli ? "" : "n/a:",
	       pckpt / 1e6 / rounds, kckpt && cli ? (double)pckpt / (double)kckpt : 0);
	if (write(B->pipe_in[1], &ch, 1) == 1)
		reap(pid, 0);

	/* Read throughput on 32 MiB of data: first read (digests computed
	 * as pages stream by) and a second one (digests cached). */
	pid = spawn(target_big, 0, 1);
	kread = vread = vbytes = 0;
	{
		uint64_t k2 = 0;

		for (i = 0; i < 3; i++) {
			uint8_t *img;

			fd = freeze(pid, 0, &fr);
			if (fd < 0)
				break;
			t0 = now_ns();
			img = slurp(fd, fr.image_size, &err);
			kread += now_ns() - t0;
			free(img);
			t0 = now_ns();
			img = slurp(fd, fr.image_size, &err);
			k2 += now_ns() - t0;
			free(img);
			bytes = fr.image_size;
			close(fd);
			t0 = now_ns();
			{
				uint64_t off;

				for (off = 0; off < B->pattern_len; off += 1 << 20) {
					struct iovec l = { buf, 1 << 20 };
					struct iovec r = { (void *)(uintptr_t)(B->pattern + off),
							   1 << 20 };
					ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

					if (got <= 0)
						break;
					vbytes += (uint64_t)got;
				}
			}
			vread += now_ns() - t0;
		}
		printf("BENCH read_MBps image_bytes=%llu kmod_fd_first=%.1f kmod_fd_cached_digests=%.1f process_vm_readv=%.1f\n",
		       (unsigned long long)bytes, kread ? bytes * i / (kread / 1e3) : 0,
		       k2 ? bytes * i / (k2 / 1e3) : 0, vread ? vbytes / (vread / 1e3) : 0);
	}
	B->stop = 1;
	reap(pid, 1);
	unlink("/tmp/bench-kmod.img");
	unlink("/tmp/bench-ptrace.img");
	free(buf);
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
