#!/usr/bin/env bash
# stats.json: the stats exporter alone on synthetic events (percentiles against exact
# values, tree reconstruction from depths, odd sequences, files, counters, drops, fork),
# then under the agent: stats.json against the trace.json of the same run.
source "$(dirname "$0")/lib/common.sh"

# ---------------------------------------------------------------------------------------
# 1. Unit level: exporters/stats.c with stubs for the core (tests/stats/unit.c)
UNIT="$TBUILD/stats_unit"
if gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter \
        -I"$ROOT/include" -I"$ROOT/agent" -I"$ROOT/exporters" -o "$UNIT" "$ROOT/tests/stats/unit.c" \
        "$ROOT/exporters/stats.c" "$ROOT/exporters/stats_gpu.c" "$ROOT/exporters/jsonw.c" "$ROOT/agent/fields.c" -lm; then
    ok "unit: stats.c builds alone with stubs"
else
    fail "unit: stats.c builds alone with stubs"
fi

# Synthetic events: written by Python, which also knows the exact answers.
$PY - "$TMP/unit.events" "$TMP/unit.expect" <<'EOF'
import json, random, sys
rnd = random.Random(42)
ev = []
exp = {}
T = "\t"
def span(cat, op, depth, dur, name=None):
    ev.append(T.join(["s", cat, op, str(depth), str(dur)] + ([name] if name else [])))

# a wide distribution for one op: lognormal over 6 decades, plus exact small values,
# a heavy tail and duplicates
ds = [int(rnd.lognormvariate(9, 2.0)) for _ in range(50000)]
ds += [rnd.randrange(0, 128) for _ in range(3000)]
ds += [10**10 + rnd.randrange(10**9) for _ in range(500)]
ds += [777777] * 2000
rnd.shuffle(ds)
ev.append("t\t1")
for d in ds:
    span("posix", "lseek", 0, d)
exp["lseek"] = ds
# small sets: 1, 2, 3 samples
for k, name in ((1, "one"), (2, "two"), (3, "three")):
    vals = [rnd.randrange(1, 10**7) for _ in range(k)]
    for v in vals:
        span("marker", "range", 0, v, name)
    exp[name] = vals

# tree on thread 2: A{ B{ C C } B{ C } D } x 2, interleaved with thread 3: X{ Y }
def tree_a(tid):
    ev.append(f"t\t{tid}")
    span("marker", "range", 2, 5, "C"); span("marker", "range", 2, 6, "C")
    span("marker", "range", 1, 20, "B")
    span("marker", "range", 2, 7, "C")
    span("marker", "range", 1, 30, "B")
    span("marker", "range", 1, 40, "D")
for _ in range(2):
    tree_a(2)
    ev.append("t\t3"); span("marker", "range", 1, 3, "Y")
    ev.append("t\t2"); span("marker", "range", 0, 100, "A")
    ev.append("t\t3"); span("marker", "range", 0, 10, "X")
# many siblings under one parent (more than the index threshold), twice
for _ in range(2):
    ev.append("t\t4")
    for i in range(50):
        span("marker", "range", 1, i + 1, f"kid{i:02d}")
    span("marker", "range", 0, 5000, "wide")
# orphans: a grandchild whose parent (depth 1) was dropped, then the root arrives
ev.append("t\t5")
span("marker", "range", 2, 11, "orphan")
span("marker", "range", 0, 50, "adopter")
# leftovers: children whose parent never arrives (the thread ends inside a range)
ev.append("t\t6")
span("marker", "range", 1, 13, "lost_child")
span("marker", "range", 3, 14, "lost_deep")
# files
ev.append("t\t7")
F = "f\tposix\t{op}\t{io}\t0\t{dur}\t{path}\t{b}"
ev.append(F.format(op="open", io="o", dur=100, path="/d/a", b=-1))
for sz in (0, 1, 4096, 4096, 5000, 1 << 20):
    ev.append(F.format(op="read", io="r", dur=10, path="/d/a", b=sz))
