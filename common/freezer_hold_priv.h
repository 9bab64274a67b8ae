/* SPDX-License-Identifier: MIT */
/*
 * The holder's private header, shared by common/freezer_hold*.c only (the
 * public API is clondike/freezer.h): the protocol between the holder
 * (freezer_hold.c) and its clients (freezer_hold_client.c).
 */
#ifndef CLONDIKE_FREEZER_HOLD_PRIV_H
#define CLONDIKE_FREEZER_HOLD_PRIV_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/*
 * Protocol on a SOCK_STREAM unix socket in the abstract namespace,
 * "@clondike/frozen/<pid>": a request is a struct hold_req; each answer is
 * one or more struct hold_resp (kind PROGRESS then FINAL), each followed by
 * msg_len bytes of text (an error message, or the backend for INFO), and a
 * FINAL answer to PREAD by ret bytes of image data.  WRITE_FD carries the
 * output fd as SCM_RIGHTS.  Both ends are on the same host and kernel, so
 * the structs go as they are.
 */
enum hold_op {
	HOLD_INFO = 1,
	HOLD_PREAD = 2,
	HOLD_SEEK = 3,
	HOLD_WRITE_FD = 4,
	HOLD_THAW = 5,
};

struct hold_req {
	uint32_t op;
	int32_t arg; /* whence for SEEK, enum cld_thaw_how for THAW */
	uint64_t off;
	uint64_t len;
};

#define HOLD_FINAL 0u
#define HOLD_PROGRESS 1u
#define HOLD_MAX_PREAD (8u << 20)

struct hold_resp {
	int64_t ret; /* >= 0 result, or -errno */
	uint32_t kind;
	uint32_t msg_len;
	uint64_t a, b; /* INFO: size, data_bytes; PROGRESS: done, total */
	int32_t pid;   /* INFO */
	uint32_t pad;  /* INFO: 1 if size and data_bytes are valid */
};

/* freezer_hold.c */
void hold_addr(pid_t pid, struct sockaddr_un *sa, socklen_t *len);
void hold_set_sock_timeouts(int fd, int rcv_s, int snd_s);

#endif /* CLONDIKE_FREEZER_HOLD_PRIV_H */
