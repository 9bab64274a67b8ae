#!/usr/bin/env bash
# The main job: a three-node clondike cluster on this machine, made by
# contrib/clondike-sim: each node is a machine of its own (its own network,
# pid and mount namespaces, its own /proc and /clondike, joined by a
# bridge), running its own clondiked; they share the root filesystem and a
# generated key.  A process that counts runs on n2; `cp` migrates it to n1
# while it runs, `clondike migrate` moves it on to n3, and it counts on
# without a gap.  A checkpoint of it is copied through n1's mount and read
# with clondike inspect, verify and gdb.  Then a node's link is cut.
# Usage: contrib/demo.sh [BUILD_DIR]   (contrib/setup.sh demo runs it; root)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
prog=$build/tests/progs/demo_counter
sim=$top/contrib/clondike-sim

[ "$(id -u)" = 0 ] || { echo "demo: run it as root (it makes namespaces and FUSE mounts)" >&2; exit 1; }
[ -x "$prog" ] || { echo "demo: $prog is not built" >&2; exit 1; }
# A cluster of the demo's own, apart from one a user may have up.
export CLONDIKE_BUILD=$build CLONDIKE_SIM_STATE=/run/clondike-demo CLONDIKE_SIM_PREFIX=cldemo
export CLONDIKE_SIM_HEARTBEAT=500 CLONDIKE_SIM_TIMEOUT=2000

