#!/bin/bash
# SPDX-License-Identifier: MIT
# Build clondike.ko against Debian's headers of one kernel series, build an
# initramfs (busybox-static, the module, the static test driver), boot that
# kernel in QEMU (TCG) and report the in-VM results.
#
#   tests/qemu/run.sh 6.1|6.12 [test...]
#
# Environment:
#   CLD_QEMU_WORK  work directory (default /tmp/cld-qemu-$USER/<series>)
#   CLD_CLI        clondike CLI binary to bundle for the ptrace comparison
#   CLD_BENCH=1    also run the module vs ptrace benchmark in the VM
#   CLD_QEMU_TIMEOUT  seconds the VM may run (default 300)
#   CLD_QEMU_CPU   QEMU CPU model (default qemu64: no XSAVE; "max" has
#                  XSAVE/AVX, so images carry NT_X86_XSTATE)
#   CLD_KEEP=1     keep the console log on success
#
# Exit status: 0 all passed, 1 a failure, 77 skipped (qemu, kernel image,
# headers, compiler or busybox missing: the reason is printed).
set -u
series=${1:-}
shift || true
tests="$*"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

[ -n "$series" ] || die "usage: $0 6.1|6.12 [test...]"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (apt install qemu-system-x86)"
command -v cpio >/dev/null || skip "cpio not installed"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && LC_ALL=C ldd "$busybox" 2>&1 | grep -q "not a dynamic executable" ||
	skip "no static busybox (apt install busybox-static)"
cc_kmod=gcc-12
command -v $cc_kmod >/dev/null || skip "gcc-12 (the compiler of Debian's kernels) not installed"

# The newest installed kernel of the series, with its headers.
kver=
for v in $(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -V); do
	case $v in
	"$series".*|"$series"-*) kver=$v ;;
	esac
done
[ -n "$kver" ] || skip "no /boot/vmlinuz-$series.* (apt install linux-image-$series-amd64 or linux-image-amd64)"
kdir=/usr/src/linux-headers-$kver
[ -f "$kdir/Module.symvers" ] || skip "no headers for $kver in $kdir (apt install linux-headers-$kver)"
[ -r "/boot/vmlinuz-$kver" ] || skip "/boot/vmlinuz-$kver not readable"

work=${CLD_QEMU_WORK:-/tmp/cld-qemu-${USER:-root}/$series}
rm -rf "$work/root" "$work/kbuild"
mkdir -p "$work/root" "$work/kbuild" || die "cannot create $work"
log=$work/console.log
echo "kernel $kver, cpu ${CLD_QEMU_CPU:-qemu64}, work $work"

# 1. The module, -Werror and without any compiler warning.
if ! make -s -C "$top/kmod" BUILD="$work/kbuild" KDIR="$kdir" CC_KMOD=$cc_kmod \
	>"$work/kbuild.log" 2>&1; then
	cat "$work/kbuild.log"
	die "module build against $kver failed"
fi
if grep -E "warning:|WARNING:" "$work/kbuild.log"; then
	die "module build against $kver printed warnings"
fi
echo "PASS build ($kver)"

# 2. The in-VM driver: static, with the project's image reader and writer
#    (and the codec the writer shares with the module, common/codec/).
#    Its sources are tests/qemu/kmod_test*.c (kmod_test.h lists them).
cc=${CC:-gcc}
# digest_avx2.c alone is built for AVX2; it runs only if the CPU has it.
if ! $cc -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -mavx2 -I"$top/common/include" \
	-c -o "$work/digest_avx2.o" "$top/common/digest_avx2.c" >"$work/cc.log" 2>&1 ||
	! $cc -static -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -DCLD_XXH3_USERSPACE \
	-I"$top/common/include" -o "$work/root/kmod_test" "$here"/kmod_test*.c \
	"$top/kmod/cld_xxh3.c" "$top"/common/image.c "$top"/common/image_files.c \
	"$top"/common/image_notes.c \
	"$top"/common/image_virt.c "$top"/common/image_read.c "$top"/common/image_read_notes.c "$top"/common/image_read_objs.c \
	"$top"/common/codec/codec_layout.c "$top"/common/codec/codec_notes.c \
	"$top"/common/codec/codec_rules.c "$top"/common/codec/codec_vimg.c \
	"$top/common/err.c" "$top/common/digest.c" "$top/common/util.c" "$work/digest_avx2.o" \
	-l:libxxhash.a -lpthread >>"$work/cc.log" 2>&1; then
	cat "$work/cc.log"
	die "building the test driver failed"
