#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy between two clondiked daemons that understands the framing
of the peer protocol (each direction: u32 little-endian body length, then
the body; frame 0 is the plaintext HELLO, frame 1 the sealed AUTH, every
later one a sealed message) and, once armed, tampers with one frame.

    cluster_proxy.py LISTEN_PORT TARGET_PORT MODE ARMFILE [options]

MODE is what happens to the first qualifying frame once armed:
    pass     nothing (forward everything as is)
    corrupt  flip one bit in the middle of the frame's body
    replay   send the frame twice
The proxy is armed while ARMFILE exists.  If ARMFILE holds a word
(corrupt, replay, pass), that word overrides MODE for this arming.  After
acting once the proxy removes ARMFILE (so the caller sees that it acted)
and passes everything through until it is armed again.

A frame qualifies when it is sealed (index >= 2 in its direction), goes in
the chosen direction (--dir, default s2c: from the target, i.e. the
accepting daemon, to the dialing one) and its body is larger than
--min-size bytes (default 65536: a READ response).

Python 3 standard library only; one thread per direction per connection.
Logs one line per event on stdout (the first is "listening PORT").
"""
import argparse
import itertools
import os
import socket
import struct
import sys
import threading
import time

# Anything longer is not a clondike frame (CLDP_FRAME_MAX is 1 MiB + 4 KiB):
# stop parsing that direction and copy bytes as they come.
FRAME_SANE_MAX = 64 << 20

log_lock = threading.Lock()
act_lock = threading.Lock()


def log(msg):
    with log_lock:
        sys.stdout.write("%.3f %s\n" % (time.time(), msg))
        sys.stdout.flush()


def recv_exact(sock, n):
    """n bytes, or fewer at EOF (b'' if EOF right away)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if not k:
            break
        got += k
    return bytes(buf[:got]) if got < n else buf


class Proxy:
    def __init__(self, args):
        self.args = args

    def armed_mode(self):
        """The mode to apply now, or None when not armed."""
        try:
            with open(self.args.armfile) as f:
                word = f.read().strip().split()
        except FileNotFoundError:
            return None
        except OSError:
            return None
        if word and word[0] in ("pass", "corrupt", "replay"):
            return word[0]
        return self.args.mode

    def disarm(self):
        try:
            os.unlink(self.args.armfile)
        except FileNotFoundError:
            pass

    def pump(self, cid, name, src, dst, other_done):
        """Copy frames from src to dst; tamper when armed and it qualifies."""
        a = self.args
        frames = 0
        nbytes = 0
        why = "eof"
        try:
            while True:
                hdr = recv_exact(src, 4)
                if len(hdr) < 4:
                    if hdr:
                        dst.sendall(hdr)
                        why = "eof inside a frame header"
                    break
                (blen,) = struct.unpack("<I", hdr)
                if blen > FRAME_SANE_MAX:
                    log("conn %d %s: frame length %d is not a frame, raw copy from here"
                        % (cid, name, blen))
                    dst.sendall(hdr)
                    while True:
                        data = src.recv(65536)
                        if not data:
                            break
                        dst.sendall(data)
                    break
                body = recv_exact(src, blen)
                if len(body) < blen:
                    dst.sendall(hdr + body)
                    why = "eof inside a frame body (%d of %d bytes)" % (len(body), blen)
                    break
                idx = frames
                frames += 1
                nbytes += 4 + blen
                action = None
                if idx >= 2 and name == a.dir and blen > a.min_size:
                    with act_lock:
                        mode = self.armed_mode()
                        if mode in ("corrupt", "replay"):
                            action = mode
                            self.disarm()
                        elif mode == "pass":
                            self.disarm()
                if action == "corrupt":
                    body = bytearray(body)
                    at = blen // 2
                    body[at] ^= 0x40
                    log("conn %d %s: frame #%d (%d bytes): corrupted byte %d"
                        % (cid, name, idx, blen, at))
                    dst.sendall(hdr)
                    dst.sendall(body)
                elif action == "replay":
                    log("conn %d %s: frame #%d (%d bytes): replayed (sent twice)"
                        % (cid, name, idx, blen))
                    dst.sendall(hdr)
                    dst.sendall(body)
                    dst.sendall(hdr)
                    dst.sendall(body)
                else:
                    if a.verbose:
                        log("conn %d %s: frame #%d (%d bytes)" % (cid, name, idx, blen))
                    dst.sendall(hdr)
                    dst.sendall(body)
        except OSError as e:
            why = "error: %s" % e
        log("conn %d %s: done after %d frames (%d bytes): %s" % (cid, name, frames, nbytes, why))
        # Half-close: the peer sees EOF in this direction; when both
        # directions are done, close everything.
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass
        if other_done.is_set():
            src.close()
            dst.close()
        else:
            other_done.set()

    def serve(self):
        a = self.args
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.host, a.listen_port))
        ls.listen(16)
        log("listening %d -> %s:%d mode %s armfile %s"
            % (a.listen_port, a.target_host, a.target_port, a.mode, a.armfile))
        for cid in itertools.count(1):
            cs, peer = ls.accept()
            try:
                ts = socket.create_connection((a.target_host, a.target_port), timeout=5)
                ts.settimeout(None)
            except OSError as e:
                log("conn %d from %s:%d: cannot reach the target: %s" % (cid, peer[0], peer[1], e))
                cs.close()
                continue
            for s in (cs, ts):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log("conn %d from %s:%d open" % (cid, peer[0], peer[1]))
            done = threading.Event()
            # c2s: from the dialing client to the target; s2c: back.
            for name, src, dst in (("c2s", cs, ts), ("s2c", ts, cs)):
                threading.Thread(target=self.pump, args=(cid, name, src, dst, done),
                                 daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("listen_port", type=int)
    p.add_argument("target_port", type=int)
    p.add_argument("mode", choices=("pass", "corrupt", "replay"))
    p.add_argument("armfile")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--target-host", default="127.0.0.1")
    p.add_argument("--dir", choices=("s2c", "c2s"), default="s2c",
                   help="direction of the frames to tamper with")
    p.add_argument("--min-size", type=int, default=65536,
                   help="only frames with a larger body qualify")
    p.add_argument("-v", "--verbose", action="store_true", help="log every frame")
    args = p.parse_args()
    try:
        Proxy(args).serve()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
