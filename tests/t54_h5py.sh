#!/usr/bin/env bash
# HDF5 through Debian's h5py (/usr/bin/python3, libhdf5 in an RTLD_LOCAL scope: a naive
# wrapper finds no real H5Dread there and the interpreter dies, FIELD_NOTES): known
# datasets written and read (tests/hdf5/h5py_known.py) in the main process and in a fork
# Pool(2), each process checked in its own trace and stats: exact H5Dread calls, bytes and
# selections per dataset, the datasets opened with H5Oopen, POSIX reads beneath H5Dread,
# the workers' results. Then samples/h5py_pipeline.py runs under the agent.
source "$(dirname "$0")/lib/common.sh"

$PY -c 'import h5py, numpy' 2>/dev/null ||
    skip "no h5py or numpy for $PY (Debian python3-h5py, python3-numpy: make deps)"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }

# the files named relatively: the agent records absolute paths
mkdir -p "$TMP/run"
(cd "$TMP/run" && traced "$TMP/out" $PY "$ROOT/tests/hdf5/h5py_known.py" work >"$TMP/py.out" 2>"$TMP/py.err")
rc=$?
check "h5py_known.py exits 0 under the agent" test $rc = 0
[ $rc = 0 ] || sed 's/^/# /' "$TMP/py.err" | tail -5
check "nothing on stderr" test ! -s "$TMP/py.err"

$PY - "$TMP/out" "$ROOT" "$TMP/run/work" "$TMP/py.out" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
from tacheck import check
outdir, W, pyout = sys.argv[1], sys.argv[3], open(sys.argv[4]).read().splitlines()
P = [os.path.join(W, f"data{i}.h5") for i in range(2)]
same = lambda a, b: a == b or (a and os.path.realpath(a) == os.path.realpath(b))
check("main process reads correct", "main reads correct" in pyout, pyout)
check("both workers' results correct",
      sum(1 for l in pyout if l.startswith("task ") and l.endswith(": correct")) == 2, pyout)
tl = [l for l in pyout if l.startswith("task pids")]
tpids = [int(x) for x in tl[0].split()[2:]] if tl else []
# each task sleeps so that the other goes to the other worker; on a loaded machine one
# worker may still take both: the checks below follow the tasks to whichever ran them
ml = [int(l.split()[2]) for l in pyout if l.startswith("main pid")]
check("the 2 tasks ran in pool workers, not in the main process",
      len(tpids) == 2 and len(ml) == 1 and ml[0] not in tpids, [tpids, ml])
if len(set(tpids)) != 2:
    print(f"# both tasks ran in worker {tpids[0]}")
procs = tacheck.files(outdir)
main = [p for p in procs if p in ml]
check("one trace per process: the main one and the 2 workers",
      len(main) == 1 and len(procs) == 3 and all(p in procs for p in tpids), [sorted(procs), tpids, ml])
if not main or not all(p in procs for p in tpids):
    tacheck.finish()
main = main[0]
MiB = 1 << 20
READS = {"read", "pread", "pread64", "readv", "preadv", "preadv64", "preadv2", "preadv64v2",
         "__read_chk", "__pread_chk", "__pread64_chk"}
A = lambda e: e.get("args", {})
def ns(e): return round(e["ts"] * 1000), round(e["ts"] * 1000) + round(e["dur"] * 1000)
def inside(e, p):
    a, b = ns(e); c, d = ns(p)
    return e["tid"] == p["tid"] and c <= a and b <= d

# per process: {(file index, dataset): [(selection, bytes), ...]} of H5Dread, and of H5Dwrite
X, Y = "/x", "/grp/y"
want = {
    main: {"read": {(0, X): [("[262144]", MiB), ("[2000]", 8000)],
                    (0, Y): [("all", 512 * 1024), ("[10,100]", 8000)]},
           "write": {(0, X): [("all", MiB)], (1, X): [("all", MiB)],
                     (0, Y): [("all", 512 * 1024)], (1, Y): [("all", 512 * 1024)]},
           "H5Oopen": {(0, X): 1, (0, Y): 1}},
}
for pid in procs:
    if pid != main:
        want[pid] = {"read": {}, "write": {}, "H5Oopen": {}}
for i, pid in enumerate(tpids):
    want[pid]["read"].update({(i, X): [("[262144]", MiB)], (i, Y): [("[256,128]", 256 * 1024)]})
    want[pid]["H5Oopen"].update({(i, X): 1, (i, Y): 1})
