#!/usr/bin/env bash
# HDF5 from C (Debian's libhdf5): known datasets and selections written and read back
# (tests/hdf5/h5known.c), checked against the event contract of the hdf5 family: exact
# calls, bytes and selections per dataset, the POSIX reads nested beneath each H5Dread,
# each byte counted once per layer, the stats `datasets` table, the report's datasets
# section; the program's output unchanged by the agent. Then the C sample
# (samples/hdf5_pipeline.c) builds and runs under the agent.
source "$(dirname "$0")/lib/common.sh"

H5INC=/usr/include/hdf5/serial
H5LIB=/usr/lib/x86_64-linux-gnu/hdf5/serial
[ -f "$H5INC/hdf5.h" ] && [ -e "$H5LIB/libhdf5.so" ] ||
    skip "no Debian libhdf5-dev ($H5INC/hdf5.h, $H5LIB/libhdf5.so): make deps installs it"
# t54 runs the hdf5 family under ASan (through h5py); this C program does not: with only
# libasan preloaded, no agent, it can hang at exit in libp11-kit's destructor (libhdf5 ->
# libcurl -> gnutls -> p11-kit), freelocale() waiting forever on glibc's
# __libc_setlocale_lock in a single-threaded process (commit message: how often).
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): a libhdf5 C program under the preloaded ASan runtime, without the agent, can hang at exit in libp11-kit's destructor (freelocale on glibc's setlocale lock); t54 covers the hdf5 family under ASan; the plain suite runs it"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }
H5FLAGS=(-I"$H5INC" -L"$H5LIB" -lhdf5)
ta_cc "$TBUILD/h5known" "$ROOT/tests/hdf5/h5known.c" "${H5FLAGS[@]}"

# The same program with and without the agent, each in its own directory, the file named
# relatively (the agent must still record its absolute path).
mkdir -p "$TMP/plain" "$TMP/traced"
(cd "$TMP/plain" && "$TBUILD/h5known" known.h5 >out 2>err; echo $? >rc)
(cd "$TMP/traced" && traced "$TMP/traced/out.d" "$TBUILD/h5known" known.h5 >out 2>err; echo $? >rc)
check "h5known exits 0 without the agent" test "$(cat "$TMP/plain/rc")" = 0
check "h5known exits 0 under the agent" test "$(cat "$TMP/traced/rc")" = 0
check "output identical with and without the agent" cmp -s "$TMP/plain/out" "$TMP/traced/out"
check "stderr identical with and without the agent" cmp -s "$TMP/plain/err" "$TMP/traced/err"
"$CLI" report "$TMP/traced/out.d" >"$TMP/report.txt" 2>&1 ||
    fail "traceagent report exits 0 ($(head -3 "$TMP/report.txt"))"

$PY - "$TMP/traced/out.d" "$ROOT" "$TMP/traced/known.h5" "$TMP/report.txt" <<'EOF'
import os, re, sys
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
from tacheck import check
outdir, h5, report = sys.argv[1], sys.argv[3], sys.argv[4]
H5 = {h5, os.path.realpath(h5)}
procs = tacheck.files(outdir)
check("one process traced", len(procs) == 1, [procs])
(pid, [pf]), = procs.items()
evs = tacheck.load_trace(pf["trace"], require_closed=True)
s = tacheck.load_stats(pf["stats"])
hx = tacheck.spans(evs, "hdf5")
A = lambda e: e.get("args", {})
names = {}
for e in hx:
    names.setdefault(e["name"], []).append(e)
def n(name): return len(names.get(name, []))
check("hdf5 spans in the trace", len(hx) > 0, ["no cat hdf5 span; names seen: %s" % sorted({e["name"] for e in tacheck.spans(evs)})])

# ---- the calls the program made, each once per call ---------------------------------
want = {"H5Fcreate": 1, "H5Fopen": 1, "H5Fclose": 2, "H5Gcreate2": 2, "H5Gopen2": 2,
        "H5Gclose": 4, "H5Dcreate2": 4, "H5Dopen2": 5, "H5Dclose": 8, "H5Dwrite": 5,
        "H5Dread": 9, "H5Acreate2": 2, "H5Awrite": 2, "H5Aopen": 2, "H5Aread": 2, "H5Aclose": 4}
