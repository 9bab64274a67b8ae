// SPDX-License-Identifier: MIT
/*
 * The ptrace restorer (see restore.h and docs/restore.md): the entry
 * point, cld_restore(), which runs the phases in order, and the accessors
 * for fill hooks.
 *
 * Phases:
 *  1. check (restore_check.c): list every blocker before touching anything;
 *  2. prepare, in the parent (restore_files.c): open every file the child
 *     will need (fds, mapped files, the exe), re-create pipes and refill
 *     them, so identity checks and their errors happen before any process
 *     exists;
 *  3. fork (restore_child.c; clone3 with set_tid for the image's pid); the
 *     child, running only async-signal-safe code, puts fds at their numbers
 *     and sets what does not depend on its address space (cwd, umask,
 *     limits, sigactions, sigaltstack, pending signals, comm...), reports,
 *     and waits;
 *  4. the parent seizes it and injects system calls (restore_rebuild.c):
 *     rseq off, everything unmapped but the vDSO/vvar, which move to the
 *     image's place, each VMA mapped, memory filled (the fill hook),
 *     protections, PR_SET_MM_MAP, rseq/robust list/tid address, itimers,
 *     creds; then registers, FPU state and signal mask are set and the
 *     child is let go.
 * Any failure from 3 on kills the child: nothing half-built survives.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "restore_priv.h"

void cld_restore_opts_init(struct cld_restore_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->image_fd = -1;
	o->tty_fd = -1;
	o->nr_fwd = 0;
	o->caller_uid = geteuid();
	o->caller_gid = getegid();
}

struct cld_remote *cld_rst_remote(struct cld_rst *rs)
{
	return rs->r;
}

const struct cld_rimage *cld_rst_image(const struct cld_rst *rs)
{
	return rs->ri;
}

int cld_rst_child_image_fd(const struct cld_rst *rs)
{
	return rs->svc_base + rs->slot_img;
}

void cld_rst_account(struct cld_rst *rs, uint64_t bytes)
{
	rs->res->bytes_filled += bytes;
}

bool cld_rst_vma_fillable(const struct cld_rst *rs, uint32_t i)
{
	const struct cld_vma *v = &rs->p->vmas[i];

	if (!v->nr_ext)
		return false;
	return rs->vkind[i] == VK_ANON || rs->vkind[i] == VK_SHANON ||
	       (rs->vkind[i] == VK_FILE && !(v->rec.flags & CLD_VMA_SHARED));
}

/* ---- Driver ---------------------------------------------------------------- */

static void kill_child(struct cld_rst *rs)
{
	int st;

	if (rs->pid > 0) {
		uint32_t i;

		kill(rs->pid, SIGKILL);
		/* Our traced threads' exits first: the leader's is reported
		 * only once they are reaped. */
		for (i = 1; i < rs->nr_tids; i++)
			while (waitpid(rs->tids[i], &st, __WALL) < 0 && errno == EINTR)
				;
		if (!(rs->o->flags & CLD_RST_DETACH))
			while (waitpid(rs->pid, &st, __WALL) < 0 && errno == EINTR)
				;
		rs->pid = 0;
	}
}

int cld_restore(struct cld_rimage *ri, const struct cld_restore_opts *o,
		struct cld_restore_result *res, struct cld_err *err)
{
	struct cld_proc *p = &ri->proc;
	struct cld_rst rs;
	int sp[2] = { -1, -1 }, lp[2] = { -1, -1 };
	int ret, maxfd = 2, st;
	uint32_t i;

