#!/usr/bin/env bash
# A plug-in built outside the agent (tests/plugin/, the worked example of agent/README.md,
# "Writing a plug-in"), against include/traceagent_plugin.h alone:
#   tp_plugin.so (preloaded after the agent): family "tpapi" for a made-up API loaded twice
#     (libtpapi_a.so, libtpapi_b.so, each reached by the extension that links it), a batch
#     source (work completed on the library's thread, on named tracks, with flows and the
#     scope of the submitting call) and hooks (before_final_drain hands over queued work);
#   tp_count.so (TRACEAGENT_PLUGINS): an exporter that counts what it receives;
#   tp_badabi.so (TRACEAGENT_PLUGINS): built for ABI 2.0, refused with one line.
source "$(dirname "$0")/lib/common.sh"
# Its program forks while the made-up library's thread and the drainer allocate: under make
# test-asan the child then hung now and then (1 run in 4 to 8) in the allocator of GCC 12's
# libasan, which takes no lock around fork (glibc's malloc does). t44, t46, t47 and t51 run
# the plug-in paths under ASan; the plain suite runs this one.
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): a forked child of this threaded program can hang in libasan's allocator (no fork handler in GCC 12's); the plain suite runs it"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }

P="$TBUILD/plugin"
SRC="$ROOT/tests/plugin"
mkdir -p "$P"
cc_so() { # OUT SRC flags...: a shared object built with the public headers only
    local out=$1 src=$2; shift 2
    gcc -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter -fPIC -shared \
        -I"$ROOT/include" -I"$SRC" -o "$out" "$src" "$@" -pthread ||
        { fail "compile $(basename "$src") $*"; finish; }
}
for t in a b c; do
    cc_so "$P/libtpapi_$t.so" "$SRC/tpapi.c" -DTP_TAG="\"$t\"" -Wl,-soname,"libtpapi_$t.so"
done
for t in a b; do # each extension links its own copy, found through RUNPATH $ORIGIN
    cc_so "$P/ext_$t.so" "$SRC/ext.c" -L"$P" -l:"libtpapi_$t.so" -Wl,--enable-new-dtags,-rpath,'$ORIGIN'
done
for p in tp_plugin tp_count tp_badabi; do cc_so "$P/$p.so" "$SRC/$p.c" -ldl; done
ta_cc "$P/tp_prog" "$SRC/prog.c" -ldl

# built outside: no agent library needed, no agent symbol but the one way in
plugin_alone() {
    local so
    for so in tp_plugin tp_count tp_badabi; do
        readelf -d "$P/$so.so" | grep -q 'NEEDED.*traceagent' && return 1
        nm -D --undefined-only "$P/$so.so" | grep -q ' ta_' && return 1
    done
    return 0
}
check "plug-ins link no agent library and import no ta_* symbol" plugin_alone

# ---------------------------------------------------------------------------------------
# Untraced, then traced: the same output (each extension reached its own copy)
# under make test-asan the ASan runtime is preloaded in both runs: its dlopen interceptor
# makes itself glibc's caller, so a bare name no longer finds the caller's RUNPATH there,
# with or without the agent
pre=
[ "${TA_ASAN:-0}" = 1 ] && pre="${AGENT%%:*}"
timeout 60 env LD_PRELOAD="$pre" "$P/tp_prog" "$P" fork > "$TMP/plain.out" 2> "$TMP/plain.err"
plain_rc=$?
check "untraced: the program exits 3 and each extension reached its copy" \
    grep -q "A: tag=a data=a bytes=6000 bad_reads=0 submitted=3 close=0" "$TMP/plain.out"

OUT="$TMP/run"
mkdir -p "$OUT"
run_traced() { # OUT PLUGINS: stdout, stderr, status in $OUT.{out,err,rc}
    local out=$1 plugins=$2
    # env sets them for the program only (timeout itself runs untraced)
    timeout 60 env TP_HOOK_LOG="$out/hooks" TRACEAGENT_PLUGINS="$plugins" \
        TRACEAGENT_EXPORT=json,stats,tpcount TRACEAGENT_MIN_DURATION_NS=0 \
        TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT:$P/tp_plugin.so" \
        "$P/tp_prog" "$P" fork > "$out.out" 2> "$out.err"
    echo $? > "$out.rc"
}
run_traced "$OUT" "$P/tp_count.so"
check "traced: exit status as untraced ($plain_rc)" test "$(cat "$OUT.rc")" = "$plain_rc"
check "traced: stdout as untraced (each extension reached its own copy)" \
    cmp -s "$TMP/plain.out" "$OUT.out"
