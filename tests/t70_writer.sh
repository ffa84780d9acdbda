#!/usr/bin/env bash
# The trace writer (exporters/trace_json.c, jsonw.c) writes what it always wrote, however it
# formats it (issue #20: templates, kept strings and heads, numbers without printf):
# 1. the exporter alone (tests/writer/harness.c) on 20,000 events at fixed times, every line
#    byte for byte what tests/writer/gen.py formats with Python: numbers at their edges
#    (0, 999, 1000, 2^63-1 and 2^64-1 ns; negative, INT64_MIN and 32-bit values), escapes and
#    invalid UTF-8, strings past the kept slots and past 4096 bytes, more threads, strings
#    and ops than the writer keeps, flows, payload fields, TRACEAGENT_MIN_DURATION_NS;
# 2. the agent on a known workload (tests/writer/known.c: 600 files, a failed call, an
#    escaped marker name, a forked child): every call the program made, with its args, and
#    no other; the durations the trace gives add up, to the nanosecond, to what stats.json
#    counted; every ts and dur with exactly 3 decimals.
source "$(dirname "$0")/lib/common.sh"
D="$ROOT/tests/writer"

# ---------------------------------------------------------------------------------------
# 1. The exporter alone, against Python's formatting
H="$TBUILD/writer_harness"
SAN=()
[ -n "${TA_ASAN:-}" ] && SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer)
if gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter "${SAN[@]}" \
        -I"$ROOT/include" -I"$ROOT/agent" -I"$ROOT/exporters" -o "$H" "$D/harness.c" \
        "$ROOT/exporters/trace_json.c" "$ROOT/exporters/jsonw.c" "$ROOT/agent/fields.c"; then
    ok "harness: builds with the trace exporter"
else
    fail "harness: builds with the trace exporter"
    finish
fi
for m in "0 0" "1000 0x1"; do # min duration 1 us for posix: left out, as the agent does
    set -- $m
    w="$TMP/h-$1"
    mkdir -p "$w/out"
    $PY "$D/gen.py" "$w/script" "$w/expected" "$1" "$2"
    "$H" "$w/out" "$1" "$2" <"$w/script" 2>"$w/err"
    check "harness (min duration $1 ns): runs, nothing on stderr" test $? = 0 -a ! -s "$w/err"
    $PY - "$w/out/h.trace.json" "$w/expected" "$1" <<'PY'
import json, sys
trace, expected, min_ns = sys.argv[1], sys.argv[2], sys.argv[3]
ok = True
def check(desc, cond, detail=""):
    global ok
    print(("ok - " if cond else "not ok - ") + desc + ("" if cond else f" ({detail})"))
    ok &= bool(cond)
data = open(trace, "rb").read()
try:
    n = len(json.loads(data))
    err = ""
except ValueError as e:
    n, err = 0, str(e)
check(f"harness {min_ns}: the trace is strict JSON ({n} events)", n > 20000 or min_ns != "0", err)
lines = [l for l in data.split(b"\n")[1:] if l and l != b"]" and  # the agent's own lines out
         b'"name":"process_' not in l[:60] and b'"name":"spans_left_out"' not in l[:60]]
want = open(expected, "rb").read().split(b"\n")
want = [w for w in want if w]
first = next((i for i, (a, b) in enumerate(zip(lines, want)) if a + b"," != b and a != b), None)
same = len(lines) == len(want) and first is None
detail = f"{len(lines)} lines, {len(want)} expected"
if first is not None:
    detail += f"; line {first}: got {lines[first][:300]!r}, want {want[first][:300]!r}"
check(f"harness {min_ns}: every event line byte for byte as Python formats it ({len(want)} lines)",
      same, detail)
