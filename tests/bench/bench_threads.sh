#!/bin/bash
# Multi-threaded processes (docs/threads.md): restart of a process with 64
# MiB resident and 1, 16 or 128 threads (idle in pause), eager and lazy,
# from an image on tmpfs.  "restart" is the wall time of `clondike restart
# --detach` (command start to the process running; best of 3), "lib" is
# cld_restore's own total; the ratio is against the 1-thread figure of the
# same run.  Freeze latency by thread count is in bench_freeze.sh.
# Usage: bench_threads.sh [BUILD_DIR]   (default: ./build).  Figures:
# docs/performance.md.
set -euo pipefail

. "$(dirname "$0")/bench_lib.sh"
bench_tools "${1:-}"
# No fd above 2 may leak into the measured process (a pipe of the caller's
# would be refused by the restorer).
for fd in $(ls /proc/$$/fd); do
	[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null || true
done
shm=$(mktemp -d /dev/shm/cld-bench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
	rm -rf "$shm"
}
trap cleanup EXIT

echo "# clondike thread restart benchmark, $(uname -r), $(nproc) cpus, $(date -u +%F)"
echo "| threads | mode | restart ms | lib ms | restart / 1 thread |"
echo "| --- | --- | --- | --- | --- |"
for mode in eager lazy; do
	args=
	[ "$mode" = lazy ] && args=--lazy
	base=
	for nt in 1 16 128; do
		rm -f "$shm/ready"
		"$helper" hold 64 "$nt" >"$shm/ready" 2>/dev/null </dev/null &
		h=$!
		disown "$h" # its death by checkpoint --kill is expected: no "Killed" line
		pids+=("$h")
		while ! [ -s "$shm/ready" ]; do sleep 0.05; done
		"$cli" -q checkpoint --kill "$h" "$shm/t.img" || exit 1
		best=
		for run in 1 2 3; do
			t0=$(date +%s%N)
			# shellcheck disable=SC2086 # $args is one option or none
			out=$("$cli" --json restart $args --detach "$shm/t.img" </dev/null 2>/dev/null)
			t1=$(date +%s%N)
			pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$out")
			[ -n "$pid" ] || { echo "restart failed: $out" >&2; exit 1; }
			n=$(awk '/^Threads:/{print $2}' "/proc/$pid/status")
			[ "$n" = "$nt" ] || { echo "restarted with $n threads, want $nt" >&2; exit 1; }
			ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
			if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN { exit !(a < b) }'; then
				best=$ms
				lib=$(sed -n 's/.*"total_ms":\([0-9.]*\).*/\1/p' <<<"$out")
			fi
			kill -9 "$pid"
			while [ -e "/proc/$pid" ]; do sleep 0.01; done
		done
		[ -n "$base" ] || base=$best
		awk -v nt="$nt" -v m="$mode" -v r="$best" -v l="$lib" -v b="$base" \
			'BEGIN { printf "| %d | %s | %.1f | %s | %.2f |\n", nt, m, r, l, r / b }'
		rm -f "$shm/t.img"
	done
done
