#!/bin/bash
# SPDX-License-Identifier: MIT
# Forwarded fds of a guest (issue 16), between two namespaced nodes of
# contrib/clondike-sim:
#   (a) raw TCP n2 -> n1, 1 GiB (tcp_rate): the baseline;
#   (b) bulk: `sh_blast 1024 | cat >/dev/null` started on n1, sh_blast
#       migrated to n2, then told to write: 1 GiB from the guest into a
#       pipe read at home, against (a);
#   (c) round trip of a one-byte write on forwarded fds: a `cat` whose
#       stdin and stdout are pipes to a python process on n1 is migrated to
#       n2; python writes one byte and reads it back, 2000 times (median),
#       against the peer connection's heartbeat round trip (clondike nodes,
#       the median of 7 beats);
#   (d) a forwarded file: sh_fbench writes 256 MiB in 1 MiB writes into a
#       file on a tmpfs that only n1 has, fsyncs, reads it back and times
#       one-byte preads; once at home (the baseline), once migrated to n2,
#       where every operation is a FILE request to n1.
# Usage: tests/bench/bench_shadow.sh [BUILD_DIR]   (root; no asserts)
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"
bench_sim cldbs "${1:-}"
spawn() { # spawn NODE OUT CMD...: closes what the sim leaks, in the background
	local n=$1 o=$2
	shift 2
	on "$n" python3 -c 'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$@" </dev/null >"$o" 2>&1 &
}
migrate() { on n1 cp "/clondike/n1/$1" /clondike/n2/; }
sleep 1

# (a) raw TCP n2 -> n1
bench_tcp n2 n1 52

# (b) bulk, guest to home
spawn n1 "$T/blast.out" bash -c '"$1" 1024 | cat >/dev/null; echo done >"$2"' _ \
	"$B/tests/progs/sh_blast" "$T/blast.done"
for _ in $(seq 100); do pid=$(on n1 pgrep -n -x sh_blast) && break; sleep 0.05; done
sleep 0.2
migrate "$pid"
t0=$(date +%s%N)
on n1 kill -USR1 "$pid"
for _ in $(seq 6000); do [ -s "$T/blast.done" ] && break; sleep 0.01; done
t=$((($(date +%s%N) - t0) / 1000))
awk -v t="$t" -v tcp="$mbs_tcp" 'BEGIN { r = 1024 * 1048576 / t; printf "%-52s %8.3f s %9.1f MB/s = %.2f x TCP\n", "(b) guest on n2 -> pipe read on n1, 1024 MiB", t / 1e6, r, r / tcp }'

# (c) one-byte round trips
RTT='import os, subprocess, sys, time
pidf, go = sys.argv[1:3]
p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
open(pidf, "w").write("%d\n" % p.pid)
while not os.path.exists(go): time.sleep(0.02)
ts = []
for i in range(2000):
    t = time.perf_counter_ns()
    p.stdin.write(b"x")
    if p.stdout.read(1) != b"x": sys.exit(1)
    ts.append(time.perf_counter_ns() - t)
ts.sort()
print("%.1f %.1f" % (ts[len(ts) // 2] / 1000, ts[len(ts) * 9 // 10] / 1000))'
spawn n1 "$T/rtt.out" python3 -c "$RTT" "$T/rtt.pid" "$T/rtt.go"
for _ in $(seq 100); do [ -s "$T/rtt.pid" ] && break; sleep 0.05; done
sleep 0.3
migrate "$(cat "$T/rtt.pid")"
touch "$T/rtt.go"
for _ in $(seq 3000); do [ -s "$T/rtt.out" ] && break; sleep 0.01; done
read -r med p90 <"$T/rtt.out"
# The heartbeat's round trip varies from beat to beat: the median of 7.
hb=$(for _ in 1 2 3 4 5 6 7; do
	on n1 "$CLD" nodes | awk '$1 == "n2" { print $5 }'
	sleep 1
done | sort -n | sed -n 4p)
awk -v m="$med" -v p="$p90" -v hb="$hb" 'BEGIN { printf "%-52s %8.1f us (p90 %.1f us) = %.2f x the heartbeat RTT (%.0f us)\n", "(c) 1-byte round trip through a migrated cat", m, p, m / (hb * 1000), hb * 1000 }'

# (d) a forwarded file
mkdir -p "$T/fpriv"
on n1 mount -t tmpfs -o size=600m cldbench "$T/fpriv"
fbench() { # fbench NAME MIGRATE: sets w s r l p (us)
	spawn n1 "$T/$1.out" "$B/tests/progs/sh_fbench" "$T/$1.res" "$T/fpriv/data" "$T/$1.go" 256
	for _ in $(seq 100); do grep -qs READY "$T/$1.res" && break; sleep 0.05; done
	if [ "$2" = 1 ]; then
		sleep 0.2
		migrate "$(awk '/READY/ {print $2}' "$T/$1.res")"
	fi
	touch "$T/$1.go"
	for _ in $(seq 12000); do grep -qs 'TIMES\|FAIL' "$T/$1.res" && break; sleep 0.01; done
	read -r _ w s r l p < <(grep TIMES "$T/$1.res") ||
		{ echo "sh_fbench $1: $(cat "$T/$1.res" "$T/$1.out")"; exit 1; }
}
fbench flocal 0
lw=$w lr=$r ll=$l
fbench fguest 1
awk -v w="$w" -v s="$s" -v r="$r" -v l="$l" -v p="$p" -v lw="$lw" -v lr="$lr" -v ll="$ll" \
	-v tcp="$mbs_tcp" -v hb="$hb" 'BEGIN {
	m = 256 * 1048576
	printf "%-52s %8.3f s %9.1f MB/s = %.2f x TCP (at home: %.1f MB/s)\n", "(d) guest on n2 writes 256 MiB into a file of n1", w / 1e6, m / w, m / w / tcp, m / lw
	printf "%-52s %8.1f ms\n", "(d) its fsync", s / 1e3
	printf "%-52s %8.3f s %9.1f MB/s = %.2f x TCP (at home: %.1f MB/s)\n", "(d) and reads them back (1 MiB preads)", r / 1e6, m / r, m / r / tcp, m / lr
	printf "%-52s %8.1f us (p90 %.1f us) = %.2f x the heartbeat RTT (at home: %.1f us)\n", "(d) 1-byte pread of the forwarded file", l, p, l / (hb * 1000), ll
}'
