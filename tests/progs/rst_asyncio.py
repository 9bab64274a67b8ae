# SPDX-License-Identifier: MIT
# Restart test: a python3 asyncio program (see rst_common.h for the protocol).
#   python3 rst_asyncio.py RESULT CTL
# An event loop (epoll, its self-pipe socketpair) runs a timer that ticks
# every 20 ms, a coroutine that sleeps in asyncio.sleep, a background
# thread hashing a chain and handing each link to the loop with
# call_soon_threadsafe (a write into the self-pipe), and an executor job;
# the trigger arrives through loop.add_reader on the control FIFO.  After
# the restart every one of them must go on, and the chain must be the one
# a serial computation gives.
import asyncio
import hashlib
import os
import sys
import threading
import time

res_path, ctl_path = sys.argv[1], sys.argv[2]
log = []


def say(line):
    log.append(line)
    with open(res_path + ".tmp", "w") as f:
        f.write("\n".join(log) + "\n")
    os.rename(res_path + ".tmp", res_path)


state = {"ticks": 0, "naps": 0, "links": [], "stop": False}


def chain(n):
    h = b"seed"
    out = []
    for _ in range(n):
        h = hashlib.sha256(h).digest()
        out.append(h)
    return out


def hasher(loop):
    h = b"seed"
    while not state["stop"]:
        h = hashlib.sha256(h).digest()
        loop.call_soon_threadsafe(state["links"].append, h)
        time.sleep(0.005)


def tick(loop):
    state["ticks"] += 1
    loop.call_later(0.02, tick, loop)


async def napper():
    while True:
        await asyncio.sleep(0.03)
        state["naps"] += 1


async def main():
    loop = asyncio.get_running_loop()
    ctl = os.open(ctl_path, os.O_RDWR | os.O_NONBLOCK)
    trigger = loop.create_future()

    def on_ctl():
        data = os.read(ctl, 16)
        if not trigger.done():
            trigger.set_result(data)

    loop.add_reader(ctl, on_ctl)
    tick(loop)
    nap = asyncio.create_task(napper())
    t = threading.Thread(target=hasher, args=(loop,), name="hasher")
    t.start()
    assert await loop.run_in_executor(None, sum, range(1000)) == 499500
    while state["ticks"] < 5 or state["naps"] < 3 or len(state["links"]) < 5:
        await asyncio.sleep(0.01)
    say("READY %d" % os.getpid())
    if await trigger != b"check\n":
        say("FAIL: bad trigger")
        sys.exit(1)
    t0, n0, l0 = state["ticks"], state["naps"], len(state["links"])
    await asyncio.sleep(0.5)
    job = await loop.run_in_executor(None, sum, range(100))
    state["stop"] = True
    t.join()
    nap.cancel()
    links = state["links"]
    ok = links == chain(len(links))
    if state["ticks"] - t0 < 10 or state["naps"] - n0 < 5 or len(links) - l0 < 10:
        say("FAIL: after the trigger %d ticks, %d naps, %d links" %
            (state["ticks"] - t0, state["naps"] - n0, len(links) - l0))
        sys.exit(1)
    if not ok or job != 4950:
        say("FAIL: the hash chain or the executor's result is wrong")
        sys.exit(1)
    say("PASS asyncio: %d ticks, %d naps, %d chain links from the thread, executor jobs" %
        (state["ticks"], state["naps"], len(links)))


asyncio.run(main())
