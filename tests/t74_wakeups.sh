#!/usr/bin/env bash
# An idle process's drainer wakes at most every 50 ms, and nothing else wakes it: not the
# TSC clock, whose pairs are read when stamps need them (agent/clock.c). Each wake-up of a
# thread costs the program's running thread time on a VM (bench/NOTES.md, rows 54 and 58);
# the clock's breakpoints at 1, 2, 4 .. 256 ms cost a 500 ms idle process ~16 of them.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/wakeups" "$ROOT/tests/core/wakeups.c"
for clk in tsc monotonic; do
    out=$(TRACEAGENT_CLOCK=$clk traced "$TMP/$clk" "$TBUILD/wakeups" 500)
    check "$clk: the program runs under the agent" test $? = 0
    n=$(sed -n 's/^wakeups //p' <<<"$out")
    # 50 ms sleeps: ~11 begun by 500 ms (the clock's breakpoints made it 16)
    check "$clk: the drainer slept at most 13 times in 500 ms of nothing recorded (${n:-none})" \
        test "${n:--1}" -ge 1 -a "${n:--1}" -le 13
done
finish
