/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * clondike image format: the binary records of the CLONDIKE ELF notes and
 * the ELF core structures the image uses.  Shared verbatim by the kernel
 * module and userspace, so it uses only <linux/types.h> types and fixed
 * layouts (little-endian, x86_64, explicit padding, no bitfields).
 *
 * docs/image-format.md is the normative description; this header is its
 * machine-readable half and must stay in step with it.
 */
#ifndef CLONDIKE_FORMAT_H
#define CLONDIKE_FORMAT_H

#include <linux/types.h>

#define CLD_FORMAT_MAJOR 1
#define CLD_FORMAT_MINOR 3 /* 1.1: cld_thread_rec.name; 1.2: oom_score_adj, file_id, pipe size;
			    * 1.3: memfd and deleted-file content */

#define CLD_NOTE_NAME "CLONDIKE" /* owner of every clondike note */
#define CLD_HDR_MAGIC 0x4b444c43u /* "CLDK" little-endian */
#define CLD_PAGE_SIZE 4096u
#define CLD_PAGE_SHIFT 12

/*
 * Anonymous VMAs: a run of non-dumped pages shorter than this many pages
 * between two dumped pages stays inside one data segment as a hole; longer
 * runs (and non-dumped stretches at either end) become segments without
 * file data.  See "Segments" in docs/image-format.md.
 */
#define CLD_ANON_GAP_PAGES 512u

/* Limits every reader enforces (an image beyond them is refused). */
#define CLD_MAX_THREADS 4096u
#define CLD_MAX_VMAS 65530u
#define CLD_MAX_SEGS (1u << 20)
#define CLD_MAX_EXTENTS (1u << 22)
#define CLD_MAX_FDS 65536u
#define CLD_MAX_PATH 4096u
#define CLD_MAX_NOTES_SIZE (64u << 20) /* first PT_NOTE segment */
#define CLD_MAX_XSTATE 16384u
#define CLD_MAX_AUXV 4096u
#define CLD_MAX_SIGQ 4096u /* queued siginfos per list */
#define CLD_MAX_TIMERS 4096u /* 1.2: POSIX timer records */
#define CLD_MAX_GROUPS 65536u
#define CLD_MAX_PIPE_DATA (1u << 20) /* per pipe */
/* 1.3: content of memfds and deleted files, all of an image's together */
#define CLD_MAX_FILE_DATA (32u << 20)
#define CLD_MAX_VADDR 0x00007ffffffff000ull /* x86_64 4-level user space */
#define CLD_VSYSCALL_ADDR 0xffffffffff600000ull

/* ---- Standard ELF core notes (owner "CORE", "LINUX") ------------------ */

#define CLD_NT_PRSTATUS 1
#define CLD_NT_FPREGSET 2
#define CLD_NT_PRPSINFO 3
#define CLD_NT_AUXV 6
#define CLD_NT_SIGINFO 0x53494749
#define CLD_NT_FILE 0x46494c45
#define CLD_NT_X86_XSTATE 0x202 /* owner "LINUX" */

/* struct user_regs_struct of x86_64, in its order. */
struct cld_regs {
	__u64 r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	__u64 rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
	__u64 fs_base, gs_base, ds, es, fs, gs;
};

struct cld_timeval {
	__s64 tv_sec;
	__s64 tv_usec;
};

/* struct elf_prstatus of x86_64 (336 bytes). */
struct cld_prstatus {
	__s32 si_signo;
	__s32 si_code;
	__s32 si_errno;
	__s16 pr_cursig;
	__u16 pad0;
	__u64 pr_sigpend;
	__u64 pr_sighold;
	__s32 pr_pid, pr_ppid, pr_pgrp, pr_sid;
	struct cld_timeval pr_utime, pr_stime, pr_cutime, pr_cstime;
	struct cld_regs pr_reg;
	__s32 pr_fpvalid;
	__u32 pad1;
};

/* struct elf_prpsinfo of x86_64 (136 bytes). */
struct cld_prpsinfo {
	__s8 pr_state;
	char pr_sname;
	__s8 pr_zomb;
	__s8 pr_nice;
	__u32 pad0;
	__u64 pr_flag;
	__u32 pr_uid, pr_gid;
	__s32 pr_pid, pr_ppid, pr_pgrp, pr_sid;
	char pr_fname[16];
	char pr_psargs[80];
};

