/* SPDX-License-Identifier: MIT */
/*
 * Shared protocol of the restart test programs (tests/progs/rst_*.c):
 *
 *   rst_NAME RESULT CTL [args...]
 *
 * RESULT is a file the program (re)writes atomically: "READY <pid>" once
 * its state is set up and it may be checkpointed, then later lines
 * ("PASS ..." or "FAIL: reason") when asked to verify itself.  CTL is a
 * FIFO the program holds open read-write; writing "check\n" into it is the
 * trigger to verify.  The wait for the trigger is a read() blocked on the
 * FIFO, so every program is also a test of a blocked read() resuming after
 * restart.  Exit status: 0 for PASS, 1 for FAIL.
 */
#ifndef RST_COMMON_H
#define RST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *rst_result_path;
static int rst_ctl = -1;
static char rst_log[8192];
static size_t rst_log_len;

static inline void rst_write_result(void)
{
	char tmp[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", rst_result_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		_exit(3);
	if (write(fd, rst_log, rst_log_len) != (ssize_t)rst_log_len)
		_exit(3);
	close(fd);
	if (rename(tmp, rst_result_path) < 0)
		_exit(3);
}

/* Append a line to the result file (rewritten atomically each time). */
static inline void __attribute__((format(printf, 1, 2))) rst_say(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rst_log + rst_log_len, sizeof(rst_log) - rst_log_len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	rst_log_len += (size_t)n;
	if (rst_log_len > sizeof(rst_log) - 2)
		rst_log_len = sizeof(rst_log) - 2;
	rst_log[rst_log_len++] = '\n';
	rst_write_result();
}

static inline void __attribute__((noreturn, format(printf, 1, 2))) rst_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rst_say("FAIL: %s", msg);
	exit(1);
}

#define RST_CHECK(cond, ...)                    \
	do {                                    \
		if (!(cond))                    \
			rst_fail(__VA_ARGS__);  \
	} while (0)

static inline void rst_init(int argc, char **argv, int min_args, const char *usage)
{
	if (argc < 3 + min_args) {
		fprintf(stderr, "usage: %s RESULT CTL %s\n", argv[0], usage);
		exit(2);
	}
	rst_result_path = argv[1];
	/* Read-write: the FIFO never reports EOF and open() never blocks. */
	rst_ctl = open(argv[2], O_RDWR | O_CLOEXEC);
	if (rst_ctl < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
		exit(2);
	}
}

static inline void rst_ready(void)
{
	rst_say("READY %d", (int)getpid());
}

/* Block in read() on the FIFO until "check\n" arrives. */
static inline void rst_wait_trigger(void)
{
	char buf[16];
	ssize_t n;

	do {
		n = read(rst_ctl, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	RST_CHECK(n == 6 && !memcmp(buf, "check\n", 6),
		  "trigger read returned %zd (errno %d) '%.*s'", n, n < 0 ? errno : 0,
		  n > 0 ? (int)n : 0, buf);
}

static inline void __attribute__((noreturn)) rst_pass(const char *what)
{
	rst_say("PASS %s", what);
	exit(0);
}

/* A fast, reproducible pseudo-random stream. */
static inline uint64_t rst_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

#endif /* RST_COMMON_H */
