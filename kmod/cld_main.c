// SPDX-License-Identifier: GPL-2.0
/*
 * clondike.ko: freeze a thread group at the user-mode boundary and expose
 * it as an anon-inode fd whose bytes are the group's clondike image.
 *
 * How a freeze works.  The freezer queues a task_work on every thread with
 * TWA_SIGNAL: this sets TIF_NOTIFY_SIGNAL, which interrupts an interruptible
 * sleep the way a signal would (restartable system calls unwind with
 * -ERESTART*), and on its way back to user mode the thread runs cld_park()
 * from get_signal().  cld_park() snapshots the thread's own registers and
 * signal state and then sleeps TASK_KILLABLE until thawed.  No signal is
 * generated, no ptrace stop happens, so the parent sees nothing; SIGKILL
 * still wakes the thread and it dies normally.  The freezer loops until
 * every thread of the group has parked (threads created meanwhile get a
 * work too; a parked thread cannot clone, so this converges).
 *
 * Module lifetime.  Every queued work holds a module reference, released as
 * the last action of cld_park(), so the module cannot go away while a
 * thread may still run its code: rmmod of a module with frozen tasks is
 * refused (EBUSY/EWOULDBLOCK) until they are thawed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/pseudo_fs.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>

#include "cld_file.h"
#include "cld_image.h"
#include "cld_internal.h"

#define CLD_DEFAULT_TIMEOUT_MS 10000u

/* The registry of frozen groups: at most one cld_frz per thread group. */
DEFINE_MUTEX(cld_lock);
static LIST_HEAD(cld_frozen);

static void cld_frz_release(struct kref *ref)
{
	struct cld_frz *frz = container_of(ref, struct cld_frz, ref);
	unsigned int i;

	if (frz->img)
		cld_img_free(frz->img);
	for (i = 0; i < frz->nr_thr; i++) {
		struct cld_thr *th = frz->thr[i];

		cld_thr_free_snap(th);
		put_task_struct(th->task);
		kfree(th);
	}
	kfree(frz->thr);
	put_pid(frz->tgid);
	put_pid_ns(frz->ns);
	put_user_ns(frz->user_ns);
	kfree(frz);
}

void cld_frz_put(struct cld_frz *frz)
{
	kref_put(&frz->ref, cld_frz_release);
}

static bool cld_all_arrived(struct cld_frz *frz)
{
	bool r;

	spin_lock(&frz->lock);
	r = frz->nr_parked + frz->nr_gone == frz->nr_thr;
	spin_unlock(&frz->lock);
	return r;
}

/*
 * The task_work: runs in the frozen thread itself, on its way to user mode
 * (from get_signal()) or from exit_task_work() if it is exiting.
 */
static void cld_park(struct callback_head *cb)
{
	struct cld_thr *th = container_of(cb, struct cld_thr, work);
	struct cld_frz *frz = th->frz;
	bool killed = false;

	/* Exiting, or the freeze was abandoned before we got here. */
	if ((current->flags & PF_EXITING) || READ_ONCE(frz->thaw)) {
		spin_lock(&frz->lock);
		th->gone = true;
		frz->nr_gone++;
		spin_unlock(&frz->lock);
		wake_up_all(&frz->wq);
		goto out;
	}

	cld_snap_thread(th);

	spin_lock(&frz->lock);
	th->parked = true;
	frz->nr_parked++;
	spin_unlock(&frz->lock);
	wake_up_all(&frz->wq);

	/*
	 * TASK_KILLABLE: only SIGKILL ends the wait early.  Other signals stay
	 * pending and are delivered after the thaw, as for a stopped task.  A
	 * killable sleep is not reported by the hung task detector, and
	 * TASK_FREEZABLE lets system suspend freeze a parked thread as it is.
	 */
	if (wait_event_state(frz->thaw_wq, READ_ONCE(frz->thaw),
			     (TASK_KILLABLE | TASK_FREEZABLE)))
		killed = true;

	spin_lock(&frz->lock);
	th->parked = false;
	frz->nr_parked--;
	if (killed) {
		th->gone = true;
		frz->nr_gone++;
		/*
		 * The snapshot no longer describes a process that exists; a
		 * freeze still being built fails with ESRCH.
		 */
		if (frz->state != CLD_KSTATE_NONE)
			frz->state = CLD_KSTATE_DEAD;
	}
	spin_unlock(&frz->lock);
	wake_up_all(&frz->wq);
out:
	cld_frz_put(frz);
	/* Last: after this the module may be unloaded. */
	module_put(THIS_MODULE);
}

