#!/usr/bin/env bash
# stats.json's `datasets` table and the report's datasets section (issue #15), from events
# of the HDF5 event contract made by tests/stats/datasets.c under the agent: a family
# registered through the plug-in interface, with ops named H5Dread/H5Dwrite/H5Dopen2/
# H5Gopen2/H5Dclose/H5Dset_extent and made-up times, bytes and selection shapes, so that every row is known:
# more than 8 shapes on one dataset, one dataset name in two files, a failed read, a read
# with no DATASET field, a group (its path under `object`), a dataset with no file, 40
# shapes on one dataset (past the 32 counted apart). One logical read of 8 KiB over two
# real preads of 4 KiB checks the layers and the nesting.
source "$(dirname "$0")/lib/common.sh"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }
[ -x "$CLI" ] || { fail "CLI not built ($CLI)"; finish; }

BIN="$TBUILD/datasets_prog"
ta_cc "$BIN" "$ROOT/tests/stats/datasets.c" -ldl
A="$TMP/a.h5"
head -c 16384 /dev/zero > "$A"

run_mode() { # MODE DIR: the program under the agent (timeout itself untraced); stdout in DIR.out
    local mode=$1 dir=$2
    mkdir -p "$dir"
    timeout 60 env TRACEAGENT_EXPORT=json,stats TRACEAGENT_MIN_DURATION_NS=0 \
        TRACEAGENT_OUTPUT="$dir" LD_PRELOAD="$AGENT" "$BIN" "$mode" "$A" >> "$dir.out" 2>> "$dir.err"
}
run_mode none "$TMP/none"
run_mode layers "$TMP/layers"
run_mode full "$TMP/full"
run_mode full "$TMP/multi"   # two processes in one directory, as pool workers leave them
run_mode full "$TMP/multi"
for m in none layers full; do
    check "$m: the program recorded every event" grep -qx 'ok.*' "$TMP/$m.out"
done
check "multi: both processes recorded every event" test "$(grep -c '^ok' "$TMP/multi.out")" = 2
"$CLI" report "$TMP/none" > "$TMP/none.rep" 2>&1
"$CLI" report "$TMP/full" > "$TMP/full.rep" 2>&1
"$CLI" report "$TMP/layers" > "$TMP/layers.rep" 2>&1
"$CLI" report "$TMP/multi" > "$TMP/multi.rep" 2>&1
"$CLI" report --top 3 "$TMP/full" > "$TMP/top3.rep" 2>&1
# the same stats without their datasets section: the report must be the rest of the same
mkdir -p "$TMP/strip"
$PY - "$TMP/full" "$TMP/strip" <<'EOF'
import glob, json, os, sys
src, dst = sys.argv[1:3]
for p in glob.glob(src + "/*.stats.json"):
    s = json.load(open(p))
    s.pop("datasets", None)
    json.dump(s, open(os.path.join(dst, os.path.basename(p)), "w"))
EOF
"$CLI" report "$TMP/strip" > "$TMP/strip.rep" 2>&1

$PY - "$ROOT" "$TMP" "$A" <<'EOF'
import glob, json, math, re, sys
ROOT, d, A = sys.argv[1:4]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
fails = 0
def ok(c, desc, detail=None):
    global fails
    print(("ok - " if c else "not ok - ") + desc + ("" if c or detail is None else f"  [{detail}]"))
    fails += not c

def stats(m):
    p = glob.glob(f"{d}/{m}/*.stats.json")
    return [tacheck.load_stats(x) for x in sorted(p)]
def layered_ns(m):
    return int(open(f"{d}/{m}.out").read().split()[1])

# ---- a run with no dataset event: no section, nothing in the report
none = stats("none")[0]
ok("datasets" not in none and tacheck.datasets(none) == {},
   "no dataset event: stats.json has no datasets key", list(none))
rep = open(d + "/none.rep").read()
ok("Datasets" not in rep and "Files by I/O time" in rep,
   "no dataset event: the report prints no datasets section", rep)

