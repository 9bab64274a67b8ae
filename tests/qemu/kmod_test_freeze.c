// SPDX-License-Identifier: MIT
/*
 * Freeze and thaw: the version ioctl, parking and resuming, shared
 * freezes, timeouts, signals while frozen, permissions, thread churn.
 */
#include "kmod_test.h"

int t_version(void)
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

int t_freeze_thaw(void)
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

static void *freezer_thread(void *arg)
{
	pid_t pid = (pid_t)(long)arg;

	return (void *)(long)freeze(pid, 0, NULL);
}

int t_concurrent(void)
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

int t_early_close(void)
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
int t_stopped_timeout(void)
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
int t_deferred_signal(void)
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

int t_permission(void)
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

int t_thread_churn(void)
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