work=$(mktemp -d /tmp/clondike-demo.XXXXXX)
cleanup() {
	"$sim" down >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# on NODE CMD...: CMD on NODE, shown as one would type it
on() {
	local a q=""
	for a; do
		case $a in
		*[[:space:]\'\"\$\;\|\&\*]*) q="$q '${a//\'/\'\\\'\'}'" ;;
		*) q="$q $a" ;;
		esac
	done
	printf '$ clondike-sim exec%s\n' "$q"
	"$sim" exec "$@"
}
"$sim" down >/dev/null # what an interrupted earlier demo may have left

say "1. three nodes: n1 and n2 core, n3 detached (clondike-sim up)"
run "$sim" up 3 --detached 1
echo "(the key and the configuration every node reads:)"
ls -l "$CLONDIKE_SIM_STATE/cluster.key"
grep -v '^#' "$CLONDIKE_SIM_STATE/cluster.conf"

say "2. every node is a machine of its own"
on n2 sh -c 'hostname; ip -br -4 addr show dev eth0; ps -e'
echo "(the host runs $(find /proc -maxdepth 1 -name '[0-9]*' | wc -l) processes; n2 sees only its own)"

say "3. the cluster as node n1 sees it"
on n1 clondike nodes

say "4. a process that counts, on n2 (its output goes to $work/counter.log)"
# Started with no fds but 0-2, so its image holds only what it uses.
"$sim" exec n2 python3 -c 'import os, sys; os.closerange(3, 65536); os.execv(sys.argv[1], sys.argv[1:])' \
	"$prog" </dev/null >"$work/counter.log" 2>&1 &
disown $! # bash need not report its end
sleep 2
pid=$("$sim" exec n2 pgrep -x demo_counter)
tail -n 3 "$work/counter.log"
echo "(its pid in n2 is $pid)"

say "5. every node's processes, as image files, in n1's mount"
on n1 ls -C /clondike/n1 /clondike/n2 /clondike/n3
echo "(each node lists its own processes by their pids there: n1's list has this very ls, n2's the counter, $pid)"
on n1 ls -l "/clondike/n2/$pid"

# xa NODE FILE KEY: an attribute of FILE in NODE's mount
xa() {
	getfattr --absolute-names --only-values -n "user.clondike.$3" \
		"/proc/$("$sim" pid "$1")/root$2" 2>/dev/null
}

say "6. migrate it to n1 while it runs: cp from n2's directory into n1's"
echo "(one copy_file_range: n1 asks n2, n2 freezes it and asks n1 to restore it;"
echo " n1 restores it lazily, its memory following from n2 on demand; n2 keeps"
echo " the original as its shadow: it keeps pid, parent and fds, and forwards"
echo " every signal sent to it; the guest's end becomes its own)"
last=$(tail -n 1 "$work/counter.log")
# cp /clondike/n2/PID /clondike/n1/ would do, unless n1 has a process PID
# too; a name is an alias of the guest.
on n1 cp "/clondike/n2/$pid" /clondike/n1/counter
g1=$(xa n1 "/clondike/n2/$pid" guest_pid)
echo "on n2, $pid is now: state $(xa n1 "/clondike/n2/$pid" state), node $(xa n1 "/clondike/n2/$pid" node), guest pid $g1"
echo "on n1, $g1 is:      state $(xa n1 "/clondike/n1/$g1" state), home $(xa n1 "/clondike/n1/$g1" home), home pid $(xa n1 "/clondike/n1/$g1" home_pid)"
on n2 ps -o pid,stat,args -p "$pid"
on n1 ps -o pid,stat,args -p "$g1"
sleep 1.5

say "7. it carries on counting, on n1, from where it was"
grep -A 4 -F "$last" "$work/counter.log" | head -n 5
n_last=$(awk '{print $2}' <<<"$last")
n_next=$(grep -A 1 -F "$last" "$work/counter.log" | sed -n '2p' | awk '{print $2}')
if [ "$n_next" != "$((n_last + 1))" ]; then
	echo "demo FAILED: expected count $((n_last + 1)) after '$last', got '$n_next'" >&2
	exit 1
fi
echo "(count $n_last was the last on n2, $n_next the first on n1: nothing lost, nothing twice)"

say "8. and on to n3 with the command line (run on n2, the first home)"
on n2 clondike migrate --from n1 "$g1" n3
g3=$(xa n1 "/clondike/n1/$g1" guest_pid)
sleep 1
tail -n 2 "$work/counter.log"

say "9. a checkpoint of the running process on n3, copied through n1's mount"
on n1 cp "/clondike/n3/$g3" "$work/counter.core"
ls -ls "$work/counter.core"
run "$build/cli/clondike" inspect "$work/counter.core" | head -n 12
run "$build/cli/clondike" verify "$work/counter.core"
if command -v gdb >/dev/null; then
	run gdb -nx -batch -ex 'info registers rip' "$prog" "$work/counter.core" 2>/dev/null | tail -n 1
fi
"$build/cli/clondike" inspect "$work/counter.core" >/dev/null

say "10. kill it by its home pid on n2: the signal follows it (n2 -> n1 -> n3)"
on n2 kill -TERM "$pid"
for _ in $(seq 50); do
	"$sim" exec n3 test -d "/proc/$g3" || break
	sleep 0.1
done
if "$sim" exec n3 test -d "/proc/$g3"; then
	echo "demo FAILED: SIGTERM to $pid on n2 did not reach its guest $g3 on n3" >&2
	exit 1
fi
echo "(pid $g3 is gone from n3; its shadows on n1 and n2 ended as it did, by SIGTERM)"
sleep 0.5
grep -ah "ended (signal 15)" "$CLONDIKE_SIM_STATE"/n[123].log || true

say "11. a node goes away: cut n3's link (inside n3)"
on n3 ip link set dev eth0 down
echo "(3 heartbeats of $CLONDIKE_SIM_HEARTBEAT ms without a frame and a peer is down)"
s=""
for _ in $(seq 40); do
	s=$(getfattr --absolute-names --only-values -n user.clondike.state \
		"/proc/$("$sim" pid n1)/root/clondike/n3" 2>/dev/null) || true
	[ "$s" = down ] && break
	sleep 0.1
done
on n1 clondike nodes
on n1 ls /clondike/n3/ 2>&1 || true
[ "$s" = down ] || { echo "demo FAILED: n3 is not down on n1" >&2; exit 1; }

say "done (clondike-sim down: the nodes, their namespaces and mounts go)"
