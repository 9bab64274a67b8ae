#!/bin/bash
# Clear refusals: no such pid, kernel thread, zombie,
# another user's process, a process frozen twice, thaw of a process that
# is not frozen.  Each exits 1 with a message naming the cause, and no
# image file is left behind.
. "$(dirname "$0")/frz_lib.sh"
frz_setup

# expect CMD... ; PATTERN in $want
refuse() {
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" = 1 ] || frz_fail "'$*' exited $rc, want 1 ($out)"
	grep -qi -- "$want" <<<"$out" || frz_fail "'$*' said '$out', want /$want/"
	[ ! -e "$FRZ_TMP/x.img" ] || frz_fail "'$*' left an image file"
	ls "$FRZ_TMP" | grep -q partial && frz_fail "'$*' left a partial file"
	echo "ok: $out"
}

want="no process with pid" refuse "$CLD_BIN" checkpoint 4194303 "$FRZ_TMP/x.img"
want="no process with pid" refuse "$CLD_BIN" freeze 4194303
want="kernel thread" refuse "$CLD_BIN" checkpoint 2 "$FRZ_TMP/x.img"

"$CLD_PROGS/frz_zombie" >"$FRZ_TMP/z" &
FRZ_PIDS+=("$!")
for i in $(seq 100); do
	[ -s "$FRZ_TMP/z" ] && break
	sleep 0.05
done
# Until the child has really exited: under load it may not have yet.
for i in $(seq 200); do
	[ "$(awk '{ print $3 }' "/proc/$(cat "$FRZ_TMP/z")/stat" 2>/dev/null)" = Z ] && break
	sleep 0.05
done
want="zombie" refuse "$CLD_BIN" checkpoint "$(cat "$FRZ_TMP/z")" "$FRZ_TMP/x.img"

frz_start spin
"$CLD_BIN" -q freeze "$FRZ_PID"
want="already frozen" refuse "$CLD_BIN" freeze "$FRZ_PID"
"$CLD_BIN" -q thaw "$FRZ_PID"
want="not frozen" refuse "$CLD_BIN" thaw "$FRZ_PID"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# root's process, seen by nobody
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	if nobody "$CLD_BIN" --version >/dev/null 2>&1; then
		chmod 777 "$FRZ_TMP"
		want="permission denied" refuse nobody "$CLD_BIN" checkpoint "$FRZ_PID" "$FRZ_TMP/x.img"
		want="permission denied" refuse nobody "$CLD_BIN" freeze "$FRZ_PID"
		# and a freeze by root cannot be thawed by nobody
		"$CLD_BIN" -q freeze "$FRZ_PID"
		want="permission denied" refuse nobody "$CLD_BIN" thaw "$FRZ_PID"
		"$CLD_BIN" -q thaw "$FRZ_PID"
	else
		echo "note: nobody cannot run $CLD_BIN; other-user case not run" >&2
	fi
else
	echo "note: not root; other-user case not run" >&2
fi
frz_finish
echo PASS
