// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The freezer rules both backends apply, pure functions of what they read:
 * which pages of a mapping the image holds, and how a task stopped in a
 * system call is recorded (restart normalisation, docs/freezer.md).  The
 * ptrace backend (common/freeze_ptrace*.c) and clondike.ko (kmod/) call
 * them, so their images agree.
 */
#include "codec_env.h"

/* The kernel's internal restart codes, as a stopped task's rax shows them. */
#ifndef ERESTARTSYS
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
#endif
#define CLD_NR_RESTART_SYSCALL 219 /* x86_64 restart_syscall */

enum cld_dump_policy cld_dump_policy(uint32_t flags)
{
	if (flags & CLD_VMA_VDSO)
		return CLD_DUMP_ALL;
	if (flags &
	    (CLD_VMA_VVAR | CLD_VMA_VSYSCALL | CLD_VMA_SPECIAL | CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB))
		return CLD_DUMP_NONE;
	if (flags & CLD_VMA_SHARED) {
		/* A live file holds shared file data; only memory with no file
		 * to go back to (shared anonymous, memfd, deleted) is dumped. */
		if ((flags & CLD_VMA_FILE) && !(flags & CLD_VMA_DELETED))
			return CLD_DUMP_NONE;
		return CLD_DUMP_ANY;
	}
	if (flags & CLD_VMA_DELETED)
		return CLD_DUMP_ANY;
	return CLD_DUMP_ANON;
}

void cld_restart_normalize(struct cld_regs *live, struct cld_regs *image,
			   struct cld_thread_rec *rec)
{
	int64_t nr = (int64_t)live->orig_rax;
	int64_t res = (int64_t)live->rax;

	*image = *live;
	rec->syscall_state = CLD_SYSCALL_NONE;
	rec->orig_syscall = -1;
	rec->orig_result = 0;
	if (nr < 0)
		return;
	rec->orig_syscall = nr;
	rec->orig_result = res;
	switch (res) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		/* Rewind onto the "syscall" instruction: the task reissues the
		 * call by itself when it runs again, here or after a restart. */
		live->rax = (uint64_t)nr;
		live->rip -= 2;
		live->orig_rax = (uint64_t)-1;
		*image = *live;
		rec->syscall_state = CLD_SYSCALL_RESTART;
		break;
	case -ERESTART_RESTARTBLOCK:
		/* The live task resumes through restart_syscall(), which uses the
		 * kernel's restart block (remaining time of a nanosleep...).  A
		 * restored process has no restart block, so the image reissues
		 * the original call with its original arguments. */
		live->rax = CLD_NR_RESTART_SYSCALL;
		live->rip -= 2;
		live->orig_rax = (uint64_t)-1;
		*image = *live;
		image->rax = (uint64_t)nr;
		rec->syscall_state = CLD_SYSCALL_RESTART;
		break;
	default:
		rec->syscall_state = CLD_SYSCALL_DONE;
		break;
	}
}

/*
 * Whether fd i is the one whose buffered data is recorded (a PIPEDATA
 * record), and as what: of a pipe both of whose ends the process holds, its
 * lowest read end; of a socketpair, its lowest end with data queued; of a
 * FIFO, its lowest readable fd.  -1 for every other fd.
 */
int cld_pipedata_kind(const struct cld_proc *p, uint32_t i)
{
	const struct cld_fd_rec *r = &p->fds[i].rec;
	bool writer = false;
	uint32_t j;

	if (r->kind == CLD_FD_PIPE && (r->fl_flags & O_ACCMODE) == O_RDONLY) {
		for (j = 0; j < p->nr_fds; j++) {
			const struct cld_fd_rec *w = &p->fds[j].rec;

			if (w->kind != CLD_FD_PIPE || w->ino != r->ino)
				continue;
			if ((w->fl_flags & O_ACCMODE) == O_WRONLY)
				writer = true;
			if (j < i && (w->fl_flags & O_ACCMODE) == O_RDONLY)
				return -1;
		}
		return writer ? (int)CLD_PIPEDATA_PIPE : -1;
	}
	if (r->kind == CLD_FD_SOCKPAIR) {
		for (j = 0; j < i; j++)
			if (p->fds[j].rec.kind == CLD_FD_SOCKPAIR && p->fds[j].rec.ino == r->ino)
				return -1;
		return r->state[2] ? (int)CLD_PIPEDATA_SOCK : -1;
	}
	if (r->kind == CLD_FD_FIFO && (r->fl_flags & O_ACCMODE) != O_WRONLY) {
		for (j = 0; j < i; j++) {
			const struct cld_fd_rec *o = &p->fds[j].rec;

			if (o->kind == CLD_FD_FIFO && o->ino == r->ino && o->dev == r->dev &&
			    (o->fl_flags & O_ACCMODE) != O_WRONLY)
				return -1;
		}
		return (int)CLD_PIPEDATA_FIFO;
	}
	return -1;
}
