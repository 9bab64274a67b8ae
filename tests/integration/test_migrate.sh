#!/bin/bash
# SPDX-License-Identifier: MIT
# Migration between namespaced nodes (contrib/clondike-sim), issue 15:
#  - self-checking programs started on n1 are migrated to n2, by
#    `cp /clondike/n1/PID /clondike/n2/` and `mv` on n1 and by `clondike
#    migrate` run on a third node; each verifies itself on n2: a compute loop
#    (demo_counter), 256 MiB of random memory with a checksum and a private
#    file mapping (rst_mem), live FPU/AVX registers (rst_cpu), a process
#    in nanosleep (rst_sleep), handlers with a pending blocked signal
#    (rst_sig);
#  - the shadow on n1 says state=migrated, node=n2 and the guest's pid;
#    the guest on n2 says state=guest, home=n1 and the home pid;
#  - failures before the commit point leave the process running on n1 as
#    if nothing happened, with an errno for cp and a log line: a process
#    the target refuses (a socket), and a target that is down;
#  - an unprivileged user migrates their own process, and gets EACCES for
#    root's;
#  - once the guest has its pages, SIGKILL of n1's daemon kills the shadow
#    (never two copies) and the guest computes on.
. "$(dirname "$0")/cluster_lib.sh"

for p in demo_counter rst_mem rst_cpu rst_sleep rst_sig; do
	[ -x "$CLD_PROGS/$p" ] || skip "$p is not built"
done
. "$(dirname "$0")/user_lib.sh"
test_user
sim_up 3
cluster_wait_up 15
chmod 777 "$T"
ok "3 namespaced nodes up"

# migrated PID GUESTPID: the shadow's and the guest's attributes agree.
check_attrs() {
	local p=$1 q
	[ "$(xattr "${MNT[n1]}/n1/$p" user.clondike.state)" = migrated ] ||
		fail "shadow $p: state $(xattr "${MNT[n1]}/n1/$p" user.clondike.state)"
	[ "$(xattr "${MNT[n1]}/n1/$p" user.clondike.node)" = n2 ] || fail "shadow $p: node"
	q=$(xattr "${MNT[n1]}/n1/$p" user.clondike.guest_pid) || fail "shadow $p: no guest_pid"
	[ -d "${PROCD[n2]}/$q" ] || fail "guest pid $q is not a process of n2"
	[ "$(xattr "${MNT[n3]}/n2/$q" user.clondike.state)" = guest ] || fail "guest $q: state, seen from n3"
	[ "$(xattr "${MNT[n1]}/n2/$q" user.clondike.home)" = n1 ] || fail "guest $q: home"
	[ "$(xattr "${MNT[n1]}/n2/$q" user.clondike.home_pid)" = "$p" ] || fail "guest $q: home_pid"
	# The shadow waits in pause(2) for signals to forward (issue 16).
	st=$(awk '/^State:/{print $2}' "${PROCD[n1]}/$p/status")
	[ "$st" = S ] || fail "shadow $p is not sleeping: $st"
	GUEST=$q
}

# migrate VIA PID: VIA is cp (on n1) or cli (clondike migrate, on n3).
migrate() {
	local via=$1 p=$2
	if [ "$via" = cp ]; then
		# Into the directory, or under a name if n2 has a process $p
		# (then the name is an alias of the guest).
		local dst=/clondike/n2/
		[ -d "${PROCD[n2]}/$p" ] && dst=/clondike/n2/job$p
		on n1 cp "/clondike/n1/$p" "$dst" 2>"$T/mig.err" || fail "cp of $p: $(cat "$T/mig.err")"
	else
		on n3 "$CLD_BIN" migrate --from n1 "$p" n2 >"$T/mig.out" 2>"$T/mig.err" ||
			fail "clondike migrate $p: $(cat "$T/mig.err")"
		grep -q "^$p migrated from n1: runs on n2 as pid [0-9]* (stopped" "$T/mig.out" ||
			fail "clondike migrate says: $(cat "$T/mig.out")"
	fi
}

