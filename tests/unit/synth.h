/* SPDX-License-Identifier: MIT */
/*
 * Synthetic process descriptions for tests and tools: every kind of VMA,
 * fd and signal state the format carries, with page contents that are a
 * pure function of the address (synth_fill), so any reader can check them.
 */
#ifndef CLONDIKE_TESTS_SYNTH_H
#define CLONDIKE_TESTS_SYNTH_H

#include "clondike/image.h"

#define SYNTH_MANY_SEGS 0x1u /* > 65535 segments: exercises PN_XNUM */
#define SYNTH_NO_PIPES 0x2u

/* Known values the synthetic process carries (checked by gdb tests). */
#define SYNTH_RIP 0x401136ull
#define SYNTH_RSP 0x7ffd00010f00ull
#define SYNTH_PID 4242

struct cld_proc *synth_proc(unsigned int nr_threads, unsigned int flags);

/* Page content at addr: deterministic pattern. */
void synth_fill(uint64_t addr, void *buf, size_t len);

extern const struct cld_mem_ops synth_mem_ops;

/* Build the image and read it whole into a malloc'ed buffer. */
int synth_image_bytes(struct cld_proc *p, uint8_t **buf, size_t *len);

#endif /* CLONDIKE_TESTS_SYNTH_H */