/* ---- CLONDIKE notes --------------------------------------------------- */

/*
 * Note types.  A reader refuses an image holding a CLONDIKE note type it
 * does not know if CLD_NT_CRITICAL is set in it, and skips it otherwise.
 */
#define CLD_NT_CRITICAL 0x8000u
enum cld_note_type {
	CLD_NT_HEADER = 0x101,
	CLD_NT_PROC = 0x102,
	CLD_NT_MM = 0x103,
	CLD_NT_CREDS = 0x104,
	CLD_NT_VMAS = 0x105,
	CLD_NT_PAGES = 0x106,
	CLD_NT_FDS = 0x107,
	CLD_NT_PIPEDATA = 0x108,
	CLD_NT_SIGNALS = 0x109,
	CLD_NT_THREAD = 0x10a,
	CLD_NT_DIGESTS = 0x10b,
	CLD_NT_EPOLL = 0x10c, /* 1.2: the interest lists of epoll fds */
	CLD_NT_TIMERS = 0x10d, /* 1.2: POSIX timers */
	CLD_NT_GUARDS = 0x10e, /* 1.2: guard regions (MADV_GUARD_INSTALL) */
	CLD_NT_INOTIFY = 0x10f, /* 1.2: inotify watches */
};

/* cld_hdr.flags */
#define CLD_IMG_LIVE 0x1u /* generated from a frozen live process */

/*
 * Fields a reader must ignore when comparing two images of the same frozen
 * state: created_ns, backend, producer.  All other bytes of an image are a
 * function of the frozen state alone.
 */
struct cld_hdr {
	__u32 magic; /* CLD_HDR_MAGIC */
	__u16 major; /* CLD_FORMAT_MAJOR: a reader refuses another major */
	__u16 minor; /* a reader accepts any minor, using what it knows */
	__u32 flags; /* CLD_IMG_* */
	__u32 page_size; /* CLD_PAGE_SIZE */
	__u32 nr_threads;
	__u32 nr_vmas;
	__u32 nr_fds;
	__u32 nr_segs; /* PT_LOAD segments */
	__u64 nr_dumped; /* pages with data in the image */
	__u64 created_ns; /* volatile: CLOCK_REALTIME at freeze */
	__u64 vdso_digest; /* XXH3-64 of the vDSO text, 0 if none */
	char backend[16]; /* volatile: "ptrace", "kmod", "file" */
	char producer[32]; /* volatile: "clondike 0.1.0" */
	char node[64]; /* node the image was frozen on */
	char kernel[65]; /* utsname release */
	__u8 pad[7];
};

/* Per-process identity and environment. Strings follow the struct. */
struct cld_proc_rec {
	__s32 pid, ppid, pgid, sid;
	__s32 tgid;
	__u32 umask;
	__u32 personality;
	__s32 nice;
	__u64 start_time; /* clock ticks after boot, from /proc/PID/stat */
	char comm[16];
	struct {
		__u64 cur, max;
	} rlim[16]; /* RLIMIT_* in kernel order */
	struct {
		__s64 interval_sec, interval_usec, value_sec, value_usec;
	} itimer[3]; /* ITIMER_REAL, _VIRTUAL, _PROF */
	__u32 nr_posix_timers; /* not restorable yet: nonzero blocks restart */
	__u32 flags; /* CLD_PROC_* */
	__s32 pdeath_signal;
	__s32 exit_signal;
	__u32 cwd_len, root_len, exe_len; /* bytes (no NUL) after the struct */
	__s32 oom_score_adj; /* 1.2 (pad before: 0, the default) */
	/* 1.2: the record grew (CLD_PROC_REC_SIZE_1_1 bytes before) */
	__u32 membarrier; /* MEMBARRIER_CMD_GET_REGISTRATIONS: registered commands */
	__u32 tty_nr; /* the controlling terminal's device (stat field 7), 0: none */
	__u32 flags2; /* CLD_PROC2_* */
	__u32 loginuid; /* 1.3: the audit login uid, (u32)-1 unset; with CLD_PROC2_LOGINUID */
};
#define CLD_PROC_REC_SIZE_1_1 440
#define CLD_PROC2_MEMBARRIER 0x1u /* membarrier was read (6.3: GET_REGISTRATIONS) */
#define CLD_PROC2_LOGINUID 0x2u	  /* loginuid was read (1.3; a kernel with audit) */
#define CLD_PROC_NO_NEW_PRIVS 0x1u
#define CLD_PROC_SECCOMP 0x2u /* seccomp filter present: blocks restart */
#define CLD_PROC_SUBREAPER 0x4u
#define CLD_PROC_DUMPABLE 0x8u
/* 1.2 */
#define CLD_PROC_CHILDREN 0x10u /* it had children: restarting it alone loses them */
#define CLD_PROC_LOCKS 0x20u /* it held file locks or leases: blocks restart */
#define CLD_PROC_THP_DISABLE 0x40u /* PR_SET_THP_DISABLE */

