#!/usr/bin/env bash
# Rings: wraparound and multi-thread stress with exact accounting (received + dropped = sent).
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/stress" "$ROOT/tests/core/stress.c"

check_run() { # name env... : runs stress 2 x 200000 and compares counts
    local name=$1 threads=$2 n=$3; shift 3
    local d="$TMP/$name"
    sent=$(env TRACEAGENT_OUTPUT="$d" LD_PRELOAD="$AGENT" "$@" "$TBUILD/stress" "$threads" "$n")
    $PY - "$d" "$sent" "$name" <<PY
import sys; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck, glob
d, sent, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
(f,) = glob.glob(d + "/*.trace.json")
ev = tacheck.load_trace(f, require_closed=True)
got = sum(1 for e in ev if e.get("ph") == "X" and e["name"] == "r")
dropped = sum(e["args"]["count"] for e in ev if e.get("cat") == "agent" and e["name"] == "dropped")
st = tacheck.load_stats(f.replace(".trace.json", ".stats.json"))
sdrop = sum(st["dropped"].values())
row = tacheck.op(st, "marker", "r")
ok = got + dropped == sent and sdrop == dropped and row and row["count"] == got + 0
print(("ok" if ok else "not ok") + f" - {name}: sent {sent}, in trace {got}, dropped {dropped} (stats: {sdrop}, count {row and row['count']})")
PY
}
# 4 KiB rings (64 records): the ring wraps thousands of times; with the default policy
# (wait for the drainer) nothing is lost
check_run wrap_wait 2 200000 TRACEAGENT_BUFFER_KB=4
# drop policy: some are dropped, and every one is counted
check_run wrap_drop 2 200000 TRACEAGENT_BUFFER_KB=4 TRACEAGENT_ON_FULL=drop
# default buffers, 8 threads: nothing lost
check_run default_8x 8 250000
drops() { $PY -c "
import sys; sys.path.insert(0, '$ROOT/tests/lib'); import tacheck, glob
st = tacheck.load_stats(glob.glob('$1/*.stats.json')[0]); print(st['dropped'].get('ring_full', 0))"; }
check "drop policy really dropped ($(drops "$TMP/wrap_drop")), so the accounting was exercised" \
    test "$(drops "$TMP/wrap_drop")" -gt 0
check "wait policy with 64-record rings lost nothing" test "$(drops "$TMP/wrap_wait")" -eq 0
check "default buffers, 8 threads x 250000: nothing lost" test "$(drops "$TMP/default_8x")" -eq 0
finish
