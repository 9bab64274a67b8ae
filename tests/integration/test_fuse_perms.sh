#!/bin/bash
# SPDX-License-Identifier: MIT
# Permissions with an unprivileged user: ls -l shows owners; the user sees
# only their own processes, gets EACCES on another user's, can copy their
# own; an image with root's credentials written by the user is refused;
# the user's own image restarts with the user's uid.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"
. "$(dirname "$0")/user_lib.sh"
test_user

start_daemon
mkdir "$T/u"
chmod 777 "$T/u"
# Its output file is its own: a restart opens it again as the user.
install -o "$U" -g "$U" -m 644 /dev/null "$T/u/user.out"

spawn "$T/root.out" "$CLD_PROGS/demo_counter"
RP=$SPAWNED
chmod 666 "$T/root.out"
setpriv --reuid="$U" --regid="$U" --init-groups /usr/bin/python3 -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
	"$CLD_PROGS/demo_counter" </dev/null >"$T/u/user.out" 2>&1 &
UP=$!
KILL_PIDS="$KILL_PIDS $UP"
wait_for "$T/root.out" "count 2 "
wait_for "$T/u/user.out" "count 2 "

[ "$(stat -c %u "$DIR/$RP")" = 0 ] || fail "root's process not owned by root"
[ "$(stat -c %u "$DIR/$UP")" = "$UID_U" ] || fail "user's process not owned by $UID_U"
ls -l "$DIR" 2>/dev/null | grep -q " $U .* $UP\$" || fail "ls -l does not show $U owning $UP"
ok "ls -l owners: $(ls -l "$DIR/$UP")"

as_user ls "$DIR" >"$T/u/list" || fail "user cannot list"
grep -qx "$UP" "$T/u/list" || fail "user does not see their own process"
grep -qx "$RP" "$T/u/list" && fail "user sees root's process in the listing"
ok "user lists only their own processes ($(wc -l <"$T/u/list") entries)"

as_user cat "$DIR/$RP" >/dev/null 2>"$T/u/err" && fail "user read root's process"
grep -q "Permission denied" "$T/u/err" || fail "not EACCES: $(cat "$T/u/err")"
ok "EACCES on another user's process"

# Root's image written by the user: refused (never root's credentials).
cp "$DIR/$RP" "$T/u/root.img" && chmod 644 "$T/u/root.img"
kill -9 "$RP"
wait "$RP" 2>/dev/null
as_user cp "$T/u/root.img" "$DIR/" 2>"$T/u/err" && fail "user restarted root's image"
grep -q "refused image root.img (uid $UID_U)" "$T/daemon.log" || fail "no log line for root.img"
ok "root's image written by the user refused: $(cat "$T/u/err")"

if ! as_user cp "$DIR/$UP" "$T/u/own.img" 2>"$T/u/err"; then
	# Root without CAP_SYS_RESOURCE (some containers) cannot prlimit()
	# another user's process: a freezer limitation, not a permission bug.
	grep -q "prlimit.*Operation not permitted" "$T/daemon.log" &&
		! grep -q cap_sys_resource <(capsh --decode="$(awk '/CapEff/{print $2}' /proc/self/status)" 2>/dev/null) &&
		skip "the freezer needs CAP_SYS_RESOURCE for another uid's process: $(grep prlimit "$T/daemon.log")"
	fail "user cannot copy their own process: $(cat "$T/u/err")"
fi
"$CLD_BIN" verify "$T/u/own.img" >/dev/null || fail "verify own.img"
ok "user copies their own process"

# The user's own image comes back with the user's uid.
kill -9 "$UP"
wait "$UP" 2>/dev/null
as_user cp "$T/u/own.img" "$DIR/" 2>"$T/u/err" || {
	grep -q "restart of pid" "$T/daemon.log" &&
		skip "the restorer cannot restart here: $(grep 'refused image own.img' "$T/daemon.log")"
	fail "user's restart failed: $(cat "$T/u/err")"
}
np=$(sed -n 's/.*own.img: restarted as pid \([0-9]*\).*/\1/p' "$T/daemon.log")
KILL_PIDS="$KILL_PIDS $np"
[ -n "$np" ] || fail "no restart log line"
awk '/^Uid:/{print $2, $3, $4}' "/proc/$np/status" | grep -qx "$UID_U $UID_U $UID_U" ||
	fail "restarted with uids $(awk '/^Uid:/' "/proc/$np/status")"
ok "user's image restarted as pid $np with uid $UID_U"
exit 0
