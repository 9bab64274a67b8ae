/* SPDX-License-Identifier: MIT */
/*
 * The home's side of forwarded regular files (docs/shadow.md, "Forwarded
 * files"): a guest on another node holds an fd of a file that its node
 * cannot open as the same file, and each operation on it comes here as a
 * FILE request.  It is done on the process's own open file (pidfd_getfd),
 * so the file, its status flags and its locks stay the shadow's; the
 * offset comes with each request (pread/pwrite), from the guest's fd.
 * STAT is answered at once; the rest run on libuv's thread pool, so a slow
 * disk never stops the loop.
 */
#ifndef CLDD_FWD_FILE_H
#define CLDD_FWD_FILE_H

#include <stdint.h>

#include "clondike/proto.h"

#include "cldd.h"

struct cldd_conn;

/* A FILE request (header checked by cldp_msg_check). */
void cldd_file_serve(struct cldd *d, struct cldd_conn *c, const struct cldp_hdr *h,
		     const uint8_t *p);

#endif /* CLDD_FWD_FILE_H */
