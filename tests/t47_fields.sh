#!/usr/bin/env bash
# Exporters driven by the fields ops declare (include/traceagent_plugin.h): both exporters
# fed hand-made events by tests/stats/fields.c (built with the exporters, agent/fields.c and
# stubs of the core): every field type and a continued payload in the trace's args, the
# built-in file ops' args as before, a named track, flows from launches to kernels, bytes
# per layer (a logical read over two file reads counted once at each), and kernels that
# complete before and after the marker that launched them joining its node in stats.
source "$(dirname "$0")/lib/common.sh"

BIN="$TBUILD/stats_fields"
if gcc -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter -I"$ROOT/include" \
        -I"$ROOT/agent" -I"$ROOT/exporters" -o "$BIN" "$ROOT/tests/stats/fields.c" \
        "$ROOT/exporters/stats.c" "$ROOT/exporters/stats_gpu.c" "$ROOT/exporters/trace_json.c" "$ROOT/exporters/jsonw.c" \
        "$ROOT/agent/fields.c" -lm; then
    ok "harness: builds with the exporters and agent/fields.c"
else
    fail "harness: builds with the exporters and agent/fields.c"
    finish
fi
"$BIN" "$TMP" >"$TMP/facts.json" 2>"$TMP/err"
check "harness: runs and writes both files" test -s "$TMP/h.trace.json" -a -s "$TMP/h.stats.json"
check "harness: nothing on stderr" test ! -s "$TMP/err"

$PY - "$ROOT" "$TMP" <<'EOF'
import json, sys
ROOT, d = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
fails = 0
def ok(c, desc, detail=None):
    global fails
    print(("ok - " if c else "not ok - ") + desc + ("" if c or detail is None else f"  [{detail}]"))
    fails += not c

facts = json.load(open(d + "/facts.json"))
pid, ttid = facts["pid"], facts["track_tid"]
text = open(d + "/h.trace.json").read()
try:
    evs = tacheck.load_trace(d + "/h.trace.json", require_closed=True)
    ok(True, "trace: whole JSON lines, closed, cats from the CONTRACT list")
except Exception as e:
    ok(False, "trace: whole JSON lines, closed, cats from the CONTRACT list", e)
    evs = [json.loads(l.rstrip(",")) for l in text.splitlines() if l.startswith("{")]

def x(name):
    return [e for e in evs if e["ph"] == "X" and e["name"] == name]
def keys(e):
    return list(e.get("args", {}))

# built-in file ops: the agent's field set, in the order the trace always had
ok('"args":{"fd":3,"path":"/data/f.h5","bytes":4096,"offset":0,"ret":4096}}' in text,
   "trace: pread64's args, byte for byte as before")
w = x("write")[0]
ok(keys(w) == ["fd", "path", "ret", "errno"] and w["args"]["errno"] == 28 and w["args"]["ret"] == -1,
   "trace: a failed write: fd, path, ret -1, errno 28", w.get("args"))
r = x("rename")[0]
ok(keys(r) == ["fd", "path", "path2", "ret"] and r["args"]["path2"] == "/data/b",
   "trace: rename's second path is path2", r.get("args"))
c = x("copy_file_range")[0]
ok(keys(c) == ["fd", "path", "path_out", "bytes", "ret"] and c["args"]["path_out"] == "/data/dst",
   "trace: a copy's destination is path_out", c.get("args"))
ok("args" not in x("load")[0] and "args" not in x("step")[0], "trace: markers have no args")
h = x("H5Dread")[0]
ok(h.get("args") == {"file": "/data/f.h5", "dataset": "/grp/dset", "bytes": 8192}
   and keys(h) == ["file", "dataset", "bytes"], "trace: a declared op's fields in its order",
   h.get("args"))

# every field type, in the record and in the continued payload
k = [e for e in x("vecAdd") if e["args"]["correlation"] == 7]
want = {"correlation": 7, "device": 0, "stream": 7, "delta": -5, "regs": 32, "smem": -3,
        "grid": [128, 2, 1], "block": [256, 1, 1], "occupancy": 0.75, "module": "mod.cubin",
        "src": "kernel.cu", "late": True, "note": "hello"}
ok(len(k) == 1 and k[0]["args"] == want and keys(k[0]) == list(want),
   "trace: I64 U64 I32 U32 U16 F64 STR TRUE DIM3 TEXT, payload past the record, in order",
   k and k[0].get("args"))
ok(all("missing" not in e["args"] for e in x("vecAdd")),
   "trace: a field past the payload's end is left out")
ctr = [e for e in evs if e["ph"] == "C"]
ok(len(ctr) == 1 and ctr[0]["args"] == {"value": 12} and ctr[0]["cat"] == "gpu",
   "trace: a plug-in counter's value from its COUNTER field, cat of an added category", ctr)

# the named track
meta = [e for e in evs if e["ph"] == "M" and e["name"] == "thread_name" and e["tid"] == ttid]
ok(len(meta) == 1 and meta[0]["args"]["name"] == "GPU 0 stream 7" and meta[0]["cat"] == "agent",
   "trace: the track's name is a thread_name for its tid", meta)
ok(all(e["tid"] == ttid for e in x("vecAdd") + x("tpMemcpyHtoD")) and x("vecAdd"),
   "trace: the track's events are on its tid")

