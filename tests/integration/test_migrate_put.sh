#!/bin/bash
# SPDX-License-Identifier: MIT
# A checkpoint file restarted on another node: `cp job.core /clondike/n2/`
# run on n1 or n3 (issue 15; namespaced nodes of contrib/clondike-sim):
#  - root's compute loop, checkpointed on n1, restarted on n2 from n3: it
#    counts on in its output file;
#  - 64 MiB of random memory and a private file mapping, restarted on n2
#    from n1 under a name: the program verifies itself (PASS);
#  - an unprivileged user restarts their own checkpoint on n2, where it
#    runs with their uid; root's checkpoint written by that user is
#    refused (EPERM), and nothing of it runs;
#  - bad input fails the close with an errno and n2 logs the reason: bytes
#    that are no image, a truncated image;
#  - n2 down: EHOSTDOWN at once; n2's daemon stopped while the image is
#    sent: the close fails, and once resumed n2 drops what it had buffered;
#  - nothing is left in either daemon (no buffer memfd).
. "$(dirname "$0")/cluster_lib.sh"

for p in demo_counter rst_mem; do
	[ -x "$CLD_PROGS/$p" ] || skip "$p is not built"
done
. "$(dirname "$0")/user_lib.sh"
test_user
sim_up 3
cluster_wait_up 15
chmod 777 "$T"
ok "3 namespaced nodes up"

# ckpt NODE PID FILE [USER]: checkpoint PID of NODE into FILE, then kill it.
ckpt() {
	local node=$1 p=$2 f=$3
	if [ -n "${4:-}" ]; then
		on "$node" setpriv --reuid="$4" --regid="$4" --init-groups \
			cp "/clondike/$node/$p" "$f" || fail "checkpoint of $p as $4"
	else
		on "$node" cp "/clondike/$node/$p" "$f" || fail "checkpoint of $p"
	fi
	on "$node" kill -9 "$p"
	for _ in $(seq 100); do [ -d "${PROCD[$node]}/$p" ] || return 0; sleep 0.05; done
	fail "$p still runs on $node after kill -9"
}

# restarted_pid NODE NAME: the pid NODE's daemon logged for the image NAME
# it sent ("NAME: sent to n2 (...), restarted there as pid Q").
restarted_pid() {
	wait_for "$T/sim/$1.log" "$2: sent to n2 ([0-9]* KiB), restarted there as pid" 10
	sed -n "s/.*$2: sent to n2 ([0-9]* KiB), restarted there as pid \([0-9]*\).*/\1/p" \
		"$T/sim/$1.log" | tail -1
}

# in_memfds NODE: buffer memfds held by NODE's daemon.
in_memfds() {
	local dp
	dp=$(on "$1" pgrep -x clondiked) || fail "no daemon on $1"
	find "${PROCD[$1]}/$dp/fd" -lname '*clondike-in-*' 2>/dev/null | wc -l
}

# ---- Root's compute loop, from a third node -----------------------------------
spawn_on n1 "$T/c.out" "$CLD_PROGS/demo_counter"
C=$SPAWNED
wait_for "$T/c.out" "count 2 "
ckpt n1 "$C" "$T/c.core"
n=$(wc -l <"$T/c.out")
on n3 cp "$T/c.core" /clondike/n2/ 2>"$T/err" || fail "cp c.core to n2 on n3: $(cat "$T/err")"
Q=$(restarted_pid n3 c.core)
[ -d "${PROCD[n2]}/$Q" ] || fail "pid $Q is not a process of n2"
grep -q "demo_counter" "${PROCD[n2]}/$Q/cmdline" || fail "pid $Q on n2 is not demo_counter"
wait_for "$T/c.out" "count $((n + 2)) "
demo_check "$T/c.out" || fail "demo_counter self-check after its restart on n2"
grep -q "n3:c.core: restarted as pid $Q" "$T/sim/n2.log" || fail "no log line on n2"
ok "root's checkpoint, copied into /clondike/n2/ on n3: counts on as pid $Q of n2"

# ---- Memory and a file mapping, from the node it came from, under a name -----
head -c $((64 * 4096)) /dev/urandom >"$T/mem.data"
mkfifo "$T/mem.ctl"
spawn_on n1 "$T/mem.out" "$CLD_PROGS/rst_mem" "$T/mem.res" "$T/mem.ctl" 64 "$T/mem.data"
M=$SPAWNED
wait_for "$T/mem.res" '^READY' 60
ckpt n1 "$M" "$T/mem.core"
: >"$T/mem.res"
on n1 cp "$T/mem.core" /clondike/n2/memjob 2>"$T/err" || fail "cp mem.core: $(cat "$T/err")"
Q=$(restarted_pid n1 memjob)
echo check >"$T/mem.ctl"
wait_for "$T/mem.res" '^PASS\|^FAIL' 60
grep -q '^PASS' "$T/mem.res" || fail "rst_mem on n2: $(cat "$T/mem.res")"
ok "64 MiB and a private file mapping, restarted on n2 from n1 as pid $Q: $(grep '^PASS' "$T/mem.res")"

