// SPDX-License-Identifier: MIT
/*
 * Lifetime: a frozen target that is killed (while a reader streams its
 * image, or under a persistent freeze), and the module's unload.
 */
#include "kmod_test.h"

int t_sigkill(void)
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
int t_exit_while_read(void)
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

/* A persistent freeze whose process is killed is forgotten, not leaked. */
int t_persist_kill(void)
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

int t_unload(void)
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