/* Release every parked thread; the freeze stays until its last ref. */
static void cld_thaw(struct cld_frz *frz)
{
	WRITE_ONCE(frz->thaw, true);
	wake_up_all(&frz->thaw_wq);
}

static int cld_grow_thr(struct cld_frz *frz, unsigned int want)
{
	struct cld_thr **n;
	unsigned int cap = max(want, 2 * frz->cap_thr);

	if (want <= frz->cap_thr)
		return 0;
	if (want > CLD_MAX_THREADS)
		return -E2BIG;
	cap = min(cap, CLD_MAX_THREADS);
	n = krealloc(frz->thr, cap * sizeof(*n), GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	frz->thr = n;
	frz->cap_thr = cap;
	return 0;
}

static bool cld_known(struct cld_frz *frz, struct task_struct *t)
{
	unsigned int i;

	for (i = 0; i < frz->nr_thr; i++)
		if (frz->thr[i]->task == t)
			return true;
	return false;
}

/*
 * Queue the parking work on every thread of the group that has none yet.
 * Returns how many were queued, or a negative errno.  Only the freezer
 * thread (the one that created frz) calls this, so frz->thr is stable for
 * readers that hold frz->lock around the flag updates.
 */
static int cld_enqueue_new(struct cld_frz *frz, struct task_struct *any)
{
	struct task_struct *t, *found[16];
	int n, i, queued = 0, err;

	do {
		n = 0;
		rcu_read_lock();
		for_each_thread(any, t) {
			if (t->flags & (PF_EXITING | PF_KTHREAD | PF_IO_WORKER))
				continue;
			if (cld_known(frz, t))
				continue;
			get_task_struct(t);
			found[n++] = t;
			if (n == ARRAY_SIZE(found))
				break;
		}
		rcu_read_unlock();

		err = cld_grow_thr(frz, frz->nr_thr + n);
		for (i = 0; i < n; i++) {
			struct cld_thr *th = NULL;

			if (!err) {
				th = kzalloc(sizeof(*th), GFP_KERNEL);
				if (!th)
					err = -ENOMEM;
			}
			if (err) {
				put_task_struct(found[i]);
				continue;
			}
			th->frz = frz;
			th->task = found[i];
			init_task_work(&th->work, cld_park);
			kref_get(&frz->ref);
			__module_get(THIS_MODULE);
			spin_lock(&frz->lock);
			frz->thr[frz->nr_thr++] = th;
			spin_unlock(&frz->lock);
			if (task_work_add(th->task, &th->work, TWA_SIGNAL)) {
				/* Already past exit_task_work(): it is gone. */
				spin_lock(&frz->lock);
				th->gone = true;
				frz->nr_gone++;
				spin_unlock(&frz->lock);
				cld_frz_put(frz);
				module_put(THIS_MODULE);
			} else {
				queued++;
			}
		}
		if (err)
			return err;
	} while (n == ARRAY_SIZE(found));
	return queued;
}

/* Park every thread of the group of @task.  Called by the first freezer. */
static int cld_do_freeze(struct cld_frz *frz, struct task_struct *task,
			 unsigned int timeout_ms)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(timeout_ms);
	u64 start = ktime_get_ns();
	long left;
	int n;

	/*
	 * Wait for every known thread to park, then look for threads we do
	 * not know yet.  Only a thread that has not parked can clone, and it
	 * links the child into the thread list before its clone() returns,
	 * so once all known threads are parked an enumeration that finds no
	 * newcomer is complete.
	 */
	n = cld_enqueue_new(frz, task);
	if (n < 0)
		return n;
	for (;;) {
		if (!cld_all_arrived(frz)) {
			left = (long)(deadline - jiffies);
			if (left <= 0)
				return -ETIMEDOUT;
			left = wait_event_interruptible_timeout(frz->wq,
								cld_all_arrived(frz),
								left);
			if (left < 0)
				return -EINTR;
			if (left == 0 && !cld_all_arrived(frz))
				return -ETIMEDOUT;
		}
		n = cld_enqueue_new(frz, task);
		if (n < 0)
			return n;
		if (n == 0)
			break;
	}

	spin_lock(&frz->lock);
	n = frz->nr_parked;
	spin_unlock(&frz->lock);
	if (!n)
		return -ESRCH;
	/*
	 * A thread that died while others were still being parked leaves a
	 * group that is exiting or exec'ing: not a state worth an image.
	 */
	if (frz->nr_gone && READ_ONCE(task->signal->flags) & SIGNAL_GROUP_EXIT)
		return -ESRCH;
	frz->freeze_ns = ktime_get_ns() - start;
	return 0;
}

