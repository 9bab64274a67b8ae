/* SPDX-License-Identifier: MIT */
/*
 * The freezer interface: a frozen process and the bytes of its virtual
 * image, independent of how it was frozen.
 *
 * Backends:
 *  - "ptrace" (freeze_ptrace.h): userspace, always available.  The image is
 *    a cld_image generated from a cld_proc plus process_vm_readv.
 *  - "kmod": /dev/clondike hands out an fd whose pread() produces the image.
 *    Such a backend only needs cld_frozen_from_fd(): size, pread, SEEK_DATA/
 *    SEEK_HOLE all go to the fd and closing it thaws.
 *  - "holder": a process frozen by `clondike freeze` stays frozen inside a
 *    small holder process (ptrace detaches when its tracer exits, so the
 *    tracer must outlive the CLI).  cld_hold_connect() gives a cld_frozen
 *    that talks to that holder over a unix socket; see docs/freezer.md.
 *
 * All functions return 0 (or a byte count) or a negative errno and leave a
 * sentence in err.
 */
#ifndef CLONDIKE_FREEZER_H
#define CLONDIKE_FREEZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/err.h"
#include "clondike/image.h"
#include "clondike/image_read.h"

struct cld_frozen;

/* What thaw does with the process. */
enum cld_thaw_how {
	CLD_THAW_RESUME = 0, /* let it run on as if nothing happened */
	CLD_THAW_KILL = 1,   /* SIGKILL it while still frozen */
};

