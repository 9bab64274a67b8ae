#!/bin/bash
# SPDX-License-Identifier: MIT
# n1 reaches n2 through cluster_proxy.py (n1 dials n2: its config points n2
# at the proxy; n2's config has the real ports).  Armed, the proxy flips a
# bit in, or replays, one big sealed frame from n2 to n1 (a READ response)
# while cp MOUNT1/n2/PID copies a process with 32 MiB of dirty memory:
# cp fails (EIO or EHOSTDOWN), n1 logs "frame rejected", the process on n2
# is thawed within a few seconds; then the nodes reconnect through the
# disarmed proxy and a cp works and verifies.
# (Daemons on loopback, not namespaced nodes: the proxy sits between them
# on this machine's loopback, and n1 needs a configuration file of its own.)
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 2
alloc_port PX
cluster_write_conf n2
ADDR[n2]=127.0.0.1:$PX
cluster_write_conf n1
ADDR[n2]=127.0.0.1:${PORT[n2]}
ARM=$T/proxy.arm
start_proxy "$PX" "${PORT[n2]}" corrupt "$ARM"
cluster_start_all
cluster_wait_up 15
grep -q "conn 1 from" "$T/proxy.log" || fail "n1 did not connect through the proxy"
ok "n1 and n2 up through the proxy"

spawn_fill 32
P=$FILL_PID
timeout 10 ls "${MNT[n1]}/n2/" 2>&1 | grep -qx "$P" || fail "pid $P not listed in ${MNT[n1]}/n2/"

# tamper MODE: arm the proxy with MODE, cp must fail, etc.
tamper() {
	local mode=$1 rc rejected t0 conns
	rejected=$(grep -c "frame rejected" "$T/n1.log")
	conns=$(grep -c "^.* conn [0-9]* from .* open" "$T/proxy.log")
	echo "$mode" >"$ARM"
	t0=$(now_ms)
	timeout 30 cp "${MNT[n1]}/n2/$P" "$T/img.$mode" 2>"$T/cp.err"
	rc=$?
	echo "  cp with a $mode frame: exit $rc after $(($(now_ms) - t0)) ms: $(head -1 "$T/cp.err")"
	[ -e "$ARM" ] && fail "$mode: the proxy never saw a big frame to tamper with (cp exit $rc)"
	[ "$rc" != 124 ] || fail "$mode: cp hangs (30 s)"
	[ "$rc" != 0 ] || fail "$mode: cp succeeded although a frame was ${mode}ed (the image would be $(stat -c %s "$T/img.$mode") bytes)"
	grep -Eq "Input/output error|Host is down" "$T/cp.err" ||
		fail "$mode: cp failed with '$(cat "$T/cp.err")', wanted EIO (or EHOSTDOWN)"
	t0=$(now_ms)
	while [ "$(grep -c "frame rejected" "$T/n1.log")" -le "$rejected" ]; do
		[ $(($(now_ms) - t0)) -lt 3000 ] || fail "$mode: n1 did not log 'frame rejected'"
		sleep 0.1
	done
	ok "$mode: cp fails, n1 logs '$(grep "frame rejected" "$T/n1.log" | tail -1 | cut -c1-100)'"
	wait_thawed "$P" 5
	ok "$mode: process $P on n2 is thawed"
	s=$(xattr "${MNT[n2]}/n2/$P" user.clondike.state) && echo "  user.clondike.state of $P on n2: $s"
	# The dropped connection is redialed through the (now passing) proxy.
	cluster_wait_up 10
	[ "$(grep -c "^.* conn [0-9]* from .* open" "$T/proxy.log")" -gt "$conns" ] ||
		fail "$mode: nodes are up but n1 did not reconnect through the proxy"
	ok "$mode: n1 and n2 reconnect"
}
tamper corrupt
tamper replay

timeout 30 cp "${MNT[n1]}/n2/$P" "$T/img.good" 2>"$T/cp.err" || fail "cp after the tampering: $(cat "$T/cp.err")"
sz=$(stat -c %s "$T/img.good")
[ "$sz" -gt $((32 << 20)) ] || fail "the image is only $sz bytes for 32 MiB of memory"
timeout 60 "$CLD_BIN" verify "$T/img.good" >"$T/verify.out" 2>&1 ||
	fail "clondike verify: $(tail -3 "$T/verify.out")"
wait_thawed "$P" 5
ok "cp through the disarmed proxy works ($sz bytes) and verifies"
exit 0