if [ -z "$pre" ]; then
    check "traced: a bare dlopen from ext_a still finds libtpapi_c.so by ext_a's RUNPATH" \
        grep -qx "bare dlopen from ext_a: loaded" "$OUT.out"
    copies=3
else
    ok "traced: a bare dlopen by RUNPATH: not checked under ASan (its interceptor is the caller)"
    copies=2
fi
check "traced: nothing on stderr" test ! -s "$OUT.err"

# the wrong ABI: one line, the program's output and status unchanged
BAD="$TMP/bad"
mkdir -p "$BAD"
run_traced "$BAD" "$P/tp_count.so:$P/tp_badabi.so"
check "wrong ABI: exit status unchanged" test "$(cat "$BAD.rc")" = "$(cat "$OUT.rc")"
check "wrong ABI: stdout unchanged" cmp -s "$OUT.out" "$BAD.out"
one_line() {
    [ "$(wc -l < "$BAD.err")" -eq "$(($(wc -l < "$OUT.err") + 1))" ] &&
        grep -q 'tp_badabi\.so.*ABI 2\.0' "$BAD.err"
}
check "wrong ABI: refused with one line on stderr ($(head -c 200 "$BAD.err"))" one_line
check "wrong ABI: the other plug-ins still trace" \
    compgen -G "$BAD/*.tpcount.json" > /dev/null

$PY - "$OUT" "$ROOT" "$copies" <<'EOF'
import glob, json, os, sys
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
from tacheck import check
out = sys.argv[1]
copies = int(sys.argv[3])  # libtpapi copies loaded before the fork
procs = tacheck.files(out)
check(f"two processes traced ({sorted(procs)})", len(procs) == 2)
if len(procs) != 2:
    tacheck.finish()
traces = {}
for pid, (pf,) in procs.items():
    traces[pid] = tacheck.load_trace_cats(pf["trace"], {"tpapi"}, require_closed=True)
# the parent is the one with phase A
parent = [p for p, evs in traces.items() if tacheck.spans(evs, "marker", "phase A")]
check("the parent's trace has phase A", len(parent) == 1)
if len(parent) != 1:
    tacheck.finish()
parent = parent[0]
child = [p for p in traces if p != parent][0]
evs = traces[parent]
tp = [e for e in evs if e.get("cat") == "tpapi"]
def named(n, l=None):
    return [e for e in (tp if l is None else l) if e["name"] == n and e["ph"] == "X"]
counts = {n: len(named(n)) for n in ("tpapi_open", "tpapi_read", "tpapi_submit", "tpapi_close", "tpapi_work")}
check(f"trace: the tpapi calls and the work, cat tpapi ({counts})",
      counts == {"tpapi_open": 2, "tpapi_read": 6, "tpapi_submit": 5, "tpapi_close": 2, "tpapi_work": 5})

main_tid = [e["tid"] for e in evs if e.get("name") == "phase A"][0]
calls = [e for e in tp if e["name"] != "tpapi_work"]
check("trace: the calls are on the program's thread",
      calls and all(e["tid"] == main_tid for e in calls))
# each extension reached its own copy, and was traced
phase = {m: tacheck.spans(evs, "marker", m)[0] for m in ("phase A", "phase B")}
def inside(e, m):
    return m["ts"] <= e["ts"] and e["ts"] + e["dur"] <= m["ts"] + m["dur"] + 0.001
for m, lib, letter in (("phase A", "libtpapi_a.so", "a"), ("phase B", "libtpapi_b.so", "b")):
    mine = [e for e in calls if inside(e, phase[m])]
    libs = {e["args"].get("lib") for e in mine}
    paths = {e["args"].get("path") for e in mine}
    check(f"trace: {m}'s calls ({len(mine)}) all reached {lib} ({libs})",
          len(mine) == (8 if letter == "a" else 7) and libs == {lib})
    check(f"trace: {m}'s calls name their handle's path ({paths})",
          paths == {f"/tp/{m[-1]}/a-dataset-name-long-enough-to-need-more-than-one-record-{letter}"})
