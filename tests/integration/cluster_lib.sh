# SPDX-License-Identifier: MIT
# Shared by test_cluster_*.sh (sourced): N clondiked daemons on one machine,
# each with its own mount point under a temporary directory, its own config
# file (127.0.0.1 and free ports) and its own log, one shared cluster key.
# Everything (daemons, mounts, spawned processes, extra cleanup hooks such as
# network namespaces) goes away in the EXIT trap, also on failure.
#
#   cluster_init N            nodes n1..nN: ports, key, MNT[] (no config yet)
#   cluster_write_conf NODE   $T/NODE.conf from ADDR[] (edit ADDR[] first to
#                             point one node elsewhere, e.g. at a proxy)
#   cluster_start NODE        start its daemon (CLU_WRAP[NODE] prefixes the
#                             command, e.g. nsenter), wait for its mount
#   cluster_stop NODE [SIG]   stop it (TERM by default) and unmount
#   cluster_wait_up [SECS]    until every node sees every other one up
#   node_state FROM NODE      user.clondike.state of MNT[FROM]/NODE
#
# Or namespaced nodes, each a machine of its own (contrib/clondike-sim, in
# a state directory and with network namespace names of this test's own):
#
#   sim_up N [--detached K]   nodes n1..nN up and connected; MNT[n] is the
#                             node's /clondike and PROCD[n] its /proc, seen
#                             from here through /proc/INIT/root
#   on NODE CMD...            run CMD on NODE (clondike-sim exec)
#   spawn_on NODE OUT PROG... as spawn, on NODE; SPAWNED is its pid there
#   sim CMD ARGS...           clondike-sim with this test's environment
#   cluster_start/cluster_stop NODE   start/stop NODE's daemon (sim start/stop)
set -u

