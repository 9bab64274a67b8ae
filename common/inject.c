// SPDX-License-Identifier: MIT
/*
 * Remote system calls through ptrace.  The task is pointed at a "syscall"
 * instruction (found in its vDSO, so no code page is ever written and no
 * text page gets COWed into anonymous memory), resumed with PTRACE_SYSCALL
 * and caught at syscall entry and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "clondike/inject.h"

struct cld_remote {
	pid_t pid;
	struct user_regs_struct saved; /* registers at open */
	uint64_t saved_mask; /* signal mask at open */
	uint64_t site; /* address of a "syscall" instruction in the task */
	uint64_t scratch; /* remote scratch mapping, 0 if none */
	size_t scratch_len;
	unsigned int nr_calls; /* statistics */
};

static int find_vdso(pid_t pid, uint64_t *start, uint64_t *end)
{
	char path[64], line[512];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (!strstr(line, "[vdso]"))
			continue;
		if (sscanf(line, "%llx-%llx", &s, &e) == 2) {
			*start = s;
			*end = e;
			ret = 0;
		}
		break;
	}
	fclose(f);
	return ret;
}

int cld_remote_find_site(pid_t pid, uint64_t *site)
{
	uint64_t start, end;
	uint8_t *buf;
	size_t len, i;
	int ret;

	ret = find_vdso(pid, &start, &end);
	if (ret)
		return ret;
	len = end - start;
	if (len > (1u << 20))
		return -EINVAL;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	ret = cld_remote_read(pid, start, buf, len);
	if (ret)
		goto out;
	ret = -ENOENT;
	for (i = 0; i + 1 < len; i++) {
		if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
			*site = start + i;
			ret = 0;
			break;
		}
	}
out:
	free(buf);
	return ret;
}

int cld_remote_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	char path[64];
	ssize_t n;
	int fd;

	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	/* Unreadable protections (PROT_NONE, vDSO on some kernels): /proc
	 * PID/mem reads with FOLL_FORCE. */
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

int cld_remote_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)(uintptr_t)addr, len };
	char path[64];
	ssize_t n;
	int fd;

	n = process_vm_writev(pid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pwrite(fd, buf, len, (off_t)addr);
	close(fd);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

int cld_remote_open(struct cld_remote **out, pid_t pid, uint64_t site, struct cld_err *err)
{
	uint64_t all = ~0ull;
	struct cld_remote *r;
	int ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return cld_err_set(err, -ENOMEM, "out of memory");
	r->pid = pid;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &r->saved) < 0) {
		ret = cld_err_set(err, -errno, "PTRACE_GETREGS of %d: %s", pid, strerror(errno));
		goto fail;
	}
	if (ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(uint64_t), &r->saved_mask) < 0) {
		ret = cld_err_set(err, -errno, "PTRACE_GETSIGMASK of %d: %s", pid, strerror(errno));
		goto fail;
	}
	if (!site) {
		ret = cld_remote_find_site(pid, &site);
		if (ret) {
			ret = cld_err_set(err, ret,
					  "no syscall instruction found in the vDSO of %d: %s",
					  pid, strerror(-ret));
			goto fail;
		}
	}
	r->site = site;
	/* Block everything the kernel lets us block, so an injected call is
	 * never interrupted by a handler of the task's own. */
	if (ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(uint64_t), &all) < 0) {
		ret = cld_err_set(err, -errno, "PTRACE_SETSIGMASK of %d: %s", pid, strerror(errno));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	free(r);
	return ret;
}

void cld_remote_set_site(struct cld_remote *r, uint64_t site)
{
	r->site = site;
}

pid_t cld_remote_pid(const struct cld_remote *r)
{
	return r->pid;
}

uint64_t cld_remote_site(const struct cld_remote *r)
{
	return r->site;
}

const struct user_regs_struct *cld_remote_saved_regs(const struct cld_remote *r)
{
	return &r->saved;
}

unsigned int cld_remote_nr_calls(const struct cld_remote *r)
{
	return r->nr_calls;
}

void cld_remote_free(struct cld_remote *r)
{
	free(r);
}