/*
 * The rule ptrace attach applies (__ptrace_may_access() with
 * PTRACE_MODE_ATTACH_REALCREDS): same real uid/gid as all of the target's
 * ids, or CAP_SYS_PTRACE over its user namespace; and a non-dumpable
 * target also needs CAP_SYS_PTRACE over its mm's namespace.
 * ptrace_may_access() itself is not exported, so the LSM hook (Yama) is
 * not consulted; docs/kmod.md says so.
 */
static bool cld_may_attach(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	struct mm_struct *mm;
	bool ok;

	rcu_read_lock();
	tcred = __task_cred(task);
	ok = (uid_eq(cred->uid, tcred->euid) &&
	      uid_eq(cred->uid, tcred->suid) &&
	      uid_eq(cred->uid, tcred->uid) &&
	      gid_eq(cred->gid, tcred->egid) &&
	      gid_eq(cred->gid, tcred->sgid) &&
	      gid_eq(cred->gid, tcred->gid)) ||
	     ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	if (!ok)
		return false;

	task_lock(task);
	mm = task->mm;
	if (mm && get_dumpable(mm) != SUID_DUMP_USER &&
	    !ns_capable(mm->user_ns, CAP_SYS_PTRACE))
		ok = false;
	task_unlock(task);
	return ok;
}

void cld_unlist_locked(struct cld_frz *frz)
{
	lockdep_assert_held(&cld_lock);
	if (!frz->listed)
		return;
	list_del(&frz->node);
	frz->listed = false;
	cld_thaw(frz);
	cld_frz_put(frz);
}

static struct cld_frz *cld_find_locked(struct pid *tgid)
{
	struct cld_frz *frz, *tmp;

	lockdep_assert_held(&cld_lock);
	list_for_each_entry_safe(frz, tmp, &cld_frozen, node) {
		/*
		 * A persistent freeze whose process died has nobody to thaw
		 * and no fd to read it: forget it on the way.
		 */
		if (READ_ONCE(frz->state) == CLD_KSTATE_DEAD && !frz->nr_files) {
			cld_unlist_locked(frz);
			continue;
		}
		if (frz->tgid == tgid)
			return frz;
	}
	return NULL;
}

/* ---- /dev/clondike ----------------------------------------------------- */

static struct cld_frz *cld_frz_new(struct pid *tgid)
{
	struct cld_frz *frz = kzalloc(sizeof(*frz), GFP_KERNEL);

	if (!frz)
		return NULL;
	kref_init(&frz->ref); /* the registry's */
	frz->tgid = get_pid(tgid);
	frz->ns = get_pid_ns(task_active_pid_ns(current));
	frz->user_ns = get_user_ns(current_user_ns());
	spin_lock_init(&frz->lock);
	init_waitqueue_head(&frz->wq);
	init_waitqueue_head(&frz->thaw_wq);
	mutex_init(&frz->img_lock);
	frz->state = CLD_KSTATE_FREEZING;
	return frz;
}