/* Progress of a long write: bytes of data done out of total. */
typedef void (*cld_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct cld_frozen_ops {
	/*
	 * Optional: compute what the image needs beyond the frozen state
	 * (the ptrace backend's page-table scan, O(resident pages)), and set
	 * size and data_bytes.  Deferred out of freeze so that freezing
	 * stays O(mappings); cld_frozen_prepare() calls it once.
	 */
	int (*prepare)(struct cld_frozen *fz, struct cld_err *err);
	/* Bytes of the image; short only at its end.  Required. */
	ssize_t (*pread)(struct cld_frozen *fz, void *buf, size_t len, uint64_t off);
	/* lseek(2) SEEK_DATA / SEEK_HOLE; NULL: the image has no holes. */
	int64_t (*seek)(struct cld_frozen *fz, int64_t off, int whence);
	/* Optional fast path for writing the whole image to fd. */
	int (*write_fd)(struct cld_frozen *fz, int fd, cld_progress_fn progress, void *arg,
			struct cld_err *err);
	/* Optional: give the frozen process's private memory back (a shadow
	 * whose pages are all elsewhere); bytes: how much was dropped. */
	int (*drop_memory)(struct cld_frozen *fz, uint64_t *bytes, struct cld_err *err);
	/* Thaw (or kill) the process.  Called at most once. */
	int (*thaw)(struct cld_frozen *fz, enum cld_thaw_how how, struct cld_err *err);
	/* Free backend state.  The process is already thawed, or is not ours. */
	void (*release)(struct cld_frozen *fz);
};

struct cld_frozen {
	const struct cld_frozen_ops *ops;
	char backend[16]; /* "ptrace", "kmod", "holder/ptrace"... */
	pid_t pid;
	/* size and data_bytes are valid once prepared (cld_frozen_prepare;
	 * every read, seek and write prepares implicitly). */
	uint64_t size;	     /* logical size of the image */
	uint64_t data_bytes; /* bytes that are not holes (progress total) */
	/* The description, when the backend has one (ptrace); else NULL and
	 * a caller that wants it parses the image (cld_rimage_open).  Its page
	 * runs (vmas[].ext) are filled by prepare. */
	struct cld_proc *proc;
	bool prepared;
	bool thawed;
	/* Freeing thaws (CLD_THAW_RESUME) only if the object owns the freeze:
	 * a holder client does not. */
	bool owns_freeze;
	void *priv; /* backend's */
};

/* Freeze flags. */
#define CLD_FREEZE_PTRACE 0x1u /* use the ptrace backend even if kmod exists */
#define CLD_FREEZE_KMOD 0x2u   /* fail rather than fall back to ptrace */
#define CLD_FREEZE_HOLDER 0x4u /* the caller is pid's holder: skip the "held" check */

/* How long a freeze waits for the task to stop, by default. */
#define CLD_FREEZE_TIMEOUT_MS 2000u

/*
 * Freeze pid with the best backend (kmod if /dev/clondike exists and a kmod
 * backend is linked, ptrace otherwise).  Refuses a process already held by
 * `clondike freeze` with -EBUSY (use cld_hold_connect for that).  A task
 * that does not stop within timeout_ms (0: CLD_FREEZE_TIMEOUT_MS) fails
 * with -ETIMEDOUT and runs on (see cld_freeze_ptrace for the detail).
 */
int cld_freeze_timed(pid_t pid, unsigned int flags, unsigned int timeout_ms,
		     struct cld_frozen **out, struct cld_err *err);
int cld_freeze(pid_t pid, unsigned int flags, struct cld_frozen **out, struct cld_err *err);

/*
 * Wrap an image fd (pread, lseek SEEK_DATA/SEEK_HOLE, fstat size) as a
 * frozen process; closing the fd must thaw the process (kmod semantics).
 * Takes ownership of fd, also on failure.
 */
int cld_frozen_from_fd(int fd, pid_t pid, const char *backend, struct cld_frozen **out,
		       struct cld_err *err);

/* Make size/data_bytes valid (idempotent; the ptrace backend scans the
 * page tables here, not at freeze). */
int cld_frozen_prepare(struct cld_frozen *fz, struct cld_err *err);

ssize_t cld_frozen_pread(struct cld_frozen *fz, void *buf, size_t len, uint64_t off);
int64_t cld_frozen_seek(struct cld_frozen *fz, int64_t off, int whence);

/*
 * Write the whole image to fd: sparse (holes skipped with lseek) when fd is
 * seekable, streamed otherwise.  fd's size is set to the image size.
 */
int cld_frozen_write_fd(struct cld_frozen *fz, int fd, cld_progress_fn progress, void *arg,
			struct cld_err *err);

/* Drop the private memory of a process that will never run on as it is
 * (a migrated shadow).  -EOPNOTSUPP for backends that cannot. */
int cld_frozen_drop_memory(struct cld_frozen *fz, uint64_t *bytes, struct cld_err *err);

/* Thaw or kill.  -EALREADY if already thawed. */
int cld_frozen_thaw(struct cld_frozen *fz, enum cld_thaw_how how, struct cld_err *err);

/* Thaw (if this object owns a freeze still in effect) and free. */
void cld_frozen_free(struct cld_frozen *fz);

/* ---- Persistent freezes: the holder ------------------------------------ */

/*
 * Connect to the holder keeping pid frozen.  -ENOENT (no message) if there
 * is none.  Only root and the holder's own uid may connect.  Freeing the
 * result disconnects; cld_frozen_thaw() asks the holder to thaw (or kill)
 * and exit.
 *
 * The socket's name can be taken by anybody, so its owner is checked before
 * anything is sent to it (docs/security.md, "Freeze holders"): it must run
 * as root or as pid's owner and be pid's tracer (ptrace) or hold a kmod
 * image fd of pid.  Otherwise -EPERM, "refusing holder of pid N: socket
 * owned by pid P uid U, ...", and with cld_hold_connect_ex *untrusted is
 * set (also for a socket that takes no connection): the process is then not
 * held by `clondike freeze` and may be frozen directly.  Answers have
 * timeouts (-ETIMEDOUT): a holder cannot hang its client.
 */
int cld_hold_connect(pid_t pid, struct cld_frozen **out, struct cld_err *err);
int cld_hold_connect_ex(pid_t pid, bool *untrusted, struct cld_frozen **out,
			struct cld_err *err);

/* Also tell fn (a daemon's logger) each refused socket owner; NULL: don't. */
void cld_hold_set_warn(void (*fn)(const char *msg));

/*
 * Create the holder's listening socket for pid: -EBUSY if a holder for pid
 * already exists.  Done before freezing so two holders cannot race.
 */
int cld_hold_listen(pid_t pid, int *lfd, struct cld_err *err);

/*
 * Serve requests on lfd for fz until a client thaws it or the process dies.
 * Returns 0 after a thaw, -ESRCH if the process died.  Frees fz.
 */
int cld_hold_serve(int lfd, struct cld_frozen *fz);

#endif /* CLONDIKE_FREEZER_H */
