#!/bin/bash
# SPDX-License-Identifier: MIT
# An image of a process with a large untouched mapping is sparse: st_blocks
# says so, SEEK_DATA/SEEK_HOLE find the holes, and cp, tar --sparse and
# rsync -S keep the copies small (and equal).
. "$(dirname "$0")/fuse_lib.sh"

command -v tar >/dev/null || skip "tar is missing"
command -v rsync >/dev/null || skip "rsync is missing"
start_daemon

# 512 MiB mapped, one page touched in every 1.5 MiB: gaps of 383 pages stay holes
# inside data segments (longer ones would become segments without data).
spawn "$T/big.out" python3 -c '
import mmap, sys, time
m = mmap.mmap(-1, 512 << 20)
for off in range(0, 512 << 20, 3 << 19):
    m[off] = 1
print("ready", flush=True)
time.sleep(3600)'
P=$SPAWNED
wait_for "$T/big.out" ready

exec 3<"$DIR/$P" # freeze: exact size and blocks for tar and rsync, which stat first
size=$(stat -c %s "$DIR/$P")
alloc=$(( $(stat -c %b "$DIR/$P") * 512 ))
[ "$size" -gt $((500 << 20)) ] || fail "logical size $size is not > 500 MiB"
[ "$alloc" -lt $((64 << 20)) ] || fail "st_blocks says $alloc bytes of data"
ok "image: $size bytes logical, $alloc bytes of data"

python3 - "$DIR/$P" <<'PY' || fail "SEEK_DATA/SEEK_HOLE"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
off, data, holes = 0, 0, 0
while off < end:
    d = os.lseek(fd, off, os.SEEK_DATA)
    h = os.lseek(fd, d, os.SEEK_HOLE)
    if d > off:
        holes += 1
    data += h - d
    off = h
    if off >= end:
        break
print(f"SEEK_DATA/SEEK_HOLE: {data} bytes of data, {holes} holes")
assert holes >= 10 and data < (64 << 20)
PY

cp "$DIR/$P" "$T/cp.img" || fail "cp"
du_cp=$(( $(stat -c %b "$T/cp.img") * 512 ))
[ "$du_cp" -lt $((64 << 20)) ] || fail "cp copy uses $du_cp bytes"
ok "cp: $du_cp bytes on disk"

tar --sparse -cf "$T/img.tar" -C "$DIR" "$P" || fail "tar --sparse"
tsize=$(stat -c %s "$T/img.tar")
[ "$tsize" -lt $((64 << 20)) ] || fail "tar --sparse archive is $tsize bytes"
mkdir "$T/x"
tar -xf "$T/img.tar" -C "$T/x" || fail "tar -x"
cmp "$T/x/$P" "$T/cp.img" || fail "tar round trip differs from cp"
ok "tar --sparse: archive $tsize bytes, round trip equal"

rsync -S "$DIR/$P" "$T/rsync.img" || fail "rsync -S"
du_rs=$(( $(stat -c %b "$T/rsync.img") * 512 ))
[ "$du_rs" -lt $((64 << 20)) ] || fail "rsync -S copy uses $du_rs bytes"
cmp "$T/rsync.img" "$T/cp.img" || fail "rsync copy differs from cp"
ok "rsync -S: $du_rs bytes on disk, equal"
exec 3<&-
"$CLD_BIN" verify "$T/cp.img" >/dev/null || fail "verify"
exit 0
