# SPDX-License-Identifier: MIT
# Restart test: a python3 thread pool (see rst_common.h for the protocol).
#   python3 rst_pool.py RESULT CTL
# Eight concurrent.futures worker threads hash known inputs round after
# round, driven by a feeder thread; after the trigger three more rounds
# must complete and every result ever computed must match the serial one.
import hashlib
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

res_path, ctl_path = sys.argv[1], sys.argv[2]
log = []


def say(line):
    log.append(line)
    with open(res_path + ".tmp", "w") as f:
        f.write("\n".join(log) + "\n")
    os.rename(res_path + ".tmp", res_path)


def work(i):
    h = hashlib.sha256()
    for k in range(300):
        h.update(b"%d-%d" % (i, k))
    return h.hexdigest()


ctl = os.open(ctl_path, os.O_RDWR)
expected = [work(i) for i in range(64)]
pool = ThreadPoolExecutor(8)
state = {"rounds": 0, "bad": 0, "stop": False}


def feeder():
    while not state["stop"]:
        got = list(pool.map(work, range(64)))
        if got != expected:
            state["bad"] += 1
        state["rounds"] += 1


t = threading.Thread(target=feeder, name="feeder")
t.start()
while state["rounds"] < 2:
    time.sleep(0.01)
say("READY %d" % os.getpid())
if os.read(ctl, 16) != b"check\n":
    say("FAIL: bad trigger")
    sys.exit(1)
r0 = state["rounds"]
deadline = time.monotonic() + 60
while state["rounds"] < r0 + 3 and time.monotonic() < deadline:
    time.sleep(0.01)
state["stop"] = True
t.join()
pool.shutdown()
if state["rounds"] < r0 + 3:
    say("FAIL: the pool stopped after round %d" % state["rounds"])
    sys.exit(1)
if state["bad"]:
    say("FAIL: %d rounds with wrong results" % state["bad"])
    sys.exit(1)
say("PASS python thread pool: %d rounds, %d of them after the restart"
    % (state["rounds"], state["rounds"] - r0))
