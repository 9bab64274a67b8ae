#!/bin/bash
# Restart keeps signal state: handlers, blocked mask, pending signals with
# their siginfo (process-wide and thread-directed), sigaltstack, a 20 ms
# ITIMER_REAL that keeps firing, an ignored SIGPIPE.  A SIGHUP sent after
# the restart must stay pending (blocked).
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start sig rst_sig
rst_checkpoint "$RST_PID" "$RST_TMP/sig.img"
rst_restart "$RST_TMP/sig.img" restart
kill -HUP "$RST_PID"
sleep 0.1
rst_trigger sig
rst_expect_pass sig
