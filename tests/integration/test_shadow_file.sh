#!/bin/bash
# SPDX-License-Identifier: MIT
# Forwarded regular files of a guest (issue 16), between namespaced nodes.
# A tmpfs mounted in n1's mount namespace only is a file system n2 does not
# share: a job on n1 with a file open there is migrated to n2, and then
#  - its file is /clondike/n1/.fwd/PID/FD on n2, and read, write, pread,
#    pwrite, fstat, lseek SEEK_END, O_APPEND, fsync, fdatasync and
#    ftruncate on it act on n1's file: its content at n1 is what the guest
#    wrote, byte for byte;
#  - both sides of the rule: a file n2 does not have (ENOENT) and a file n2
#    has under the same path but is another file (its content untouched)
#    are forwarded; a file of the shared file system is reopened on n2;
#  - the guest's checkpoint on n2 does not hang on its forwarded file;
#  - bash at home gets the guest's exit status;
#  - only the owner or root may open the forwarded file on n2, and an
#    unprivileged user's migrated process has its file forwarded too;
#  - with the link cut for less than guest-lost-ms, a write waits and then
#    lands; when n1's daemon dies, the guest's next write gets EIO once
#    guest-lost-ms has passed, not silence.
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/user_lib.sh"

[ -x "$CLD_PROGS/sh_file" ] || skip "sh_file is not built"
CLU_LIMITS="guest-lost-ms=6000"
test_user
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

mkdir -p "$T/priv"
echo decoy >"$T/priv/data" # n2's file at that path: another file
on n1 mount -t tmpfs -o size=16m clondike-test "$T/priv" || fail "tmpfs on n1"
on n1 mkdir "$T/priv/sub"
[ -e "$T/priv/sub" ] && fail "n1's tmpfs is visible outside n1"

# job NAME PRIVATE [GO2]: sh_file on n1 (as AS..., its files in JD), its
# status to $JD/NAME.st; migrated to n2 by cp as the same user.
JD=$T
AS=()
job() {
	local name=$1 priv=$2
	shift 2
	spawn_on n1 "$T/$name.out" "${AS[@]}" bash -c '"$@"; echo "status $?" >"$0"' \
		"$JD/$name.st" "$CLD_PROGS/sh_file" "$JD/$name.res" "$priv" "$JD/$name.shared" \
		"$JD/$name.go" "$@"
	wait_for "$JD/$name.res" '^READY' 10
	JOB=$(awk '/^READY/{print $2}' "$JD/$name.res")
	on n1 "${AS[@]}" cp "/clondike/n1/$JOB" /clondike/n2/ 2>"$T/mig.err" ||
		fail "cp of $JOB: $(cat "$T/mig.err")"
	GUEST=$(xattr "${MNT[n1]}/n1/$JOB" user.clondike.guest_pid) || fail "$JOB: no guest_pid"
	[ -d "${PROCD[n2]}/$GUEST" ] || fail "guest $GUEST is not a process of n2"
}

# verify NAME PRIVATE: the checks passed; n1's file has the guest's bytes.
verify() {
	local name=$1 priv=$2 fd r=$JD/$1.res
	wait_for "$r" '^DONE' 20
	grep -q '^DONE ok' "$r" || fail "$name: $(grep -v '^OK' "$r")"
	fd=$(awk '$2 == "private" {print $3}' "$r")
	grep -q "^FD private $fd /clondike/n1/.fwd/$JOB/$fd\$" "$r" ||
		fail "$name: the private file is not forwarded: $(grep '^FD private' "$r")"
	grep -q "^FD shared [0-9]* $JD/$name.shared\$" "$r" ||
		fail "$name: the shared file is not reopened on n2: $(grep '^FD shared' "$r")"
	[ "$(on n1 cat "$priv")" = "$(printf 'XYllo-home\nguest-wrote\nappended')" ] ||
		fail "$name: n1's file has $(on n1 od -c "$priv" | head -5)"
	[ "$(cat "$JD/$name.shared")" = "$(printf 'shared\nfrom-guest')" ] ||
		fail "$name: the shared file has $(od -c "$JD/$name.shared" | head -3)"
}

