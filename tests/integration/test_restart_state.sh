#!/bin/bash
# SPDX-License-Identifier: MIT
# Process state a restart brings back or refuses up front (issue 18):
#  - restored, eager and lazy: fds that share an open file description
#    (dup) share it again, with its offset and O_NONBLOCK, and an end or
#    a file opened again separately keeps a description of its own; the
#    capacity of a pipe (with its data) and of a FIFO (with its data);
#    oom_score_adj; PR_SET_THP_DISABLE; the dumpable flag, also when root
#    restarts another user's image; memfds and deleted files with their
#    content, seals, offsets and MAP_SHARED mappings (rst_ghost.c);
#  - refused by `checkpoint` (unless --unrestorable), `restart --check` and
#    the restart, with the reason, before any process is made: a deleted
#    working directory, file locks, a deleted file over the image's limit
#    for such content, a memfd only mapped (no fd records its content);
#  - a process with children: `checkpoint` refuses it, --without-children
#    writes it; `restart --check` refuses that image, --without-children
#    restarts it, and its wait() then fails with ECHILD (the loss it
#    accepted).
. "$(dirname "$0")/rst_lib.sh"
rst_setup
[ -x "$CLD_PROGS/rst_state" ] && [ -x "$CLD_PROGS/rst_ghost" ] ||
	rst_fail "rst_state, rst_ghost are not built"

# run LABEL ARGS MODE [PROG]: start, checkpoint, kill, restart with ARGS,
# verify.
run() {
	local label=$1 args=$2 mode=$3 prog=${4:-rst_state}
	mkdir -p "$RST_TMP/$label.d"
	rst_start "$label" "$prog" "$mode" "$RST_TMP/$label.d"
	rst_checkpoint "$RST_PID" "$RST_TMP/$label.img"
	CLD_RESTART_ARGS=$args rst_restart "$RST_TMP/$label.img" "$label"
	rst_trigger "$label"
	rst_expect_pass "$label"
}

for mode in files oom thp nodump madv shm session pgrp membar; do
	run "$mode-eager" "" "$mode"
	run "$mode-lazy" --lazy "$mode"
done
# The audit login uid: restored (root may set it), and refused to a
# restarter that may not change its own.
if [ -e /proc/self/loginuid ]; then
	run loginuid-eager "" loginuid
	run loginuid-lazy --lazy loginuid
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
		mkdir -p "$RST_TMP/lu" && chmod 755 "$RST_TMP" "$RST_TMP/lu"
		cp "$RST_TMP/loginuid-eager.img" "$RST_TMP/lu/img" && chmod 644 "$RST_TMP/lu/img"
		st=0
		sh -c 'echo 1000 >/proc/self/loginuid && exec setpriv --reuid=65534 --regid=65534 \
			--clear-groups "$0" restart --check "$1"' "$CLD_BIN" "$RST_TMP/lu/img" \
			>"$RST_TMP/lu/chk" 2>&1 || st=$?
		[ "$st" -ne 0 ] && grep -q "its login uid 4242 differs from this command's 1000" \
			"$RST_TMP/lu/chk" ||
			rst_fail "loginuid, restarted by nobody with login uid 1000: --check exited $st: $(cat "$RST_TMP/lu/chk")"
		echo "ok: loginuid refused: $(grep -m1 'login uid' "$RST_TMP/lu/chk" | sed 's/^ *//')"
	else
		echo "SKIP: loginuid refusal: needs root and setpriv" >&2
	fi
else
	echo "SKIP: loginuid: this kernel has no audit (/proc/self/loginuid)" >&2
fi
for mode in memfd memfd_map ghost ghost_gone ghost_map; do
	run "$mode-eager" "" "$mode" rst_ghost
	run "$mode-lazy" --lazy "$mode" rst_ghost
done

# The objects of event loops: eventfd, timerfd, signalfd, epoll, pidfd,
# O_PATH (rst_events.c says what it checks).
sleep 1000 &
SLEEPER=$!
RST_PIDS+=("$SLEEPER")
for how in eager lazy; do
	args=
	[ $how = lazy ] && args=--lazy
	mkdir -p "$RST_TMP/events-$how.d"
	rst_start "events-$how" rst_events "$SLEEPER" "$RST_TMP/events-$how.d"
	rst_checkpoint "$RST_PID" "$RST_TMP/events-$how.img"
	CLD_RESTART_ARGS=$args rst_restart "$RST_TMP/events-$how.img" "events-$how"
	rst_trigger "events-$how"
	rst_expect_pass "events-$how"
done
# A pidfd of a process that is gone: refused.
sleep 1000 &
GONE=$!
mkdir -p "$RST_TMP/events-gone.d"
rst_start events-gone rst_events "$GONE" "$RST_TMP/events-gone.d"
rst_checkpoint "$RST_PID" "$RST_TMP/events-gone.img"
kill "$GONE"
wait "$GONE" 2>/dev/null || true
st=0
"$CLD_BIN" restart --check "$RST_TMP/events-gone.img" >"$RST_TMP/events-gone.chk" 2>&1 || st=$?
[ "$st" -ne 0 ] && grep -q "a pidfd of process $GONE, which does not run here" "$RST_TMP/events-gone.chk" ||
	rst_fail "a pidfd of a process that is gone: --check exited $st: $(cat "$RST_TMP/events-gone.chk")"
