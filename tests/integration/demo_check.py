#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# demo_check.py FILE: every line's hash follows from the previous one (the
# FNV-1a step of demo_counter), and counts are consecutive.
import sys
prev = None
for line in open(sys.argv[1]):
    w = line.split()
    if len(w) < 4 or w[0] != "count":
        continue
    n, h = int(w[1]), int(w[3], 16)
    if prev is not None:
        pn, ph = prev
        if n != pn + 1:
            sys.exit(f"count jumps from {pn} to {n}")
        if ((ph ^ n) * 1099511628211) % (1 << 64) != h:
            sys.exit(f"hash at count {n} does not follow")
    prev = (n, h)
if prev is None:
    sys.exit("no output")
print(f"self-check ok up to count {prev[0]}")
