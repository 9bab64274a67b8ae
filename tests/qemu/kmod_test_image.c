// SPDX-License-Identifier: MIT
/*
 * The image: syscalls recorded in restarted form, no page faulted in by
 * imaging, the image checked against the reader and the writer, and an
 * image restarted by the userspace restorer.
 */
#include "kmod_test.h"

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

int t_restart_read(void)
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
		return fail("main thread: state %u syscall %lld result %lld", rec.syscall_state,
			    (long long)rec.orig_syscall, (long long)rec.orig_result);
	if (ps.pr_reg.rax != SYS_read || ps.pr_reg.orig_rax != (uint64_t)-1)
		return fail("regs not in restarted form: rax %llu orig_rax %lld",
			    (unsigned long long)ps.pr_reg.rax, (long long)ps.pr_reg.orig_rax);
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) || B->eintr)
		return fail("target saw EINTR or failed (status %#x)", wst);
	pass();
	return 0;
}

int t_restart_sleep(void)
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

/* Freezing and imaging must not populate pages. */
int t_nofault(void)
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
int t_image(void)
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
	       (unsigned long long)fr.image_size, (unsigned long long)checked, ri->layout.nr_segs,
	       ri->proc.threads[0].xstate_len);
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

/*
 * An image the module produced restarts with the userspace restorer
 * (clondike restart) and the program finishes its self-check.
 */
int t_restart_image(void)
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
