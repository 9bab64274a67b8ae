// SPDX-License-Identifier: MIT
/*
 * Restart test: files and process attributes.  rst_files RESULT CTL DIR
 * (run with stdout redirected to a file; the script checks it too)
 *  - DIR/append opened O_APPEND, one line written before and one after;
 *  - DIR/input read 1000 bytes before, the next 1000 after (offset kept);
 *  - stdout: one line written before, stdio buffer left unflushed across
 *    the checkpoint, flushed after ("before\nbuffered-ok\nafter\n");
 *  - a pipe within the process holding unread data, O_NONBLOCK read end;
 *  - /dev/null at fd 7 with FD_CLOEXEC, the append file dup'ed at fd 42;
 *  - cwd, umask, RLIMIT_NOFILE/RLIMIT_CORE, comm.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>

#include "rst_common.h"

#define INPUT_LEN 8192

static unsigned char ipat(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 8));
}

int main(int argc, char **argv)
{
	char path[4096], buf[INPUT_LEN], cwd[4096], comm[32];
	const char *dir;
	unsigned char ibuf[1000];
	int afd, ifd, nfd, pfd[2], fd;
	struct rlimit rl;
	struct stat st;
	size_t i;
	ssize_t n;
	FILE *f;

	rst_init(argc, argv, 1, "DIR");
	dir = argv[3];

	snprintf(path, sizeof(path), "%s/append", dir);
	afd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	RST_CHECK(afd >= 0, "open %s", path);
	RST_CHECK(write(afd, "line1\n", 6) == 6, "write append");
	RST_CHECK(dup2(afd, 42) == 42, "dup2 42");

	snprintf(path, sizeof(path), "%s/input", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (i = 0; i < INPUT_LEN; i++)
		buf[i] = (char)ipat(i);
	RST_CHECK(fd >= 0 && write(fd, buf, INPUT_LEN) == INPUT_LEN, "write input");
	close(fd);
	ifd = open(path, O_RDONLY);
	RST_CHECK(ifd >= 0 && read(ifd, ibuf, 1000) == 1000, "read input");

	nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	RST_CHECK(nfd >= 0 && dup3(nfd, 7, O_CLOEXEC) == 7, "/dev/null at 7");
	close(nfd);

	RST_CHECK(pipe(pfd) == 0, "pipe");
	RST_CHECK(write(pfd[1], "hello pipe", 10) == 10, "pipe write");
	RST_CHECK(fcntl(pfd[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");

	RST_CHECK(write(1, "before\n", 7) == 7, "stdout");
	printf("buffered-"); /* stays in the stdio buffer across the checkpoint */

	RST_CHECK(chdir(dir) == 0, "chdir");
	umask(027);
	rl.rlim_cur = 500;
	rl.rlim_max = 4096;
	RST_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit NOFILE");
	rl.rlim_cur = 0;
	rl.rlim_max = RLIM_INFINITY;
	RST_CHECK(setrlimit(RLIMIT_CORE, &rl) == 0, "setrlimit CORE");
	prctl(PR_SET_NAME, "rst-files-x", 0, 0, 0);

	rst_ready();
	rst_wait_trigger();

	/* Offsets and flags. */
	RST_CHECK(write(afd, "line2\n", 6) == 6, "append after restart");
	RST_CHECK(write(42, "line3\n", 6) == 6, "write fd 42");
	RST_CHECK(fcntl(afd, F_GETFL) & O_APPEND, "O_APPEND lost");
	RST_CHECK(lseek(ifd, 0, SEEK_CUR) == 1000, "input offset %lld, want 1000",
		  (long long)lseek(ifd, 0, SEEK_CUR));
	RST_CHECK(read(ifd, ibuf, 1000) == 1000, "read input after restart");
	for (i = 0; i < 1000; i++)
		RST_CHECK(ibuf[i] == ipat(1000 + i), "input byte %zu", 1000 + i);
	RST_CHECK(fstat(7, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
			  minor(st.st_rdev) == 3,
		  "fd 7 is not /dev/null");
	RST_CHECK(fcntl(7, F_GETFD) == FD_CLOEXEC, "fd 7 lost FD_CLOEXEC");
	RST_CHECK(fcntl(afd, F_GETFD) == 0, "fd %d gained FD_CLOEXEC", afd);

	/* The pipe: unread data first, then it still works. */
	n = read(pfd[0], buf, sizeof(buf));
	RST_CHECK(n == 10 && !memcmp(buf, "hello pipe", 10), "pipe gave %zd bytes", n);
	n = read(pfd[0], buf, sizeof(buf));
	RST_CHECK(n < 0 && errno == EAGAIN, "empty non-blocking pipe read gave %zd", n);
	RST_CHECK(write(pfd[1], "again", 5) == 5 && read(pfd[0], buf, 5) == 5 &&
			  !memcmp(buf, "again", 5),
		  "pipe round trip");
	RST_CHECK(!(fcntl(pfd[1], F_GETFL) & O_NONBLOCK), "write end became non-blocking");

	RST_CHECK(getcwd(cwd, sizeof(cwd)) && stat(".", &st) == 0, "getcwd");
	{
		struct stat dst;

		RST_CHECK(stat(dir, &dst) == 0 && dst.st_ino == st.st_ino, "cwd is %s, want %s",
			  cwd, dir);
	}
	RST_CHECK(umask(0) == 027, "umask lost");
	RST_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 500 && rl.rlim_max == 4096,
		  "RLIMIT_NOFILE %llu/%llu", (unsigned long long)rl.rlim_cur,
		  (unsigned long long)rl.rlim_max);
	RST_CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0, "RLIMIT_CORE");
	memset(comm, 0, sizeof(comm));
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	RST_CHECK(!strcmp(comm, "rst-files-x"), "comm is %s", comm);

	printf("ok\n");
	fflush(stdout);
	RST_CHECK(write(1, "after\n", 6) == 6, "stdout after");

	snprintf(path, sizeof(path), "%s/append", dir);
	f = fopen(path, "r");
	RST_CHECK(f, "reopen append");
	n = (ssize_t)fread(buf, 1, sizeof(buf), f);
	fclose(f);
	RST_CHECK(n == 18 && !memcmp(buf, "line1\nline2\nline3\n", 18), "append file is '%.*s'",
		  (int)n, buf);
	rst_pass("files");
}
