// SPDX-License-Identifier: MIT
/*
 * Restart test: CPU state.
 *
 *   rst_cpu RESULT CTL regs
 *	Loads known values into ymm0-15 (xmm0-15 without AVX), r12-r15 and
 *	rbx, sets a non-default MXCSR and x87 control word, then spins in an
 *	assembly loop that touches none of them until SIGUSR2 sets a flag
 *	(checkpoint it while it spins).  Then it stores the registers, waits
 *	for the trigger and checks every bit.
 *
 *   rst_cpu RESULT CTL compute ITERS
 *	A floating-point and integer computation (round-toward-zero, so
 *	MXCSR matters) of ITERS steps; writes "RESULT <hex>".  A run that was
 *	checkpointed, killed and restarted half-way must print the same value
 *	as an uninterrupted one.
 */
#include <signal.h>

#include "rst_common.h"
#include "rst_regs.h"

static volatile int go;
static uint8_t in[16][32] __attribute__((aligned(32)));
static uint8_t out[16][32] __attribute__((aligned(32)));
static uint64_t gin[5], gout[5];

static void on_usr2(int sig)
{
	(void)sig;
	go = 1;
}

#define SPIN "1: pause\n\tcmpl $0, %[go]\n\tje 1b\n\t"

static void regs_test(void)
{
	uint64_t s = 0xfeedfacecafebeefull;
	unsigned int mxcsr = 0x7f80 | 0x6000 | 0x8000, mx_after = 0; /* RZ, FTZ, masks */
	unsigned short fcw = 0x0f7f, fcw_after = 0; /* RC=11, PC=11, masks */
	int avx = rst_have_avx(), i, j, width = avx ? 32 : 16;
	struct sigaction sa;

	for (i = 0; i < 16; i++)
		for (j = 0; j < 32; j += 8) {
			uint64_t v = rst_xorshift(&s);

			memcpy(&in[i][j], &v, 8);
		}
	for (i = 0; i < 5; i++)
		gin[i] = rst_xorshift(&s);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	rst_say("AVX %d", avx);
	rst_ready();
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
	__asm__ volatile("fldcw %0" : : "m"(fcw));
	if (avx)
		__asm__ volatile(ALL(LOADY) GPR_IN SPIN ALL(STOREY) GPR_OUT
				 :
				 : [in] "r"(in), [out] "r"(out), [gin] "r"(gin), [gout] "r"(gout),
				   [go] "m"(go)
				 : CLOBBERS);
	else
		__asm__ volatile(ALL(LOADX) GPR_IN SPIN ALL(STOREX) GPR_OUT
				 :
				 : [in] "r"(in), [out] "r"(out), [gin] "r"(gin), [gout] "r"(gout),
				   [go] "m"(go)
				 : CLOBBERS);
	__asm__ volatile("stmxcsr %0" : "=m"(mx_after));
	__asm__ volatile("fnstcw %0" : "=m"(fcw_after));
	/* The registers are in memory now: the usual trigger, so that the
	 * test's "check" always finds the control FIFO open. */
	rst_wait_trigger();
	for (i = 0; i < 16; i++)
		RST_CHECK(!memcmp(in[i], out[i], (size_t)width), "%cmm%d differs after restart",
			  avx ? 'y' : 'x', i);
	for (i = 0; i < 5; i++)
		RST_CHECK(gin[i] == gout[i], "general register %d differs", i);
	RST_CHECK((mx_after & 0xffc0) == (mxcsr & 0xffc0), "MXCSR %#x, want %#x", mx_after,
		  mxcsr);
	RST_CHECK((fcw_after & 0x1f3f) == (fcw & 0x1f3f), "x87 control word %#x, want %#x",
		  fcw_after, fcw);
	rst_pass(avx ? "ymm0-15 rbx r12-r15 mxcsr fcw" : "xmm0-15 rbx r12-r15 mxcsr fcw");
}

/* No libm: the programs are linked without it. */
static inline double sqrt_sd(double v)
{
	__asm__("sqrtsd %1, %0" : "=x"(v) : "x"(v));
	return v;
}

static void compute(long iters)
{
	unsigned int rz = 0x1f80 | 0x6000;
	volatile double sink;
	double x = 1.0, y = 0.5;
	uint64_t h = 1469598103934665603ull;
	long i;

	rst_ready();
	__asm__ volatile("ldmxcsr %0" : : "m"(rz));
	for (i = 0; i < iters; i++) {
		x = x * 1.0000001 + y / (x + 1.0);
		y = sqrt_sd(y + x) * 0.999;
		if (x > 1e6)
			x = x / 1e6 + 0.1;
		h = (h ^ (uint64_t)(x * 1e9)) * 1099511628211ull;
	}
	sink = x + y;
	(void)sink;
	{
		uint64_t bx, by;

		memcpy(&bx, &x, 8);
		memcpy(&by, &y, 8);
		rst_say("RESULT %016llx %016llx %016llx", (unsigned long long)h,
			(unsigned long long)bx, (unsigned long long)by);
	}
	rst_pass("compute");
}

int main(int argc, char **argv)
{
	rst_init(argc, argv, 1, "regs | compute ITERS");
	if (!strcmp(argv[3], "regs"))
		regs_test();
	if (!strcmp(argv[3], "compute") && argc > 4)
		compute(atol(argv[4]));
	fprintf(stderr, "rst_cpu: unknown mode %s\n", argv[3]);
	return 2;
}
