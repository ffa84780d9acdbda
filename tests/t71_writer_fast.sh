#!/usr/bin/env bash
# The drainer's shortcut to the trace writer's kept lines (issue #20; agent/drainer.c
# dispatch, exporters/trace_json.c ta_trace_json_rec), taken when the JSON trace is the
# only exporter, writes what the event path writes:
# 1. the exporter alone (tests/writer/harness.c, WRITER_SHORTCUT=1: every record offered to
#    the shortcut first, as the drainer does) on t70's 20,000 events: every line byte for
#    byte what tests/writer/gen.py formats with Python, and a good share of them (a
#    quarter at least: the script's many threads, ops and strings overrun the kept lines
#    on purpose) by the shortcut;
# 2. the agent on a known workload (tests/writer/known.c: 600 files, a failed call, an
#    escaped marker name, a forked child) with TRACEAGENT_EXPORT=json (the shortcut) and
#    json,stats (the event path): the same lines in the same order, times and ids aside.
source "$(dirname "$0")/lib/common.sh"
D="$ROOT/tests/writer"

# ---------------------------------------------------------------------------------------
# 1. The exporter alone, through the shortcut, against Python's formatting
H="$TBUILD/writer_harness_fast"
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
for m in "0 0" "1000 0x1"; do # min duration 1 us for posix: left out by the event path
    set -- $m
    w="$TMP/h-$1"
    mkdir -p "$w/out"
    $PY "$D/gen.py" "$w/script" "$w/expected" "$1" "$2"
    WRITER_SHORTCUT=1 "$H" "$w/out" "$1" "$2" <"$w/script" >"$w/said" 2>"$w/err"
    check "harness (min duration $1 ns, shortcut): runs, nothing on stderr" test $? = 0 -a ! -s "$w/err"
    $PY - "$w/out/h.trace.json" "$w/expected" "$1" "$w/said" <<'PY'
import json, re, sys
trace, expected, min_ns, said = sys.argv[1:5]
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
check(f"harness {min_ns}, shortcut: the trace is strict JSON ({n} events)",
      n > 20000 or min_ns != "0", err)
lines = [l for l in data.split(b"\n")[1:] if l and l != b"]" and  # the agent's own lines out
         b'"name":"process_' not in l[:60] and b'"name":"spans_left_out"' not in l[:60]]
want = [w for w in open(expected, "rb").read().split(b"\n") if w]
first = next((i for i, (a, b) in enumerate(zip(lines, want)) if a + b"," != b and a != b), None)
detail = f"{len(lines)} lines, {len(want)} expected"
if first is not None:
    detail += f"; line {first}: got {lines[first][:300]!r}, want {want[first][:300]!r}"
check(f"harness {min_ns}, shortcut: every event line byte for byte as Python formats it "
      f"({len(want)} lines)", len(lines) == len(want) and first is None, detail)
m = re.search(r"shortcut (\d+) of (\d+) events", open(said).read())
hits, total = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
check(f"harness {min_ns}: the shortcut wrote a quarter of the events at least ({hits} of {total})",
      total and hits * 4 > total, open(said).read()[:200])
sys.exit(0 if ok else 1)
PY
    [ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
done

# ---------------------------------------------------------------------------------------
# 2. The agent: json alone (the shortcut) and json,stats (the event path), same workload
ta_cc "$TBUILD/writer_known" "$D/known.c"
NF=600
mkdir -p "$TMP/data" "$TMP/json" "$TMP/both"
$PY - "$TMP/data" "$NF" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(f'{d}/f{i:04d} "q".bin', "wb").write(bytes(5000 + i))
PY
TRACEAGENT_EXPORT=json traced "$TMP/json" "$TBUILD/writer_known" "$TMP/data" "$NF" \
    >/dev/null 2>"$TMP/err1"
check "known workload, json alone: runs under the agent (rc $?), nothing on stderr" \
    test $? = 0 -a ! -s "$TMP/err1"
TRACEAGENT_EXPORT=json,stats traced "$TMP/both" "$TBUILD/writer_known" "$TMP/data" "$NF" \
    >/dev/null 2>"$TMP/err2"
check "known workload, json,stats: runs under the agent (rc $?), nothing on stderr" \
    test $? = 0 -a ! -s "$TMP/err2"
$PY - "$TMP/json" "$TMP/both" <<'PY'
import glob, json, re, sys
ok = True
def check(desc, cond, detail=""):
    global ok
    print(("ok - " if cond else "not ok - ") + desc + ("" if cond else f" ({detail})"))
    ok &= bool(cond)
def runs(d):
    """each process's event lines, the parent's first: times masked, pid and tid numbered
    in order of appearance; the agent's own lines (wall clock, command line) left out"""
    out = []
    for t in sorted(glob.glob(d + "/*.trace.json"), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0])):
        text = open(t).read()
        json.loads(text)  # strict JSON, or this raises: not ok below
        ids, lines = {}, []
        for l in text.split("\n")[1:]:
            if not l or l == "]" or '"cat":"agent"' in l[:40]:
                continue
            l = re.sub(r'"(ts|dur)":[0-9.]+', r'"\1":T', l)
            l = re.sub(r'"(pid|tid)":(\d+)', lambda m: f'"{m.group(1)}":#{ids.setdefault(m.group(2), len(ids))}', l)
            lines.append(l.rstrip(","))
        out.append(lines)
    return out
try:
    a, b = runs(sys.argv[1]), runs(sys.argv[2])
    err = ""
except ValueError as e:
    a, b, err = [], [], str(e)
check("two processes, two strict JSON traces each way", len(a) == 2 and len(b) == 2 and not err,
      (len(a), len(b), err))
for k, (x, y) in enumerate(zip(a, b)):
    first = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), None)
    detail = f"{len(x)} and {len(y)} lines"
    if first is not None:
        detail += f"; line {first}: json {x[first][:300]!r}, json,stats {y[first][:300]!r}"
    check(f"process {k}: json alone writes the lines json,stats writes, in the same order "
          f"({len(x)} lines, {sum('pread' in l for l in x)} preads)",
          len(x) == len(y) and first is None and len(x) > 100 * (k == 0), detail)
sys.exit(0 if ok else 1)
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
