#!/usr/bin/env bash
# stats.json's GPU statistics (issue #16): the `kernels` table, the `gpu` section, the
# per-phase (marker) GPU time and idle share, and tree nodes' `gpu` objects, from device
# work handed over by a batch source plug-in (tests/gpustats/gpuevents.c) the way the CUPTI
# module hands it over: late, shuffled, in several polls (some while the launching markers
# are open, the last ones at the final poll), on named tracks, with the launch's scope, in
# a category that is not "gpu". Every number is checked against what this test computes
# from the program's own list of the work (times, bytes, launch configs, the markers open
# at each launch) and the marker spans of the trace.
source "$(dirname "$0")/lib/common.sh"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }

BIN="$TBUILD/gpuevents"
ta_cc "$BIN" "$ROOT/tests/gpustats/gpuevents.c" -ldl -lpthread

run_mode() { # MODE: the program under the agent; its work list in $TMP/MODE.list
    local mode=$1
    mkdir -p "$TMP/$mode"
    timeout 60 env TRACEAGENT_EXPORT=json,stats TRACEAGENT_MIN_DURATION_NS=0 \
        TRACEAGENT_OUTPUT="$TMP/$mode" LD_PRELOAD="$AGENT" "$BIN" "$mode" "$TMP/$mode.list" \
        > "$TMP/$mode.out" 2> "$TMP/$mode.err"
}
# the interval sets alone, against brute force (stats_gpu.c included with the stats tests' stubs)
if gcc -std=gnu11 -D_GNU_SOURCE -O2 -w -I"$ROOT/include" -I"$ROOT/agent" -I"$ROOT/exporters" \
        -o "$TBUILD/ivfuzz" "$ROOT/tests/gpustats/ivfuzz.c" "$ROOT/exporters/stats.c" \
        "$ROOT/exporters/jsonw.c" "$ROOT/agent/fields.c" -lm; then
    fz=$("$TBUILD/ivfuzz" 2>&1 | head -c 300)
    check "interval sets: sorted, exact without approximation, bounded with it ($fz)" \
        test "$fz" = "fuzz ok"
else
    fail "interval sets: the fuzz program builds"
fi
run_mode none
run_mode full
run_mode many
run_mode idle
run_mode gaps
run_mode graph
check "none: the program ran ($(head -c 200 "$TMP/none.err"))" grep -qx 'ok 0' "$TMP/none.out"
check "many: the program ran ($(head -c 200 "$TMP/many.err"))" grep -qx 'ok 0' "$TMP/many.out"
check "full: the program handed over its work ($(head -c 200 "$TMP/full.err"))" \
    grep -qx 'ok [0-9]*' "$TMP/full.out"

$PY - "$ROOT" "$TMP" <<'EOF'
import glob, json, sys
from decimal import Decimal
ROOT, d = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
fails = 0
def ok(c, desc, detail=None):
    global fails
    print(("ok - " if c else "not ok - ") + desc + ("" if c or detail is None else f"  [{detail}]"))
    fails += not c

def stats(m):
    return tacheck.load_stats(glob.glob(f"{d}/{m}/*.stats.json")[0])
def walk(nodes, path=()):
    for n in nodes:
        yield path + (n["name"],), n
        yield from walk(n["children"], path + (n["name"],))

# ---- a run without device work: none of the new keys
none = stats("none")
new = [k for k in ("kernels", "gpu", "phases") if k in none]
gnodes = [p for p, n in walk(none["tree"]) if "gpu" in n]
ok(not new and not gnodes and any(p == ("epoch", "infer", "cudaLaunchKernel")
                                  for p, n in walk(none["tree"])),
   "no device work: no kernels, gpu or phases key, no tree node with gpu", (new, gnodes))
ok(all(set(r) <= {"cat", "name", "kind", "count", "total_ns", "mean_ns", "median_ns", "min_ns",
                  "max_ns", "stddev_ns", "p95_ns", "p99_ns", "errors", "bytes", "hist"}
       for r in none["ops"]), "no device work: ops rows have no new key but hist",
   [list(r) for r in none["ops"]])

# ---- the work, as the program made it
W = []
for line in open(d + "/full.list"):
    k, op, name, dev, stream, t0, dur, gx, gy, gz, bx, by, bz, nbytes, path = line.rstrip("\n").split("\t")
    W.append(dict(kind=k, op=op, name=name, dev=int(dev), t0=int(t0), dur=int(dur),
                  grid=[int(gx), int(gy), int(gz)], block=[int(bx), int(by), int(bz)],
                  bytes=int(nbytes), path=[] if path == "-" else path.split("/")))
