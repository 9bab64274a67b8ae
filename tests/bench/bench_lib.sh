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