static long cld_ioc_freeze(struct cld_kabi_freeze __user *uarg)
{
	struct cld_kabi_freeze fr;
	struct task_struct *task;
	struct cld_frz *frz;
	struct pid *tgid;
	bool first = false;
	u32 usize;
	long err;

	if (get_user(usize, &uarg->size))
		return -EFAULT;
	if (usize < offsetofend(struct cld_kabi_freeze, freeze_ns))
		return -EINVAL;
	err = copy_struct_from_user(&fr, sizeof(fr), uarg, usize);
	if (err)
		return err;
	if (fr.flags & ~CLD_KFREEZE_KNOWN_FLAGS)
		return -EINVAL;
	if (fr.pid <= 0)
		return -EINVAL;
	if (!fr.timeout_ms)
		fr.timeout_ms = CLD_DEFAULT_TIMEOUT_MS;

	rcu_read_lock();
	task = pid_task(find_vpid(fr.pid), PIDTYPE_PID);
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		return -ESRCH;

	err = -EPERM;
	if (task->flags & (PF_KTHREAD | PF_IO_WORKER))
		goto out_task;
	/* Parking our own group would wait for ourselves forever. */
	err = -EDEADLK;
	if (same_thread_group(task, current))
		goto out_task;
	err = -EPERM;
	if (!cld_may_attach(task))
		goto out_task;
	err = -ESRCH;
	if (task->flags & PF_EXITING)
		goto out_task;
	tgid = get_task_pid(task, PIDTYPE_TGID);
	if (!tgid)
		goto out_task;

	mutex_lock(&cld_lock);
	frz = cld_find_locked(tgid);
	if (!frz) {
		err = -ENOMEM;
		frz = cld_frz_new(tgid);
		if (!frz) {
			mutex_unlock(&cld_lock);
			goto out_pid;
		}
		frz->noimage = fr.flags & CLD_KFREEZE_NOIMAGE;
		list_add(&frz->node, &cld_frozen);
		frz->listed = true;
		first = true;
	}
	/* The reference of the fd we are about to return. */
	kref_get(&frz->ref);
	frz->nr_files++;
	if (fr.flags & CLD_KFREEZE_PERSIST)
		frz->persist = true;
	mutex_unlock(&cld_lock);

	if (first) {
		err = cld_do_freeze(frz, task, fr.timeout_ms);
		/*
		 * Parked threads cannot exec any more: check again, so that a
		 * setuid exec racing with the first check is not imaged.
		 */
		if (!err && !cld_may_attach(task))
			err = -EPERM;
		if (!err && !frz->noimage)
			err = cld_img_build(frz);
		spin_lock(&frz->lock);
		/* A thread killed meanwhile leaves nothing worth an image. */
		if (!err && frz->state == CLD_KSTATE_DEAD)
			err = -ESRCH;
		if (err) {
			frz->err = err;
			frz->state = CLD_KSTATE_NONE;
		} else if (frz->state == CLD_KSTATE_FREEZING) {
			frz->state = CLD_KSTATE_FROZEN;
		}
		spin_unlock(&frz->lock);
		wake_up_all(&frz->wq);
		if (err) {
			/* Nobody may share a failed freeze: take it away. */
			mutex_lock(&cld_lock);
			frz->persist = false;
			cld_unlist_locked(frz);
			mutex_unlock(&cld_lock);
		}
	} else {
		/* Share the freeze in progress or done. */
		err = wait_event_interruptible(frz->wq,
				READ_ONCE(frz->state) != CLD_KSTATE_FREEZING);
		if (err)
			err = -EINTR;
		else if (READ_ONCE(frz->state) == CLD_KSTATE_NONE)
			err = frz->err ? frz->err : -ESRCH;
		else if (READ_ONCE(frz->state) == CLD_KSTATE_DEAD)
			err = -ESRCH;
		else if (!(fr.flags & CLD_KFREEZE_NOIMAGE) && frz->noimage)
			err = -EBUSY; /* frozen without an image by another */
	}
	if (err) {
		cld_file_put(frz);
		goto out_pid;
	}

	fr.nr_threads = frz->nr_parked;
	fr.image_size = frz->img ? cld_img_size(frz->img) : 0;
	fr.freeze_ns = frz->freeze_ns;
	fr.fd = cld_install_fd(frz);
	if (fr.fd < 0) {
		err = fr.fd;
		goto out_pid;
	}
	/*
	 * The fd is installed: from here the caller owns it even if the
	 * copy-out fails (it can find it in /proc/self/fd), as with other
	 * fd-returning ioctls.
	 */
	err = 0;
	if (copy_to_user(uarg, &fr, min_t(u32, usize, sizeof(fr))))
		err = -EFAULT;
out_pid:
	put_pid(tgid);
out_task:
	put_task_struct(task);
	return err;
}

