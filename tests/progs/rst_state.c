// SPDX-License-Identifier: MIT
/*
 * "rst_state RESULT CTL MODE DIR": process state that a restart must
 * bring back or refuse (issue 18), one MODE at a time; DIR is a scratch
 * directory of the test.
 *
 *   files     fds sharing an open file description (dup) and fds of the
 *             same file or pipe end opened separately: offsets and
 *             O_NONBLOCK per description; a pipe sized with F_SETPIPE_SZ
 *             with data in it; a FIFO sized too, with data; a FIFO only
 *             read here whose writer left data and closed
 *   oom       oom_score_adj 345
 *   loginuid  the audit login uid set to 4242 (run as root, or with it
 *             unset; the test skips the mode without audit)
 *   thp       PR_SET_THP_DISABLE
 *   madv      mappings with MADV_DONTFORK, MADV_WIPEONFORK (its data in
 *             it), MADV_HUGEPAGE, MADV_NOHUGEPAGE, and guard pages in the
 *             middle of a written region (Linux 6.13; "noguard" in the
 *             result where the kernel has none)
 *   shm       MAP_SHARED|MAP_ANONYMOUS memory and a MAP_SHARED mapping of
 *             /dev/zero, with data, one page of it never touched
 *   session   a session leader (setsid), without a terminal
 *   pgrp      a process group leader (setpgid), without a terminal
 *   membar    registered for MEMBARRIER_CMD_PRIVATE_EXPEDITED
 *   nodump    PR_SET_DUMPABLE 0
 *   dump      dumpable (run it as another user and restart it as root:
 *             the change of uid must not leave it undumpable)
 *   children  a child that waits: restarted alone, wait() finds none
 *   cwd       the working directory is deleted
 *   locks     an flock() and a POSIX lock held
 *
 * The refused modes (children, cwd, locks) only become READY: the test
 * checks that they are refused.  children also answers a trigger, to
 * show what --without-children gives.
 */
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <linux/membarrier.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "rst_common.h"

#define PIPE_CAP (256 * 1024)
#define FIFO_CAP (128 * 1024)

#define MPG 4096ul
#define MLEN (64 * MPG)
static char *madv[5]; /* dontfork, wipeonfork, hugepage, nohugepage, guarded */
static bool have_guard;
static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

