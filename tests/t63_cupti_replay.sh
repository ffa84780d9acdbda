#!/usr/bin/env bash
# The replay test of issue 16: the CUPTI module driven through a fake libcupti
# (tests/cupti/fakecupti.c) by a program that loads it as the CUDA driver does
# (tests/cupti/replay.c): API callbacks under markers, then activity buffers built with
# CUPTI's own record structs (overlapping kernels on two streams, copies both ways, a
# memset, three buffers completed out of order, one only at the exit's forced flush, a
# dropped-record count). What the trace and stats.json must show is computed here from what
# the program says it fed (FEED.json). The kernels table, per-phase GPU time and the `gpu`
# section are gpustats' (issue 16, statistics): checked when stats.json has them.
source "$(dirname "$0")/lib/common.sh"
MOD="$ROOT/build/lib/libtraceagent-cupti.so"
CUDA_INC=""
for d in "${CUDA_HOME:-}" /usr/local/cuda; do
    [ -n "$d" ] && [ -f "$d/include/cupti.h" ] && { CUDA_INC="$d/include"; break; }
done
[ -n "$CUDA_INC" ] || skip "no CUDA headers (cupti.h): the CUPTI module is not built"
[ -f "$MOD" ] || skip "$MOD not built (make cupti)"

FAKE="$TBUILD/fakecupti"
mkdir -p "$FAKE"
printf 'libcupti.so.13 { global: cupti*; fake_*; local: *; };\n' > "$FAKE/ver.map"
gcc -std=gnu11 -O1 -g -Wall -fPIC -shared -I"$CUDA_INC" -Wl,-soname,libcupti.so.13 \
    -Wl,--version-script="$FAKE/ver.map" -o "$FAKE/libcupti.so.13" "$ROOT/tests/cupti/fakecupti.c" ||
    { fail "compile the fake libcupti"; finish; }
ln -sf libcupti.so.13 "$FAKE/libcupti.so"
ta_cc "$TBUILD/cupti_replay" "$ROOT/tests/cupti/replay.c" -I"$CUDA_INC" -L"$FAKE" -lcupti \
    -Wl,-rpath,"$FAKE" -ldl

# replay NAME [fork] [env...]: the run's files in $TMP/NAME, stdout/err beside
replay() {
    local name=$1 mode=; shift
    [ "${1:-}" = fork ] && { mode=fork; shift; }
    mkdir -p "$TMP/$name"
    env FAKECUPTI_LOG="$TMP/$name.fake" LD_LIBRARY_PATH="$FAKE" "$@" \
        timeout 60 env TRACEAGENT_OUTPUT="$TMP/$name" LD_PRELOAD="$AGENT" \
        "$TBUILD/cupti_replay" "$MOD" "$TMP/$name.feed" $mode > "$TMP/$name.out" 2> "$TMP/$name.err"
    echo $? > "$TMP/$name.rc"
}
main_file() { ls "$TMP/$1"/cupti_replay-*."$2" 2>/dev/null | sort -t- -k2 -n | head -1; }

# ---- the whole replay, with a forked child ---------------------------------------------
replay full fork
check "replay ran to its end: status 0, subscribed, buffers registered ($(tr '\n' ' ' < "$TMP/full.out"))" \
    test "$(cat "$TMP/full.rc")" = 0 -a "$(grep -c 'subscribed 1 activity 1\|^done$' "$TMP/full.out")" = 2
check "the agent said nothing ($(head -c 300 "$TMP/full.err"))" test ! -s "$TMP/full.err"
check "timestamp callback registered before the kinds were enabled" \
    test "$(grep -n -m1 '^tscb' "$TMP/full.fake" | cut -d: -f1)" -lt "$(grep -n -m1 '^enable' "$TMP/full.fake" | cut -d: -f1)"
check "kernels, memcpy, memset, sync enabled, GRAPH_TRACE not (it hides graphs' kernels) ($(grep -c '^enable' "$TMP/full.fake") kinds)" \
    test "$(grep -c '^enable \(10\|1\|2\|38\)$' "$TMP/full.fake")-$(grep -c '^enable 51$' "$TMP/full.fake")" = 4-0
