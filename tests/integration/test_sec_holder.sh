#!/bin/bash
# SPDX-License-Identifier: MIT
# Holder impersonation (docs/security.md, "Freeze holders"): anybody can bind
# the abstract socket @clondike/frozen/<pid> that `clondike freeze` serves a
# process's image on.  A squatter (user cldfuse, answering like a holder)
# must get nothing from its clients: not one request byte, no fd.  root's
# `clondike checkpoint` and `cp /clondike/<node>/<pid>` refuse it (a clear
# message with the squatter's pid and uid) and freeze the process
# themselves; thaw and freeze refuse it too.  A squatter for the user's own
# process is refused as well (it is not the tracer).  A genuine holder still
# works for root and for its owner, and a holder that stops answering makes
# its client fail with ETIMEDOUT instead of hanging.
. "$(dirname "$0")/fuse_lib.sh"

. "$(dirname "$0")/user_lib.sh"
test_user
mkdir "$T/u"
chmod 777 "$T/u"

# The squatter: binds @clondike/frozen/PID, answers every request as a
# holder would (a plausible INFO, "EVIL" bytes for PREAD and into a passed
# fd), and logs what it receives: "conn", "bytes N", "fd", "eof".  Mode
# noaccept: listen with a full backlog and never accept.
cat >"$T/u/squat.py" <<'PY'
import os, select, socket, struct, sys, time
pid, log, mode, life = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
addr = "\0clondike/frozen/%d" % pid
def L(m):
    with open(log, "a") as f:
        f.write(m + "\n")
