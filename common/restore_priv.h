/* SPDX-License-Identifier: MIT */
/*
 * The restorer's private header, shared by common/restore*.c only (the
 * public API is clondike/restore.h): its state, and the phases each file
 * carries out for cld_restore() in restore.c.
 */
#ifndef CLONDIKE_RESTORE_PRIV_H
#define CLONDIKE_RESTORE_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>

#include "clondike/restore.h"

/* What a VMA is to the restorer. */
enum vkind { VK_SKIP, VK_SPECIAL, VK_ANON, VK_SHANON, VK_FILE, VK_BLOCKER };

struct cld_rst {
	struct cld_rimage *ri;
	struct cld_proc *p;
	const struct cld_restore_opts *o;
	struct cld_restore_result *res;
	struct cld_remote *r; /* open in rst_rebuild only */
	pid_t pid;
	pid_t helper; /* the intermediate process of --detach */
	pid_t *tids; /* the threads created so far, tids[0] the leader */
	uint32_t nr_tids;

	/* fds the parent opened (or borrowed) for the child: slot i lands at
	 * svc_base + i in the child. */
	int *pfd;
	bool *pfd_owned;
	uint32_t nr_pfd, cap_pfd;
	int svc_base;
	int slot_img, slot_status, slot_life, slot_exe;
	int *fd_slot; /* per image fd */
	int *ghost_slot; /* per image fd: the re-created file of a memfd or deleted file, or -1 */
	int *vma_slot; /* per VMA, -1 if none */
	uint8_t *vkind;
	uint32_t *prot_now; /* per VMA: protection it is mapped with */
	int status_rd, life_wr;

	/* Child-side values the child's code reads (inherited memory). */
	char *cwd;
	uint64_t scratch;
	size_t scratch_len;
	uint64_t t0;
};

static inline uint64_t rst_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* dev_t as the image records it (cld_vma_rec.dev, cld_fd_rec.dev/rdev). */
static inline uint64_t rst_dev_enc(dev_t d)
{
	return ((uint64_t)major(d) << 32) | minor(d);
}

/* restore_check.c: classification and the up-front checks. */
bool rst_is_vdso_block(const struct cld_vma *v);
enum vkind rst_classify(const struct cld_proc *p, const struct cld_vma *v);
/* Does a pipe inode have both ends among the image's fds? */
bool rst_pipe_has_both(const struct cld_proc *p, uint64_t ino);

/* restore_files.c, phase 2: open what the child inherits.  rst_add_pfd
 * returns the new slot or -ENOMEM (err not set). */
int rst_add_pfd(struct cld_rst *rs, int fd, bool owned);
void rst_close_pfds(struct cld_rst *rs);
int rst_open_fds(struct cld_rst *rs, struct cld_err *err);
int rst_open_mapped_files(struct cld_rst *rs, struct cld_err *err);

/* restore_ghost.c: memfds and deleted files, re-created from their
 * content.  The slot of the re-created file of inode (dev, ino) (made on
 * first use), and a new open file description of it for image fd i. */
int rst_ghost_file(struct cld_rst *rs, uint64_t dev, uint64_t ino, struct cld_err *err);
int rst_open_ghost(struct cld_rst *rs, uint32_t i, struct cld_err *err);
void rst_open_exe(struct cld_rst *rs);

/* restore_anon.c: the anonymous-inode fds (eventfd, timerfd, signalfd,
 * pidfd, epoll), re-created; the new slot or a negative errno. */
int rst_open_anon(struct cld_rst *rs, const struct cld_fd *f, struct cld_err *err);
/* Both ends of the socketpair of image fd idx, its queues refilled: 0 or
 * a negative errno (fd_slot set for every fd of either end). */
int rst_open_sockpair(struct cld_rst *rs, uint32_t idx, struct cld_err *err);
/* restore_timers.c: the POSIX timers, injected after the threads. */
int rst_timers_create(struct cld_rst *rs, struct cld_err *err);
/* Whether a pidfd's process (pid and start time) runs here. */
bool rst_pidfd_target_here(const struct cld_fd_rec *r);

/* restore_child.c, phase 3: fork the child, let it prepare, seize it. */
int rst_spawn(struct cld_rst *rs, struct cld_err *err);
int rst_seize(struct cld_rst *rs, struct cld_err *err);

/* restore_rebuild.c, phase 4: rebuild the seized child and let it go. */
int rst_rebuild(struct cld_rst *rs, struct cld_err *err);
/* restore_threads.c, phase 4 per thread.  rst_thread_state: rseq, robust
 * list, clear_child_tid of the thread r injects into.  rst_threads_create:
 * the other threads (into rs->tids), each with that state, its alternate
 * stack and its queued signals; rst_thread_cpu: registers, FPU, mask.
 * rst_thread_state also sets the thread's name (PR_SET_NAME). */
struct cld_remote;
int rst_thread_state(struct cld_rst *rs, struct cld_remote *r, const struct cld_thread *t,
		     struct cld_err *err);
int rst_leader_tid_word(struct cld_rst *rs, struct cld_err *err);
int rst_threads_create(struct cld_rst *rs, struct cld_err *err);
int rst_thread_cpu(pid_t tid, const struct cld_thread *t, struct cld_err *err);
int rst_threads_cpu(struct cld_rst *rs, struct cld_err *err);
int rst_threads_detach(struct cld_rst *rs, struct cld_err *err);

#endif /* CLONDIKE_RESTORE_PRIV_H */
