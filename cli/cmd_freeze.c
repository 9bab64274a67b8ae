// SPDX-License-Identifier: MIT
/*
 * clondike freeze / thaw / checkpoint.
 *
 * A ptrace freeze ends when its tracer exits, so `clondike freeze` forks a
 * holder process that does the freeze and stays as the tracer, serving the
 * image and the thaw request on a unix socket (see common/freezer.c and
 * docs/freezer.md).  `thaw` and `checkpoint` of a held process talk to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clondike/freezer.h"
#include "clondike/image_read.h"
#include "clondike/restore.h"

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* comm is chosen by the process: escape it for JSON. */
static void json_safe(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 7 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* ---- freeze ------------------------------------------------------------- */

/* What the holder tells the CLI once the freeze is done (or failed). */
struct freeze_report {
	int code;
	char backend[16];
	uint64_t rip;
	char comm[17];
	char msg[512];
};

static int write_report(int fd, const struct freeze_report *r)
{
	return write(fd, r, sizeof(*r)) == (ssize_t)sizeof(*r) ? 0 : -EIO;
}

/* The holder: freeze, report through fd, then serve until thawed. */
static void __attribute__((noreturn)) holder_main(pid_t pid, int fd)
{
	struct freeze_report rep = { 0 };
	struct cld_frozen *fz;
	struct cld_err err = { 0 };
	int lfd, null;

	/* Leave the CLI's terminal, session and pipes: a shell capturing
	 * the CLI's output must not wait for the holder. */
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (chdir("/") < 0)
		_exit(1);
	rep.code = cld_hold_listen(pid, &lfd, &err);
	if (!rep.code)
		rep.code = cld_freeze(pid, CLD_FREEZE_HOLDER, &fz, &err);
	if (rep.code) {
		snprintf(rep.msg, sizeof(rep.msg), "%s", cld_err_str(&err));
		write_report(fd, &rep);
		_exit(1);
	}
	snprintf(rep.backend, sizeof(rep.backend), "%s", fz->backend);
	if (fz->proc && fz->proc->nr_threads) {
		rep.rip = fz->proc->threads[0].prstatus.pr_reg.rip;
		memcpy(rep.comm, fz->proc->proc.comm, 16);
	}
	write_report(fd, &rep);
	close(fd);
	_exit(cld_hold_serve(lfd, fz) ? 1 : 0);
}

int cld_cmd_freeze(int argc, char **argv)
{
	struct freeze_report rep = { 0 };
	struct cld_err err = { 0 };
	struct cld_frozen *h;
	bool untrusted;
	pid_t pid, holder;
	int p[2], st;
	ssize_t n;

	if (argc != 2 || parse_pid(argv[1], &pid))
		return cld_cli_usage(argv[0]);
	if (!cld_hold_connect_ex(pid, &untrusted, &h, &err)) {
		cld_frozen_free(h);
		return cld_cli_fail(argv[0], "process %d is already frozen", pid);
	}
	/* Somebody else took the holder's socket name: no holder can bind it. */
	if (untrusted)
		return cld_cli_fail(argv[0],
				    "cannot hold process %d: %s (its holder socket name is taken: "
				    "'checkpoint' still works)",
				    pid, cld_err_str(&err));
	if (pipe2(p, O_CLOEXEC) < 0)
		return cld_cli_fail(argv[0], "pipe: %s", strerror(errno));
	fflush(stdout);
	holder = fork();
	if (holder < 0)
		return cld_cli_fail(argv[0], "fork: %s", strerror(errno));
	if (!holder) {
		close(p[0]);
		holder_main(pid, p[1]);
	}
	close(p[1]);
	do
		n = read(p[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n != (ssize_t)sizeof(rep)) {
		waitpid(holder, &st, 0);
		return cld_cli_fail(argv[0], "the freezer process died before reporting");
	}
	if (rep.code) {
		waitpid(holder, &st, 0);
		return cld_cli_fail(argv[0], "%s", rep.msg);
	}
	if (cld_opts.json) {
		char comm[128];

		json_safe(rep.comm, comm, sizeof(comm));
		printf("{\"pid\":%d,\"comm\":\"%s\",\"backend\":\"%s\",\"holder\":%d,"
		       "\"rip\":\"0x%llx\"}\n",
		       pid, comm, rep.backend, holder, (unsigned long long)rep.rip);
	} else if (!cld_opts.quiet) {
		printf("frozen %d (%s): %s backend, rip 0x%llx, held by pid %d\n", pid, rep.comm,
		       rep.backend, (unsigned long long)rep.rip, holder);
	}
	return 0;
}

/* ---- thaw --------------------------------------------------------------- */

int cld_cmd_thaw(int argc, char **argv)
{
	struct cld_err err = { 0 };
	struct cld_frozen *fz;
	enum cld_thaw_how how = CLD_THAW_RESUME;
	pid_t pid;
	int ret, a = 1;

	if (a < argc && !strcmp(argv[a], "--kill")) {
		how = CLD_THAW_KILL;
		a++;
	}
	if (argc != a + 1 || parse_pid(argv[a], &pid))
		return cld_cli_usage(argv[0]);
	ret = cld_hold_connect(pid, &fz, &err);
	if (ret == -ENOENT)
		return cld_cli_fail(argv[0], "process %d is not frozen by 'clondike freeze'", pid);
	if (ret)
		return cld_cli_fail(argv[0], "%s", cld_err_str(&err));
	ret = cld_frozen_thaw(fz, how, &err);
	cld_frozen_free(fz);
	if (ret)
		return cld_cli_fail(argv[0], "%s", cld_err_str(&err));
	if (!cld_opts.quiet && !cld_opts.json)
		printf("%s %d\n", how == CLD_THAW_KILL ? "killed" : "thawed", pid);
	return 0;
}

/* ---- checkpoint ---------------------------------------------------------- */

struct progress {
	double start, last;
	int shown;
};

#define PROGRESS_MIN_BYTES (64ull << 20)

static void show_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *pr = arg;
	char a[32], b[32];
	double t = now_s(), rate;

	if (total < PROGRESS_MIN_BYTES || (t - pr->last < 0.1 && done < total))
		return;
	pr->last = t;
	pr->shown = 1;
	rate = t > pr->start ? (double)done / (t - pr->start) / 1e9 : 0;
	cld_cli_human(done, a, sizeof(a));
	cld_cli_human(total, b, sizeof(b));
	fprintf(stderr, "\r%12s / %-12s %3d%%  %.2f GB/s ", a, b,
		(int)(total ? done * 100 / total : 100), rate);
}

static ssize_t frozen_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	return cld_frozen_pread(ctx, buf, len, off);
}

