#!/bin/bash
# SPDX-License-Identifier: MIT
# Nothing blocks the daemon's loop (issue 12): while a 1 GiB image that
# was copied into /clondike/n1/ is verified (every page's digest) and
# restarted by n1's restore worker, `ls` of both nodes' directories on n1
# answers in well under a second each time, and n1 and n2 keep each other
# up (heartbeats every 300 ms, a peer is down after 2 s without traffic).
. "$(dirname "$0")/cluster_lib.sh"

[ -x "$CLD_PROGS/rst_mem" ] || skip "rst_mem is not built"
MB=${CLD_BUSY_MB:-1024}
avail=$(awk '/^MemAvailable:/{print int($2 / 1024)}' /proc/meminfo)
[ "$avail" -gt $((MB * 4)) ] || skip "$MB MiB image needs $((MB * 4)) MiB of free memory, $avail here"
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

# A 1 GiB image: rst_mem's random memory, checkpointed on the host.
mkfifo "$T/mem.ctl"
# Only fds 0-2: a pipe the harness leaked would make it unrestorable.
"$PY" -c 'import os, sys; os.closerange(3, 65536); os.execv(sys.argv[1], sys.argv[1:])' \
	"$CLD_PROGS/rst_mem" "$T/mem.res" "$T/mem.ctl" "$MB" </dev/null >"$T/mem.out" 2>&1 &
MEMPID=$!
KILL_PIDS="$KILL_PIDS $MEMPID"
wait_for "$T/mem.res" '^READY' 120
"$CLD_BIN" -q checkpoint --kill "$MEMPID" "$T/mem.img" || fail "checkpoint of rst_mem"
wait "$MEMPID" 2>/dev/null || true
size=$(stat -c %s "$T/mem.img")
[ "$size" -gt $((MB * 1000000)) ] || fail "the image has $size bytes, not $MB MiB"

# probe: ls of both directories on n1, its time in ms, and whether a
# restore worker ran meanwhile.
probe() {
	local t0 t1 w
	w=$(pgrep -f -- '--restore-worker' | head -1 || true)
	t0=$(date +%s%N)
	on n1 ls "/clondike/n1/" "/clondike/n2/" >/dev/null 2>"$T/ls.err" ||
		fail "ls on n1 while the image is restarted: $(cat "$T/ls.err")"
	t1=$(date +%s%N)
	[ -n "$w" ] || w=$(pgrep -f -- '--restore-worker' | head -1 || true)
	echo "$(((t1 - t0) / 1000000)) ${w:+worker}"
}

t0=$(date +%s%N)
on n1 cp "$T/mem.img" /clondike/n1/ 2>"$T/cp.err" &
CP=$!
: >"$T/probes"
while kill -0 "$CP" 2>/dev/null; do
	probe >>"$T/probes"
	sleep 0.05
done
wait "$CP" || fail "cp of the image into /clondike/n1/: $(cat "$T/cp.err")"
total=$((($(date +%s%N) - t0) / 1000000))
n=$(wc -l <"$T/probes")
nw=$(grep -c worker "$T/probes" || true)
max=$(sort -n "$T/probes" | tail -1 | cut -d' ' -f1)
maxw=$(grep worker "$T/probes" | sort -n | tail -1 | cut -d' ' -f1)
[ "$nw" -ge 3 ] || fail "only $nw of $n probes ran while the restore worker did (cp took $total ms)"
[ "$max" -lt 1000 ] || fail "an ls took $max ms while the image was copied and restarted"
grep -q "peer .* down" "$T/sim/n1.log" "$T/sim/n2.log" &&
	fail "a peer went down meanwhile: $(grep -h 'peer .* down' "$T/sim/n1.log" "$T/sim/n2.log")"
on n2 "$CLD_BIN" nodes >"$T/nodes" || fail "clondike nodes on n2"
grep -q '^n1 *up' "$T/nodes" || fail "n2 does not see n1 up: $(cat "$T/nodes")"
grep -q "restarted" "$T/sim/n1.log" || true
ok "a $((size >> 20)) MiB image copied into /clondike/n1/ and restarted in $total ms: $n ls probes of both nodes, $nw while the restore worker verified and restored it, slowest $max ms ($maxw ms with the worker); n1 and n2 stayed up"

# The restarted process is whole: it checks its memory.
RP=$(awk '/^READY/{print $2}' "$T/mem.res" | tail -1)
echo check >"$T/mem.ctl"
wait_for "$T/mem.res" '^PASS\|^FAIL' 120
grep -q '^PASS' "$T/mem.res" || fail "the restarted process: $(grep -v READY "$T/mem.res")"
ok "the restarted process verified its $MB MiB: $(grep '^PASS' "$T/mem.res")"
exit 0
