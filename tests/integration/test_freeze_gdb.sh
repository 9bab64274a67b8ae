#!/bin/bash
# Freeze a process spinning in frz_spin(), checkpoint it, and read the
# checkpoint with gdb: the backtrace names frz_spin, rip is the one the
# freezer reported, globals hold their live values.  After thaw the
# process runs on, passes its self-check, and its parent saw no stop.
. "$(dirname "$0")/frz_lib.sh"
frz_setup
command -v gdb >/dev/null || frz_skip "gdb is not installed"

frz_start spin
json=$("$CLD_BIN" --json freeze "$FRZ_PID")
rip=$(jq -r .rip <<<"$json")
[ "$(awk '/^State/ {print $2}' /proc/$FRZ_PID/status)" = t ] || frz_fail "not in tracing stop"
counter=$(frz_live_counter)
"$CLD_BIN" checkpoint --unrestorable "$FRZ_PID" "$FRZ_TMP/img" | grep -q "stays frozen" ||
	frz_fail "checkpoint of a frozen process should leave it frozen"
"$CLD_BIN" verify "$FRZ_TMP/img" >/dev/null || frz_fail "verify failed"

out=$(gdb -nx -batch -ex bt -ex 'info registers rip' -ex 'print frz_magic' \
	-ex 'print frz_counter' "$CLD_PROGS/frz_target" "$FRZ_TMP/img" 2>&1)
grep -q '^#0 .*frz_spin' <<<"$out" || frz_fail "backtrace lacks frz_spin: $out"
grep -q '^#1 .*main' <<<"$out" || frz_fail "backtrace lacks main: $out"
gdb_rip=$(awk '$1 == "rip" {print $2}' <<<"$out")
[ "$gdb_rip" = "$rip" ] || frz_fail "gdb rip $gdb_rip, freezer reported $rip"
grep -qx "\$1 = $FRZ_MAGIC" <<<"$out" || frz_fail "frz_magic: want $FRZ_MAGIC: $out"
grep -qx "\$2 = $counter" <<<"$out" || frz_fail "frz_counter: live $counter: $out"

# Still frozen after the checkpoint: the counter has not moved.
sleep 0.2
[ "$(frz_live_counter)" = "$counter" ] || frz_fail "counter moved while frozen"
"$CLD_BIN" thaw "$FRZ_PID" >/dev/null
sleep 0.2
[ "$(frz_live_counter)" != "$counter" ] || frz_fail "counter did not move after thaw"
frz_finish
echo PASS
