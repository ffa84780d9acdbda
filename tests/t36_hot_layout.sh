#!/usr/bin/env bash
# The code layout the overhead figures rest on (bench/NOTES.md, row 27): the wrappers of a
# file's open, read and close (fopen, fopen64, fread, fclose and the body fopen and fopen64
# share) lie on one 4 KiB page of libtraceagent.so, so that after each of the trio's system
# calls one page of the agent's code is missed, not three. It holds only while agent/stdio.c
# defines them together after the TA_PAGE-aligned body, in that order; moving one of them
# away, or the body growing past the page, costs ~40 ns per trio (and fails here).
source "$(dirname "$0")/lib/common.sh"
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): the instrumented build's code layout is not the one shipped; the plain suite checks it"

command -v nm >/dev/null || skip "nm (binutils) is not installed"
syms=$(nm -S --defined-only "$AGENT" | awk '$3 ~ /^[tT]$/ && $4 ~ /^(fopen|fopen64|fread|fclose|fopen_as)$/')
echo "$syms" | sed 's/^/# /'
check "the four wrappers and their shared body are in the library's symbol table" \
    test "$(echo "$syms" | awk '{print $4}' | sort | tr '\n' ' ')" = "fclose fopen fopen64 fopen_as fread "
# the first and the last byte of the five, as page numbers
lo= hi=
while read -r addr size _ _; do
    s=$((0x$addr)) e=$((0x$addr + 0x$size - 1))
    if [ -z "$lo" ] || [ $s -lt $lo ]; then lo=$s; fi
    if [ -z "$hi" ] || [ $e -gt $hi ]; then hi=$e; fi
done <<<"$syms"
first=$(printf %x $((lo / 4096))) last=$(printf %x $((hi / 4096)))
check "they lie on one 4 KiB page (pages 0x$first..0x$last)" test "$first" = "$last"
body=$(echo "$syms" | awk '$4 == "fopen_as" { print $1 }')
check "the shared body starts the page (at 0x$body)" test "$(( 0x${body:-1} % 4096 ))" = 0
finish
