# Shared by the shadow tests (test_shadow.sh, test_shadow_down.sh): a job
# with a parent on n1, and a python prelude that runs an interactive bash
# in a pseudo-terminal and reads it.  Sourced after cluster_lib.sh.

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