# ---- A file n2 does not have ------------------------------------------------------
job miss "$T/priv/sub/data"
# The read-write one is the lower of its two forwarded fds (opened first).
FWD=$(for l in "${PROCD[n2]}/$GUEST"/fd/*; do readlink "$l"; done | grep "^/clondike/n1/.fwd/$JOB/" |
	sort -t/ -k6 -n | head -1)
[ -n "$FWD" ] || fail "the guest has no forwarded file: $(ls -l "${PROCD[n2]}/$GUEST/fd/")"
on n2 setpriv --reuid 65534 --regid 65534 --clear-groups \
	cat "$FWD" >/dev/null 2>"$T/miss.perm" && fail "another user read the guest's forwarded file"
grep -q "Permission denied" "$T/miss.perm" || fail "another user: $(cat "$T/miss.perm")"
on n2 cat "$FWD" | grep -q '^hello-home$' || fail "root on n2 cannot read $FWD"
# The guest's own image, read on n2: its freeze stats the forwarded file
# (a request of n2's daemon to itself, then to n1) and must not hang.
t0=$(now_ms)
on n2 timeout 30 cp "/clondike/n2/$GUEST" "$T/miss.img" || fail "checkpoint of the guest on n2"
"$CLD_BIN" inspect "$T/miss.img" >"$T/miss.inspect" 2>&1 || fail "inspect: $(cat "$T/miss.inspect")"
grep -q "/clondike/n1/.fwd/$JOB/" "$T/miss.inspect" ||
	fail "the guest's image does not name its forwarded file: $(grep -i fd "$T/miss.inspect" | head)"
ok "the guest's checkpoint on n2 ($(($(now_ms) - t0)) ms) records the forwarded file as $FWD"
touch "$T/miss.go"
verify miss "$T/priv/sub/data"
wait_for "$T/miss.st" status 10
grep -q "status 0" "$T/miss.st" || fail "miss: $(cat "$T/miss.st")"
ok "a file n2 does not have: forwarded as $(awk '$2 == "private" {print $4}' "$T/miss.res"); $(grep -c '^OK' "$T/miss.res") checks passed on n2 (write, pwrite, pread, fstat, SEEK_END, O_APPEND, fsync, fdatasync, ftruncate); n1's file has the guest's bytes; the shared file was reopened on n2; bash got $(cat "$T/miss.st"); another user gets EACCES"

# ---- A file n2 has under the same path, but another one ---------------------------
job other "$T/priv/data" "$T/other.go2" "$T/other.go3"
OTHER=$GUEST
touch "$T/other.go"
verify other "$T/priv/data"
[ "$(cat "$T/priv/data")" = decoy ] || fail "n2's own file at that path changed: $(cat "$T/priv/data")"
ok "a file n2 has under that path but is another file: forwarded too; n2's own file is untouched"

# ---- An unprivileged user's process ----------------------------------------------
chmod o+x "$T"
mkdir "$T/u"
chown "$U" "$T/u"
on n1 mkdir "$T/priv/u"
on n1 chown "$U" "$T/priv/u"
JD=$T/u
AS=(setpriv --reuid="$U" --regid="$U" --init-groups)
job user "$T/priv/u/data"
[ "$(stat -c %u "${PROCD[n2]}/$GUEST")" = "$UID_U" ] || fail "the guest is not the user's"
touch "$T/u/user.go"
verify user "$T/priv/u/data"
wait_for "$T/u/user.st" status 10
grep -q "status 0" "$T/u/user.st" || fail "user: $(cat "$T/u/user.st")"
ok "$U's own process (uid $UID_U, restored eagerly as the user): its file is forwarded the same way, the checks pass"

# ---- The link cut for less than guest-lost-ms ------------------------------------
on n2 ip link set dev eth0 down
touch "$T/other.go2"
sleep 3
grep -q '^AFTER 1' "$T/other.res" && fail "link cut: the write did not wait: $(grep '^AFTER' "$T/other.res")"
on n2 ip link set dev eth0 up
wait_for "$T/other.res" '^AFTER 1' 20
grep -q '^AFTER 1 written' "$T/other.res" || fail "link cut: $(grep '^AFTER' "$T/other.res")"
[ "$(on n1 head -c 5 "$T/priv/data")" = late1 ] || fail "link cut: n1's file has $(on n1 head -c 16 "$T/priv/data")"
ok "the link cut for 3 s (guest-lost-ms 6 s): the guest's write waited, then landed in n1's file"

# ---- Home's daemon gone -----------------------------------------------------------
cluster_stop n1 KILL
t0=$(now_ms)
touch "$T/other.go3"
wait_for "$T/other.res" '^AFTER 2' 20
grep -q '^AFTER 2 EIO' "$T/other.res" || fail "with n1's daemon gone: $(grep '^AFTER' "$T/other.res")"
on n2 kill -9 "$OTHER" 2>/dev/null || true
ok "n1's daemon killed: the guest's next write on the forwarded file waited $(($(now_ms) - t0)) ms (guest-lost-ms), then got EIO"
exit 0