reads = named("tpapi_read")
check("trace: reads carry bytes (role BYTES) and ret",
      sorted(e["args"].get("bytes") for e in reads) == [1000, 1000, 2000, 2000, 3000, 3000]
      and all(e["args"].get("ret") == e["args"].get("bytes") for e in reads))
# the payload longer than one record: geometry and a note, after the record
subs = named("tpapi_submit")
a = subs[0]["args"] if subs else {}
check(f"trace: submit's continued payload (grid, block, usec, a note of {len(a.get('note', ''))} bytes)",
      subs and all(e["args"].get("grid") == [4, 2, 1] and e["args"].get("block") == [128, 1, 1]
                   and e["args"].get("note", "").startswith("work from ")
                   and e["args"].get("note", "").endswith("goes past one slot") for e in subs)
      and len(a.get("note", "")) > 64 and {e["args"].get("usec") for e in subs} == {20000, 30000},
      [e["args"] for e in subs[:2]])
# named tracks: thread_name metadata, the work on the track's tid, not on a thread
names = {e["tid"]: e["args"]["name"] for e in evs if e.get("ph") == "M" and e.get("name") == "thread_name"}
works = named("tpapi_work")
tracks = {}
for w in works:
    tracks.setdefault(w["tid"], []).append(w)
tnames = {t: names.get(t) for t in tracks}
check(f"trace: the work is on two named tracks ({tnames})",
      sorted(tnames.values(), key=str) == ["TP device 0 queue 1", "TP device 1 queue 1"])
real_tids = {e["tid"] for e in evs if e.get("ph") == "X" and e.get("cat") != "tpapi"} | {main_tid}
check("trace: the tracks' tids are no thread's", tracks and not (set(tracks) & real_tids))
by_name = {v: k for k, v in tnames.items()}
check("trace: device 0's track has copy a's 3 works, device 1's copy b's 2",
      len(tracks.get(by_name.get("TP device 0 queue 1"), [])) == 3
      and len(tracks.get(by_name.get("TP device 1 queue 1"), [])) == 2
      and all(w["args"].get("lib") == ("libtpapi_a.so" if w["args"].get("device") == 0 else "libtpapi_b.so")
              for w in works))
check("trace: the work spans nest on their tracks", works and not tacheck.check_nesting(works))
check("trace: work of 20 and 30 ms lasted that long (TA_F_NS times)",
      works and all(w["dur"] >= (20000 if w["args"].get("device") == 0 else 30000) * 0.95 for w in works),
      [w["dur"] for w in works])
# paired by flow id: each work with the submit that launched it
sub_at = {s["args"].get("flow"): s["ts"] for s in subs}
check("trace: each work starts after its submit (paired by flow id)",
      works and subs and all(w["args"].get("flow") in sub_at and w["ts"] >= sub_at[w["args"]["flow"]]
                             for w in works),
      [(w["args"].get("flow"), w["ts"], sub_at.get(w["args"].get("flow"))) for w in works])
# flows: submit -> work, an s/f pair with the same id per work
fs = [e for e in evs if e.get("ph") == "s"]
ff = [e for e in evs if e.get("ph") == "f"]
sub_flows = {e["args"].get("flow") for e in subs}
work_flows = {w["args"].get("flow") for w in works}
check(f"trace: submit's flow out and work's flow in have the same ids ({len(sub_flows)})",
      len(sub_flows) == 5 and sub_flows == work_flows)
sid = {e.get("id") for e in fs}
fid = {e.get("id") for e in ff}
check(f"trace: a flow s/f pair with the same id for each work ({len(fs)} s, {len(ff)} f)",
      len(fs) == 5 and len(ff) == 5 and sid == fid and len(sid) == 5)
ok_ends = True
for s in fs:
    f = [x for x in ff if x.get("id") == s.get("id")]
    sub = [x for x in subs if x["tid"] == s["tid"] and abs(x["ts"] - s["ts"]) <= x["dur"] + 0.001]
    wk = [x for x in works if f and x["tid"] == f[0]["tid"] and x["ts"] <= f[0]["ts"] <= x["ts"] + x["dur"] + 0.001]
    ok_ends &= bool(f and sub and wk)
check("trace: each flow starts at a submit and ends in a work on its track", fs and ok_ends)

# stats.json
pf = procs[parent][0]
st = tacheck.load_stats(pf["stats"])
rows = {n: tacheck.op(st, "tpapi", n) for n in counts}
check("stats: ops rows for the tpapi ops with the trace's counts",
      all(rows[n] and rows[n]["count"] == c for n, c in counts.items()),
      [(n, r and r["count"]) for n, r in rows.items()])