bad = [(k, v, n(k)) for k, v in want.items() if n(k) != v]
check("exact count of each HDF5 call (%d kinds)" % len(want), not bad, ["(name, want, got) %s" % (b,) for b in bad])
it = names.get("H5Literate", []) + names.get("H5Literate2", [])
check("one H5Literate span (H5Literate2 on 1.12+) naming /g1",
      len(it) == 1 and A(it[0]).get("object") == "/g1", [it])
check("every hdf5 span carries `ret`", all("ret" in A(e) for e in hx), [e for e in hx if "ret" not in A(e)][:3])
nofile = [e for e in hx if A(e).get("file") not in H5]
check("every hdf5 span names the file by its absolute path", not nofile,
      ["want %s" % h5] + nofile[:3])
fx = [e for e in hx if e["name"].startswith("H5F")]
check("H5F* spans carry `file` only (no dataset, object)",
      fx and all("dataset" not in A(e) and "object" not in A(e) for e in fx), fx[:3])
fo = names.get("H5Fopen", []) + names.get("H5Fcreate", [])
check("H5Fopen/H5Fcreate return a valid hid (ret > 0)", fo and all(A(e).get("ret", -1) > 0 for e in fo), fo)

# ---- errors: one failing H5Dopen2 -----------------------------------------------------
errs = [e for e in hx if A(e).get("error") is True]
check("the one failing call (H5Dopen2 of a missing dataset) has error:true and ret < 0",
      len(errs) == 1 and errs[0]["name"] == "H5Dopen2" and A(errs[0]).get("ret", 0) < 0, errs)
check("no `error` key on calls that succeeded",
      all("error" not in A(e) or A(e)["error"] is True for e in hx) and
      all(A(e).get("ret", 0) >= 0 for e in hx if "error" not in A(e)),
      [e for e in hx if "error" not in A(e) and A(e).get("ret", 0) < 0][:3])

# ---- per dataset: reads, writes, bytes, selections ------------------------------------
MiB = 1 << 20
D = {  # dataset: (writes [(shape, bytes)], reads [(shape, bytes)])
    "/g1/contig_i32": ([("all", 4 * MiB)], [("all", 4 * MiB), ("[5000]", 20000)]),
    "/g1/contig_f64_2d": ([("[256,512]", MiB)] * 2, [("[100,200]", 160000), ("[1,512]", 4096)]),
    "/g2/chunk_i32_2d": ([("all", 256 * 1024)],
                         [("all", 256 * 1024), ("all", 512 * 1024), ("[64,128]", 65536)]),
    "/g2/deflate_f64": ([("all", 512 * 1024)], [("all", 512 * 1024), ("points:10", 80)]),
}
def got(name, ds):
    return sorted((A(e).get("selection"), A(e).get("bytes")) for e in names.get(name, [])
                  if A(e).get("dataset") == ds)
for ds, (w, r) in D.items():
    check(f"{ds}: H5Dwrite calls with exact (selection, bytes)", got("H5Dwrite", ds) == sorted(w),
          ["want %s" % sorted(w), "got  %s" % got("H5Dwrite", ds)])
    check(f"{ds}: H5Dread calls with exact (selection, bytes)", got("H5Dread", ds) == sorted(r),
          ["want %s" % sorted(r), "got  %s" % got("H5Dread", ds)])
    for op_, k in (("H5Dcreate2", 1), ("H5Dopen2", 1), ("H5Dclose", 2)):
        m = [e for e in names.get(op_, []) if A(e).get("dataset") == ds]
        check(f"{ds}: {k} {op_} naming it", len(m) == k, [len(m)])
