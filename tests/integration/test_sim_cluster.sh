#!/bin/bash
# SPDX-License-Identifier: MIT
# contrib/clondike-sim: three nodes, each a machine of its own.
#  - refusals: not root; no namespaces; a second 'up' while one is up;
#  - each node has its own network, pid, mount and UTS namespaces, its
#    address only inside its namespace, its host name; exec passes stdin,
#    stdout and the exit status through;
#  - 'exec n2 sleep 1000' (in the background) is listed in /clondike/n2/ on
#    every node, under its pid in n2, and in no other node's directory;
#    every node's directory lists exactly that node's processes;
#  - cp /clondike/n2/PID on n1 gives an image that verifies, says node n2,
#    and that gdb reads;
#  - n3's link cut inside n3: n3 is down on n1 and n2 within 3 heartbeats
#    (+ slack); link back: up again;
#  - 'down' leaves no network namespace, host interface, mount or process
#    behind (checked against a snapshot of the host taken before 'up'), and
#    a second 'down' has nothing to do.
. "$(dirname "$0")/cluster_lib.sh"

for c in ip nsenter unshare getfattr gdb setpriv pgrep; do
	command -v "$c" >/dev/null || skip "$c is missing"
done
[ -x "$CLU_SIM" ] || fail "$CLU_SIM is missing or not executable"
PFX=cldt$$

# ---- The host before -------------------------------------------------------
# Things of other tests running at the same time may come and go meanwhile:
# a difference is ours if it names our prefix or state directory, and is
# forgiven only if it matches another test's names (foreign_re).
foreign_re='cldc[0-9]+[ab]|cldt[0-9]+-|(^| )cv[0-9]+[ab]( |$)|/tmp/cld|/tmp/clondike-demo|/dev/shm/cld'
snap_netns() { ip netns list 2>/dev/null | awk '{print $1}' | sort; }
snap_links() { ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort; }
# mount point, fstype, source: mount ids change when anything is remounted
snap_mounts() {
	awk '{ for (i = 7; $i != "-"; i++); print $5, $(i + 1), $(i + 2) }' /proc/self/mountinfo | sort
}
snap_netns >"$T/before.netns"
snap_links >"$T/before.links"
snap_mounts >"$T/before.mounts"
[ -e /clondike ] && had_mnt=1 || had_mnt=""
# host_diff WHAT FILE: what differs from the snapshot, other tests' excepted;
# fails on anything of ours.
host_diff() {
	local what=$1 now=$2 d
	d=$(diff "$T/before.$what" "$now" | grep -E '^[<>]' || true)
	if grep -E "$PFX|$T/sim" <<<"$d" | grep -q .; then
		fail "after down, $what of ours are left on the host: $(grep -E "$PFX|$T/sim" <<<"$d" | tr '\n' ';')"
	fi
	d=$(grep -Ev "$foreign_re" <<<"$d" || true)
	[ -z "$d" ] || fail "after down, the host's $what differ from before up: $(tr '\n' ';' <<<"$d")"
}

# ---- Refusals ----------------------------------------------------------------
setpriv --reuid=65534 --regid=65534 --clear-groups env CLONDIKE_SIM_STATE="$T/sim" \
	"$CLU_SIM" up 1 >"$T/ref.out" 2>&1 && fail "clondike-sim up as nobody succeeded"
grep -q "as root" "$T/ref.out" || fail "up as nobody does not say it needs root: $(cat "$T/ref.out")"
mkdir "$T/fakebin"
printf '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n' >"$T/fakebin/unshare"
chmod 755 "$T/fakebin/unshare"
PATH=$T/fakebin:$PATH sim up 1 >"$T/ref.out" 2>&1 && fail "up succeeded with namespaces unavailable"
grep -q "namespaces are not available.*Operation not permitted" "$T/ref.out" ||
	fail "up without namespaces does not say why: $(cat "$T/ref.out")"
[ -e "$T/sim" ] && fail "a refused up left $T/sim"
ok "up refused as non-root and without namespaces: $(head -1 "$T/ref.out")"