# ---- An unprivileged user ----------------------------------------------------------
install -o "$U" -m 644 /dev/null "$T/u.out"
spawn_on n1 "$T/u.out" setpriv --reuid="$U" --regid="$U" --init-groups "$CLD_PROGS/demo_counter"
UP=$SPAWNED
wait_for "$T/u.out" "count 2 "
ckpt n1 "$UP" "$T/u.core" "$U"
n=$(wc -l <"$T/u.out")
on n3 setpriv --reuid="$U" --regid="$U" --init-groups cp "$T/u.core" /clondike/n2/ \
	2>"$T/err" || fail "the user's cp of their checkpoint: $(cat "$T/err")"
Q=$(restarted_pid n3 u.core)
[ "$(stat -c %u "${PROCD[n2]}/$Q")" = "$UID_U" ] || fail "pid $Q on n2 is not the user's"
wait_for "$T/u.out" "count $((n + 2)) "
demo_check "$T/u.out" || fail "the user's counter self-check on n2"
ok "the user restarts their checkpoint on n2: pid $Q, uid $UID_U"

counters() { on n2 pgrep -c -x demo_counter || true; }
before=$(counters)
chmod 644 "$T/c.core"
on n3 setpriv --reuid="$U" --regid="$U" --init-groups cp "$T/c.core" /clondike/n2/rootjob \
	2>"$T/err" && fail "the user restarted root's checkpoint on n2"
grep -q "Operation not permitted" "$T/err" || fail "root's image as the user: $(cat "$T/err")"
grep -q "refused image n3:rootjob (uid $UID_U)" "$T/sim/n2.log" || fail "no reason in n2's log"
# (a refused restore's half-built process may take a moment to be reaped)
for _ in $(seq 50); do [ "$(counters)" = "$before" ] && break; sleep 0.1; done
[ "$(counters)" = "$before" ] || fail "n2 has $(counters) demo_counters after a refusal, not $before"
ok "root's checkpoint, written by the user: $(head -1 "$T/err"); n2 says $(
	grep -o "refused image n3:rootjob.*" "$T/sim/n2.log" | head -1 | cut -c1-100)"

# ---- Bad input ------------------------------------------------------------------------
head -c 300000 /dev/urandom >"$T/junk.core"
on n3 cp "$T/junk.core" /clondike/n2/ 2>"$T/err" && fail "junk restarted"
grep -q "refused image n3:junk.core (uid 0): not an ELF file" "$T/sim/n2.log" ||
	fail "junk: no reason in n2's log ($(cat "$T/err"))"
ok "bytes that are no image: $(head -1 "$T/err")"
head -c $(($(stat -c %s "$T/c.core") / 2)) "$T/c.core" >"$T/half.core"
on n3 cp "$T/half.core" /clondike/n2/ 2>"$T/err" && fail "a truncated image restarted"
grep -q "refused image n3:half.core" "$T/sim/n2.log" || fail "half: no reason in n2's log"
ok "a truncated image: $(head -1 "$T/err")"

# ---- n2 down, or stopped while the image is on its way ----------------------------
cluster_stop n2
on n3 cp "$T/c.core" /clondike/n2/ 2>"$T/err" && fail "restarted on a node that is down"
grep -q "Host is down" "$T/err" || fail "n2 down: $(cat "$T/err")"
ok "n2 down: $(head -1 "$T/err")"
cluster_start n2
cluster_wait_up 15

sim signal n2 STOP
on n3 cp "$T/mem.core" /clondike/n2/ 2>"$T/err" && fail "cp succeeded with n2's daemon stopped"
sim signal n2 CONT
ok "n2's daemon stopped during the send: $(head -1 "$T/err")"
cluster_wait_up 15
# What n2 had buffered goes with the connection, or when nothing more comes.
for _ in $(seq 200); do [ "$(in_memfds n2)" = 0 ] && break; sleep 0.1; done
[ "$(in_memfds n2)" = 0 ] || fail "n2 still buffers the image sent while it was stopped"
[ -z "$(on n2 pgrep -x rst_mem)" ] || fail "the image sent to a stopped n2 runs there"
why=$(grep -o "n3:mem.core: \(nothing\|its sender\).*" "$T/sim/n2.log" | head -1)
ok "n2 keeps nothing of it (${why:-its request never reached it})"

# ---- Nothing left behind -------------------------------------------------------------
for node in n1 n2 n3; do
	[ "$(in_memfds $node)" = 0 ] || fail "$node's daemon still holds $(in_memfds $node) buffers"
done
ok "no buffer is left in any daemon"
echo "PASS"
