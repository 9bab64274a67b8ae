#!/bin/bash
# SPDX-License-Identifier: MIT
# The cluster key keeps strangers out:
#  - n2 holds another key than n1 and n3: a node with the right key logs
#    "authentication failed", n2 stays down on n1 and n3 (and they on n2),
#    ls MOUNT1/n2/ fails with "Host is down", n1 <-> n3 are up;
#  - a key file of mode 0644 or 0640 (or too short) and clondiked refuses to
#    start, saying "cluster key";
#  - raw garbage clients (random frames, a bad HELLO, another protocol
#    version, a HELLO with a forged AUTH, a huge length, a client that
#    sends half a header and waits) are dropped, and the daemons keep
#    serving: links stay up, a restarted node reconnects;
#  - SIGHUP after n2's config gets the right key brings n2 up.
# (Daemons on loopback, not namespaced nodes: n2 needs a key and a
# configuration file of its own, and the garbage clients reach the ports
# from here.)
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
head -c 64 /dev/urandom >"$T/other.key"
chmod 600 "$T/other.key"
KEYF[n2]=$T/other.key
cluster_write_confs
cluster_start_all

wait_states 10 up n1:n3 n3:n1 || fail "n1 and n3 (same key) do not come up"
t0=$(now_ms)
while ! grep -qs "authentication failed" "$T/n1.log" "$T/n3.log"; do
	[ $(($(now_ms) - t0)) -lt 5000 ] || fail "no 'authentication failed' in the logs of n1 or n3 within 5 s"
	sleep 0.1
done
ok "$(grep -ls "authentication failed" "$T/n1.log" "$T/n3.log" | xargs -n1 basename | tr '\n' ' ')has 'authentication failed'"
grep -qs "authentication failed" "$T/n2.log" && echo "  (n2, the node with the wrong key, logs it too)"

# n2 never comes up: sample for 3 s (many redials at 100 ms..2 s back-off).
for _ in $(seq 30); do
	for pair in n1:n2 n3:n2 n2:n1 n2:n3; do
		s=$(node_state "${pair%%:*}" "${pair#*:}") || fail "no state xattr on ${pair%%:*}:${pair#*:}"
		[ "$s" = down ] || fail "state of ${pair#*:} seen from ${pair%%:*}: '$s' (wrong key), wanted down"
	done
	sleep 0.1
done
for pair in n1:n3 n3:n1; do
	[ "$(node_state "${pair%%:*}" "${pair#*:}")" = up ] || fail "$pair went down meanwhile"
done
err=$(errtext ls "${MNT[n1]}/n2/")
rc=$?
[ "$rc" != 0 ] || fail "ls ${MNT[n1]}/n2/ succeeds although n2 has another key"
[ "$rc" != 124 ] || fail "ls ${MNT[n1]}/n2/ hangs (10 s)"
grep -q "Host is down" <<<"$err" || fail "ls ${MNT[n1]}/n2/: '$err', wanted 'Host is down'"
e=$(xattr "${MNT[n1]}/n2" user.clondike.error) && echo "  user.clondike.error of n2 on n1: $e"
timeout 10 ls "${MNT[n1]}/n3/" >/dev/null 2>"$T/ls.err" || fail "ls ${MNT[n1]}/n3/: $(cat "$T/ls.err")"
ok "n2 (wrong key) stays down for 3 s, ls n1:/n2/ says 'Host is down'; n1 <-> n3 up"

# Key files the daemon must refuse.
try_key() { # try_key WHAT: start a spare daemon with $T/bad.key, must fail
	local rc
	mkdir -p "$T/mnt-bad"
	sed "s|^key .*|key $T/bad.key|" "${CONF[n2]}" >"$T/bad.conf"
	timeout 10 "$CLDD" -f --config "$T/bad.conf" --node n2 "$T/mnt-bad" >"$T/bad.out" 2>&1 </dev/null
	rc=$?
	if grep -qs " $T/mnt-bad " /proc/mounts; then
		fusermount3 -u "$T/mnt-bad" 2>/dev/null || fusermount3 -uz "$T/mnt-bad"
	fi
	[ "$rc" = 124 ] && fail "clondiked with $1 did not refuse to start (still running after 10 s): $(head -3 "$T/bad.out")"
	[ "$rc" != 0 ] || fail "clondiked with $1 exited 0: $(head -3 "$T/bad.out")"
	echo "  $1: exit $rc: $(head -1 "$T/bad.out")"
	RC_BAD=$rc
}
cp "$T/cluster.key" "$T/bad.key"
chmod 644 "$T/bad.key"
try_key "a key file of mode 0644"
grep -q "cluster key" "$T/bad.out" || fail "the refusal of a 0644 key does not say 'cluster key': $(cat "$T/bad.out")"
[ "$RC_BAD" = 1 ] || echo "  NOTE: exit status $RC_BAD, the spec says 1"
chmod 640 "$T/bad.key"
try_key "a key file of mode 0640"
grep -q "cluster key" "$T/bad.out" || fail "the refusal of a 0640 key does not say 'cluster key': $(cat "$T/bad.out")"
rm -f "$T/bad.key"
head -c 16 /dev/urandom >"$T/bad.key"
chmod 600 "$T/bad.key"
try_key "a key file of 16 bytes"
rm -f "$T/bad.key"
try_key "a missing key file"
ok "clondiked refuses keys of mode 0644/0640 ('cluster key'), too short or missing"

# Garbage clients at n1's and n3's ports.
cat >"$T/garbage.py" <<'PY'
import os, socket, struct, sys, time
host, port, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3]
peer = sys.argv[4].encode() if len(sys.argv) > 4 else b"n2"

def hello(version=1, magic=b"CLDK", name=peer):
    return (magic + struct.pack("<HH", version, 0) + name.ljust(64, b"\0")
            + os.urandom(32) + os.urandom(32))

def frame(body):
    return struct.pack("<I", len(body)) + body

cases = [
    ("a frame of 4000 random bytes", frame(os.urandom(4000))),
    ("a HELLO-sized frame of random bytes", frame(os.urandom(136))),
    ("a huge frame length", struct.pack("<I", 0xfffffff0) + os.urandom(1000)),
    ("a HELLO of protocol version 99", frame(hello(version=99))),
    ("a HELLO from an unknown node", frame(hello(name=b"intruder"))),
    ("a HELLO of %s and a forged AUTH" % peer.decode(), frame(hello()) + frame(os.urandom(48))),
    ("a HELLO of %s and a forged 1 MiB frame" % peer.decode(),
     frame(hello()) + frame(os.urandom(1 << 20))),
]
if hold == "hold":
    # Half a header, then nothing: must not stop the daemon serving others.
    conns = []
    for _ in range(3):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"\x88\x00")
        conns.append(s)
    print("holding", flush=True)
    time.sleep(120)
    sys.exit(0)
