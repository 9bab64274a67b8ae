#!/bin/bash
# `clondike inspect` of a checkpoint lists exactly the mappings and fds of
# the live process (read from /proc while it is frozen), with the pipe,
# the file at offset 5 and /dev/null the target opened.  Then
# `checkpoint --kill` leaves a complete image and a dead process whose
# parent sees SIGKILL.
. "$(dirname "$0")/frz_lib.sh"
frz_setup

frz_start spin
"$CLD_BIN" -q freeze "$FRZ_PID"
"$CLD_BIN" -q checkpoint --unrestorable "$FRZ_PID" "$FRZ_TMP/img"
"$CLD_BIN" --json inspect "$FRZ_TMP/img" >"$FRZ_TMP/insp.json"

# Mappings: same ranges and protections ([vsyscall] is above what jq's
# doubles hold exactly, and the same everywhere).
grep -v '\[vsyscall\]' /proc/$FRZ_PID/maps | while read -r range perm _; do
	echo "$((16#${range%-*})) $((16#${range#*-})) $perm"
done >"$FRZ_TMP/maps.proc"
jq -r '.mappings[] | select(.name != "[vsyscall]") | "\(.start) \(.end) \(.prot)"' \
	"$FRZ_TMP/insp.json" >"$FRZ_TMP/maps.img"
diff "$FRZ_TMP/maps.proc" "$FRZ_TMP/maps.img" >&2 || frz_fail "mappings differ from /proc"

# fds: same numbers; the ones the target opened have the right kinds.
ls /proc/$FRZ_PID/fd | sort -n >"$FRZ_TMP/fds.proc"
jq -r '.fds[].fd' "$FRZ_TMP/insp.json" | sort -n >"$FRZ_TMP/fds.img"
diff "$FRZ_TMP/fds.proc" "$FRZ_TMP/fds.img" >&2 || frz_fail "fds differ from /proc"
read -r _ _ _ _ _ _ _ pr pw _ ff _ nf <"$FRZ_TMP/out"
kind() { jq -r ".fds[] | select(.fd == $1) | .kind" "$FRZ_TMP/insp.json"; }
[ "$(kind "$pr")" = pipe ] && [ "$(kind "$pw")" = pipe ] || frz_fail "pipe fds"
[ "$(kind "$ff")" = file ] || frz_fail "file fd kind $(kind "$ff")"
[ "$(jq -r ".fds[] | select(.fd == $ff) | .pos" "$FRZ_TMP/insp.json")" = 5 ] ||
	frz_fail "file offset not 5"
[ "$(kind "$nf")" = chr ] || frz_fail "/dev/null fd kind $(kind "$nf")"
# The unread pipe data is in the image.
grep -qa "unread pipe data survives a freeze" "$FRZ_TMP/img" || frz_fail "pipe data missing"
"$CLD_BIN" -q thaw "$FRZ_PID"
frz_finish

# --kill: image complete, process killed (parent sees signal 9).
frz_start spin
"$CLD_BIN" -q checkpoint --kill --unrestorable "$FRZ_PID" "$FRZ_TMP/img2"
"$CLD_BIN" verify "$FRZ_TMP/img2" >/dev/null || frz_fail "verify after --kill"
for i in $(seq 100); do
	[ -s "$FRZ_TMP/report" ] && break
	sleep 0.05
done
grep -q "status 137" "$FRZ_TMP/report" || frz_fail "after --kill: $(cat "$FRZ_TMP/report")"
echo PASS
