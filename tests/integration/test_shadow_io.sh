#!/bin/bash
# SPDX-License-Identifier: MIT
# Forwarded fds of a guest (issue 16), between namespaced nodes:
#  - a pipeline at home, `producer | cat | sha256sum`, whose cat migrates to
#    n2 while the pipe is paused: 200 MB pass through it with the checksum
#    of the data, and the pipeline's exit status is cat's;
#  - while a guest waits in poll on a forwarded pipe, both daemons answer;
#  - poll, then an epoll loop in the guest over a forwarded non-blocking
#    pipe wake up on each write at home, read until EAGAIN, and see EOF;
#  - a guest forks on n2: its child inherits the forwarded stdout and is
#    reaped by the guest; bash at home gets the guest's exit code;
#  - a guest with a connected TCP connection to a server on n1 keeps
#    exchanging lines after the migration, with send/recv and read/write.
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/shadow_lib.sh"

for p in sh_epoll sh_sock; do
	[ -x "$CLD_PROGS/$p" ] || skip "$p is not built"
done
sim_up 2
cluster_wait_up 15
ok "2 namespaced nodes up"

migrate_job() {
	local dst=/clondike/n2/
	[ -d "${PROCD[n2]}/$1" ] && dst=/clondike/n2/job$1
	on n1 cp "/clondike/n1/$1" "$dst" 2>"$T/mig.err" || fail "cp of $1: $(cat "$T/mig.err")"
	GUEST=$(xattr "${MNT[n1]}/n1/$1" user.clondike.guest_pid) || fail "$1: no guest_pid"
	[ -d "${PROCD[n2]}/$GUEST" ] || fail "guest $GUEST is not a process of n2"
}

# ---- A pipeline through a migrated filter ---------------------------------------
MB=${SHADOW_IO_MB:-200}
head -c $((MB << 20)) /dev/urandom >"$T/data"
want=$(sha256sum <"$T/data" | cut -d' ' -f1)
pipeline pipe "$T/data" 0
sleep 0.5 # its first MiB through, cat blocks in read
migrate_job "$CAT"
# The shadow's forwarded fds are files of the mount: .fwd/PID/FD links to
# what each is at home, as /proc/PID/fd/FD does.
for fd in 0 1; do
	l=$(on n1 readlink "/clondike/n1/.fwd/$CAT/$fd") || fail "no .fwd/$CAT/$fd"
	[ "$l" = "$(on n1 readlink "/proc/$CAT/fd/$fd")" ] || fail ".fwd/$CAT/$fd -> $l"
	case $l in pipe:*) ;; *) fail ".fwd/$CAT/$fd is not a pipe: $l" ;; esac
done
[ "$(on n1 ls "/clondike/n1/.fwd/")" = "$CAT" ] || fail ".fwd lists $(on n1 ls /clondike/n1/.fwd/)"
on n1 ls -a /clondike/n1/ | grep -qx .fwd && fail ".fwd is listed in /clondike/n1/"
on n1 readlink "/clondike/n1/.fwd/$CAT/2" >/dev/null 2>&1 && fail "fd 2 (a file) is not forwarded"
ok "cat's forwarded fds at home: $(on n1 ls -l "/clondike/n1/.fwd/$CAT/" | awk 'NR > 1 {print $(NF-2), $(NF-1), $NF}' | paste -sd' ')"
t0=$(date +%s%N)
touch "$T/pipe.go"
wait_for "$T/pipe.sum.st" status 300
ms=$((($(date +%s%N) - t0) / 1000000))
got=$(cut -d' ' -f1 <"$T/pipe.sum")
[ "$got" = "$want" ] || fail "pipeline: sha256 $got, the data's is $want"
grep -q "status 0 0 0" "$T/pipe.sum.st" || fail "pipeline: $(cat "$T/pipe.sum.st")"
for _ in $(seq 40); do [ -d "${PROCD[n2]}/$GUEST" ] || break; sleep 0.05; done
[ -d "${PROCD[n2]}/$GUEST" ] && fail "pipeline: cat is still on n2"
ok "producer | cat (migrated to n2) | sha256sum: $MB MB, equal checksums, $((MB * 1000 / (ms + 1))) MB/s; $(cat "$T/pipe.sum.st")"

# ---- An epoll loop over a forwarded pipe ---------------------------------------
mkfifo "$T/ep.fifo"
# The writer at home holds the FIFO open; a cat at home copies it into
# the job's stdin, a pipe.  (Not `< <(cat ...)`: that cat would be the
# job's child, and a process with children is not migrated.)
spawn_on n1 "$T/ep.out" bash -c 'cat "$3" | exec "$1" "$2"' _ "$CLD_PROGS/sh_epoll" \
	"$T/ep.res" "$T/ep.fifo"