# ---- Up ------------------------------------------------------------------------
t0=$(now_ms)
sim_up 3 --detached 1
ok "clondike-sim up 3 --detached 1: connected in $(($(now_ms) - t0)) ms"
[ "$NODES" = "n1 n2 n3" ] || fail "nodes '$NODES', wanted 'n1 n2 n3'"
sim status >"$T/status.out" 2>&1 || fail "clondike-sim status: $(cat "$T/status.out")"
sed 's/^/  status: /' "$T/status.out"
grep -q "from CLONDIKE_BUILD ($(realpath "$CLD_BUILD"))" "$T/status.out" ||
	fail "status does not say the binaries come from CLONDIKE_BUILD=$CLD_BUILD"
grep -Eq "^n3 +up +detached +${ADDR[n3]}" "$T/status.out" || fail "status shows no 'n3 up detached ${ADDR[n3]}'"
sim up 2 >"$T/up2.out" 2>&1 && fail "a second up while one is up succeeded"
grep -q "already up" "$T/up2.out" || fail "a second up is not refused clearly: $(cat "$T/up2.out")"
cluster_wait_up 5
ok "status shows nodes and binaries; a second up is refused: $(head -1 "$T/up2.out")"

# ---- Each node a machine of its own ------------------------------------------------
for kind in net pid mnt uts; do
	seen=$(readlink /proc/self/ns/$kind)
	for n in $NODES; do
		ns=$(readlink "/proc/${SIM_INIT[$n]}/ns/$kind") || fail "no $kind namespace of $n"
		case " $seen " in *" $ns "*) fail "$n shares its $kind namespace ($ns) with the host or another node" ;; esac
		seen="$seen $ns"
	done
done
i=0
for n in $NODES; do
	i=$((i + 1))
	h=$(on "$n" hostname) || fail "exec $n hostname"
	[ "$h" = "$n" ] || fail "hostname on $n: '$h'"
	on "$n" ip -o -4 addr show dev eth0 >"$T/addr.$n" 2>&1 || fail "ip addr on $n: $(cat "$T/addr.$n")"
	grep -q " ${ADDR[$n]%:*}/24 " "$T/addr.$n" || fail "$n has not ${ADDR[$n]%:*}/24: $(cat "$T/addr.$n")"
	pid1=$(on "$n" cat /proc/1/cmdline | tr '\0' ' ')
	grep -q "init.sh $n " <<<"$pid1" || fail "pid 1 of $n is '$pid1', not its init"
done
ip -o addr | grep -F " ${ADDR[n1]%.*}." && fail "a node's address is on a host interface"
[ "$(echo abc | on n1 cat)" = abc ] || fail "exec does not pass stdin/stdout through"
on n1 sh -c 'exit 7' && fail "exec n1 sh -c 'exit 7' succeeded"
on n1 sh -c 'exit 7'
rc=$?
[ "$rc" = 7 ] || fail "exec passes exit status 7 as $rc"
on n9 true 2>"$T/n9.err"
rc=$?
[ "$rc" = 125 ] || fail "exec on an unknown node: status $rc, wanted 125"
ok "own net/pid/mnt/uts namespaces, host names, addresses only inside; exec passes stdin, stdout, status"

# ---- A process on n2 ------------------------------------------------------------------
on n2 sleep 1000 </dev/null >/dev/null 2>&1 &
KILL_PIDS="$KILL_PIDS $!"
P=""
for _ in $(seq 50); do
	P=$(on n2 pgrep -xf 'sleep 1000') && break
	sleep 0.1