ev.append(F.format(op="read", io="r", dur=10, path="/d/a", b=-1) + "\tERR")
for sz in (3, 3, 100):
    ev.append(F.format(op="write", io="w", dur=20, path="/d/b", b=sz))
ev.append(F.format(op="fsync", io="y", dur=1000, path="/d/b", b=-1))
ev.append(F.format(op="close", io="c", dur=5, path="/d/a", b=-1))
# instants, counters, drops, a thread name, a name needing escapes
ev += ["i\thello", "i\thello", "c\tq\t1.5", "c\tq\t-2.25", "c\tq\t1e-09",
       "d\tring_full\t5", "d\tring_full\t9", "n\t7\tworker-7"]
span("marker", "range", 0, 1, 'quote" back\\ tab\x01')
open(sys.argv[1], "w").write("\n".join(ev) + "\n")
json.dump(exp, open(sys.argv[2], "w"))
EOF
"$UNIT" "$TMP/unit.json" < "$TMP/unit.events" 2>"$TMP/unit.err"
check "unit: the exporter runs on synthetic events" test -s "$TMP/unit.json"

$PY - "$TMP/unit.json" "$TMP/unit.expect" <<'EOF'
import json, math, sys, datetime
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
s = json.load(open(sys.argv[1]))
exp = json.load(open(sys.argv[2]))
def ok(c, d): print(("ok - " if c else "not ok - ") + "unit: " + d)
def nearest_rank(v, p):
    v = sorted(v); return v[max(1, math.ceil(p / 100 * len(v))) - 1]
ops = {o["name"]: o for o in s["ops"]}
ok(s["schema"] == "traceagent-stats/1", "schema")
for name, vals in exp.items():
    r = ops[name]
    n = len(vals); mean = sum(vals) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in vals) / n)
    ok(r["count"] == n and r["total_ns"] == sum(vals), f"{name}: count and total exact")
    ok(r["min_ns"] == min(vals) and r["max_ns"] == max(vals), f"{name}: min and max exact")
    ok(abs(r["mean_ns"] - mean) <= 0.001 + 1e-9 * mean, f"{name}: mean exact")
    ok(abs(r["stddev_ns"] - sd) <= 0.001 + 1e-6 * sd, f"{name}: stddev {r['stddev_ns']} vs {sd:.3f}")
    bad = []
    for key, p in (("median_ns", 50), ("p95_ns", 95), ("p99_ns", 99)):
        e = nearest_rank(vals, p)
        if abs(r[key] - e) > 0.01 * e:
            bad.append((key, r[key], e))
    ok(not bad, f"{name}: percentiles within 1% of exact nearest-rank {bad}")
# the tree
top = {n["name"]: n for n in s["tree"]}
def kids(n): return {c["name"]: c for c in n["children"]}
A = top.get("A")
ok(A and A["count"] == 2 and A["total_ns"] == 200, "tree: A aggregated over 2 calls")
ka = kids(A) if A else {}
ok(set(ka) == {"B", "D"}, f"tree: A's children are B and D ({sorted(ka)})")
B = ka.get("B", {})
ok(B.get("count") == 4 and B.get("total_ns") == 100, "tree: B count 4 total 100")
C = kids(B).get("C", {}) if B else {}
ok(C.get("count") == 6 and C.get("total_ns") == 36 and C.get("children") == [], "tree: C under B, count 6")
ok(B.get("self_ns") == 100 - 36 and A["self_ns"] == 200 - 100 - 80, "tree: self_ns = total - children")
ok(A["children"][0]["name"] == "B" or ka["D"]["total_ns"] > ka["B"]["total_ns"],
   "tree: children sorted by total_ns descending")
X = top.get("X", {})
ok(X.get("count") == 2 and [c["name"] for c in X.get("children", [])] == ["Y"]
   and X["children"][0]["count"] == 2, "tree: an interleaved thread keeps its own nesting")
