#!/bin/bash
# Restart keeps CPU state: ymm0-15 (xmm without AVX), rbx, r12-r15, MXCSR
# and the x87 control word live across the checkpoint; and a long
# floating-point computation checkpointed half-way ends with the same
# result as an uninterrupted run.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start regs rst_cpu regs
sleep 0.2 # let it enter the spin loop with the registers loaded
rst_checkpoint "$RST_PID" "$RST_TMP/regs.img"
rst_restart "$RST_TMP/regs.img" regs
sleep 0.2
kill -USR2 "$RST_PID"
rst_trigger regs
rst_expect_pass regs

iters=${RST_CPU_ITERS:-60000000}
mkfifo "$RST_TMP/direct.ctl"
"$CLD_PROGS/rst_cpu" "$RST_TMP/direct.res" "$RST_TMP/direct.ctl" compute "$iters" ||
	rst_fail "uninterrupted run failed"
want=$(grep '^RESULT' "$RST_TMP/direct.res")

rst_start comp rst_cpu compute "$iters"
sleep 0.3
grep -q '^RESULT' "$RST_TMP/comp.res" && rst_fail "computation too short to checkpoint half-way"
rst_checkpoint "$RST_PID" "$RST_TMP/comp.img"
rst_restart "$RST_TMP/comp.img" comp
rst_expect_pass comp
got=$(grep '^RESULT' "$RST_TMP/comp.res")
[ "$got" = "$want" ] || rst_fail "restarted computation gave '$got', uninterrupted '$want'"
echo "ok: computation result $got"