static long cld_ioc_state(struct cld_kabi_state __user *uarg)
{
	struct cld_kabi_state st;
	struct cld_frz *frz;
	struct pid *pid;
	u32 usize;
	s32 nr;

	if (get_user(usize, &uarg->size) || get_user(nr, &uarg->pid))
		return -EFAULT;
	if (usize < offsetofend(struct cld_kabi_state, nr_files))
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	st.pid = nr;
	pid = find_get_pid(nr);
	if (!pid)
		return -ESRCH;
	mutex_lock(&cld_lock);
	frz = cld_find_locked(pid);
	if (!frz) {
		/* A thread id: report its group. */
		struct task_struct *t;
		struct pid *tg = NULL;

		rcu_read_lock();
		t = pid_task(pid, PIDTYPE_PID);
		if (t)
			tg = task_tgid(t);
		rcu_read_unlock();
		if (tg)
			frz = cld_find_locked(tg);
	}
	if (frz)
		cld_fill_state(frz, &st);
	mutex_unlock(&cld_lock);
	put_pid(pid);
	return cld_copy_state_out(uarg, &st, usize);
}

static long cld_ioc_thaw(s32 __user *uarg)
{
	struct cld_frz *frz;
	struct pid *pid;
	long err = 0;
	s32 nr;

	if (get_user(nr, uarg))
		return -EFAULT;
	pid = find_get_pid(nr);
	if (!pid)
		return -ESRCH;
	mutex_lock(&cld_lock);
	frz = cld_find_locked(pid);
	if (!frz) {
		err = -ENOENT;
	} else {
		struct task_struct *t = get_pid_task(pid, PIDTYPE_PID);

		/* Same permission as freezing. */
		if (t && !cld_may_attach(t))
			err = -EPERM;
		if (t)
			put_task_struct(t);
		if (!err) {
			frz->persist = false;
			if (!frz->nr_files)
				cld_unlist_locked(frz);
		}
	}
	mutex_unlock(&cld_lock);
	put_pid(pid);
	return err;
}

static long cld_dev_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case CLD_IOC_VERSION: {
		struct cld_kabi_version v = {
			.kabi = CLD_KABI_VERSION,
			.features = CLD_KFEAT_PERSIST | CLD_KFEAT_IMAGE |
				    CLD_KFEAT_SEEK_DATA,
			.format_major = CLD_FORMAT_MAJOR,
			.format_minor = CLD_FORMAT_MINOR,
			.module = "clondike.ko " CLD_MODULE_VERSION,
		};

		return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
	}
	case CLD_IOC_FREEZE:
		return cld_ioc_freeze(uarg);
	case CLD_IOC_STATE:
		return cld_ioc_state(uarg);
	case CLD_IOC_THAW:
		return cld_ioc_thaw(uarg);
	}
	return -ENOTTY;
}

static const struct file_operations cld_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cld_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * World-accessible: every operation checks the ptrace-attach rule against
 * its target, so the device grants nothing ptrace would not.
 */
static struct miscdevice cld_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "clondike",
	.fops = &cld_dev_fops,
	.mode = 0666,
};

static int __init cld_init(void)
{
	int err;

	err = cld_file_init();
	if (err)
		return err;
	err = misc_register(&cld_misc);
	if (err) {
		cld_file_exit();
		return err;
	}
	pr_info("loaded, kabi %d, image format %d.%d\n", CLD_KABI_VERSION,
		CLD_FORMAT_MAJOR, CLD_FORMAT_MINOR);
	return 0;
}

static void __exit cld_exit(void)
{
	struct cld_frz *frz, *tmp;

	misc_deregister(&cld_misc);
	/*
	 * Every parked thread and every open fd holds a module reference, so
	 * what is still listed is a persistent freeze whose process died.
	 */
	mutex_lock(&cld_lock);
	list_for_each_entry_safe(frz, tmp, &cld_frozen, node)
		cld_unlist_locked(frz);
	mutex_unlock(&cld_lock);
	cld_file_exit();
	pr_info("unloaded\n");
}

module_init(cld_init);
module_exit(cld_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("clondike project");
MODULE_DESCRIPTION("Freeze tasks and serve their clondike images");
MODULE_VERSION(CLD_MODULE_VERSION);
