// SPDX-License-Identifier: GPL-2.0
/*
 * The open fds of a frozen group as /proc/PID/fd and fdinfo show them to
 * the ptrace backend, and the unread data of the pipes it holds both ends
 * of (what tee(2) gives that backend).  The state of the anonymous-inode
 * fds a restart re-creates (epoll, eventfd, timerfd, signalfd, pidfd) is
 * parsed from the text fdinfo would show by the codec's parser, the one
 * the ptrace backend uses (common/codec/codec_fdinfo.c).
 */
#include <linux/version.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#include <linux/filelock.h>
#endif
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/magic.h>
#include <linux/major.h>
#include <linux/pid.h>
#include <linux/pipe_fs_i.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>

#include "cld_desc.h"
#include "cld_fds.h"

/* ---- file descriptors -------------------------------------------------- */

struct cld_fdcol {
	struct files_struct *files;
	struct file **file;
	int *fd;
	bool *cloexec;
	u32 n, cap;
	bool overflow;
};

/* iterate_fd() callback, under files->file_lock: only take references. */
static int cld_fd_collect(const void *arg, struct file *file, unsigned int fd)
{
	struct cld_fdcol *c = (struct cld_fdcol *)arg;

	if (c->n == c->cap) {
		c->overflow = true;
		return 1;
	}
	get_file(file);
	c->file[c->n] = file;
	c->fd[c->n] = fd;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	c->cloexec[c->n] = close_on_exec(fd, c->files);
#else
	c->cloexec[c->n] = close_on_exec(fd, files_fdtable(c->files));
#endif
	c->n++;
	return 0;
}

/* Consoles and serial lines (4), pty slaves (136-143), /dev/tty and
 * /dev/console (5:0, 5:1); not /dev/ptmx (5:2). */
static bool cld_is_tty(dev_t rdev)
{
	unsigned int maj = MAJOR(rdev);

	return maj == TTY_MAJOR || (maj == TTYAUX_MAJOR && MINOR(rdev) <= 1) ||
	       (maj >= UNIX98_PTY_SLAVE_MAJOR &&
		maj < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT);
}

/*
 * Bound of the text of one file's show_fdinfo (an epoll fd's line per
 * registration is some 90 bytes: about 700 of them).  /proc grows its
 * buffer without a bound, so an epoll fd watching more is recorded by the
 * ptrace backend and not restorable (UNSUPPORTED) here.
 */
#define CLD_FDINFO_MAX (16 * PAGE_SIZE)

/*
 * The file's show_fdinfo text, NUL terminated, in *out (kvfree it):
 * /proc/PID/fdinfo/N without the generic lines (pos, flags, mnt_id, ino)
 * and locks seq_show() of fs/proc/fd.c prints first, which the codec's
 * parser does not look at.  Only for files whose show_fdinfo uses neither
 * m->file nor m->private (eventpoll, eventfd, timerfd, signalfd: a
 * pidfd's reads the /proc superblock of m->file).  -EOVERFLOW if it does
 * not fit in CLD_FDINFO_MAX.
 */
static int cld_show_fdinfo(struct file *file, char **out)
{
	struct seq_file m = {};
	size_t size;

	for (size = PAGE_SIZE; size <= CLD_FDINFO_MAX; size *= 2) {
		m.buf = kvmalloc(size, GFP_KERNEL);
		if (!m.buf)
			return -ENOMEM;
		m.size = size;
		m.count = 0;
		if (file->f_op->show_fdinfo)
			file->f_op->show_fdinfo(&m, file);
		if (!seq_has_overflowed(&m)) {
			m.buf[m.count] = '\0';
			*out = m.buf;
			return 0;
		}
		kvfree(m.buf);
	}
	return -EOVERFLOW;
}

/* The struct pid a pidfd refers to (pidfd_pid() is not exported). */
static struct pid *cld_pidfd_pid(struct file *file)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	/* pidfs: the inode's (pidfs_init_inode(), pidfd_pid()). */
	if (file_inode(file)->i_sb->s_magic == PID_FS_MAGIC)
		return file_inode(file)->i_private;
