#!/bin/bash
# Lazy restart passes every restart test: each test_restart_*.sh again,
# with "clondike restart --lazy" (memory faults in from the image).
set -uo pipefail
here=$(dirname "$0")
rc=0 ran=0
for t in "$here"/test_restart_*.sh; do
	name=$(basename "$t" .sh)
	out=$(CLD_RESTART_ARGS="--lazy ${CLD_RESTART_ARGS:-}" bash "$t" 2>&1)
	st=$?
	case $st in
	0) echo "ok: $name --lazy"; ran=$((ran + 1)) ;;
	77) echo "skip: $name --lazy: $(tail -n 1 <<<"$out")" ;;
	*) echo "FAIL: $name --lazy:"; tail -n 20 <<<"$out"; rc=1 ;;
	esac
done
if [ $rc -eq 0 ] && [ $ran -eq 0 ]; then
	echo "SKIP: no restart test could run" >&2
	exit 77
fi
exit $rc