def resp(ret, msg=b"", a=0, b=0):
    # struct hold_resp: i64 ret, u32 kind (0 final), u32 msg_len, u64 a, b, i32 pid, u32 pad
    return struct.pack("=qIIQQiI", ret, 0, len(msg), a, b, pid, 1) + msg
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(addr)
s.listen(0 if mode == "noaccept" else 8)
if mode == "noaccept":
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler.connect(addr)  # backlog 0: this one fills it
L("listening pid=%d uid=%d" % (os.getpid(), os.getuid()))
end = time.time() + life
conns = []
while time.time() < end:
    if mode == "noaccept":
        time.sleep(0.2)
        continue
    r, _, _ = select.select([s] + conns, [], [], 0.2)
    for x in r:
        if x is s:
            c, _ = s.accept()
            conns.append(c)
            L("conn")
            continue
        try:
            data, anc, _, _ = x.recvmsg(4096, socket.CMSG_SPACE(64))
        except OSError as e:
            data, anc = b"", []
        fds = []
        for lvl, typ, d in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds += list(struct.unpack("%di" % (len(d) // 4), d[: len(d) // 4 * 4]))
                L("fd")
        if not data:
            conns.remove(x)
            x.close()
            L("eof")
            continue
        L("bytes %d" % len(data))
        op, arg, off, ln = struct.unpack("=IiQQ", data[:24])
        try:
            if op == 1:
                x.sendall(resp(0, b"ptrace", 1 << 20, 1 << 20))
            elif op == 2:
                n = min(ln, 1 << 20)
                x.sendall(resp(n) + (b"EVIL" * (n // 4 + 1))[:n])
            elif op == 4:
                for fd in fds:
                    os.write(fd, b"EVIL" * 4096)
                x.sendall(resp(0))
            else:
                x.sendall(resp(0))
        except OSError:
            pass
        for fd in fds:
            os.close(fd)
PY
chmod 644 "$T/u/squat.py"

# squat PID LOG [MODE]: start a squatter as $U for PID's name; sets SQ.
squat() {
	: >"$2"
	chmod 666 "$2"
	# setpriv itself, not as_user: $! must be the squatter (setpriv execs).
	setpriv --reuid="$U" --regid="$U" --init-groups /usr/bin/python3 "$T/u/squat.py" "$1" "$2" \
		"${3:-answer}" 120 </dev/null >>"$T/u/squat.err" 2>&1 &
	SQ=$!
	KILL_PIDS="$KILL_PIDS $SQ"
	wait_for "$2" "listening"
}
# unsquat: end the squatter (its name is free again).
unsquat() {
	kill "$SQ" 2>/dev/null
	wait "$SQ" 2>/dev/null
}
# got_nothing LOG WHAT: fail if the squatter received any byte or fd.
got_nothing() {
	if grep -qE "^(bytes|fd)" "$1"; then
		fail "$2: the squatter received: $(grep -E '^(bytes|fd)' "$1" | sort | uniq -c | tr '\n' ' ')"
	fi
}
# image_of FILE PID COMM: FILE is the real image of PID (comm COMM).
image_of() {
	local j
	j=$("$CLD_BIN" --json inspect "$1") || fail "inspect $1"
	python3 - "$j" "$2" "$3" <<'PY' || fail "$1 is not the image of $2 ($3): $j"
import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if d["pid"] == int(sys.argv[2]) and d["comm"] == sys.argv[3] else 1)
PY
	! grep -q "EVILEVIL" "$1" || fail "$1 holds the squatter's bytes"
}
thawed() {
	local st tr
	st=$(awk '/^State:/{print $2}' "/proc/$1/status")
	tr=$(awk '/^TracerPid:/{print $2}' "/proc/$1/status")
	[ "$tr" = 0 ] && [ "$st" != t ] && [ "$st" != T ]
}

spawn "$T/root.out" sleep 1000
RP=$SPAWNED
setpriv --reuid="$U" --regid="$U" --init-groups /usr/bin/python3 -c \
	'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
	sleep 1000 </dev/null >/dev/null 2>&1 &
UP=$!
KILL_PIDS="$KILL_PIDS $UP"
sleep 0.2

# ---- A squatter for root's process ------------------------------------------
squat "$RP" "$T/u/sq1.log"
SQ1=$SQ
"$CLD_BIN" checkpoint "$RP" "$T/c1.core" >/dev/null 2>"$T/c1.err" ||
	fail "checkpoint with a squatter failed: $(cat "$T/c1.err")"
grep -q "refusing holder of pid $RP: socket owned by pid $SQ1 uid $UID_U" "$T/c1.err" ||
	fail "no refusal naming the squatter: $(cat "$T/c1.err")"
grep -q "not the process's tracer" "$T/c1.err" || fail "refusal does not say why: $(cat "$T/c1.err")"
image_of "$T/c1.core" "$RP" sleep
thawed "$RP" || fail "$RP left frozen after the checkpoint"
got_nothing "$T/u/sq1.log" "checkpoint"
grep -q "^conn" "$T/u/sq1.log" || fail "the checkpoint did not even connect (test is not testing)"
ok "checkpoint refuses the squatter ($(head -n 1 "$T/c1.err" | cut -c1-150)...) and freezes itself"

"$CLD_BIN" checkpoint "$RP" - >"$T/c1s.core" 2>"$T/c1s.err" || fail "checkpoint to stdout: $(cat "$T/c1s.err")"
image_of "$T/c1s.core" "$RP" sleep
got_nothing "$T/u/sq1.log" "checkpoint to stdout (an fd would have been passed)"
ok "no fd passed to the squatter (checkpoint to stdout)"

"$CLD_BIN" thaw "$RP" 2>"$T/t1.err" && fail "thaw talked to the squatter"
grep -q "refusing holder of pid $RP" "$T/t1.err" || fail "thaw: $(cat "$T/t1.err")"
"$CLD_BIN" freeze "$RP" 2>"$T/f1.err" && fail "freeze succeeded with its socket name taken"
grep -q "cannot hold process $RP: refusing holder" "$T/f1.err" || fail "freeze: $(cat "$T/f1.err")"
got_nothing "$T/u/sq1.log" "thaw/freeze"
ok "thaw and freeze refuse it: $(cat "$T/f1.err" | cut -c1-120)..."

start_daemon
cp "$DIR/$RP" "$T/c2.core" 2>"$T/c2.err" || fail "cp through the mount with a squatter: $(cat "$T/c2.err")"
image_of "$T/c2.core" "$RP" sleep
got_nothing "$T/u/sq1.log" "cp through the mount"
grep -q "refusing holder of pid $RP: socket owned by pid $SQ1 uid $UID_U" "$T/daemon.log" ||
	fail "no daemon log line for the squatter"
for _ in $(seq 50); do thawed "$RP" && break; sleep 0.1; done
thawed "$RP" || fail "$RP left frozen after cp"
ok "cp /clondike/$NODE/$RP: real image, squatter logged and ignored"

# A squatter that never accepts (full backlog): no hang, ignored.
unsquat
squat "$RP" "$T/u/sq2.log" noaccept
t0=$(date +%s%N)
timeout 30 "$CLD_BIN" checkpoint "$RP" "$T/c3.core" >/dev/null 2>"$T/c3.err" ||
	fail "checkpoint with a non-accepting squatter: $(cat "$T/c3.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q "takes no connection" "$T/c3.err" || fail "no message about the stuck socket: $(cat "$T/c3.err")"
image_of "$T/c3.core" "$RP" sleep
[ "$ms" -lt 10000 ] || fail "took ${ms} ms"
ok "a socket that takes no connection is ignored after $ms ms"
unsquat

# ---- A squatter for the user's own process ------------------------------------
squat "$UP" "$T/u/sq3.log"
SQ3=$SQ
as_user "$CLD_BIN" checkpoint "$UP" "$T/u/c4.core" >/dev/null 2>"$T/u/c4.err" ||
	fail "user's checkpoint of their own process with a squatter: $(cat "$T/u/c4.err")"
grep -q "refusing holder of pid $UP: socket owned by pid $SQ3 uid $UID_U, not the process's tracer" "$T/u/c4.err" ||
	fail "the user's own squatter was not refused: $(cat "$T/u/c4.err")"
image_of "$T/u/c4.core" "$UP" sleep
"$CLD_BIN" checkpoint "$UP" "$T/c5.core" >/dev/null 2>"$T/c5.err" || fail "root, user's squatter: $(cat "$T/c5.err")"
grep -q "refusing holder of pid $UP" "$T/c5.err" || fail "root trusted the owner's squatter"
cp "$DIR/$UP" "$T/c6.core" || fail "cp of $UP with a squatter"
image_of "$T/c6.core" "$UP" sleep
got_nothing "$T/u/sq3.log" "the owner's squatter"
ok "a squatter with the owner's uid is refused too (not the tracer)"
unsquat

# ---- Genuine holders ----------------------------------------------------------
"$CLD_BIN" freeze "$RP" >"$T/f2.out" 2>&1 || fail "freeze $RP: $(cat "$T/f2.out")"
"$CLD_BIN" checkpoint "$RP" "$T/c7.core" >"$T/c7.out" 2>&1 || fail "checkpoint of a held process: $(cat "$T/c7.out")"
grep -q "stays frozen" "$T/c7.out" || fail "not through the holder: $(cat "$T/c7.out")"
image_of "$T/c7.core" "$RP" sleep
cp "$DIR/$RP" "$T/c8.core" || fail "cp of a held process"
cmp "$T/c7.core" "$T/c8.core" || fail "the held image differs between checkpoint and cp"
"$CLD_BIN" thaw "$RP" >/dev/null || fail "thaw of a genuine holder"
for _ in $(seq 50); do thawed "$RP" && break; sleep 0.1; done
thawed "$RP" || fail "$RP still frozen after thaw"
ok "a genuine holder of root's process works (checkpoint, cp, thaw)"

as_user "$CLD_BIN" freeze "$UP" >"$T/u/f3.out" 2>&1 || fail "user's freeze: $(cat "$T/u/f3.out")"
as_user "$CLD_BIN" checkpoint "$UP" "$T/u/c9.core" >"$T/u/c9.out" 2>&1 ||
	fail "user's checkpoint through their holder: $(cat "$T/u/c9.out")"
grep -q "stays frozen" "$T/u/c9.out" || fail "not through the holder: $(cat "$T/u/c9.out")"
cp "$DIR/$UP" "$T/c10.core" || fail "root's cp of the user's held process"
cmp "$T/u/c9.core" "$T/c10.core" || fail "images differ"
ok "a genuine holder of the user's process works for its owner and root"

# A holder that stops answering: its client times out, no hang.
H=$(awk '/^TracerPid:/{print $2}' "/proc/$UP/status")
[ "$H" -gt 0 ] || fail "no tracer for $UP"
kill -STOP "$H"
t0=$(date +%s%N)
timeout 60 "$CLD_BIN" checkpoint "$UP" "$T/c11.core" 2>"$T/c11.err" && fail "checkpoint through a stopped holder succeeded"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$H"
[ "$rc" != 124 ] || fail "checkpoint hung on a stopped holder"
grep -q "did not answer within 5 s" "$T/c11.err" || fail "no timeout message: $(cat "$T/c11.err")"
[ "$ms" -lt 15000 ] || fail "timing out took $ms ms"
ok "a holder that stops answering: ETIMEDOUT after $ms ms ($(cut -c1-100 "$T/c11.err")...)"
as_user "$CLD_BIN" thaw "$UP" >/dev/null || fail "user's thaw"
for _ in $(seq 50); do thawed "$UP" && break; sleep 0.1; done
thawed "$UP" || fail "$UP still frozen after thaw"
ok "the user thaws their own holder"
exit 0