echo "ok: $(grep -m1 'pidfd' "$RST_TMP/events-gone.chk" | sed 's/^ *//')"

# Root restarts another user's image: the change of uid clears the
# dumpable flag; the process must get its own back.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$RST_TMP/nob"
	printf '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups %s "$@"\n' \
		"$CLD_PROGS/rst_state" >"$RST_TMP/nob/rst_state"
	chmod 755 "$RST_TMP/nob/rst_state"
	chmod 777 "$RST_TMP"
	mkfifo -m 666 "$RST_TMP/dump-foreign.ctl"
	CLD_PROGS=$RST_TMP/nob run dump-foreign "" dump
	grep -q '^uid 65534' "$RST_TMP/dump-foreign.res" || rst_fail "dump-foreign: not restarted as 65534"
	chmod 700 "$RST_TMP"
else
	echo "note: not root or no setpriv: a foreign image's dumpable flag is not tested" >&2
fi

# refused LABEL MODE PATTERN [PROG]: the checkpoint refuses it naming PATTERN
# and leaves it running; with --unrestorable the image is written, and
# --check and restart refuse it naming PATTERN: nothing runs under its pid.
refused() {
	local label=$1 mode=$2 pat=$3 prog=${4:-rst_state} st pid
	mkdir -p "$RST_TMP/$label.d"
	rst_start "$label" "$prog" "$mode" "$RST_TMP/$label.d"
	pid=$RST_PID
	st=0
	"$CLD_BIN" checkpoint "$pid" "$RST_TMP/$label.img" >"$RST_TMP/$label.ck" 2>&1 || st=$?
	[ "$st" -ne 0 ] && grep -q "$pat" "$RST_TMP/$label.ck" && [ ! -e "$RST_TMP/$label.img" ] ||
		rst_fail "$label: checkpoint exited $st: $(cat "$RST_TMP/$label.ck")"
	kill -0 "$pid" || rst_fail "$label: the refused process does not run any more"
	CLD_CKPT="$CLD_BIN checkpoint --kill --unrestorable" rst_checkpoint "$pid" "$RST_TMP/$label.img"
	st=0
	"$CLD_BIN" restart --check "$RST_TMP/$label.img" >"$RST_TMP/$label.chk" 2>&1 || st=$?
	[ "$st" -ne 0 ] && grep -q "$pat" "$RST_TMP/$label.chk" ||
		rst_fail "$label: restart --check exited $st: $(cat "$RST_TMP/$label.chk")"
	st=0
	"$CLD_BIN" restart "$RST_TMP/$label.img" >"$RST_TMP/$label.rst" 2>&1 || st=$?
	[ "$st" -eq 1 ] && grep -q "$pat" "$RST_TMP/$label.rst" ||
		rst_fail "$label: restart exited $st: $(cat "$RST_TMP/$label.rst")"
	[ ! -e "/proc/$pid" ] || rst_fail "$label: pid $pid exists after a refused restart"
	echo "ok: $label refused: $(grep -m1 "$pat" "$RST_TMP/$label.chk" | sed 's/^ *//')"
}

refused cwd cwd 'working directory .* is deleted'
refused locks locks 'file locks or leases'
refused ghost_big ghost_big 'deleted file .* bytes are over what an image records' rst_ghost
refused map_only map_only \
	'deleted file (/memfd:map-only) whose content is not in the image' rst_ghost

# ---- A process with children --------------------------------------------------
mkdir -p "$RST_TMP/kids.d"
rst_start kids rst_state children "$RST_TMP/kids.d"
for k in $(pgrep -P "$RST_PID"); do RST_PIDS+=("$k"); done
st=0
"$CLD_BIN" checkpoint "$RST_PID" "$RST_TMP/kids.img" >"$RST_TMP/kids.ck" 2>&1 || st=$?
[ "$st" -ne 0 ] && grep -q 'had children' "$RST_TMP/kids.ck" ||
	rst_fail "checkpoint of a process with children exited $st: $(cat "$RST_TMP/kids.ck")"
[ ! -e "$RST_TMP/kids.img" ] || rst_fail "a refused checkpoint left an image"
kill -0 "$RST_PID" || rst_fail "the refused process does not run any more"
grep -q '^State:.*[ST]' "/proc/$RST_PID/status" || rst_fail "the refused process is not thawed"
echo "ok: checkpoint refused: $(tr '\n' ' ' <"$RST_TMP/kids.ck")"
CLD_CKPT="$CLD_BIN checkpoint --kill --without-children" rst_checkpoint "$RST_PID" "$RST_TMP/kids.img"
st=0
"$CLD_BIN" restart --check "$RST_TMP/kids.img" >"$RST_TMP/kids.chk" 2>&1 || st=$?
[ "$st" -ne 0 ] && grep -q 'had children' "$RST_TMP/kids.chk" ||
	rst_fail "restart --check of a process with children exited $st: $(cat "$RST_TMP/kids.chk")"
echo "ok: restart --check refuses its image: $(grep -m1 'had children' "$RST_TMP/kids.chk" | sed 's/^ *//')"
CLD_RESTART_ARGS=--without-children rst_restart "$RST_TMP/kids.img" kids
rst_trigger kids
rst_expect_pass kids
exit 0
