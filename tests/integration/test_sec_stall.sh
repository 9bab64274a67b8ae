#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 13, stalls: nothing one user does blocks the daemon for the others.
#  - Opening the image of a process waiting in vfork (it cannot stop): the
#    open fails with ETIMEDOUT at the freeze deadline, the process is left
#    untraced, and meanwhile another user's ls answers within 100 ms.
#  - Freezing a process that is itself blocked in a request to this daemon
#    (the cat of the first case): the same, no deadlock.
#  - A `clondike freeze` holder that stops answering: the same.
#  - SIGTERM ends the daemon while a freeze is stuck.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/sec_vfork" ] || skip "sec_vfork is not built"
. "$(dirname "$0")/user_lib.sh"
test_user

# ls_ms: milliseconds of the user's ls of the node directory (worst of 5).
ls_ms() {
	local worst=0 t0 t1 i
	for i in 1 2 3 4 5; do
		t0=$(date +%s%N)
		as_user ls "$DIR" >/dev/null || fail "the user's ls failed"
		t1=$(date +%s%N)
		[ $(((t1 - t0) / 1000000)) -gt "$worst" ] && worst=$(((t1 - t0) / 1000000))
	done
	echo "$worst"
}

start_daemon --limit freeze-timeout-ms=2000
spawn "$T/vf.out" "$CLD_PROGS/sec_vfork" 60
VP=$SPAWNED
wait_for "$T/vf.out" "vfork waiting"
sleep 0.2

t0=$(date +%s%N)
timeout 20 cat "$DIR/$VP" >/dev/null 2>"$T/cat.err" &
CAT=$!
sleep 0.3
ms=$(ls_ms)
[ "$ms" -le 100 ] || fail "ls took $ms ms while a freeze was stuck"
ok "the user's ls answers in <= $ms ms while root's open of a vfork-waiting process is stuck"

# The cat is blocked in a request to this daemon: freeze it too.
timeout 20 cat "$DIR/$CAT" >/dev/null 2>"$T/cat2.err" &
CAT2=$!
sleep 0.3
ms=$(ls_ms)
[ "$ms" -le 100 ] || fail "ls took $ms ms while two freezes were stuck"
ok "and in <= $ms ms while a freeze waits for a process blocked in this daemon"

wait "$CAT" && fail "the open of a process that cannot stop succeeded"
rc=$?
t1=$(date +%s%N)
[ "$rc" = 124 ] && fail "the open hung until timeout(1)"
grep -q "Connection timed out" "$T/cat.err" || fail "not ETIMEDOUT: $(cat "$T/cat.err")"
grep -q "did not stop within 2000 ms" "$T/daemon.log" || fail "no log line for the stuck freeze"
ok "open failed after $(((t1 - t0) / 1000000)) ms: $(cat "$T/cat.err")"
wait "$CAT2"
[ $? = 124 ] && fail "the second open hung"
for _ in $(seq 20); do
	tr=$(awk '/^TracerPid:/{print $2}' "/proc/$VP/status")
	[ "$tr" = 0 ] && break
	sleep 0.1
done
[ "$tr" = 0 ] || fail "the vfork-waiting process is still traced by $tr"
grep -q "vfork done" "$T/vf.out" && fail "vfork returned early?"
ok "the process was left untraced and still waits in vfork"

# A genuine holder (clondike freeze) that stops answering: the daemon
# talks to it from the freeze's thread, so the mount stays responsive.
spawn "$T/h.out" sleep 1000
HP=$SPAWNED
"$CLD_BIN" freeze "$HP" >/dev/null 2>&1 || fail "clondike freeze $HP"
holder=$(awk '/^TracerPid:/{print $2}' "/proc/$HP/status")
[ "$holder" != 0 ] || fail "no holder for $HP"
kill -STOP "$holder"
t0=$(date +%s%N)
timeout 30 cat "$DIR/$HP" >/dev/null 2>"$T/cat3.err" &
CAT3=$!
sleep 0.5
ms=$(ls_ms)
[ "$ms" -le 100 ] || fail "ls took $ms ms while a holder did not answer"
ok "and in <= $ms ms while the holder of a frozen process does not answer"
wait "$CAT3"
rc=$?
t1=$(date +%s%N)
[ "$rc" = 124 ] && fail "the open of a process whose holder hangs hung"
ok "that open ended after $(((t1 - t0) / 1000000)) ms: $(head -c 150 "$T/cat3.err")"
kill -CONT "$holder"
"$CLD_BIN" thaw "$HP" >/dev/null 2>&1 || true

# SIGTERM while a freeze is stuck.
timeout 20 cat "$DIR/$VP" >/dev/null 2>/dev/null &
sleep 0.3
kill -TERM "$DPID"
for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DPID" 2>/dev/null && fail "SIGTERM did not end the daemon within 5 s"
DPID=""
grep -q " $MNT " /proc/mounts && fail "still mounted after SIGTERM"
ok "SIGTERM ends the daemon while a freeze is stuck"
pkill -9 -P "$VP"
exit 0