# rst_prog VIA NAME PROG ARGS...: start PROG on n1, migrate it, let it
# check itself on n2.
rst_prog() {
	local via=$1 name=$2 prog=$3
	shift 3
	mkfifo "$T/$name.ctl"
	spawn_on n1 "$T/$name.out" "$CLD_PROGS/$prog" "$T/$name.res" "$T/$name.ctl" "$@"
	local p=$SPAWNED
	[ "$name" = mem ] && MEMP=$p
	wait_for "$T/$name.res" '^READY' 60
	sleep 0.3
	migrate "$via" "$p"
	check_attrs "$p"
	[ "$name" = sleep ] && wait_for "$T/$name.res" '^SLEPT' 20
	[ "$name" = mem ] && check_released "$p"
	# rst_cpu spins until SIGUSR2; rst_sig wants a SIGHUP after the
	# restart, which it keeps blocked.  Both are sent to the home pid:
	# the shadow forwards them.
	[ "$name" = regs ] && on n1 kill -USR2 "$p"
	[ "$name" = sig ] && on n1 kill -HUP "$p" && sleep 0.2
	guest_check "$name" "$p"
	ok "$name ($via): migrated to n2 as pid $GUEST: $(grep '^PASS' "$T/$name.res"); shadow gone with it"
}

# Once the guest has every page, the shadow gives its memory back.
check_released() {
	local p=$1
	for _ in $(seq 100); do
		rss=$(awk '/^VmRSS:/{print $2}' "${PROCD[n1]}/$p/status")
		[ "$rss" -lt 20000 ] && break
		sleep 0.1
	done
	[ "$rss" -lt 20000 ] || fail "the shadow of rst_mem still has $rss KiB resident"
	# The line comes once the injected madvise has returned.
	wait_for "$T/sim/n1.log" "shadow $p: its guest has every page; [0-9]* MiB released" 5
	on n1 cat "/clondike/n1/$p" >/dev/null 2>"$T/err" && fail "the image of a released shadow was read"
	grep -q "No data available" "$T/err" || fail "released shadow: not ENODATA: $(cat "$T/err")"
	ok "the shadow of rst_mem released its memory ($rss KiB resident); its image: $(head -1 "$T/err")"
}

# ---- Compute loop, by cp and by clondike migrate from a third node ------------
spawn_on n1 "$T/c1.out" "$CLD_PROGS/demo_counter"
C1=$SPAWNED
wait_for "$T/c1.out" "count 2 "
migrate cp "$C1"
check_attrs "$C1"
n=$(wc -l <"$T/c1.out")
wait_for "$T/c1.out" "count $((n + 2)) "
demo_check "$T/c1.out" || fail "demo_counter self-check after migration"
ok "compute loop (cp): runs on n2 as pid $GUEST, counting on"

spawn_on n1 "$T/c2.out" "$CLD_PROGS/demo_counter"
C2=$SPAWNED
wait_for "$T/c2.out" "count 2 "
migrate cli "$C2"
check_attrs "$C2"
n=$(wc -l <"$T/c2.out")
wait_for "$T/c2.out" "count $((n + 2)) "
demo_check "$T/c2.out" || fail "demo_counter self-check after migration"
ok "compute loop (clondike migrate on n3): $(cat "$T/mig.out")"

spawn_on n1 "$T/c3.out" "$CLD_PROGS/demo_counter"
C3=$SPAWNED
wait_for "$T/c3.out" "count 2 "
on n1 mv "/clondike/n1/$C3" /clondike/n2/ 2>"$T/err" || fail "mv of $C3: $(cat "$T/err")"
check_attrs "$C3"
n=$(wc -l <"$T/c3.out")
wait_for "$T/c3.out" "count $((n + 2)) "
demo_check "$T/c3.out" || fail "demo_counter self-check after mv"
ok "compute loop (mv): runs on n2 as pid $GUEST"

rst_prog cp mem rst_mem 256
rst_prog cli regs rst_cpu regs
rst_prog cp sleep rst_sleep 3
rst_prog cli sig rst_sig

