#!/bin/busybox sh
# /init of the clondike.ko test VM (tests/qemu/run.sh builds the initramfs).
# Everything is reported on the serial console, one result per line:
#   PASS <test> | FAIL <test>: <why> | SKIP <test>: <why> | INFO/BENCH ...
# and "CLD-DONE" last.  The VM powers off at the end whatever happens.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp && mount -t tmpfs tmp /tmp
# Results only on the console, not kernel chatter.
dmesg -n 1
echo "CLD-BOOT $(uname -r)"

finish() {
	echo "CLD-DONE"
	sync
	poweroff -f
	# -no-reboot turns a reboot into QEMU's exit if poweroff fails.
	reboot -f
}

if ! insmod /clondike.ko; then
	echo "FAIL insmod: $(dmesg | tail -3 | tr '\n' ' ')"
	finish
fi
[ -c /dev/clondike ] || { echo "FAIL misc device /dev/clondike missing"; finish; }
echo "PASS load"

/kmod_test $CLD_TESTS
[ -n "$CLD_BENCH" ] && /kmod_test --bench





if rmmod clondike; then
	echo "PASS unload"
else
	echo "FAIL unload: rmmod failed at the end"
fi

# The kernel log must be clean: no warning, BUG, oops or lockdep report.
if dmesg | grep -E "WARNING:|BUG:|Oops|general protection|possible (recursive|circular)|lockdep|INFO: task .*blocked|Call Trace:|refcount_t:|list_(add|del) corruption" >/tmp/bad; then
	echo "FAIL dmesg: $(head -5 /tmp/bad | tr '\n' '|')"
	dmesg | tail -60 | sed 's/^/DMESG /'
else
	echo "PASS dmesg_clean"
fi
finish