ok(len(W) == int(open(d + "/full.out").read().split()[1]) and len(W) > 250,
   f"the list has every piece of work ({len(W)})")
st = stats("full")
# marker spans from the trace, ns exact (ts and dur are us with 3 decimals)
M = {}
tr = glob.glob(f"{d}/full/*.trace.json")[0]
for line in open(tr):
    line = line.rstrip(",\n")
    if '"cat":"marker"' not in line or '"ph":"X"' not in line:
        continue
    e = json.loads(line, parse_float=Decimal)
    M.setdefault(e["name"], []).append((int(e["ts"] * 1000), int((e["ts"] + e["dur"]) * 1000)))

def union(iv):  # the exact union: overlapping or touching intervals merged, no more
    out = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out
def overlap(x, y):
    return sum(max(0, min(b, q) - max(a, p)) for a, b in x for p, q in y)
busy_kinds = {"K", "C", "M"}
devs = sorted({w["dev"] for w in W if w["kind"] in busy_kinds})
busy = {v: union([(w["t0"], w["t0"] + w["dur"]) for w in W if w["dev"] == v and w["kind"] in busy_kinds])
        for v in devs}

# ---- kernels
def nearest(xs, p):
    xs = sorted(xs)
    import math
    return xs[max(1, math.ceil(len(xs) * p / 100)) - 1]
def near(a, b, rel=0.01):
    return abs(a - b) <= rel * max(abs(b), 1)
K = {}
for w in W:
    if w["kind"] == "K":
        K.setdefault(w["name"], []).append(w)
rows = st.get("kernels", [])
ok([r["name"] for r in rows] == sorted(K, key=lambda n: -sum(w["dur"] for w in K[n])),
   "kernels: one row per kernel name, by total_ns descending", [r["name"] for r in rows])
keys = ["name", "count", "total_ns", "mean_ns", "median_ns", "min_ns", "max_ns", "stddev_ns",
        "p95_ns", "p99_ns", "grid", "block", "configs", "device_ids"]
for r in rows:
    ws = K.get(r["name"], [])
    ds = [w["dur"] for w in ws]
    n = len(ds)
    mean = sum(ds) / n
    sd = (sum((x - mean) ** 2 for x in ds) / n) ** 0.5
    cfg = {}
    for w in ws:
        c = (tuple(w["grid"]), tuple(w["block"]))
        cfg.setdefault(c, 0)
        cfg[c] += 1
    top = max(cfg.values())
    best = next(c for c in [(tuple(w["grid"]), tuple(w["block"])) for w in ws] if cfg[c] == top)
    ok(list(r) == keys and r["count"] == n and r["total_ns"] == sum(ds) and r["min_ns"] == min(ds)
       and r["max_ns"] == max(ds) and abs(r["mean_ns"] - mean) < 0.001
       and abs(r["stddev_ns"] - sd) < 0.01,
       f"kernels {r['name']}: keys, count {n}, total, min, max, mean, stddev exact", r)
    ok(all(near(r[k + "_ns"], nearest(ds, p)) for k, p in (("median", 50), ("p95", 95), ("p99", 99))),
       f"kernels {r['name']}: median, p95, p99 within 1% of the nearest rank",
       (r["median_ns"], r["p95_ns"], r["p99_ns"], [nearest(ds, p) for p in (50, 95, 99)]))
    ok(r["grid"] == list(best[0]) and r["block"] == list(best[1]) and r["configs"] == len(cfg)
       and r["device_ids"] == sorted({w["dev"] for w in ws}),
       f"kernels {r['name']}: the most frequent grid and block, {len(cfg)} configs, devices",
       (r, best, cfg))

# ---- gpu
g = st.get("gpu", {})
kw = [w for w in W if w["kind"] == "K"]
cw = [w for w in W if w["kind"] == "C"]
mw = [w for w in W if w["kind"] == "M"]
bw = [w for w in W if w["kind"] in busy_kinds]
span = sum(max(w["t0"] + w["dur"] for w in bw if w["dev"] == v) - min(w["t0"] for w in bw if w["dev"] == v)
           for v in devs)
busy_ns = sum(b - a for v in devs for a, b in busy[v])
want = {"kernel_count": len(kw), "kernel_ns": sum(w["dur"] for w in kw), "copy_count": len(cw),
        "copy_ns": sum(w["dur"] for w in cw),
        "bytes_htod": sum(w["bytes"] for w in cw if w["op"].endswith("HtoD")),
        "bytes_dtoh": sum(w["bytes"] for w in cw if w["op"].endswith("DtoH")),
        "bytes_dtod": sum(w["bytes"] for w in cw if w["op"].endswith("DtoD")),
        "memset_count": len(mw), "memset_ns": sum(w["dur"] for w in mw), "busy_ns": busy_ns,
        "first_ns": min(w["t0"] for w in bw), "last_ns": max(w["t0"] + w["dur"] for w in bw),
        "idle_pct": g.get("idle_pct"), "records_dropped": 5}
