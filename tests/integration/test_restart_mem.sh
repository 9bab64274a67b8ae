#!/bin/bash
# Restart keeps memory: 256 MiB of pseudo-random data and its checksum,
# a brk heap, large sparse mmaps (unpopulated pages stay unpopulated),
# PROT_NONE guard pages, a private file mapping with written pages; and
# /proc/PID/maps of the restarted process equals the original's.
. "$(dirname "$0")/rst_lib.sh"
rst_setup

rst_start mem rst_mem "${RST_MEM_MB:-256}"
cp /proc/$RST_PID/maps "$RST_TMP/maps.orig"
rst_checkpoint "$RST_PID" "$RST_TMP/mem.img"
rst_restart "$RST_TMP/mem.img" restart
cp /proc/$RST_PID/maps "$RST_TMP/maps.new"
rst_maps_equal "$RST_TMP/maps.orig" "$RST_TMP/maps.new"
tr '\0' ' ' </proc/$RST_PID/cmdline | grep -q "rst_mem $RST_TMP/mem.res" ||
	rst_fail "/proc/PID/cmdline is '$(tr '\0' ' ' </proc/$RST_PID/cmdline)'"
rst_trigger mem
rst_expect_pass mem
