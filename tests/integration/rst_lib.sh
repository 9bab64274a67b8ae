# Shared helpers of the restart tests (tests/integration/test_restart_*.sh).
# Sourced, not run.  Env (set by CMake): CLD_BUILD, CLD_BIN, CLD_PROGS.
# CLD_CKPT may name another "CMD PID FILE" checkpoint command that kills
# the process (default: clondike checkpoint --kill).  CLD_RESTART_ARGS adds
# options to every "clondike restart" (test_lazy_restart.sh: --lazy).
set -euo pipefail

: "${CLD_BUILD:?CLD_BUILD must point at the build directory}"
: "${CLD_BIN:=$CLD_BUILD/cli/clondike}"
: "${CLD_PROGS:=$CLD_BUILD/tests/progs}"

rst_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

rst_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# Start: temp dir on tmpfs if there is one, checkpoint command available.
rst_setup() {
	local base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	RST_TMP=$(mktemp -d "$base/cld-rst.XXXXXX")
	RST_PIDS=()
	trap rst_cleanup EXIT
	[ -x "$CLD_BIN" ] || rst_fail "$CLD_BIN not built"
	: "${CLD_CKPT:=$CLD_BIN checkpoint --kill}"
}

rst_cleanup() {
	local p
	for p in "${RST_PIDS[@]:-}"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$RST_TMP"
}

# Run "$@" with no fd above 2 (the test harness may leak some, e.g. a pipe
# whose other end is elsewhere, which the restorer would rightly refuse).
rst_clean_exec() {
	local fd
	for fd in $(ls /proc/$BASHPID/fd); do
		if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then
			eval "exec $fd>&-" 2>/dev/null || true
		fi
	done
	exec "$@"
}

# rst_start NAME PROG [ARGS...]: start a test program with its result file
# $RST_TMP/NAME.res, control FIFO $RST_TMP/NAME.ctl, stdout/stderr in
# $RST_TMP/NAME.out; wait for READY; RST_PID gets its pid.
rst_start() {
	local name=$1 prog=$2 i
	shift 2
	rm -f "$RST_TMP/$name.res"
	[ -p "$RST_TMP/$name.ctl" ] || mkfifo "$RST_TMP/$name.ctl"
	(rst_clean_exec "$CLD_PROGS/$prog" "$RST_TMP/$name.res" "$RST_TMP/$name.ctl" "$@" \
		>"$RST_TMP/$name.out" 2>&1 </dev/null) &
	RST_PID=$!
	RST_PIDS+=("$RST_PID")
	for i in $(seq 600); do
		grep -q '^READY' "$RST_TMP/$name.res" 2>/dev/null && return 0
		kill -0 "$RST_PID" 2>/dev/null || rst_fail "$prog died before READY: $(cat "$RST_TMP/$name.out")"
		sleep 0.05
	done
	rst_fail "$prog never became READY"
}

# rst_checkpoint PID IMAGE: checkpoint, kill, reap.
rst_checkpoint() {
	local pid=$1 img=$2 i
	$CLD_CKPT "$pid" "$img" || rst_fail "checkpoint of $pid failed"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# A restarted process is reaped by its restart command, not by us.
	for i in $(seq 100); do
		[ -e /proc/$pid ] || return 0
		sleep 0.05
	done
	rst_fail "pid $pid still exists after checkpoint --kill"
}

# rst_restart IMAGE LOGNAME: start "clondike restart IMAGE" in the
# background; RST_RPID gets the restart command's pid, RST_PID the
# restarted process's.
rst_restart() {
	local img=$1 log=$RST_TMP/$2.log i
	# shellcheck disable=SC2086 # word splitting of the options is wanted
	(rst_clean_exec "$CLD_BIN" restart ${CLD_RESTART_ARGS:-} "$img" 2>"$log") &
	RST_RPID=$!
	RST_PIDS+=("$RST_RPID")
	for i in $(seq 400); do
		if grep -q 'restarted' "$log" 2>/dev/null; then
			RST_PID=$(sed -n 's/.* restarted as pid \([0-9]*\).*/\1/p; s/^clondike restart: pid \([0-9]*\) restarted (same pid).*/\1/p' "$log" | head -1)
			[ -n "$RST_PID" ] || rst_fail "cannot parse: $(cat "$log")"
			RST_PIDS+=("$RST_PID")
			return 0
		fi
		if ! kill -0 "$RST_RPID" 2>/dev/null; then
			rst_fail "restart of $img failed: $(cat "$log")"
		fi
		sleep 0.05
	done
	rst_fail "restart of $img did not report a running process: $(cat "$log")"
}

# rst_trigger NAME: ask the program to verify itself.
rst_trigger() {
	echo check >"$RST_TMP/$1.ctl"
}

# rst_expect_pass NAME: wait for the restart command (the program's parent)
# and require PASS and exit status 0.
rst_expect_pass() {
	local name=$1 st=0
	wait "$RST_RPID" || st=$?
	grep -q '^PASS' "$RST_TMP/$name.res" 2>/dev/null ||
		rst_fail "$name: $(grep -v '^READY' "$RST_TMP/$name.res" 2>/dev/null || echo 'no result') (exit $st; output: $(head -c 500 "$RST_TMP/$name.out"))"
	[ "$st" -eq 0 ] || rst_fail "$name passed but clondike restart exited $st"
	echo "ok: $name: $(grep '^PASS' "$RST_TMP/$name.res")"
}

# rst_maps_equal A B: /proc/PID/maps before checkpoint and after restart
# are the same (addresses, protections, offsets, devices, inodes, paths).
rst_maps_equal() {
	diff -u "$1" "$2" >&2 || rst_fail "/proc/PID/maps of the restarted process differs from the original's"
}