/* mm_struct fields PR_SET_MM restores, plus exe identity. */
struct cld_mm_rec {
	__u64 start_code, end_code, start_data, end_data;
	__u64 start_brk, brk, start_stack;
	__u64 arg_start, arg_end, env_start, env_end;
	__u64 exe_dev, exe_ino, exe_size;
	__s64 exe_mtime_ns;
	__u64 vdso_start, vdso_end; /* 0 if none */
	__u64 vvar_start, vvar_end;
	__u64 auxv_len; /* bytes of the NT_AUXV note */
};

/* Credentials.  Supplementary gids (__u32 each) follow the struct. */
struct cld_creds_rec {
	__u32 uid, euid, suid, fsuid;
	__u32 gid, egid, sgid, fsgid;
	__u64 cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	__u32 securebits;
	__u32 nr_groups;
};

/* VMA flags (cld_vma_rec.flags). */
#define CLD_VMA_SHARED 0x0001u /* MAP_SHARED */
#define CLD_VMA_FILE 0x0002u /* backed by the file in path */
#define CLD_VMA_GROWSDOWN 0x0004u
#define CLD_VMA_HEAP 0x0008u /* [heap] */
#define CLD_VMA_STACK 0x0010u /* [stack] */
#define CLD_VMA_VDSO 0x0020u /* [vdso]: dumped for gdb, never written back */
#define CLD_VMA_VVAR 0x0040u /* [vvar]: never dumped, remapped */
#define CLD_VMA_VSYSCALL 0x0080u /* [vsyscall]: neither dumped nor restored */
#define CLD_VMA_DELETED 0x0100u /* the file was unlinked */
#define CLD_VMA_SPECIAL 0x0200u /* other [name] or device mapping */
#define CLD_VMA_LOCKED 0x0400u /* VM_LOCKED */
#define CLD_VMA_DONTDUMP 0x0800u /* MADV_DONTDUMP */
#define CLD_VMA_SYSVSHM 0x1000u /* SysV shm: blocks restart */
#define CLD_VMA_HUGETLB 0x2000u /* hugetlbfs: blocks restart */
/* 1.2: madvise state (a 1.1 reader refuses these bits, rather than lose it) */
#define CLD_VMA_DONTFORK 0x4000u /* MADV_DONTFORK */
#define CLD_VMA_WIPEONFORK 0x8000u /* MADV_WIPEONFORK */
#define CLD_VMA_HUGEPAGE 0x10000u /* MADV_HUGEPAGE */
#define CLD_VMA_NOHUGEPAGE 0x20000u /* MADV_NOHUGEPAGE */
#define CLD_VMA_KNOWN_FLAGS 0x3ffffu

struct cld_vma_rec {
	__u64 start, end; /* page aligned, start < end */
	__u64 pgoff; /* file offset in bytes (FILE only) */
	__u64 dev; /* st_dev: (major << 32) | minor */
	__u64 ino, fsize; /* file identity at freeze */
	__s64 mtime_ns;
	__u32 prot; /* PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4 */
	__u32 flags; /* CLD_VMA_* */
	__u32 name_off; /* into the note's string table */
	__u32 name_len; /* 0: anonymous without name */
	__u64 nr_dumped; /* pages of this VMA with data in the image */
};

/* Array notes (VMAS, PAGES, FDS) start with this header. */
struct cld_array_hdr {
	__u32 rec_size; /* >= the size this version defines; extra ignored */
	__u32 count;
};

/* A run of dumped pages: pages [first, first + count) of VMA vma. */
struct cld_extent_rec {
	__u32 vma;
	__u32 pad;
	__u64 first; /* page index within the VMA */
	__u64 count;
};

