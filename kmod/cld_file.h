/* SPDX-License-Identifier: GPL-2.0 */
/* The image fd of a freeze and its pseudo filesystem (cld_file.c). */
#ifndef CLD_FILE_H
#define CLD_FILE_H

#include "clondike/kabi.h"
#include "cld_internal.h"

/* A new image fd on frz; consumes one file reference (nr_files and kref)
 * of frz on failure. */
int cld_install_fd(struct cld_frz *frz);
/* Drop one open-file reference; thaw on the last unless persistent. */
void cld_file_put(struct cld_frz *frz);

/* CLD_IOC_STATE's answer for frz (cld_lock held), and its copy out. */
void cld_fill_state(struct cld_frz *frz, struct cld_kabi_state *st);
long cld_copy_state_out(struct cld_kabi_state __user *u,
			struct cld_kabi_state *st, u32 usize);

/* Mount and unmount the pseudo filesystem (module init and exit). */
int cld_file_init(void);
void cld_file_exit(void);

#endif /* CLD_FILE_H */
