#!/usr/bin/env bash
# clondike setup for a fresh Debian 12 machine (run as root from the tree):
#
#   contrib/setup.sh deps     install every package the build and tests need
#   contrib/setup.sh build    deps + configure and build into build/
#   contrib/setup.sh demo     build + run the main job (contrib/demo.sh)
#   contrib/setup.sh test     build + the whole test suite under CTest,
#                             then the ASan/UBSan build's tests and the fuzzer
#
# Idempotent: packages already present are not touched and nothing is
# printed for them.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

packages=(
	build-essential cmake pkg-config git
	libfuse3-dev fuse3 libuv1-dev libxxhash-dev libsodium-dev libssl-dev check
	clang libclang-rt-14-dev
	elfutils binutils gdb
	rsync tar attr cpio xz-utils procps psmisc iproute2 python3 util-linux
	golang-go nodejs
	qemu-system-x86 busybox-static kmod
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
)

deps() {
	local missing=() p
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages (run as root to install): ${missing[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
	deps
	cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$top/build" -j "$jobs"
}

build_asan() {
	cmake -S "$top" -B "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DCLD_SANITIZE=ON \
		>/dev/null
	cmake --build "$top/build-asan" -j "$jobs"
}

build_fuzz() {
	CC=clang cmake -S "$top" -B "$top/build-fuzz" -DCMAKE_BUILD_TYPE=Debug -DCLD_FUZZ=ON \
		>/dev/null
	cmake --build "$top/build-fuzz" -j "$jobs" --target fuzz_image_read fuzz_proto cld_mkimage
}

run_tests() {
	local rc=0
	build
	echo "== test suite (build/)"
	ctest --test-dir "$top/build" --output-on-failure -j 1 || rc=1
	echo "== ASan/UBSan build: unit and integration tests (build-asan/)"
	build_asan
	ctest --test-dir "$top/build-asan" --output-on-failure -L 'unit|integration' -j 1 || rc=1
	echo "== reader fuzzing (build-fuzz/)"
	build_fuzz
	ctest --test-dir "$top/build-fuzz" --output-on-failure -L fuzz || rc=1
	return $rc
}

case "${1:-build}" in
deps) deps ;;
build) build ;;
demo) build && exec bash "$top/contrib/demo.sh" "$top/build" ;;
test) run_tests ;;
*)
	echo "usage: contrib/setup.sh [deps|build|demo|test]" >&2
	exit 2
	;;
esac
