#!/bin/bash
# Removing the image while a lazily restarted process still needs pages
# from it kills the process with a clear message: no hang (bounded wait).
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start gone lazy_touch 128 50
rst_checkpoint "$RST_PID" "$RST_TMP/gone.img"
CLD_RESTART_ARGS="--lazy --no-pull" rst_restart "$RST_TMP/gone.img" gone
rm -f "$RST_TMP/gone.img"
rst_trigger gone
st=0
timeout 60 tail --pid="$RST_RPID" -f /dev/null || rst_fail "restart command still waiting after 60 s (hang)"
wait "$RST_RPID" || st=$?
cat "$RST_TMP/gone.log"
[ "$st" -eq 137 ] || rst_fail "expected the process to be killed (137), restart exited $st"
grep -q "was removed while the process still needs pages" "$RST_TMP/gone.log" ||
	rst_fail "no clear message in the log"
grep -q '^PASS' "$RST_TMP/gone.res" && rst_fail "process passed although its image was gone"
echo "ok: process killed with a clear message"