# flows: s in the launch, f (bp e) in the kernel, one id per correlation, pid mixed in
fl = [e for e in evs if e["ph"] in "sf"]
ok(len(fl) == 5, "trace: one flow start and one end per launched kernel (none for id 0), "
   "one start at an instant", len(fl))
big = [e for e in fl if e["ph"] == "s" and e["tid"] == 101]
ok(len(big) == 1 and int(big[0]["id"], 16) == 0xfedcba9876543210 ^ (pid << 40),
   "trace: a flow id of 64 bits is kept whole", big)
for corr in (7, 8):
    fid = hex(corr ^ (pid << 40))
    s = [e for e in fl if e["ph"] == "s" and int(e["id"], 16) == int(fid, 16)]
    f = [e for e in fl if e["ph"] == "f" and int(e["id"], 16) == int(fid, 16)]
    la = [e for e in x("tpLaunch") if e["args"]["correlation"] == corr][0]
    kk = [e for e in x("vecAdd") if e["args"]["correlation"] == corr][0]
    good = (len(s) == 1 and len(f) == 1 and isinstance(s[0]["id"], str)
            and s[0]["cat"] == f[0]["cat"] == "agent" and s[0]["name"] == f[0]["name"]
            and s[0]["tid"] == la["tid"] and la["ts"] < s[0]["ts"] < la["ts"] + la["dur"]
            and f[0]["tid"] == ttid and f[0].get("bp") == "e"
            and kk["ts"] < f[0]["ts"] < kk["ts"] + kk["dur"] and "bp" not in s[0])
    ok(good, f"trace: flow {corr}: s inside its launch, f (bp e) inside its kernel, id {fid}",
       (s, f))

# stats
st = tacheck.load_stats(d + "/h.stats.json")
ok([t["tid"] for t in st["threads"]] == [100, 101],
   "stats: no thread row for the track", st["threads"])
ops = {(o["cat"], o["name"]): o for o in st["ops"]}
ok(ops.get(("gpu", "vecAdd"), {}).get("count") == 4,
   "stats: the kernels' ops row, in the added category", list(ops))
ok(ops.get(("posix", "write"), {}).get("errors") == 1 and
   ops.get(("hdf5", "H5Dread"), {}).get("bytes") == 8192, "stats: errors and bytes from roles")
ok(st["counters"] and st["counters"][0]["last"] == 12 and st["counters"][0]["cat"] == "gpu",
   "stats: a plug-in counter with an integer value", st["counters"])
files = {f["path"]: f for f in st["files"]}
f5 = files.get("/data/f.h5", {})
ok(f5.get("bytes_read") == 8192 and f5.get("reads") == 2,
   "stats: the file's bytes are the preads' (8192), not the preads' and H5Dread's", f5)
ok(f5.get("logical") == {"reads": 1, "writes": 0, "bytes_read": 8192, "bytes_written": 0,
                          "read_ns": facts["h5_ns"], "write_ns": 0},
   "stats: the logical read kept apart in the file's row", f5.get("logical"))
ok(all("logical" not in f for p, f in files.items() if p != "/data/f.h5"),
   "stats: no logical object where there was no logical I/O")
ok("/data/devfile" not in files, "stats: device work adds nothing to the files", list(files))
ok(files.get("/data/src", {}).get("bytes_read") == 1000 and
   files.get("/data/dst", {}).get("bytes_written") == 1000 and
   files.get("/data/out", {}).get("errors") == 1 and files.get("/data/a", {}).get("meta") == 1
   and "/data/b" not in files,
   "stats: copy (source read, PATH_OUT written), failed write, rename (path only)")
L = st.get("layers", {})
ok(L.get("file", {}).get("bytes_read") == 9192 and L.get("logical", {}).get("bytes_read") == 8192
   and L.get("device", {}).get("bytes_read") == 100 and L.get("device", {}).get("count") == 5,
   "stats: bytes per layer, each counted once", L)

def walk(nodes, path=()):
    for n in nodes:
        yield path + (n["name"],), n
        yield from walk(n["children"], path + (n["name"],))
tree = dict(walk(st["tree"]))
ok(tree.get(("load", "H5Dread", "pread64"), {}).get("count") == 2, "stats: load > H5Dread > pread64")
lt = tree.get(("step", "tpLaunch"), {})
dA, dB = facts["kA"][1], facts["kB"][1]
ok(lt.get("count") == 2 and lt.get("device_ns") == dA + dB and lt.get("device_count") == 2,
   "stats: kernels completed before and after their marker join the launch's node",
   lt)
nv = tree.get(("epoch", "never"), {})
ok(nv.get("count") == 0 and nv.get("device_ns") == facts["kC"] and tree[("epoch",)]["count"] == 0,
   "stats: a launching path that never completed is made, with count 0", nv)
dev = sorted(p for p, n in tree.items() if "device_ns" in n or "device_count" in n)
ok(dev == [("epoch", "never"), ("step", "tpLaunch")], "stats: device_ns only where nonzero", dev)
ok(not any(p[-1] in ("vecAdd", "tpMemcpyHtoD") for p in tree),
   "stats: work on a track is not in the depth tree", sorted(tree))
sys.exit(1 if fails else 0)
EOF
T_FAILS=$((T_FAILS + $?))
finish
