#!/usr/bin/env bash
# The main job: a three-node clondike cluster on this machine (three
# clondiked daemons n1, n2, n3 on loopback ports, each with its own mount,
# sharing a generated key).  A process that counts is frozen, its
# checkpoint is copied from node n2 through node n1's mount to a local
# file, it is killed, restarted from the file (lazily: its memory follows
# on demand) and carries on counting from where it was.
# Usage: contrib/demo.sh [BUILD_DIR]   (contrib/setup.sh demo runs it; root)
set -euo pipefail
build=$(cd "${1:-$(dirname "$0")/../build}" && pwd)
cld=$build/cli/clondike
cldd=$build/fuse/clondiked
prog=$build/tests/progs/demo_counter
nodes=(n1 n2 n3)

[ "$(id -u)" = 0 ] || { echo "demo: run it as root (it mounts three FUSE filesystems)" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "demo: /dev/fuse is missing (modprobe fuse)" >&2; exit 1; }
"$cldd" --help 2>&1 | grep -q -- --config ||
	{ echo "demo: $cldd has no cluster mode (--config): rebuild" >&2; exit 1; }

work=$(mktemp -d /tmp/clondike-demo.XXXXXX)
pids=()
dpids=()
cleanup() {
	local p n
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${dpids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${dpids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	for n in "${nodes[@]}"; do
		if mountpoint -q "$work/$n"; then
			fusermount3 -u "$work/$n" 2>/dev/null || umount -l "$work/$n" || true
		fi
	done
	# --one-file-system: never into a mount that could not be undone.
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# Ports 7301-7303 when free, else any free ones.
port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
ports=()
for i in 0 1 2; do
	p=$((7301 + i))
	while ! port_free "$p" || [[ " ${ports[*]} " == *" $p "* ]]; do
		p=$((20000 + RANDOM % 40000))
	done
	ports+=("$p")
done

say "1. a cluster key: 64 random bytes, mode 0600, the same file on every node"
run "$cld" keygen "$work/cluster.key"
ls -l "$work/cluster.key"

say "2. the cluster's configuration (the same file on every node)"
cat >"$work/cluster.conf" <<EOF
key       $work/cluster.key
timeout   2000      # ms before a request to a peer fails (ETIMEDOUT)
heartbeat 500       # ms between pings; 3 missed and the peer is down
cache     64        # MiB of remote image data cached per node
node n1 127.0.0.1:${ports[0]} core
node n2 127.0.0.1:${ports[1]} core
node n3 127.0.0.1:${ports[2]} detached
EOF
cat "$work/cluster.conf"

say "3. one clondiked per node, each with its own mount (logs: $work/nN.log)"
for n in "${nodes[@]}"; do
	mkdir "$work/$n"
	printf '$ %s\n' "$cldd -f --config $work/cluster.conf --node $n $work/$n &"
	"$cldd" -f --config "$work/cluster.conf" --node "$n" "$work/$n" >"$work/$n.log" 2>&1 &
	dpids+=($!)
done
echo "the node whose name sorts lower dials the other; waiting for every pair to authenticate..."
all_up() {
	local m n s
	for m in "${nodes[@]}"; do
		for n in "${nodes[@]}"; do
			[ "$m" = "$n" ] && continue
			s=$(getfattr --only-values -n user.clondike.state "$work/$m/$n" 2>/dev/null) ||
				return 1
			[ "$s" = up ] || return 1
		done
	done
}
for _ in $(seq 100); do all_up && break; sleep 0.1; done
if ! all_up; then
	echo "demo FAILED: the three daemons did not connect; their logs:" >&2
	tail -n 20 "$work"/n?.log >&2
	exit 1
fi
for n in "${nodes[@]}"; do
	grep "peer .* up" "$work/$n.log" | sed "s/^clondiked: [a-z]*: /  $n's log: /" || true
done

say "4. the cluster as node n1 sees it"
run "$cld" nodes "$work/n1"

say "5. every node's processes, as image files, in n1's mount"
run ls "$work/n1"
printf '$ %s\n' "ls -l $work/n1/*/ | head"
{ ls -l "$work"/n1/*/ 2>/dev/null || true; } | head
for n in "${nodes[@]}"; do
	echo "n1/$n/: $(find "$work/n1/$n" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) processes (served by $n)"
done
echo "(the three daemons run on one machine and see the same /proc, so they list the same processes)"

say "6. a process that counts (its output goes to $work/counter.log)"
# Started with no fds but 0-2, so its image holds only what it uses.
bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done;
	exec "$0" </dev/null >"$1" 2>&1' "$prog" "$work/counter.log" &
pid=$!
disown "$pid" # bash need not report its death
pids+=("$pid")
sleep 2
tail -n 3 "$work/counter.log"

say "7. freeze it (it stays frozen until thawed or killed)"
run "$cld" freeze "$pid"
last=$(tail -n 1 "$work/counter.log")
echo "last line before the freeze: $last"

say "8. copy its checkpoint from node n2, through node n1's mount, to a local file"
echo "(n1 asks n2 over their authenticated connection; n2 writes the image as it is read)"
run cp "$work/n1/n2/$pid" "$work/counter.core"
ls -ls "$work/counter.core"

say "9. the checkpoint is an ELF core file with everything needed to restart"
run "$cld" inspect "$work/counter.core" | head -n 12
run "$cld" verify "$work/counter.core"
if command -v gdb >/dev/null; then
	run gdb -batch -ex 'info registers rip' "$prog" "$work/counter.core" 2>/dev/null | tail -n 1
fi

say "10. kill it while frozen"
run "$cld" thaw --kill "$pid"

say "11. restart it from the file (lazy: memory is paged in from the image)"
run "$cld" restart --lazy --detach "$work/counter.core" 2>&1
sleep 2
newpid=$(sed -n 's/.* pid \([0-9]*\)$/\1/p' "$work/counter.log" | tail -n 1)
pids+=("$newpid")

say "12. it carries on from where it was"
grep -A 4 -F "$last" "$work/counter.log" | head -n 5
n_last=$(awk '{print $2}' <<<"$last")
n_next=$(grep -A 1 -F "$last" "$work/counter.log" | sed -n '2p' | awk '{print $2}')
if [ "$n_next" = "$((n_last + 1))" ]; then
	echo "count $n_last was the last before the checkpoint; the restarted process (pid $newpid) went on with $n_next"
else
	echo "demo FAILED: expected count $((n_last + 1)) after '$last', got '$n_next'" >&2
	exit 1
fi
kill "$newpid" 2>/dev/null || true

say "13. a node goes away: stop n3's daemon"
run kill "${dpids[2]}"
for _ in $(seq 50); do
	[ "$(getfattr --only-values -n user.clondike.state "$work/n1/n3" 2>/dev/null)" = down ] && break
	sleep 0.1
done
run "$cld" nodes "$work/n1"
run ls "$work/n1/n3/" 2>&1 || true

say "done (stopping the daemons and unmounting)"