#endif
	/* anon_inode_getfile("[pidfd]", &pidfd_fops, pid, ...) */
	return file->private_data;
}

/*
 * A pidfd: what its fdinfo's "Pid:" says (the pid in the freezer's
 * namespace, 0 outside it, -1 once the process is gone), through the
 * codec's parser, and state[1] its start time in clock ticks, as
 * /proc/PID/stat field 22 shows it to the ptrace backend.
 */
static void cld_pidfd_state(struct cld_fd_rec *r, struct file *file,
			    struct pid_namespace *ns)
{
	struct task_struct *task;
	struct pid *pid;
	char info[32];
	pid_t nr = -1;
	u64 start = 0;

	/* An O_PATH open of it (empty_fops): fdinfo shows no "Pid:". */
	if (!file->f_op->show_fdinfo) {
		cld_fdinfo_state(r, "", 0);
		return;
	}
	pid = cld_pidfd_pid(file);
	if (!pid) {
		r->kind = CLD_FD_UNSUPPORTED;
		return;
	}
	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_PID);
	if (task) {
		nr = pid_nr_ns(pid, ns);
		start = cld_ns_to_ticks(task->start_boottime);
	}
	rcu_read_unlock();
	snprintf(info, sizeof(info), "Pid:\t%d\n", nr);
	cld_fdinfo_state(r, info, 0);
	if (r->kind == CLD_FD_PIDFD)
		r->state[1] = start;
}

/* state[] of an eventfd, timerfd, signalfd or pidfd. */
static int cld_fd_state(struct cld_fd_rec *r, struct file *file,
			struct pid_namespace *ns)
{
	char *info;
	int err;

	switch (r->kind) {
	case CLD_FD_EVENTFD:
	case CLD_FD_TIMERFD:
	case CLD_FD_SIGNALFD:
		break;
	case CLD_FD_PIDFD:
		cld_pidfd_state(r, file, ns);
		return 0;
	default:
		return 0;
	}
	err = cld_show_fdinfo(file, &info);
	if (err == -EOVERFLOW) {
		r->kind = CLD_FD_UNSUPPORTED;
		return 0;
	}
	if (err)
		return err;
	/* The timerfd's clock: volatile (image-format.md 10), as it_value. */
	cld_fdinfo_state(r, info, ktime_get_real_ns());
	kvfree(info);
	return 0;
}

static int cld_fill_fd(struct cld_fd *k, struct file *file, int fd,
		       bool cloexec, struct pid_namespace *ns)
{
	struct kstat st;
	char *s;
	int err;

	k->rec.fd = fd;
	k->rec.fd_flags = cloexec ? FD_CLOEXEC : 0;
	/* fdinfo's flags without the O_CLOEXEC that fd_flags carries. */
	k->rec.fl_flags = file->f_flags & ~O_CLOEXEC;
	k->rec.pos = file->f_pos;
	err = cld_stat(&file->f_path, &st);
	if (err)
		return err;
	k->rec.dev = cld_dev(st.dev);
	/* What stat(2) says, as the ptrace backend (and the codec's check of
	 * an epoll fd's watched files against fdinfo's ino) sees it. */
	k->rec.ino = st.ino;
	k->rec.rdev = cld_dev(st.rdev);
	/* Size and mtime identify regular files only. */
	if (S_ISREG(st.mode)) {
		k->rec.size = st.size;
		k->rec.mtime_ns = cld_ts_ns(st.mtime);
	}
	k->rec.mode = st.mode;
	/* The readlink(/proc/PID/fd/N) text: a path, "pipe:[ino]", ... */
	s = cld_path(&file->f_path, false, NULL);
	if (IS_ERR(s))
		return PTR_ERR(s);
	k->name = s;
	if (S_ISREG(st.mode))
		k->rec.kind = CLD_FD_REG;
	else if (S_ISDIR(st.mode))
		k->rec.kind = CLD_FD_DIR;
	else if (S_ISFIFO(st.mode))
		k->rec.kind = file_inode(file)->i_sb->s_magic == PIPEFS_MAGIC ?
			      CLD_FD_PIPE : CLD_FD_FIFO;
	else if (S_ISCHR(st.mode))
		k->rec.kind = cld_is_tty(st.rdev) ? CLD_FD_TTY : CLD_FD_CHR;
	else if (S_ISSOCK(st.mode))
		k->rec.kind = CLD_FD_UNSUPPORTED;
	else /* anonymous inodes have no file type: by their name */
		k->rec.kind = cld_anon_kind(s);
	/* The module does not record inotify watches. */
	if (k->rec.kind == CLD_FD_INOTIFY)
		k->rec.kind = CLD_FD_UNSUPPORTED;
	err = cld_fd_state(&k->rec, file, ns);
	if (err) {
		kfree(k->name);
		k->name = NULL;
	}
	return err;
}

