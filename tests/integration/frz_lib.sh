# Shared helpers of the freezer tests (test_freeze_*.sh, test_checkpoint_*.sh).
# Sourced, not run.  Env (set by CMake): CLD_BUILD, CLD_BIN, CLD_PROGS.
set -euo pipefail

: "${CLD_BUILD:?CLD_BUILD must point at the build directory}"
: "${CLD_BIN:=$CLD_BUILD/cli/clondike}"
: "${CLD_PROGS:=$CLD_BUILD/tests/progs}"

frz_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

frz_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

frz_setup() {
	local base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	FRZ_TMP=$(mktemp -d "$base/cld-frz.XXXXXX")
	FRZ_PIDS=()
	trap frz_cleanup EXIT
	[ -x "$CLD_BIN" ] || frz_fail "$CLD_BIN not built"
	[ -x "$CLD_PROGS/frz_target" ] || frz_fail "$CLD_PROGS/frz_target not built"
}

frz_cleanup() {
	local p
	for p in "${FRZ_PIDS[@]:-}"; do
		[ -n "$p" ] || continue
		"$CLD_BIN" -q thaw "$p" 2>/dev/null || true
		kill -9 "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$FRZ_TMP"
}

# frz_start MODE: run frz_target MODE under frz_parent; sets FRZ_PID,
# FRZ_MAGIC, FRZ_CADDR (address of frz_counter) from its first line.
frz_start() {
	local i
	rm -f "$FRZ_TMP/out" "$FRZ_TMP/report"
	"$CLD_PROGS/frz_parent" "$FRZ_TMP/report" "$CLD_PROGS/frz_target" "$@" \
		"$FRZ_TMP/file" >"$FRZ_TMP/out" 2>&1 &
	FRZ_PIDS+=("$!")
	for i in $(seq 100); do
		[ -s "$FRZ_TMP/out" ] && break
		sleep 0.05
	done
	read -r _ FRZ_PID _ FRZ_MAGIC _ FRZ_CADDR _ <"$FRZ_TMP/out" || frz_fail "target did not start"
	FRZ_PIDS+=("$FRZ_PID")
	sleep 0.2 # let it get into its loop
}

# frz_finish: end the target with SIGUSR1 and check its self-check and
# that its parent saw no stop.
frz_finish() {
	local i
	kill -USR1 "$FRZ_PID"
	for i in $(seq 100); do
		[ -s "$FRZ_TMP/report" ] && break
		sleep 0.05
	done
	[ -s "$FRZ_TMP/report" ] || frz_fail "target did not exit after SIGUSR1"
	grep -q "^selfcheck ok" "$FRZ_TMP/out" || frz_fail "self-check: $(cat "$FRZ_TMP/out")"
	grep -qx "stops 0 continues 0 sigchld 1 status 0" "$FRZ_TMP/report" ||
		frz_fail "parent saw: $(cat "$FRZ_TMP/report")"
}

# Live value of the target's frz_counter (a long at FRZ_CADDR).
frz_live_counter() {
	dd if=/proc/$FRZ_PID/mem bs=8 count=1 skip=$((FRZ_CADDR / 8)) 2>/dev/null |
		od -An -td8 | tr -d ' '
}
