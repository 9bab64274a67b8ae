#!/bin/bash
# SPDX-License-Identifier: MIT
# cp /clondike/<node>/<pid> equals `clondike checkpoint` of the same frozen
# state (one freeze, held by `clondike freeze`), except the header fields
# the format calls volatile (created_ns, backend, producer); the daemon
# joins the holder's freeze without ending it; the program carries on.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
start_daemon
spawn "$T/demo.out" "$CLD_PROGS/demo_counter"
P=$SPAWNED
wait_for "$T/demo.out" "count 2 "

timeout 20 "$CLD_BIN" freeze "$P" </dev/null >"$T/freeze.out" 2>&1 ||
	fail "clondike freeze: $(cat "$T/freeze.out")"
holder=$(awk '/^TracerPid:/{print $2}' "/proc/$P/status")
KILL_PIDS="$KILL_PIDS $holder"
[ "$(getfattr --only-values -n user.clondike.state "$DIR/$P" 2>/dev/null)" = stopped ] ||
	[ "$(getfattr --only-values -n user.clondike.state "$DIR/$P" 2>/dev/null)" = running ] ||
	fail "unexpected state before open"
cp "$DIR/$P" "$T/fuse.img" || fail "cp from the mount: $(tail -1 "$T/daemon.log")"
[ "$(awk '/^TracerPid:/{print $2}' "/proc/$P/status")" = "$holder" ] ||
	fail "closing the file ended the holder's freeze"
"$CLD_BIN" checkpoint "$P" "$T/cli.img" >/dev/null || fail "clondike checkpoint"
$IMGCMP "$T/fuse.img" "$T/cli.img" || fail "images differ"
ok "cp of the mount == clondike checkpoint (volatile header fields masked)"

n=$(tail -1 "$T/demo.out" | awk '{print $2}')
"$CLD_BIN" thaw "$P" >/dev/null || fail "clondike thaw"
wait_for "$T/demo.out" "count $((n + 2)) "
demo_check "$T/demo.out" || fail "self-check"
ok "the program carries on"
exit 0
