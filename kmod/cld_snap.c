// SPDX-License-Identifier: GPL-2.0
/*
 * Per-thread snapshot, taken by the frozen thread itself in cld_park():
 * there task_pt_regs() holds the complete user register set, the live
 * segment bases are the thread's own, and the FPU state can be flushed to
 * memory with kernel_fpu_begin()/end().  Everything is read from current,
 * so no lock against a concurrent exit is needed.
 */
#include <linux/compiler.h>
#include <linux/sched/signal.h>
#include <linux/sched/cputime.h>
#include <linux/sched/task_stack.h>
#include <linux/futex.h>
#include <linux/slab.h>
#include <linux/signal.h>
#include <linux/unistd.h>

#include <linux/elf.h>
#include <linux/regset.h>
#include <asm/msr.h>
#include <asm/ptrace.h>
#include <asm/segment.h>

#include "clondike/codec.h"
#include "cld_internal.h"

static void cld_snap_regs(struct cld_thr *th, struct pt_regs *regs)
{
	struct cld_regs *r = &th->regs, live;
	unsigned long v;
	u16 sel;

	r->r15 = regs->r15;
	r->r14 = regs->r14;
	r->r13 = regs->r13;
	r->r12 = regs->r12;
	r->rbp = regs->bp;
	r->rbx = regs->bx;
	r->r11 = regs->r11;
	r->r10 = regs->r10;
	r->r9 = regs->r9;
	r->r8 = regs->r8;
	r->rax = regs->ax;
	r->rcx = regs->cx;
	r->rdx = regs->dx;
	r->rsi = regs->si;
	r->rdi = regs->di;
	r->orig_rax = regs->orig_ax;
	r->rip = regs->ip;
	r->cs = regs->cs;
	r->eflags = regs->flags;
	r->rsp = regs->sp;
	r->ss = regs->ss;
	/*
	 * In kernel mode the user FS base is live in MSR_FS_BASE and the user
	 * GS base sits in MSR_KERNEL_GS_BASE (swapgs); the data selectors are
	 * untouched by kernel entry.  Reading them here, as the thread, is
	 * exact even when user space changed them with WRFSBASE.
	 */
	rdmsrl(MSR_FS_BASE, v);
	r->fs_base = v;
	rdmsrl(MSR_KERNEL_GS_BASE, v);
	r->gs_base = v;
	savesegment(ds, sel);
	r->ds = sel;
	savesegment(es, sel);
	r->es = sel;
	savesegment(fs, sel);
	r->fs = sel;
	savesegment(gs, sel);
	r->gs = sel;

	/*
	 * The thread is parked from get_signal(), before the arch code
	 * rewinds an interrupted restartable system call.  Record it in the
	 * restarted form docs/freezer.md defines (the ptrace backend's
	 * normalisation, so both backends agree): rip back on the syscall
	 * instruction, rax the call number, orig_rax -1.  A call that would
	 * go through restart_syscall() is recorded as its original number: a
	 * restored process has no kernel restart block.  The rule is the
	 * shared codec's (common/codec/codec_rules.c).
	 */
	live = *r; /* the kernel itself restarts the live thread */
	cld_restart_normalize(&live, r, &th->rec);
}

/*
 * NT_FPREGSET and NT_X86_XSTATE exactly as PTRACE_GETREGSET returns them:
 * through the same regset getters (task_user_regset_view() and
 * regset_get() are exported), called by the thread on itself, which
 * flushes its live FPU registers first.  The XSAVE conversion (init
 * states, compacted formats, PKRU, the software-reserved bytes gdb reads
 * XCR0 from) is then the kernel's own, on every CPU.
 */
