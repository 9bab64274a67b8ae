#!/bin/bash
# SPDX-License-Identifier: MIT
# clondiked benchmarks (figures go to docs/performance.md "FUSE daemon"):
#  1. cp /clondike/<node>/<pid> /dev/shm/img of a 1 GiB process, against
#     `clondike checkpoint` of the same process and against cp / cat of a
#     plain 1 GiB tmpfs file.  Best of $RUNS each.
#  2. ls -l /clondike/<node>/ with 1,000 processes.
# Usage: bench_fuse.sh [build dir]   (root, /dev/fuse)
set -u
B=${1:-${CLD_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-fuse}}
CLDD=$B/fuse/clondiked
CLD=$B/cli/clondike
RUNS=${RUNS:-3}
NPROC=${NPROC:-1000}
[ -e /dev/fuse ] || { echo "SKIP: /dev/fuse is missing" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
[ -x "$CLDD" ] && [ -x "$CLD" ] || { echo "SKIP: build $B first" >&2; exit 77; }

T=$(mktemp -d /tmp/cldd-bench.XXXXXX)
MNT=$T/mnt
DIR=$MNT/bench
mkdir "$MNT"
PIDS=""
cleanup() {
	exec 2>/dev/null
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && sleep 0.3
	fusermount3 -u "$MNT" 2>/dev/null
	rm -rf "$T" /dev/shm/cldd-bench.*
}
trap cleanup EXIT

"$CLDD" -f --node bench "$MNT" 2>"$T/daemon.log" &
DPID=$!
for _ in $(seq 50); do [ -d "$DIR" ] && break; sleep 0.1; done
[ -d "$DIR" ] || { cat "$T/daemon.log"; exit 1; }

# best SECONDS of RUNS runs of a command (a fresh destination each time)
best() {
	local b="" t s e
	for _ in $(seq "$RUNS"); do
		rm -f /dev/shm/cldd-bench.out
		s=$(date +%s.%N)
		"$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}
rate() { echo "scale=2; $1 / $2 / 1000000000" | bc -l; }

python3 -c '
import os, sys, time
b = bytearray(1 << 30)
for i in range(0, 1 << 30, 4096):
    b[i] = (i >> 12) & 0xff | 1
print("ready", flush=True)
time.sleep(3600)' </dev/null >"$T/hog.out" 2>&1 &
HOG=$!
PIDS="$PIDS $HOG"
for _ in $(seq 300); do grep -q ready "$T/hog.out" && break; sleep 0.1; done

cp "$DIR/$HOG" /dev/shm/cldd-bench.img
SIZE=$(stat -c %s /dev/shm/cldd-bench.img)
head -c "$SIZE" /dev/zero | tr '\0' 'x' >/dev/shm/cldd-bench.plain

t_cp=$(best cp "$DIR/$HOG" /dev/shm/cldd-bench.out)
t_ck=$(best "$CLD" checkpoint --unrestorable "$HOG" /dev/shm/cldd-bench.out)
t_dd=$(best dd if="$DIR/$HOG" of=/dev/shm/cldd-bench.out bs=1M status=none)
t_pcp=$(best cp /dev/shm/cldd-bench.plain /dev/shm/cldd-bench.out)
t_cat=$(best cat /dev/shm/cldd-bench.plain)
t_catf=$(best cat "$DIR/$HOG")

echo "image of a 1 GiB process: $SIZE bytes; best of $RUNS; $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-50s %7.3f s %6s GB/s\n' \
	"cp /clondike/bench/PID /dev/shm/img" "$t_cp" "$(rate "$SIZE" "$t_cp")" \
	"clondike checkpoint PID /dev/shm/img" "$t_ck" "$(rate "$SIZE" "$t_ck")" \
	"dd bs=1M /clondike/bench/PID -> /dev/shm/img" "$t_dd" "$(rate "$SIZE" "$t_dd")" \
	"cat /clondike/bench/PID > /dev/null" "$t_catf" "$(rate "$SIZE" "$t_catf")" \
	"cp of a plain tmpfs file of that size" "$t_pcp" "$(rate "$SIZE" "$t_pcp")" \
	"cat of a plain tmpfs file > /dev/null" "$t_cat" "$(rate "$SIZE" "$t_cat")"
echo "cp via FUSE / clondike checkpoint: $(echo "scale=2; $t_ck / $t_cp" | bc -l) (target >= 0.8)"
echo "cp via FUSE / cp of a plain tmpfs file: $(echo "scale=2; $t_pcp / $t_cp" | bc -l)"
rm -f /dev/shm/cldd-bench.*

# ls -l with NPROC processes
for _ in $(seq "$NPROC"); do
	sleep 3600 </dev/null >/dev/null 2>&1 &
	PIDS="$PIDS $!"
done
sleep 1
n=$(ls "$DIR" | wc -l)
# A process may exit between readdir and stat: ls then says so and exits 1.
lsq() { ls "$@" >/dev/null 2>&1; return 0; }
t_ls=$(best lsq -l "$DIR")
t_lsf=$(best lsq -f "$DIR")
t_proc=$(best lsq -l /proc)
echo "ls -l /clondike/bench/ with $n entries: $t_ls s; ls -f (readdir only): $t_lsf s; ls -l /proc for scale: $t_proc s"
