#!/bin/bash
# While its memory is still lazy, a process forks (the child reads lazy
# pages too), mremaps its region to a new address, and drops a slice with
# MADV_DONTNEED (which must then read as zeros): the pager follows each.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

for modes in f r d frd; do
	rst_start "ev$modes" lazy_touch 64 1 "$modes"
	rst_checkpoint "$RST_PID" "$RST_TMP/ev$modes.img"
	CLD_RESTART_ARGS="--lazy --no-pull" rst_restart "$RST_TMP/ev$modes.img" "ev$modes"
	rst_trigger "ev$modes"
	rst_expect_pass "ev$modes"
	# With the background pull on as well.
	rst_start "evp$modes" lazy_touch 64 1 "$modes"
	rst_checkpoint "$RST_PID" "$RST_TMP/evp$modes.img"
	CLD_RESTART_ARGS="--lazy" rst_restart "$RST_TMP/evp$modes.img" "evp$modes"
	rst_trigger "evp$modes"
	rst_expect_pass "evp$modes"
done