dsets = {A(e).get("dataset") for e in hx if A(e).get("dataset")}
check("`dataset` only names datasets (full paths)", dsets <= set(D) | {"/g2/no_such_dataset"},
      [sorted(dsets - set(D))])
gx = [e for e in hx if e["name"].startswith("H5G")]
check("H5G* spans: the group's full path under `object`, no `dataset`",
      sorted({A(e).get("object") for e in gx}) == ["/g1", "/g2"] and all("dataset" not in A(e) for e in gx),
      gx[:4])
# attributes: `object` is what the attribute is on, `attribute` its name
AT = {("/g1/contig_i32", "scale"): 32, ("/g1", "version"): 12}
for op_ in ("H5Awrite", "H5Aread"):
    g = sorted((A(e).get("object"), A(e).get("attribute"), A(e).get("bytes")) for e in names.get(op_, []))
    check(f"{op_}: object, attribute and bytes (all of the attribute)",
          g == sorted((o, a, b) for (o, a), b in AT.items()), [g])
for op_ in ("H5Acreate2", "H5Aopen", "H5Aclose"):
    g = sorted({(A(e).get("object"), A(e).get("attribute")) for e in names.get(op_, [])})
    check(f"{op_}: object and attribute, no dataset",
          g == sorted(AT) and all("dataset" not in A(e) for e in names.get(op_, [])), [g])
nob = [e for e in hx if "bytes" in A(e) and e["name"] not in
       ("H5Dread", "H5Dwrite", "H5Aread", "H5Awrite", "H5Dread_multi", "H5Dwrite_multi")]
check("`bytes` only on reads and writes", not nob, nob[:3])

# ---- nesting: POSIX I/O beneath the HDF5 spans ----------------------------------------
READS = {"read", "pread", "pread64", "readv", "preadv", "preadv64", "preadv2", "preadv64v2",
         "__read_chk", "__pread_chk", "__pread64_chk", "fread", "fread_unlocked", "__fread_chk",
         "__fread_unlocked_chk", "fgets", "fgets_unlocked", "__fgets_chk", "__fgets_unlocked_chk",
         "getline", "getdelim", "__getdelim"}
px = [e for e in tacheck.spans(evs) if e["cat"] in ("posix", "stdio")]
def ns(e): return round(e["ts"] * 1000), round(e["ts"] * 1000) + round(e["dur"] * 1000)
def inside(e, p):
    a, b = ns(e); c, d = ns(p)
    return e["tid"] == p["tid"] and e["pid"] == p["pid"] and c <= a and b <= d
def beneath(p): return [e for e in px if e["name"] in READS and inside(e, p)]
check("the trace nests strictly", not tacheck.check_nesting(evs), tacheck.check_nesting(evs)[:3])
on_file = [e for e in px if A(e).get("path") in H5]
outside = [e for e in on_file if not any(inside(e, p) for p in hx)]
check("every POSIX call on the HDF5 file lies inside an HDF5 span (%d calls)" % len(on_file),
      on_file and not outside, outside[:3])
rd = names.get("H5Dread", [])
contig = [e for e in rd if A(e).get("dataset", "").startswith("/g1/")]
short = [(A(e).get("dataset"), A(e).get("selection"), A(e).get("bytes"),
          sum(A(x).get("bytes", 0) for x in beneath(e))) for e in contig
         if sum(A(x).get("bytes", 0) for x in beneath(e)) < A(e).get("bytes", 1 << 62)]
check("each contiguous H5Dread (%d) has file reads beneath it of at least its bytes" % len(contig),
      len(contig) == 4 and not short, ["(dataset, selection, bytes, file bytes beneath) %s" % (x,) for x in short])
first = {}
for e in sorted(rd, key=lambda e: e["ts"]):
    first.setdefault(A(e).get("dataset"), e)
nopr = [d for d, e in first.items() if not beneath(e)]
check("the first H5Dread of each dataset (chunked and deflated too) has file reads beneath it",
      len(first) == 4 and not nopr, nopr)