static void cld_snap_fpu(struct cld_thr *th)
{
	const struct user_regset_view *view = task_user_regset_view(current);
	unsigned int i;
	int n;

	for (i = 0; i < view->n; i++) {
		const struct user_regset *rs = &view->regsets[i];
		unsigned int size = rs->n * rs->size;

		if (rs->core_note_type == NT_PRFPREG) {
			n = regset_get(current, rs, sizeof(th->fxsave), th->fxsave);
			if (n < 0)
				th->snap_err = n;
		} else if (rs->core_note_type == NT_X86_XSTATE) {
			/* What a CLD_MAX_XSTATE-sized PTRACE_GETREGSET gets. */
			size = min_t(unsigned int, size, CLD_MAX_XSTATE);
			size -= size % rs->size;
			if (!size)
				continue;
			th->xstate = kzalloc(size, GFP_KERNEL);
			if (!th->xstate) {
				th->snap_err = -ENOMEM;
				continue;
			}
			n = regset_get(current, rs, size, th->xstate);
			if (n <= 0) {
				/* -ENODEV: no XSAVE on this CPU, no note. */
				kfree(th->xstate);
				th->xstate = NULL;
				continue;
			}
			th->xstate_len = n;
		}
	}
}

static void cld_snap_signals(struct cld_thr *th, struct pt_regs *regs)
{
	struct sighand_struct *sh = current->sighand;
	struct cld_siginfo *q = NULL;
	struct sigqueue *sq;
	unsigned int n = 0, want;

	/* Size the queue copy outside the lock, then copy what still fits. */
	spin_lock_irq(&sh->siglock);
	list_for_each_entry(sq, &current->pending.list, list)
		n++;
	spin_unlock_irq(&sh->siglock);
	want = min_t(unsigned int, n, CLD_MAX_SIGQ);
	if (want) {
		q = kcalloc(want, sizeof(*q), GFP_KERNEL);
		if (!q)
			th->snap_err = -ENOMEM;
	}

	spin_lock_irq(&sh->siglock);
	th->rec.blocked = current->blocked.sig[0];
	th->rec.pending = current->pending.signal.sig[0];
	n = 0;
	if (q) {
		list_for_each_entry(sq, &current->pending.list, list) {
			if (n == want)
				break;
			/* The user siginfo: kernel_siginfo, zero padded. */
			memcpy(q[n].bytes, &sq->info,
			       min(sizeof(q[n].bytes), sizeof(sq->info)));
			n++;
		}
	}
	spin_unlock_irq(&sh->siglock);
	th->queue = q;
	th->rec.nr_queue = n;

	/* As sigaltstack(NULL, &old) would report it. */
	th->rec.sas_sp = current->sas_ss_sp;
	th->rec.sas_size = current->sas_ss_size;
	th->rec.sas_flags = sas_ss_flags(regs->sp) | current->sas_ss_flags;
}

void cld_snap_thread(struct cld_thr *th)
{
	struct pt_regs *regs = task_pt_regs(current);
	u64 ut, st;

	th->rec.tid = 0; /* in the freezer's namespace: filled at build */
	if (!user_64bit_mode(regs)) {
		/* The format is x86_64 only. */
		th->snap_err = -EOPNOTSUPP;
		return;
	}
	cld_snap_regs(th, regs);
	cld_snap_fpu(th);
	cld_snap_signals(th, regs);

	/* As PTRACE_GET_RSEQ_CONFIGURATION and get_robust_list() report. */
#ifdef CONFIG_RSEQ
	th->rec.rseq_addr = (unsigned long)current->rseq;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	th->rec.rseq_len = current->rseq_len;
#else
	th->rec.rseq_len = sizeof(struct rseq);
#endif
	th->rec.rseq_sig = current->rseq_sig;
#endif
	th->rec.tid_address = (unsigned long)current->clear_child_tid;
#ifdef CONFIG_FUTEX
	th->rec.robust_list = (unsigned long)current->robust_list;
	th->rec.robust_len = sizeof(struct robust_list_head);
#endif
	task_cputime_adjusted(current, &ut, &st);
	th->utime_ns = ut;
	th->stime_ns = st;
	th->snapped = true;
}

void cld_thr_free_snap(struct cld_thr *th)
{
	kfree(th->queue);
	th->queue = NULL;
	kfree(th->xstate);
	th->xstate = NULL;
}
