#!/bin/bash
# SPDX-License-Identifier: MIT
# A peer that goes away (two namespaced nodes, contrib/clondike-sim; the
# process looked at runs on n2):
#  - n2's daemon killed (SIGKILL, its mount unmounted): ls MOUNT1/n2/ fails
#    within 5 s with "Host is down" or "Connection timed out", n1 logs
#    "peer n2 down"; n2 restarted: within a few seconds ls works again;
#  - n2's daemon stopped (SIGSTOP: the connection stays open but nothing
#    answers): ls MOUNT1/n2/ fails within timeout + 3 heartbeats + slack
#    with "Host is down" or "Connection timed out", n2 turns down on n1
#    (3 missed heartbeats), then ls says "Host is down" at once; SIGCONT
#    and it comes back.
. "$(dirname "$0")/cluster_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
sim_up 2
cluster_wait_up 15
L1=${LOGF[n1]}
spawn_on n2 "$T/demo.out" "$CLD_PROGS/demo_counter"
P=$SPAWNED
wait_for "$T/demo.out" "count 1 "
timeout 10 ls "${MNT[n1]}/n2/" >"$T/ls.out" 2>&1 || fail "ls ${MNT[n1]}/n2/: $(cat "$T/ls.out")"
grep -qx "$P" "$T/ls.out" || fail "pid $P not in ${MNT[n1]}/n2/"
ok "n1 and n2 up, ls n1:/n2/ lists $P"

# ls_fails_within MS WHAT: poll ls MOUNT1/n2/ (each bounded by timeout 10)
# until it fails; fail the test unless it does within MS of $T0 with an
# allowed errno text.
ls_fails_within() {
	local limit=$1 what=$2 err rc el
	while :; do
		err=$(errtext ls "${MNT[n1]}/n2/")
		rc=$?
		el=$(($(now_ms) - T0))
		[ "$rc" = 124 ] && fail "$what: ls ${MNT[n1]}/n2/ hangs (10 s)"
		[ "$rc" != 0 ] && break
		[ "$el" -lt "$limit" ] || fail "$what: ls ${MNT[n1]}/n2/ still works ${el} ms later"
		sleep 0.05
	done
	[ "$el" -le "$limit" ] || fail "$what: ls ${MNT[n1]}/n2/ failed only after $el ms (limit $limit): $err"
	grep -Eq "Host is down|Connection timed out" <<<"$err" ||
		fail "$what: ls ${MNT[n1]}/n2/: '$err', wanted 'Host is down' or 'Connection timed out'"
	ok "$what: ls n1:/n2/ fails after $el ms: ${err##*: }"
}

# 1. A dead peer.
downs=$(grep -c "peer n2 down" "$L1")
sim signal n2 KILL || fail "clondike-sim signal n2 KILL"
T0=$(now_ms)
sim stop n2 >>"$T/sim.out" 2>&1 || fail "clondike-sim stop n2 (unmount) after kill -9"
ls_fails_within 5000 "n2 killed"
t0=$(now_ms)
while [ "$(grep -c "peer n2 down" "$L1")" -le "$downs" ]; do
	[ $(($(now_ms) - t0)) -lt 3000 ] || fail "n1 did not log 'peer n2 down'"
	sleep 0.1
done
[ "$(node_state n1 n2)" = down ] || fail "n2 (killed) is '$(node_state n1 n2)' on n1"
ok "n1 logs 'peer n2 down', state down"

sleep 2 # let n1's redial back-off grow
cluster_start n2
T0=$(now_ms)
while :; do
	timeout 10 ls "${MNT[n1]}/n2/" >"$T/ls.out" 2>&1 && break
	[ $(($(now_ms) - T0)) -lt 6000 ] || fail "ls ${MNT[n1]}/n2/ still fails 6 s after n2 restarted: $(cat "$T/ls.out")"
	sleep 0.1
done
grep -qx "$P" "$T/ls.out" || fail "pid $P not listed after n2 restarted"
ok "ls n1:/n2/ works again $(($(now_ms) - T0)) ms after n2 restarted"
wait_states 3 up n1:n2 n2:n1 || fail "n1 <-> n2 not up after the restart"
grep -q "peer n2 up" "$L1" || fail "n1 never logged 'peer n2 up'"

# 2. A hung peer: only the heartbeat (or the request timeout) can tell.
lim=$((CLU_TIMEOUT + 3 * CLU_HEARTBEAT + 1500))
sim signal n2 STOP || fail "clondike-sim signal n2 STOP"
T0=$(now_ms)
ls_fails_within "$lim" "n2 stopped"
wait_states $(((lim + 999) / 1000)) down n1:n2 || fail "n2 (stopped) is not down on n1"
ok "n2 (stopped) is down on n1 after $(($(now_ms) - T0)) ms"
err=$(errtext ls "${MNT[n1]}/n2/")
grep -q "Host is down" <<<"$err" || fail "once n2 is down, ls ${MNT[n1]}/n2/: '$err', wanted 'Host is down' at once"
[ -d "${MNT[n1]}/n2" ] || fail "${MNT[n1]}/n2 does not stat as a directory while n2 is down"
sim signal n2 CONT || fail "clondike-sim signal n2 CONT"
wait_states 8 up n1:n2 n2:n1 || fail "n2 does not come back up after SIGCONT"
timeout 10 ls "${MNT[n1]}/n2/" >/dev/null 2>"$T/ls.err" || fail "ls ${MNT[n1]}/n2/ after SIGCONT: $(cat "$T/ls.err")"
ok "after SIGCONT n2 is up again and ls n1:/n2/ works"

exit 0
