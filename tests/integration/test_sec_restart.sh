#!/bin/bash
# SPDX-License-Identifier: MIT
# Issue 13, privilege: an unprivileged user edits their own image (with
# cld_forge, digests kept consistent) and writes it into the mount.  The
# daemon restarts it as that user, so the kernel refuses what the user may
# not do: fd 3 naming /etc/shadow, a root-only file opened O_RDWR, a private
# mapping of /etc/shadow, a cwd in /root, a FIFO posing as a regular file.
# Forged supplementary groups are ignored: the process gets the user's own.
# Only root may choose the pid.
. "$(dirname "$0")/fuse_lib.sh"

FORGE=${CLD_FORGE:-$CLD_BUILD/tests/unit/cld_forge}
[ -x "$CLD_PROGS/sec_victim" ] || skip "sec_victim is not built"
[ -x "$FORGE" ] || skip "cld_forge is not built"
. "$(dirname "$0")/user_lib.sh"
test_user
[ -r /etc/shadow ] || skip "no /etc/shadow to protect"
shadow_gid=$(getent group shadow | cut -d: -f3)
[ -n "$shadow_gid" ] || shadow_gid=42
id -G "$U" | tr ' ' '\n' | grep -qx "$shadow_gid" && skip "$U is in group shadow"

start_daemon
mkdir "$T/u"
chmod 777 "$T/u"
as_user sh -c "echo user-data >'$T/u/mine.txt'; echo user-map >'$T/u/map.txt'; : >'$T/u/v.out'"
echo root-secret >"$T/rootonly"
chmod 600 "$T/rootonly"
as_user mkfifo "$T/u/fifo"
sum_before=$(sha256sum /etc/shadow "$T/rootonly")

setpriv --reuid="$U" --regid="$U" --init-groups /usr/bin/python3 -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
	"$CLD_PROGS/sec_victim" "$T/u/mine.txt" "$T/u/map.txt" </dev/null >>"$T/u/v.out" 2>&1 &
VP=$!
KILL_PIDS="$KILL_PIDS $VP"
wait_for "$T/u/v.out" "tick 2 "
as_user cp "$DIR/$VP" "$T/u/v.img" || fail "the user cannot copy their own process"
kill -9 "$VP"
wait "$VP" 2>/dev/null
grep -q "fd3=\[user-data\]" "$T/u/v.out" || fail "victim output: $(tail -1 "$T/u/v.out")"

# forged NAME ERRNO-TEXT EDIT...: the forged image is refused at close with
# that error, a log line names it, and no process of the user runs.
forged() {
	local name=$1 want=$2 t0 t1
	shift 2
	as_user "$FORGE" "$T/u/v.img" "$T/u/$name.img" "$@" || fail "forge $name"
	t0=$(date +%s%N)
	as_user cp "$T/u/$name.img" "$DIR/" 2>"$T/err" && fail "$name: forged image restarted"
	t1=$(date +%s%N)
	grep -q "$want" "$T/err" || fail "$name: not '$want': $(cat "$T/err")"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -q "refused image $name.img" "$T/daemon.log" && break
		sleep 0.1
	done
	grep -q "refused image $name.img" "$T/daemon.log" || fail "$name: no log line"
	pgrep -u "$U" -x sec_victim >/dev/null && fail "$name: a process runs: $(ps -o pid,stat,comm -u "$U")"
	ok "$name refused in $(((t1 - t0) / 1000000)) ms: $(grep "refused image $name.img" "$T/daemon.log" | tail -1 | sed 's/.*restart of pid [0-9]* failed: //')"
}

forged shadow-fd "Permission denied" fd 3 /etc/shadow
forged rootonly-rdwr "Permission denied" fd 3 "$T/rootonly" fdflags 3 2
forged shadow-map "Permission denied" map "$T/u/map.txt" /etc/shadow
forged root-cwd "Permission denied" cwd /root
forged fifo-as-file "Stale file handle" fd 3 "$T/u/fifo"
[ "$(sha256sum /etc/shadow "$T/rootonly")" = "$sum_before" ] || fail "a protected file changed"
grep -q "root-secret\|^root:" "$T/u/v.out" && fail "protected bytes reached the user"
ok "nothing was read, written or mapped"

# Forged groups: restarts, with the user's own groups and not the image's pid.
as_user "$FORGE" "$T/u/v.img" "$T/u/groups.img" groups "$shadow_gid" || fail "forge groups"
n0=$(wc -l <"$T/u/v.out")
as_user cp "$T/u/groups.img" "$DIR/" 2>"$T/err" || fail "groups: restart failed: $(cat "$T/err")"
newpid=$(sed -n 's/.*groups.img: restarted as pid \([0-9]*\).*/\1/p' "$T/daemon.log")
[ -n "$newpid" ] || fail "groups: no restart log line"
KILL_PIDS="$KILL_PIDS $newpid"
for _ in $(seq 50); do [ "$(wc -l <"$T/u/v.out")" -gt $((n0 + 2)) ] && break; sleep 0.1; done
line=$(tail -1 "$T/u/v.out")
echo "$line" | grep -q "fd3=\[user-data\]" || fail "groups: restarted process is wrong: $line"
grps=$(echo "$line" | sed 's/.*groups=//')
echo ",$grps," | grep -q ",$shadow_gid," && fail "groups: the forged group $shadow_gid was applied: $line"
[ "$(id -G "$U" | tr ' ' ',')" = "$grps" ] || fail "groups: $grps, the user has $(id -G "$U")"
[ "$(stat -c %u "/proc/$newpid")" = "$(id -u "$U")" ] || fail "groups: wrong owner"
[ "$newpid" != "$VP" ] || fail "groups: an unprivileged restart chose the pid $VP"
grep -q "groups.img: restarted as pid $newpid (original pid taken or not ours" "$T/daemon.log" ||
	fail "groups: the log does not say the pid was not chosen"
ok "forged groups ignored (runs with $grps as pid $newpid, not $VP)"
kill -9 "$newpid"
exit 0
