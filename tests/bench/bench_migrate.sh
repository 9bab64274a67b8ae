#!/bin/bash
# SPDX-License-Identifier: MIT
# Migration figures (issue 15), between two namespaced nodes of
# contrib/clondike-sim (own network namespaces joined by a bridge):
#   (a) raw TCP n1 -> n2, 1 GiB (tcp_rate --send/--recv): the baseline;
#   (b) for processes of 4 MiB, 256 MiB and 1 GiB of random memory
#       (rst_fill), `clondike migrate PID n2` run on n1:
#       - downtime: from the freeze (the open of /clondike/n1/PID) to the
#         commit (the guest runs on n2), as the command measures it;
#       - independence: from the commit until the guest's pager has pulled
#         every page and exited, and that rate against (a);
#       then the guest checks its memory (PASS required);
#   (c) writing the same amount into never-touched memory on n2
#       (bench_freeze fresh), measured just before each migration: the
#       floor of any restore on this VM, whose first touch of a page is
#       costly; the pull's rate is given against it too.  Those pages,
#       once freed, are what the guest gets next, warm: FRESH=0 leaves (c)
#       out, and the guest then meets memory as cold as the VM has it.
# Usage: [FRESH=0] tests/bench/bench_migrate.sh [BUILD_DIR]   (root; no asserts)
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"
bench_sim cldbm "${1:-}"
ms() { date +%s%N; }

# (a) raw TCP between the nodes
bench_tcp n1 n2

for mib in 4 256 1024; do
	mkfifo "$T/ctl$mib"
	on n1 python3 -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$B/tests/progs/rst_fill" "$T/res$mib" "$T/ctl$mib" "$mib" </dev/null >"$T/out$mib" 2>&1 &
	for _ in $(seq 600); do grep -q READY "$T/res$mib" 2>/dev/null && break; sleep 0.05; done
	pid=$(on n1 pgrep -n -x rst_fill)
	fresh=0
	[ "${FRESH:-1}" = 0 ] || fresh=$(on n2 "$B/tests/bench/bench_freeze" fresh "$mib")
	on n1 "$CLD" --json migrate "$pid" n2 >"$T/mig$mib"
	t_commit=$(ms)
	stopped=$(sed -n 's/.*"stopped_ms":\([0-9.]*\).*/\1/p' "$T/mig$mib")
	guest=$(sed -n 's/.*"guest_pid":\([0-9]*\).*/\1/p' "$T/mig$mib")
	# The pager is the worker's child; it exits once everything is in.
	# One process polls, lightly: the wait must not take the CPU the
	# pull needs.
	on n2 bash -c 'p=$(pgrep -f -- "--restore-worker .* /clondike/n1/$1\$") || exit 0
		while [ -d /proc/$p ]; do sleep 0.01; done' _ "$pid"
	t_ind=$(( ($(ms) - t_commit) / 1000000 ))
	echo check >"$T/ctl$mib"
	for _ in $(seq 600); do grep -q 'PASS\|FAIL' "$T/res$mib" 2>/dev/null && break; sleep 0.05; done
	res=$(grep -v READY "$T/res$mib" | head -1)
	rate=$(awk -v m="$mib" -v t="$t_ind" 'BEGIN { printf "%.1f", (t > 0 ? m * 1048576 / (t / 1000) / 1e6 : 0) }')
	printf '%-44s %8s ms downtime; independent after %6d ms = %7s MB/s = %.2f x TCP; %s\n' \
		"(b) migrate $mib MiB (lazy, pid $pid -> $guest)" "$stopped" "$t_ind" "$rate" \
		"$(awk -v r="$rate" -v t="$mbs_tcp" 'BEGIN { print r / t }')" "$res"
	[ "$fresh" = 0 ] || printf '%-44s %8s MB/s; the pull ran at %.2f x that\n' \
		"(c) n2: fresh memory written, $mib MiB" "$fresh" \
		"$(awk -v r="$rate" -v f="$fresh" 'BEGIN { print (f > 0 ? r / f : 0) }')"
	on n2 kill -9 "$guest" 2>/dev/null || true
done
