#!/usr/bin/env bash
# The main job: a process is frozen, checkpointed to a file, killed,
# restarted from the file (lazily: its memory follows on demand), and
# carries on counting from where it was.
# Usage: contrib/demo.sh [BUILD_DIR]   (contrib/setup.sh demo runs it)
set -euo pipefail
build=$(cd "${1:-$(dirname "$0")/../build}" && pwd)
cld=$build/cli/clondike
prog=$build/tests/progs/demo_counter
work=$(mktemp -d /tmp/clondike-demo.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "1. a process that counts (its output goes to $work/counter.log)"
# Started with no fds but 0-2, so its image holds only what it uses.
bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done;
	exec "$0" </dev/null >"$1" 2>&1' "$prog" "$work/counter.log" &
pid=$!
disown "$pid" # bash need not report its death
pids+=("$pid")
sleep 2
tail -n 3 "$work/counter.log"

say "2. freeze it and write its checkpoint, then kill it"
run "$cld" checkpoint --kill "$pid" "$work/counter.core"
last=$(tail -n 1 "$work/counter.log")
echo "last line before the checkpoint: $last"

say "3. the checkpoint is an ELF core file with everything needed to restart"
run "$cld" inspect "$work/counter.core" | head -n 12
run "$cld" verify "$work/counter.core"
ls -ls "$work/counter.core"
if command -v gdb >/dev/null; then
	run gdb -batch -ex 'info registers rip' "$prog" "$work/counter.core" 2>/dev/null | tail -n 1
fi

say "4. restart it from the file (lazy: memory is paged in from the image)"
run "$cld" restart --lazy --detach "$work/counter.core" 2>&1
sleep 2
newpid=$(sed -n 's/.* pid \([0-9]*\)$/\1/p' "$work/counter.log" | tail -n 1)
pids+=("$newpid")

say "5. it carries on from where it was"
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
say "done"
