/* SPDX-License-Identifier: MIT */
/*
 * What the files of kmod_test, the in-VM test driver of clondike.ko, share:
 * the board, the reporting, the targets, the module calls and the tests.
 *
 *   kmod_test.c          reporting, timing, the test table, main
 *   kmod_test_targets.c  the targets: forked children that use the board
 *   kmod_test_calls.c    module calls, /proc probes, reading an image fd
 *   kmod_test_freeze.c   freeze and thaw
 *   kmod_test_lifetime.c a frozen target killed; the module unloaded
 *   kmod_test_image.c    the image: restarted form, reader, writer, restart
 *   kmod_test_compare.c  the module's image against the ptrace backend's
 *   kmod_test_bench.c    kmod_test --bench
 */
#ifndef CLD_KMOD_TEST_H
#define CLD_KMOD_TEST_H

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
#include <sys/file.h>
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

/* target_state: what it holds at the freeze (B->st_what), and its fds. */
#define ST_FLOCK 0x1 /* flock(LOCK_EX) on /tmp/st-flock */
#define ST_POSIX 0x2 /* F_SETLK write lock on /tmp/st-posix */
#define ST_OFD 0x4   /* F_OFD_SETLK write lock on /tmp/st-ofd */
#define ST_CHILD 0x8 /* a forked child, in pause() */
#define ST_TUNE 0x10 /* oom_score_adj ST_OOM, PR_SET_THP_DISABLE */
#define ST_ALL 0x1f
#define ST_OOM 345
#define ST_PIPE_SZ (256 << 10) /* F_SETPIPE_SZ of the pipe */
#define ST_FIFO_SZ (128 << 10) /* and of the FIFO */
#define ST_FILE_SZ 8192
#define ST_FILE_POS 100	  /* offset of ST_FD_FILE (and its dup) */
#define ST_AGAIN_POS 3000 /* offset of ST_FD_FILE_AGAIN */
#define ST_PIPE_DATA "clondike state pipe"
enum {
	ST_FD_FILE,	  /* /tmp/st-file, O_RDWR */
	ST_FD_FILE_DUP,	  /* dup of it */
	ST_FD_FILE_AGAIN, /* the same file opened again, O_RDONLY */
	ST_FD_PIPE_R,	  /* a pipe holding ST_PIPE_DATA */
	ST_FD_PIPE_W,
	ST_FD_PIPE_DUP,	  /* dup of its read end */
	ST_FD_PIPE_AGAIN, /* its read end opened via /proc/self/fd, O_NONBLOCK */
	ST_FD_FIFO,	  /* /tmp/st-fifo, O_RDWR */
	ST_FD_FLOCK,
	ST_FD_POSIX,
	ST_FD_OFD,
	ST_NFD
};

/* target_events: the anonymous-inode fds format 1.2 re-creates. */
#define EV_COUNT 5	       /* the counter eventfd's count (EFD_SEMAPHORE) */
#define EV_TIMER_S 30	       /* the timerfd: armed relative, 30 s */
#define EV_INTERVAL_S 2	       /* with a 2 s interval */
#define EV_DATA_PIPE 0x1111    /* epoll data of the pipe (EPOLLIN) */
#define EV_DATA_EVENTFD 0x2222 /* and of the watched eventfd (EPOLLIN|EPOLLET) */
enum {
	EV_FD_EPOLL,  /* watches EV_FD_PIPE_R and EV_FD_WATCHED */
	EV_FD_PIPE_R, /* an empty pipe */
	EV_FD_PIPE_W,
	EV_FD_WATCHED, /* an eventfd at 0 */
	EV_FD_COUNTER, /* an eventfd at EV_COUNT, EFD_SEMAPHORE */
	EV_FD_TIMER,   /* CLOCK_MONOTONIC */
	EV_FD_SIGNAL,  /* SIGUSR1 */
	EV_FD_PIDFD,   /* of its parent, the driver */
	EV_FD_PIDPATH, /* an O_PATH open of the pidfd: no fdinfo, UNSUPPORTED */
	EV_NFD
};

struct board {
	volatile uint64_t count[8]; /* per worker thread progress */
	volatile int stop;	    /* targets finish and self-check */
	volatile int ready;
	volatile int verdict;	   /* 1 ok, -1 self-check failed */
	volatile uint64_t pattern; /* address of the pattern buffer */
	volatile uint64_t pattern_len;
	volatile int nthreads;
	volatile int eintr;	    /* a restartable call returned EINTR */
	int pipe_in[2];		    /* driver -> target */
	volatile int st_what;	    /* ST_* : what target_state sets up */
	volatile pid_t st_child;    /* its child, 0 once it reaped it */
	volatile int st_fd[ST_NFD]; /* its fds, in ST_FD_* order */
	volatile int ev_fd[EV_NFD]; /* target_events' fds, EV_FD_* order */
};

/* Threads of target_threads besides its main thread. */
#define NMT 4

/* kmod_test.c */
extern struct board *B;
extern int devfd;
extern int failures;
extern const char *cur;

void pass(void);
int fail(const char *fmt, ...);
uint64_t now_ns(void);
void msleep(int ms);
int progressed(uint64_t c, int ms);

/* kmod_test_targets.c */
uint64_t pattern_word(uint64_t i);
int target_spin(void);
int target_single(void);
int target_threads(void);
int target_steps(void);
int target_big(void);
int target_sleep(void);
int target_spawn(void);
int target_sparse(void);
int target_pause(void);
int target_state(void);
int target_events(void);
pid_t spawn(int (*fn)(void), uid_t uid, int dumpable);
int reap(pid_t pid, int sig_kill);

/* kmod_test_calls.c */
int freeze(pid_t pid, uint32_t flags, struct cld_kabi_freeze *out);
int query(pid_t pid, struct cld_kabi_state *st);
int nr_tasks(pid_t pid);
pid_t unparked_thread(pid_t pid, char *state);
long rss_kb(pid_t pid);
uint8_t *slurp(int fd, uint64_t size, int *err);
const uint8_t *find_note(const uint8_t *img, uint64_t size, const char *owner, uint32_t type,
			 int nth, uint32_t *len);
int64_t copy_image(int fd, uint64_t size, const char *path);

/* The tests, in the order of kmod_test.c's table. */
int t_version(void);
int t_freeze_thaw(void);
int t_restart_read(void);
int t_restart_sleep(void);
int t_sigkill(void);
int t_exit_while_read(void);
int t_concurrent(void);
int t_early_close(void);
int t_permission(void);
int t_thread_churn(void);
int t_nofault(void);
int t_stopped_timeout(void);
int t_deferred_signal(void);
int t_image(void);
int t_ptrace_compare(void);
int t_ptrace_compare_threads(void);
int t_ptrace_compare_state(void);
int t_ptrace_compare_state_each(void);
int t_ptrace_compare_events(void);
int t_restart_image(void);
int t_persist_kill(void);
int t_unload(void);

/* kmod_test_bench.c */
void bench(void);

#endif /* CLD_KMOD_TEST_H */