sys.exit(0 if ok else 1)
PY
    [ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
done

# ---------------------------------------------------------------------------------------
# 2. The agent on a known workload
ta_cc "$TBUILD/writer_known" "$D/known.c"
NF=600
mkdir -p "$TMP/data" "$TMP/out"
$PY - "$TMP/data" "$NF" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(f'{d}/f{i:04d} "q".bin', "wb").write(bytes(5000 + i))
PY
traced "$TMP/out" "$TBUILD/writer_known" "$TMP/data" "$NF" >"$TMP/calls" 2>"$TMP/err"
check "known workload: runs under the agent (rc $?), nothing on stderr" test $? = 0 -a ! -s "$TMP/err"
$PY - "$ROOT" "$TMP/out" "$TMP/calls" <<'PY'
import collections, glob, json, re, sys
sys.path.insert(0, sys.argv[1] + "/tests/lib")
import tacheck
out, calls = sys.argv[2], sys.argv[3]
check = tacheck.check
want = collections.Counter()
for l in open(calls):
    pid, name, path, asked, off, ret, err = l.rstrip("\n").split("\t")
    ret, err = int(ret), int(err)
    args = {"offset": int(off), "ret": ret}
    if path:
        args["path"] = path
    if ret >= 0:
        args["bytes"] = ret
    if err:
        args["errno"] = err
    want[(int(pid), json.dumps(args, sort_keys=True))] += 1
traces = sorted(glob.glob(out + "/*.trace.json"))
check("two processes, two traces", len(traces) == 2, traces)
got = collections.Counter()
bad_num = []
for t in traces:
    text = open(t).read()
    ev = json.loads(text)
    stats = json.load(open(t[:-len(".trace.json")] + ".stats.json"))
    pid = stats["process"]["pid"]
    check(f"pid {pid}: every event's pid is the process's (a forked child's heads are its own)",
          all(e.get("pid") == pid for e in ev), {e.get("pid") for e in ev})
    # ts and dur as written: digits, a point, 3 decimals
    nums = re.findall(r'"(?:ts|dur)":([^,}]*)', "\n".join(  # metadata events have "ts":0
        l for l in text.split("\n") if '"ph":"M"' not in l))
    bad_num += [x for x in nums if not re.fullmatch(r"\d+\.\d{3}", x)]
    # durations to the ns, from the text, against the stats' sums
    ns = collections.defaultdict(int)
    cnt = collections.Counter()
    for line in text.split("\n"):
        m = re.search(r'"cat":"(\w+)","name":("(?:[^"\\]|\\.)*").*"dur":(\d+)\.(\d{3})', line)
        if m:
            key = (m.group(1), json.loads(m.group(2)))
            ns[key] += int(m.group(3)) * 1000 + int(m.group(4))
            cnt[key] += 1
    rows = {(o["cat"], o["name"]): o for o in stats["ops"]}
    diff = {k: (ns[k], rows.get(k, {}).get("total_ns")) for k in ns
            if rows.get(k, {}).get("total_ns") != ns[k] or rows[k]["count"] != cnt[k]}
    check(f"pid {pid}: each op's durations in the trace add up to its stats total_ns "
          f"and count, to the ns ({len(ns)} ops, {sum(cnt.values())} spans)", not diff and ns, diff)
    for e in ev:
        if e.get("cat") == "posix" and e.get("name") in ("pread", "pread64"):
            a = dict(e.get("args", {}))
            a.pop("fd", None)
            got[(pid, json.dumps(a, sort_keys=True))] += 1
    if pid == min(json.load(open(x[:-11] + ".stats.json"))["process"]["pid"] for x in traces):
        marks = [e["name"] for e in ev if e.get("cat") == "marker"]
        check("the marker's name with a quote, a tab and a backslash, as the program gave it",
              marks == ['phase "one"\t\\'], marks)
check("every ts and dur: digits, a point and 3 decimals", not bad_num and True, bad_num[:5])
missing, extra = want - got, got - want
check(f"every pread the program made is in the trace with its path, offset, bytes, ret and "
      f"errno, and no other ({sum(want.values())} calls, 2 processes)",
      not missing and not extra, {"missing": list(missing.items())[:3], "extra": list(extra.items())[:3]})
tacheck.finish()
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
