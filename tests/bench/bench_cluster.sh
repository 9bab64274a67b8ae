#!/bin/bash
# SPDX-License-Identifier: MIT
# Cluster benchmarks (figures go to docs/performance.md "Cluster"): two
# clondiked daemons, n1 and n2, on this machine over loopback TCP, each with
# its own mount, and a process holding 1 GiB of touched anonymous memory
# (tests/bench/bench_freeze hold).  Since both daemons see the same /proc,
# the same process is n2's local image on n2's mount and a remote one on
# n1's mount (read through n1 -> TCP -> n2).  The process stays frozen from
# (b) to (d) (a file held open on n2's mount keeps the freeze), so these are
# the data path alone, and (c) and (d) read the same freeze.  Times:
#   (a) raw loopback TCP, 1 GiB (tests/bench/tcp_rate): the floor
#   (b) cp MOUNT2/n2/PID /dev/shm/x    local, on n2's own mount (best of $RUNS)
#   (c) cp MOUNT1/n2/PID /dev/shm/y    remote, through n1, first time
#   (d) the same remote cp again       (n1's cache: a hit only if the image
#                                       fits in it; CACHE_MB, default 64)
#   (e) ls -l MOUNT1/n2/ (remote) and ls -l MOUNT2/n2/ (local) with $NPROC
#       extra sleep processes (best of $RUNS), and ls -f (readdir alone)
# and prints ratios remote / raw TCP and remote / local.  No asserts.
# Usage: bench_cluster.sh [build dir]   (root, /dev/fuse, ~3 GiB free memory;
# env RUNS=3 NPROC=1000 CACHE_MB=64 MIB=1024)
set -u
B=${1:-${CLD_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
CLDD=$B/fuse/clondiked
CLD=$B/cli/clondike
HOLD=$B/tests/bench/bench_freeze
TCP=$B/tests/bench/tcp_rate
RUNS=${RUNS:-3}
NPROC=${NPROC:-1000}
CACHE_MB=${CACHE_MB:-64}
MIB=${MIB:-1024}
[ -e /dev/fuse ] || { echo "SKIP: /dev/fuse is missing" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
for x in "$CLDD" "$CLD" "$HOLD" "$TCP"; do
	[ -x "$x" ] || { echo "SKIP: build $B first ($x is missing)" >&2; exit 77; }
done
"$CLDD" --help 2>&1 | grep -q -- --config ||
	{ echo "SKIP: $CLDD has no cluster mode (--config)" >&2; exit 77; }

T=$(mktemp -d /tmp/cld-cluster-bench.XXXXXX)
SHM=$(mktemp -d /dev/shm/cld-cluster-bench.XXXXXX)
M1=$T/m1
M2=$T/m2
mkdir "$M1" "$M2"
PIDS=()
DPIDS=()
cleanup() {
	local p
	exec 2>/dev/null 3<&-
	[ ${#PIDS[@]} -gt 0 ] && kill -9 "${PIDS[@]}"
	[ ${#DPIDS[@]} -gt 0 ] && kill "${DPIDS[@]}"
	for p in "${DPIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" || break; sleep 0.1; done
		kill -9 "$p"
	done
	fusermount3 -u "$M1" || fusermount3 -uz "$M1"
	fusermount3 -u "$M2" || fusermount3 -uz "$M2"
	rm -rf --one-file-system "$T" "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a TCP port nobody listens on
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		[ "$p" != "${1:-}" ] && ! ss -Htln "sport = :$p" | grep -q . && { echo "$p"; return; }
	done
}
P1=$(free_port)
P2=$(free_port "$P1")
"$CLD" -q keygen "$T/cluster.key" || exit 1
cat >"$T/cluster.conf" <<EOF
key       $T/cluster.key
timeout   5000
heartbeat 500
cache     $CACHE_MB
node n1 127.0.0.1:$P1 core
node n2 127.0.0.1:$P2 core
EOF

for n in 1 2; do
	"$CLDD" -f --config "$T/cluster.conf" --node n$n "$T/m$n" 2>"$T/n$n.log" &
	DPIDS+=($!)
done
# state NODE of MOUNT's view
state() { getfattr --only-values -n user.clondike.state "$1/$2" 2>/dev/null; }
for _ in $(seq 100); do
	[ "$(state "$M1" n2)" = up ] && [ "$(state "$M2" n1)" = up ] && break
	sleep 0.1
done
if [ "$(state "$M1" n2)" != up ] || [ "$(state "$M2" n1)" != up ]; then
	echo "the daemons did not connect:" >&2
	tail -n 20 "$T/n1.log" "$T/n2.log" >&2
	exit 1
fi

# best SECONDS of RUNS runs of a command
best() {
	local b="" t s e
	for _ in $(seq "$RUNS"); do
		s=$(date +%s.%N)
		"$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}
# SECONDS of one run
once() {
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
	e=$(date +%s.%N)
	echo "$e - $s" | bc -l
}
# GB/s of BYTES in SECONDS; A / B to two decimals
rate() { printf '%.2f' "$(echo "$1 / $2 / 1000000000" | bc -l)"; }
ratio() { printf '%.2f' "$(echo "($1) / ($2)" | bc -l)"; }

"$HOLD" hold "$MIB" >"$T/hog.out" &
HOG=$!
PIDS+=("$HOG")
for _ in $(seq 600); do grep -q ready "$T/hog.out" && break; sleep 0.1; done
grep -q ready "$T/hog.out" || { echo "the $MIB MiB process did not start" >&2; exit 1; }

# (a) raw TCP
read -r _ _ _ _ _ t_tcp _ mbs_tcp _ < <("$TCP" "$MIB")
# Freeze it (held until after (d)).
exec 3<"$M2/n2/$HOG" || { echo "failed: open $M2/n2/$HOG" >&2; exit 1; }
# (b) local: n2's own mount (one untimed cp first, for the image size)
cp "$M2/n2/$HOG" "$SHM/x" || { echo "failed: cp $M2/n2/$HOG" >&2; exit 1; }
SIZE=$(stat -c %s "$SHM/x")
t_local=$(best cp "$M2/n2/$HOG" "$SHM/x")
rm -f "$SHM/x"
# (c) remote through n1, first; (d) again
t_r1=$(once cp "$M1/n2/$HOG" "$SHM/y")
verify=$("$CLD" verify "$SHM/y" 2>&1)
rm -f "$SHM/y"
t_r2=$(once cp "$M1/n2/$HOG" "$SHM/y")
rm -f "$SHM/y"
exec 3<&-
[ -n "$t_local" ] && [ -n "$t_r1" ] && [ -n "$t_r2" ] && [ -n "${mbs_tcp:-}" ] || exit 1
if [ $((CACHE_MB * 1048576)) -ge "$SIZE" ]; then
	fits="fits in n1's $CACHE_MB MiB cache: (d) can be served from it"
else
	fits="is larger than n1's $CACHE_MB MiB cache: (d) cannot be a cache hit"
fi

echo "image of a $MIB MiB process: $SIZE bytes ($((SIZE / 1048576)) MiB); $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-52s %7.3f s %6s GB/s\n' \
	"(a) raw loopback TCP, $MIB MiB (tcp_rate)" "$t_tcp" "$(ratio "$mbs_tcp" 1000)" \
	"(b) local  cp m2/n2/PID /dev/shm (best of $RUNS)" "$t_local" "$(rate "$SIZE" "$t_local")" \
	"(c) remote cp m1/n2/PID /dev/shm (first)" "$t_r1" "$(rate "$SIZE" "$t_r1")" \
	"(d) remote cp m1/n2/PID /dev/shm (second)" "$t_r2" "$(rate "$SIZE" "$t_r2")"
echo "    the image $fits"
echo "    clondike verify of the remote copy: $verify"
echo "remote (c) / raw TCP, throughput: $(ratio "$SIZE / $t_r1" "$mbs_tcp * 1000000")"
echo "remote (d) / raw TCP, throughput: $(ratio "$SIZE / $t_r2" "$mbs_tcp * 1000000")"
echo "remote (c) / local (b), time: $(ratio "$t_r1" "$t_local")"
echo "remote (d) / local (b), time: $(ratio "$t_r2" "$t_local")"

# (e) ls -l with NPROC more processes
for _ in $(seq "$NPROC"); do
	sleep 3600 >/dev/null 2>&1 &
	PIDS+=($!)
done
sleep 1
n=$(find "$M2/n2" -mindepth 1 -maxdepth 1 | wc -l)
# A process may exit between readdir and stat: ls then says so and exits 1.
lsq() { ls "$@" >/dev/null 2>&1; return 0; }
lsq -l "$M1/n2" # once, untimed
t_lsr=$(best lsq -l "$M1/n2")
t_lsl=$(best lsq -l "$M2/n2")
t_lsfr=$(best lsq -f "$M1/n2")
t_lsfl=$(best lsq -f "$M2/n2")
printf 'ls -l with %d entries (best of %d): remote m1/n2 %.3f s, local m2/n2 %.3f s; remote / local: %s\n' \
	"$n" "$RUNS" "$t_lsr" "$t_lsl" "$(ratio "$t_lsr" "$t_lsl")"
printf 'ls -f (readdir only): remote %.3f s, local %.3f s; remote / local: %s\n' \
	"$t_lsfr" "$t_lsfl" "$(ratio "$t_lsfr" "$t_lsfl")"
