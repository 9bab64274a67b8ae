#!/bin/bash
# SPDX-License-Identifier: MIT
# Connection flood (docs/security.md, "Peer connections and fds"): with the
# daemons' fd limit at 1024 (soft and hard, so raising it changes nothing),
# a client keeps up to 2,000 unauthenticated TCP connections open to n2's
# port for a while (loopback; it reopens what n2 closes, at a bounded rate,
# and stops by itself; the handshake timeout is 10 s).  Meanwhile ls of /clondike/n2/ from n1, of
# /clondike/n1/ and /clondike/n2/ from n2 work, both nodes stay up, and n2's
# log shows the cap being applied.
# A long handshake timeout: every accepted connection could be held 10 s.
CLU_TIMEOUT=10000
. "$(dirname "$0")/cluster_lib.sh"

command -v prlimit >/dev/null || skip "prlimit (util-linux) is missing"
"$PY" - <<'PY' || skip "this shell's fd hard limit is too low for a client with 2,000 sockets"
import resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
sys.exit(0 if hard == resource.RLIM_INFINITY or hard >= 2200 else 1)
PY

cluster_init 2
cluster_write_confs
CLU_WRAP[n1]="prlimit --nofile=1024:1024"
CLU_WRAP[n2]="prlimit --nofile=1024:1024"
cluster_start_all
cluster_wait_up
grep -q "fd limit 1024" "$T/n2.log" || fail "n2 does not log its fd limit (1024)"
ok "both nodes up, fd limit 1024"

# The flood: up to CONNS connections held for SECS, at most RATE new ones a
# second once the first burst is out; status lines in $T/flood.out.
cat >"$T/flood.py" <<'PY'
import errno, os, resource, selectors, socket, sys, time
port, conns, secs, rate, status = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
sel = selectors.DefaultSelector()
live = set()
opened = closed = failed = 0
burst = True
after = 0  # opened since the burst, against rate * time since the burst
t_burst = None
end = time.monotonic() + secs
next_report = 0
def report(final=False):
    with open(status, "a") as f:
        f.write("%s live=%d opened=%d closed=%d failed=%d\n" % ("done" if final else "held" if not burst else "burst", len(live), opened, closed, failed))
while time.monotonic() < end:
    budget = conns if burst else int(rate * (time.monotonic() - t_burst)) - after
    while len(live) < conns and budget > 0:
        budget -= 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        r = s.connect_ex(("127.0.0.1", port))
        if r not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            break
        opened += 1
        if not burst:
            after += 1
        live.add(s)
        sel.register(s, selectors.EVENT_READ)
    if burst and (len(live) >= conns or opened >= conns):
        burst = False
        t_burst = time.monotonic()
    for key, _ in sel.select(0.05):
        s = key.fileobj
        try:
            data = s.recv(4096)  # n2's HELLO, or the end
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            live.discard(s)
            s.close()
            closed += 1
    if time.monotonic() >= next_report:
        report()
        next_report = time.monotonic() + 0.5
report(True)
PY

"$PY" "$T/flood.py" "${PORT[n2]}" 2000 15 200 "$T/flood.out" >"$T/flood.err" 2>&1 &
FLOOD=$!
KILL_PIDS="$KILL_PIDS $FLOOD"
EXTRA_LOGS="$EXTRA_LOGS $T/flood.out $T/flood.err"
wait_for "$T/flood.out" "^held" 20
sleep 4 # the flood well under way

for round in 1 2 3; do
	ls "${MNT[n1]}/n2/" >"$T/ls12" 2>"$T/ls12.err" || fail "round $round: ls /clondike/n2/ from n1: $(cat "$T/ls12.err")"
	ls "${MNT[n2]}/n1/" >"$T/ls21" 2>"$T/ls21.err" || fail "round $round: ls /clondike/n1/ from n2: $(cat "$T/ls21.err")"
	ls "${MNT[n2]}/n2/" >"$T/ls22" 2>"$T/ls22.err" || fail "round $round: ls /clondike/n2/ on n2: $(cat "$T/ls22.err")"
	grep -qx "$$" "$T/ls12" || fail "round $round: n1's view of n2 does not list this shell ($$)"
	[ "$(node_state n1 n2)" = up ] || fail "round $round: n1 sees n2 $(node_state n1 n2)"
	[ "$(node_state n2 n1)" = up ] || fail "round $round: n2 sees n1 $(node_state n2 n1)"
	sleep 1
done
open=$(ls "/proc/${DPID[n2]}/fd" | wc -l)
[ "$open" -lt 200 ] || fail "n2 holds $open fds during the flood"
ok "n2 holds $open fds"
kill -0 "$FLOOD" 2>/dev/null || fail "the flood ended too early: $(tail -n 2 "$T/flood.out")"
ok "during the flood ($(tail -n 1 "$T/flood.out")): ls works both ways, nodes up"

grep -q "inbound connections: cap of 32 connections in the handshake reached" "$T/n2.log" ||
	grep -q "inbound connections: cap of [0-9]* inbound connections reached" "$T/n2.log" ||
	fail "n2's log shows no cap message"
n=$(grep -c "inbound connections:" "$T/n2.log")
[ "$n" -le 40 ] || fail "the cap message is not rate limited: $n lines"
ok "n2 logs the cap ($n lines): $(grep -m1 "inbound connections:" "$T/n2.log" | cut -c1-140)"


wait "$FLOOD" 2>/dev/null
grep -q "^done" "$T/flood.out" || fail "the flood client did not finish by itself"
cluster_wait_up 10
ls "${MNT[n1]}/n2/" >/dev/null || fail "ls after the flood"
ok "after the flood: $(tail -n 1 "$T/flood.out"), nodes up"
exit 0
