// SPDX-License-Identifier: MIT
/*
 * A process with regular files open, for the forwarded-file test
 * (tests/integration/test_shadow_file.sh):
 *
 *   sh_file RESULT PRIVATE SHARED GO [GO2...]
 *
 * Opens PRIVATE twice (read-write, and write-only with O_APPEND) and
 * SHARED read-write, writes a line into each, says "READY pid" in RESULT
 * and waits for the file GO (it is migrated meanwhile).  Then it uses the
 * files as a program would and appends a line per check to RESULT:
 * fstat, write, pwrite, pread, lseek SEEK_END, O_APPEND, fsync, fdatasync,
 * ftruncate, read, and where /proc/self/fd says each fd is.  Then, for
 * each further GOk, it waits for that file and writes "latek" at offset 0,
 * and reports what the pwrite got ("AFTER k written", or "AFTER k <errno
 * name>"): the test cuts the link or kills the home's daemon meanwhile.
 * Exits 0 when every check passed, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *result;
static int failed;

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fd = open(result, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, strlen(line)) < 0)
		perror("write");
	close(fd);
}

static void check(int good, const char *what, long got)
{
	if (!good)
		failed = 1;
	say("%s %s %ld%s%s\n", good ? "OK" : "FAIL", what, got, good ? "" : " errno ",
	    good ? "" : strerror(errno));
}

static void wait_file(const char *path)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ts, NULL);
}

static long size_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long)st.st_size;
}

static void where(int fd, const char *name)
{
	char path[64], to[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, to, sizeof(to) - 1);
	to[n < 0 ? 0 : n] = 0;
	say("FD %s %d %s\n", name, fd, to);
}

int main(int argc, char **argv)
{
	static const char want[] = "XYllo-home\nguest-wrote\nappended\n";
	char buf[256];
	int rw, ap, sh;
	ssize_t n;

	if (argc < 5)
		return 2;
	result = argv[1];
	rw = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	ap = open(argv[2], O_WRONLY | O_APPEND);
	sh = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (rw < 0 || ap < 0 || sh < 0 || write(rw, "hello-home\n", 11) != 11 ||
	    write(sh, "shared\n", 7) != 7) {
		perror("sh_file: setting up");
		return 2;
	}
	say("READY %ld\n", (long)getpid());
	wait_file(argv[4]);

	where(rw, "private");
	where(sh, "shared");
	check(size_of(rw) == 11, "fstat-size", size_of(rw));
	check(lseek(rw, 0, SEEK_CUR) == 11, "offset-kept", (long)lseek(rw, 0, SEEK_CUR));
	check(write(rw, "guest-wrote\n", 12) == 12, "write", 12);
	check(pwrite(rw, "XY", 2, 0) == 2, "pwrite", 2);
	n = pread(rw, buf, 5, 0);
	check(n == 5 && !memcmp(buf, "XYllo", 5), "pread", (long)n);
	check(lseek(rw, 0, SEEK_END) == 23, "seek-end", (long)lseek(rw, 0, SEEK_END));
	check(write(ap, "appended\n", 9) == 9 && size_of(rw) == 32, "append", size_of(rw));
	check(fsync(rw) == 0, "fsync", 0);
	check(fdatasync(ap) == 0, "fdatasync", 0);
	check(ftruncate(rw, 40) == 0 && size_of(rw) == 40, "ftruncate-grow", size_of(rw));
	check(ftruncate(rw, 32) == 0 && size_of(rw) == 32, "ftruncate-shrink", size_of(rw));
	n = pread(rw, buf, sizeof(buf), 0);
	check(n == 32 && !memcmp(buf, want, 32), "read-back", (long)n);
	n = read(ap, buf, 1);
	check(n < 0 && errno == EBADF, "read-of-write-only", (long)n);
	check(write(sh, "from-guest\n", 11) == 11, "shared-write", 11);
	say("DONE %s\n", failed ? "failed" : "ok");
	for (int k = 1; k + 4 < argc; k++) {
		char tag[8];

		wait_file(argv[k + 4]);
		snprintf(tag, sizeof(tag), "late%d", k % 10);
		n = pwrite(rw, tag, 5, 0);
		say("AFTER %d %s\n", k, n == 5 ? "written" : n < 0 ? strerrorname_np(errno) : "short");
	}
	return failed;
}
