// SPDX-License-Identifier: MIT
/* The ptrace freezer's pure logic: maps parsing and classification, the
 * restart normalisation of a task stopped in a syscall, and the pagemap
 * fallback's dump rule. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "clondike/freeze_ptrace.h"

START_TEST(maps_file_line)
{
	struct cld_maps_line l;
	const char *name;
	uint32_t f;

	ck_assert_int_eq(cld_maps_parse("55d0c8a00000-55d0c8a21000 r-xp 00002000 fe:01 1234567   "
					"        /usr/bin/my prog\n",
					&l),
			 0);
	ck_assert_uint_eq(l.start, 0x55d0c8a00000ull);
	ck_assert_uint_eq(l.end, 0x55d0c8a21000ull);
	ck_assert_uint_eq(l.pgoff, 0x2000);
	ck_assert_uint_eq(l.dev_major, 0xfe);
	ck_assert_uint_eq(l.dev_minor, 1);
	ck_assert_uint_eq(l.ino, 1234567);
	ck_assert_uint_eq(l.prot, PROT_READ | PROT_EXEC);
	ck_assert_int_eq(l.shared, 0);
	ck_assert_str_eq(l.path, "/usr/bin/my prog");
	f = cld_maps_classify(&l, &name);
	ck_assert_uint_eq(f, CLD_VMA_FILE);
	ck_assert_str_eq(name, "/usr/bin/my prog");
}
END_TEST

START_TEST(maps_special_names)
{
	static const struct {
		const char *line;
		uint32_t flags;
		const char *name;
	} t[] = {
		{ "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]",
		  CLD_VMA_STACK | CLD_VMA_GROWSDOWN, "[stack]" },
		{ "01000000-01021000 rw-p 00000000 00:00 0 [heap]", CLD_VMA_HEAP, "[heap]" },
		{ "7f0000000000-7f0000002000 r-xp 00000000 00:00 0 [vdso]", CLD_VMA_VDSO,
		  "[vdso]" },
		{ "7f0000002000-7f0000004000 r--p 00000000 00:00 0 [vvar]", CLD_VMA_VVAR,
		  "[vvar]" },
		{ "7f0000004000-7f0000005000 r--p 00000000 00:00 0 [vvar_vclock]", CLD_VMA_VVAR,
		  "[vvar_vclock]" },
		{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]",
		  CLD_VMA_VSYSCALL, "[vsyscall]" },
		{ "7f0000006000-7f0000008000 rw-p 00000000 00:00 0", 0, NULL },
		{ "7f0000008000-7f000000a000 rw-p 00000000 00:00 0 [anon:jit]", 0, "[anon:jit]" },
		{ "7f000000a000-7f000000c000 rw-s 00000000 00:01 5 /dev/zero (deleted)",
		  CLD_VMA_SHARED, NULL },
		{ "7f000000c000-7f000000e000 rw-s 00000000 00:01 6 /memfd:buf (deleted)",
		  CLD_VMA_SHARED | CLD_VMA_FILE | CLD_VMA_DELETED, "/memfd:buf" },
		{ "7f000000e000-7f0000010000 rw-s 00000000 00:01 7 /SYSV0000abcd (deleted)",
		  CLD_VMA_SHARED | CLD_VMA_SYSVSHM, "/SYSV0000abcd (deleted)" },
		{ "7f0000010000-7f0000012000 r--p 00000000 00:00 0 [uprobes]", CLD_VMA_SPECIAL,
		  "[uprobes]" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cld_maps_line l;
		const char *name;
		uint32_t f;

		ck_assert_int_eq(cld_maps_parse(t[i].line, &l), 0);
		f = cld_maps_classify(&l, &name);
		ck_assert_msg(f == t[i].flags, "%s: flags %#x want %#x", t[i].line, f, t[i].flags);
		if (t[i].name)
			ck_assert_str_eq(name, t[i].name);
		else
			ck_assert_ptr_null(name);
	}
}
END_TEST

START_TEST(maps_rejects_garbage)
{
	struct cld_maps_line l;

	ck_assert_int_lt(cld_maps_parse("", &l), 0);
	ck_assert_int_lt(cld_maps_parse("hello world", &l), 0);
	ck_assert_int_lt(cld_maps_parse("2000-1000 rw-p 0 00:00 0", &l), 0); /* end < start */
	ck_assert_int_lt(cld_maps_parse("1001-2000 rw-p 0 00:00 0", &l), 0); /* unaligned */
}
END_TEST

static struct cld_regs regs_in_syscall(long nr, long result)
{
	struct cld_regs r;