for pid, w in want.items():
    who = "main" if pid == main else f"worker {pid}"
    pf = procs[pid][0]
    try:
        evs = tacheck.load_trace(pf["trace"], require_closed=True)
    except Exception as e:
        check(f"{who}: trace whole and closed", False, [e]); continue
    hx = tacheck.spans(evs, "hdf5")
    def fi(e):
        for k, p in enumerate(P):
            if same(A(e).get("file"), p):
                return k
        return A(e).get("file")
    def table(name):
        t = {}
        for e in hx:
            if e["name"] == name:
                t.setdefault((fi(e), A(e).get("dataset")), []).append((A(e).get("selection"), A(e).get("bytes")))
        return {k: sorted(v) for k, v in t.items()}
    exp_r = {k: sorted(v) for k, v in w["read"].items()}
    exp_w = {k: sorted(v) for k, v in w["write"].items()}
    check(f"{who}: H5Dread calls per (file, dataset) with exact selection and bytes", table("H5Dread") == exp_r,
          ["want %s" % exp_r, "got  %s" % table("H5Dread")])
    check(f"{who}: H5Dwrite calls per (file, dataset) exact", table("H5Dwrite") == exp_w,
          ["want %s" % exp_w, "got  %s" % table("H5Dwrite")])
    oo = {}
    for e in hx:
        if e["name"] == "H5Oopen":
            oo[(fi(e), A(e).get("dataset"))] = oo.get((fi(e), A(e).get("dataset")), 0) + 1
    check(f"{who}: the datasets opened with H5Oopen, each naming its dataset", oo == w["H5Oopen"],
          ["want %s" % w["H5Oopen"], "got  %s" % oo])
    if pid == main:
        cr = sorted((fi(e), A(e).get("dataset")) for e in hx if e["name"] == "H5Dcreate2")
        check("main: H5Fcreate x2, H5Fopen x1, H5Gcreate2 x2 naming /grp, H5Dcreate2 of each dataset",
              sum(e["name"] == "H5Fcreate" for e in hx) == 2 and sum(e["name"] == "H5Fopen" for e in hx) == 1
              and sorted(A(e).get("object") for e in hx if e["name"] == "H5Gcreate2") == ["/grp"] * 2
              and cr == sorted([(0, X), (1, X), (0, Y), (1, Y)]), [cr])
    else:
        mine = [i for i, p in enumerate(tpids) if p == pid]
        check(f"{who}: one H5Fopen of the file of each of its tasks {mine}, nothing written",
              sorted(fi(e) for e in hx if e["name"] == "H5Fopen") == mine
              and not [e for e in hx if e["name"] in ("H5Fcreate", "H5Dwrite", "H5Dcreate2")])
    if not w["read"]:
        continue  # a worker that ran no task (the other took both)
    check(f"{who}: no failed HDF5 call", not [e for e in hx if A(e).get("error")],
          [e for e in hx if A(e).get("error")][:3])
    # nesting: the 1 MiB contiguous read of x is preads of at least 1 MiB beneath it
    px = [e for e in tacheck.spans(evs) if e["cat"] == "posix" and e["name"] in READS]
    rx = [e for e in hx if e["name"] == "H5Dread" and A(e).get("selection") == "[262144]"]
    bx = [sum(A(p).get("bytes", 0) for p in px if inside(p, e)) for e in rx]
    nx = sum(1 for v in w["read"].values() for sel, _ in v if sel == "[262144]")
    check(f"{who}: x[:] has file reads beneath it of at least its 1 MiB ({bx})",
          len(rx) == nx and all(b >= MiB for b in bx))
    first = {}
    for e in sorted((e for e in hx if e["name"] == "H5Dread"), key=lambda e: e["ts"]):
        first.setdefault((fi(e), A(e).get("dataset")), e)
    nopr = [k for k, e in first.items() if not [p for p in px if inside(p, e)]]
    check(f"{who}: the first H5Dread of each dataset (chunked, gzip too) has file reads beneath it",
          first and not nopr, [nopr])
    check(f"{who}: the trace nests strictly", not tacheck.check_nesting(evs), tacheck.check_nesting(evs)[:3])
    if not pf["stats"]:
        check(f"{who}: stats.json written", False); continue
    s = tacheck.load_stats(pf["stats"])
    node = [t for t in s["tree"] if t["cat"] == "hdf5" and t["name"] == "H5Dread"]
    nr = sum(len(v) for v in w["read"].values())
    under = sum(1 for e in hx if e["name"] == "H5Dread" for p in px if inside(p, e))
    kids = sum(c["count"] for c in node[0]["children"] if c["cat"] == "posix" and c["name"] in READS) if node else -1
    check(f"{who}: stats tree: H5Dread (x{nr}) with its {under} file reads as children",
          len(node) == 1 and node[0]["count"] == nr and kids == under, [node[:1]])
    rb = sum(b for v in w["read"].values() for _, b in v)
    L = s.get("layers", {}).get("logical", {})
    check(f"{who}: stats layers.logical.bytes_read == the H5Dread bytes ({rb})", L.get("bytes_read") == rb, [L])
    rows = {}
    for r in s.get("datasets") or []:
        k = (next((j for j, p in enumerate(P) if same(r.get("file"), p)), r.get("file")), r.get("dataset"))
        rows[k] = r
    for k, v in w["read"].items():
        r = rows.get(k, {})
        wr = w["write"].get(k, [])
        # opens: its H5Oopen in every process, and its H5Dcreate2 in main (2 there, 1 in a
        # worker); the trace's OPEN spans naming it must say the same (closes not counted)
        nop = w["H5Oopen"].get(k, 0) + (pid == main)
        top = sum(1 for e in hx if e["name"] in ("H5Dcreate2", "H5Dopen2", "H5Oopen")
                  and (fi(e), A(e).get("dataset")) == k)
        exp = (len(v), sum(b for _, b in v), len(wr), sum(b for _, b in wr), nop)
        g = tuple(r.get(x) for x in ("reads", "bytes_read", "writes", "bytes_written", "opens"))
        check(f"{who}: datasets row data{k[0]}.h5 {k[1]}: reads, bytes_read, writes, bytes_written, opens {exp}",
              g == exp and top == nop, [g, top, sorted(rows)])
