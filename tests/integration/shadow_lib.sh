# Shared by the shadow tests (test_shadow*.sh): a job with a parent on n1,
# a pipeline through a cat to migrate, and a python prelude that runs an
# interactive bash in a pseudo-terminal and reads it.  Sourced after
# cluster_lib.sh.

# The parent: forks MODE's job, writes its pid, waits, writes the status.
PARENT='import os, sys
prog, res, mode, pidf, stf = sys.argv[1:6]
pid = os.fork()
if pid == 0:
    os.execv(prog, [prog, res, mode])
with open(pidf, "w") as f: f.write("%d\n" % pid)
_, st = os.waitpid(pid, 0)
with open(stf + ".tmp", "w") as f: f.write("%d\n" % st)
os.rename(stf + ".tmp", stf)'

# start_job NAME MODE: start a parent and its sh_job on n1; JOB is the
# job's pid.
start_job() {
	local name=$1 mode=$2
	rm -f "$T/$name".*
	spawn_on n1 "$T/$name.out" "$PY" -c "$PARENT" "$CLD_PROGS/sh_job" "$T/$name.res" "$mode" \
		"$T/$name.pid" "$T/$name.st"
	wait_for "$T/$name.res" '^READY' 20
	read -r JOB <"$T/$name.pid"
}

# pipeline NAME DATA PAUSE: `producer | cat | sha256sum` on n1.  The
# producer sends 1 MiB of DATA, waits for $T/NAME.go (the migration), then
# sends the rest, pausing PAUSE s after each MiB.  CAT is cat's pid; the
# checksum goes to $T/NAME.sum, "status <PIPESTATUS>" to $T/NAME.sum.st.
PRODUCER='import os, sys, time
data, go, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(data, "rb") as f:
    out = sys.stdout.buffer
    out.write(f.read(1 << 20)); out.flush()
    while not os.path.exists(go): time.sleep(0.02)
    while True:
        b = f.read(1 << 20)
        if not b: break
        out.write(b)
        if pause: out.flush(); time.sleep(pause)
    out.flush()'
pipeline() {
	local name=$1
	spawn_on n1 "$T/$name.out" bash -c '"$1" -c "$2" "$3" "$4" "$5" |
		(echo $BASHPID >"$6"; exec cat) | sha256sum >"$7"; echo "status ${PIPESTATUS[*]}" >"$7.st"' \
		_ "$PY" "$PRODUCER" "$2" "$T/$name.go" "$3" "$T/$name.pid" "$T/$name.sum"
	for _ in $(seq 100); do [ -s "$T/$name.pid" ] && break; sleep 0.05; done
	read -r CAT <"$T/$name.pid" || fail "no pid for cat"
}

# The prelude of a terminal driver (python -c "$PTY_PRELUDE..."): argv is
# JOB RES GOFILE LOG; an interactive bash (prompt "PROMPT$ ") runs on the
# pty fd; expect(PAT) reads until PAT, logs what it saw and returns it, or
# prints TIMEOUT and exits 1.
PTY_PRELUDE='import fcntl, os, pty, struct, sys, termios, time, select
job, res, gof, log = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.environ["PS1"] = "PROMPT$ "
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
out = b""
def expect(pat, secs=15):
    global out
    end = time.time() + secs
    while time.time() < end:
        if pat.encode() in out:
            i = out.index(pat.encode()) + len(pat)
            seen, out = out[:i], out[i:]
            open(log, "ab").write(seen)
            return seen
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try: out += os.read(fd, 4096)
            except OSError: break
    open(log, "ab").write(out)
    print("TIMEOUT waiting for %r" % pat, flush=True); sys.exit(1)
def wait_file(path):
    while not os.path.exists(path): time.sleep(0.05)
'