# ---- layers and nesting: an 8 KiB logical read over two 4 KiB preads
lay = stats("layers")[0]
L = lay.get("layers", {})
ok(L.get("logical", {}).get("bytes_read") == 8192 and L.get("file", {}).get("bytes_read") == 8192,
   "layers: logical bytes_read 8192 and file bytes_read 8192, each counted once", L)
fa = {f["path"]: f for f in lay["files"]}.get(A, {})
ok(fa.get("bytes_read") == 8192 and fa.get("reads") == 2
   and fa.get("logical", {}).get("bytes_read") == 8192,
   "layers: the file's row has the preads' 8192 bytes; the logical read kept apart", fa)
def walk(nodes, path=()):
    for n in nodes:
        yield path + (n["name"],), n
        yield from walk(n["children"], path + (n["name"],))
tree = dict(walk(lay["tree"]))
pr = [n for p, n in tree.items() if p[0] == "H5Dread" and len(p) == 2 and p[1].startswith("pread")]
top = [p for p in tree if len(p) == 1 and p[0].startswith("pread")]
ok(len(pr) == 1 and pr[0]["count"] == 2 and not top,
   "tree: the two preads are nested under the H5Dread node, none at the top", sorted(tree))
ds = tacheck.datasets(lay)
ok(list(ds) == [(A, "/layered")] and ds[(A, "/layered")]["bytes_read"] == 8192
   and ds[(A, "/layered")]["total_ns"] == layered_ns("layers"),
   "layers: one dataset row, 8192 bytes read, the read's time", ds)
evs = tacheck.load_trace_cats(glob.glob(d + "/layers/*.trace.json")[0], {"h5syn"})
h = [e for e in evs if e.get("ph") == "X" and e["name"] == "H5Dread"]
p = [e for e in evs if e.get("ph") == "X" and e["name"].startswith("pread")]
ok(len(h) == 1 and len(p) == 2 and all(h[0]["ts"] <= e["ts"] and
   e["ts"] + e["dur"] <= h[0]["ts"] + h[0]["dur"] for e in p)
   and h[0]["args"].get("dataset") == "/layered" and h[0]["args"].get("selection") == "all",
   "trace: the preads lie within the H5Dread span, which carries dataset and selection",
   (h, p))

# ---- every row of a run, exactly
full = stats("full")[0]
ds = tacheck.datasets(full)
lns = layered_ns("full")
ok(sorted(ds, key=str) == sorted([(A, "/layered"), (A, "/grp/x"), ("/data/b.h5", "/grp/x"),
                                   (A, "/y"), (None, "/nofile"), (A, "/d1"), (A, "/d2"),
                                   (A, "/d3"), (A, "/many")], key=str),
   "rows: one per (file, dataset); none for a read with no dataset nor for a group", list(ds))
x = ds.get((A, "/grp/x"), {})
shapes = [{"shape": "[64,1024]", "count": 3, "bytes": 196608},
          {"shape": "[2,2]", "count": 2, "bytes": 64}] + \
         [{"shape": f"[{k},1]", "count": 1, "bytes": 8 * k} for k in range(1, 7)]
want = {"file": A, "dataset": "/grp/x", "reads": 15, "writes": 0, "bytes_read": 205224,
        "bytes_written": 0, "read_ns": 43950, "write_ns": 0, "opens": 1, "errors": 0,
        "count": 15, "total_ns": 43950, "mean_ns": 2930, "median_ns": 80, "p95_ns": 40000,
        "max_ns": 40000, "read_mean_ns": 2930, "read_p95_ns": 40000, "write_mean_ns": 0,
        "write_p95_ns": 0, "selections": shapes, "selections_other": 4}
ok(x == want and list(x) == list(want),
   "/grp/x: counts, bytes, opens, times, nearest-rank median and p95, keys in order", x)
ok(x.get("opens") == 1,
   "/grp/x: opens 1: its H5Dopen2, not its H5Dclose (CLOSE) nor its H5Dset_extent (META)", x)
ok([s["shape"] for s in x.get("selections", [])][:2] == ["[64,1024]", "[2,2]"]
   and x.get("selections_other") == 4,
   "/grp/x: 11 shapes: the 8 most frequent listed first, 4 calls past them counted", x)
