#!/bin/bash
# Images written by the writer are accepted by the standard tools and by
# clondike's own inspect/verify:
#   - readelf -a prints no warning (the PN_XNUM image may only get binutils'
#     inherent "Unexpected value ... in info field" about section 0's sh_info);
#   - eu-readelf -n reports no error and lists the CLONDIKE notes;
#   - gdb loads the core: rip and the bytes at a stack address are the
#     synthetic process's (tests/unit/synth.c);
#   - clondike inspect, inspect --json and verify succeed, and verify fails
#     once a byte of a dumped page is changed.
# Env (set by tests/integration/CMakeLists.txt): CLD_BUILD, CLD_BIN.
set -euo pipefail

: "${CLD_BUILD:?CLD_BUILD must point at the build directory}"
: "${CLD_BIN:=$CLD_BUILD/cli/clondike}"
mkimage=$CLD_BUILD/tests/unit/cld_mkimage

for tool in readelf eu-readelf gdb python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed (binutils, elfutils, gdb, python3)" >&2
		exit 77
	fi
done
for f in "$mkimage" "$CLD_BIN"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f not built" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cld-imgtools.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# What synth_fill() puts at an address: one byte per address,
# (a >> 12) * 131 + (a & 0xfff) * 7 + (a >> 24), truncated to 8 bits.
synth_bytes() {
	local a=$1 n=$2 i b out=""
	for ((i = 0; i < n; i++)); do
		b=$(((((a + i) >> 12) * 131 + ((a + i) & 0xfff) * 7 + ((a + i) >> 24)) & 0xff))
		out+=$(printf ' 0x%02x' "$b")
	done
	echo "${out# }"
}

probe=0x7ffd00010f00 # SYNTH_RSP: inside the dumped part of [stack]
want_rip=0x401136    # SYNTH_RIP
want_bytes=$(synth_bytes $((probe)) 4)

check_image() {
	local name=$1 xnum=$2
	shift 2
	local img=$tmp/$name.core out

	echo "== $name ($*)"
	"$mkimage" "$@" "$img"

	# readelf: every header, segment and note, and not a single warning.
	readelf -a "$img" >"$tmp/readelf.out" 2>&1 || fail "$name: readelf -a exited non-zero"
	if [ "$xnum" = 1 ]; then
		# PN_XNUM: readelf wants sh_info of section 0 to be a section index
		# and complains about the program header count stored there.
		grep -q 'Number of program headers: *65535 (' "$tmp/readelf.out" ||
			fail "$name: not a PN_XNUM image"
		grep -i warning "$tmp/readelf.out" |
			grep -Ev 'Warning: \[ 0\]: Unexpected value \([0-9]+\) in info field\.$' \
				>"$tmp/warn" || true
	else
		grep -i warning "$tmp/readelf.out" >"$tmp/warn" || true
	fi
	if [ -s "$tmp/warn" ]; then
		cat "$tmp/warn" >&2
		fail "$name: readelf -a printed warnings"
	fi
	grep -q 'Type: *CORE (Core file)' "$tmp/readelf.out" || fail "$name: not ET_CORE for readelf"

	# eu-readelf: notes decode without error; the CLONDIKE notes are there.
	eu-readelf -n "$img" >"$tmp/eu.out" 2>"$tmp/eu.err" || {
		cat "$tmp/eu.err" >&2
		fail "$name: eu-readelf -n exited non-zero"
	}
	if [ -s "$tmp/eu.err" ] || grep -Eiq 'error|invalid|cannot' "$tmp/eu.out"; then
		cat "$tmp/eu.err" >&2
		grep -Ei 'error|invalid|cannot' "$tmp/eu.out" >&2 || true
		fail "$name: eu-readelf -n reported an error"
	fi
	if [ "$xnum" = 1 ]; then
		# eu-readelf -n walks PT_NOTE segments only in files without
		# section headers, and PN_XNUM needs one: it lists nothing here
		# (inherent, like readelf's sh_info warning).  binutils must.
		readelf -n "$img" >"$tmp/notes.out" 2>/dev/null
		[ "$(grep -c '^ *CLONDIKE ' "$tmp/notes.out")" -ge 10 ] ||
			fail "$name: readelf -n does not list the CLONDIKE notes"
	else
		[ "$(grep -c '^ *CLONDIKE ' "$tmp/eu.out")" -ge 10 ] ||
			fail "$name: eu-readelf -n does not list the CLONDIKE notes"
		grep -Eq '^ *CORE .*PRSTATUS' "$tmp/eu.out" ||
			fail "$name: no NT_PRSTATUS for eu-readelf"
	fi

	# gdb: registers of the first thread and memory from a PT_LOAD.
	gdb -nx -batch -c "$img" -ex 'info registers rip' -ex "x/4xb $probe" \
		>"$tmp/gdb.out" 2>&1 || {
		cat "$tmp/gdb.out" >&2
		fail "$name: gdb failed"
	}
	grep -Eq "^rip +$want_rip " "$tmp/gdb.out" || {
		cat "$tmp/gdb.out" >&2
		fail "$name: gdb does not show rip $want_rip"
	}
	out=$(sed -n "s/^$probe:[[:space:]]*//p" "$tmp/gdb.out" | tr -s '[:space:]' ' ' | sed 's/ $//')
	[ "$out" = "$want_bytes" ] || {
		cat "$tmp/gdb.out" >&2
		fail "$name: gdb reads '$out' at $probe, expected '$want_bytes'"
	}

	# clondike's own tools.
	"$CLD_BIN" inspect "$img" >"$tmp/inspect.out" || fail "$name: clondike inspect failed"
	grep -q 'synth' "$tmp/inspect.out" || fail "$name: inspect does not name the process"
	"$CLD_BIN" inspect --json "$img" >"$tmp/inspect.json" || fail "$name: inspect --json failed"
	python3 -m json.tool "$tmp/inspect.json" >/dev/null || fail "$name: inspect --json is not JSON"
	"$CLD_BIN" verify "$img" >"$tmp/verify.out" || fail "$name: verify failed on a good image"
}

check_image one 0
check_image three 0 --threads 3
[ "$(grep -c '^ *CORE .*PRSTATUS' "$tmp/eu.out")" -eq 3 ] ||
	fail "three: expected 3 NT_PRSTATUS notes"
check_image many 1 --many-segs

# A changed byte in a dumped page: verify must name a bad page.
rm -f "$tmp/many.core"
cp "$tmp/three.core" "$tmp/bad.core"
# First PT_LOAD with file data: its offset is a dumped page.
off=$(readelf -lW "$tmp/bad.core" 2>/dev/null |
	awk '$1 == "LOAD" && $5 !~ /^0x0+$/ { print $2; exit }')
[ -n "$off" ] || fail "no PT_LOAD with data in the image"
pos=$((off + 100))
old=$(od -An -tu1 -j "$pos" -N1 "$tmp/bad.core" | tr -d ' ')
printf "$(printf '\\%03o' $((old ^ 0xff)))" |
	dd of="$tmp/bad.core" bs=1 seek="$pos" conv=notrunc status=none
if "$CLD_BIN" verify "$tmp/bad.core" >"$tmp/verify.out" 2>&1; then
	cat "$tmp/verify.out" >&2
	fail "verify accepted an image with a changed page byte at offset $pos"
fi
grep -qi 'digest' "$tmp/verify.out" || {
	cat "$tmp/verify.out" >&2
	fail "verify failed without naming the digest mismatch"
}
echo "ok: readelf, eu-readelf, gdb, inspect, verify"
