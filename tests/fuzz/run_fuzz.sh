#!/bin/bash
# Bounded libFuzzer run of the image reader (CTest test fuzz.image_read).
#
#   run_fuzz.sh HARNESS CLD_MKIMAGE SEEDS_DIR
#
# The corpus is a temporary copy of SEEDS_DIR plus images freshly written
# by CLD_MKIMAGE (so it follows the current writer even if the committed
# seeds are older); CLD_MKIMAGE "-" for harnesses that take no images.  Runs for $CLD_FUZZ_SECONDS seconds (default 60).
# Inputs in SEEDS_DIR/../crashes (past crashes) are replayed first.
# Exits non-zero on any crash, leak, timeout, OOM or sanitizer report;
# the offending inputs are copied to $CLD_FUZZ_ARTIFACTS (default
# ./fuzz-artifacts).
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 HARNESS CLD_MKIMAGE SEEDS_DIR" >&2
	exit 2
fi
harness=$1
mkimage=$2
seeds=$3
seconds=${CLD_FUZZ_SECONDS:-60}
artifacts=${CLD_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}

for f in "$harness" ${mkimage#-}; do
	if [ ! -x "$f" ]; then
		echo "run_fuzz: $f is not an executable" >&2
		exit 2
	fi
done
if [ ! -d "$seeds" ]; then
	echo "run_fuzz: no seed directory $seeds" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cld-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus" "$tmp/art"
cp "$seeds"/* "$tmp/corpus/"
if [ "$mkimage" != - ]; then
	"$mkimage" "$tmp/corpus/fresh-1thread.core"
	"$mkimage" --threads 2 "$tmp/corpus/fresh-2threads.core"
fi

# -max_len: room for the largest seed plus some growth.
max=0
for f in "$tmp"/corpus/*; do
	s=$(stat -c %s "$f")
	[ "$s" -gt "$max" ] && max=$s
done
max_len=$((max + 4096))

# Inputs that once crashed the reader (tests/fuzz/crashes, next to the
# seeds) must keep being refused cleanly.
crashes=$(dirname "$seeds")/crashes
if [ -d "$crashes" ] && [ -n "$(ls -A "$crashes")" ]; then
	if ! "$harness" "$crashes"/* >"$tmp/regress.log" 2>&1; then
		tail -n 40 "$tmp/regress.log" >&2
		echo "run_fuzz: FAILED: a past crash input ($crashes) crashes again" >&2
		exit 1
	fi
	echo "run_fuzz: $(ls "$crashes" | wc -l) past crash inputs still handled"
fi

echo "run_fuzz: $(ls "$tmp/corpus" | wc -l) seeds, ${seconds}s, max_len $max_len"
rc=0
"$harness" "$tmp/corpus" \
	-max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$max_len" \
	-timeout=30 -print_final_stats=1 -artifact_prefix="$tmp/art/" \
	>"$tmp/log" 2>&1 || rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log" | tail -n1)
bad=0
if [ "$rc" -ne 0 ]; then
	bad=1
fi
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: (Address|Leak|Undefined)' "$tmp/log"; then
	bad=1
fi
if [ -n "$(ls -A "$tmp/art")" ]; then
	bad=1
fi

if [ "$bad" -ne 0 ]; then
	tail -n 80 "$tmp/log" >&2
	if [ -n "$(ls -A "$tmp/art")" ]; then
		mkdir -p "$artifacts"
		cp "$tmp"/art/* "$artifacts/"
		echo "run_fuzz: failing inputs saved in $artifacts:" >&2
		ls -l "$artifacts" >&2
	fi
	echo "run_fuzz: FAILED (exit $rc) after ${execs:-?} executions" >&2
	exit 1
fi
grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs)' "$tmp/log" | tail -n2 || true
echo "run_fuzz: OK, ${execs:-?} executions in ${seconds}s, no crash, leak or sanitizer report"
