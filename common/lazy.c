// SPDX-License-Identifier: MIT
/*
 * The lazy pager's fill hook.  The restorer's fill hook creates a
 * userfaultfd inside the child and registers its private anonymous
 * mappings; a pager process (lazy_pager.c) then serves the faults from the
 * image and pulls the rest in the background.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "clondike/lazy.h"
#include "lazy_priv.h"

void cld_lazy_init(struct cld_lazy *lz, const struct cld_lazy_opts *o)
{
	memset(lz, 0, sizeof(*lz));
	lz->o = *o;
	if (!lz->o.min_window)
		lz->o.min_window = 16;
	if (!lz->o.max_window)
		lz->o.max_window = 512;
	if (lz->o.max_window < lz->o.min_window)
		lz->o.max_window = lz->o.min_window;
	lz->pager = -1;
	lz->stats_pipe = -1;
}

static int rsys(struct cld_rst *rs, long *ret, const char *what, long nr, long a1, long a2,
		long a3, long a4, struct cld_err *err)
{
	long r;
	int rc = cld_remote_syscall(cld_rst_remote(rs), &r, nr, a1, a2, a3, a4, 0, 0, err);

	if (rc)
		return cld_err_prefix(err, "%s", what);
	if (r < 0 && r > -4096)
		return cld_err_set(err, (int)r, "%s in the restored process: %s", what,
				   strerror((int)-r));
	if (ret)
		*ret = r;
	return 0;
}

/* Write the dumped pages of VMA i now, with injected preads. */
static int fill_vma_eager(struct cld_rst *rs, uint32_t i, struct cld_err *err)
{
	const struct cld_rimage *ri = cld_rst_image(rs);
	const struct cld_vma *v = &ri->proc.vmas[i];
	long fd = cld_rst_child_image_fd(rs);
	uint32_t j;
	int ret;

	for (j = 0; j < v->nr_ext; j++) {
		uint64_t addr = v->rec.start + v->ext[j].first * PAGE;
		uint64_t end = addr + v->ext[j].count * PAGE;

		while (addr < end) {
			uint64_t off, run;
			long got;

			if (!lz_classify(ri, addr, &off, &run))
				return cld_err_set(err, -EBADMSG, "dumped page %#llx has no data",
						   (unsigned long long)addr);
			if (run > (end - addr) / PAGE)
				run = (end - addr) / PAGE;
			ret = rsys(rs, &got, "pread of the image", SYS_pread64, fd, (long)addr,
				   (long)(run * PAGE), (long)off, err);
			if (ret)
				return ret;
			if (got <= 0 || got % (long)PAGE)
				return cld_err_set(err, -EIO, "short read of the image at %llu",
						   (unsigned long long)off);
			cld_rst_account(rs, (uint64_t)got);
			addr += (uint64_t)got;
		}
	}
	return 0;
}

/*
 * Private anonymous mappings are lazy.  Eager: private file mappings
 * (userfaultfd cannot serve them), and the stack, which is small and
 * always needed, and holds argv/environ: /proc/PID/cmdline and other
 * remote readers cannot wait for a userfault (they get nothing).
 */
static bool lazy_vma(const struct cld_vma *v)
{
	return !(v->rec.flags & (CLD_VMA_FILE | CLD_VMA_SHARED | CLD_VMA_SPECIAL |
				 CLD_VMA_VDSO | CLD_VMA_VVAR | CLD_VMA_VSYSCALL |
				 CLD_VMA_STACK));
}

