/* SPDX-License-Identifier: MIT */
/*
 * Live registers for the CPU-state test programs (rst_cpu.c,
 * rst_threads.c): macros that load ymm0-15 (xmm0-15 without AVX), rbx and
 * r12-r15 from memory, and store them back, around a spin loop the
 * program writes; the clobber list of such an asm statement; AVX probing.
 */
#ifndef RST_REGS_H
#define RST_REGS_H

#include <cpuid.h>
#include <stdint.h>

static inline int rst_have_avx(void)
{
	unsigned int a, b, c, d;
	uint32_t lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_AVX) || !(c & bit_OSXSAVE))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

#define LOADY(n) "vmovdqu " #n "*32(%[in]), %%ymm" #n "\n\t"
#define STOREY(n) "vmovdqu %%ymm" #n ", " #n "*32(%[out])\n\t"
#define LOADX(n) "movdqu " #n "*32(%[in]), %%xmm" #n "\n\t"
#define STOREX(n) "movdqu %%xmm" #n ", " #n "*32(%[out])\n\t"
#define ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define GPR_IN                                                                          \
	"mov 0(%[gin]), %%rbx\n\tmov 8(%[gin]), %%r12\n\tmov 16(%[gin]), %%r13\n\t"     \
	"mov 24(%[gin]), %%r14\n\tmov 32(%[gin]), %%r15\n\t"
#define GPR_OUT                                                                         \
	"mov %%rbx, 0(%[gout])\n\tmov %%r12, 8(%[gout])\n\tmov %%r13, 16(%[gout])\n\t"  \
	"mov %%r14, 24(%[gout])\n\tmov %%r15, 32(%[gout])\n\t"
#define CLOBBERS                                                                        \
	"memory", "rbx", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3",     \
		"xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
		"xmm13", "xmm14", "xmm15"

#endif /* RST_REGS_H */
