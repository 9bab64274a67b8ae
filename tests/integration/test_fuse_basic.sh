#!/bin/bash
# SPDX-License-Identifier: MIT
# clondiked basics on a real mount: daemon errors, listing, owners,
# attributes, xattrs, cp of an image (verified, consistent within one
# freeze), and the program carries on afterwards.
. "$(dirname "$0")/fuse_lib.sh"

[ -x "$CLD_PROGS/demo_counter" ] || skip "demo_counter is not built"

# Clear errors: no such mountpoint, busy mountpoint.
"$CLDD" -f "$T/nonexistent" 2>"$T/err" && fail "mounted on a missing directory"
grep -q "mountpoint $T/nonexistent: No such file" "$T/err" || fail "unclear error: $(cat "$T/err")"
start_daemon
"$CLDD" -f --node x "$MNT" 2>"$T/err" && fail "second daemon mounted on a busy mountpoint"
grep -q "is busy" "$T/err" || fail "unclear busy error: $(cat "$T/err")"
ok "clear errors for missing and busy mountpoints"

spawn "$T/demo.out" "$CLD_PROGS/demo_counter"
P=$SPAWNED
wait_for "$T/demo.out" "count 2 "

ls "$MNT" | grep -qx "$NODE" || fail "no $NODE in $MNT"
ls "$DIR" | grep -qx "$P" || fail "pid $P not listed"
ls "$DIR" | grep -qx "$DPID" || fail "the daemon's own pid is not listed"
ls "$DIR" | grep -qx 2 && [ "$(cat /proc/2/comm)" = kthreadd ] && fail "kthreadd (a kernel thread) is listed"
line=$(ls -ln "$DIR/$P")
set -- $line
[ "$1" = "-r--------" ] || fail "mode is $1, want -r-------- ($line)"
[ "$3" = 0 ] || fail "owner is $3, want 0"
ok "listing: $line"

[ "$(getfattr --only-values -n user.clondike.state "$DIR/$P" 2>/dev/null)" = running ] ||
	fail "state xattr is not running"
[ "$(getfattr --only-values -n user.clondike.comm "$DIR/$P" 2>/dev/null)" = demo_counter ] ||
	fail "comm xattr is wrong"
getfattr -d "$DIR/$P" 2>/dev/null | grep -q "user.clondike.exe=\"$CLD_PROGS/demo_counter\"" ||
	fail "exe xattr missing from getfattr -d"
getfattr -d "$DIR/$P" 2>/dev/null | grep -q "user.clondike.home=\"$NODE\"" || fail "home xattr"
ok "xattrs"

# One freeze, two copies: a single point in time.
exec 3<"$DIR/$P"
[ "$(getfattr --only-values -n user.clondike.state "$DIR/$P" 2>/dev/null)" = frozen ] ||
	fail "state is not frozen while open"
size=$(stat -c %s "$DIR/$P")
c1=$(tail -1 "$T/demo.out")
cp "$DIR/$P" "$T/img1" || fail "cp of the image failed"
sleep 0.6
cp "$DIR/$P" "$T/img2" || fail "second cp failed"
[ "$(tail -1 "$T/demo.out")" = "$c1" ] || fail "the program ran while frozen"
exec 3<&-
cmp -s "$T/img1" "$T/img2" || fail "two copies of one freeze differ"
[ "$(stat -c %s "$T/img1")" = "$size" ] || fail "st_size $size is not the image size $(stat -c %s "$T/img1")"
"$CLD_BIN" verify "$T/img1" >/dev/null || fail "clondike verify refuses the copy"
"$CLD_BIN" inspect "$T/img1" | grep -q demo_counter || fail "inspect does not show demo_counter"
ok "cp while frozen: exact st_size, consistent, verified"

# Without a held open: freeze on open, thaw on close, and it carries on.
cp "$DIR/$P" "$T/img3" || fail "cp failed"
"$CLD_BIN" verify "$T/img3" >/dev/null || fail "verify img3"
n=$(tail -1 "$T/demo.out" | awk '{print $2}')
wait_for "$T/demo.out" "count $((n + 2)) "
[ "$(getfattr --only-values -n user.clondike.state "$DIR/$P" 2>/dev/null)" = running ] ||
	fail "not thawed after close"
demo_check "$T/demo.out" || fail "demo_counter self-check"
ok "program carries on after cp"

# A process opening its own image would deadlock: refused.
python3 -c 'import os, sys; open(sys.argv[1] + "/%d" % os.getpid(), "rb")' "$DIR" 2>"$T/err" &&
	fail "a process could open its own image"
grep -q "Resource deadlock avoided" "$T/err" || fail "own image: $(tail -1 "$T/err")"
ok "a process opening its own image gets EDEADLK"

# Writing to a process image is refused, so is junk as a new image.
echo x 2>/dev/null >"$DIR/$P" && fail "wrote into a live image"
echo "not an image" >"$T/junk"
cp "$T/junk" "$DIR/junk.img" 2>"$T/err" && fail "a junk image was accepted"
grep -q "refused image junk.img" "$T/daemon.log" || fail "no log line for the junk image"
[ -e "$DIR/junk.img" ] && fail "a refused image left a file behind"
ok "junk image refused: $(cat "$T/err")"

kill "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
grep -q "$MNT" /proc/mounts && fail "SIGTERM did not unmount"
ok "SIGTERM unmounts"
exit 0
