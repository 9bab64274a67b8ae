/* SPDX-License-Identifier: MIT */
/*
 * Fallback definitions of kernel constants newer than the build machine's
 * headers (Debian 12: glibc 2.36, Linux 6.1 uapi).  Each is defined only
 * when the headers lack it, with the kernel's value, so a newer system's
 * own definition wins.  The program asks the running kernel; an old one
 * answers EINVAL, ENOSYS or ENOTTY and the callers fall back.
 *
 * The system headers that define these come first: glibc declares the
 * PTRACE_* requests as enumerators, which a macro of the same name defined
 * before them would break.  kmod/ builds against the kernel's headers and
 * does not use this file.
 */
#ifndef CLONDIKE_COMPAT_H
#define CLONDIKE_COMPAT_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/* ---- ptrace requests and events (include/uapi/linux/ptrace.h) ----------- */

#ifndef PTRACE_INTERRUPT
#define PTRACE_INTERRUPT 0x4207
#endif
#ifndef PTRACE_LISTEN
#define PTRACE_LISTEN 0x4208
#endif
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif
#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#endif
#ifndef PTRACE_SETSIGMASK
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f /* 5.13 */
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

/* ---- prctl (include/uapi/linux/prctl.h) ------------------------------------ */

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif
#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif

/* ---- system call numbers, x86-64 ------------------------------------------- */

#ifndef SYS_rseq
#define SYS_rseq 334
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* ---- memory, files, signals, sockets --------------------------------------- */

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* 6.1 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* 5.14 */
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001u
#define MFD_ALLOW_SEALING 0x0002u
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* 6.5 */
#endif

/* ---- PAGEMAP_SCAN (6.7, include/uapi/linux/fs.h) --------------------------- */

/* The uapi's struct page_region and struct pm_scan_arg, under our names
 * (the ioctl number depends only on the size). */
struct cld_page_region {
	uint64_t start, end, categories;
};

struct cld_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, struct cld_pm_scan_arg)
#endif
#ifndef PAGE_IS_FILE
#define PAGE_IS_FILE (1 << 2)
#endif
#ifndef PAGE_IS_PRESENT
#define PAGE_IS_PRESENT (1 << 3)
#endif
#ifndef PAGE_IS_SWAPPED
#define PAGE_IS_SWAPPED (1 << 4)
#endif
#ifndef PAGE_IS_PFNZERO
#define PAGE_IS_PFNZERO (1 << 5)
#endif
/* 6.14: a guard marker (MADV_GUARD_INSTALL); older kernels refuse the bit. */
#define CLD_PAGE_IS_GUARD (1 << 8)
/* 6.13: guard pages (madvise(2)). */
#define CLD_MADV_GUARD_INSTALL 102
/* 6.3: membarrier's registered commands. */
#define CLD_MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)

#endif /* CLONDIKE_COMPAT_H */