int cld_lazy_fill(struct cld_rst *rs, void *arg, struct cld_err *err)
{
	struct cld_lazy *lz = arg;
	const struct cld_rimage *ri = cld_rst_image(rs);
	struct cld_remote *r = cld_rst_remote(rs);
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
					      UFFD_FEATURE_EVENT_REMOVE |
					      UFFD_FEATURE_EVENT_UNMAP };
	struct lz_pager pg;
	int pipefd[2] = { -1, -1 };
	long child_uffd;
	pid_t pid;
	uint32_t i;
	int ret;

	memset(&pg, 0, sizeof(pg));
	pg.o = &lz->o;
	pg.ri = ri;
	pg.pid = cld_remote_pid(r);
	pg.pidfd = pg.img_fd = -1;
	pg.t0 = lz_now_ns();

	/* The eager part first, while the restorer still owns every page
	 * (no fault can happen yet). */
	for (i = 0; i < ri->proc.nr_vmas; i++) {
		if (!cld_rst_vma_fillable(rs, i) || lazy_vma(&ri->proc.vmas[i]))
			continue;
		ret = fill_vma_eager(rs, i, err);
		if (ret)
			return ret;
	}

	ret = rsys(rs, &child_uffd, "userfaultfd", SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0,
		   err);
	if (ret)
		return cld_err_prefix(err, "lazy restart needs userfaultfd (root, or sysctl vm.unprivileged_userfaultfd=1)");
	pg.pidfd = (int)syscall(SYS_pidfd_open, pg.pid, 0);
	if (pg.pidfd < 0) {
		ret = cld_err_set(err, -errno, "pidfd_open(%d): %s", pg.pid, strerror(errno));
		goto fail;
	}
	ret = lz_new_ctx(&pg, (int)syscall(SYS_pidfd_getfd, pg.pidfd, (int)child_uffd, 0), -1);
	if (ret || pg.ctx[0].uffd < 0) {
		ret = cld_err_set(err, ret ? ret : -errno, "pidfd_getfd of the userfaultfd: %s",
				  strerror(ret ? -ret : errno));
		goto fail;
	}
	ret = rsys(rs, NULL, "close of the child's userfaultfd", SYS_close, child_uffd, 0, 0, 0,
		   err);
	if (ret)
		goto fail;
	if (ioctl(pg.ctx[0].uffd, UFFDIO_API, &api) < 0) {
		ret = cld_err_set(err, -errno,
				  "UFFDIO_API with fork/remap/remove/unmap events: %s (the fork event needs CAP_SYS_PTRACE)",
				  strerror(errno));
		goto fail;
	}
	for (i = 0; i < ri->proc.nr_vmas; i++) {
		const struct cld_vma *v = &ri->proc.vmas[i];
		struct uffdio_register reg = { .range = { .start = v->rec.start,
							  .len = v->rec.end - v->rec.start },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };

		if (!cld_rst_vma_fillable(rs, i) || !lazy_vma(v))
			continue;
		if (ioctl(pg.ctx[0].uffd, UFFDIO_REGISTER, &reg) < 0) {
			ret = cld_err_set(err, -errno, "UFFDIO_REGISTER of %#llx-%#llx: %s",
					  (unsigned long long)v->rec.start,
					  (unsigned long long)v->rec.end, strerror(errno));
			goto fail;
		}
		ret = lz_add_range(&pg.ctx[0], v->rec.start, v->rec.end, v->rec.start);
		if (ret) {
			cld_err_set(err, ret, "out of memory");
			goto fail;
		}
		lz_mark_holes(ri, &pg.ctx[0].r[pg.ctx[0].nr - 1]);
	}
	pg.img_fd = open(lz->o.image_path, O_RDONLY | O_CLOEXEC);
	if (pg.img_fd < 0) {
		ret = cld_err_set(err, -errno, "%s: %s", lz->o.image_path, strerror(errno));
		goto fail;
	}
	pg.buf = mmap(NULL, lz->o.max_window * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pg.buf == MAP_FAILED) {
		ret = cld_err_set(err, -ENOMEM, "out of memory for the pager buffer");
		goto fail;
	}
	if (!lz->o.detach && pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = cld_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		ret = cld_err_set(err, -errno, "fork of the pager: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		if (lz->o.detach && fork() > 0)
			_exit(0); /* the pager is nobody's child */
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		lz_pager_main(&pg, pipefd[1]);
	}
	if (lz->o.detach)
		waitpid(pid, NULL, 0);
	else
		lz->pager = pid;
	lz->stats_pipe = pipefd[0];
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	/* The pager owns the uffd now; our copies go. */
	close(pg.ctx[0].uffd);
	close(pg.img_fd);
	close(pg.pidfd);
	munmap(pg.buf, lz->o.max_window * PAGE);
	for (i = 0; i < pg.ctx[0].nr; i++)
		free(pg.ctx[0].r[i].st);
	free(pg.ctx[0].r);
	free(pg.ctx);
	return 0;
fail:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pg.buf && pg.buf != MAP_FAILED)
		munmap(pg.buf, lz->o.max_window * PAGE);
	if (pg.img_fd >= 0)
		close(pg.img_fd);
	if (pg.pidfd >= 0)
		close(pg.pidfd);
	if (pg.ctx) {
		lz_close_ctx(&pg.ctx[0]);
		free(pg.ctx);
	}
	return ret;
}

int cld_lazy_wait(struct cld_lazy *lz, struct cld_lazy_stats *st, struct cld_err *err)
{
	int status = 0;
	ssize_t got = 0;

	memset(st, 0, sizeof(*st));
	if (lz->stats_pipe >= 0) {
		do
			got = read(lz->stats_pipe, st, sizeof(*st));
		while (got < 0 && errno == EINTR);
		close(lz->stats_pipe);
		lz->stats_pipe = -1;
	}
	if (lz->pager > 0) {
		while (waitpid(lz->pager, &status, 0) < 0 && errno == EINTR)
			;
		lz->pager = -1;
	}
	if (got != (ssize_t)sizeof(*st))
		return cld_err_set(err, -EIO, "the pager ended without reporting (status %#x)",
				   status);
	if (st->exit_reason == EIO)
		return cld_err_set(err, -EIO, "the image became unreadable; the process was killed");
	return 0;
}

void cld_lazy_release(struct cld_lazy *lz)
{
	if (lz->stats_pipe >= 0)
		close(lz->stats_pipe);
	lz->stats_pipe = -1;
	lz->pager = -1;
}