/*
 * The interest lists of the epoll fds, once the table is complete (the
 * codec checks each watched fd against it), in fd order.
 */
static int cld_fill_epolls(struct cld_proc *p, struct file **files)
{
	char *info;
	u32 i;
	int err;

	for (i = 0; i < p->nr_fds; i++) {
		if (p->fds[i].rec.kind != CLD_FD_EPOLL)
			continue;
		err = cld_show_fdinfo(files[i], &info);
		if (err == -EOVERFLOW) {
			p->fds[i].rec.kind = CLD_FD_UNSUPPORTED;
			continue;
		}
		if (err)
			return err;
		err = cld_fdinfo_epoll(p, i, info);
		kvfree(info);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Copy the unread bytes of a pipe without consuming them (what tee(2)
 * gives the ptrace backend): the pipe's buffers, oldest first.
 */
static int cld_peek_pipe(struct file *file, struct cld_pipedata *kp)
{
	struct pipe_inode_info *pipe = file_inode(file)->i_pipe;
	unsigned int t, mask;
	size_t total = 0, done = 0;
	int err = 0;

	if (!pipe)
		return 0;
	pipe_lock(pipe);
	mask = pipe->ring_size - 1;
	for (t = pipe->tail; t != pipe->head; t++)
		total += pipe->bufs[t & mask].len;
	total = min_t(size_t, total, CLD_MAX_PIPE_DATA);
	if (!total)
		goto out;
	kp->data = kvmalloc(total, GFP_KERNEL);
	if (!kp->data) {
		err = -ENOMEM;
		goto out;
	}
	for (t = pipe->tail; t != pipe->head && done < total; t++) {
		struct pipe_buffer *buf = &pipe->bufs[t & mask];
		size_t n = min_t(size_t, buf->len, total - done);
		void *v = kmap_local_page(buf->page);

		memcpy(kp->data + done, v + buf->offset, n);
		kunmap_local(v);
		done += n;
	}
	kp->len = done;
out:
	pipe_unlock(pipe);
	return err;
}

/* The data of pipes and FIFOs must come along: one record each. */
static int cld_fill_pipes(struct cld_proc *p, struct file **files)
{
	u32 i;
	int err;

	for (i = 0; i < p->nr_fds; i++) {
		int kind = cld_pipedata_kind(p, i);
		struct cld_pipedata kp = {};
		struct cld_pipedata *np;

		if (kind < 0)
			continue;
		err = cld_peek_pipe(files[i], &kp);
		if (err)
			return err;
		if (!kp.len)
			continue;
		np = krealloc(p->pipes, (p->nr_pipes + 1) * sizeof(*np),
			      GFP_KERNEL);
		if (!np) {
			kvfree(kp.data);
			return -ENOMEM;
		}
		kp.ino = p->fds[i].rec.ino;
		kp.kind = kind;
		p->pipes = np;
		p->pipes[p->nr_pipes++] = kp;
	}
	return 0;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
/* 6.9 moved the common fields of locks and leases into file_lock_core. */
static bool cld_list_locks(struct list_head *h, struct file *file,
			   struct files_struct *files)
{
	struct file_lock_core *c;

	list_for_each_entry(c, h, flc_list)
		if (c->flc_file == file &&
		    (c->flc_owner == files || c->flc_owner == file))
			return true;
	return false;
}
#else
static bool cld_list_locks(struct list_head *h, struct file *file,
			   struct files_struct *files)
{
	struct file_lock *fl;

	list_for_each_entry(fl, h, fl_list)
		if (fl->fl_file == file &&
		    (fl->fl_owner == files || fl->fl_owner == file))
			return true;
	return false;
}
#endif

/* The locks and leases fdinfo lists for this open file of this table. */
static bool cld_file_locked(struct file *file, struct files_struct *files)
{
	struct file_lock_context *ctx;
	bool r;

	ctx = smp_load_acquire(&file_inode(file)->i_flctx);
	if (!ctx)
		return false;
	spin_lock(&ctx->flc_lock);
	r = cld_list_locks(&ctx->flc_flock, file, files) ||
	    cld_list_locks(&ctx->flc_posix, file, files) ||
	    cld_list_locks(&ctx->flc_lease, file, files);
	spin_unlock(&ctx->flc_lock);
	return r;
}

/*
 * What /proc does not show the ptrace backend, which finds it out with
 * kcmp(2) and F_GETPIPE_SZ: which fds share an open file description,
 * and the capacity of pipes and FIFOs.  Also whether locks are held.
 */
static void cld_fds_sharing(struct cld_proc *p, struct cld_fdcol *c)
{
	u32 i, j;

	for (i = 0; i < p->nr_fds; i++) {
		struct cld_fd_rec *r = &p->fds[i].rec;
		struct pipe_inode_info *pipe;

		r->file_id = i + 1;
		for (j = 0; j < i; j++)
			if (c->file[j] == c->file[i]) {
				r->file_id = p->fds[j].rec.file_id;
				break;
			}
		if (r->kind == CLD_FD_PIPE || r->kind == CLD_FD_FIFO) {
			pipe = file_inode(c->file[i])->i_pipe;
			if (pipe)
				r->size = (u64)pipe->max_usage << PAGE_SHIFT;
		}
		if (cld_file_locked(c->file[i], c->files))
			p->proc.flags |= CLD_PROC_LOCKS;
	}
}

int cld_fill_fds(struct cld_proc *p, struct task_struct *t,
		 struct pid_namespace *ns)
{
	struct cld_fdcol c = {};
	unsigned int max = 256;
	int err = 0;
	u32 i;

	for (;;) {
		c.cap = max;
		c.file = kvmalloc_array(max, sizeof(*c.file), GFP_KERNEL);
		c.fd = kvmalloc_array(max, sizeof(*c.fd), GFP_KERNEL);
		c.cloexec = kvmalloc_array(max, sizeof(*c.cloexec), GFP_KERNEL);
		if (!c.file || !c.fd || !c.cloexec) {
			err = -ENOMEM;
			goto out;
		}
		task_lock(t);
		c.files = t->files;
		if (c.files)
			iterate_fd(c.files, 0, cld_fd_collect, &c);
		task_unlock(t);
		if (!c.overflow)
			break;
		for (i = 0; i < c.n; i++)
			fput(c.file[i]);
		kvfree(c.file);
		kvfree(c.fd);
		kvfree(c.cloexec);
		memset(&c, 0, sizeof(c));
		if (max >= CLD_MAX_FDS)
			return -E2BIG;
		max *= 4;
	}
	if (c.n) {
		p->fds = kvcalloc(c.n, sizeof(*p->fds), GFP_KERNEL);
		if (!p->fds) {
			err = -ENOMEM;
			goto out;
		}
	}
	/* iterate_fd() walks in ascending fd order: already sorted. */
	for (i = 0; i < c.n && !err; i++) {
		err = cld_fill_fd(&p->fds[i], c.file[i], c.fd[i], c.cloexec[i],
				  ns);
		if (!err)
			p->nr_fds++;
	}
	if (!err) {
		cld_fds_sharing(p, &c);
		err = cld_fill_pipes(p, c.file);
	}
	if (!err)
		err = cld_fill_epolls(p, c.file);
out:
	for (i = 0; i < c.n; i++)
		fput(c.file[i]);
	kvfree(c.file);
	kvfree(c.fd);
	kvfree(c.cloexec);
	return err;
}

