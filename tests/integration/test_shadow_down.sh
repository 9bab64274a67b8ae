#!/bin/bash
# SPDX-License-Identifier: MIT
# A shadow and its guest when daemons or the link go away (issue 16,
# docs/shadow.md), between namespaced nodes, with guest-lost-ms=6000:
#  - the guest's node unreachable (its link cut) for longer than that: the
#    shadow is killed, its parent's wait() says SIGKILL: no copy that hangs;
#  - the guest's daemon killed and restarted: the new daemon does not know
#    the guest, so the shadow is killed once the link is back;
#  - the guest ends while its link is cut, and the link comes back in time:
#    its end is told home then, and the parent gets its exit code;
#  - a pipeline at home through a migrated cat whose link is cut for 3 s
#    mid-stream: the forwarded fds wait and resume, every byte arrives in
#    order (equal checksums), the pipeline's status is 0;
#  - home's daemon killed: the shadow dies with it (SIGKILL to the parent)
#    and the guest computes on (the migration issue).
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/shadow_lib.sh"

[ -x "$CLD_PROGS/sh_job" ] || skip "sh_job is not built"
CLU_LIMITS="guest-lost-ms=6000"
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

# job NAME MODE: start_job (shadow_lib.sh), migrated to n2 (GUEST).
job() {
	start_job "$@"
	on n1 cp "/clondike/n1/$JOB" /clondike/n2/ 2>"$T/mig.err" || fail "cp: $(cat "$T/mig.err")"
	GUEST=$(xattr "${MNT[n1]}/n1/$JOB" user.clondike.guest_pid) || fail "no guest_pid"
}
link() { on n2 ip link set dev eth0 "$1"; }

# ---- The link cut for good -----------------------------------------------------------
job cut exit:0
t0=$(date +%s)
link down
wait_for "$T/cut.st" . 30
s=$(($(date +%s) - t0))
link up
[ "$(cat "$T/cut.st")" = 9 ] || fail "link cut: the parent got status $(cat "$T/cut.st")"
grep -q "shadow $JOB: its guest n2:$GUEST was not reachable in time" "$T/sim/n1.log" ||
	fail "link cut: no log line"
on n2 kill -9 "$GUEST" 2>/dev/null || true # the guest, cut off from its home, ran on
cluster_wait_up 30
ok "link cut: after ${s} s the shadow was killed (the parent's wait() says SIGKILL)"

# ---- The guest's daemon killed and restarted ------------------------------------------
job bdown exit:0
cluster_stop n2 KILL
cluster_start n2
cluster_wait_up 30
wait_for "$T/bdown.st" . 20
[ "$(cat "$T/bdown.st")" = 9 ] || fail "n2's daemon restarted: status $(cat "$T/bdown.st")"
grep -q "shadow $JOB: its guest n2:$GUEST is not known there any more" "$T/sim/n1.log" ||
	fail "n2's daemon restarted: no log line"
on n2 kill -9 "$GUEST" 2>/dev/null || true
ok "n2's daemon killed and restarted: the shadow was killed once n2 said it does not know the guest"

# ---- The guest ends during a cut ---------------------------------------------------------
job late exit:7
link down
sleep 3 # n1 has noticed (heartbeat timeout)
on n2 kill -USR2 "$GUEST" # it ends with 7 while its home is cut off
sleep 0.5
[ -s "$T/late.st" ] && fail "the shadow ended while the link was cut"
link up
wait_for "$T/late.st" . 20
[ "$(cat "$T/late.st")" = $((7 << 8)) ] || fail "end told late: status $(cat "$T/late.st")"
ok "the guest ended during a 3.5 s cut: its exit code (7) reached the parent once the link was back"

# ---- A pipeline through a cut ---------------------------------------------------------------
head -c $((48 << 20)) /dev/urandom >"$T/data"
want=$(sha256sum <"$T/data" | cut -d' ' -f1)
# 1 MiB, then (after "go") the rest at about 16 MiB/s: the cut falls mid-stream.
pipeline cutp "$T/data" 0.06
sleep 0.5
on n1 cp "/clondike/n1/$CAT" "/clondike/n2/cut$CAT" 2>"$T/mig.err" || fail "cp of cat: $(cat "$T/mig.err")"
touch "$T/cutp.go"
sleep 0.7
link down
sleep 3 # both daemons notice (heartbeat timeout); the fds wait
[ -s "$T/cutp.sum.st" ] && fail "the pipeline ended during the cut: $(cat "$T/cutp.sum.st")"
link up
wait_for "$T/cutp.sum.st" status 60
got=$(cut -d' ' -f1 <"$T/cutp.sum")
[ "$got" = "$want" ] || fail "pipeline through a cut: sha256 $got, the data's is $want"
grep -q "status 0 0 0" "$T/cutp.sum.st" || fail "pipeline through a cut: $(cat "$T/cutp.sum.st")"
grep -q "forwarded fd [0-9]*: n1 is down; it waits for it" "$T/sim/n2.log" ||
	fail "n2 did not hold its forwarded fds"
again=$(grep -ho "n[12] is back; [0-9]* bytes sent again" "$T/sim/n1.log" "$T/sim/n2.log" |
	awk '{s += $4} END {print s + 0}')
ok "48 MiB through a migrated cat with a 3 s cut: equal checksums, $(cat "$T/cutp.sum.st"); $again bytes sent again after the cut"

# ---- Home's daemon killed ------------------------------------------------------------------
job adown exit:0
cluster_stop n1 KILL
wait_for "$T/adown.st" . 10
[ "$(cat "$T/adown.st")" = 9 ] || fail "n1's daemon killed: status $(cat "$T/adown.st")"
[ -d "${PROCD[n2]}/$GUEST" ] || fail "n1's daemon killed: the guest died too"
on n2 kill -USR1 "$GUEST"
wait_for "$T/adown.res" '^USR1 1' 5
ok "n1's daemon killed: the shadow died with it (SIGKILL), the guest runs on on n2"
exit 0
