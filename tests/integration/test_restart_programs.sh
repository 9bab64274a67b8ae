#!/bin/bash
# SPDX-License-Identifier: MIT
# Real programs, checkpointed mid-work, restarted and verified (issue 18).
# Each is started by the test and checks its own result:
#  - a python3 asyncio program: an event loop on epoll with its self-pipe
#    socketpair, a timer, a sleeping coroutine, a background thread that
#    feeds the loop, executor jobs (tests/progs/rst_asyncio.py);
# eager and lazy.
. "$(dirname "$0")/rst_lib.sh"
rst_setup
PY=$(command -v python3) || rst_skip "python3 is needed for the asyncio program"
PROGS_SRC=$(cd "$(dirname "$0")/../progs" && pwd)

# The python program is started through rst_start's protocol by a tiny
# wrapper in CLD_PROGS' place.
mkdir -p "$RST_TMP/py"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$PY" "$PROGS_SRC/rst_asyncio.py" >"$RST_TMP/py/asyncio"
chmod +x "$RST_TMP/py/asyncio"
for how in eager lazy; do
	args=
	[ $how = lazy ] && args=--lazy
	CLD_PROGS=$RST_TMP/py rst_start "asyncio-$how" asyncio
	rst_checkpoint "$RST_PID" "$RST_TMP/asyncio-$how.img"
	CLD_RESTART_ARGS=$args rst_restart "$RST_TMP/asyncio-$how.img" "asyncio-$how"
	rst_trigger "asyncio-$how"
	rst_expect_pass "asyncio-$how"
done
exit 0
