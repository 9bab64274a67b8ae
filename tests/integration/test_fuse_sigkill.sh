#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGKILL of the daemon while it holds a process frozen: the process is
# thawed (ptrace detaches when its tracer dies), readers get an error
# rather than hanging, and fusermount3 -u cleans the mount.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
start_daemon
spawn "$T/demo.out" "$CLD_PROGS/demo_counter"
P=$SPAWNED
wait_for "$T/demo.out" "count 2 "

exec 3<"$DIR/$P"
# The tracer is one of the daemon's threads (each freeze has its own).
tracer=$(awk '/^TracerPid:/ {print $2}' "/proc/$P/status")
[ "$tracer" != 0 ] && [ -d "/proc/$DPID/task/$tracer" ] || fail "not frozen by the daemon"
n=$(tail -1 "$T/demo.out" | awk '{print $2}')
sleep 0.6
[ "$(tail -1 "$T/demo.out" | awk '{print $2}')" = "$n" ] || fail "ran while frozen"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
wait_for "$T/demo.out" "count $((n + 2)) "
grep -q "^TracerPid:[[:space:]]*0\$" "/proc/$P/status" || fail "still traced"
ok "frozen process thawed by the daemon's death (count $n -> $(tail -1 "$T/demo.out" | awk '{print $2}'))"

timeout 5 cat <&3 >/dev/null 2>"$T/err" && fail "read from a dead daemon succeeded"
[ $? = 124 ] && fail "read from a dead daemon hangs"
ok "reads fail: $(head -1 "$T/err")"
exec 3<&-
fusermount3 -u "$MNT" || fail "fusermount3 -u"
grep -q " $MNT " /proc/mounts && fail "still mounted"
ok "fusermount3 -u cleans the mount"
demo_check "$T/demo.out" || fail "self-check"
exit 0