# ---- Refused before the commit point -----------------------------------------
spawn_on n1 "$T/sock.out" "$PY" -c 'import socket, time, sys
s = socket.socket(); print("ready", flush=True)
while True: time.sleep(0.1)'
S=$SPAWNED
wait_for "$T/sock.out" ready
on n1 cp "/clondike/n1/$S" /clondike/n2/ 2>"$T/err" && fail "a process with a socket migrated"
grep -q "Operation not supported" "$T/err" || fail "refusal: not EOPNOTSUPP: $(cat "$T/err")"
grep -q "guest n1:$S refused: cannot restart: .*socket" "$T/sim/n2.log" || fail "no reason in n2's log"
grep -q "migration of $S to n2 failed" "$T/sim/n1.log" || fail "no log line on n1"
wait_thawed "$S" 5 n1
[ "$(xattr "${MNT[n1]}/n1/$S" user.clondike.state)" = running ] || fail "refused process not running"
ok "refused by the target: $(head -1 "$T/err"); it runs on on n1"

cluster_stop n2
on n1 cp "/clondike/n1/$S" /clondike/n2/ 2>"$T/err" && fail "migrated to a node that is down"
grep -q "Host is down\|No such file" "$T/err" || fail "target down: $(cat "$T/err")"
wait_thawed "$S" 5 n1
ok "target down: $(head -1 "$T/err"); it runs on on n1"
cluster_start n2
cluster_wait_up 15
# The restarted n2 does not know its guests of before: their shadows go
# (docs/shadow.md).
for _ in $(seq 100); do [ -d "${PROCD[n1]}/$C1" ] || break; sleep 0.1; done
[ -d "${PROCD[n1]}/$C1" ] && fail "the shadow $C1 outlived its guest's daemon"
grep -q "shadow $C1: its guest n2:[0-9]* is not known there any more" "$T/sim/n1.log" ||
	fail "no log line for the shadow of a guest n2 forgot"
ok "n2's daemon restarted: the shadows of the guests it forgot are killed"
spawn_on n1 "$T/c4.out" "$CLD_PROGS/demo_counter"
C4=$SPAWNED
wait_for "$T/c4.out" "count 2 "

# ---- Who may --------------------------------------------------------------------
# Its output file is its own: the guest opens it again, as the user.
install -o "$U" -m 644 /dev/null "$T/u.out"
spawn_on n1 "$T/u.out" setpriv --reuid="$U" --regid="$U" --init-groups "$CLD_PROGS/demo_counter"
UP=$SPAWNED
wait_for "$T/u.out" "count 2 "
on n1 setpriv --reuid="$U" --regid="$U" --init-groups cp "/clondike/n1/$C4" /clondike/n2/ \
	2>"$T/err" && fail "the user migrated root's process"
grep -q "Permission denied" "$T/err" || fail "root's process: not EACCES: $(cat "$T/err")"
ok "the user may not migrate root's process: $(head -1 "$T/err")"
on n1 setpriv --reuid="$U" --regid="$U" --init-groups cp "/clondike/n1/$UP" "/clondike/n2/u$UP" \
	2>"$T/err" || fail "the user cannot migrate their own process: $(cat "$T/err")"
check_attrs "$UP"
[ "$(stat -c %u "${PROCD[n2]}/$GUEST")" = "$(id -u "$U")" ] || fail "the guest is not the user's"
n=$(wc -l <"$T/u.out")
wait_for "$T/u.out" "count $((n + 2)) "
demo_check "$T/u.out" || fail "user's counter self-check"
ok "the user migrates their own process: runs on n2 as pid $GUEST with uid $(id -u "$U")"

# ---- Home's daemon killed after the pull -------------------------------------------
migrate cp "$C4"
check_attrs "$C4"
C1=$C4
G1=$GUEST
sleep 1 # a 100 KiB process is complete on n2 in milliseconds
cluster_stop n1 KILL
for _ in $(seq 50); do [ -d "${PROCD[n1]}/$C1" ] || break; sleep 0.1; done
[ -d "${PROCD[n1]}/$C1" ] && fail "the shadow $C1 outlived its daemon (two copies)"
# The wrapper's "Killed" lands in the same file, over the guest's next
# lines (it writes at home's offset): go by the last count after it.
sleep 1
n=$(grep -ao 'count [0-9]*' "$T/c4.out" | tail -1 | cut -d' ' -f2)
wait_for "$T/c4.out" "count $((n + 2)) "
[ -d "${PROCD[n2]}/$G1" ] || fail "the guest died with n1's daemon"
ok "n1's daemon killed: the shadow died with it, the guest on n2 counts on"
exit 0