W = top.get("wide", {})
kw = kids(W) if W else {}
ok(len(kw) == 50 and all(kw[f"kid{i:02d}"]["count"] == 2 and kw[f"kid{i:02d}"]["total_ns"] == 2 * (i + 1)
                         for i in range(50)), "tree: 50 siblings aggregated by name")
ok([c["total_ns"] for c in W["children"]] == sorted((c["total_ns"] for c in W["children"]), reverse=True),
   "tree: sibling order by total")
ad = top.get("adopter", {})
ok([c["name"] for c in ad.get("children", [])] == ["orphan"], "tree: an orphan is adopted by the next ancestor")
ok("lost_child" in top and "lost_deep" in top, "tree: leftovers without a parent end at the top")
ok(all("lseek" != n["name"] or n["count"] == len(exp["lseek"]) for n in s["tree"]), "tree: depth-0 spans at the top")
ok("hello" not in top and "q" not in top, "tree: no instants or counters in the tree")
# instants and counters
ok(ops["hello"]["kind"] == "instant" and ops["hello"]["count"] == 2 and "total_ns" not in ops["hello"],
   "instants: counted, no durations")
q = [c for c in s["counters"] if c["name"] == "q"]
ok(q and q[0]["count"] == 3 and q[0]["min"] == -2.25 and q[0]["max"] == 1.5 and abs(q[0]["last"] - 1e-9) < 1e-20,
   "counters: count, min, max, last")
ok(s["dropped"] == {"ring_full": 9}, f"dropped: last running total by cause ({s['dropped']})")
# files
f = {r["path"]: r for r in s["files"]}
a, b = f.get("/d/a", {}), f.get("/d/b", {})
ok(a.get("opens") == 1 and a.get("closes") == 1 and a.get("reads") == 7 and a.get("errors") == 1,
   "files: opens, closes, reads, errors")
ok(a.get("bytes_read") == 1 + 4096 * 2 + 5000 + (1 << 20) and a.get("read_ns") == 70, "files: bytes and time read")
ok(a.get("read_sizes") == [[0, 1], [1, 1], [4096, 3], [1048576, 1]], f"files: read size histogram {a.get('read_sizes')}")
ok(b.get("writes") == 3 and b.get("bytes_written") == 106 and b.get("write_ns") == 60 and b.get("syncs") == 1
   and b.get("other_ns") == 1000 and b.get("write_sizes") == [[2, 2], [64, 1]], "files: writes, syncs, sizes")
ok(s["files"][0]["path"] == "/d/b", "files: sorted by time")
ok(ops["read"]["bytes"] == a["bytes_read"] and ops["read"]["errors"] == 1 and "bytes" not in ops["one"],
   "ops: bytes where the op moves data")
# process and threads
p = s["process"]
ok(p["exe"] == "stats_unit" and p["argv"] == ["stats_unit", 'arg "quoted"'] and p["host"] == "unit-host",
   "process: exe, argv (escaped), host")
ok(p["start"] == "2023-11-14T22:13:20.123456Z" and p["start_ns"] == 1700000000123456789
   and p["clock"]["realtime_ns"] == p["start_ns"] and p["clock"]["monotonic_ns"] > 0 and p["duration_ns"] > 0,
   "process: start time, ISO-8601, clock anchor, duration")
th = {t["tid"]: t for t in s["threads"]}
ok(th.get(7, {}).get("name") == "worker-7" and sum(t["events"] for t in s["threads"]) == s["events"],
   "threads: names and event counts")
ok(any(o["name"] == 'quote" back\\ tab\x01' for o in s["ops"]), "names with quotes and control characters survive")
EOF

# after_fork drops everything the parent had
printf 's\tmarker\trange\t0\t10\tparent\nfork\ns\tmarker\trange\t0\t20\tchild\n' | \
    "$UNIT" "$TMP/fork.json"
$PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
names = [o["name"] for o in s["ops"]] + [n["name"] for n in s["tree"]]
print(("ok" if names == ["child", "child"] and s["events"] == 1 else "not ok") +
      " - unit: after_fork forgets the parent state", names)' "$TMP/fork.json"

