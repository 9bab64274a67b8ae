#!/bin/bash
# restart -> checkpoint -> restart -> checkpoint -> restart: a chain of
# three restarts of one process (memory, files, signals state), with
# /proc/PID/maps equal to the original's at every step.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start chain rst_mem 32
cp /proc/$RST_PID/maps "$RST_TMP/maps.orig"
rst_checkpoint "$RST_PID" "$RST_TMP/chain.1.img"
for n in 1 2 3; do
	rst_restart "$RST_TMP/chain.$n.img" "restart.$n"
	cp /proc/$RST_PID/maps "$RST_TMP/maps.$n"
	rst_maps_equal "$RST_TMP/maps.orig" "$RST_TMP/maps.$n"
	if [ $n -lt 3 ]; then
		rst_checkpoint "$RST_PID" "$RST_TMP/chain.$((n + 1)).img"
		wait "$RST_RPID" 2>/dev/null || true
	fi
done
rst_trigger chain
rst_expect_pass chain