check("stats: tpapi_read's bytes (role BYTES)", rows["tpapi_read"] and rows["tpapi_read"].get("bytes") == 12000)
# the work's time in the tree, under the marker range whose call submitted it
def node(lst, cat, name):
    return [n for n in lst if n["cat"] == cat and n["name"] == name]
for m, dev, n in (("phase A", 0, 3), ("phase B", 1, 2)):
    top = node(st["tree"], "marker", m)
    sub = node(top[0]["children"], "tpapi", "tpapi_submit") if top else []
    want = sum(round(w["dur"] * 1000) for w in works if w["args"].get("device") == dev)
    got = sub[0].get("device_ns", 0) if sub else None
    check(f"stats: tree: {m} > tpapi_submit holds its {n} works' time ({got} vs {want} ns)",
          sub and sub[0].get("device_count") == n and abs(got - want) <= n * 2,
          [top[:1]])
check("stats: no work at the top of the tree",
      works and not node(st["tree"], "tpapi", "tpapi_work") and not any(n.get("device_ns") for n in st["tree"] if n["cat"] != "marker"))
th = st.get("threads", [])
check(f"stats: no thread for a track ({[t.get('tid') for t in th]})",
      tracks and th and not ({t.get("tid") for t in th} & set(tracks)) and not any("TP device" in (t.get("name") or "") for t in th))
lay = st.get("layers", {})
check(f"stats: tpapi's reads at the logical layer, none at the file layer ({lay})",
      lay.get("logical", {}).get("bytes_read") == 12000
      and lay.get("file", {}).get("bytes_read", 0) < 12000)

# the counting exporter saw what the trace has
cnt_path = pf["trace"][: -len(".trace.json")] + ".tpcount.json"
try:
    cnt = json.load(open(cnt_path))
except Exception as e:
    cnt = None
check("tpcount: the counting exporter wrote its file", cnt is not None, [cnt_path])
if cnt:
    per_cat = {}
    for e in evs:
        if e.get("ph") in ("X", "i", "C") and e.get("cat") != "agent":
            per_cat[e["cat"]] = per_cat.get(e["cat"], 0) + 1
    got = {c: n for c, n in cnt["cats"].items() if c != "agent"}
    check(f"tpcount: events per category match the trace's ({got} vs {per_cat})", got == per_cat)
    check(f"tpcount: the track events ({cnt['on_tracks']}) and their scopes ({cnt['with_scope']})",
          cnt["on_tracks"] == len(works) == 5 and cnt["with_scope"] == 5)
    check(f"tpcount: told the tracks' names ({cnt['tracks']})",
          sorted(cnt["tracks"]) == ["TP device 0 queue 1", "TP device 1 queue 1"])

# hooks, and the fork: the child traces its own work, none of the parent's
hooks = {}
for line in open(os.path.join(out, "hooks")):
    p, _, what = line.strip().partition(" ")
    hooks.setdefault(int(p), []).append(what)
check(f"hooks: the parent's in order ({hooks.get(parent)})",
      hooks.get(parent) == ["init", "before_fork", f"before_final_drain {copies}", "at_exit"])
check(f"hooks: the child's in order ({hooks.get(child)})",
      hooks.get(child) == ["after_fork_child", f"before_final_drain {copies}", "at_exit"])
cev = traces[child]
cw = named("tpapi_work", [e for e in cev if e.get("cat") == "tpapi"])
cs = named("tpapi_submit", [e for e in cev if e.get("cat") == "tpapi"])
check(f"fork: the child traced its own work only ({len(cw)} work, {len(cs)} submit)",
      len(cw) == 1 and len(cs) == 1 and cw[0]["args"].get("flow") == cs[0]["args"].get("flow")
      and not named("tpapi_open", [e for e in cev if e.get("cat") == "tpapi" and "/A/" in e["args"].get("path", "")]))
cst = tacheck.load_stats(procs[child][0]["stats"])
ctop = node(cst["tree"], "marker", "child")
csub = node(ctop[0]["children"], "tpapi", "tpapi_submit") if ctop else []
check("fork: the child's stats put its work under its own range",
      csub and csub[0].get("device_count") == 1 and not node(cst["tree"], "marker", "phase A"))
tacheck.finish()
EOF
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