/* The restorer's up-front check, of what does not depend on where the
 * image is restarted; the blockers on stderr, one a line. */
static int portable_check(struct cld_frozen *fz, bool without_children, struct cld_err *err)
{
	struct cld_restore_opts o;
	struct cld_rimage *ri = NULL;
	char *report = NULL, *line, *save = NULL;
	int ret;

	cld_restore_opts_init(&o);
	o.flags = CLD_RST_CHECK_PORTABLE | (without_children ? CLD_RST_WITHOUT_CHILDREN : 0);
	ret = cld_frozen_prepare(fz, err);
	if (ret)
		return ret;
	if (fz->proc) {
		ret = cld_restore_check_proc(fz->proc, &o, &report, err);
	} else {
		/* The module's image: its description is in its notes. */
		struct cld_src src = { .pread = frozen_pread, .ctx = fz, .size = fz->size };

		ret = cld_rimage_open(&src, &ri, err);
		if (!ret)
			ret = cld_restore_check(ri, &o, &report, err);
		cld_rimage_free(ri);
	}
	if (ret && report) {
		for (line = strtok_r(report, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "  - %s\n", line);
		cld_err_set(err, ret, "process %d cannot be restarted from an image (above); "
			    "--unrestorable writes one all the same, for gdb and inspection%s",
			    fz->pid, without_children ? "" : " (--without-children accepts losing its children)");
	}
	free(report);
	return ret;
}

int cld_cmd_checkpoint(int argc, char **argv)
{
	enum { DEFAULT, LEAVE_RUNNING, KILL } mode = DEFAULT;
	struct progress pr = { 0 };
	struct cld_err err = { 0 };
	struct cld_frozen *fz = NULL;
	char tmp[PATH_MAX], size[32];
	const char *file;
	bool held = false, created = false, untrusted, to_stdout, without_children = false;
	bool unrestorable = false;
	double t0, dt;
	pid_t pid;
	int a = 1, fd = -1, ret;

	for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
		if (!strcmp(argv[a], "--leave-running"))
			mode = LEAVE_RUNNING;
		else if (!strcmp(argv[a], "--kill"))
			mode = KILL;
		else if (!strcmp(argv[a], "--without-children"))
			without_children = true;
		else if (!strcmp(argv[a], "--unrestorable"))
			unrestorable = true;
		else
			return cld_cli_usage(argv[0]);
	}
	if (argc != a + 2 || parse_pid(argv[a], &pid))
		return cld_cli_usage(argv[0]);
	file = argv[a + 1];
	to_stdout = !strcmp(file, "-");
	if (to_stdout && isatty(1))
		return cld_cli_fail(argv[0], "refusing to write an image to a terminal");

	t0 = now_s();
	ret = cld_hold_connect_ex(pid, &untrusted, &fz, &err);
	if (!ret) {
		held = true;
	} else if (ret == -ENOENT || untrusted) {
		/*
		 * No holder, or a socket under the holder's name that is not
		 * the process's holder (nothing was sent to it): freeze the
		 * process ourselves.  CLD_FREEZE_HOLDER skips cld_freeze's own
		 * look at that socket, which would only refuse it again.
		 */
		if (untrusted)
			fprintf(stderr, "clondike %s: warning: %s; freezing the process directly\n",
				argv[0], cld_err_str(&err));
		cld_err_clear(&err);
		ret = cld_freeze(pid, untrusted ? CLD_FREEZE_HOLDER : 0, &fz, &err);
	}
	if (ret)
		return cld_cli_fail(argv[0], "%s", cld_err_str(&err));
	/* What no restart anywhere could bring back is refused before any
	 * image is written, as `restart --check` would refuse it. */
	if (!unrestorable) {
		ret = portable_check(fz, without_children, &err);
		if (ret)
			goto fail;
	}

	if (to_stdout) {
		fd = 1;
	} else {
		/* Write next to the target and rename at the end: a failed
		 * checkpoint never leaves a truncated image under FILE.  0600:
		 * an image holds the process's memory. */
		snprintf(tmp, sizeof(tmp), "%s.partial-%d", file, (int)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = cld_err_set(&err, -errno, "creating %s: %s", tmp, strerror(errno));
			goto fail;
		}
		created = true;
	}
	pr.start = pr.last = now_s();
	ret = cld_frozen_write_fd(fz, fd, (isatty(2) && !cld_opts.quiet) ? show_progress : NULL,
				  &pr, &err);
	if (pr.shown)
		fputc('\n', stderr);
	if (ret)
		goto fail;
	if (!to_stdout) {
		if (close(fd) < 0) {
			fd = -1;
			ret = cld_err_set(&err, -errno, "writing %s: %s", tmp, strerror(errno));
			goto fail;
		}
		fd = -1;
		if (rename(tmp, file) < 0) {
			ret = cld_err_set(&err, -errno, "renaming %s to %s: %s", tmp, file,
					  strerror(errno));
			goto fail;
		}
		created = false;
	}
	dt = now_s() - t0;

	/* After a good image only: what the process does next. */
	if (mode == KILL || (mode == LEAVE_RUNNING && held) || !held) {
		ret = cld_frozen_thaw(fz, mode == KILL ? CLD_THAW_KILL : CLD_THAW_RESUME, &err);
		if (ret) {
			cld_frozen_free(fz);
			return cld_cli_fail(argv[0], "image written to %s, but: %s", file,
					    cld_err_str(&err));
		}
	}
	if (!cld_opts.quiet && !to_stdout) {
		cld_cli_human(fz->size, size, sizeof(size));
		printf("checkpoint of %d (%s backend): %s, %s in %.3f s (%.2f GB/s of data)%s\n",
		       pid, fz->backend, file, size, dt, dt > 0 ? (double)fz->data_bytes / dt / 1e9 : 0.0,
		       mode == KILL		 ? ", process killed" :
		       (held && mode == DEFAULT) ? ", process stays frozen" :
						   "");
	}
	cld_frozen_free(fz);
	return 0;
fail:
	if (fd >= 0 && !to_stdout)
		close(fd);
	if (created)
		unlink(tmp);
	/* Frees thaw what we froze ourselves; a held process stays frozen. */
	cld_frozen_free(fz);
	return cld_cli_fail(argv[0], "%s", cld_err_str(&err));
}
