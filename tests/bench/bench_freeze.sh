#!/bin/bash
# Freeze latency and checkpoint throughput of the ptrace freezer.
#
#   tests/bench/bench_freeze.sh [BUILD_DIR]     (default: ./build)
#
# Prints, for processes with 4 MiB, 256 MiB, 1 GiB and 4 GiB of resident
# anonymous memory, the time to freeze them (median of 7; freeze + thaw
# each time), the same at 256 MiB with 1, 16 and 128 threads, and the one-off cost of laying out their image (the page
# table scan the first read of a frozen process pays).  Then the time to
# checkpoint a 1 GiB process to a tmpfs file, next to `cat` of a 1 GiB
# tmpfs file to another tmpfs file and memcpy of 1 GiB, all in this run.
# Needs ~7 GiB of free memory and /dev/shm.  Figures: docs/performance.md.
set -euo pipefail

. "$(dirname "$0")/bench_lib.sh"
bench_tools "${1:-}"
shm=$(mktemp -d /dev/shm/cld-bench.XXXXXX)
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$shm"
}
trap cleanup EXIT

start_holder() {
	rm -f "$shm/ready"
	"$helper" hold "$1" "${2:-1}" >"$shm/ready" &
	holder=$!
	while ! [ -s "$shm/ready" ]; do sleep 0.05; done
}

stop_holder() {
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	holder=
}

now() { date +%s.%N; }

echo "# clondike freeze benchmark, $(uname -r), $(nproc) cpus, $(date -u +%F)"
echo "## freeze latency (ptrace backend)"
for mib in 4 256 1024 4096; do
	start_holder "$mib"
	printf "%5d MiB resident: %s\n" "$mib" "$("$helper" lat "$holder" 7)"
	stop_holder
done

echo "## freeze latency by thread count, 256 MiB resident (threads idle in pause)"
for nt in 1 16 128; do
	start_holder 256 "$nt"
	printf "%5d threads: %s\n" "$nt" "$("$helper" lat "$holder" 7)"
	stop_holder
done

echo "## checkpoint throughput, 1 GiB, to tmpfs (best of 3)"
mib=1024
bytes=$((mib << 20))
dd if=/dev/urandom of="$shm/src" bs=1M count=$mib status=none
best_cat=0
for i in 1 2 3; do
	t0=$(now)
	cat "$shm/src" >"$shm/dst"
	t1=$(now)
	rm -f "$shm/dst"
	r=$(echo "$bytes / ($t1 - $t0) / 1000000000" | bc -l)
	best_cat=$(echo "if ($r > $best_cat) $r else $best_cat" | bc -l)
done
rm -f "$shm/src"

start_holder "$mib"
best_ck=0
best_t=0
for i in 1 2 3; do
	t0=$(now)
	"$cli" -q checkpoint --leave-running --unrestorable "$holder" "$shm/img"
	t1=$(now)
	size=$(stat -c %s "$shm/img")
	rm -f "$shm/img"
	r=$(echo "$size / ($t1 - $t0) / 1000000000" | bc -l)
	if [ "$(echo "$r > $best_ck" | bc -l)" = 1 ]; then
		best_ck=$r
		best_t=$(echo "$t1 - $t0" | bc -l)
	fi
done
stop_holder

memcpy=$("$helper" memcpy "$mib")
printf "checkpoint 1 GiB: %.3f s, %.2f GB/s (freeze + write + thaw, whole command)\n" \
	"$best_t" "$best_ck"
printf "cat 1 GiB tmpfs->tmpfs: %.2f GB/s\n" "$best_cat"
printf "memcpy 1 GiB: %.2f GB/s\n" "$memcpy"
printf "ratio checkpoint/cat: %.2f   checkpoint/memcpy: %.2f\n" \
	"$(echo "$best_ck / $best_cat" | bc -l)" "$(echo "$best_ck / $memcpy" | bc -l)"