b = ds.get(("/data/b.h5", "/grp/x"), {})
ok(b.get("reads") == 1 and b.get("writes") == 2 and b.get("bytes_read") == 80
   and b.get("bytes_written") == 160 and b.get("read_ns") == 1000 and b.get("write_ns") == 6000
   and b.get("count") == 3 and b.get("total_ns") == 7000 and b.get("mean_ns") == 2333.333
   and b.get("median_ns") == 3000 and b.get("max_ns") == 3000 and b.get("opens") == 0
   and b.get("selections") == [{"shape": "[10]", "count": 2, "bytes": 160},
                               {"shape": "all", "count": 1, "bytes": 80}],
   "the same dataset name in another file: its own row, reads and writes", b)
ok([b.get(k) for k in ("p95_ns", "read_mean_ns", "read_p95_ns", "write_mean_ns", "write_p95_ns")]
   == [3000, 1000, 1000, 3000, 3000],
   "its reads' and writes' mean and p95 each from their own calls (p95 of both 3000, "
   "of the read 1000)", b)
y = ds.get((A, "/y"), {})
ok(y.get("reads") == 1 and y.get("errors") == 1 and y.get("bytes_read") == 0
   and y.get("total_ns") == 500, "a failed read: counted, an error, no bytes", y)
nf = ds.get((None, "/nofile"), {})
ok(nf.get("file", "") is None and nf.get("bytes_read") == 8,
   "a dataset event with no FILE: file null", nf)
mn = ds.get((A, "/many"), {})
ok([s["shape"] for s in mn.get("selections", [])] == [f"[1{k}]" for k in range(8)]
   and mn.get("selections_other") == 44 - 8 and mn.get("reads") == 44,
   "44 calls of 40 shapes: 8 listed of the 32 counted apart, the other 36 calls counted", mn)
order = [(r["file"], r["dataset"]) for r in full["datasets"]]
ok(order == [(A, "/layered"), (A, "/grp/x"), ("/data/b.h5", "/grp/x"), (A, "/y"),
             (None, "/nofile"), (A, "/many"), (A, "/d1"), (A, "/d2"), (A, "/d3")],
   "rows by total_ns descending, then by name", order)
ops = {(o["cat"], o["name"]): o for o in full["ops"]}
ok(ops.get(("h5syn", "H5Dread"), {}).get("count") == 23 + 44
   and ops.get(("h5syn", "H5Dread"), {}).get("errors") == 1,
   "ops: the read with no dataset is still an H5Dread (67), one error",
   ops.get(("h5syn", "H5Dread")))
L = full.get("layers", {})
lg_read = 8192 + 205224 + 80 + 16 + 8 + 12 + 44
ok(L.get("logical", {}).get("bytes_read") == lg_read and L.get("file", {}).get("bytes_read") == 8192,
   "layers: logical bytes are every logical read's, file bytes only the preads'", L)

# ---- the report: the section after the files, numbers as the rest of the report shows them
def fmt_ns(ns):
    if ns < 1e3: return "%.0f ns" % ns
    if ns < 1e6: return "%.*f \u00b5s" % (2 if ns < 1e4 else 1 if ns < 1e5 else 0, ns / 1e3)
    if ns < 1e9: return "%.*f ms" % (2 if ns < 1e7 else 1 if ns < 1e8 else 0, ns / 1e6)
    return "%.*f s" % (2 if ns < 1e10 else 1 if ns < 1e11 else 0, ns / 1e9)
def fmt_b(b):
    u = 0
    while b >= 1024 and u < 5:
        b /= 1024; u += 1
    return "%.0f B" % b if u == 0 else "%.*f %s" % (2 if b < 10 else 1 if b < 100 else 0, b,
                                                       ["B", "KiB", "MiB", "GiB", "TiB", "PiB"][u])