done
[[ "$P" =~ ^[0-9]+$ ]] || fail "no 'sleep 1000' in n2 (pgrep: '$P')"
# The same process as the host sees it: its innermost pid is P.
hp=$(pgrep -xf 'sleep 1000' | while read -r h; do
	[ "$(readlink "/proc/$h/ns/pid")" = "$(readlink "/proc/${SIM_INIT[n2]}/ns/pid")" ] && echo "$h"
done)
[ -n "$hp" ] || fail "the host sees no 'sleep 1000' in n2's pid namespace"
nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$hp/status")
[ "$nspid" = "$P" ] || fail "host pid $hp of the sleep is $nspid in n2, pgrep in n2 says $P"
on n1 ps -eo args >"$T/ps.n1" || fail "ps on n1"
grep -qx 'sleep 1000' "$T/ps.n1" && fail "ps on n1 shows n2's sleep 1000"
on n2 ps -eo args >"$T/ps.n2" || fail "ps on n2"
grep -qx 'sleep 1000' "$T/ps.n2" || fail "ps on n2 does not show sleep 1000"
ok "exec n2 sleep 1000: pid $P in n2 (host pid $hp); ps on n1 does not show it"

for n in $NODES; do
	on "$n" ls /clondike/n2/ >"$T/ls.$n" 2>&1 || fail "ls /clondike/n2/ on $n: $(cat "$T/ls.$n")"
	grep -qx "$P" "$T/ls.$n" || fail "pid $P not in /clondike/n2/ on $n: $(tr '\n' ' ' <"$T/ls.$n")"
	c=$(on "$n" getfattr --absolute-names --only-values -n user.clondike.cmdline "/clondike/n2/$P") ||
		fail "no cmdline xattr of /clondike/n2/$P on $n"
	[ "$c" = "sleep 1000" ] || fail "/clondike/n2/$P on $n is '$c', not sleep 1000"
	for m in n1 n3; do
		for q in $(on "$n" ls "/clondike/$m/"); do
			c=$(xattr "${MNT[$n]}/$m/$q" user.clondike.cmdline) || continue
			[ "$c" = "sleep 1000" ] && fail "/clondike/$m/$q on $n is n2's sleep 1000"
		done
	done
done
ok "pid $P is listed as sleep 1000 in /clondike/n2/ on n1, n2, n3, and in no other node's directory"

# Exactly each node's own processes (its /proc; a lister on another node,
# so that the lister itself is not one of them).  Nodes are quiet: a few
# tries cover a process that is just starting or ending.
for m in $NODES; do
	case $m in n1) v=n2 ;; *) v=n1 ;; esac
	for try in 1 2 3 4 5; do
		node_pids "$m" >"$T/own.$m"
		on "$v" ls "/clondike/$m/" | sort -n >"$T/seen.$m"
		cmp -s "$T/own.$m" "$T/seen.$m" && break
		[ "$try" = 5 ] && fail "/clondike/$m/ on $v lists '$(tr '\n' ' ' <"$T/seen.$m")', $m has '$(tr '\n' ' ' <"$T/own.$m")'"
		sleep 0.2
	done
	echo "  /clondike/$m/ on $v: $(tr '\n' ' ' <"$T/seen.$m")"
done
[ "$(wc -l <"$T/own.n2")" -lt 20 ] || fail "n2 has $(wc -l <"$T/own.n2") processes: the host's?"
ok "every node's directory lists exactly its own processes"

# ---- An image of n2's process, copied on n1 ---------------------------------------------
on n1 cp "/clondike/n2/$P" "$T/img" 2>"$T/cp.err" || fail "cp /clondike/n2/$P on n1: $(cat "$T/cp.err")"
wait_thawed "$P" 5 n2
timeout 60 "$CLD_BIN" verify "$T/img" >"$T/verify.out" 2>&1 || fail "clondike verify: $(tail -3 "$T/verify.out")"
"$CLD_BIN" inspect "$T/img" >"$T/inspect.out" 2>&1 || fail "clondike inspect: $(cat "$T/inspect.out")"
grep -q "node n2," "$T/inspect.out" || fail "the image does not say node n2: $(head -3 "$T/inspect.out")"
grep -q "pid $P (sleep)" "$T/inspect.out" || fail "the image is not of pid $P (sleep): $(sed -n 4p "$T/inspect.out")"
gdb -nx -batch -ex bt -ex 'info registers rip' "$(command -v sleep)" "$T/img" >"$T/gdb.out" 2>&1 ||
	fail "gdb failed: $(tail -5 "$T/gdb.out")"
