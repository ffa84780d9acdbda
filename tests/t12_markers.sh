#!/usr/bin/env bash
# Markers nest correctly across 8 threads: per-tid strict nesting in the trace, exact counts,
# the call tree in stats.json, counters and instants.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/nest" "$ROOT/tests/core/nest.c"
traced "$TMP/o" "$TBUILD/nest"
$PY - "$TMP/o" <<PY
import sys, glob, collections; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
(f,) = glob.glob(sys.argv[1] + "/*.trace.json")
def check(ok, what): print(("ok - " if ok else "not ok - ") + what)
ev = tacheck.load_trace(f, require_closed=True)
X = [e for e in ev if e.get("ph") == "X"]
bad = tacheck.check_nesting(ev)
check(not bad, f"spans nest strictly on every tid ({len(bad)} problems {bad[:2]})")
by_tid = collections.defaultdict(collections.Counter)
for e in X:
    by_tid[e["tid"]][e["name"].split("-")[0]] += 1
check(len(by_tid) == 8, f"8 tracks with spans ({len(by_tid)})")
check(all(c == {"outer": 100, "mid": 300, "leaf": 600} for c in by_tid.values()),
      "each thread: 100 outer, 300 mid, 600 leaf")
# every leaf lies inside a mid, every mid inside its thread's outer
# in integer ns, as tacheck.check_nesting: ts + dur in float us is off by up to ~5e-7 us once
# the host has been up an hour (ts ~ 4e9 us), which a 1e-9 slack took for an overlap
def ns(e): return round(e["ts"] * 1000), round(e["ts"] * 1000) + round(e["dur"] * 1000)
def inside(a, b): return ns(b)[0] <= ns(a)[0] and ns(a)[1] <= ns(b)[1]
for tid in by_tid:
    mids = [e for e in X if e["tid"] == tid and e["name"] == "mid"]
    outers = [e for e in X if e["tid"] == tid and e["name"].startswith("outer")]
    leaves = [e for e in X if e["tid"] == tid and e["name"] == "leaf"]
    ok = all(any(inside(l, m) for m in mids) for l in leaves[:50]) and \
         all(any(inside(m, o) for o in outers) for m in mids[:50])
    if not ok: break
check(ok, "leaves inside mids inside outers (time containment)")
names = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "thread_name"}
check(all(t in names for t in by_tid), "every track is named by a thread_name metadata event")
C = [e for e in ev if e.get("ph") == "C"]
check(len(C) == 800 and max(e["args"]["value"] for e in C) == 99, "800 counter samples, last value 99")
I = [e for e in ev if e.get("ph") == "i" and e["name"] == "worker done"]
check(len(I) == 8, "8 instants")
st = tacheck.load_stats(f.replace(".trace.json", ".stats.json"))
tree = {n["name"]: n for n in st["tree"]}
ok = True
for i in range(8):
    o = tree.get(f"outer-{i}")
    ok = ok and o and o["count"] == 100
    mid = o and [c for c in o["children"] if c["name"] == "mid"]
    ok = ok and mid and mid[0]["count"] == 300
    leaf = mid and [c for c in mid[0]["children"] if c["name"] == "leaf"]
    ok = ok and leaf and leaf[0]["count"] == 600
    ok = ok and abs(o["self_ns"] - (o["total_ns"] - mid[0]["total_ns"])) <= 1
check(ok, "stats tree: outer-i(100) > mid(300) > leaf(600), self = total - children")
check(tacheck.op(st, "marker", "leaf")["count"] == 4800, "ops: 4800 leaf")
PY
finish
