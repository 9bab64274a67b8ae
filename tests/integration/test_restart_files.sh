#!/bin/bash
# Restart keeps files: O_APPEND file, a file read at an offset, stdout to a
# file with unflushed stdio data, an in-process pipe with unread data,
# /dev/null with FD_CLOEXEC at fd 7, a dup at fd 42, cwd, umask, rlimits,
# comm.  The trigger read() was blocked on a FIFO when checkpointed.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

mkdir "$RST_TMP/dir"
rst_start files rst_files "$RST_TMP/dir"
rst_checkpoint "$RST_PID" "$RST_TMP/files.img"
rst_restart "$RST_TMP/files.img" restart
[ "$(cat /proc/$RST_PID/comm)" = rst-files-x ] || rst_fail "comm is $(cat /proc/$RST_PID/comm)"
rst_trigger files
rst_expect_pass files
printf 'before\nbuffered-ok\nafter\n' | cmp - "$RST_TMP/files.out" ||
	rst_fail "stdout file is: $(cat "$RST_TMP/files.out")"