grep -Eq '^rip +0x[0-9a-f]+' "$T/gdb.out" || fail "gdb shows no rip: $(tail -5 "$T/gdb.out")"
grep -q "nanosleep" "$T/gdb.out" || fail "gdb's backtrace has no nanosleep: $(grep '^#' "$T/gdb.out")"
ok "cp /clondike/n2/$P on n1: verifies, node n2, pid $P; gdb: $(grep -m1 '^rip' "$T/gdb.out" | tr -s ' ')"

# ---- n3's link cut, then back ---------------------------------------------------------------
lim=$((3 * CLU_HEARTBEAT + 700)) # 3 heartbeats, the 50 ms tick, polling
on n3 ip link set dev eth0 down || fail "cannot cut n3's link"
t0=$(now_ms)
wait_states $(((lim + 999) / 1000 + 3)) down n1:n3 n2:n3 || fail "n3 is not down on n1 and n2 with its link cut"
el=$(($(now_ms) - t0))
[ "$el" -le "$lim" ] || fail "n3 went down only after $el ms (3 heartbeats of $CLU_HEARTBEAT ms + slack: $lim)"
err=$(on n1 ls /clondike/n3/ 2>&1 >/dev/null) && fail "ls /clondike/n3/ on n1 works with n3's link cut"
grep -q "Host is down" <<<"$err" || fail "ls /clondike/n3/ on n1: '$err', wanted 'Host is down'"
[ "$(node_state n1 n2)" = up ] || fail "n2 went down on n1 too"
ok "n3's link cut: down on n1 and n2 after $el ms (limit $lim), ls says '${err##*: }'"
on n3 ip link set dev eth0 up || fail "cannot restore n3's link"
t0=$(now_ms)
wait_states 10 up n1:n3 n2:n3 n3:n1 n3:n2 || fail "n3 does not come back up after its link returns"
ok "n3's link back: up again after $(($(now_ms) - t0)) ms"

# ---- Down ---------------------------------------------------------------------------------------
inits=""
for n in $NODES; do inits="$inits $(readlink "/proc/${SIM_INIT[$n]}/ns/pid")"; done
sim down >"$T/down.out" 2>&1 || fail "clondike-sim down: $(cat "$T/down.out")"
grep -q "down" "$T/down.out" || fail "down says: $(cat "$T/down.out")"
[ -e "$T/sim" ] && fail "down left its state directory $T/sim: $(ls "$T/sim")"
snap_netns >"$T/after.netns"
grep -q "^$PFX-" "$T/after.netns" && fail "down left network namespaces: $(grep "^$PFX-" "$T/after.netns" | tr '\n' ' ')"
host_diff netns "$T/after.netns"
snap_links >"$T/after.links"
host_diff links "$T/after.links"
snap_mounts >"$T/after.mounts"
grep -q "^/clondike " "$T/after.mounts" && fail "a mount at /clondike is left on the host"
host_diff mounts "$T/after.mounts"
if [ -z "$had_mnt" ] && [ -e /clondike ]; then fail "down left /clondike, which up made"; fi
left=""
for f in /proc/[0-9]*; do
	[ -r "$f/cmdline" ] || continue
	tr '\0' ' ' <"$f/cmdline" 2>/dev/null | grep -qF "$T/sim" && left="$left ${f#/proc/}"
	ns=$(readlink "$f/ns/pid" 2>/dev/null) || continue
	case " $inits " in *" $ns "*) left="$left ${f#/proc/}" ;; esac
done
[ -z "$left" ] || fail "processes left after down:$(for p in $left; do printf ' %s(%s)' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80)"; done)"
ok "down leaves no namespace, interface, mount, process or state behind"
sim down >"$T/down2.out" 2>&1 || fail "a second down fails: $(cat "$T/down2.out")"
grep -q "nothing to take down" "$T/down2.out" || fail "a second down says: $(cat "$T/down2.out")"
ok "a second down has nothing to do"
exit 0