exec 7>"$T/ep.fifo"
wait_for "$T/ep.res" '^READY' 10
EP=$(awk '/^READY/{print $2}' "$T/ep.res")
migrate_job "$EP"
# The guest waits on home for as long as it likes: nothing else waits.
sleep 1
t0=$(date +%s%N)
on n1 ls "/clondike/n1/" "/clondike/n2/" >/dev/null || fail "ls while a guest waits"
on n2 ls "/clondike/n1/" "/clondike/n2/" >/dev/null || fail "ls on n2 while a guest waits"
on n1 "$CLD_BIN" nodes >/dev/null || fail "clondike nodes while a guest waits"
lsms=$((($(date +%s%N) - t0) / 1000000))
[ "$lsms" -lt 3000 ] || fail "the daemons stalled while a guest waits: ${lsms} ms"
ok "while the guest waits on a forwarded pipe, ls of both nodes and clondike nodes answer (${lsms} ms in all)"
for i in 1 2 3 4 5; do
	printf 'line %d\n' "$i" >&7
	wait_for "$T/ep.res" "^WAKE $i " 5
	sleep 0.1
done
grep -q "^WAKE 1 7 EAGAIN poll" "$T/ep.res" || fail "poll: $(grep WAKE "$T/ep.res" | head -1)"
grep -q "^WAKE 5 7 EAGAIN epoll" "$T/ep.res" || fail "epoll: $(tail -1 "$T/ep.res")"
exec 7>&-
wait_for "$T/ep.res" "EOF" 5
ok "poll, then epoll in the guest woke up on each of 5 writes at home (read until EAGAIN), then EOF"

# ---- Children of the guest --------------------------------------------------------
spawn_on n1 "$T/fork.log" bash -c '"$1" "$2" fork:3 | cat >"$3"; echo "status ${PIPESTATUS[0]}" >"$4"' \
	_ "$CLD_PROGS/sh_job" "$T/fork.res" "$T/fork.out" "$T/fork.st"
wait_for "$T/fork.res" '^READY' 10
FJ=$(awk '/^READY/{print $2}' "$T/fork.res")
migrate_job "$FJ"
on n1 kill -USR2 "$FJ"
wait_for "$T/fork.st" status 10
grep -q '^CHILD [0-9]' "$T/fork.out" || fail "guest's child: $(cat "$T/fork.out")"
grep -q '^REAPED 3' "$T/fork.out" || fail "guest's child not reaped: $(cat "$T/fork.out")"
grep -q 'status 3' "$T/fork.st" || fail "guest with a child: $(cat "$T/fork.st")"
ok "the guest's child ran on n2 with its forwarded stdout ($(head -1 "$T/fork.out")), was reaped by it (3), and bash at home got 3"

# ---- A TCP connection to a server at home ------------------------------------------
SERVER='import socket, sys, time, os
port, n, go, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", port)); s.listen(1)
c, _ = s.accept()
f = c.makefile("rwb", buffering=0)
for k in range(n):
    if k == 2:
        open(log, "a").write("WAITING\n")
        while not os.path.exists(go): time.sleep(0.02)
    c.sendall(b"ping %d\n" % k)
    line = f.readline()
    open(log, "a").write("SERVER %s\n" % line.decode().strip())
    if line != b"pong %d\n" % k: sys.exit(1)
open(log, "a").write("DONE\n")'
spawn_on n1 "$T/srv.out" "$PY" -c "$SERVER" 7411 10 "$T/srv.go" "$T/srv.log"
sleep 0.5
spawn_on n1 "$T/sock.out" "$CLD_PROGS/sh_sock" "$T/sock.res" 10.77.0.1 7411 10
wait_for "$T/srv.log" WAITING 10
SK=$(awk '/^READY/{print $2}' "$T/sock.res")
migrate_job "$SK"
touch "$T/srv.go"
wait_for "$T/srv.log" 'DONE\|pong 9' 10
grep -q "^DONE" "$T/srv.log" || fail "TCP: the server says $(tail -2 "$T/srv.log")"
grep -q "^GOT 9" "$T/sock.res" || fail "TCP: the guest says $(tail -2 "$T/sock.res")"
ok "TCP to a server on n1: 8 more exchanges after the migration (send/recv and read/write)"
exit 0
