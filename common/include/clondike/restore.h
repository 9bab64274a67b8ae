/* SPDX-License-Identifier: MIT */
/*
 * The restorer: bring a process back to life from its image, on the same
 * kernel (the technique of CRIU's compel).  A child is forked (with the
 * image's pid when the kernel lets us), prepares what does not depend on
 * the address space itself (fds, cwd, limits, signal state...), stops,
 * and is then rebuilt by system calls injected through ptrace: its own
 * mappings are replaced by the image's, memory is filled, mm fields,
 * registers and FPU state are set, and it is let go.
 *
 * A library API (the CLI and the daemon use it): nothing is printed, every
 * failure is a negative errno plus a cld_err sentence, and a failure half
 * way kills the half-built child so nothing is left behind.
 *
 * Memory filling is a separate step with a hook (cld_restore_opts.fill):
 * the eager filler (cld_rst_fill_eager) preads every dumped extent straight
 * into the child's memory; a lazy pager can instead register the ranges
 * with userfaultfd and serve faults later.
 */
#ifndef CLONDIKE_RESTORE_H
#define CLONDIKE_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/err.h"
#include "clondike/image_read.h"
#include "clondike/inject.h"

/* cld_restore_opts.flags */
#define CLD_RST_DETACH 0x1u /* the restarted process is not our child */
#define CLD_RST_NEW_PID 0x2u /* do not ask for the image's pid */
/* The restarting command's fds 0-2 are not the process's to inherit: an
 * image pipe at 0-2 whose other end is elsewhere is a blocker. */
#define CLD_RST_NO_STDIO 0x4u
/* Restart a process that had children without them (they are lost: its
 * wait() fails with ECHILD, its kill() of them with ESRCH). */
#define CLD_RST_WITHOUT_CHILDREN 0x8u
/* cld_restore_check_proc: only what would block a restart anywhere (the
 * checkpoint's own check), not what depends on this host or the caller:
 * the vDSO, the terminal, credentials, limits, the cwd's existence. */
#define CLD_RST_CHECK_PORTABLE 0x10u
/* A migration's guest whose terminal is a stand-in (a pty of its own): it
 * gets a session of its own with that pty as its controlling terminal,
 * so that tcgetpgrp() answers (its own group, in front). */
#define CLD_RST_OWN_CTTY 0x20u

struct cld_rst;

/*
 * Fill the dumped memory of the child.  Called once, after every VMA is
 * mapped (writable where it has dumped pages) and before protections are
 * put back.  Returns 0 or a negative errno with err set.
 */
typedef int (*cld_rst_fill_fn)(struct cld_rst *rs, void *arg, struct cld_err *err);

/*
 * Called once the process is complete (memory, registers, threads) and
 * still stopped, just before it is let go: 0 lets it run, a negative
 * errno (err set) kills it and fails the restore.  A migration's target
 * holds its guest here until the home commits (docs/migration.md).
 */
typedef int (*cld_rst_hold_fn)(void *arg, pid_t pid, struct cld_err *err);

#define CLD_RST_FWD_MAX 16

struct cld_restore_opts {
	unsigned int flags; /* CLD_RST_* */
	int image_fd; /* the image file (kept open by the caller) */
	/*
	 * Who asks: an image whose credentials differ from these is refused
	 * unless caller_uid is 0 (root restores it with the image's creds).
	 */
	uid_t caller_uid;
	gid_t caller_gid;
	/* Terminal that replaces the image's tty fds; -1: none (then an
	 * image holding a tty fd is refused). */
	int tty_fd;
	/*
	 * Forwarded fds (a migration's guest, docs/shadow.md): image fd
	 * fwd[i].fd becomes a dup of our fwd[i].local (one end of a pipe or
	 * socketpair a daemon relays to the original's home), whatever its
	 * kind; its O_NONBLOCK is set as the image says.
	 */
	struct {
		int fd, local;
	} fwd[CLD_RST_FWD_MAX];
	unsigned int nr_fwd;
	/*
	 * A migration's guest: a regular file that cannot be opened here as
	 * the same file (missing, or another file) is opened as
	 * fwd_dir/<fd> instead, the home's forwarded copy of the process's
	 * open file (docs/shadow.md, "Forwarded files").  NULL: refused.
	 */
	const char *fwd_dir;
	cld_rst_fill_fn fill; /* NULL: cld_rst_fill_eager */
	void *fill_arg;
	cld_rst_hold_fn hold; /* NULL: it runs at once */
	void *hold_arg;
};

struct cld_restore_result {
	pid_t pid; /* the restarted process */
	bool same_pid; /* it got the image's pid */
	int pid_errno; /* why not (EEXIST: taken, EPERM: no privilege...) */
	bool exe_set; /* /proc/PID/exe points at the image's executable */
	unsigned int nr_new_tids; /* threads that did not get their tid back */
	uint64_t bytes_filled; /* by the eager filler */
	unsigned int nr_syscalls; /* injected */
	/* Nanoseconds spent: preparing (open files, fork, child setup),
	 * rebuilding mappings, filling memory, and in total. */
	uint64_t prep_ns, map_ns, fill_ns, total_ns;
};

/* Default options: eager, our child, original pid, caller = us. */
void cld_restore_opts_init(struct cld_restore_opts *o);

/* The local fd standing in for image fd, or -1. */
int cld_restore_fwd(const struct cld_restore_opts *o, int fd);

/*
 * Find everything that prevents restarting this image here (docs/restore.md
 * "Refused up front"): unsupported fds, seccomp, SysV shm or hugetlb
 * mappings, children, locks, a different vDSO, foreign credentials...
 * Returns 0 when there is none, otherwise -EOPNOTSUPP (or -EPERM for
 * credentials) with a short summary in err and, if report is not NULL, the
 * full list (one blocker a line, malloc'ed, caller frees).  The _proc form
 * checks a description (a freezer's, before any image is written).
 */
int cld_restore_check_proc(const struct cld_proc *p, const struct cld_restore_opts *o,
			   char **report, struct cld_err *err);
int cld_restore_check(const struct cld_rimage *ri, const struct cld_restore_opts *o,
		      char **report, struct cld_err *err);

/*
 * Restart the image.  On success the process runs (it is not traced any
 * more) and res describes it; without CLD_RST_DETACH it is a child of the
 * caller, who must reap it.
 */
int cld_restore(struct cld_rimage *ri, const struct cld_restore_opts *o,
		struct cld_restore_result *res, struct cld_err *err);

/* ---- For fill hooks ------------------------------------------------------ */

/* The injection handle of the stopped child. */
struct cld_remote *cld_rst_remote(struct cld_rst *rs);
const struct cld_rimage *cld_rst_image(const struct cld_rst *rs);
/* The image file's fd number inside the child. */
int cld_rst_child_image_fd(const struct cld_rst *rs);
/* Whether the restorer is to fill VMA i (dumped pages, not shared file). */
bool cld_rst_vma_fillable(const struct cld_rst *rs, uint32_t i);
/* Count filled bytes (for the result). */
void cld_rst_account(struct cld_rst *rs, uint64_t bytes);

/*
 * The eager filler: one injected pread64 per extent from the image file
 * into the child's memory (a single kernel copy per byte).
 */
int cld_rst_fill_eager(struct cld_rst *rs, void *arg, struct cld_err *err);

/* XXH3-64 of this kernel's vDSO, as cld_hdr.vdso_digest records it. */
int cld_local_vdso_digest(uint64_t *digest, uint64_t *len);

#endif /* CLONDIKE_RESTORE_H */
