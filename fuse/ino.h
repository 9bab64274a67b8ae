/* SPDX-License-Identifier: MIT */
/*
 * Inode numbers of /clondike, by kind (docs/clondiked.md):
 *
 *   1                      the root
 *   2                      this node's directory, <node>/
 *   16 + slot              a peer's directory (slot < 65536)
 *   2^32 + pid             a local process's image, <node>/<pid>
 *   2^33 + n               an image being written into <node>/
 *   (3 + slot) * 2^32 + pid  a peer's process's image
 *   3                      <node>/.fwd/, the shadows' forwarded fds
 *   2^31 + pid             <node>/.fwd/<pid>/, one shadow's
 *   2^56 + pid * 2^20 + fd   <node>/.fwd/<pid>/<fd>, a symbolic link
 *   2^30 + slot            <peer>/.fwd/ (fs_rfwd.c)
 *   2^52 + slot * 2^23 + pid  <peer>/.fwd/<pid>/
 *   2^60 + slot * 2^43 + pid * 2^20 + fd  <peer>/.fwd/<pid>/<fd>, a forwarded file
 *
 * Pids are at most 2^22 (the kernel's PID_MAX_LIMIT).  4-15, 16 + 65536 up
 * to 2^30 and 2^49 up to 2^52 are free for new kinds.  Decoding is
 * pure (no state): the object behind a number (the peer, the image) is
 * looked up by the kind's operations.
 */
#ifndef CLDD_INO_H
#define CLDD_INO_H

#include <stdint.h>
#include <sys/types.h>

#define CLDD_INO_ROOT 1u
#define CLDD_INO_NODE 2u
#define CLDD_INO_RDIR 16u
#define CLDD_RDIR_MAX 65536u
#define CLDD_INO_PID_BASE (1ull << 32)
#define CLDD_INO_IN_BASE (2ull << 32)
#define CLDD_INO_RPID_BASE (3ull << 32)
#define CLDD_INO_FWD 3u
#define CLDD_INO_FWDPID_BASE (1ull << 31)
#define CLDD_INO_FWDFD_BASE (1ull << 56)
#define CLDD_FWDFD_BITS 20 /* fds below 2^20 (fs.nr_open's default) */
#define CLDD_INO_RFWD_BASE (1ull << 30)
#define CLDD_INO_RFWDPID_BASE (1ull << 52)
#define CLDD_INO_RFWDFD_BASE (1ull << 60)
#define CLDD_PID_BITS 23 /* pids up to 2^22 (PID_MAX_LIMIT) */

enum cldd_kind {
	CLDD_K_NONE, /* no inode of ours */
	CLDD_K_ROOT,
	CLDD_K_NODE, /* this node's directory */
	CLDD_K_RDIR, /* a peer's directory */
	CLDD_K_PID,  /* a local process's image */
	CLDD_K_IN,   /* an image being written (incoming.c) */
	CLDD_K_RPID, /* a peer's process's image */
	CLDD_K_FWD,  /* .fwd/ (fs_fwd.c) */
	CLDD_K_FWDPID, /* .fwd/<pid>/ */
	CLDD_K_FWDFD, /* .fwd/<pid>/<fd> */
	CLDD_K_RFWD, /* a peer's .fwd/ (fs_rfwd.c) */
	CLDD_K_RFWDPID, /* a peer's .fwd/<pid>/ */
	CLDD_K_RFWDFD, /* a peer's .fwd/<pid>/<fd>: a forwarded file */
	CLDD_K_COUNT
};

/* An inode number decoded: its kind and what names its object. */
struct cldd_ino {
	uint64_t ino;
	enum cldd_kind kind;
	unsigned int slot; /* RDIR, RPID, RFWD*: the peer's slot */
	pid_t pid;	   /* PID, RPID, FWDPID, FWDFD, RFWDPID, RFWDFD */
	uint64_t seq;	   /* IN: the image's number */
	int fd;		   /* FWDFD, RFWDFD */
};

void cldd_ino_decode(uint64_t ino, struct cldd_ino *n);

static inline uint64_t cldd_ino_pid(pid_t pid)
{
	return CLDD_INO_PID_BASE + (uint64_t)pid;
}

static inline uint64_t cldd_ino_rdir(unsigned int slot)
{
	return CLDD_INO_RDIR + slot;
}

static inline uint64_t cldd_ino_rpid(unsigned int slot, pid_t pid)
{
	return ((3ull + slot) << 32) + (uint64_t)pid;
}

static inline uint64_t cldd_ino_fwdpid(pid_t pid)
{
	return CLDD_INO_FWDPID_BASE + (uint64_t)pid;
}

static inline uint64_t cldd_ino_fwdfd(pid_t pid, int fd)
{
	return CLDD_INO_FWDFD_BASE + ((uint64_t)pid << CLDD_FWDFD_BITS) + (uint64_t)fd;
}

static inline uint64_t cldd_ino_rfwd(unsigned int slot)
{
	return CLDD_INO_RFWD_BASE + slot;
}

static inline uint64_t cldd_ino_rfwdpid(unsigned int slot, pid_t pid)
{
	return CLDD_INO_RFWDPID_BASE + ((uint64_t)slot << CLDD_PID_BITS) + (uint64_t)pid;
}

static inline uint64_t cldd_ino_rfwdfd(unsigned int slot, pid_t pid, int fd)
{
	return CLDD_INO_RFWDFD_BASE + ((uint64_t)slot << (CLDD_PID_BITS + CLDD_FWDFD_BITS)) +
	       ((uint64_t)pid << CLDD_FWDFD_BITS) + (uint64_t)fd;
}

static inline uint64_t cldd_ino_in(uint64_t seq)
{
	return CLDD_INO_IN_BASE + seq;
}

#endif /* CLDD_INO_H */