/* File descriptor kinds. */
enum cld_fd_kind {
	CLD_FD_REG = 1, /* regular file: reopened by path */
	CLD_FD_DIR = 2,
	CLD_FD_PIPE = 3, /* anonymous pipe end; pipe_id pairs the ends */
	CLD_FD_FIFO = 4, /* named pipe */
	CLD_FD_TTY = 5, /* terminal */
	CLD_FD_CHR = 6, /* other char device: /dev/null, zero, urandom ... */
	/* 1.2: re-created from state[] (below) */
	CLD_FD_EPOLL = 7, /* interest list in CLONDIKE/EPOLL */
	CLD_FD_EVENTFD = 8,
	CLD_FD_TIMERFD = 9,
	CLD_FD_SIGNALFD = 10,
	CLD_FD_PIDFD = 11,
	CLD_FD_SOCKPAIR = 12, /* an end of a unix socketpair both ends of which it holds */
	CLD_FD_INOTIFY = 13, /* its watches in CLONDIKE/INOTIFY */
	CLD_FD_UNSUPPORTED = 0x100, /* sockets, eventfd, epoll...: blocks restart */
};

struct cld_fd_rec {
	__s32 fd;
	__u32 kind; /* enum cld_fd_kind */
	__u32 fd_flags; /* FD_CLOEXEC */
	__u32 fl_flags; /* open(2) flags from fdinfo, incl. access mode */
	__u64 pos;
	__u64 dev, ino, rdev;
	__u64 size; /* a file's; a pipe's or FIFO's capacity (1.2; 0: not recorded) */
	__s64 mtime_ns;
	__u32 mode; /* st_mode */
	__u32 name_off, name_len; /* path, or kind text for UNSUPPORTED */
	/* 1.2 (pad before): 1 + the index of the lowest fd of this open file
	 * description (dup'ed fds share it, and its offset and flags); 0:
	 * not recorded, the fd's own. */
	__u32 file_id;
	/*
	 * 1.2: what re-creates an fd of the kinds above (0 otherwise):
	 *  EVENTFD  [0] the counter, [1] 1 if EFD_SEMAPHORE
	 *  TIMERFD  [0] clock id, [1] settime flags (TFD_TIMER_ABSTIME 1,
	 *           TFD_TIMER_CANCEL_ON_SET 2), [2] ns to the next expiry
	 *           (0: disarmed), [3] interval ns, [4] unread expirations,
	 *           [5] CLOCK_REALTIME at the freeze, ns
	 *  SIGNALFD [0] the signal mask (bit sig - 1)
	 *  PIDFD    [0] the pid (in the process's pid namespace), [1] its start
 *           time (clock ticks after boot, /proc/PID/stat field 22)
 *  SOCKPAIR [0] SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET, [1] the other
 *           end's inode, [2] bytes in its receive queue (in PIPEDATA)
	 *  REG      1.3: [0] CLD_FDREG_*, [1] a memfd's seals (F_GET_SEALS)
	 */
	__u64 state[6];
};
#define CLD_FD_REC_SIZE_1_1 80 /* before state[] */

/* 1.3: state[0] of a CLD_FD_REG fd (0: a file reopened by its path) */
#define CLD_FDREG_DELETED 1u /* unlinked (memfds are too): re-created, not reopened */
#define CLD_FDREG_CONTENT 2u /* its content is in PIPEDATA (kind FILE, one per inode) */
#define CLD_FDREG_MEMFD 4u /* a memfd; its seals in state[1] */
#define CLD_FDREG_TOOBIG 8u /* content over CLD_MAX_FILE_DATA, not recorded */

/*
 * Unread bytes of a pipe both of whose ends the process holds, or of a FIFO
 * it reads, keyed by inode: { __u64 ino; __u32 len; __u32 kind; __u8 data[len] } padded
 * to 8, repeated.
 */
