#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 13, resources: what a user may buffer (bytes, files being written)
# and freeze is limited per user and in all, with a clear errno and a log
# line; the buffer of an image is released as soon as its restart is
# decided; other users (root) keep working.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
. "$(dirname "$0")/user_lib.sh"
test_user
memfds() { ls -l "/proc/$DPID/fd" 2>/dev/null | grep -c memfd: ; }

start_daemon --limit buffer-mb-per-user=32 --limit buffer-mb-total=48 \
	--limit writers-per-user=2 --limit writers-total=4 --limit frozen-per-user=2

# Bytes.
as_user sh -c "head -c 40M /dev/zero >'$DIR/big.img'" 2>"$T/err" && fail "40 MiB buffered past 32"
grep -q "Disk quota exceeded" "$T/err" || fail "not EDQUOT: $(cat "$T/err")"
grep -q "big.img: uid $(id -u $U) would buffer .* (limit 32 MiB per user): EDQUOT" "$T/daemon.log" ||
	fail "no log line for EDQUOT"
ok "user: $(head -1 "$T/err")"
head -c 60M /dev/zero >"$DIR/huge.img" 2>"$T/err" && fail "60 MiB buffered past the 48 MiB total"
grep -q "No space left on device" "$T/err" || fail "not ENOSPC: $(cat "$T/err")"
ok "root: $(head -1 "$T/err")"
[ "$(memfds)" = 0 ] || fail "$(memfds) buffers left after refused images"
ok "refused images leave no buffer behind"

# Files being written.
exec 5>"$DIR/w1" 6>"$DIR/w2"
as_user sh -c "exec 7>'$DIR/u1' 8>'$DIR/u2'; exec 9>'$DIR/u3'" 2>"$T/err" && fail "a user wrote past the limit"
grep -q "Disk quota exceeded" "$T/err" || fail "writers: not EDQUOT: $(cat "$T/err")"
ok "writers: the user's third file: $(head -1 "$T/err")"
exec 7>"$DIR/w3" 8>"$DIR/w4"
( exec 9>"$DIR/w5" ) 2>"$T/err" && fail "root wrote past the total"
grep -q "Too many open files in system" "$T/err" || fail "writers: not ENFILE: $(cat "$T/err")"
exec 5>&- 6>&- 7>&- 8>&-
ok "writers: past the total for root too"

# Freezes.
for i in 1 2 3; do
	setpriv --reuid="$U" --regid="$U" --init-groups /usr/bin/python3 -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$CLD_PROGS/demo_counter" </dev/null >/dev/null 2>&1 &
	eval "UP$i=$!"
	KILL_PIDS="$KILL_PIDS $!"
done
sleep 0.5
as_user /usr/bin/python3 - "$DIR" "$UP1" "$UP2" "$UP3" >"$T/fz" 2>&1 <<'PY'
import os, sys, errno
d = sys.argv[1]
held = [os.open(f"{d}/{sys.argv[2]}", os.O_RDONLY), os.open(f"{d}/{sys.argv[3]}", os.O_RDONLY)]
try:
    os.open(f"{d}/{sys.argv[4]}", os.O_RDONLY)
    print("third open worked")
except OSError as e:
    print("third:", errno.errorcode[e.errno])
PY
grep -q "third: EMFILE" "$T/fz" || fail "freezes: $(cat "$T/fz")"
grep -q "too many processes frozen at once" "$T/daemon.log" || fail "no log line for the freeze limit"
ok "freezes: the user's third open at once fails with EMFILE"
cat "$DIR/$UP3" >/dev/null || fail "root cannot read while the user is at the limit"
ls "$DIR" >/dev/null || fail "root's ls fails"
ok "root's ls and reads keep working"

# A restart releases its buffer at once.
cp "$DIR/$UP1" "$T/job.img" || fail "checkpoint"
kill -9 "$UP1"
wait "$UP1" 2>/dev/null
cp "$T/job.img" "$DIR/" 2>"$T/err" || skip "cannot restart here: $(cat "$T/err")"
newpid=$(sed -n 's/.*job.img: restarted as pid \([0-9]*\).*/\1/p' "$T/daemon.log")
KILL_PIDS="$KILL_PIDS $newpid"
[ "$(memfds)" = 0 ] || fail "$(memfds) buffer(s) left after a restart"
ok "no buffer left after a restart"
exit 0
