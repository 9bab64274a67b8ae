#!/bin/bash
# SPDX-License-Identifier: MIT
# CRIU's lazy migration (issue 15), the counterpart of bench_migrate.sh,
# between the same two namespaced nodes of contrib/clondike-sim:
#   (a) raw TCP n1 -> n2, 1 GiB (tcp_rate --send/--recv): the baseline;
#   (b) for processes of 4 MiB, 256 MiB and 1 GiB of random memory
#       (rst_fill, started detached: setsid, stdin /dev/null, output to a
#       file, cwd /), CRIU's post-copy migration, images in a directory
#       both nodes see (the sim's shared root filesystem):
#         n1: criu dump --lazy-pages --address 10.77.0.1 --port P
#             (writes the images but the pages, then serves the pages)
#         n2: criu lazy-pages --page-server --address 10.77.0.1 --port P
#         n2: criu restore --lazy-pages --restore-detached
#       - downtime: from the freeze (dump.log's "Seized task" line, put on
#         the wall clock by the log's start, the birth time of dump.log)
#         until `criu restore` has returned (the guest runs on n2).  "From
#         the launch" is the same from the launch of `criu dump`, with its
#         parts: dump until its page server listens (--status-fd),
#         lazy-pages until it listens (--status-fd), restore; "log start"
#         is where dump.log's clock starts in it;
#       - all pages in: from then until lazy-pages.log's "UFFD transferred
#         pages" line (placed the same way);
#       - independence: from then until `criu lazy-pages` exits (it has
#         closed its session with the page server on n1), and that rate
#         against (a);
#       then the guest checks its memory (PASS required).
#   Every criu command probes the kernel first (kerndat, some 35 ms here)
#   unless it finds its cache, $RUNDIR/criu.kdat, on a tmpfs.  /run is a
#   tmpfs on most systems but not on every VM; a CRIU built with
#   `make RUNDIR=/dev/shm` keeps its cache there.  lazy-pages and restore
#   start inside the downtime, so this shows in the figure.
#   CRIU is $CRIU or criu on PATH.  If `criu check` (or its uffd-noncoop
#   feature) fails, the script says why and prints SKIP.  Each node has
#   its own pid namespace and CRIU restores the same pid: the guest's pid
#   is set high in n1 (ns_last_pid), so that it is free in n2 (checked).
# Usage: [CRIU=...] [SIZES="4 256 1024"] tests/bench/bench_criu.sh [BUILD_DIR]
#        (root; no asserts)
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"

skip() {
	local why=$1
	shift
	echo "bench_criu: CRIU cannot run here: $why"
	printf '%s\n' "$@" | sed 's/^/  /'
	echo "SKIP: CRIU lazy migration not measured ($why)"
	exit 0
}
CRIU=${CRIU:-$(command -v criu || true)}
[ -n "$CRIU" ] && [ -x "$CRIU" ] || skip "no criu binary (set CRIU or PATH)"
CRIU=$(realpath "$CRIU")
ver=$("$CRIU" --version 2>&1 | head -1)
out=$("$CRIU" check 2>&1) || skip "criu check failed" "$CRIU: $ver" "$out"
out=$("$CRIU" check --feature uffd-noncoop 2>&1) || skip "no uffd-noncoop" "$CRIU: $ver" "$out"
echo "CRIU: $CRIU ($ver): criu check: Looks good; $(echo "$out" | tail -1)"

