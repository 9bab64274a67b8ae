// SPDX-License-Identifier: MIT
#include "ino.h"

#include <string.h>

void cldd_ino_decode(uint64_t ino, struct cldd_ino *n)
{
	memset(n, 0, sizeof(*n));
	n->ino = ino;
	if (ino == CLDD_INO_ROOT) {
		n->kind = CLDD_K_ROOT;
	} else if (ino == CLDD_INO_NODE) {
		n->kind = CLDD_K_NODE;
	} else if (ino == CLDD_INO_FWD) {
		n->kind = CLDD_K_FWD;
	} else if (ino >= CLDD_INO_RDIR && ino < CLDD_INO_RDIR + CLDD_RDIR_MAX) {
		n->kind = CLDD_K_RDIR;
		n->slot = (unsigned int)(ino - CLDD_INO_RDIR);
	} else if (ino >= CLDD_INO_RFWD_BASE && ino < CLDD_INO_RFWD_BASE + CLDD_RDIR_MAX) {
		n->kind = CLDD_K_RFWD;
		n->slot = (unsigned int)(ino - CLDD_INO_RFWD_BASE);
	} else if (ino > CLDD_INO_RFWDPID_BASE &&
		   ino < CLDD_INO_RFWDPID_BASE + ((uint64_t)CLDD_RDIR_MAX << CLDD_PID_BITS) &&
		   (ino & ((1u << CLDD_PID_BITS) - 1))) {
		n->kind = CLDD_K_RFWDPID;
		n->slot = (unsigned int)((ino - CLDD_INO_RFWDPID_BASE) >> CLDD_PID_BITS);
		n->pid = (pid_t)(ino & ((1u << CLDD_PID_BITS) - 1));
	} else if (ino >= CLDD_INO_RFWDFD_BASE &&
		   ino < CLDD_INO_RFWDFD_BASE +
				   ((uint64_t)CLDD_RDIR_MAX << (CLDD_PID_BITS + CLDD_FWDFD_BITS)) &&
		   ((ino >> CLDD_FWDFD_BITS) & ((1u << CLDD_PID_BITS) - 1))) {
		uint64_t v = ino - CLDD_INO_RFWDFD_BASE;

		n->kind = CLDD_K_RFWDFD;
		n->slot = (unsigned int)(v >> (CLDD_PID_BITS + CLDD_FWDFD_BITS));
		n->pid = (pid_t)((v >> CLDD_FWDFD_BITS) & ((1u << CLDD_PID_BITS) - 1));
		n->fd = (int)(v & ((1u << CLDD_FWDFD_BITS) - 1));
	} else if (ino > CLDD_INO_FWDPID_BASE && ino < CLDD_INO_PID_BASE) {
		n->kind = CLDD_K_FWDPID;
		n->pid = (pid_t)(ino - CLDD_INO_FWDPID_BASE);
	} else if (ino > CLDD_INO_PID_BASE && ino < CLDD_INO_IN_BASE) {
		n->kind = CLDD_K_PID;
		n->pid = (pid_t)(ino - CLDD_INO_PID_BASE);
	} else if (ino > CLDD_INO_IN_BASE && ino < CLDD_INO_RPID_BASE) {
		n->kind = CLDD_K_IN;
		n->seq = ino - CLDD_INO_IN_BASE;
	} else if (ino > CLDD_INO_RPID_BASE && (ino >> 32) - 3 < CLDD_RDIR_MAX) {
		/* Every slot's range: (3 + slot) << 32 itself is pid 0 of
		 * slot, which no peer lists. */
		n->kind = CLDD_K_RPID;
		n->slot = (unsigned int)((ino >> 32) - 3);
		n->pid = (pid_t)(ino & 0xffffffffu);
	} else if (ino >= CLDD_INO_FWDFD_BASE && ino < CLDD_INO_FWDFD_BASE * 2 &&
		   (ino - CLDD_INO_FWDFD_BASE) >> CLDD_FWDFD_BITS) {
		n->kind = CLDD_K_FWDFD;
		n->pid = (pid_t)((ino - CLDD_INO_FWDFD_BASE) >> CLDD_FWDFD_BITS);
		n->fd = (int)(ino & ((1u << CLDD_FWDFD_BITS) - 1));
	}
}
