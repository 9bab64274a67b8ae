// SPDX-License-Identifier: GPL-2.0
/*
 * The image fd of a freeze: read, lseek (SEEK_DATA/SEEK_HOLE), its ioctls,
 * its state report, and the private pseudo filesystem its inodes live on.
 * Closing the last fd of a non-persistent freeze thaws it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pid.h>
#include <linux/pseudo_fs.h>
#include <linux/uaccess.h>

#include "cld_file.h"
#include "cld_image.h"
#include "cld_internal.h"

/* Drop one open-file reference; thaw on the last unless persistent. */
void cld_file_put(struct cld_frz *frz)
{
	mutex_lock(&cld_lock);
	if (!--frz->nr_files && !frz->persist)
		cld_unlist_locked(frz);
	mutex_unlock(&cld_lock);
	cld_frz_put(frz);
}

static int cld_img_release(struct inode *inode, struct file *file)
{
	cld_file_put(file->private_data);
	return 0;
}

static int cld_readable(struct cld_frz *frz)
{
	int state = READ_ONCE(frz->state);

	if (state == CLD_KSTATE_DEAD)
		return -ESRCH;
	if (state != CLD_KSTATE_FROZEN)
		return -EIO;
	return 0;
}

static ssize_t cld_img_fread(struct file *file, char __user *buf, size_t len,
			     loff_t *ppos)
{
	struct cld_frz *frz = file->private_data;
	ssize_t ret;

	ret = cld_readable(frz);
	if (ret)
		return ret;
	if (frz->noimage)
		return 0;
	if (*ppos < 0)
		return -EINVAL;
	ret = cld_img_read(frz, buf, len, *ppos);
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static loff_t cld_img_llseek(struct file *file, loff_t off, int whence)
{
	struct cld_frz *frz = file->private_data;
	loff_t size = frz->img ? cld_img_size(frz->img) : 0;

	switch (whence) {
	case SEEK_DATA:
	case SEEK_HOLE:
		if (!frz->img)
			return -ENXIO;
		off = cld_img_seek_data(frz, off, whence);
		if (off < 0)
			return off;
		break;
	case SEEK_END:
		off += size;
		break;
	case SEEK_CUR:
		if (off == 0)
			return file->f_pos;
		off += file->f_pos;
		break;
	case SEEK_SET:
		break;
	default:
		return -EINVAL;
	}
	if (off < 0)
		return -EINVAL;
	file->f_pos = off;
	return off;
}

void cld_fill_state(struct cld_frz *frz, struct cld_kabi_state *st)
{
	st->pid = pid_vnr(frz->tgid);
	st->state = READ_ONCE(frz->state);
	st->flags = frz->persist ? CLD_KSTATE_PERSIST : 0;
	spin_lock(&frz->lock);
	st->nr_threads = frz->nr_parked;
	spin_unlock(&frz->lock);
	st->nr_files = frz->nr_files;
	if (st->state == CLD_KSTATE_FROZEN && frz->img) {
		st->image_size = cld_img_size(frz->img);
		st->nr_dumped = cld_img_nr_dumped(frz->img);
	}
}

long cld_copy_state_out(struct cld_kabi_state __user *u,
			       struct cld_kabi_state *st, u32 usize)
{
	st->size = min_t(u32, usize, sizeof(*st));
	if (copy_to_user(u, st, st->size))
		return -EFAULT;
	return 0;
}

static long cld_img_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct cld_frz *frz = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct cld_kabi_state st;
	u32 v, usize;

	switch (cmd) {
	case CLD_IOC_PERSIST:
		if (get_user(v, (u32 __user *)uarg))
			return -EFAULT;
		if (v > 1)
			return -EINVAL;
		mutex_lock(&cld_lock);
		frz->persist = v;
		mutex_unlock(&cld_lock);
		return 0;
	case CLD_IOC_STATE:
		if (get_user(usize, (u32 __user *)uarg))
			return -EFAULT;
		if (usize < offsetofend(struct cld_kabi_state, nr_files))
			return -EINVAL;
		memset(&st, 0, sizeof(st));
		mutex_lock(&cld_lock);
		cld_fill_state(frz, &st);
		mutex_unlock(&cld_lock);
		return cld_copy_state_out(uarg, &st, usize);
	}
	return -ENOTTY;
}

/* Reads generate the bytes; the last close thaws unless persistent. */
static const struct file_operations cld_img_fops = {
	.owner = THIS_MODULE,
	.read = cld_img_fread,
	.llseek = cld_img_llseek,
	.unlocked_ioctl = cld_img_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl = compat_ptr_ioctl,
#endif
	.release = cld_img_release,
};

/*
 * Image files live on a private pseudo filesystem rather than the shared
 * anon inode: each has its own inode, so fstat() reports the image's size
 * and, in st_blocks, its non-hole bytes (what cp and the freezer library
 * use for sizing and progress).
 */
#define CLD_FS_MAGIC 0x434c444bu /* "CLDK" */

static struct vfsmount *cld_mnt;

static int cld_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, CLD_FS_MAGIC) ? 0 : -ENOMEM;
}

/*
 * No .owner: a kern_mount() would pin the module for good.  Open image
 * files pin it through cld_img_fops instead, and the exit path unmounts.
 */
static struct file_system_type cld_fs_type = {
	.name = "clondikefs",
	.init_fs_context = cld_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

/* Consumes one file reference of frz (nr_files and kref) on failure. */
int cld_install_fd(struct cld_frz *frz)
{
	struct inode *inode;
	struct file *file;
	int fd;

	fd = get_unused_fd_flags(O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto err;
	inode = alloc_anon_inode(cld_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		put_unused_fd(fd);
		fd = PTR_ERR(inode);
		goto err;
	}
	inode->i_mode = S_IFREG | 0400;
	inode->i_uid = current_fsuid();
	inode->i_gid = current_fsgid();
	if (frz->img) {
		inode->i_size = cld_img_size(frz->img);
		inode->i_blocks = DIV_ROUND_UP(cld_img_data_bytes(frz->img), 512);
	}
	/*
	 * alloc_file_pseudo() does not take a reference on fops->owner, but
	 * the final fput() drops one: take it here (anon_inode_getfile()
	 * would have).  The caller holds /dev/clondike open, so it cannot
	 * fail.
	 */
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(inode, cld_mnt, "clondike-image", O_RDONLY,
				 &cld_img_fops);
	if (IS_ERR(file)) {
		module_put(THIS_MODULE);
		iput(inode);
		put_unused_fd(fd);
		fd = PTR_ERR(file);
		goto err;
	}
	file->private_data = frz;
	/* Pseudo files are not seekable by default; the image is. */
	file->f_mode |= FMODE_PREAD;
#ifdef FMODE_LSEEK
	file->f_mode |= FMODE_LSEEK;
#endif
	fd_install(fd, file);
	return fd;
err:
	cld_file_put(frz);
	return fd;
}

int cld_file_init(void)
{
	cld_mnt = kern_mount(&cld_fs_type);
	return PTR_ERR_OR_ZERO(cld_mnt);
}

void cld_file_exit(void)
{
	kern_unmount(cld_mnt);
}