# the stats tree: those reads are children of the H5Dread node
under = sum(len(beneath(e)) for e in rd)
node = [t for t in s["tree"] if t["cat"] == "hdf5" and t["name"] == "H5Dread"]
kids = [c for c in node[0]["children"] if c["cat"] in ("posix", "stdio") and c["name"] in READS] if node else []
check("stats tree: H5Dread at the top with the file reads as its children (%d in the trace)" % under,
      len(node) == 1 and node[0]["count"] == 9 and sum(c["count"] for c in kids) == under and under > 0,
      [node and {k: node[0][k] for k in ("count", "total_ns")}, [(c["name"], c["count"]) for c in kids]])
top_reads = [t for t in s["tree"] if t["cat"] == "posix" and t["name"] in READS]
# ---- each byte once per layer -------------------------------------------------------
lg_read = sum(A(e).get("bytes", 0) for e in names.get("H5Dread", []) + names.get("H5Aread", []))
lg_write = sum(A(e).get("bytes", 0) for e in names.get("H5Dwrite", []) + names.get("H5Awrite", []))
want_r = sum(b for _, (w, r) in D.items() for _, b in r) + 44
want_w = sum(b for _, (w, r) in D.items() for _, b in w) + 44
check(f"trace: logical bytes read {lg_read} == {want_r}, written {lg_write} == {want_w}",
      lg_read == want_r and lg_write == want_w)
L = s.get("layers", {})
check("stats layers.logical: bytes_read and bytes_written are the HDF5 bytes",
      L.get("logical", {}).get("bytes_read") == want_r and L.get("logical", {}).get("bytes_written") == want_w,
      [L.get("logical")])
fr = sum(A(e).get("bytes", 0) for e in px if e["name"] in READS)
check(f"stats layers.file.bytes_read == the file reads' bytes in the trace ({fr})",
      L.get("file", {}).get("bytes_read") == fr, [L.get("file")])
check("stats layers: logical and file counted apart (file bytes_read is not logical + file)",
      L.get("file", {}).get("bytes_read") != fr + want_r)
row = [r for r in s["files"] if r["path"] in H5]
fbr = sum(A(e).get("bytes", 0) for e in on_file if e["name"] in READS)
check("files[]: one row for the HDF5 file", len(row) == 1, [[r["path"] for r in s["files"]]])
if row:
    r = row[0]
    check(f"files[]: its bytes_read are the file layer's alone ({r['bytes_read']} == {fbr})",
          r["bytes_read"] == fbr, [r])
    lo = r.get("logical", {})
    check("files[]: its `logical` part holds the HDF5 reads and writes",
          lo.get("reads") == 11 and lo.get("writes") == 7 and lo.get("bytes_read") == want_r
          and lo.get("bytes_written") == want_w, [lo])
op = tacheck.op(s, "hdf5", "H5Dread")
check("stats ops: H5Dread count 9, bytes the sum of the dataset reads",
      op and op["count"] == 9 and op.get("bytes") == want_r - 44, [op])
op = tacheck.op(s, "hdf5", "H5Dopen2")
check("stats ops: H5Dopen2 counts its 1 error", op and op["errors"] == 1, [op])