tacheck.finish()
EOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))

# ---- the h5py sample -------------------------------------------------------------------
mkdir -p "$TMP/sample"
(cd "$TMP/sample" && timeout 120 env TRACEAGENT_OUTPUT="$TMP/sample/out" LD_PRELOAD="$AGENT" \
    $PY "$ROOT/samples/h5py_pipeline.py" "$TMP/sample/data" >"$TMP/sample.out" 2>&1)
rc=$?
check "samples/h5py_pipeline.py exits 0 under the agent ($(tail -1 "$TMP/sample.out"))" test $rc = 0
$PY - "$TMP/sample/out" "$ROOT" <<'EOF'
import os, re, sys
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
procs = tacheck.files(sys.argv[1])
tacheck.check(f"sample: the main process and its 2 pool workers traced ({len(procs)})", len(procs) >= 3)
# the sample's defaults: 4 files of 4096 rows read BATCH = 256 rows at a time, each batch
# one "hdf5 to numpy" range holding an H5Dread of features and one of labels
src = open(os.path.join(sys.argv[2], "samples/h5py_pipeline.py")).read()
BATCH = int(re.search(r"^BATCH = (\d+)$", src, re.M).group(1))
NB = 4 * (4096 // BATCH)
def ns(e): return round(e["ts"] * 1000), round(e["ts"] * 1000) + round(e["dur"] * 1000)
rd = mk = nm = 0
bad, held = [], []
for pid, [pf] in procs.items():
    evs = tacheck.load_trace(pf["trace"])
    r = tacheck.spans(evs, "hdf5", "H5Dread")
    rd += len(r)
    bad += [e for e in r if not e["args"].get("dataset") or not e["args"].get("file", "").startswith("/")]
    m = tacheck.spans(evs, "marker")
    mk += len(m)
    for c in (e for e in m if e["name"] == "hdf5 to numpy"):
        nm += 1
        a, b = ns(c)
        ins = sorted(e["args"].get("dataset") for e in r if e["pid"] == c["pid"]
                     and e["tid"] == c["tid"] and a <= ns(e)[0] and ns(e)[1] <= b)
        if ins != ["/features", "/labels"]:
            held.append((pid, c["ts"], ins))
tacheck.check(f"sample: H5Dread spans ({rd}: 4 files x {NB // 4} batches x 2 datasets), each with its file and dataset",
              rd == 2 * NB and not bad, bad[:3])
tacheck.check(f"sample: traceagent.range markers ({mk})", mk > 0)
tacheck.check(f"sample: {nm} \"hdf5 to numpy\" ranges ({NB}), each holding the H5Dread of /features "
              "and of /labels made in it (same pid and tid, within its span)", nm == NB and not held, held[:3])
tacheck.finish()
EOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