def section(text):
    lines = text.split("\n")
    i = next((k for k, l in enumerate(lines) if l.startswith("Datasets by")), None)
    if i is None:
        return None, []
    rows = []
    for l in lines[i + 2:]:
        if not l.strip():
            break
        rows.append(re.split(r"\s{2,}", l.strip()))
    return lines[i], rows
rep = open(d + "/full.rep").read()
head, rows = section(rep)
ok(head == "Datasets by read+write time (top 5 of 9):" and len(rows) == 5,
   "report: a datasets section with the files section's 5 rows of 9", (head, rows))
ok(rep.find("Files by I/O time") < rep.find("Datasets by") and "Datasets by" in rep,
   "report: after the files section")
def row(f, ds_, reads, br, writes, bw, rns, wns, count, rp95, errs, sel):
    return [f, ds_, str(reads), fmt_b(br), str(writes), fmt_b(bw), fmt_ns(rns), fmt_ns(wns),
            fmt_ns((rns + wns) / count), fmt_ns(rp95)] + ([] if errs is None else [str(errs)]) + [sel]
want_rows = [row(A, "/layered", 1, 8192, 0, 0, lns, 0, 1, lns, 0, "all"),
             row(A, "/grp/x", 15, 205224, 0, 0, 43950, 0, 15, 40000, 0, "[64,1024]"),
             row("/data/b.h5", "/grp/x", 1, 80, 2, 160, 1000, 6000, 3, 1000, 0, "[10]"),
             row(A, "/y", 1, 0, 0, 0, 500, 0, 1, 500, 1, "all"),
             row("-", "/nofile", 1, 8, 0, 0, 50, 0, 1, 50, 0, "all")]
# a long file path is cut at its start, as the files section cuts it
for w in want_rows:
    if len(w[0]) > 56:
        w[0] = "\u2026" + w[0][-55:]
ok(rows == want_rows, "report: file, dataset, reads, bytes, writes, read time, write time, "
   "mean, read p95, errors, most frequent selection", (rows, want_rows))
cols = lambda t: re.split(r"\s{2,}", t.split("\n")[t.split("\n").index(section(t)[0]) + 1].strip())
ok(cols(rep)[-6:] == ["read time", "write time", "mean", "read p95", "errors", "selection"],
   "report: the columns say read time, write time, read p95 (the reads' p95 alone), errors",
   cols(rep))
lrep = open(d + "/layers.rep").read()
ok(cols(lrep)[-5:] == ["read time", "write time", "mean", "read p95", "selection"]
   and len(section(lrep)[1]) == 1 and len(section(lrep)[1][0]) == 11,
   "report: no dataset with a failed call: no errors column", lrep)
ok(section(open(d + "/top3.rep").read())[1] == rows,
   "report: --top (the span table's) leaves the datasets section as the files section")
# the section is the only difference a datasets table makes
strip = open(d + "/strip.rep").read()
cut = lambda t: t.split("\nFiles:\n")[0]
full_wo = re.sub(r"\nDatasets by[^\n]*\n(?:[^\n]+\n)*", "", cut(rep))
ok("Datasets" not in strip and cut(strip) == full_wo,
   "report: the same stats without datasets print the same report less the section",
   (cut(strip), full_wo))

# ---- two processes in one directory: rows merged by (file, dataset)
ms = stats("multi")
ok(len(ms) == 2 and all(len(tacheck.datasets(s)) == 9 for s in ms),
   "multi: two processes, 9 rows each", len(ms))
head, rows = section(open(d + "/multi.rep").read())
want_m = row(A, "/grp/x", 30, 2 * 205224, 0, 0, 2 * 43950, 0, 30, 40000, 0, "[64,1024]")
if len(want_m[0]) > 56:
    want_m[0] = "\u2026" + want_m[0][-55:]
gx = [r for r in rows if r[:2] == [want_m[0], "/grp/x"]]
ok(head == "Datasets by read+write time (top 5 of 9; 2 processes, read p95* is the largest "
   "per-process read p95):" and gx == [want_m],
   "multi: the report merges the rows of the same (file, dataset) across processes",
   (head, rows))
sys.exit(1 if fails else 0)
EOF
T_FAILS=$((T_FAILS + $?))
finish
