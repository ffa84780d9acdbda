#!/usr/bin/env bash
# Trace times agree with the program's CLOCK_MONOTONIC and with causality across CPUs and
# processes, with the clock the agent picks by itself and with each one forced.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/clocks" "$ROOT/tests/core/clocks.c"
for clk in default tsc monotonic; do
    d="$TMP/$clk"
    if [ $clk = default ]; then
        traced "$d" "$TBUILD/clocks" "$TMP/$clk.stamps"
    else
        TRACEAGENT_CLOCK=$clk traced "$d" "$TBUILD/clocks" "$TMP/$clk.stamps"
    fi
    check "$clk: the program runs under the agent" test $? = 0
    TA_LIB="$ROOT/tests/lib" $PY - "$d" "$TMP/$clk.stamps" "$clk" <<'PY'
import sys, glob, os
sys.path.insert(0, os.environ["TA_LIB"]); import tacheck
d, stamps, clk = sys.argv[1:]
def check(ok, what): print(("ok - " if ok else "not ok - ") + f"{clk}: " + what)
traces = sorted(glob.glob(d + "/clocks-*.trace.json"), key=os.path.getmtime)
check(len(traces) == 2, f"two traces, parent and child ({len(traces)})")
if len(traces) != 2:
    sys.exit(0)
evs = {f: tacheck.load_trace(f, require_closed=True) for f in traces}
parent = next(f for f in traces if tacheck.spans(evs[f], name="step"))
child = next(f for f in traces if f != parent)
st = tacheck.load_stats(parent.replace(".trace.json", ".stats.json"))
used = st["agent"]["clock"]
if clk != "default":
    check(used == clk, f"stats.json says the agent read the {clk} clock ({used})")
ev = evs[parent]
ns = lambda us: round(us * 1000)
steps = sorted(tacheck.spans(ev, name="step"), key=lambda e: e["ts"])
marks = [tuple(map(int, l.split()[1:])) for l in open(stamps)]
check(len(steps) == len(marks) == 300, f"300 steps traced ({len(steps)})")
# the trace's microseconds carry 3 decimals: 1 ns of rounding each way
worst = max(max(a - ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]) - c)
            for e, (a, c) in zip(steps, marks))
# TSC ticks are mapped onto CLOCK_MONOTONIC by calibration pairs read tens of ns apart: allow
# 100 ns (a slope wrong by 1e-6 would be 300 ns off by the last step)
tol = 1 if used == "monotonic" else 100
check(worst <= tol, f"[{used}] every step lies within the program's own CLOCK_MONOTONIC stamps "
      f"around it, to {tol} ns (worst excess {worst} ns over {(marks[-1][1] - marks[0][0]) / 1e6:.0f} ms)")
hops = sorted(tacheck.spans(ev, name="hop"), key=lambda e: e["ts"])
tids = {e["tid"] for e in hops}
back = [(x, y) for x, y in zip(hops, hops[1:])
        if ns(y["ts"]) < ns(x["ts"]) + ns(x["dur"]) or x["tid"] == y["tid"]]
check(len(hops) == 2000 and len(tids) == 2 and not back,
      f"[{used}] 2000 hops alternate between two threads on two CPUs, each after the one before "
      f"it ({len(back)} out of order)")
before = tacheck.spans(ev, name="before_fork")
kid = tacheck.spans(evs[child], name="child")
check(len(before) == 1 and len(kid) == 1 and
      ns(kid[0]["ts"]) >= ns(before[0]["ts"]) + ns(before[0]["dur"]),
      "the child's range starts after the parent's last range before fork()")
PY
done
finish