check "fork: the child exited 0 and never called CUPTI ($(grep -c '^child' "$TMP/full.fake") calls)" \
    test "$(grep -c 'child status 0' "$TMP/full.out")-$(grep -c '^child' "$TMP/full.fake")" = 1-0
check "fork: the flush before it not forced (e-fork below); forced ones at the reset and at exit" \
    test "$(grep -c '^flush 1 ' "$TMP/full.fake")" = 2
check "cudaDeviceReset: a forced flush at its exit" \
    test "$(grep -A1 '^reset exit' "$TMP/full.fake" | tail -1 | cut -d' ' -f1,2)" = "flush 1"
check "periodic flushes from the drainer ($(grep -c '^flush 0 ' "$TMP/full.fake"))" \
    test "$(grep -c '^flush 0 ' "$TMP/full.fake")" -ge 1
ctrace=$(ls "$TMP"/full/cupti_replay-*.trace.json | sort -t- -k2 -n | tail -1)
check "fork: the child's trace has its marker and no GPU or CUDA event" \
    $PY - "$ctrace" <<'PY'
import json, sys
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[1]) if l.startswith("{")]
names = [e["name"] for e in ev if e.get("cat") == "marker"]
bad = [e for e in ev if e.get("cat") in ("gpu", "cuda")]
ok = names == ["child work"] and not bad and ev[-1]["name"] == "process_end"
sys.exit(0 if ok else 1)
PY

trace=$(main_file full trace.json) stats=$(main_file full stats.json)
$PY - "$TMP/full.feed" "$trace" "$stats" > "$TMP/full.checks" 2>&1 <<'PY'
import json, sys
feed = json.load(open(sys.argv[1]))
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[2]) if l.startswith("{")]
st = json.load(open(sys.argv[3]))
acts = feed["acts"]

def check(desc, ok):
    print(("ok - " if ok else "not ok - ") + desc)

us = lambda ns: ns / 1000.0
tracks = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "thread_name"}
gpu = [e for e in ev if e.get("cat") == "gpu" and e.get("ph") == "X"]
check("tracks: one per stream, named 'GPU 0 stream 7' and 'GPU 0 stream 8'",
      sorted(tracks[e["tid"]] for e in gpu if e["tid"] in tracks) ==
      sorted("GPU 0 stream %d" % a["stream"] for a in acts))
by_corr = {e["args"]["correlation"]: e for e in gpu}
check("every record of the three buffers arrived once (%d of %d), the held one at exit's flush"
      % (len(gpu), len(acts)), len(gpu) == len(acts) and sorted(by_corr) == sorted(a["corr"] for a in acts))
bad = []
for a in acts:
    e = by_corr.get(a["corr"])
    if not e:
        bad.append(a["corr"]); continue
    g = e["args"]
    ok = (e["name"] == a["name"] and abs(e["ts"] - us(a["start"])) < 0.002
          and abs(e["dur"] - us(a["end"] - a["start"])) < 0.002 and g["stream"] == a["stream"]
          and g["device"] == 0 and tracks.get(e["tid"]) == "GPU 0 stream %d" % a["stream"])
    if a["kind"] == "kernel":
        ok = ok and g["grid"] == [a["grid"], 1, 1] and g["block"] == [a["block"], 1, 1] \
            and g["shared_bytes"] == a["shared"] and g["registers"] == a["regs"]
    else:
        ok = ok and g["bytes"] == a["bytes"]
    if a["kind"] == "memcpy":
        ok = ok and bool(g.get("pinned")) == bool(a["pinned"])
    if not ok:
        bad.append(a["corr"])
check("names (demangled), times on the host clock, durations, streams, grid/block, bytes, "
      "pinned as fed (wrong: %s)" % bad, not bad)
kn = sorted({e["name"] for e in gpu if "grid" in e["args"]})
check("kernel names demangled: %s" % kn, kn == sorted({a["name"] for a in acts if a["kind"] == "kernel"}))
s7 = sorted((e["ts"], e["ts"] + e["dur"]) for e in gpu if e["args"]["stream"] == 7 and "grid" in e["args"])
s8 = [(e["ts"], e["ts"] + e["dur"]) for e in gpu if e["args"]["stream"] == 8 and "grid" in e["args"]]
check("kernels on the two streams overlap in time, as fed",
      any(a0 < b1 and b0 < a1 for a0, a1 in s7 for b0, b1 in s8))