struct cld_pipedata_rec {
	__u64 ino;
	__u32 len;
	__u32 kind; /* 1.2: CLD_PIPEDATA_* (pad, 0, before) */
};
#define CLD_PIPEDATA_PIPE 0u /* an anonymous pipe's (ino: CLD_FD_PIPE's) */
#define CLD_PIPEDATA_FIFO 1u /* a named FIFO's (ino: CLD_FD_FIFO's) */
#define CLD_PIPEDATA_SOCK 2u /* a socketpair end's receive queue (ino: its own) */
#define CLD_PIPEDATA_FILE 3u /* 1.3: a memfd's or deleted file's content, all of it
			      * (ino: its CLD_FDREG_CONTENT fds') */

/* 1.2: one registration of an epoll fd's interest list (fdinfo's tfd). */
struct cld_epoll_rec {
	__s32 epfd; /* the epoll fd (CLD_FD_EPOLL) */
	__s32 tfd; /* the fd it watches, as registered */
	__u32 events;
	__u32 pad;
	__u64 data;
};

/* 1.2: an inotify watch, by path (names in the note's string table);
 * sorted by fd, then wd. */
struct cld_inotify_rec {
	__s32 fd; /* the inotify fd (CLD_FD_INOTIFY) */
	__s32 wd;
	__u32 mask;
	__u32 pad;
	__u64 dev, ino; /* the watched inode, (major << 32) | minor */
	__u32 name_off, name_len;
};

/* 1.2: a range of guard pages (CLONDIKE/GUARDS), page aligned, inside a
 * mapping; sorted, disjoint. */
struct cld_range_rec {
	__u64 start, end;
};

/* 1.2: a POSIX timer (timer_create), as /proc/PID/timers and
 * timer_gettime show it; the array is sorted by id. */
struct cld_timer_rec {
	__s32 id;
	__s32 clock; /* clockid_t */
	__s32 notify; /* SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2, | SIGEV_THREAD_ID 4 */
	__s32 signo;
	__s32 tid; /* with SIGEV_THREAD_ID: the thread's tid (a tid of the image) */
	__u32 pad;
	__u64 value; /* sigev_value */
	__s64 value_ns; /* to the next expiry; 0: disarmed */
	__s64 interval_ns;
};

/* x86_64 kernel struct sigaction as rt_sigaction(2) takes it. */
struct cld_sigaction {
	__u64 handler;
	__u64 flags;
	__u64 restorer;
	__u64 mask;
};

/* 128-byte siginfo as PTRACE_PEEKSIGINFO returns it. */
struct cld_siginfo {
	__u8 bytes[128];
};

/* Process-wide signal state.  Shared queued siginfos follow. */
struct cld_signals_rec {
	struct cld_sigaction action[64]; /* signals 1..64 */
	__u64 shared_pending;
	__u32 nr_shared_queue;
	__u32 pad;
};

#define CLD_THREAD_NAME_LEN 16 /* TASK_COMM_LEN */

/* Thread restart forms (cld_thread_rec.syscall_state). */
#define CLD_SYSCALL_NONE 0 /* stopped in user mode */
#define CLD_SYSCALL_RESTART 1 /* regs already rewound to reissue orig nr */
#define CLD_SYSCALL_DONE 2 /* result in rax is final */

/*
 * Per-thread state that ELF has no note for.  Follows each thread's
 * NT_PRSTATUS/NT_FPREGSET/NT_X86_XSTATE group; queued siginfos follow.
 */
struct cld_thread_rec {
	__s32 tid;
	__u32 syscall_state; /* CLD_SYSCALL_* */
	__u64 blocked;
	__u64 pending;
	__u64 sas_sp; /* sigaltstack */
	__u64 sas_size;
	__s32 sas_flags;
	__u32 nr_queue;
	__u64 rseq_addr; /* 0: none */
	__u32 rseq_len;
	__u32 rseq_sig;
	__u64 tid_address; /* set_tid_address / clear_child_tid */
	__u64 robust_list;
	__u64 robust_len;
	__s64 orig_syscall; /* nr when stopped in a syscall, else -1 */
	__s64 orig_result; /* rax as frozen (e.g. -ERESTARTSYS) */
	/* 1.1: the thread's comm, NUL padded (name[15] is 0); a 1.0 image's
	 * record ends before it and reads as "" (leave the name alone) */
	char name[CLD_THREAD_NAME_LEN];
};

/* Record sizes a reader accepts: 1.0 images end at name, 1.1 have it. */
#define CLD_THREAD_REC_SIZE_1_0 104u

/* Page digest algorithms (first __u32 of the DIGESTS note after hdr). */
#define CLD_DIGEST_XXH3_64 1

struct cld_digests_hdr {
	__u32 rec_size; /* 8 */
	__u32 algo; /* CLD_DIGEST_* */
	__u64 count; /* == cld_hdr.nr_dumped */
};

#endif /* CLONDIKE_FORMAT_H */