	memset(&r, 0, sizeof(r));
	r.orig_rax = (uint64_t)nr;
	r.rax = (uint64_t)result;
	r.rip = 0x401002; /* just after the 2-byte syscall instruction at 0x401000 */
	r.rdi = 11;
	return r;
}

START_TEST(restart_user_mode)
{
	struct cld_regs live = regs_in_syscall(-1, 42), img;
	struct cld_thread_rec rec;

	cld_restart_normalize(&live, &img, &rec);
	ck_assert_uint_eq(rec.syscall_state, CLD_SYSCALL_NONE);
	ck_assert_int_eq(rec.orig_syscall, -1);
	ck_assert_uint_eq(live.rip, 0x401002);
	ck_assert_mem_eq(&live, &img, sizeof(img));
}
END_TEST

START_TEST(restart_erestartsys)
{
	struct cld_regs live = regs_in_syscall(SYS_read, -512), img;
	struct cld_thread_rec rec;

	cld_restart_normalize(&live, &img, &rec);
	ck_assert_uint_eq(rec.syscall_state, CLD_SYSCALL_RESTART);
	ck_assert_int_eq(rec.orig_syscall, SYS_read);
	ck_assert_int_eq(rec.orig_result, -512);
	ck_assert_uint_eq(live.rip, 0x401000);
	ck_assert_uint_eq(live.rax, SYS_read);
	ck_assert_int_eq((int64_t)live.orig_rax, -1);
	ck_assert_uint_eq(live.rdi, 11);
	ck_assert_mem_eq(&live, &img, sizeof(img));
}
END_TEST

START_TEST(restart_block)
{
	struct cld_regs live = regs_in_syscall(SYS_clock_nanosleep, -516), img;
	struct cld_thread_rec rec;

	cld_restart_normalize(&live, &img, &rec);
	ck_assert_uint_eq(rec.syscall_state, CLD_SYSCALL_RESTART);
	/* live: through restart_syscall (the kernel's restart block) */
	ck_assert_uint_eq(live.rax, SYS_restart_syscall);
	ck_assert_uint_eq(live.rip, 0x401000);
	/* image: the original call again */
	ck_assert_uint_eq(img.rax, SYS_clock_nanosleep);
	ck_assert_uint_eq(img.rip, 0x401000);
	ck_assert_int_eq((int64_t)img.orig_rax, -1);
	ck_assert_int_eq(rec.orig_syscall, SYS_clock_nanosleep);
	ck_assert_int_eq(rec.orig_result, -516);
}
END_TEST

START_TEST(restart_done)
{
	struct cld_regs live = regs_in_syscall(SYS_clock_nanosleep, 0), img;
	struct cld_thread_rec rec;

	cld_restart_normalize(&live, &img, &rec);
	ck_assert_uint_eq(rec.syscall_state, CLD_SYSCALL_DONE);
	ck_assert_uint_eq(live.rax, 0);
	ck_assert_uint_eq(live.rip, 0x401002);
	ck_assert_mem_eq(&live, &img, sizeof(img));
}
END_TEST

START_TEST(pagemap_rule)
{
	const uint64_t present = 1ull << 63, swapped = 1ull << 62, file = 1ull << 61;

	/* private mapping: anonymous (COWed) present pages and swap */
	ck_assert(cld_pagemap_dumped(present, 0));
	ck_assert(cld_pagemap_dumped(swapped, CLD_VMA_FILE));
	ck_assert(!cld_pagemap_dumped(present | file, CLD_VMA_FILE));
	ck_assert(!cld_pagemap_dumped(0, 0));
	/* shared anonymous: its pages are shmem ("file") pages */
	ck_assert(cld_pagemap_dumped(present | file, CLD_VMA_SHARED));
	/* shared file still in place: the file has the data */
	ck_assert(!cld_pagemap_dumped(present | file, CLD_VMA_SHARED | CLD_VMA_FILE));
	ck_assert(cld_pagemap_dumped(present | file,
				     CLD_VMA_SHARED | CLD_VMA_FILE | CLD_VMA_DELETED));
	/* never: vvar, vsyscall; always: the vDSO */
	ck_assert(!cld_pagemap_dumped(present, CLD_VMA_VVAR));
	ck_assert(!cld_pagemap_dumped(present, CLD_VMA_VSYSCALL));
	ck_assert(cld_pagemap_dumped(0, CLD_VMA_VDSO));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("freezer logic");
	TCase *tc = tcase_create("all");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, maps_file_line);
	tcase_add_test(tc, maps_special_names);
	tcase_add_test(tc, maps_rejects_garbage);
	tcase_add_test(tc, restart_user_mode);
	tcase_add_test(tc, restart_erestartsys);
	tcase_add_test(tc, restart_block);
	tcase_add_test(tc, restart_done);
	tcase_add_test(tc, pagemap_rule);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
