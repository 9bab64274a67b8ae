#!/bin/bash
# SPDX-License-Identifier: MIT
# Migration of multi-threaded processes between namespaced nodes (issue
# 17): self-checking programs started on n1 are migrated to n2 with
# `cp /clondike/n1/PID /clondike/n2/` and verify themselves there: 16
# threads with live AVX registers, threads blocked in cond_wait / on a
# held mutex / in nanosleep / in read(), per-thread masks and names with a
# pending pthread_kill signal, threads coming and going, an OpenMP program
# and a python3 thread pool.  The shadow on n1 is left with one thread, the guest
# has them all, and the shadow ends with the guest.
. "$(dirname "$0")/cluster_lib.sh"

for p in rst_threads rst_omp; do
	[ -x "$CLD_PROGS/$p" ] || skip "$p is not built"
done
POOL=$(cd "$(dirname "$0")/../progs" && pwd)/rst_pool.py
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

# mig NAME PROG ARGS...: start on n1, migrate to n2, trigger, expect PASS.
mig() {
	local name=$1 p q threads
	shift
	mkfifo "$T/$name.ctl"
	spawn_on n1 "$T/$name.out" "$@" "$T/$name.res" "$T/$name.ctl"
	p=$SPAWNED
	wait_for "$T/$name.res" '^READY' 60
	threads=$(awk '/^Threads:/{print $2}' "${PROCD[n1]}/$p/status")
	on n1 cp "/clondike/n1/$p" /clondike/n2/ 2>"$T/mig.err" || fail "cp of $name ($p): $(cat "$T/mig.err")"
	[ "$(xattr "${MNT[n1]}/n1/$p" user.clondike.state)" = migrated ] || fail "$name: the shadow is not migrated"
	q=$(xattr "${MNT[n1]}/n1/$p" user.clondike.guest_pid) || fail "$name: no guest_pid"
	[ -d "${PROCD[n2]}/$q" ] || fail "$name: guest pid $q is not a process of n2"
	n=$(awk '/^Threads:/{print $2}' "${PROCD[n2]}/$q/status")
	[ "$n" -ge "$threads" ] || [ "$name" = churn ] ||
		fail "$name: the guest has $n threads, the original had $threads"
	n=$(awk '/^Threads:/{print $2}' "${PROCD[n1]}/$p/status")
	[ "$n" = 1 ] || fail "$name: the shadow has $n threads"
	guest_check "$name" "$p"
	ok "$name: $threads threads migrated to n2 as pid $q: $(grep '^PASS' "$T/$name.res"); shadow gone with it"
}

# The programs take "RESULT CTL MODE": put the mode after the fifo.
mode() {
	local name=$1 m=$2
	shift 2
	printf '#!/bin/sh\nr=$1; c=$2; shift 2\nexec %s "$r" "$c" %s "$@"\n' "$*" "$m" >"$T/$name.sh"
	chmod +x "$T/$name.sh"
	mig "$name" "$T/$name.sh"
}

mode avx "avx 16" "$CLD_PROGS/rst_threads"
mode block block "$CLD_PROGS/rst_threads"
mode sig sig "$CLD_PROGS/rst_threads"
mode churn churn "$CLD_PROGS/rst_threads"
mig omp "$CLD_PROGS/rst_omp"
mig pool "$PY" "$POOL"
exit 0