# ---- the datasets table ---------------------------------------------------------------
rows = s.get("datasets")
check("stats.json has a `datasets` table", isinstance(rows, list), [sorted(s)])
rows = rows or []
by = {(r.get("file"), r.get("dataset")): r for r in rows}
for ds, (w, rr) in D.items():
    r = [by[k] for k in by if k[1] == ds and k[0] in H5]
    if not check(f"datasets: a row for ({h5}, {ds})", len(r) == 1, [sorted(by)]):
        continue
    r = r[0]
    exp = dict(reads=len(rr), writes=len(w), bytes_read=sum(b for _, b in rr),
               bytes_written=sum(b for _, b in w), count=len(rr) + len(w), errors=0)
    bad = {k: (v, r.get(k)) for k, v in exp.items() if r.get(k) != v}
    check(f"datasets {ds}: reads, writes, bytes each way, count, errors exact", not bad,
          ["(want, got) %s" % bad])
    tr = [e for e in rd + names.get("H5Dwrite", []) if A(e).get("dataset") == ds]
    tns = sorted(round(e["dur"] * 1000) for e in tr)
    rns = sum(round(e["dur"] * 1000) for e in tr if e["name"] == "H5Dread")
    check(f"datasets {ds}: read_ns, total_ns, max_ns match the trace",
          abs(r.get("read_ns", -1) - rns) <= len(tr) and abs(r.get("total_ns", -1) - sum(tns)) <= len(tr)
          and abs(r.get("max_ns", -1) - tns[-1]) <= 1
          and r.get("total_ns") == r.get("read_ns", 0) + r.get("write_ns", 0),
          [{k: r.get(k) for k in ("read_ns", "write_ns", "total_ns", "max_ns")}, (rns, sum(tns), tns[-1])])
    opened = [e for n in ("H5Dcreate2", "H5Dopen2", "H5Oopen") for e in names.get(n, [])
              if A(e).get("dataset") == ds]
    check(f"datasets {ds}: opens counts its H5Dcreate2 and H5Dopen2 ({len(opened)}), not its closes",
          len(opened) >= 2 and r.get("opens") == len(opened), [r.get("opens")])
    sel = {}
    for shape, b in w + rr:
        c = sel.setdefault(shape, [0, 0]); c[0] += 1; c[1] += b
    gsel = {x.get("shape"): [x.get("count"), x.get("bytes")] for x in r.get("selections", [])}
    check(f"datasets {ds}: selections seen, with counts and bytes", gsel == sel and r.get("selections_other") == 0,
          ["want %s" % sel, "got  %s" % r.get("selections"), "other %s" % r.get("selections_other")])
    cnts = [x.get("count") for x in r.get("selections", [])]
    check(f"datasets {ds}: selections most frequent first", cnts == sorted(cnts, reverse=True), [cnts])
extra = [r for r in rows if r.get("dataset") not in D and (r.get("reads") or r.get("writes"))]
check("datasets: no row for anything but the 4 datasets' reads and writes", not extra, extra[:3])
tot = [r.get("total_ns", 0) for r in rows]
check("datasets: rows by total time descending", tot == sorted(tot, reverse=True), [tot])

# ---- the report -----------------------------------------------------------------------
text = open(report).read()
m = re.search(r"(?im)^datasets\b.*$", text)
sec = text[m.start():] if m else ""
check("traceagent report: a datasets section listing the datasets",
      m is not None and "/g1/contig_i32" in sec and "/g2/deflate_f64" in sec, text.splitlines()[-25:])
tacheck.finish()
EOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))

# ---- the C sample ------------------------------------------------------------------------
if ta_cc "$TBUILD/hdf5_pipeline" "$ROOT/samples/hdf5_pipeline.c" "${H5FLAGS[@]}"; then
    traced "$TMP/sample" "$TBUILD/hdf5_pipeline" "$TMP/shards" 4 >"$TMP/sample.out" 2>&1
    rc=$?
    check "samples/hdf5_pipeline.c exits 0 under the agent ($(tail -1 "$TMP/sample.out"))" test $rc = 0
    $PY - "$TMP/sample" "$ROOT" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
(pid, [pf]), = tacheck.files(sys.argv[1]).items()
evs = tacheck.load_trace(pf["trace"], require_closed=True)
rd = tacheck.spans(evs, "hdf5", "H5Dread")
# 4 shards x 16 chunks of 64 rows x 2 datasets
tacheck.check("sample: 128 H5Dread spans, each with its file and dataset (%d)" % len(rd),
              len(rd) == 128 and all(e["args"].get("dataset") and e["args"].get("file", "").startswith("/") for e in rd))
mk = {e["name"] for e in tacheck.spans(evs, "marker")}
tacheck.check("sample: the phases' markers (write shards, read shards)",
              {"write shards", "read shards"} <= mk, [sorted(mk)])
tacheck.finish()
EOF
    [ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
fi
finish