bench_sim cldcr "${1:-}"
# Without CAP_SYS_RESOURCE (some containers and VMs, this one) CRIU's
# F_SETPIPE_SZ to its PIPE_MAX_SIZE (3.2 MiB) fails, and its lazy page
# server is then left without its /dev/null sink: "page-pipe: splice: -1:
# Bad file descriptor".  The pipe sysctls are then lifted for the run and
# put back at exit.
caps=$(awk '/^CapEff/ { print $2 }' /proc/self/status)
if (( (16#$caps >> 24) & 1 )); then
	trap bench_sim_cleanup EXIT
else
	pipe_max=$(cat /proc/sys/fs/pipe-max-size)
	pipe_soft=$(cat /proc/sys/fs/pipe-user-pages-soft)
	sysctl_back() {
		echo "$pipe_max" >/proc/sys/fs/pipe-max-size
		echo "$pipe_soft" >/proc/sys/fs/pipe-user-pages-soft
		bench_sim_cleanup
	}
	trap sysctl_back EXIT
	echo 8388608 >/proc/sys/fs/pipe-max-size
	echo 0 >/proc/sys/fs/pipe-user-pages-soft
	echo "no CAP_SYS_RESOURCE: fs.pipe-max-size=8388608, fs.pipe-user-pages-soft=0 for the run"
fi
ms() { date +%s%N; }
port=27415

# (a) raw TCP between the nodes
bench_tcp n1 n2

for mib in ${SIZES:-4 256 1024}; do
	img=$T/img$mib
	mkdir "$img"
	mkfifo "$T/ctl$mib" "$T/dst$mib" "$T/lst$mib"
	# The guest's pid: high in n1, so free in n2 (checked below).
	on n1 sh -c "echo $((30000 + mib)) >/proc/sys/kernel/ns_last_pid"
	# Its files and cwd are opened in n1: CRIU finds their mounts in n1's
	# table (what nsenter passes on is in the host's).
	# (A subshell, quiet: nsenter dies of the dump's SIGKILL too.)
	(on n1 sh -c 'cd / && exec setsid python3 -c "import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])" \
		"$@" </dev/null >"$0" 2>&1' "$T/out$mib" "$B/tests/progs/rst_fill" "$T/res$mib" "$T/ctl$mib" "$mib" || true) 2>/dev/null &
	gpid=$!
	for _ in $(seq 600); do grep -q READY "$T/res$mib" 2>/dev/null && break; sleep 0.05; done
	read -r _ pid <"$T/res$mib"
	if on n2 test -e "/proc/$pid"; then
		echo "(b) $mib MiB: pid $pid is taken in n2: not measured"
		on n1 kill -9 "$pid" || true
		continue
	fi

	t_dump=$(ms)
	on n1 "$CRIU" dump -t "$pid" -D "$img" -o dump.log -v3 --lazy-pages \
		--address 10.77.0.1 --port "$port" --status-fd 3 3>"$T/dst$mib" &
	dpid=$!
	# A byte once the images are written and the page server listens;
	# end of file if the dump failed.
	if [ "$(dd if="$T/dst$mib" bs=1 count=1 2>/dev/null | wc -c)" != 1 ]; then
		wait "$dpid" || true
		echo "(b) $mib MiB: criu dump failed:"; grep -B4 -m3 Error "$img/dump.log" || tail -n 5 "$img/dump.log"
		continue
	fi
	t_ready=$(ms)
	on n2 "$CRIU" lazy-pages -D "$img" -o lazy-pages.log -v4 --page-server \
		--address 10.77.0.1 --port "$port" --status-fd 3 3>"$T/lst$mib" &
	lpid=$!
	dd if="$T/lst$mib" bs=1 count=1 2>/dev/null >/dev/null
	t_lp=$(ms)
	if ! on n2 "$CRIU" restore -D "$img" -o restore.log --lazy-pages --restore-detached; then
		echo "(b) $mib MiB: criu restore failed:"; grep -B4 -m3 Error "$img/restore.log" || tail -n 5 "$img/restore.log"
		kill "$lpid" "$dpid" 2>/dev/null || true
		wait || true
		continue
	fi
	t_run=$(ms)
	wait "$lpid"
	t_ind=$(( ($(ms) - t_run) / 1000000 ))
	wait "$dpid"
	wait "$gpid"

	# The freeze on the wall clock: the log's start plus the offset of
	# its "Seized task" line; every page in: the same in lazy-pages.log.
	at() { # LOG PATTERN: that line's time, ns since the epoch
		awk -v b="$(stat -c %.9W "$1")" -v p="$2" \
			'index($0, p) { t = substr($1, 2, length($1) - 2) } END { printf "%.0f", (b + t) * 1e9 }' "$1"
	}
	t_freeze=$(at "$img/dump.log" ") Seized task")
	t_in=$(at "$img/lazy-pages.log" "UFFD transferred pages")
	echo check >"$T/ctl$mib"
	for _ in $(seq 600); do grep -q 'PASS\|FAIL' "$T/res$mib" 2>/dev/null && break; sleep 0.05; done
	res=$(grep -v READY "$T/res$mib" | head -1)
	ms_() { echo $(( ($2 - $1) / 1000000 )); }
	rate() { awk -v m="$mib" -v t="$1" -v c="$mbs_tcp" 'BEGIN { r = m * 1048576 / (t / 1000) / 1e6
		if (t < 10) print "too short for a rate"; else printf "%.1f MB/s = %.3f x TCP", r, r / c }'; }
	down=$(awk -v r="$t_run" -v f="$t_freeze" 'BEGIN { printf "%.1f", (r - f) / 1e6 }')
	t_all=$(ms_ "$t_run" "$t_in")
	[ "$t_all" -ge 0 ] || t_all=0 # in before restore returned
	printf '%-44s %8s ms downtime (from the launch: %d ms = dump %d + lazy-pages %d + restore %d; log start +%d)\n' \
		"(b) criu lazy $mib MiB (pid $pid)" "$down" "$(ms_ "$t_dump" "$t_run")" \
		"$(ms_ "$t_dump" "$t_ready")" "$(ms_ "$t_ready" "$t_lp")" "$(ms_ "$t_lp" "$t_run")" \
		"$(ms_ "$t_dump" "$(stat -c %.9W "$img/dump.log" | tr -d .)")"
	printf '%-44s %8d ms all pages in (%s); %d ms lazy-pages exited = independent (%s); %s\n' \
		"" "$t_all" "$(rate "$t_all")" "$t_ind" "$(rate "$t_ind")" "$res"
	on n2 kill -9 "$pid" 2>/dev/null || true
done
