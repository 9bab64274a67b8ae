#!/bin/bash
# SPDX-License-Identifier: MIT
# Real programs, checkpointed mid-work, restarted and verified (issue 18).
# Each is started by the test and checks its own result:
#  - a python3 asyncio program: an event loop on epoll with its self-pipe
#    socketpair, a timer, a sleeping coroutine, a background thread that
#    feeds the loop, executor jobs (tests/progs/rst_asyncio.py);
#  - a Node.js program: libuv's loop (epoll, eventfds, pipes) with a
#    setInterval state machine, setTimeout chains and pbkdf2 jobs on the
#    libuv worker pool (tests/progs/rst_node.js);
#  - a Go program: goroutines feeding each other through channels, a
#    time.Ticker and a time.AfterFunc chain, the trigger read through the
#    netpoller (tests/progs/go/rst_go.go, built here with Debian's go);
# eager and lazy.
. "$(dirname "$0")/rst_lib.sh"
rst_setup
PY=$(command -v python3) || rst_skip "python3 is needed for the asyncio program"
NODE=$(command -v node || command -v nodejs) || rst_skip "node (nodejs) is needed"
GO=$(command -v go) || rst_skip "go (golang-go) is needed for the Go program"
PROGS_SRC=$(cd "$(dirname "$0")/../progs" && pwd)

# Each program is started through rst_start's protocol by a tiny wrapper
# in CLD_PROGS' place.
mkdir -p "$RST_TMP/w"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$PY" "$PROGS_SRC/rst_asyncio.py" >"$RST_TMP/w/asyncio"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$NODE" "$PROGS_SRC/rst_node.js" >"$RST_TMP/w/node"
chmod +x "$RST_TMP/w/asyncio" "$RST_TMP/w/node"
mkdir -p "$CLD_BUILD/gocache"
(cd "$PROGS_SRC/go" && GOCACHE=$CLD_BUILD/gocache GO111MODULE=off GOFLAGS= \
	"$GO" build -o "$RST_TMP/w/go" rst_go.go) >"$RST_TMP/go-build.log" 2>&1 ||
	rst_fail "go build of rst_go.go: $(cat "$RST_TMP/go-build.log")"
for prog in asyncio node go; do
	for how in eager lazy; do
		args=
		[ $how = lazy ] && args=--lazy
		CLD_PROGS=$RST_TMP/w rst_start "$prog-$how" "$prog"
		rst_checkpoint "$RST_PID" "$RST_TMP/$prog-$how.img"
		CLD_RESTART_ARGS=$args rst_restart "$RST_TMP/$prog-$how.img" "$prog-$how"
		rst_trigger "$prog-$how"
		rst_expect_pass "$prog-$how"
	done
done
exit 0
