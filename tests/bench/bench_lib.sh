# Shared by the benchmark scripts (tests/bench/*.sh).  Sourced, not run.

# bench_tools [BUILD_DIR]: $cli and $helper (bench_freeze) of the build
# (default ./build, or $CLD_BUILD), or exit saying what to build.
bench_tools() {
	build=${1:-${CLD_BUILD:-build}}
	cli=$build/cli/clondike
	helper=$build/tests/bench/bench_freeze
	[ -x "$cli" ] && [ -x "$helper" ] && return 0
	echo "build first: $cli and $helper are needed" >&2
	exit 1
}

# bench_sim NAME [BUILD_DIR]: a 2-node clondike-sim cluster (network
# namespaces prefixed NAME) that is taken down at exit; sets top, B, sim,
# CLD and T (a scratch directory).  on NODE CMD... runs on a node.
bench_sim() {
	local name=$1
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	B=$(cd "${2:-$top/build}" && pwd)
	sim=$top/contrib/clondike-sim
	CLD=$B/cli/clondike
	export CLONDIKE_BUILD=$B CLONDIKE_SIM_STATE=/run/clondike-bench CLONDIKE_SIM_PREFIX=$name
	T=$(mktemp -d "/tmp/$name.XXXXXX")
	chmod 755 "$T"
	trap bench_sim_cleanup EXIT
	"$sim" down >/dev/null 2>&1 || true
	"$sim" up 2 >/dev/null
}

bench_sim_cleanup() {
	"$sim" down >/dev/null 2>&1 || true
	rm -rf "$T"
}

on() { "$sim" exec "$@"; }

# bench_tcp FROM TO [WIDTH]: the baseline, 1 GiB of raw TCP from node FROM
# to node TO (tests/bench/tcp_rate); prints its line, sets t_tcp (s) and
# mbs_tcp (MB/s).
bench_tcp() {
	local from=$1 to=$2 addr=10.77.0.${2#n} rpid
	on "$to" "$B/tests/bench/tcp_rate" 1024 --recv "$addr" 7411 >"$T/tcp" &
	rpid=$!
	sleep 0.5
	on "$from" "$B/tests/bench/tcp_rate" 1024 --send "$addr" 7411
	wait "$rpid"
	read -r _ _ _ _ _ t_tcp _ mbs_tcp _ <"$T/tcp"
	printf "%-${3:-44}s %8.3f s %9.1f MB/s\n" "(a) raw TCP $from -> $to, 1024 MiB" "$t_tcp" \
		"$mbs_tcp"
}
