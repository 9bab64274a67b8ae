# SPDX-License-Identifier: MIT
# Shared by test_fuse_*.sh (sourced): each test mounts its own temporary
# mountpoint with its own clondiked and cleans up in a trap.
set -u

CLD_BUILD=${CLD_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-fuse}
CLD_SRC=${CLD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLDD=${CLDD:-$CLD_BUILD/fuse/clondiked}
CLD_BIN=${CLD_BIN:-$CLD_BUILD/cli/clondike}
CLD_PROGS=${CLD_PROGS:-$CLD_BUILD/tests/progs}
IMGCMP="python3 $CLD_SRC/tests/integration/fuse_imgcmp.py"
NODE=testnode

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	[ -s "${T:-/nonexistent}/daemon.log" ] && sed 's/^/  daemon: /' "$T/daemon.log" >&2
	exit 1
}
ok() { echo "ok: $*"; }

[ -e /dev/fuse ] || skip "/dev/fuse is missing (modprobe fuse)"
[ "$(id -u)" = 0 ] || skip "needs root (the daemon freezes any process, mounts allow_other)"
# Built with everything else (fuse3 and libuv are required): missing is a fault.
[ -x "$CLDD" ] || fail "clondiked is not built: $CLDD"
[ -x "$CLD_BIN" ] || fail "clondike is not built: $CLD_BIN"
command -v fusermount3 >/dev/null || skip "fusermount3 is missing"
command -v python3 >/dev/null || skip "python3 is missing"

T=$(mktemp -d /tmp/cldd-test.XXXXXX)
MNT=$T/mnt
DIR=$MNT/$NODE
mkdir "$MNT"
chmod 755 "$T"
KILL_PIDS=""
DPID=""

cleanup() {
	local p
	exec 3<&- 2>/dev/null
	for p in $KILL_PIDS; do kill -9 "$p" 2>/dev/null; done
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	fi
	fusermount3 -u "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

start_daemon() {
	"$CLDD" -f --node "$NODE" "$@" "$MNT" 2>"$T/daemon.log" &
	DPID=$!
	for _ in $(seq 50); do
		[ -d "$DIR" ] && return 0
		kill -0 "$DPID" 2>/dev/null || fail "clondiked exited at start"
		sleep 0.1
	done
	fail "mount did not appear at $MNT"
}

# spawn OUTFILE PROG ARGS...: run PROG with only fds 0-2 (stdin /dev/null,
# stdout+stderr OUTFILE), so nothing of the test leaks into its image.
# Sets SPAWNED to its pid.
spawn() {
	local out=$1
	shift
	python3 -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$@" </dev/null >"$out" 2>&1 &
	SPAWNED=$!
	KILL_PIDS="$KILL_PIDS $SPAWNED"
}

# wait_for FILE PATTERN: until FILE contains PATTERN (10 s).
wait_for() {
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "timeout waiting for '$2' in $1"
}

# demo_check FILE: every line's hash follows from the previous one (FNV-1a
# step of demo_counter), and counts are consecutive: the self-check.
demo_check() {
	python3 "$(dirname "${BASH_SOURCE[0]}")/demo_check.py" "$1"
}