ok(g == want and list(g) == list(want),
   "gpu: counts, times and bytes each way (a Sync not counted), busy (union per device), "
   "first, last, the GPU records dropped", (g, want))
ok(abs(g.get("idle_pct", -1) - 100 * (1 - busy_ns / span)) < 0.001 and 0 < g["idle_pct"] < 100,
   f"gpu: idle_pct {g.get('idle_pct')} = 100 * (1 - busy / each device's active span, summed)")
ok(any(w["kind"] == "S" for w in W) and len(busy) == 2,
   "the work had a sync and two devices")

# ---- phases: launched work by the scope's markers; busy and idle over each name's ranges
ph = st.get("phases", [])
ok([p["name"] for p in ph] == sorted(M, key=lambda n: -sum(b - a for a, b in M[n]))
   and set(M) == {"epoch", "load", "infer", "batch", "write"},
   "phases: one row per marker name, by total_ns descending", [p["name"] for p in ph])
pkeys = ["name", "count", "total_ns", "gpu_kernel_count", "gpu_kernel_ns", "gpu_copy_count",
         "gpu_copy_ns", "gpu_copy_bytes", "gpu_memset_ns", "gpu_busy_ns", "gpu_idle_pct"]
for p in ph:
    n = p["name"]
    mine = [w for w in W if n in w["path"]]
    rg = union(M[n])
    b = sum(overlap(busy[v], rg) for v in devs)
    wall = sum(y - x for x, y in rg)
    want = {"name": n, "count": len(M[n]), "total_ns": sum(y - x for x, y in M[n]),
            "gpu_kernel_count": sum(1 for w in mine if w["kind"] == "K"),
            "gpu_kernel_ns": sum(w["dur"] for w in mine if w["kind"] == "K"),
            "gpu_copy_count": sum(1 for w in mine if w["kind"] == "C"),
            "gpu_copy_ns": sum(w["dur"] for w in mine if w["kind"] == "C"),
            "gpu_copy_bytes": sum(w["bytes"] for w in mine if w["kind"] == "C"),
            "gpu_memset_ns": sum(w["dur"] for w in mine if w["kind"] == "M"),
            "gpu_busy_ns": b, "gpu_idle_pct": p.get("gpu_idle_pct")}
    ok(p == want and list(p) == pkeys,
       f"phase {n}: count, time, the work launched inside it (nested included), busy", (p, want))
    ok(abs(p["gpu_idle_pct"] - max(0, 100 * (1 - b / (wall * len(devs))))) < 0.001,
       f"phase {n}: gpu_idle_pct {p['gpu_idle_pct']} over its wall time and both devices")
pb = {p["name"]: p for p in ph}
ok(pb.get("batch", {}).get("gpu_kernel_count", 0) > 0 and pb["infer"]["gpu_kernel_count"]
   > pb["batch"]["gpu_kernel_count"] and pb["epoch"]["gpu_kernel_count"] ==
   len(kw) - 1 and 0 < pb["batch"]["gpu_busy_ns"] < pb["batch"]["total_ns"] * 2,
   "phases: nested markers each get their work; the kernel launched outside is in none")
ok(pb.get("write", {}).get("count") == 2 and pb["write"]["gpu_copy_count"] == 3,
   "phases: 'write' inside 'write': two spans, its work counted once (3 copies)", pb.get("write"))

# ---- the tree: each node's gpu is its subtree's work; spans merged into early nodes
T = dict(walk(st["tree"]))
LAUNCH = {"K": "cudaLaunchKernel", "S": "cudaLaunchKernel", "M": "cudaMemsetAsync",
          "C": "cudaMemcpyAsync"}
for w in W:
    w["scope"] = tuple(w["path"]) + (LAUNCH[w["kind"]],)
for path, n in T.items():
    mine = [w for w in W if w["scope"][:len(path)] == path]
    kk = [w for w in mine if w["kind"] == "K"]
    cc = [w for w in mine if w["kind"] == "C"]
    want = {"kernel_ns": sum(w["dur"] for w in kk), "kernel_count": len(kk),
            "copy_ns": sum(w["dur"] for w in cc), "copy_bytes": sum(w["bytes"] for w in cc)}
    if kk or cc:
        ok(n.get("gpu") == want, f"tree {'/'.join(path)}: gpu of its subtree", (n.get("gpu"), want))
    else:
        ok("gpu" not in n, f"tree {'/'.join(path)}: no gpu object", n)
