#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGHUP re-reads the configuration: a node added to n1's file appears under
# n1's mount and comes up; a node removed disappears (ENOENT) and its
# connection goes; a broken file is refused and the old configuration
# stays.
# (Daemons on loopback, not namespaced nodes: n1 needs a configuration file
# of its own.)
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
cluster_write_confs
# n1 starts knowing only n1 and n2.
grep -v "^node n3 " "${CONF[n1]}" >"$T/n1.small"
cp "$T/n1.small" "${CONF[n1]}"
cluster_start_all
wait_states 15 up n1:n2 n2:n1 n2:n3 n3:n2 || fail "n1-n2 and n2-n3 not up"
got=$(ls "${MNT[n1]}/" | tr '\n' ' ')
[ "$got" = "n1 n2 " ] || fail "before reload, n1 lists '$got', wanted 'n1 n2 '"
ok "n1 knows n1 and n2 only"

cluster_write_conf n1
kill -HUP "${DPID[n1]}"
wait_states 10 up n1:n3 n3:n1 || fail "n3 not up on n1 after SIGHUP"
got=$(ls "${MNT[n1]}/" | tr '\n' ' ')
[ "$got" = "n1 n2 n3 " ] || fail "after reload, n1 lists '$got'"
timeout 10 ls "${MNT[n1]}/n3/" >/dev/null || fail "ls ${MNT[n1]}/n3/ after the reload"
ok "SIGHUP: n3 added, up and readable from n1"

grep -v "^node n2 " "${CONF[n1]}" >"$T/n1.non2"
cp "$T/n1.non2" "${CONF[n1]}"
kill -HUP "${DPID[n1]}"
for _ in $(seq 50); do
	[ -e "${MNT[n1]}/n2" ] || break
	sleep 0.1
done
[ -e "${MNT[n1]}/n2" ] && fail "n2 still under n1's mount after its removal"
wait_states 10 down n2:n1 || fail "n2 still sees n1 up after n1 dropped it"
ok "SIGHUP: n2 removed from n1 (gone from the mount, connection closed)"

echo "node n9 nonsense" >>"${CONF[n1]}"
kill -HUP "${DPID[n1]}"
sleep 0.5
grep -q "reload failed, keeping the old configuration" "$T/n1.log" ||
	fail "a broken configuration was not refused on reload"
[ "$(node_state n1 n3)" = up ] || fail "n3 not up any more after a refused reload"
kill -0 "${DPID[n1]}" || fail "n1 died on a broken reload"
ok "a broken file on SIGHUP is refused, the old configuration stays"
exit 0
