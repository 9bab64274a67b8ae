#!/bin/bash
# Restart time of 4 MiB, 256 MiB and 1 GiB processes from images on tmpfs,
# eager restore.  "restart" is the wall time of `clondike restart --detach`
# (command start to the process running); "lib" is cld_restore's own total.
# Baselines in the same run: memcpy of the image size between pre-faulted
# buffers, reading the image file once (1 MiB read()s), and reading it once
# into fresh memory (the floor for any restore: new pages must be allocated).
# Usage: bench_restart.sh [SIZES_MB...]   (env as for the integration tests;
# CLD_BUILD defaults to ./build).  Prints a markdown table.
set -euo pipefail
: "${CLD_BUILD:=$(pwd)/build}"
. "$(dirname "$0")/../integration/rst_lib.sh"
rst_setup
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(4 256 1024)

echo "| image | data MiB | restart ms | lib ms (fill ms) | fill GB/s | memcpy ms | read file ms | read into fresh memory ms | restart / read | restart / read fresh | restart / memcpy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mb in "${sizes[@]}"; do
	rst_start "f$mb" rst_fill "$mb"
	rst_checkpoint "$RST_PID" "$RST_TMP/f$mb.img"
	best=""
	for run in 1 2 3; do
		t0=$(date +%s%N)
		out=$("$CLD_BIN" --json restart --detach "$RST_TMP/f$mb.img")
		t1=$(date +%s%N)
		pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$out")
		ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
		if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$ms
			bestout=$out
		fi
		if [ "$run" -lt 3 ]; then
			kill -9 "$pid"
			while [ -e /proc/$pid ]; do sleep 0.01; done
		fi
	done
	# The last one verifies its memory.
	RST_PIDS+=("$pid")
	echo check >"$RST_TMP/f$mb.ctl"
	for i in $(seq 200); do
		grep -q '^PASS\|^FAIL' "$RST_TMP/f$mb.res" && break
		sleep 0.05
	done
	grep -q '^PASS' "$RST_TMP/f$mb.res" || rst_fail "restarted f$mb: $(cat "$RST_TMP/f$mb.res")"
	read -r _ cp _ rd _ bytes _ fresh < <("$CLD_PROGS/rst_bench_base" "$RST_TMP/f$mb.img")
	lib=$(sed -n 's/.*"total_ms":\([0-9.]*\).*/\1/p' <<<"$bestout")
	fill=$(sed -n 's/.*"fill_ms":\([0-9.]*\).*/\1/p' <<<"$bestout")
	filled=$(sed -n 's/.*"bytes_filled":\([0-9]*\).*/\1/p' <<<"$bestout")
	awk -v mb="$mb" -v b="$bytes" -v r="$best" -v l="$lib" -v f="$fill" -v fb="$filled" \
		-v c="$cp" -v d="$rd" -v e="$fresh" 'BEGIN {
		printf "| %d MiB | %.1f | %.1f | %.1f (%.1f) | %.2f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |\n",
			mb, b / 1048576, r, l, f, (f > 0 ? fb / f / 1e6 : 0), c, d, e, r / d, r / e, r / c }'
	rm -f "$RST_TMP/f$mb.img"
done