api = {e["args"]["correlation"]: e for e in ev if e.get("cat") == "cuda" and e.get("ph") == "X"}
check("API spans: one per call fed, named by the function (%d)" % len(api),
      all(c in api and api[c]["name"] == n for c, n in feed["api"]))
check("the driver call made inside a runtime call is left out (correlation %d)" % feed["skipped_driver"],
      feed["skipped_driver"] not in api and
      sum(1 for e in api.values() if e["name"] == "cuLaunchKernel") == 1)
fc, fn, fr = feed["failing"]
check("a failing call: ret %d and an error name" % fr,
      fc in api and api[fc]["args"].get("ret") == fr and api[fc]["args"].get("error")
      and "flow" not in api[fc]["args"])
chat = {e["name"]: e["args"]["calls"] for e in ev if e.get("cat") == "cuda" and e.get("ph") == "C"}
spans = {e["name"] for e in api.values()}
check("chatty calls counted, not spans (%s)" % chat,
      chat == feed["chatty"] and not (spans & set(feed["chatty"])))
phase_of = {}
for e in ev:
    if e.get("cat") == "marker" and e.get("ph") == "X":
        for c, a in api.items():
            if e["ts"] <= a["ts"] and a["ts"] + a["dur"] <= e["ts"] + e["dur"] + 0.002:
                phase_of[c] = e["name"]
check("launches nested in the markers they were made in",
      all(phase_of.get(a["corr"]) == a["phase"] for a in acts))
s = {}
f = {}
for e in ev:
    if e.get("name") == "flow":
        (s if e["ph"] == "s" else f).setdefault(e["id"], []).append(e)
ok = len(s) == len(acts) and sorted(s) == sorted(f)
for a in acts:
    src = [i for i, l in s.items() if any(abs(x["ts"] - api[a["corr"]]["ts"]) < 0.002 for x in l)]
    dst = [i for i, l in f.items() if any(abs(x["ts"] - us(a["start"])) <= 0.002 and x["tid"] == by_corr[a["corr"]]["tid"] for x in l)]
    ok = ok and len(src) == 1 and src == dst
check("flows: one per launch, s at the API span and f at its GPU work, ids matching (%d s, %d f)"
      % (len(s), len(f)), ok)
check("dropped records counted: stats %s, trace %s" % (st["dropped"].get("cupti"),
      [e["args"]["total"] for e in ev if e.get("name") == "dropped"]),
      st["dropped"].get("cupti") == feed["dropped"] and
      [e["args"]["total"] for e in ev if e.get("name") == "dropped" and e["args"]["cause"] == "cupti"][-1:] == [feed["dropped"]])
ops = {(o["cat"], o["name"]): o for o in st["ops"]}
want = {}
for a in acts:
    w = want.setdefault(a["name"], [0, 0, 0])
    w[0] += 1; w[1] += a["end"] - a["start"]; w[2] += a["bytes"]
bad = [n for n, w in want.items() if not (("gpu", n) in ops and ops[("gpu", n)]["count"] == w[0]
       and ops[("gpu", n)]["total_ns"] == w[1] and ops[("gpu", n)].get("bytes", 0) == w[2])]
check("stats ops: GPU rows' count, total_ns and bytes as fed (wrong: %s)" % bad, not bad)

def tree_dev(nodes, under=None, acc=None):
    acc = {} if acc is None else acc
    for n in nodes:
        ph = n["name"] if n["cat"] == "marker" else under
        acc[ph] = acc.get(ph, 0) + n.get("device_ns", 0)
        tree_dev(n.get("children", []), ph, acc)
    return acc
dev = tree_dev(st["tree"])
wph = {}
for a in acts:
    wph[a["phase"]] = wph.get(a["phase"], 0) + a["end"] - a["start"]
check("stats tree: GPU time at the launching call, under its marker (%s)" % dev,
      all(dev.get(p, 0) == v for p, v in wph.items()))

if "kernels" not in st:
    print("# skip - kernels table, phases and gpu section: this stats.json has none (gpustats)")
