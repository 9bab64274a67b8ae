#!/bin/bash
# A process frozen inside nanosleep(): the image records the call in its
# restartable form (rip on the syscall instruction, rax = the original
# clock_nanosleep number, not restart_syscall), gdb unwinds through libc to
# frz_sleep, and thawed the call resumes correctly (no EINTR, self-check
# passes, no stop seen by the parent).  Then many freeze/checkpoint/thaw
# cycles in a row through `checkpoint --leave-running`.
. "$(dirname "$0")/frz_lib.sh"
frz_setup
command -v gdb >/dev/null || frz_skip "gdb is not installed"

frz_start sleep
# A freeze lands either inside the sleep (restart form) or just after the
# timer fired (call complete: rax 0, orig_rax 230); try until we catch the
# first, checking whichever we get.
caught=
for try in $(seq 20); do
	"$CLD_BIN" -q freeze "$FRZ_PID"
	"$CLD_BIN" -q checkpoint --unrestorable "$FRZ_PID" "$FRZ_TMP/img"
	out=$(gdb -nx -batch -ex bt -ex 'info registers rip rax orig_rax' \
		"$CLD_PROGS/frz_target" "$FRZ_TMP/img" 2>&1)
	grep -q 'clock_nanosleep' <<<"$out" || frz_fail "not in clock_nanosleep: $out"
	grep -q ' frz_sleep ' <<<"$out" || frz_fail "backtrace lacks frz_sleep: $out"
	rax=$(awk '$1 == "rax" {print $2}' <<<"$out")
	orig=$(awk '$1 == "orig_rax" {print $3}' <<<"$out")
	rip=$(awk '$1 == "rip" {print $2}' <<<"$out")
	if [ "$((rax))" = 230 ] && [ "$orig" = -1 ]; then
		insn=$(gdb -nx -batch -ex "x/i $rip" "$CLD_PROGS/frz_target" "$FRZ_TMP/img" 2>&1 |
			tail -1)
		grep -q 'syscall' <<<"$insn" ||
			frz_fail "rip does not point at a syscall instruction: $insn"
		caught=1
	elif [ "$((rax))" != 0 ] || [ "$orig" != 230 ]; then
		frz_fail "neither restart form nor completed call: rax $rax orig_rax $orig"
	fi
	"$CLD_BIN" -q thaw "$FRZ_PID"
	[ -n "$caught" ] && break
	sleep 0.013
done
[ -n "$caught" ] || frz_fail "never caught the task inside nanosleep in 20 tries"

for i in $(seq 20); do
	"$CLD_BIN" -q checkpoint --leave-running --unrestorable "$FRZ_PID" - >/dev/null
	sleep 0.01
done
frz_finish
echo PASS