CLD_BUILD=${CLD_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
CLD_SRC=${CLD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLDD=${CLDD:-$CLD_BUILD/fuse/clondiked}
CLD_BIN=${CLD_BIN:-$CLD_BUILD/cli/clondike}
CLD_PROGS=${CLD_PROGS:-$CLD_BUILD/tests/progs}
CLU_PROXY="$CLD_SRC/tests/integration/cluster_proxy.py"
CLU_TIMEOUT=${CLU_TIMEOUT:-2000}
CLU_HEARTBEAT=${CLU_HEARTBEAT:-300}
CLU_CACHE=${CLU_CACHE:-64}

T=""
NODES=""
KILL_PIDS=""
CLEANUP_HOOKS=""
EXTRA_LOGS=""
ALLOC_PORTS=""
declare -A MNT=() ADDR=() PORT=() CONF=() DPID=() CLU_WRAP=() KEYF=() LOGF=() PROCD=()
SIM_MODE=""
CLU_SIM=${CLU_SIM:-$CLD_SRC/contrib/clondike-sim}

skip() { echo "SKIP: $*" >&2; exit 77; }
ok() { echo "ok: $*"; }

# dump_logs: the tail of every daemon's log and of the extra logs.
dump_logs() {
	local n f
	for n in $NODES; do
		f=${LOGF[$n]:-$T/$n.log}
		[ -s "$f" ] || continue
		echo "  --- $n.log (last 60 lines) ---" >&2
		tail -n 60 "$f" | sed "s/^/  $n: /" >&2
	done
	for f in $EXTRA_LOGS; do
		[ -s "$f" ] || continue
		echo "  --- $(basename "$f") (last 40 lines) ---" >&2
		tail -n 40 "$f" | sed 's/^/  | /' >&2
	done
}

fail() {
	echo "FAIL: $*" >&2
	[ -n "$T" ] && dump_logs
	exit 1
}

[ -e /dev/fuse ] || skip "/dev/fuse is missing (modprobe fuse)"
[ "$(id -u)" = 0 ] || skip "needs root (the daemons freeze any process, mounts allow_other)"
# Built with everything else (fuse3 and libuv are required): missing is a fault.
[ -x "$CLDD" ] || fail "clondiked is not built: $CLDD"
[ -x "$CLD_BIN" ] || fail "clondike is not built: $CLD_BIN"
command -v fusermount3 >/dev/null || skip "fusermount3 is missing"
command -v python3 >/dev/null || skip "python3 is missing"
# The interpreter itself: a version manager's shim (pyenv) costs ~0.3 s a run.
PY=$(python3 -c 'import sys; print(sys.executable)') && [ -x "$PY" ] || PY=python3
command -v ss >/dev/null || skip "ss (iproute2) is missing: needed to find free ports"
"$CLDD" --help 2>&1 | grep -q -- '--config' ||
	skip "clondiked has no --config option yet (cluster mode is not built)"

T=$(mktemp -d /tmp/cldc-test.XXXXXX)
chmod 755 "$T"

cleanup() {
	local p n i
	exec 3<&- 4<&- 2>/dev/null
	for p in $KILL_PIDS; do kill -9 "$p" 2>/dev/null; done
	for n in $NODES; do
		p=${DPID[$n]:-}
		[ -n "$p" ] || continue
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	for n in $NODES; do
		p=${DPID[$n]:-}
		[ -n "$p" ] || continue
		for i in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	# (Namespaced nodes' mounts are not ours to unmount: they go with their
	# node, in sim_down, a cleanup hook.)
	for n in $NODES; do
		[ -n "$SIM_MODE" ] && break
		fusermount3 -u "${MNT[$n]}" 2>/dev/null || fusermount3 -uz "${MNT[$n]}" 2>/dev/null
	done
	for p in $CLEANUP_HOOKS; do "$p"; done
	if [ -n "$T" ] && ! grep -qs " $T/" /proc/mounts; then
		rm -rf "$T"
	elif [ -n "$T" ]; then
		echo "cleanup: something is still mounted under $T, left it" >&2
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# alloc_port VAR: set VAR to a TCP port that no socket uses (ss -tan: not
# only listeners, also connections) and that this test has not handed out
# yet.  Ports come upwards from a random base in 20000-60000, skipping the
# ephemeral range (ip_local_port_range), where the daemons' own outgoing
# connections could take a port before the node that owns it listens.
# (Not $(alloc_port): the state must outlive a subshell.)
read -r CLU_EPH_LO CLU_EPH_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
	{ CLU_EPH_LO=32768; CLU_EPH_HI=60999; }
CLU_PORT_NEXT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
if [ "$CLU_PORT_NEXT" -ge "$CLU_EPH_LO" ] && [ "$CLU_PORT_NEXT" -le "$CLU_EPH_HI" ] &&
	[ "$CLU_EPH_LO" -gt 21000 ]; then
	CLU_PORT_NEXT=$((20000 + CLU_PORT_NEXT % (CLU_EPH_LO - 21000)))
fi
alloc_port() {
	local p used
	used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
	for _ in $(seq 2000); do
		p=$CLU_PORT_NEXT
		if [ "$p" -ge "$CLU_EPH_LO" ] && [ "$p" -le "$CLU_EPH_HI" ]; then
			p=$((CLU_EPH_HI + 1))
		fi
		[ "$p" -gt 60000 ] && p=20000
		CLU_PORT_NEXT=$((p + 1))
		[ "$p" -ge "$CLU_EPH_LO" ] && [ "$p" -le "$CLU_EPH_HI" ] && continue
		case " $ALLOC_PORTS " in *" $p "*) continue ;; esac
		grep -qx "$p" <<<"$used" && continue
		ALLOC_PORTS="$ALLOC_PORTS $p"
		printf -v "$1" %s "$p"
		return 0
	done
	fail "no free TCP port found"
}

# cluster_init N [HOST]: nodes n1..nN on HOST (127.0.0.1), a key file.
cluster_init() {
	local n i host=${2:-127.0.0.1}
	head -c 64 /dev/urandom >"$T/cluster.key"
	chmod 600 "$T/cluster.key"
	for i in $(seq "$1"); do
		n=n$i
		NODES="$NODES $n"
		mkdir "$T/mnt-$n"
		MNT[$n]=$T/mnt-$n
		alloc_port "PORT[$n]"
		ADDR[$n]=$host:${PORT[$n]}
		CONF[$n]=$T/$n.conf
		KEYF[$n]=$T/cluster.key
		: >"$T/$n.log"
	done
	NODES=${NODES# }
}

# cluster_write_conf NODE [FILE]: NODE's config (FILE, default CONF[NODE])
# from the current ADDR[], with KEYF[NODE] as the key.
cluster_write_conf() {
	local node=$1 f=${2:-${CONF[$1]}} n
	{
		echo "# written by $(basename "$0") for $node"
		echo "key       ${KEYF[$node]}"
		echo "timeout   $CLU_TIMEOUT"
		echo "heartbeat $CLU_HEARTBEAT"
		echo "cache     $CLU_CACHE"
		for n in $NODES; do echo "node $n ${ADDR[$n]} core"; done
	} >"$f"
}

# cluster_write_confs: every node's config from ADDR[].
cluster_write_confs() {
	local n
	for n in $NODES; do cluster_write_conf "$n"; done
}

# cluster_start NODE: start its daemon, its stderr appended to $T/NODE.log,
# and wait (5 s) until its mount shows MNT[NODE]/NODE.
cluster_start() {
	local n=$1 wrap=${CLU_WRAP[$1]:-}
	if [ -n "$SIM_MODE" ]; then
		sim start "$n" >>"$T/sim.out" 2>&1 || fail "clondike-sim start $n: $(tail -n 3 "$T/sim.out")"
		return 0
	fi
	echo "=== $(date +%T.%N) start: $wrap $CLDD -f --config ${CONF[$n]} --node $n ${MNT[$n]}" >>"$T/$n.log"
	# shellcheck disable=SC2086 # wrap is a command prefix, split on purpose
	$wrap "$CLDD" -f --config "${CONF[$n]}" --node "$n" "${MNT[$n]}" 2>>"$T/$n.log" </dev/null &
	DPID[$n]=$!
	disown "${DPID[$n]}" # no "Killed" notices when a test kills it
	for _ in $(seq 50); do
		[ -d "${MNT[$n]}/$n" ] && return 0
		kill -0 "${DPID[$n]}" 2>/dev/null || fail "clondiked $n exited at start"
		sleep 0.1
	done
	fail "clondiked $n: mount did not appear at ${MNT[$n]}"
}

cluster_start_all() {
	local n
	for n in $NODES; do cluster_start "$n"; done
}

# cluster_stop NODE [SIG]: send SIG (TERM) to its daemon, wait for it (5 s;
# then SIGKILL) and unmount its mount point.
cluster_stop() {
	local n=$1 sig=${2:-TERM} p=${DPID[$1]:-}
	if [ -n "$SIM_MODE" ]; then
		[ "$sig" = TERM ] || sim signal "$n" "$sig" >>"$T/sim.out" 2>&1
		sim stop "$n" >>"$T/sim.out" 2>&1 || fail "clondike-sim stop $n: $(tail -n 3 "$T/sim.out")"
		return 0
	fi
	if [ -n "$p" ]; then
		kill -CONT "$p" 2>/dev/null
		kill -"$sig" "$p" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	fi
	DPID[$n]=""
	echo "=== $(date +%T.%N) stopped with SIG$sig" >>"$T/$n.log"
	if grep -qs " ${MNT[$n]} " /proc/mounts; then
		fusermount3 -u "${MNT[$n]}" 2>/dev/null || fusermount3 -uz "${MNT[$n]}" 2>/dev/null ||
			fail "cannot unmount ${MNT[$n]}"
	fi
}

cluster_restart() {
	cluster_stop "$1" "${2:-TERM}"
	cluster_start "$1"
}

# xattr PATH NAME: the value of the extended attribute, or nothing (exit 1).
xattr() {
	"$PY" -c 'import os,sys
try: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())
except OSError as e: sys.exit(1)' "$1" "$2"
}

# demo_check FILE: demo_counter's output verifies (tests/integration/demo_check.py).
demo_check() {
	"$PY" "$(dirname "${BASH_SOURCE[0]}")/demo_check.py" "$1"
}

# node_state FROM NODE: what FROM's mount says about NODE (up|down|self).
node_state() {
	xattr "${MNT[$1]}/$2" user.clondike.state
}

# wait_states SECS STATE FROM:NODE...: until every FROM sees NODE in STATE
# (one python process polls them all).  Prints what it saw at timeout.
wait_states() {
	local secs=$1 want=$2
	shift 2
	local args=() pair
	for pair in "$@"; do args+=("${MNT[${pair%%:*}]}/${pair#*:}"); done
	"$PY" - "$secs" "$want" "${args[@]}" <<'PY'
import os, sys, time
secs, want, paths = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
deadline = time.monotonic() + secs
def state(p):
    try:
        return os.getxattr(p, "user.clondike.state").decode()
    except OSError as e:
        return "<%s>" % os.strerror(e.errno)
while True:
    seen = {p: state(p) for p in paths}
    bad = {p: s for p, s in seen.items() if s != want}
    if not bad:
        sys.exit(0)
    if time.monotonic() > deadline:
        for p, s in bad.items():
            print("  %s: state %s, wanted %s" % (p, s, want), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.05)
PY
}

# cluster_wait_up [SECS]: every node sees every other one up and itself as
# self (default 15 s).
cluster_wait_up() {
	local secs=${1:-15} a b pairs=() selfs=()
	for a in $NODES; do
		for b in $NODES; do
			if [ "$a" = "$b" ]; then selfs+=("$a:$b"); else pairs+=("$a:$b"); fi
		done
	done
	wait_states "$secs" up "${pairs[@]}" || fail "nodes not all up after ${secs}s"
	wait_states 1 self "${selfs[@]}" || fail "a node does not see itself as self"
}

# spawn OUTFILE PROG ARGS...: run PROG with only fds 0-2 (stdin /dev/null,
# stdout+stderr OUTFILE).  Sets SPAWNED to its pid.
spawn() {
	local out=$1
	shift
	"$PY" -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$@" </dev/null >"$out" 2>&1 &
	SPAWNED=$!
	KILL_PIDS="$KILL_PIDS $SPAWNED"
}

# spawn_fill MiB [NODE]: an rst_fill process (on namespaced NODE if given)
# with MiB of pseudo-random (dirty, incompressible) anonymous memory; waits
# until it is READY.  Sets FILL_PID (its pid on NODE).
spawn_fill() {
	[ -x "$CLD_PROGS/rst_fill" ] || skip "rst_fill is not built"
	mkfifo "$T/fill.ctl"
	if [ -n "${2:-}" ]; then
		spawn_on "$2" "$T/fill.out" "$CLD_PROGS/rst_fill" "$T/fill.result" "$T/fill.ctl" "$1"
	else
		spawn "$T/fill.out" "$CLD_PROGS/rst_fill" "$T/fill.result" "$T/fill.ctl" "$1"
	fi
	# shellcheck disable=SC2034 # used by the tests
	FILL_PID=$SPAWNED
	wait_for "$T/fill.result" "READY" 30
}

# wait_for FILE PATTERN [SECS]: until FILE contains PATTERN (default 10 s).
wait_for() {
	local secs=${3:-10}
	for _ in $(seq $((secs * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "timeout waiting for '$2' in $1"
}

# proc_thawed PID [NODE]: the process (of NODE, a namespaced node, if
# given) is neither traced nor in a (tracing) stop.
proc_thawed() {
	local st tr pd=${PROCD[${2:-}]:-/proc}
	st=$(awk '/^State:/{print $2}' "$pd/$1/status" 2>/dev/null) || return 1
	tr=$(awk '/^TracerPid:/{print $2}' "$pd/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != t ] && [ "$st" != T ] && [ "$tr" = 0 ]
}

# wait_thawed PID SECS [NODE]: fail unless PID is thawed within SECS.
wait_thawed() {
	local pd=${PROCD[${3:-}]:-/proc}
	for _ in $(seq $(($2 * 10))); do
		proc_thawed "$1" "${3:-}" && return 0
		sleep 0.1
	done
	fail "process $1${3:+ of $3} still frozen after ${2}s: $(grep -E '^(State|TracerPid):' "$pd/$1/status" | tr '\n' ' ')"
}

# errtext CMD...: run CMD (bounded by timeout 10), print its stderr; the exit
# status is CMD's (124 if it hung).
errtext() {
	# shellcheck disable=SC2069 # stderr to the caller, stdout dropped
	timeout 10 "$@" 2>&1 >/dev/null
}

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_proxy LISTEN_PORT TARGET_PORT MODE ARMFILE [ARGS...]: run
# cluster_proxy.py in the background (log $T/proxy.log), wait until it
# listens.  Sets PROXY_PID.
start_proxy() {
	"$PY" "$CLU_PROXY" "$@" >>"$T/proxy.log" 2>&1 &
	PROXY_PID=$!
	KILL_PIDS="$KILL_PIDS $PROXY_PID"
	EXTRA_LOGS="$EXTRA_LOGS $T/proxy.log"
	for _ in $(seq 50); do
		grep -q " listening " "$T/proxy.log" 2>/dev/null && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || fail "cluster_proxy.py exited at start"
		sleep 0.1
	done
	fail "cluster_proxy.py did not start listening"
}

# ---- Namespaced nodes: contrib/clondike-sim ---------------------------------

# sim CMD ARGS...: clondike-sim with this test's state directory, network
# namespace prefix, binaries and timings.
sim() {
	CLONDIKE_SIM_STATE=$T/sim CLONDIKE_SIM_PREFIX=cldt$$ CLONDIKE_BUILD=$CLD_BUILD \
		CLONDIKE_SIM_HEARTBEAT=$CLU_HEARTBEAT CLONDIKE_SIM_TIMEOUT=$CLU_TIMEOUT \
		CLONDIKE_SIM_CACHE=$CLU_CACHE CLONDIKE_SIM_LIMITS="${CLU_LIMITS:-}" "$CLU_SIM" "$@"
}

# on NODE CMD...: CMD on NODE, its status passed through.
on() { sim exec "$@"; }

# shellcheck disable=SC2317 # a cleanup hook
sim_down() {
	sim down >>"$T/sim.out" 2>&1 || echo "cleanup: clondike-sim down failed: $(tail -n 3 "$T/sim.out")" >&2
}

# sim_up N [--detached K]: see the top of this file.  Skips where the
# machine cannot make namespaces.
sim_up() {
	local n c err
	[ -x "$CLU_SIM" ] || fail "$CLU_SIM is missing or not executable"
	for c in ip nsenter unshare getfattr; do
		command -v "$c" >/dev/null || skip "$c is missing (iproute2, util-linux, attr)"
	done
	err=$(unshare --net --pid --mount --uts --fork true 2>&1) ||
		skip "no namespaces here (unshare --net --pid --mount --uts --fork: $err)"
	[ "$CLDD" = "$CLD_BUILD/fuse/clondiked" ] ||
		skip "namespaced nodes run \$CLD_BUILD/fuse/clondiked, not CLDD=$CLDD"
	SIM_MODE=1
	CLEANUP_HOOKS="$CLEANUP_HOOKS sim_down"
	if ! sim up "$@" >"$T/sim.out" 2>&1; then
		sed 's/^/  | /' "$T/sim.out" >&2
		fail "clondike-sim up $*"
	fi
	NODES=$(awk '$1 == "node" { printf "%s ", $2 }' "$T/sim/cluster.conf")
	NODES=${NODES% }
	for n in $NODES; do
		SIM_INIT[$n]=$(sim pid "$n") || fail "clondike-sim pid $n"
		MNT[$n]=/proc/${SIM_INIT[$n]}/root/clondike
		PROCD[$n]=/proc/${SIM_INIT[$n]}/root/proc
		ADDR[$n]=$(awk -v n="$n" '$1 == "node" && $2 == n { print $3 }' "$T/sim/cluster.conf")
		LOGF[$n]=$T/sim/$n.log
	done
	EXTRA_LOGS="$EXTRA_LOGS $T/sim.out"
}
declare -A SIM_INIT=()

# spawn_on NODE OUTFILE PROG ARGS...: PROG on NODE with only fds 0-2
# (stdin /dev/null, stdout+stderr OUTFILE).  Sets SPAWNED to its pid in
# NODE's pid namespace.
spawn_on() {
	local node=$1 out=$2 pf
	shift 2
	pf=$(mktemp "$T/spawn.XXXXXX")
	on "$node" "$PY" -c 'import os,sys
with open(sys.argv[1], "w") as f: f.write("%d\n" % os.getpid())
os.closerange(3, 65536); os.execvp(sys.argv[2], sys.argv[2:])' "$pf" "$@" \
		</dev/null >"$out" 2>&1 &
	KILL_PIDS="$KILL_PIDS $!"
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	read -r SPAWNED <"$pf" || fail "spawn_on $node $*: no pid ($(cat "$out"))"
}

# node_pids NODE: the pids of NODE's processes, one a line, sorted (from
# its own /proc).
# guest_check NAME HOMEPID: trigger a migrated self-checking program
# (tests/progs/rst_common.h's protocol, files $T/NAME.*), require PASS, and
# its shadow gone from n1 with it (it exited on n2 with status 0).
guest_check() {
	local name=$1 p=$2
	echo check >"$T/$name.ctl"
	wait_for "$T/$name.res" '^PASS\|^FAIL' 60
	grep -q '^PASS' "$T/$name.res" || fail "$name after migration: $(grep -v READY "$T/$name.res")"
	for _ in $(seq 50); do [ -d "${PROCD[n1]}/$p" ] || break; sleep 0.1; done
	[ -d "${PROCD[n1]}/$p" ] && fail "$name: the shadow $p outlived its guest"
	return 0
}

node_pids() {
	local d
	for d in "${PROCD[$1]}"/[0-9]*; do echo "${d##*/}"; done | sort -n
}
