#!/bin/bash
# SPDX-License-Identifier: MIT
# Process state across a migration (issue 18): self-checking programs
# started on n1 are migrated to n2 with `cp /clondike/n1/PID /clondike/n2/`
# and verify there that fds sharing an open file description share it
# again (offset, O_NONBLOCK) while separate opens do not, the capacity of
# a pipe with its data and of a FIFO, oom_score_adj, PR_SET_THP_DISABLE,
# the dumpable flag, eventfds, timerfds, a signalfd, an epoll fd and
# socketpairs, memfds and deleted files with their content and mappings
# (rst_ghost.c), and real programs: python3 asyncio, Node.js and Go.
# A process with children is refused before the commit point, with the
# reason, and keeps running on n1.
. "$(dirname "$0")/cluster_lib.sh"

[ -x "$CLD_PROGS/rst_state" ] && [ -x "$CLD_PROGS/rst_events" ] && [ -x "$CLD_PROGS/rst_ghost" ] ||
	skip "rst_state, rst_events, rst_ghost are not built"
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

# start NAME MODE [PROG]: rst_state (or PROG) on n1; P gets its pid.
start() {
	local name=$1 mode=$2 prog=${3:-rst_state}
	mkfifo "$T/$name.ctl"
	mkdir -p "$T/$name.d"
	printf '#!/bin/sh\nexec "%s" "$1" "$2" %s "%s"\n' "$CLD_PROGS/$prog" "$mode" \
		"$T/$name.d" >"$T/$name.sh"
	chmod +x "$T/$name.sh"
	spawn_on n1 "$T/$name.out" "$T/$name.sh" "$T/$name.res" "$T/$name.ctl"
	P=$SPAWNED
	wait_for "$T/$name.res" '^READY' 60
}

lu=loginuid
[ -e /proc/self/loginuid ] || { lu=; echo "SKIP: loginuid: this kernel has no audit" >&2; }
for mode in files oom $lu thp nodump madv shm session pgrp membar \
	rst_ghost:memfd rst_ghost:memfd_map rst_ghost:ghost rst_ghost:ghost_gone \
	rst_ghost:ghost_map; do
	prog=rst_state
	case $mode in rst_ghost:*) prog=rst_ghost mode=${mode#*:} ;; esac
	start "$mode" "$mode" "$prog"
	on n1 cp "/clondike/n1/$P" /clondike/n2/ 2>"$T/mig.err" ||
		fail "cp of $mode ($P): $(cat "$T/mig.err")"
	[ "$(xattr "${MNT[n1]}/n1/$P" user.clondike.state)" = migrated ] ||
		fail "$mode: the shadow is not migrated"
	guest_check "$mode" "$P"
	ok "$mode: migrated to n2: $(grep '^PASS' "$T/$mode.res")"
done

# The objects of event loops (no pidfd: one of a home process is refused).
mkfifo "$T/events.ctl"
printf '#!/bin/sh\nexec "%s" "$1" "$2" 0 "%s"\n' "$CLD_PROGS/rst_events" "$T" >"$T/events.sh"
chmod +x "$T/events.sh"
spawn_on n1 "$T/events.out" "$T/events.sh" "$T/events.res" "$T/events.ctl"
P=$SPAWNED
wait_for "$T/events.res" '^READY' 60
on n1 cp "/clondike/n1/$P" /clondike/n2/ 2>"$T/mig.err" || fail "cp of events ($P): $(cat "$T/mig.err")"
guest_check events "$P"
ok "events: migrated to n2: $(grep '^PASS' "$T/events.res")"

# Real programs: python3 asyncio, Node.js, Go (test_restart_programs.sh).
PROGS_SRC=$(cd "$(dirname "$0")/../progs" && pwd)
NODE=$(command -v node || command -v nodejs) || skip "node (nodejs) is needed"
GO=$(command -v go) || skip "go (golang-go) is needed"
mkdir -p "$CLD_BUILD/gocache"
(cd "$PROGS_SRC/go" && GOCACHE=$CLD_BUILD/gocache GO111MODULE=off GOFLAGS= \
	"$GO" build -o "$T/rst_go" rst_go.go) >"$T/go-build.log" 2>&1 ||
	fail "go build of rst_go.go: $(cat "$T/go-build.log")"
# real NAME CMD...: CMD RESULT CTL on n1, migrated, verified on n2.
real() {
	local name=$1
	shift
	mkfifo "$T/$name.ctl"
	spawn_on n1 "$T/$name.out" "$@" "$T/$name.res" "$T/$name.ctl"
	P=$SPAWNED
	wait_for "$T/$name.res" '^READY' 60
	on n1 cp "/clondike/n1/$P" /clondike/n2/ 2>"$T/mig.err" ||
		fail "cp of $name ($P): $(cat "$T/mig.err")"
	guest_check "$name" "$P"
	ok "$name: migrated to n2: $(grep '^PASS' "$T/$name.res")"
}
real asyncio "$PY" "$PROGS_SRC/rst_asyncio.py"
real node "$NODE" "$PROGS_SRC/rst_node.js"
real go "$T/rst_go"

start kids children
on n1 cp "/clondike/n1/$P" /clondike/n2/ 2>"$T/err" && fail "a process with children migrated"
grep -q "guest n1:$P refused: cannot restart: .*had children" "$T/sim/n2.log" ||
	fail "no reason in n2's log: $(tail -5 "$T/sim/n2.log")"
wait_thawed "$P" 5 n1
[ "$(xattr "${MNT[n1]}/n1/$P" user.clondike.state)" = running ] || fail "refused process not running"
ok "a process with children is refused by the target: $(head -1 "$T/err"); it runs on on n1"
exit 0
