#!/usr/bin/env bash
# The main job: a three-node clondike cluster on this machine, made by
# contrib/clondike-sim: each node is a machine of its own (its own network,
# pid and mount namespaces, its own /proc and /clondike, joined by a
# bridge), running its own clondiked; they share the root filesystem and a
# generated key.  A process that counts runs on n2; it is frozen, its
# checkpoint is copied from n2 through n1's mount to a file, it is killed,
# restarted from the file on n1 (lazily: its memory follows on demand) and
# carries on counting from where it was.  Then a node's link is cut.
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

say "6. freeze it (it stays frozen until thawed or killed)"
on n2 clondike freeze "$pid"
last=$(tail -n 1 "$work/counter.log")
echo "last line before the freeze: $last"

say "7. copy its checkpoint on n1, from n2's directory in n1's mount"
echo "(n1 asks n2 over their authenticated connection; n2 writes the image as it is read)"
on n1 cp "/clondike/n2/$pid" "$work/counter.core"
ls -ls "$work/counter.core"

say "8. the checkpoint is an ELF core file with everything needed to restart"
run "$build/cli/clondike" inspect "$work/counter.core" | head -n 12
run "$build/cli/clondike" verify "$work/counter.core"
if command -v gdb >/dev/null; then
	run gdb -nx -batch -ex 'info registers rip' "$prog" "$work/counter.core" 2>/dev/null | tail -n 1
fi

say "9. kill it while frozen"
on n2 clondike thaw --kill "$pid"

say "10. restart it from the file on n1 (by hand; lazy: memory is paged in from the image)"
on n1 clondike restart --lazy --detach "$work/counter.core" 2>&1
sleep 2
newpid=$(sed -n 's/.* pid \([0-9]*\)$/\1/p' "$work/counter.log" | tail -n 1)

say "11. it carries on from where it was, on n1"
grep -A 4 -F "$last" "$work/counter.log" | head -n 5
n_last=$(awk '{print $2}' <<<"$last")
n_next=$(grep -A 1 -F "$last" "$work/counter.log" | sed -n '2p' | awk '{print $2}')
if [ "$n_next" != "$((n_last + 1))" ]; then
	echo "demo FAILED: expected count $((n_last + 1)) after '$last', got '$n_next'" >&2
	exit 1
fi
on n1 ps -o pid,args -p "$newpid"
echo "count $n_last was the last before the checkpoint; the restarted process (pid $newpid in n1) went on with $n_next"

say "12. a node goes away: cut n3's link (inside n3)"
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
