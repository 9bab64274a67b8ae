#!/bin/bash
# SPDX-License-Identifier: MIT
# Multi-threaded processes (issue 17): checkpoint -> kill -> restart, eager,
# lazy and with new tids (--new-pid), of self-checking programs:
#  - 16 threads with live AVX registers, TLS values and known results;
#  - threads blocked in pthread_cond_wait, on a mutex held across the
#    checkpoint, in nanosleep and in read() on a pipe;
#  - per-thread signal masks, a pthread_kill signal pending on one
#    thread, a pthread_kill after the restart (glibc's kept tid), and
#    per-thread names (pthread_setname_np) kept;
#  - threads created and exiting while the freeze happens: 30 checkpoints
#    of a churning process, none lost or hung, the last one restarted;
#  - an OpenMP (libgomp) program and a python3 thread pool;
# gdb lists every thread of an image with a backtrace; threads with
# differing credentials are refused with the reason.
. "$(dirname "$0")/rst_lib.sh"
rst_setup
[ -x "$CLD_PROGS/rst_threads" ] && [ -x "$CLD_PROGS/rst_omp" ] || rst_fail "test programs not built"
PY=$(command -v python3) || rst_skip "python3 is needed for the thread-pool program"
POOL=$(cd "$(dirname "$0")/../progs" && pwd)/rst_pool.py

# run LABEL ARGS PROG [PROG ARGS]: start, checkpoint, kill, restart with
# CLD_RESTART_ARGS=ARGS, trigger, expect PASS.
run() {
	local label=$1 args=$2
	shift 2
	rst_start "$label" "$@"
	rst_checkpoint "$RST_PID" "$RST_TMP/$label.img"
	CLD_RESTART_ARGS=$args rst_restart "$RST_TMP/$label.img" "$label"
	rst_trigger "$label"
	rst_expect_pass "$label"
}

for how in eager lazy newpid; do
	case $how in
	eager) args= ;;
	lazy) args=--lazy ;;
	newpid) args=--new-pid ;;
	esac
	run "avx-$how" "$args" rst_threads avx 16
	run "block-$how" "$args" rst_threads block
	run "sig-$how" "$args" rst_threads sig
	run "churn-$how" "$args" rst_threads churn
done
run omp-eager "" rst_omp
run omp-lazy --lazy rst_omp

# The python program is started through rst_start's protocol by a tiny
# wrapper in CLD_PROGS' place.
mkdir -p "$RST_TMP/py"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$PY" "$POOL" >"$RST_TMP/py/pool"
chmod +x "$RST_TMP/py/pool"
CLD_PROGS=$RST_TMP/py run pool-eager "" pool
CLD_PROGS=$RST_TMP/py run pool-lazy --lazy pool

# ---- Freezes while threads come and go ----------------------------------------
rst_start churn rst_threads churn
for i in $(seq 30); do
	timeout 20 "$CLD_BIN" -q checkpoint "$RST_PID" "$RST_TMP/c.img" ||
		rst_fail "checkpoint $i of a churning process failed or hung"
	n=$(readelf -n "$RST_TMP/c.img" | grep -c NT_PRSTATUS)
	[ "$n" -ge 3 ] || rst_fail "checkpoint $i has $n threads (at least 3 live)"
	kill -0 "$RST_PID" || rst_fail "the churning process died at checkpoint $i"
done
echo "ok: 30 checkpoints of a churning process; the last has $n threads"
rst_checkpoint "$RST_PID" "$RST_TMP/churn.img"
rst_restart "$RST_TMP/churn.img" churn
rst_trigger churn
rst_expect_pass churn

# ---- gdb ----------------------------------------------------------------------------
if command -v gdb >/dev/null; then
	rst_start gdb rst_threads block
	"$CLD_BIN" -q checkpoint "$RST_PID" "$RST_TMP/gdb.img" || rst_fail "checkpoint for gdb"
	gdb -batch -ex 'info threads' -ex 'thread apply all bt' "$CLD_PROGS/rst_threads" \
		"$RST_TMP/gdb.img" >"$RST_TMP/gdb.out" 2>&1 || true
	n=$(grep -c '^Thread [0-9]* (Thread 0x[0-9a-f]* (LWP [0-9]*))' "$RST_TMP/gdb.out" || true)
	[ "$n" = 6 ] || rst_fail "gdb shows $n threads with a backtrace, want 6: $(head -c 2000 "$RST_TMP/gdb.out")"
	for f in cond_waiter holder locker sleeper reader main; do
		grep -q " in $f (\|^#[0-9].* $f (" "$RST_TMP/gdb.out" ||
			rst_fail "no frame of $f in gdb's backtraces: $(head -c 2000 "$RST_TMP/gdb.out")"
	done
	echo "ok: gdb: 6 threads, each with its backtrace (cond_waiter holder locker sleeper reader main)"
else
	echo "SKIP (part): gdb is not installed: no gdb check of the threads"
fi

# ---- Threads with other credentials -------------------------------------------------
if [ "$(id -u)" = 0 ]; then
	rst_start creds rst_threads creds
	"$CLD_BIN" checkpoint "$RST_PID" "$RST_TMP/x.img" 2>"$RST_TMP/err" &&
		rst_fail "a process with a thread of other credentials was checkpointed"
	grep -q "has other credentials" "$RST_TMP/err" || rst_fail "refusal: $(cat "$RST_TMP/err")"
	kill -0 "$RST_PID" || rst_fail "the refused process died"
	[ ! -e "$RST_TMP/x.img" ] || rst_fail "the refusal left an image"
	echo "ok: refused: $(head -1 "$RST_TMP/err")"
else
	echo "SKIP (part): not root: no thread with other credentials"
fi
exit 0