# the files rows' order: most time first, equal times by path. 3,000 files in no order,
# times that repeat (runs of equal times), 0 (a stat of 0 ns), and up to 2^62 ns (every
# pass of the sort's radix), each in one or two of read_ns/other_ns; then 500 files of one
# time (every pass finds one digit for all: the order is the path's alone).
$PY - "$TMP/order.events" <<'EOF'
import random, sys
rnd = random.Random(7)
F = "f\tposix\t{op}\t{io}\t0\t{dur}\t{path}\t{b}"
ev = ["t\t1"]
paths = [f"/o/{rnd.randrange(10**6):06d}-{i}" for i in range(3000)]
rnd.shuffle(paths)
for i, p in enumerate(paths):
    kind = i % 5
    t = (0 if kind == 0 else rnd.randrange(40) if kind == 1 else rnd.randrange(1 << 20)
         if kind == 2 else (1 << 33) + rnd.randrange(3) if kind == 3 else rnd.randrange(1 << 62))
    if t and i % 2:
        ev.append(F.format(op="read", io="r", dur=t // 2, path=p, b=1))
        ev.append(F.format(op="open", io="o", dur=t - t // 2, path=p, b=-1))
    elif t:
        ev.append(F.format(op="read", io="r", dur=t, path=p, b=1))
    else:
        ev.append(F.format(op="stat", io="m", dur=0, path=p, b=-1))
open(sys.argv[1], "w").write("\n".join(ev) + "\n")
same = ["t\t1"] + [F.format(op="read", io="r", dur=12345, path=f"/s/{(i * 7919) % 500:04d}", b=1)
                   for i in range(500)]
open(sys.argv[1] + ".same", "w").write("\n".join(same) + "\n")
EOF
"$UNIT" "$TMP/order.json" < "$TMP/order.events" 2>"$TMP/order.err"
"$UNIT" "$TMP/order-same.json" < "$TMP/order.events.same" 2>>"$TMP/order.err"
$PY - "$TMP/order.json" "$TMP/order-same.json" <<'EOF'
import json, sys
for f, n, what in ((sys.argv[1], 3000, "by time, most first, equal times by path"),
                   (sys.argv[2], 500, "of one time: by path")):
    rows = json.load(open(f))["files"]
    key = [(-(r["read_ns"] + r["write_ns"] + r["other_ns"]), r["path"]) for r in rows]
    ties = len(key) - len(set(k[0] for k in key))
    zero = sum(1 for k in key if k[0] == 0)
    ok = len(rows) == n and key == sorted(key) and ties > n // 3 and (n != 3000 or zero > 100)
    print(("ok" if ok else "not ok") + f" - unit: files rows {what}", len(rows), "rows,", ties,
          "in ties,", zero, "of time 0", [k for a, k in zip(key, key[1:]) if k < a][:3])
EOF

# empty: valid file with every section
printf '' | "$UNIT" "$TMP/empty.json"
$PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
keys = ["schema", "complete", "process", "events", "threads", "ops", "counters", "files", "tree", "dropped", "agent"]
print(("ok" if list(s) == keys and s["dropped"] == {} and s["ops"] == [] else "not ok") +
      " - unit: an empty run still writes every section", list(s))' "$TMP/empty.json"

# per-event cost (the drainer needs >= 5 M events/s in all; stats alone should be far less)
cost=$("$UNIT" bench 5000000 "$TMP/bench.json" | sed -n 's/ ns\/event//p')
if $PY -c "import sys; sys.exit(0 if float('$cost') < 150 else 1)" 2>/dev/null; then
    ok "unit: per-event cost ${cost} ns (< 150)"
else
    fail "unit: per-event cost ${cost} ns (< 150)"
fi

# ---------------------------------------------------------------------------------------
# 2. Under the agent: stats.json against the trace.json of the same run
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }
ta_cc "$TBUILD/stats_nested" "$ROOT/tests/stats/nested.c" || fail "build nested.c"

OUT="$TMP/real"
traced "$OUT" "$TBUILD/stats_nested" 1000 "$TMP/data.bin" 0
has_stats() { compgen -G "$1/*.stats.json" >/dev/null; }
check "agent: the program ran and wrote stats" has_stats "$OUT"

$PY - "$OUT" "$ROOT" "$TMP/data.bin" <<'EOF'
import sys, json, math, os, socket, datetime
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
def ok(c, d): print(("ok - " if c else "not ok - ") + "agent: " + d)
procs = tacheck.files(sys.argv[1])
(pid, [pf]), = procs.items()
s = tacheck.load_stats(pf["stats"])
evs = tacheck.load_trace(pf["trace"], require_closed=True)
def nearest_rank(v, p):
    v = sorted(v); return v[max(1, math.ceil(p / 100 * len(v))) - 1]
for name, n in (("outer", 1000), ("inner", 3000)):
    durs = [round(e["dur"] * 1000) for e in tacheck.spans(evs, "marker", name)]
    r = tacheck.op(s, "marker", name)
    ok(r is not None and r["count"] == n == len(durs), f"{name}: count {r and r['count']} == {n} == trace's {len(durs)}")
    if not r or not durs:
        continue
    ok(abs(r["total_ns"] - sum(durs)) <= len(durs), f"{name}: total_ns matches the trace ({r['total_ns']} vs {sum(durs)})")
    ok(abs(r["min_ns"] - min(durs)) <= 1 and abs(r["max_ns"] - max(durs)) <= 1, f"{name}: min and max match the trace")
    mean = sum(durs) / len(durs)
    ok(abs(r["mean_ns"] - mean) <= 1, f"{name}: mean {r['mean_ns']} vs {mean:.3f}")
    sd = math.sqrt(sum((d - mean) ** 2 for d in durs) / len(durs))
    ok(abs(r["stddev_ns"] - sd) <= 0.01 * sd + 1, f"{name}: stddev {r['stddev_ns']} vs {sd:.3f}")
    for key, p in (("median_ns", 50), ("p95_ns", 95), ("p99_ns", 99)):
        e = nearest_rank(durs, p)
        ok(abs(r[key] - e) <= 0.01 * e, f"{name}: {key} {r[key]} within 1% of exact {e}")
# tree: outer -> inner
top = [n for n in s["tree"] if n["cat"] == "marker" and n["name"] == "outer"]
ok(len(top) == 1 and top[0]["count"] == 1000, "tree: outer at the top, count 1000")
if top:
    o = top[0]
    inner = [c for c in o["children"] if c["name"] == "inner"]
    ok(len(inner) == 1 and inner[0]["count"] == 3000, "tree: inner under outer, count 3000")
    ok(o["self_ns"] == o["total_ns"] - sum(c["total_ns"] for c in o["children"]), "tree: outer self_ns = total - children")
    ok(inner and inner[0]["total_ns"] == tacheck.op(s, "marker", "inner")["total_ns"], "tree: inner total equals its ops row")
    ok(not any(n["name"] == "inner" for n in s["tree"]), "tree: no inner at the top")
# instants, counters, dropped
h = tacheck.op(s, "marker", "hundred")
ok(h and h["count"] == 10 and h.get("kind") == "instant", "instants: hundred x10")
c = [c for c in s["counters"] if c["name"] == "progress"]
ok(c and c[0]["count"] == 1000 and c[0]["min"] == 0 and c[0]["max"] == 999 and c[0]["last"] == 999, "counters: progress")
ok(isinstance(s["dropped"], dict) and all(v == 0 for v in s["dropped"].values()), f"dropped: none ({s['dropped']})")
# process
p = s["process"]
ok(p["pid"] == pid and p["ppid"] > 0, "process: pid matches the file name, ppid set")
ok(p["exe"] == "stats_nested" and p["argv"][1:] == ["1000", sys.argv[3], "0"] and p["argv"][0].endswith("stats_nested"),
   f"process: exe and argv ({p['exe']}, {p['argv']})")
ok(p["host"] == socket.gethostname(), f"process: host {p['host']}")
st = datetime.datetime.strptime(p["start"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
ok(abs(st.timestamp() - p["start_ns"] / 1e9) < 1e-5 and abs(p["start_ns"] / 1e9 - datetime.datetime.now().timestamp()) < 600,
   "process: start time (ISO-8601 and ns agree, recent)")
X = tacheck.spans(evs)
first = min(e["ts"] for e in X) * 1000
last = max(e["ts"] + e["dur"] for e in X) * 1000
mono = p["clock"]["monotonic_ns"]
ok(mono <= first and mono + p["duration_ns"] >= last and p["clock"]["realtime_ns"] == p["start_ns"],
   "process: clock anchor and duration cover every span")
ok(s["events"] >= 1000 + 3000 + 10 + 1000, f"events: {s['events']}")
# files (when the POSIX wrappers are in the agent)
posix = tacheck.spans(evs, "posix")
if posix:
    f = [r for r in s["files"] if r["path"] == sys.argv[3]]
    ok(f and f[0]["bytes_written"] == 10000 and f[0]["bytes_read"] == 10000 and f[0]["writes"] == 10
       and f[0]["opens"] >= 2, f"files: the data file's row {f[:1]}")
    w = tacheck.op(s, "posix", "write")
    tw = [e for e in tacheck.spans(evs, "posix", "write")]
    ok(w and w["count"] == len(tw) and w.get("bytes") == sum(e["args"].get("bytes", 0) for e in tw),
       "ops: posix write count and bytes match the trace")
else:
    print("ok - agent: files: skipped (no POSIX wrappers in this agent)")
EOF

# min_duration_ns hides short spans from the trace but not from the stats
OUT2="$TMP/mindur"
TRACEAGENT_MIN_DURATION_NS=1000000000 traced "$OUT2" "$TBUILD/stats_nested" 100 - 0
$PY - "$OUT2" "$ROOT" <<'EOF'
import sys, os
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
(pid, [pf]), = tacheck.files(sys.argv[1]).items()
s = tacheck.load_stats(pf["stats"])
evs = tacheck.load_trace(pf["trace"])
r = tacheck.op(s, "marker", "inner")
c = r is not None and r["count"] == 300 and not tacheck.spans(evs, "marker", "inner")
print(("ok" if c else "not ok") + " - agent: min_duration: spans left out of the trace are still counted in stats")
EOF

# threads and fork: per-thread nesting aggregated; the child's stats hold only its own work
OUT3="$TMP/threads"
traced "$OUT3" "$TBUILD/stats_nested" 100 - 0 4 1
$PY - "$OUT3" "$ROOT" <<'EOF'
import sys, os
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
def ok(c, d): print(("ok - " if c else "not ok - ") + "agent: " + d)
procs = tacheck.files(sys.argv[1])
ok(len(procs) == 2, f"fork: two processes ({len(procs)})")
parent = child = None
for pid, lst in procs.items():
    s = tacheck.load_stats(lst[0]["stats"]) if lst[0]["stats"] else None
    if s and tacheck.op(s, "marker", "child_only"):
        child = s
    elif s:
        parent = s
ok(child and [o["name"] for o in child["ops"]] == ["child_only"] and child["ops"][0]["count"] == 5,
   "fork: the child's stats hold only the child's spans")
ok(parent and tacheck.op(parent, "marker", "parent_before")["count"] == 10
   and not tacheck.op(parent, "marker", "child_only"), "fork: the parent keeps its own")
if parent:
    o = [n for n in parent["tree"] if n["name"] == "outer"]
    ok(o and o[0]["count"] == 400 and [(c["name"], c["count"]) for c in o[0]["children"]] == [("inner", 1200)],
       "threads: 4 threads' trees merge (outer 400 -> inner 1200)")
    ok(len([t for t in parent["threads"] if t["events"] > 0]) >= 4, "threads: listed with their event counts")
    ok(child and child["process"]["ppid"] == parent["process"]["pid"], "fork: the child's ppid is the parent")
EOF

finish
