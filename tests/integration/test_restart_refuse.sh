#!/bin/bash
# What the restorer refuses, and how:
#  - an image with a listening socket, an inotify fd, a POSIX timer on
#    a pid's CPU clock and a deleted file too big for its content to be
#    recorded is refused up front, listing every blocker, and no process
#    is created;
#  - a user other than the image's owner is refused (unless root);
#  - a failure half-way (injected with CLD_RESTORE_FAULT) kills the
#    half-built child: nothing is left, and a later restart works.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start blk rst_blocker
opid=$RST_PID
st=0
"$CLD_BIN" checkpoint "$RST_PID" "$RST_TMP/blk.img" 2>"$RST_TMP/blk.ck" || st=$?
[ "$st" -ne 0 ] && grep -q 'not restorable' "$RST_TMP/blk.ck" && grep -q 'unrestorable' "$RST_TMP/blk.ck" ||
	rst_fail "checkpoint of an unrestorable process exited $st: $(cat "$RST_TMP/blk.ck")"
echo "ok: the checkpoint refuses it first: $(tail -1 "$RST_TMP/blk.ck")"
CLD_CKPT="$CLD_BIN checkpoint --kill --unrestorable" rst_checkpoint "$RST_PID" "$RST_TMP/blk.img"
st=0
"$CLD_BIN" restart "$RST_TMP/blk.img" 2>"$RST_TMP/blk.log" || st=$?
[ "$st" -eq 1 ] || rst_fail "restart of an unrestorable image exited $st: $(cat "$RST_TMP/blk.log")"
cat "$RST_TMP/blk.log" >&2
[ "$(grep -c 'fd [0-9]*: .*not restorable' "$RST_TMP/blk.log")" -ge 2 ] ||
	rst_fail "the socket and inotify fds are not both listed"
grep -q 'POSIX timer' "$RST_TMP/blk.log" || rst_fail "the POSIX timer is not listed"
grep -q 'deleted file .*bytes are over what an image records' "$RST_TMP/blk.log" ||
	rst_fail "the deleted file over the limit is not listed"
[ ! -e /proc/$opid ] || rst_fail "a process with pid $opid exists after a refused restart"
echo "ok: blockers listed"

rst_start mem rst_mem 8
opid=$RST_PID
rst_checkpoint "$RST_PID" "$RST_TMP/mem.img"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$RST_TMP"
	chmod 644 "$RST_TMP/mem.img"
	st=0
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$CLD_BIN" restart "$RST_TMP/mem.img" 2>"$RST_TMP/creds.log" || st=$?
	[ "$st" -eq 1 ] && grep -q 'only they or root may restart it' "$RST_TMP/creds.log" ||
		rst_fail "foreign image not refused (exit $st): $(cat "$RST_TMP/creds.log")"
	echo "ok: foreign credentials refused"
	chmod 700 "$RST_TMP"
else
	echo "note: not root or no setpriv, credential refusal not tested" >&2
fi

for where in map fill regs; do
	st=0
	CLD_RESTORE_FAULT=$where "$CLD_BIN" restart "$RST_TMP/mem.img" \
		2>"$RST_TMP/fault.log" || st=$?
	[ "$st" -eq 1 ] && grep -q "injected fault at '$where'" "$RST_TMP/fault.log" ||
		rst_fail "fault at $where: exit $st: $(cat "$RST_TMP/fault.log")"
	sleep 0.1
	[ ! -e /proc/$opid ] || rst_fail "pid $opid left behind after a fault at $where"
	if pgrep -x rst_mem >/dev/null; then
		for p in $(pgrep -x rst_mem); do
			grep -q "$RST_TMP" /proc/$p/cmdline 2>/dev/null &&
				rst_fail "a half-built rst_mem ($p) was left behind after a fault at $where"
		done
	fi
	echo "ok: fault at $where left nothing behind"
done

rst_restart "$RST_TMP/mem.img" restart
rst_trigger mem
rst_expect_pass mem
