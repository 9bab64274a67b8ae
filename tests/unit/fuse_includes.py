#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The daemon's layering rule: the graph of `#include "x.h"` between the
files of fuse/ has no cycle (docs/architecture.md).  A module is a .c with
its header (x.c owns x.h; x_priv.h is private to the x*.c files and counts
as x's).  Prints a cycle and exits 1 if there is one."""
import os
import re
import sys

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module(name):
    m = os.path.splitext(name)[0]
    return m[:-len("_priv")] if m.endswith("_priv") else m


def graph(top):
    g = {}
    for f in sorted(os.listdir(top)):
        if not f.endswith((".c", ".h")):
            continue
        with open(os.path.join(top, f), encoding="utf-8") as fh:
            text = fh.read()
        m = module(f)
        g.setdefault(m, set())
        for inc in INC.findall(text):
            if os.path.exists(os.path.join(top, inc)) and module(inc) != m:
                g[m].add(module(inc))
    return g


def find_cycle(g):
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {m: WHITE for m in g}
    stack = []

    def visit(m):
        colour[m] = GREY
        stack.append(m)
        for n in sorted(g.get(m, ())):
            if colour.get(n, BLACK) == GREY:
                return stack[stack.index(n):] + [n]
            if colour.get(n) == WHITE:
                c = visit(n)
                if c:
                    return c
        stack.pop()
        colour[m] = BLACK
        return None

    for m in sorted(g):
        if colour[m] == WHITE:
            c = visit(m)
            if c:
                return c
    return None


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "fuse")
    g = graph(top)
    cycle = find_cycle(g)
    if cycle:
        print("fuse/ include cycle: " + " -> ".join(cycle))
        return 1
    print("fuse/ include graph: %d modules, no cycle" % len(g))
    return 0


if __name__ == "__main__":
    sys.exit(main())
