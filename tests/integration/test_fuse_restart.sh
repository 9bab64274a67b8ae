#!/bin/bash
# SPDX-License-Identifier: MIT
# Writing an image into /clondike/<node>/ restarts it: cp of an image back
# after killing the original brings it back (its self-check passes), the
# name then resolves to the restarted pid; a corrupted image fails close
# with a clear errno and a log line, and nothing is started.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
start_daemon

spawn "$T/demo.out" "$CLD_PROGS/demo_counter"
P=$SPAWNED
wait_for "$T/demo.out" "count 3 "
cp "$DIR/$P" "$T/job.img" || fail "cp of the image"
kill -9 "$P"
wait "$P" 2>/dev/null
last=$(tail -1 "$T/demo.out" | awk '{print $2}')

# A corrupted copy first: refused at close, nothing started.
cp "$T/job.img" "$T/bad.img"
printf 'XXXXXXXX' | dd of="$T/bad.img" bs=1 seek=$(( $(stat -c %s "$T/bad.img") - 8 )) conv=notrunc 2>/dev/null
printf '\x00\x00\x00\x00' | dd of="$T/bad.img" bs=1 seek=100 conv=notrunc 2>/dev/null
cp "$T/bad.img" "$DIR/" 2>"$T/err" && fail "a corrupted image was restarted"
grep -q "refused image bad.img" "$T/daemon.log" || fail "no log line for bad.img"
sleep 0.5
[ "$(tail -1 "$T/demo.out" | awk '{print $2}')" = "$last" ] || fail "something ran after the bad image"
ok "corrupted image refused: $(cat "$T/err")"

cp "$T/job.img" "$DIR/" 2>"$T/err" || {
	if grep -q "restart of pid" "$T/daemon.log"; then
		skip "the restorer cannot restart here: $(grep 'refused image job.img' "$T/daemon.log")"
	fi
	fail "cp back failed: $(cat "$T/err")"
}
grep -q "job.img: restarted as pid" "$T/daemon.log" || fail "no log line for the restart"
wait_for "$T/demo.out" "count $((last + 3)) "
demo_check "$T/demo.out" || fail "self-check after restart"
newpid=$(sed -n 's/.*job.img: restarted as pid \([0-9]*\).*/\1/p' "$T/daemon.log")
KILL_PIDS="$KILL_PIDS $newpid"
[ "$(getfattr --only-values -n user.clondike.pid "$DIR/job.img" 2>/dev/null)" = "$newpid" ] ||
	fail "job.img does not resolve to pid $newpid"
[ "$(stat -c %i "$DIR/job.img")" = "$(stat -c %i "$DIR/$newpid")" ] || fail "job.img is not pid $newpid's file"
ls "$DIR" | grep -qx "$newpid" || fail "restarted pid not listed"
ok "restarted as pid $newpid (was $P), carries on from count $last"

# Its image can be taken again.
cp "$DIR/job.img" "$T/again.img" || fail "cp of the restarted process"
"$CLD_BIN" verify "$T/again.img" >/dev/null || fail "verify again.img"
ok "restarted process is checkpointable"
exit 0