	memset(res, 0, sizeof(*res));
	memset(&rs, 0, sizeof(rs));
	rs.t0 = rst_now_ns();
	rs.ri = ri;
	rs.p = p;
	rs.o = o;
	rs.res = res;
	rs.status_rd = -1;
	rs.slot_exe = -1;
	if (o->image_fd < 0)
		return cld_err_set(err, -EBADF, "no image fd given to the restorer");
	ret = cld_restore_check(ri, o, NULL, err);
	if (ret)
		return ret;
	rs.fd_slot = calloc(p->nr_fds + 1, sizeof(*rs.fd_slot));
	rs.ghost_slot = calloc(p->nr_fds + 1, sizeof(*rs.ghost_slot));
	rs.vma_slot = calloc(p->nr_vmas + 1, sizeof(*rs.vma_slot));
	rs.vkind = calloc(p->nr_vmas + 1, 1);
	rs.prot_now = calloc(p->nr_vmas + 1, sizeof(*rs.prot_now));
	if (!rs.fd_slot || !rs.ghost_slot || !rs.vma_slot || !rs.vkind || !rs.prot_now) {
		ret = cld_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->nr_vmas; i++)
		rs.vkind[i] = (uint8_t)rst_classify(p, &p->vmas[i]);
	for (i = 0; i < p->nr_fds; i++)
		rs.ghost_slot[i] = -1;
	rs.cwd = p->cwd;

	/* Phase 2. */
	ret = -ENOMEM;
	rs.slot_img = rst_add_pfd(&rs, o->image_fd, false);
	if (rs.slot_img < 0)
		goto nomem;
	if (pipe2(sp, O_CLOEXEC) < 0 || pipe2(lp, O_CLOEXEC) < 0) {
		ret = cld_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	rs.status_rd = sp[0];
	rs.slot_status = rst_add_pfd(&rs, sp[1], true);
	if (rs.slot_status < 0) {
		close(sp[1]);
		goto nomem;
	}
	rs.life_wr = lp[1];
	rs.slot_life = rst_add_pfd(&rs, lp[0], true);
	if (rs.slot_life < 0) {
		close(lp[0]);
		goto nomem;
	}
	ret = rst_open_fds(&rs, err);
	if (!ret)
		ret = rst_open_mapped_files(&rs, err);
	if (ret)
		goto out;
	rst_open_exe(&rs);
	for (i = 0; i < p->nr_fds; i++)
		if (p->fds[i].rec.fd > maxfd)
			maxfd = p->fds[i].rec.fd;
	for (i = 0; i < rs.nr_pfd; i++)
		if (rs.pfd[i] > maxfd)
			maxfd = rs.pfd[i];
	rs.svc_base = maxfd + 1;

	/* Phase 3. */
	ret = rst_spawn(&rs, err);
	if (rs.helper > 0)
		while (waitpid(rs.helper, &st, 0) < 0 && errno == EINTR)
			;
	res->pid = rs.pid;
	res->prep_ns = rst_now_ns() - rs.t0;
	if (ret)
		goto fail;
	ret = rst_seize(&rs, err);
	if (ret)
		goto fail;
	/* Phase 4. */
	ret = rst_rebuild(&rs, err);
	if (ret)
		goto fail;
	res->total_ns = rst_now_ns() - rs.t0;
	goto out;

fail:
	cld_err_prefix(err, "restart of pid %d failed", p->proc.pid);
	kill_child(&rs);
	res->pid = 0;
	goto out;
nomem:
	ret = cld_err_set(err, -ENOMEM, "out of memory");
out:
	rst_close_pfds(&rs);
	if (rs.status_rd >= 0)
		close(rs.status_rd);
	if (lp[1] >= 0)
		close(lp[1]);
	free(rs.pfd);
	free(rs.pfd_owned);
	free(rs.fd_slot);
	free(rs.ghost_slot);
	free(rs.vma_slot);
	free(rs.vkind);
	free(rs.prot_now);
	free(rs.tids);
	return ret;
}

int cld_restore_fwd(const struct cld_restore_opts *o, int fd)
{
	unsigned int i;

	for (i = 0; i < o->nr_fwd && i < CLD_RST_FWD_MAX; i++)
		if (o->fwd[i].fd == fd)
			return o->fwd[i].local;
	return -1;
}
