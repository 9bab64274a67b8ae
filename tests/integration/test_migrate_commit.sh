#!/bin/bash
# SPDX-License-Identifier: MIT
# The commit of a migration (issue 15, docs/migration.md "The commit"),
# between namespaced nodes, with faults injected into n1's daemon
# (clondiked --limit test-...=1):
#  - normally n2 holds the restored guest until n1's COMMIT, then runs it;
#  - the COMMIT is lost: n2 asks n1 (QUERY), is told "committed", and the
#    guest counts on on n2; the original is n1's shadow;
#  - n2's answer is lost: n1 lets the original run on and cp fails; n2
#    asks, is told "not committed", and kills its guest: one copy, on n1;
#  - n1's daemon dies after the commit, before n2 heard of it: the
#    original dies with it (its shadow); n2 asks the restarted daemon,
#    which answers from the original being gone: the guest runs on n2;
#  - n1's daemon dies after letting the original run on: n2 asks the
#    restarted daemon, which finds the original alive: the guest is killed.
# Never two copies, and none lost where one could be kept.
. "$(dirname "$0")/cluster_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

# counter NAME: a demo_counter on n1, counting; C is its pid.
counter() {
	spawn_on n1 "$T/$1.out" "$CLD_PROGS/demo_counter"
	C=$SPAWNED
	wait_for "$T/$1.out" "count 2 "
}

# counting NAME: its output grows by two lines (it runs somewhere).
counting() {
	local n
	n=$(wc -l <"$T/$1.out")
	wait_for "$T/$1.out" "count $((n + 2)) " 20
	demo_check "$T/$1.out" || fail "$1: demo_counter self-check"
}

# n1_daemon LIMITS: restart n1's daemon with those test faults ("" none).
n1_daemon() {
	cluster_stop n1
	CLU_LIMITS=$1 cluster_start n1
	cluster_wait_up 15
}

# on_n2 PID: whether n2 has a demo_counter with that pid.
on_n2() { grep -qs demo_counter "${PROCD[n2]}/$1/cmdline"; }

guest_of() { xattr "${MNT[n1]}/n1/$1" user.clondike.guest_pid; }

# ---- Normally: held, then committed -------------------------------------------
counter a
on n1 cp "/clondike/n1/$C" /clondike/n2/ 2>"$T/err" || fail "cp: $(cat "$T/err")"
G=$(guest_of "$C") || fail "no guest_pid on the shadow"
grep -q "guest n1:$C restored here as pid $G (lazy), held until its home commits" \
	"$T/sim/n2.log" || fail "n2 did not hold the guest"
grep -q "guest n1:$C runs here as pid $G (committed)" "$T/sim/n2.log" ||
	fail "n2 did not run the guest on COMMIT"
counting a
ok "n2 held guest $G until n1's COMMIT, then ran it"

# ---- The COMMIT lost ---------------------------------------------------------------
n1_daemon test-drop-commit=1
counter b
on n1 cp "/clondike/n1/$C" /clondike/n2/ 2>"$T/err" || fail "cp (COMMIT lost): $(cat "$T/err")"
G=$(guest_of "$C") || fail "no guest_pid on the shadow"
wait_for "$T/sim/n2.log" "guest n1:$C runs here as pid $G (committed, as its home said when asked)" 10
grep -q "n2 asks about guest $G of $C: committed" "$T/sim/n1.log" || fail "n1 was not asked"
[ "$(xattr "${MNT[n1]}/n1/$C" user.clondike.state)" = migrated ] || fail "$C is not a shadow"
counting b
on_n2 "$G" || fail "the guest is not on n2"
ok "COMMIT lost: n2 asked n1 and ran guest $G; $C is its shadow"

# ---- n2's answer lost ------------------------------------------------------------------
n1_daemon test-lose-ready=1
counter c
on n1 cp "/clondike/n1/$C" /clondike/n2/ 2>"$T/err" && fail "cp succeeded with n2's answer lost"
wait_thawed "$C" 5 n1
[ "$(xattr "${MNT[n1]}/n1/$C" user.clondike.state)" = running ] || fail "$C does not run on n1"
wait_for "$T/sim/n2.log" "guest n1:$C (pid [0-9]*) killed before it ran: its home says the migration did not commit" 10
G=$(sed -n "s/.*guest n1:$C (pid \([0-9]*\)) killed before it ran.*/\1/p" "$T/sim/n2.log" | tail -1)
for _ in $(seq 50); do on_n2 "$G" || break; sleep 0.1; done
on_n2 "$G" && fail "the held guest $G still exists on n2"
counting c
ok "answer lost: cp failed ($(head -1 "$T/err")), $C runs on at n1, n2 killed its held guest $G"

# ---- n1's daemon dies after the commit, before n2 heard of it -----------------------
n1_daemon test-drop-commit=1
counter d
on n1 cp "/clondike/n1/$C" /clondike/n2/ 2>"$T/err" || fail "cp: $(cat "$T/err")"
G=$(guest_of "$C") || fail "no guest_pid on the shadow"
cluster_stop n1 KILL # within the 2 s before n2 asks
for _ in $(seq 50); do [ -d "${PROCD[n1]}/$C" ] || break; sleep 0.1; done
[ -d "${PROCD[n1]}/$C" ] && fail "the shadow $C outlived its daemon"
on_n2 "$G" || fail "the held guest $G is gone before anybody was asked"
cluster_start n1
cluster_wait_up 15
wait_for "$T/sim/n2.log" "guest n1:$C runs here as pid $G (committed, as its home said when asked)" 15
grep -q "n2 asks about guest $G of $C, decided by this node's previous daemon: the original is gone, so committed" \
	"$T/sim/n1.log" || fail "n1's new daemon did not answer from the original"
counting d
ok "n1's daemon died in the commit: its original with it; the new daemon said committed, guest $G counts on n2"

# ---- n1's daemon dies after letting the original run on ------------------------------
n1_daemon test-lose-ready=1
counter e
on n1 cp "/clondike/n1/$C" /clondike/n2/ 2>"$T/err" && fail "cp succeeded with n2's answer lost"
cluster_stop n1 KILL # within the 2 s before n2 asks
cluster_start n1
cluster_wait_up 15
wait_for "$T/sim/n2.log" "guest n1:$C (pid [0-9]*) killed before it ran: its home says the migration did not commit" 15
grep -q "decided by this node's previous daemon: the original runs here, so not committed" \
	"$T/sim/n1.log" || fail "n1's new daemon did not find the original"
counting e
[ -d "${PROCD[n1]}/$C" ] || fail "the original $C is gone from n1"
ok "n1's daemon died after letting $C run on: the new daemon said not committed; n2 killed its guest"
echo "PASS"
