/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The ioctl ABI of /dev/clondike (kmod/clondike.ko), shared verbatim by the
 * kernel module and userspace.  Only <linux/types.h> and <linux/ioctl.h>,
 * fixed-size fields, explicit padding: the same bytes on both sides.
 *
 * Versioning: CLD_IOC_VERSION reports CLD_KABI_VERSION and a feature mask.
 * A new field is only ever appended to a struct whose first member is
 * "size"; the module accepts any size >= the first version's and zero
 * fills what the caller did not pass, so old binaries keep working.  An
 * incompatible change bumps CLD_KABI_VERSION and the ioctl numbers.
 *
 * docs/kmod.md describes the semantics in prose.
 */
#ifndef CLONDIKE_KABI_H
#define CLONDIKE_KABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CLD_KABI_VERSION 1
#define CLD_KABI_DEVICE "/dev/clondike"
#define CLD_KABI_IOC_MAGIC 0xCD

/* cld_kabi_version.features */
#define CLD_KFEAT_PERSIST 0x1u /* CLD_KFREEZE_PERSIST, CLD_IOC_THAW */
#define CLD_KFEAT_IMAGE 0x2u /* pread on the frozen fd yields the image */
#define CLD_KFEAT_SEEK_DATA 0x4u /* lseek SEEK_DATA/SEEK_HOLE on the fd */

struct cld_kabi_version {
	__u32 kabi; /* CLD_KABI_VERSION */
	__u32 features; /* CLD_KFEAT_* */
	__u16 format_major; /* image format the module writes */
	__u16 format_minor;
	__u32 pad;
	char module[32]; /* "clondike.ko 0.1.0" */
};

/* cld_kabi_freeze.flags */
#define CLD_KFREEZE_PERSIST 0x1u /* stay frozen when the last fd closes */
#define CLD_KFREEZE_NOIMAGE 0x2u /* freeze only: the fd reads nothing */
#define CLD_KFREEZE_KNOWN_FLAGS 0x3u

/*
 * Freeze the thread group of pid (any thread's id, in the caller's pid
 * namespace) and return an fd that reads its image.  Needs the permission
 * ptrace attach would need.  If the group is already frozen by the module,
 * the new fd shares that freeze (and its image).
 */
struct cld_kabi_freeze {
	__u32 size; /* in: sizeof(struct cld_kabi_freeze) */
	__u32 flags; /* in: CLD_FREEZE_* */
	__s32 pid; /* in */
	__u32 timeout_ms; /* in: give up parking after this; 0: 10 s */
	__s32 fd; /* out: O_RDONLY|O_CLOEXEC image fd */
	__u32 nr_threads; /* out */
	__u64 image_size; /* out: logical size of the image */
	__u64 freeze_ns; /* out: time it took to park all threads */
};

/* cld_kabi_state.state */
enum cld_kabi_state_val {
	CLD_KSTATE_NONE = 0, /* not frozen by the module */
	CLD_KSTATE_FREEZING = 1, /* threads are being parked */
	CLD_KSTATE_FROZEN = 2, /* every thread parked, image available */
	CLD_KSTATE_DEAD = 3, /* a frozen thread died: reads fail ESRCH */
};

/* cld_kabi_state.flags */
#define CLD_KSTATE_PERSIST 0x1u

/*
 * Query the module's view of a thread group: on /dev/clondike with pid
 * set, or on an image fd (pid ignored).
 */
struct cld_kabi_state {
	__u32 size; /* in: sizeof(struct cld_kabi_state) */
	__s32 pid; /* in (device) / out (fd): the thread group id */
	__u32 state; /* out: enum cld_kabi_state_val */
	__u32 flags; /* out: CLD_KSTATE_* */
	__u32 nr_threads; /* out: threads parked */
	__u32 nr_files; /* out: open image fds */
	__u64 image_size; /* out: 0 unless FROZEN */
	__u64 nr_dumped; /* out: pages with data in the image */
};

#define CLD_IOC_VERSION _IOR(CLD_KABI_IOC_MAGIC, 0x00, struct cld_kabi_version)
#define CLD_IOC_FREEZE _IOWR(CLD_KABI_IOC_MAGIC, 0x01, struct cld_kabi_freeze)
#define CLD_IOC_STATE _IOWR(CLD_KABI_IOC_MAGIC, 0x02, struct cld_kabi_state)
/* Drop persistence of pid's freeze; it thaws now if no fd is open. */
#define CLD_IOC_THAW _IOW(CLD_KABI_IOC_MAGIC, 0x03, __s32)

/* On an image fd: make the freeze persistent (1) or not (0). */
#define CLD_IOC_PERSIST _IOW(CLD_KABI_IOC_MAGIC, 0x10, __u32)

#ifndef __KERNEL__
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Userspace helper: freeze the thread group of pid through the module.
 * Returns the image fd (O_CLOEXEC; fstat gives the image size, pread its
 * bytes, closing it thaws unless persistent) or a negative errno:
 * -ENOENT when the module is not loaded (no /dev/clondike), -EPERM
 * without ptrace-attach permission, -ETIMEDOUT when a thread did not park
 * in time (stopped or in an uninterruptible sleep).  *out, when not NULL,
 * gets the module's reply (thread count, image size, parking time).
 */
static inline int cld_kabi_freeze_pid(int pid, __u32 flags, __u32 timeout_ms,
				      struct cld_kabi_freeze *out)
{
	struct cld_kabi_freeze fr = {
		.size = sizeof(fr),
		.flags = flags,
		.pid = pid,
		.timeout_ms = timeout_ms,
	};
	int dev = open(CLD_KABI_DEVICE, O_RDWR | O_CLOEXEC);
	int e;

	if (dev < 0)
		return -errno;
	if (ioctl(dev, CLD_IOC_FREEZE, &fr) < 0) {
		e = -errno;
		close(dev);
		return e;
	}
	close(dev);
	if (out)
		*out = fr;
	return fr.fd;
}
#endif /* !__KERNEL__ */

#endif /* CLONDIKE_KABI_H */