else:
    ks = {k["name"]: k for k in st["kernels"]}
    ok = True
    for n in {a["name"] for a in acts if a["kind"] == "kernel"}:
        d = [a["end"] - a["start"] for a in acts if a["name"] == n]
        a0 = [a for a in acts if a["name"] == n][0]
        k = ks.get(n)
        ok = ok and k is not None and k["count"] == len(d) and k["total_ns"] == sum(d) \
            and k["min_ns"] == min(d) and k["max_ns"] == max(d) \
            and k["grid"] == [a0["grid"], 1, 1] and k["block"] == [a0["block"], 1, 1]
    order = [k["total_ns"] for k in st["kernels"]]
    check("kernels table: count, total, min, max, grid, block per kernel, by total", ok and order == sorted(order, reverse=True))
    ph = {p["name"]: p for p in st.get("phases", [])}
    ok = True
    for p in ("load", "compute"):
        kk = [a for a in acts if a["phase"] == p and a["kind"] == "kernel"]
        cc = [a for a in acts if a["phase"] == p and a["kind"] == "memcpy"]
        r = ph.get(p)
        ok = ok and r is not None and r["gpu_kernel_count"] == len(kk) \
            and r["gpu_kernel_ns"] == sum(a["end"] - a["start"] for a in kk) \
            and r["gpu_copy_count"] == len(cc) and r["gpu_copy_ns"] == sum(a["end"] - a["start"] for a in cc) \
            and r["gpu_copy_bytes"] == sum(a["bytes"] for a in cc)
    check("phases: GPU kernel and copy time launched in each marker", ok)
    g = st.get("gpu", {})
    iv = sorted((a["start"], a["end"]) for a in acts)
    busy, cur = 0, None
    for s0, e0 in iv:
        if cur and s0 <= cur[1]:
            cur[1] = max(cur[1], e0)
        else:
            if cur: busy += cur[1] - cur[0]
            cur = [s0, e0]
    busy += cur[1] - cur[0]
    check("gpu section: counts, bytes both ways, busy union, dropped (%s)" % g,
          g.get("kernel_count") == 4 and g.get("copy_count") == 3 and g.get("memset_count") == 1
          and g.get("bytes_htod") == sum(a["bytes"] for a in acts if a["name"] == "Memcpy HtoD")
          and g.get("bytes_dtoh") == sum(a["bytes"] for a in acts if a["name"] == "Memcpy DtoH")
          and g.get("busy_ns") == busy and g.get("records_dropped") == feed["dropped"])
PY
cat "$TMP/full.checks"
T_FAILS=$((T_FAILS + $(grep -c '^not ok' "$TMP/full.checks")))
[ -s "$TMP/full.checks" ] || fail "the trace checks ran ($(head -c 300 "$TMP/full.checks"))"

# ---- CUPTI refuses the host clock: its own clock, shifted by the measured offset ------------
replay noclock FAKECUPTI_NO_TSCB=1
check "no timestamp callback: GPU events on the host clock all the same (offset measured)" \
    $PY - "$TMP/noclock.feed" "$(main_file noclock trace.json)" <<'PY'
import json, sys
feed = json.load(open(sys.argv[1]))
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[2]) if l.startswith("{")]
gpu = [e for e in ev if e.get("cat") == "gpu"]
# the fed times are CLOCK_REALTIME (CUPTI's own); moved onto CLOCK_MONOTONIC they fall
# inside the run (launched ~1 ms after the last call), durations unchanged
lo, hi = feed["mono0"] / 1000.0, feed["mono1"] / 1000.0 + 2000
d = {e["args"]["correlation"]: e for e in gpu}
ok = len(gpu) == len(feed["acts"]) and all(lo <= e["ts"] <= hi for e in gpu) and all(
    abs(d[a["corr"]]["dur"] - (a["end"] - a["start"]) / 1000.0) < 0.002 for a in feed["acts"])
sys.exit(0 if ok else 1)
PY

# ---- another CUPTI client holds the callbacks ------------------------------------------------
replay busy FAKECUPTI_BUSY=1
check "another CUPTI client: the program runs on (status 0)" test "$(cat "$TMP/busy.rc")" = 0
check "... one warning naming it ($(head -c 300 "$TMP/busy.err"))" \
    test "$(grep -c 'another CUPTI client' "$TMP/busy.err")-$(grep -c 'MULTIPLE_SUBSCRIBERS' "$TMP/busy.err")-$(wc -l < "$TMP/busy.err")" = 1-1-1