/* The VmFlags line of the mapping at a, from /proc/self/smaps. */
static bool vmflag(const void *a, const char *flag)
{
	char line[512], want[32];
	bool in = false, r = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	snprintf(want, sizeof(want), "%lx-", (unsigned long)a);
	while (f && fgets(line, sizeof(line), f)) {
		char *dash = strchr(line, '-'), *sp = strchr(line, ' ');

		/* A mapping's first line: "start-end perms ..." */
		if (dash && sp && dash < sp)
			in = !strncmp(line, want, strlen(want));
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(want, sizeof(want), " %s", flag);
			r = strstr(line, want) != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return r;
}

static void madv_setup(void)
{
	static const int adv[4] = { MADV_DONTFORK, MADV_WIPEONFORK, MADV_HUGEPAGE,
				    MADV_NOHUGEPAGE };
	int i;

	for (i = 0; i < 5; i++) {
		madv[i] = mmap(NULL, MLEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		RST_CHECK(madv[i] != MAP_FAILED, "mmap");
		memset(madv[i], 'a' + i, MLEN);
		if (i < 4)
			RST_CHECK(!madvise(madv[i], MLEN, adv[i]), "madvise %d: %s", adv[i],
				  strerror(errno));
	}
	have_guard = !madvise(madv[4] + 8 * MPG, 2 * MPG, 102 /* MADV_GUARD_INSTALL */);
}

static void madv_check(void)
{
	static const char *flag[4] = { "dc", "wf", "hg", "nh" };
	struct sigaction sa = { .sa_handler = on_segv };
	volatile char c = 0;
	int i;

	for (i = 0; i < 4; i++)
		RST_CHECK(vmflag(madv[i], flag[i]), "mapping %d lost VmFlags %s", i, flag[i]);
	for (i = 0; i < 5; i++)
		RST_CHECK(madv[i][0] == 'a' + i && madv[i][MLEN - 1] == 'a' + i,
			  "mapping %d lost its data", i);
	if (!have_guard) {
		rst_say("noguard");
		return;
	}
	RST_CHECK(madv[4][7 * MPG] == 'e' && madv[4][10 * MPG] == 'e', "around the guard pages");
	sigaction(SIGSEGV, &sa, NULL);
	if (!sigsetjmp(segv_jmp, 1)) {
		c = madv[4][8 * MPG];
		rst_fail("a guard page reads (%d): it is not a guard any more", c);
	}
	RST_CHECK(!madvise(madv[4] + 8 * MPG, 2 * MPG, 103 /* MADV_GUARD_REMOVE */) &&
			  madv[4][8 * MPG] == 0,
		  "removing the guard gives a zero page");
}

static char *shm[2];

static void shm_setup(void)
{
	int z = open("/dev/zero", O_RDWR);
	int i;

	shm[0] = mmap(NULL, MLEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	shm[1] = mmap(NULL, MLEN, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
	RST_CHECK(z >= 0 && shm[0] != MAP_FAILED && shm[1] != MAP_FAILED, "shared mmap");
	close(z);
	for (i = 0; i < 2; i++)
		memset(shm[i], 'S' + i, MLEN - MPG); /* the last page untouched */
}

static void shm_check(void)
{
	size_t k;
	int i;

	for (i = 0; i < 2; i++) {
		for (k = 0; k < MLEN - MPG; k += 512)
			RST_CHECK(shm[i][k] == 'S' + i, "shared mapping %d lost its data at %zu", i,
				  k);
		RST_CHECK(shm[i][MLEN - 1] == 0, "shared mapping %d: its last page is not zero", i);
	}
}

static int p[2], p_dup, p_sep, f, f_dup, f_sep, fifo, fifo_rd;

static void files_setup(const char *dir)
{
	char path[4096];

	RST_CHECK(!pipe(p), "pipe: %s", strerror(errno));
	RST_CHECK(fcntl(p[1], F_SETPIPE_SZ, PIPE_CAP) == PIPE_CAP, "F_SETPIPE_SZ: %s",
		  strerror(errno));
	RST_CHECK(write(p[1], "0123456789", 10) == 10, "write into the pipe");
	p_dup = dup(p[0]);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	p_sep = open(path, O_RDONLY); /* a description of its own */
	RST_CHECK(p_dup >= 0 && p_sep >= 0, "dup/reopen of the pipe: %s", strerror(errno));
	fcntl(p_sep, F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETFL, O_NONBLOCK);

	snprintf(path, sizeof(path), "%s/data", dir);
	f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	RST_CHECK(f >= 0, "%s: %s", path, strerror(errno));
	RST_CHECK(ftruncate(f, 4096) == 0, "ftruncate");
	f_dup = dup(f);
	f_sep = open(path, O_RDONLY);
	RST_CHECK(f_dup >= 0 && f_sep >= 0, "dup/open of the file");
	lseek(f, 100, SEEK_SET);
	lseek(f_sep, 7, SEEK_SET);

	snprintf(path, sizeof(path), "%s/fifo", dir);
	RST_CHECK(!mkfifo(path, 0600), "mkfifo %s: %s", path, strerror(errno));
	fifo = open(path, O_RDWR);
	RST_CHECK(fifo >= 0, "open %s: %s", path, strerror(errno));
	RST_CHECK(fcntl(fifo, F_SETPIPE_SZ, FIFO_CAP) == FIFO_CAP, "F_SETPIPE_SZ of the FIFO");
	RST_CHECK(write(fifo, "fifo data", 9) == 9, "write into the FIFO");

	/* A FIFO read here whose writer came and went: data, then EOF. */
	snprintf(path, sizeof(path), "%s/fifo2", dir);
	RST_CHECK(!mkfifo(path, 0600), "mkfifo %s: %s", path, strerror(errno));
	fifo_rd = open(path, O_RDONLY | O_NONBLOCK);
	{
		int w = open(path, O_WRONLY);

		RST_CHECK(fifo_rd >= 0 && w >= 0 && write(w, "left behind", 11) == 11,
			  "a writer of %s: %s", path, strerror(errno));
		close(w);
	}
}

static bool nonblock(int fd)
{
	return fcntl(fd, F_GETFL) & O_NONBLOCK;
}

static void files_check(void)
{
	char buf[16];

	RST_CHECK(fcntl(p[1], F_GETPIPE_SZ) == PIPE_CAP, "the pipe holds %d bytes, not %d",
		  fcntl(p[1], F_GETPIPE_SZ), PIPE_CAP);
	RST_CHECK(fcntl(fifo, F_GETPIPE_SZ) == FIFO_CAP, "the FIFO holds %d bytes, not %d",
		  fcntl(fifo, F_GETPIPE_SZ), FIFO_CAP);
	RST_CHECK(!nonblock(p[0]) && !nonblock(p_dup), "the pipe's read end became O_NONBLOCK");
	RST_CHECK(nonblock(p_sep), "the separately opened read end lost O_NONBLOCK");
	RST_CHECK(nonblock(p[1]), "the pipe's write end lost O_NONBLOCK");
	/* One description: a flag set on one fd shows on its dup. */
	fcntl(p_dup, F_SETFL, O_NONBLOCK);
	RST_CHECK(nonblock(p[0]), "a dup of the read end is not the same open file");
	fcntl(p_dup, F_SETFL, 0);
	RST_CHECK(nonblock(p_sep), "the separate read end shares its flags with the other");
	RST_CHECK(read(p_sep, buf, 10) == 10 && !memcmp(buf, "0123456789", 10),
		  "the pipe's data is not back");
	RST_CHECK(read(fifo, buf, sizeof(buf)) == 9 && !memcmp(buf, "fifo data", 9),
		  "the FIFO's data is not back");
	RST_CHECK(read(fifo_rd, buf, sizeof(buf)) == 11 && !memcmp(buf, "left behind", 11),
		  "the data a gone writer left in the second FIFO is not back");
	RST_CHECK(read(fifo_rd, buf, sizeof(buf)) == 0, "no EOF after it: the writer is gone");
	RST_CHECK(lseek(f_dup, 0, SEEK_CUR) == 100, "the file's dup is at %lld, not 100",
		  (long long)lseek(f_dup, 0, SEEK_CUR));
	lseek(f, 200, SEEK_SET);
	RST_CHECK(lseek(f_dup, 0, SEEK_CUR) == 200, "the file and its dup have separate offsets");
	RST_CHECK(lseek(f_sep, 0, SEEK_CUR) == 7, "the separate open is at %lld, not 7",
		  (long long)lseek(f_sep, 0, SEEK_CUR));
}

static void oom_set(int v)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	char b[16];
	int n = snprintf(b, sizeof(b), "%d", v);

	RST_CHECK(fd >= 0 && write(fd, b, (size_t)n) == n, "oom_score_adj: %s", strerror(errno));
	close(fd);
}

static long long proc_num(const char *path)
{
	int fd = open(path, O_RDONLY);
	char b[24] = "";

	RST_CHECK(fd >= 0 && read(fd, b, sizeof(b) - 1) > 0, "%s: %s", path, strerror(errno));
	close(fd);
	return atoll(b);
}

static int oom_get(void)
{
	return (int)proc_num("/proc/self/oom_score_adj");
}

int main(int argc, char **argv)
{
	const char *mode, *dir;
	char path[4096];
	pid_t child = -1;
	int st;

	rst_init(argc, argv, 2, "MODE DIR");
	mode = argv[3];
	dir = argv[4];
	if (!strcmp(mode, "files")) {
		files_setup(dir);
	} else if (!strcmp(mode, "oom")) {
		oom_set(345);
	} else if (!strcmp(mode, "loginuid")) {
		int fd = open("/proc/self/loginuid", O_WRONLY);

		RST_CHECK(fd >= 0 && write(fd, "4242", 4) == 4, "loginuid 4242: %s", strerror(errno));
		close(fd);
	} else if (!strcmp(mode, "thp")) {
		RST_CHECK(!prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "PR_SET_THP_DISABLE");
	} else if (!strcmp(mode, "madv")) {
		madv_setup();
	} else if (!strcmp(mode, "shm")) {
		shm_setup();
	} else if (!strcmp(mode, "session")) {
		RST_CHECK(setsid() == getpid(), "setsid: %s", strerror(errno));
	} else if (!strcmp(mode, "pgrp")) {
		RST_CHECK(!setpgid(0, 0), "setpgid: %s", strerror(errno));
	} else if (!strcmp(mode, "membar")) {
		RST_CHECK(!syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0),
			  "membarrier register: %s", strerror(errno));
	} else if (!strcmp(mode, "nodump")) {
		RST_CHECK(!prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "PR_SET_DUMPABLE");
	} else if (!strcmp(mode, "dump")) {
		RST_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1, "not dumpable to begin with");
	} else if (!strcmp(mode, "children")) {
		child = fork();
		if (child == 0) {
			pause();
			_exit(0);
		}
	} else if (!strcmp(mode, "cwd")) {
		snprintf(path, sizeof(path), "%s/gone", dir);
		RST_CHECK(!mkdir(path, 0700) && !chdir(path) && !rmdir(path),
			  "a deleted working directory: %s", strerror(errno));
	} else if (!strcmp(mode, "locks")) {
		snprintf(path, sizeof(path), "%s/locked", dir);
		f = open(path, O_RDWR | O_CREAT, 0600);
		RST_CHECK(f >= 0 && !flock(f, LOCK_EX), "flock: %s", strerror(errno));
	} else {
		rst_fail("unknown mode %s", mode);
	}
	rst_ready();
	rst_wait_trigger();
	if (!strcmp(mode, "files")) {
		files_check();
		rst_pass("dup'ed fds share offset and flags, separate opens do not; pipe and FIFO "
			 "capacity; pipe and FIFO data");
	} else if (!strcmp(mode, "oom")) {
		RST_CHECK(oom_get() == 345, "oom_score_adj is %d, not 345", oom_get());
		rst_pass("oom_score_adj 345");
	} else if (!strcmp(mode, "loginuid")) {
		RST_CHECK(proc_num("/proc/self/loginuid") == 4242, "loginuid is %lld, not 4242",
			  proc_num("/proc/self/loginuid"));
		rst_pass("loginuid 4242");
	} else if (!strcmp(mode, "thp")) {
		RST_CHECK(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1, "THP is enabled again");
		rst_pass("PR_SET_THP_DISABLE kept");
	} else if (!strcmp(mode, "shm")) {
		shm_check();
		rst_pass("shared anonymous and /dev/zero memory with its data");
	} else if (!strcmp(mode, "session")) {
		RST_CHECK(getsid(0) == getpid() && getpgrp() == getpid(),
			  "not a session leader (sid %d pgid %d pid %d)", (int)getsid(0),
			  (int)getpgrp(), (int)getpid());
		rst_pass("a session leader");
	} else if (!strcmp(mode, "pgrp")) {
		RST_CHECK(getpgrp() == getpid() && getsid(0) != getpid(),
			  "not a group leader in another's session (sid %d pgid %d pid %d)",
			  (int)getsid(0), (int)getpgrp(), (int)getpid());
		rst_pass("a process group leader");
	} else if (!strcmp(mode, "membar")) {
		/* Unregistered, the expedited command fails with EPERM. */
		RST_CHECK(!syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0),
			  "membarrier(PRIVATE_EXPEDITED): %s", strerror(errno));
		rst_pass("membarrier registration kept");
	} else if (!strcmp(mode, "madv")) {
		madv_check();
		rst_pass("DONTFORK, WIPEONFORK, HUGEPAGE, NOHUGEPAGE kept, with their data; guard pages");
	} else if (!strcmp(mode, "nodump") || !strcmp(mode, "dump")) {
		int want = !strcmp(mode, "dump");

		RST_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == want, "dumpable is %d, not %d",
			  prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), want);
		rst_say("uid %d", (int)getuid());
		rst_pass(want ? "dumpable" : "not dumpable");
	} else if (!strcmp(mode, "children")) {
		/* Restarted --without-children: the loss it accepted. */
		errno = 0;
		RST_CHECK(waitpid(child, &st, WNOHANG) < 0 && errno == ECHILD,
			  "wait for the child did not fail with ECHILD (%s)", strerror(errno));
		rst_pass("without its child: wait() fails with ECHILD, as documented");
	}
	rst_fail("mode %s is refused, it should not have been restarted", mode);
}