b = T.get(("epoch", "infer", "batch"), {})
ok(b.get("count") == 3 and sum(1 for p in T if p[-1] == "batch") == 1
   and T.get(("epoch", "infer", "batch", "cudaLaunchKernel"), {}).get("count") == 240,
   "tree: batch's spans (completed after its first work arrived) in one node, count 3",
   b.get("count"))
ok(T.get(("cudaLaunchKernel",), {}).get("gpu", {}).get("kernel_count") == 1,
   "tree: the launch outside any marker is a top node with its one kernel")
ops = {(o["cat"], o["name"]): o for o in st["ops"]}
ok(ops.get(("devsyn", "gemm_kernel"), {}).get("count") == len(K["gemm_kernel"])
   and ops.get(("devsyn", "Sync device"), {}).get("count") == 1,
   "ops: device work keeps its ops rows, in its own category")

# ---- more busy intervals than kept apart: bounded, the approximation counted and bounding
many = stats("many")
g = many.get("gpu", {})
base = int(open(d + "/many.out").read().split()[1])
exact, n = 70000 * 1000, 70000
k = (many.get("kernels") or [{}])[0]
ok(g.get("kernel_count") == n and g.get("kernel_ns") == exact and k.get("count") == n
   and g.get("first_ns") == base and g.get("last_ns") == base + 3000 * (n - 1) + 1000,
   "many: 70,000 kernels counted, first and last", (g, k.get("count")))
# the approximation is over by at most the late kernels that fell in gaps already counted
ok(g.get("busy_approx_ns", 0) > 0 and g["busy_ns"] - g["busy_approx_ns"] <= exact <= g["busy_ns"]
   and exact - (g["busy_ns"] - g["busy_approx_ns"]) <= 700 * 1000,
   "many: past the interval cap, busy_ns - busy_approx_ns <= exact busy <= busy_ns, and "
   "within the 700 late kernels' time of it",
   (g.get("busy_ns"), g.get("busy_approx_ns"), exact))

# ---- long, launch-bound and gappy runs: the exact union, whatever the run's length
for mode, want_idle, kinds in (("idle", 70.0, 80000), ("gaps", 47.34, 1000), ("graph", None, 10)):
    s = stats(mode)
    g = s.get("gpu", {})
    L = []
    for line in open(f"{d}/{mode}.list"):
        f = line.split("\t")
        L.append((f[0], int(f[5]), int(f[5]) + int(f[6])))
    ex = sum(b - a for a, b in union([(a, b) for _, a, b in L]))
    span = max(b for _, a, b in L) - min(a for _, a, b in L)
    idle = 100 * (1 - ex / span)
    ok(len([k for k in L if k[0] == "K"]) == kinds and g.get("kernel_count") == kinds
       and g.get("busy_ns") == ex and "busy_approx_ns" not in g
       and abs(g.get("idle_pct", -1) - idle) < 0.001
       and (want_idle is None or abs(g["idle_pct"] - want_idle) <= 0.5),
       f"{mode}: busy_ns the exact union ({ex}), idle_pct {g.get('idle_pct')} = {idle:.3f}"
       + (f" (about {want_idle})" if want_idle else ""), g)
    run = {p["name"]: p for p in s.get("phases", [])}.get("run", {})
    ok(run.get("count") == 1 and run.get("gpu_busy_ns") == ex and "ranges_approx_ns" not in run
       and abs(run.get("gpu_idle_pct", -1) - max(0, 100 * (1 - ex / run["total_ns"]))) < 0.001,
       f"{mode}: phase 'run' around all the work: gpu_busy_ns the exact union, its idle share",
       run)
k = (stats("gaps").get("kernels") or [{}])[0]
ok(k.get("configs") == 32 and k.get("configs_capped") is True
   and "configs_capped" not in (stats("idle").get("kernels") or [{}])[0],
   "gaps: 40 launch configs: 32 told apart, configs_capped says so (not where fewer)", k)
g = stats("graph").get("gpu", {})
ok(g.get("graph_count") == 10 and g.get("graph_ns") == 50000 and g.get("kernel_count") == 10
   and "graph_count" not in stats("idle").get("gpu", {}),
   "graph: graph launches counted apart (not kernels), busy (above)", g)
sys.exit(1 if fails else 0)
EOF
T_FAILS=$((T_FAILS + $?))
finish
