#!/bin/bash
# A lazily restarted process that touches 1% of its memory makes the pager
# read about 1% of the image (counted by the pager, generous margin), and
# the pager's read-ahead does not turn that into a full read.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

size_mb=${LAZY_SIZE_MB:-512}
rst_start part lazy_touch "$size_mb" 1
rst_checkpoint "$RST_PID" "$RST_TMP/part.img"
CLD_RESTART_ARGS="--lazy --no-pull --lazy-stats $RST_TMP/stats" \
	rst_restart "$RST_TMP/part.img" part
rst_trigger part
rst_expect_pass part
for i in $(seq 100); do [ -s "$RST_TMP/stats" ] && break; sleep 0.05; done
cat "$RST_TMP/stats"
read_bytes=$(sed -n 's/.*image_bytes_read=\([0-9]*\).*/\1/p' "$RST_TMP/stats")
[ -n "$read_bytes" ] || rst_fail "no statistics from the pager"
total=$((size_mb << 20))
pct=$((read_bytes * 1000 / total))
echo "read $read_bytes bytes of a $total-byte memory: $((pct / 10)).$((pct % 10))%"
[ "$read_bytes" -ge $((total / 100)) ] || rst_fail "read less than the 1% that was touched"
[ "$read_bytes" -le $((total * 3 / 100)) ] || rst_fail "read more than 3% for a 1% touch"
