// SPDX-License-Identifier: MIT
/*
 * The freezer's rules, pure functions of what it read: how a task stopped
 * in a system call is recorded (restart normalisation, docs/freezer.md)
 * and which pages of a mapping the image holds (docs/image-format.md).
 */
#include <sys/syscall.h>

#include "freeze_ptrace_priv.h"

/* The kernel's internal restart codes, as a stopped task's rax shows them. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

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
		live->rax = SYS_restart_syscall;
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

enum dump_policy ptr_vma_policy(uint32_t flags)
{
	if (flags & CLD_VMA_VDSO)
		return DUMP_ALL;
	if (flags &
	    (CLD_VMA_VVAR | CLD_VMA_VSYSCALL | CLD_VMA_SPECIAL | CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB))
		return DUMP_NONE;
	if (flags & CLD_VMA_SHARED) {
		/* A live file holds shared file data; only memory with no file
		 * to go back to (shared anonymous, memfd, deleted) is dumped. */
		if ((flags & CLD_VMA_FILE) && !(flags & CLD_VMA_DELETED))
			return DUMP_NONE;
		return DUMP_ANY;
	}
	if (flags & CLD_VMA_DELETED)
		return DUMP_ANY;
	return DUMP_ANON;
}

int cld_pagemap_dumped(uint64_t entry, uint32_t vma_flags)
{
	int present = !!(entry & (1ull << 63)), swapped = !!(entry & (1ull << 62));
	int file = !!(entry & (1ull << 61));

	switch (ptr_vma_policy(vma_flags)) {
	case DUMP_ALL:
		return 1;
	case DUMP_ANY:
		return present || swapped;
	case DUMP_ANON:
		return (present && !file) || swapped;
	default:
		return 0;
	}
}
