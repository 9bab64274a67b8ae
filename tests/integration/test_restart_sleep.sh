#!/bin/bash
# A process checkpointed inside nanosleep() resumes the call after restart:
# it returns 0 after at least the requested time (the restored process has
# no kernel restart block, so the sleep is issued again, see
# docs/restore.md).  Then the read() blocked on the FIFO completes.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start sleep rst_sleep 3
sleep 0.3
rst_checkpoint "$RST_PID" "$RST_TMP/sleep.img"
rst_restart "$RST_TMP/sleep.img" restart
for i in $(seq 200); do
	grep -q '^SLEPT' "$RST_TMP/sleep.res" && break
	grep -q '^FAIL' "$RST_TMP/sleep.res" && break
	sleep 0.05
done
grep -q '^SLEPT' "$RST_TMP/sleep.res" || rst_fail "$(cat "$RST_TMP/sleep.res")"
rst_trigger sleep
rst_expect_pass sleep