check "... no activity buffers registered (they would take the other client's)" \
    test "$(grep -c '^buffers\|^enable' "$TMP/busy.fake")" = 0
check "... no CUDA spans, no GPU activity; markers and the rest still traced" \
    $PY - "$(main_file busy trace.json)" <<'PY'
import json, sys
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[1]) if l.startswith("{")]
cats = {}
for e in ev:
    cats[e.get("cat")] = cats.get(e.get("cat"), 0) + 1
sys.exit(0 if not cats.get("cuda") and not cats.get("gpu") and cats.get("marker") == 2 else 1)
PY

# ---- no agent in the process -------------------------------------------------------------
mkdir -p "$TMP/none"
FAKECUPTI_LOG="$TMP/none.fake" LD_LIBRARY_PATH="$FAKE" timeout 60 "$TBUILD/cupti_replay" "$MOD" \
    "$TMP/none.feed" > "$TMP/none.out" 2> "$TMP/none.err"
check "no agent: InitializeInjection does nothing, the program runs (status $?, $(head -c 100 "$TMP/none.out"))" \
    test "$(grep -c 'subscribed 0 activity 0' "$TMP/none.out")-$(grep -c subscribe "$TMP/none.fake" 2>/dev/null || echo 0)" = 1-0
# ---- the review's edge cases (tests/cupti/edges.c) -----------------------------------------
ta_cc "$TBUILD/cupti_edges" "$ROOT/tests/cupti/edges.c" -I"$CUDA_INC" -L"$FAKE" -lcupti \
    -Wl,-rpath,"$FAKE" -ldl -rdynamic
# edge MODE [env...]: the run's files in $TMP/e-MODE
edge() {
    local m=$1; shift
    mkdir -p "$TMP/e-$m"
    env FAKECUPTI_LOG="$TMP/e-$m.fake" LD_LIBRARY_PATH="$FAKE" "$@" \
        timeout 60 env TRACEAGENT_OUTPUT="$TMP/e-$m" TRACEAGENT_MIN_DURATION_NS=0 LD_PRELOAD="$AGENT" \
        "$TBUILD/cupti_edges" "$MOD" "$m" > "$TMP/e-$m.out" 2> "$TMP/e-$m.err"
    echo $? > "$TMP/e-$m.rc"
}
# py_check DESC MODE SCRIPT: SCRIPT gets the trace's events as `ev`, stats.json as `st`
py_check() {
    local desc=$1 m=$2 code=$3
    local f=$(ls "$TMP/e-$m"/cupti_edges-*.trace.json 2>/dev/null | sort -t- -k3 -n | head -1)
    check "$desc" $PY - "$f" "${f%.trace.json}.stats.json" "$code" <<'PY'
import json, sys
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[1]) if l.startswith("{")]
st = json.load(open(sys.argv[2]))
gpu = [e for e in ev if e.get("cat") == "gpu" and e.get("ph") == "X"]
api = [e for e in ev if e.get("cat") == "cuda" and e.get("ph") == "X"]
def tree_dev(nodes, under=None, acc=None):
    acc = {} if acc is None else acc
    for n in nodes:
        ph = n["name"] if n["cat"] == "marker" else under
        acc[ph] = acc.get(ph, 0) + n.get("device_ns", 0)
        tree_dev(n.get("children", []), ph, acc)
    return acc