/* Resume with PTRACE_SYSCALL until the next syscall stop. */
static int wait_syscall_stop(pid_t pid, struct cld_err *err)
{
	int status;

	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0)
			return cld_err_set(err, -errno, "PTRACE_SYSCALL of %d: %s", pid,
					   strerror(errno));
again:
		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				goto again;
			return cld_err_set(err, -errno, "waitpid %d: %s", pid, strerror(errno));
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return cld_err_set(err, -ESRCH, "process %d died during an injected call",
					   pid);
		if (!WIFSTOPPED(status))
			continue;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80))
			return 0;
		/* Group stop or a PTRACE_INTERRUPT stop: resume into the call.
		 * Signals cannot be delivered (all blocked but SIGSTOP, which a
		 * seized task reports as an event stop). */
	}
}

int cld_remote_syscall(struct cld_remote *r, long *ret, long nr, long a1, long a2, long a3,
		       long a4, long a5, long a6, struct cld_err *err)
{
	struct user_regs_struct regs = r->saved;
	int rc;

	regs.rax = (unsigned long)nr;
	regs.orig_rax = (unsigned long)-1; /* no syscall restart on resume */
	regs.rip = r->site;
	regs.rdi = (unsigned long)a1;
	regs.rsi = (unsigned long)a2;
	regs.rdx = (unsigned long)a3;
	regs.r10 = (unsigned long)a4;
	regs.r8 = (unsigned long)a5;
	regs.r9 = (unsigned long)a6;
	if (ptrace(PTRACE_SETREGS, r->pid, NULL, &regs) < 0)
		return cld_err_set(err, -errno, "PTRACE_SETREGS of %d: %s", r->pid,
				   strerror(errno));
	rc = wait_syscall_stop(r->pid, err); /* entry */
	if (rc)
		return rc;
	rc = wait_syscall_stop(r->pid, err); /* exit */
	if (rc)
		return rc;
	if (ptrace(PTRACE_GETREGS, r->pid, NULL, &regs) < 0)
		return cld_err_set(err, -errno, "PTRACE_GETREGS of %d: %s", r->pid,
				   strerror(errno));
	r->nr_calls++;
	*ret = (long)regs.rax;
	return 0;
}

int cld_remote_scratch(struct cld_remote *r, size_t len, uint64_t *addr, struct cld_err *err)
{
	long ret;
	int rc;

	if (r->scratch && r->scratch_len >= len) {
		*addr = r->scratch;
		return 0;
	}
	if (r->scratch) {
		rc = cld_remote_syscall(r, &ret, SYS_munmap, (long)r->scratch,
					(long)r->scratch_len, 0, 0, 0, 0, err);
		if (rc)
			return rc;
		r->scratch = 0;
	}
	len = (len + 4095) & ~(size_t)4095;
	rc = cld_remote_syscall(r, &ret, SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, err);
	if (rc)
		return rc;
	if (ret < 0 && ret > -4096)
		return cld_err_set(err, (int)ret, "remote mmap of scratch in %d: %s", r->pid,
				   strerror((int)-ret));
	r->scratch = (uint64_t)ret;
	r->scratch_len = len;
	*addr = r->scratch;
	return 0;
}

int cld_remote_close(struct cld_remote *r, int keep_regs, struct cld_err *err)
{
	long ret;
	int rc = 0;

	if (r->scratch) {
		rc = cld_remote_syscall(r, &ret, SYS_munmap, (long)r->scratch,
					(long)r->scratch_len, 0, 0, 0, 0, err);
		r->scratch = 0;
	}
	if (!keep_regs && ptrace(PTRACE_SETREGS, r->pid, NULL, &r->saved) < 0 && !rc)
		rc = cld_err_set(err, -errno, "restoring registers of %d: %s", r->pid,
				 strerror(errno));
	if (ptrace(PTRACE_SETSIGMASK, r->pid, (void *)sizeof(uint64_t), &r->saved_mask) < 0 &&
	    !rc)
		rc = cld_err_set(err, -errno, "restoring signal mask of %d: %s", r->pid,
				 strerror(errno));
	free(r);
	return rc;
}
