#!/bin/bash
# Lazy restart: time to running vs image size, single-fault latency and
# the full-scan time of a lazily restored process against the same scan in
# an eagerly restored one (target: within 1.5x), all in one run.  Baseline
# in the same run: reading the image into fresh memory (rst_bench_base),
# the floor for bringing the memory in at all: on a VM whose host backs
# each new guest page on first touch, that floor dominates both restores.
# Usage: bench_lazy.sh [SIZES_MB...]  (default 4 256 1024 4096; CLD_BUILD
# defaults to ./build).  Prints a markdown table.
set -euo pipefail
: "${CLD_BUILD:=$(pwd)/build}"
. "$(dirname "$0")/../integration/rst_lib.sh"
rst_setup
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(4 256 1024 4096)

# run_one NAME IMAGE ARGS...: restart, trigger, print "total_ms fault_us scan_ms".
run_one() {
	local name=$1 img=$2 out pid i
	shift 2
	rm -f "$RST_TMP/$name.res"
	out=$("$CLD_BIN" --json restart --detach "$@" "$img" 2>/dev/null)
	pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$out")
	[ -n "$pid" ] || rst_fail "restart $*: $out"
	RST_PIDS+=("$pid")
	echo check >"$RST_TMP/$name.ctl"
	for i in $(seq 1200); do
		grep -q '^PASS\|^FAIL' "$RST_TMP/$name.res" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '^PASS' "$RST_TMP/$name.res" || rst_fail "$name: $(cat "$RST_TMP/$name.res")"
	printf '%s %s %s\n' "$(sed -n 's/.*"total_ms":\([0-9.]*\).*/\1/p' <<<"$out")" \
		"$(sed -n 's/.*fault_us=\([0-9.]*\).*/\1/p' "$RST_TMP/$name.res")" \
		"$(sed -n 's/.*scan_ms=\([0-9.]*\).*/\1/p' "$RST_TMP/$name.res")"
	while [ -e /proc/$pid ]; do sleep 0.01; done
}

echo "| image | eager restart ms | lazy restart ms | lazy fault us | eager scan ms | lazy scan ms | lazy/eager scan | read into fresh memory ms | lazy scan / fresh read | eager restart+scan ms | lazy restart+scan ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mb in "${sizes[@]}"; do
	rst_start "s$mb" lazy_scan "$mb"
	rst_checkpoint "$RST_PID" "$RST_TMP/s$mb.img"
	read -r e_ms _ e_scan < <(run_one "s$mb" "$RST_TMP/s$mb.img")
	read -r l_ms l_fault l_scan < <(run_one "s$mb" "$RST_TMP/s$mb.img" --lazy)
	read -r _ _ _ _ _ _ _ fresh < <("$CLD_PROGS/rst_bench_base" "$RST_TMP/s$mb.img")
	awk -v mb="$mb" -v a="$e_ms" -v b="$l_ms" -v f="$l_fault" -v c="$e_scan" -v d="$l_scan" \
		-v r="$fresh" 'BEGIN { printf "| %d MiB | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %.1f |\n",
			mb, a, b, f, c, d, (c > 0 ? d / c : 0), r, (r > 0 ? d / r : 0), a + c, b + d }'
	rm -f "$RST_TMP/s$mb.img"
done