ok = eval(sys.argv[3])
if not ok:
    print("# gpu %s api %s dropped %s tree %s" % ([(e["name"], e["ts"]) for e in gpu],
          [(e["name"], e["args"]) for e in api], st.get("dropped"), tree_dev(st["tree"])), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# correlation ids wrap a 2^16 table at ~5k launches of torch: 2^20 slots, the full id checked
edge wrap
check "wrap: ran (status $(cat "$TMP/e-wrap.rc"))" test "$(cat "$TMP/e-wrap.rc")" = 0
py_check "wrap: a kernel launched 2^16 ids before another keeps its marker; an unknown launch is counted as cupti_no_scope" wrap \
    'tree_dev(st["tree"]).get("A") == 5000 and tree_dev(st["tree"]).get("B") == 2500 and len(gpu) == 4 and st["dropped"].get("cupti_no_scope") == 1'

# fork: a non-forced flush before it (a forced one hands back records CUPTI has not finished)
edge fork
check "fork: ran, child exited (status $(cat "$TMP/e-fork.rc"))" test "$(cat "$TMP/e-fork.rc")" = 0
check "fork: the flush before it is not forced ($(grep '^flush' "$TMP/e-fork.fake" | tr '\n' ' '))" \
    test "$(grep -m1 '^flush' "$TMP/e-fork.fake" | cut -d' ' -f1,2)" = "flush 0"
py_check "fork: the kernel running at the fork is recorded with its times, under 'train'" fork \
    'len(gpu) == 1 and gpu[0]["dur"] == 5.0 and tree_dev(st["tree"]).get("train") == 5000 and not st["dropped"].get("cupti_bad_timestamp")'

# calls that return no error code; the error name never asked of CUDA inside its own call
edge errstr
py_check "errstr: cudaGetErrorString traced with no ret and no error" errstr \
    '[e["name"] for e in api] == ["cudaGetErrorString"] and "ret" not in api[0]["args"] and "error" not in api[0]["args"]'
edge errname
check "errname: no recursion through cudaGetErrorName ($(tr '\n' ' ' < "$TMP/e-errname.out"))" \
    test "$(cat "$TMP/e-errname.rc")-$(grep -c '^cudaGetErrorName calls 1$' "$TMP/e-errname.out")" = 0-1
py_check "errname: the failing call has its ret and error name; the module's own cudaGetErrorName is not traced" errname \
    '[(e["name"], e["args"].get("ret"), e["args"].get("error")) for e in api] == [("cudaMalloc", 2, "cudaErrorMemoryAllocation")]'

# another client's buffer handed to ours: ignored, counted, not freed (ASan: no bad free)
edge foreign
check "foreign: the program runs on (status $(cat "$TMP/e-foreign.rc"), $(head -c 200 "$TMP/e-foreign.err"))" \
    test "$(cat "$TMP/e-foreign.rc")" = 0
py_check "foreign: the buffer is counted as cupti_foreign_buffer" foreign \
    'st["dropped"].get("cupti_foreign_buffer") == 1 and not gpu'

# the CUDA 13.0 bug: the timestamp callback registered, records on CUPTI's own clock
edge zero FAKECUPTI_TSCB_IGNORED=1
py_check "zero: a record on CUPTI's own clock is moved onto the host's; one with no time is counted" zero \
    'len(gpu) == 1 and gpu[0]["name"] == "kown" and gpu[0]["dur"] == 5.0 and abs(gpu[0]["ts"] - [e for e in api if e["args"]["correlation"] == 101][0]["ts"]) < 1e6 and st["dropped"].get("cupti_bad_timestamp") == 1'
# smaller ones: a context's sync on its own track; host functions have no flow; a process
# tracing neither cuda nor gpu does not load CUPTI
edge sync
py_check "sync: a context's synchronisation on the track 'GPU 0 sync', not 'stream 4294967295'" sync \
    'sorted({e["args"]["name"] for e in ev if e.get("name") == "thread_name" and e["args"]["name"].startswith("GPU")}) == ["GPU 0 stream 7", "GPU 0 sync"]'
edge hostfunc
py_check "hostfunc: cudaLaunchHostFunc traced with no flow" hostfunc \
    '[e["name"] for e in api] == ["cudaLaunchHostFunc"] and "flow" not in api[0]["args"]'
mkdir -p "$TMP/e-off"
FAKECUPTI_LOG="$TMP/e-off.fake" LD_LIBRARY_PATH="$FAKE" timeout 60 env TRACEAGENT_OUTPUT="$TMP/e-off" \
    TRACEAGENT_TRACE=markers,posix LD_PRELOAD="$AGENT" "$TBUILD/cupti_edges" "$MOD" hostfunc > "$TMP/e-off.out" 2>&1
check "off: TRACEAGENT_TRACE without cuda and gpu: the module does not subscribe (status $?, $(cat "$TMP/e-off.fake" 2>/dev/null | grep -c .) CUPTI calls)" \
    test "$(cat "$TMP/e-off.fake" 2>/dev/null | grep -c '^subscribe\|^buffers')-$(grep -c '^done$' "$TMP/e-off.out")" = 0-1
finish