fi

# 3. The initramfs: everything inside, nothing from the host at runtime.
r=$work/root
mkdir -p "$r/bin" "$r/sbin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc"
cp "$busybox" "$r/bin/busybox"
cp "$here/init.sh" "$r/init"
cp "$work/kbuild/clondike.ko" "$r/clondike.ko"
echo "root:x:0:0:root:/:/bin/sh" >"$r/etc/passwd"
if [ -n "${CLD_CLI:-}" ] && [ -x "${CLD_CLI:-}" ]; then
	# A dynamic binary with its libraries at their own paths.
	cp "$CLD_CLI" "$r/bin/clondike"
	for lib in $(ldd "$CLD_CLI" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$r$(dirname "$lib")"
		cp -L "$lib" "$r$lib"
	done
fi
{
	[ -n "$tests" ] && echo "export CLD_TESTS='$tests'"
	[ -n "${CLD_BENCH:-}" ] && echo "export CLD_BENCH=1"
} >"$r/etc/cld-env"
sed -i 's|^export PATH=/bin:/sbin$|&\n[ -f /etc/cld-env ] \&\& . /etc/cld-env|' "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio" || die "cpio failed"

# 4. Boot.  TCG only (KVM is not usable here); bounded in time.
tmo=${CLD_QEMU_TIMEOUT:-300}
boot() {
	start=$(date +%s)
	timeout --kill-after=10 "$tmo" qemu-system-x86_64 -accel tcg -cpu "${CLD_QEMU_CPU:-qemu64}" \
		-m 1024 -smp 2 \
		-display none -monitor none -serial "file:$log" -no-reboot \
		-kernel "/boot/vmlinuz-$kver" -initrd "$work/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init" </dev/null
	qrc=$?
	secs=$(( $(date +%s) - start ))
	tr -d '\r' <"$log" >"$log.txt"
}
# The kernel itself sometimes oopses under TCG while it boots, before the
# test's init runs and before any module is loaded (seen once with 6.12:
# an int3 in sched_clock_cpu from an initcall).  That is no result of
# ours: such a boot is tried again, at most twice, and says so.
for try in 1 2 3; do
	boot
	grep -q "^CLD-BOOT" "$log.txt" && break
	grep -q "Oops\|Kernel panic" "$log.txt" || break
	echo "INFO: $kver oopsed while booting, before the test's init ran (try $try):" \
		"$(grep -m1 'RIP:' "$log.txt")"
	cp "$log.txt" "$work/console.boot-oops-$try.txt"
done
grep -E "^(PASS|FAIL|SKIP|INFO|BENCH|DMESG|CLD-)" "$log.txt"
[ $qrc -eq 124 ] || [ $qrc -eq 137 ] && {
	tail -30 "$log.txt"
	die "VM timed out after ${tmo}s"
}
grep -q "^CLD-DONE" "$log.txt" || {
	tail -40 "$log.txt"
	die "VM did not finish its tests (qemu exit $qrc)"
}
npass=$(grep -c "^PASS" "$log.txt")
nfail=$(grep -c "^FAIL" "$log.txt")
echo "$kver: $npass passed, $nfail failed, VM ran ${secs}s"
[ "$nfail" -eq 0 ] && [ "$npass" -gt 2 ] || die "$nfail test(s) failed on $kver"
[ -n "${CLD_KEEP:-}" ] || rm -rf "$work/root"
exit 0
