/* SPDX-License-Identifier: MIT */
/*
 * Acting as a user: a privileged process (the daemon) that restarts an
 * image for someone takes on that user's identity first, so that every
 * file the image names is opened, mapped and entered with the kernel's own
 * permission checks for that user, never for root.
 */
#ifndef CLONDIKE_CREDS_H
#define CLONDIKE_CREDS_H

#include <sys/types.h>

#include "clondike/err.h"

/*
 * Become uid/gid with uid's supplementary groups as the system lists them
 * (the group database; just gid for a uid without an account), and stay
 * dumpable so that our own children remain ptrace-able by us.  For a
 * process that is about to do work for that user only: there is no way
 * back.  0 or a negative errno with err set.
 */
int cld_creds_become(uid_t uid, gid_t gid, struct cld_err *err);

#endif /* CLONDIKE_CREDS_H */
