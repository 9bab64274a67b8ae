#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare two clondike images byte for byte, ignoring the fields the
format calls volatile: created_ns, backend and producer of the
CLONDIKE/HEADER note.  Used by test_fuse_*.sh.  Exit 0 if equal, 1 if
not (the differing offsets and the note they fall in are printed)."""
import struct
import sys

PT_NOTE = 4
NT_HEADER = 0x101
# Offsets in struct cld_hdr (common/include/clondike/format.h).
VOLATILE = [(40, 8, "created_ns"), (56, 16, "backend"), (72, 32, "producer")]


def notes(data):
    """Yield (name, type, desc_off, desc_len) for every note."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, p_off, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type != PT_NOTE:
            continue
        off, end = p_off, p_off + p_filesz
        while off + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, off)
            name = data[off + 12:off + 12 + namesz].rstrip(b"\0").decode(errors="replace")
            desc = off + 12 + ((namesz + 3) & ~3)
            yield name, ntype, desc, descsz
            off = desc + ((descsz + 3) & ~3)


def masked(path):
    data = bytearray(open(path, "rb").read())
    if data[:4] != b"\x7fELF":
        sys.exit(f"{path}: not an ELF file")
    found = False
    for name, ntype, desc, _ in notes(data):
        if name == "CLONDIKE" and (ntype & 0x7fff) == NT_HEADER:
            for off, ln, _ in VOLATILE:
                data[desc + off:desc + off + ln] = bytes(ln)
            found = True
    if not found:
        sys.exit(f"{path}: no CLONDIKE/HEADER note")
    return data


def where(path, off):
    data = open(path, "rb").read()
    for name, ntype, desc, ln in notes(data):
        if desc <= off < desc + ln:
            return f"note {name}/{ntype:#x} +{off - desc}"
    return "outside notes"


def main():
    a, b = masked(sys.argv[1]), masked(sys.argv[2])
    if a == b:
        print(f"equal ({len(a)} bytes, volatile header fields masked)")
        return 0
    if len(a) != len(b):
        print(f"sizes differ: {len(a)} vs {len(b)}")
    diffs = [i for i in range(min(len(a), len(b))) if a[i] != b[i]]
    for i in diffs[:10]:
        print(f"offset {i}: {a[i]:#04x} vs {b[i]:#04x} ({where(sys.argv[1], i)})")
    print(f"{len(diffs)} bytes differ")
    return 1


if __name__ == "__main__":
    sys.exit(main())
