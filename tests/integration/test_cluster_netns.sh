#!/bin/bash
# SPDX-License-Identifier: MIT
# Two namespaced nodes (contrib/clondike-sim: each its own network, pid and
# mount namespaces, joined through a bridge).  A slow reader on n1 copies
# the image of a process on n2 with 256 MiB of dirty memory; in the middle
# of the copy n1's link is cut inside n1 (no FIN, no RST: only the
# heartbeat or the request timeout can tell).  The reader gets ETIMEDOUT or
# EHOSTDOWN within timeout + 3 heartbeats + slack, the process on n2 is
# thawed within a few seconds, and once the link is back the nodes
# reconnect.
CLU_CACHE=16 # MiB n1 may read ahead: keeps the data in flight small
. "$(dirname "$0")/cluster_lib.sh"

avail=$(awk '/^MemAvailable:/{print int($2 / 1024)}' /proc/meminfo)
[ "$avail" -ge 1024 ] || skip "needs 1 GiB of available memory, there is ${avail} MiB"

sim_up 2
cluster_wait_up 15
ok "n1 (${ADDR[n1]}) and n2 (${ADDR[n2]}) up through the bridge"

spawn_fill 256 n2
P=$FILL_PID
timeout 10 ls "${MNT[n1]}/n2/" 2>&1 | grep -qx "$P" || fail "pid $P not listed in ${MNT[n1]}/n2/"

# The reader: 1 MiB per read, 20 ms pause, progress in $T/reader.prog:
# "PROG BYTES TIME", then "EOF BYTES TIME" or "ERR NAME ERRNO BYTES TIME TEXT".
cat >"$T/reader.py" <<'PY'
import errno, os, sys, time
path, prog = sys.argv[1], sys.argv[2]
def say(*w):
    with open(prog + ".tmp", "w") as f:
        f.write(" ".join(str(x) for x in w) + "\n")
    os.replace(prog + ".tmp", prog)
total = 0
try:
    fd = os.open(path, os.O_RDONLY)
    while True:
        d = os.read(fd, 1 << 20)
        if not d:
            say("EOF", total, "%.3f" % time.time())
            sys.exit(0)
        total += len(d)
        say("PROG", total, "%.3f" % time.time())
        time.sleep(0.02)
except OSError as e:
    say("ERR", errno.errorcode.get(e.errno, "?"), e.errno, total, "%.3f" % time.time(), e.strerror)
    sys.exit(1)
PY
on n1 "$PY" "$T/reader.py" "/clondike/n2/$P" "$T/reader.prog" </dev/null >"$T/reader.out" 2>&1 &
RPID=$! # nsenter, which waits for the reader
KILL_PIDS="$KILL_PIDS $RPID"

# Cut once 24 MiB have been read (at most 20 s).
t0=$(now_ms)
while :; do
	read -r kind bytes _ 2>/dev/null <"$T/reader.prog" || kind=NONE
	[ "$kind" = PROG ] && [ "$bytes" -ge $((24 << 20)) ] && break
	[ "$kind" = EOF ] && fail "the reader finished before the cut"
	[ "$kind" = ERR ] && fail "the reader failed before the cut: $(cat "$T/reader.prog")"
	[ $(($(now_ms) - t0)) -lt 20000 ] || fail "the reader did not read 24 MiB in 20 s ($(cat "$T/reader.prog" 2>/dev/null))"
	sleep 0.02
done
proc_thawed "$P" n2 && fail "process $P is not frozen while its image is being read"
on n1 ip link set dev eth0 down || fail "cannot cut the link"
TCUT=$(date +%s.%N)
CUT_AT=$bytes
ok "link cut after the reader got $((CUT_AT >> 20)) MiB"

lim=$((CLU_TIMEOUT + 3 * CLU_HEARTBEAT + 3000)) # ms; slack for the cache
t0=$(now_ms)
while kill -0 "$RPID" 2>/dev/null; do
	[ $(($(now_ms) - t0)) -lt $((lim + 5000)) ] || fail "the reader is still reading $((lim + 5000)) ms after the cut: $(cat "$T/reader.prog")"
	sleep 0.05
done
read -r kind ename _ bytes tend etext <"$T/reader.prog" || fail "no result from the reader: $(cat "$T/reader.out")"
[ "$kind" = ERR ] || fail "the reader did not fail after the cut: $(cat "$T/reader.prog")"
el=$("$PY" -c "print(int(($tend - $TCUT) * 1000))")
echo "  reader: $ename ($etext) after $((bytes >> 20)) MiB, $el ms after the cut"
[ "$el" -le "$lim" ] || fail "the reader got $ename only $el ms after the cut (limit $lim ms = timeout + 3 heartbeats + 3 s)"
case $ename in
ETIMEDOUT | EHOSTDOWN) ;;
*) fail "the reader got $ename ($etext), wanted ETIMEDOUT or EHOSTDOWN" ;;
esac
ok "the reader gets $ename $el ms after the cut"

wait_thawed "$P" 5 n2
ok "process $P on n2 is thawed"
wait_states 3 down n1:n2 n2:n1 || fail "the nodes do not see each other down with the link cut"

on n1 ip link set dev eth0 up || fail "cannot restore the link"
cluster_wait_up 10
timeout 10 ls "${MNT[n1]}/n2/" 2>&1 | grep -qx "$P" || fail "pid $P not listed in ${MNT[n1]}/n2/ after the link is back"
ok "link back: n1 and n2 reconnect"
exit 0
