#!/bin/bash
# SPDX-License-Identifier: MIT
# Credentials travel with remote requests and the serving node applies its
# local rules (two namespaced nodes, contrib/clondike-sim; the processes run
# on n2): an unprivileged user on n1 lists only their own processes under
# n1's view of n2, gets EACCES on root's, and copies their own; root copies
# anything.  A second remote cp of one frozen image is served from
# n1's cache (no new chunk crosses the wire), and a new freeze is fetched
# afresh.
. "$(dirname "$0")/cluster_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
. "$(dirname "$0")/user_lib.sh"
test_user
# as_user CMD...: CMD as the test user on n1.
as_user() { on n1 setpriv --reuid="$U" --regid="$U" --init-groups "$@"; }
stat_of() { xattr "${MNT[n1]}" user.clondike.stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }

sim_up 2
cluster_wait_up 15
mkdir "$T/u"
chmod 777 "$T/u"

spawn_on n2 "$T/root.out" "$CLD_PROGS/demo_counter"
RP=$SPAWNED
spawn_on n2 "$T/u/user.out" setpriv --reuid="$U" --regid="$U" --init-groups "$CLD_PROGS/demo_counter"
UP=$SPAWNED
wait_for "$T/root.out" "count 2 "
wait_for "$T/u/user.out" "count 2 "
[ "$(awk '/^Uid:/ {print $2}' "${PROCD[n2]}/$UP/status")" = "$UID_U" ] || fail "n2's process $UP is not the user's"
R=${MNT[n1]}/n2 # n1's view of n2, from here (root)
RU=/clondike/n2 # the same, for the user on n1

as_user timeout 10 ls "$RU" >"$T/u/list" 2>"$T/u/err" || fail "user on n1 cannot list $RU: $(cat "$T/u/err")"
grep -qx "$UP" "$T/u/list" || fail "user does not see their own process in $R"
grep -qx "$RP" "$T/u/list" && fail "user sees root's process in $R"
timeout 10 ls "$R" | grep -qx "$RP" || fail "root does not see its process in $R"
ok "through n1, the user lists only their own processes on n2 ($(wc -l <"$T/u/list") entries)"

[ "$(stat -c %u "$R/$UP")" = "$UID_U" ] || fail "remote image of $UP not owned by $UID_U"
as_user timeout 10 cat "$RU/$RP" >/dev/null 2>"$T/u/err" && fail "user read root's process through n1"
grep -q "Permission denied" "$T/u/err" || fail "not EACCES: $(cat "$T/u/err")"
proc_thawed "$RP" n2 || fail "root's process left frozen by a refused open"
ok "EACCES on root's process through n1: $(cat "$T/u/err")"

as_user timeout 30 cp "$RU/$UP" "$T/u/own.img" 2>"$T/u/err" || {
	grep -q "prlimit.*Operation not permitted" "${LOGF[n2]}" &&
		skip "the freezer needs CAP_SYS_RESOURCE for another uid's process"
	fail "user cannot copy their own process through n1: $(cat "$T/u/err")"
}
timeout 60 "$CLD_BIN" verify "$T/u/own.img" >/dev/null 2>&1 || fail "user's remote copy does not verify"
grep -q "uid $UID_U may not" "${LOGF[n2]}" && fail "n2 refused the user's own process"
ok "the user copies their own process through n1, it verifies"

# The cache: one freeze held on n2, two remote reads; the second one moves
# no chunk over the network.
exec 3<"${MNT[n2]}/n2/$RP" || fail "open on n2"
f0=$(stat_of chunk_fetches)
timeout 30 cp "$R/$RP" "$T/a.img" || fail "first remote cp"
f1=$(stat_of chunk_fetches)
h1=$(stat_of chunk_hits)
timeout 30 cp "$R/$RP" "$T/b.img" || fail "second remote cp"
f2=$(stat_of chunk_fetches)
h2=$(stat_of chunk_hits)
cmp -s "$T/a.img" "$T/b.img" || fail "the two remote copies differ"
[ "$f1" -gt "$f0" ] || fail "the first remote cp fetched nothing (chunk_fetches $f0 -> $f1)"
[ "$f2" = "$f1" ] || fail "the second remote cp fetched again (chunk_fetches $f1 -> $f2)"
[ "$h2" -gt "$h1" ] || fail "the second remote cp had no cache hit"
exec 3<&-
wait_thawed "$RP" 5 n2
# A new freeze: the cache must not serve the old one's bytes.
timeout 30 cp "$R/$RP" "$T/c.img" || fail "remote cp after a new freeze"
f3=$(stat_of chunk_fetches)
[ "$f3" -gt "$f2" ] || fail "a new freeze was served from the old freeze's cache"
cmp -s "$T/a.img" "$T/c.img" && fail "a later freeze of a running counter gave the same bytes"
ok "cache: $((f1 - f0)) chunks fetched, then 0 for the same freeze, $((f3 - f2)) for a new one"
exit 0