bad = 0
for what, data in cases:
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=5)
    try:
        s.sendall(data)
    except OSError as e:
        pass  # closed while we were still sending: refused all right
    got, how = 0, None
    s.settimeout(0.2)
    while time.monotonic() - t0 < 5:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError as e:
            how = "reset (%s)" % e.strerror
            break
        if not d:
            how = "closed"
            break
        got += len(d)
    ms = (time.monotonic() - t0) * 1000
    if how:
        print("port %d: %s: %s by the daemon after %.0f ms (it sent %d bytes)"
              % (port, what, how, ms, got))
    else:
        print("port %d: %s: NOT closed by the daemon within 5 s (it sent %d bytes)"
              % (port, what, got))
        bad += 1
    s.close()
sys.exit(1 if bad else 0)
PY
"$PY" "$T/garbage.py" 127.0.0.1 "${PORT[n1]}" hold >"$T/hold1.out" 2>&1 &
KILL_PIDS="$KILL_PIDS $!"
"$PY" "$T/garbage.py" 127.0.0.1 "${PORT[n3]}" hold >"$T/hold3.out" 2>&1 &
KILL_PIDS="$KILL_PIDS $!"
EXTRA_LOGS="$EXTRA_LOGS $T/hold1.out $T/hold3.out"
wait_for "$T/hold1.out" holding 5
wait_for "$T/hold3.out" holding 5
# The forged HELLOs name the other good node (n3 really accepts n1): a
# connection that has not authenticated must not replace the live one.
downs=$(grep -c "peer n[13] down" "$T/n1.log" "$T/n3.log" | awk -F: '{s += $2} END {print s}')
for n in n1 n3; do
	if [ "$n" = n1 ]; then claim=n3; else claim=n1; fi
	timeout 60 "$PY" "$T/garbage.py" 127.0.0.1 "${PORT[$n]}" once "$claim" >"$T/garbage.$n" 2>&1
	rc=$?
	sed 's/^/  /' "$T/garbage.$n"
	[ "$rc" = 0 ] || fail "daemon $n did not drop every garbage client"
	kill -0 "${DPID[$n]}" 2>/dev/null || fail "daemon $n died of garbage clients"
done
grep -qs "protocol version" "$T/n1.log" "$T/n3.log" ||
	fail "a HELLO of version 99 did not log 'protocol version'"
wait_states 3 up n1:n3 n3:n1 || fail "n1 <-> n3 went down after the garbage clients"
downs2=$(grep -c "peer n[13] down" "$T/n1.log" "$T/n3.log" | awk -F: '{s += $2} END {print s}')
[ "$downs2" = "$downs" ] || fail "the n1 <-> n3 link went down during the garbage clients (forged HELLOs of n1/n3 must not replace it)"
timeout 10 ls "${MNT[n1]}/n3/" >/dev/null 2>"$T/ls.err" || fail "ls ${MNT[n1]}/n3/ after garbage: $(cat "$T/ls.err")"
timeout 10 ls "${MNT[n3]}/n1/" >/dev/null 2>"$T/ls.err" || fail "ls ${MNT[n3]}/n1/ after garbage: $(cat "$T/ls.err")"
ok "garbage clients are dropped, 'protocol version' logged, n1 <-> n3 still serve"

# With half-open garbage connections still held on both ports, n3 accepts a
# restarted n1.
cluster_restart n1
wait_states 10 up n1:n3 n3:n1 || fail "restarted n1 does not reconnect to n3 while garbage connections are held"
timeout 10 ls "${MNT[n1]}/n3/" >/dev/null 2>"$T/ls.err" || fail "ls ${MNT[n1]}/n3/ after restart: $(cat "$T/ls.err")"
ok "a restarted n1 reconnects to n3 while idle garbage connections are held open"

# SIGHUP re-reads the config, the key too: n2 gets the cluster key.
KEYF[n2]=$T/cluster.key
cluster_write_conf n2
kill -HUP "${DPID[n2]}"
wait_states 10 up n1:n2 n2:n1 n3:n2 n2:n3 || fail "n2 does not come up after SIGHUP with the right key"
timeout 10 ls "${MNT[n1]}/n2/" >/dev/null 2>"$T/ls.err" || fail "ls ${MNT[n1]}/n2/ after SIGHUP: $(cat "$T/ls.err")"
ok "after SIGHUP with the right key n2 is up everywhere"
exit 0
