#!/usr/bin/env bash
# `traceagent waterfall` on a run of known content (tests/cli/known.c: the parent's markers
# setup, work, teardown around a child that execs and runs 3 child_work markers): fits 80
# and 200 columns, shows each process on one time axis with units, each top-level marker
# where it ran (setup before work before teardown; the child's work between), the bars of
# self time in the stats' order; a trace cut short is drawn with a note, not an error.
source "$(dirname "$0")/lib/common.sh"

[ -x "$CLI" ] || { fail "CLI not built ($CLI)"; finish; }
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }
ta_cc "$TBUILD/cli_known" "$ROOT/tests/cli/known.c"

mkdir -p "$TMP/data"
traced "$TMP/out" "$TBUILD/cli_known" "$TMP/data" >"$TMP/known.out" 2>&1
check "the program ran under the agent" test $? = 0
COLUMNS=80 "$CLI" waterfall "$TMP/out" >"$TMP/w80.txt" 2>"$TMP/w80.err"; rc=$?
check "waterfall: exits 0, nothing on stderr" bash -c "[ $rc = 0 ] && [ ! -s '$TMP/w80.err' ]"
"$CLI" waterfall --width 200 --top 0 "$TMP/out" >"$TMP/w200.txt" 2>&1
mkdir -p "$TMP/cut"
cp "$TMP"/out/* "$TMP/cut/"
parent=$(grep -l '"setup"' "$TMP"/cut/*.trace.json | head -1)
truncate -s $(( $(stat -c %s "$parent") * 3 / 4 + 5 )) "$parent"
"$CLI" waterfall --width 100 "$TMP/cut" >"$TMP/cut.txt" 2>"$TMP/cut.err"; rc=$?
check "a trace cut short: drawn, exit 0, no error, a note (rc $rc)" \
    bash -c "[ $rc = 0 ] && [ ! -s '$TMP/cut.err' ] && grep -q 'cut short' '$TMP/cut.txt' && grep -q '^cli_known\[' '$TMP/cut.txt'"

$PY - "$TMP" <<'EOF'
import glob, json, re, sys
T = sys.argv[1]
fails = 0
def ok(c, desc, detail=None):
    global fails
    print(("ok" if c else "not ok") + " - " + desc + ("" if c or detail is None else f"  [{detail}]"))
    fails += 0 if c else 1

stats = [json.load(open(f)) for f in glob.glob(T + "/out/*.stats.json")]
parent = next(s for s in stats if any(o["name"] == "setup" for o in s["ops"]))
child = next(s for s in stats if any(o["name"] == "child_work" for o in s["ops"]))
for w in (80, 200):
    t = open(f"{T}/w{w}.txt").read()
    lines = t.splitlines()
    wide = [l for l in lines if len(l) > w]
    ok(not wide, f"{w} columns: no line wider", wide[:2])
    ax = next((i for i, l in enumerate(lines) if re.match(r"^\s+0 ns\s+.*\d+ ms\s*$", l)), None)
    ok(ax is not None, f"{w} columns: a time axis with units (0 .. N ms)", lines[:3])
    rows = {l.split("|")[0].strip(): l.split("|")[1] for l in lines if l.count("|") == 2}
    pr = rows.get("cli_known[%d]" % parent["process"]["pid"])
    cr = rows.get("cli_known[%d]" % child["process"]["pid"])
    ok(pr is not None and cr is not None and len(pr) == len(cr), f"{w} columns: a row for each process", list(rows))
    if pr is None or cr is None:
        continue
    leg = dict((m.group(2), m.group(1)) for m in re.finditer(r"^  ([A-Z]) (\S+)", t, re.M))
    ok(all(k in leg for k in ("setup", "work", "teardown", "child_work")),
       f"{w} columns: the legend names each top-level marker", leg)
    if not all(k in leg for k in ("setup", "work", "teardown", "child_work")):
        continue
    span = lambda row, k: (row.find(leg[k]), row.rfind(leg[k]))
    s, wk, td, cw = span(pr, "setup"), span(pr, "work"), span(pr, "teardown"), span(cr, "child_work")
    # in one row a column holds one letter (strictly after); across rows, the parent's work
    # ending and the child's first marker (fork + exec apart: a few ms) may fall in the same
    # column when the run is long and a column wide: same column or after
    ok(-1 < s[0] <= s[1] < wk[0] <= wk[1] <= cw[0] <= cw[1] <= td[0] <= td[1] and wk[1] < td[0],
       f"{w} columns: setup, then work, then the child's work, then teardown, on one axis", (s, wk, cw, td))
    # the columns a marker covers: its time over the axis' scale (one column of slack each side)
    m = re.search(r"one column = ([\d.]+) (ms|µs)", t)
    per = float(m.group(1)) * (1e6 if m.group(2) == "ms" else 1e3)
    want = next(o["total_ns"] for o in parent["ops"] if o["name"] == "setup") / per
    got = s[1] - s[0] + 1
    ok(abs(got - want) <= 2, f"{w} columns: setup's width is its duration ({got} columns, {want:.1f} expected)")

# the bars: ops by self time (the stats' trees), as the report's self%
self_ = {}
def walk(ns):
    for n in ns:
        self_[f'{n["cat"]}:{n["name"]}'] = self_.get(f'{n["cat"]}:{n["name"]}', 0) + n["self_ns"]
        walk(n.get("children", []))
for s in stats:
    walk(s.get("tree", []))
t = open(T + "/w200.txt").read()
sec = t[t.find("Where the time went"):].splitlines()[1:]
got = [l.split()[0] for l in sec if l.startswith("  ") and "█" in l]
want = sorted(self_, key=lambda k: (-self_[k], k.split(":", 1)[1]))
ok(got == want[:len(got)] and len(got) == len(self_), "bars: every op by self time, descending", (got, want))
top = [l for l in sec if "█" in l][0]
ok(top.count("█") > 50 and all(l.count("█") <= top.count("█") for l in sec), "bars: the longest bar is the first")
sys.exit(1 if fails else 0)
EOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
# Narrow widths: the axis labels are whole and apart (a label that does not fit is left
# out, never overwritten nor cut inside "µ"); --width is clamped to 1000 columns. A
# hand-made trace of 1 µs keeps the labels in µs (two bytes, one column).
mkdir -p "$TMP/us"
printf '[\n{"ph":"X","cat":"posix","name":"read","pid":5,"tid":5,"ts":100.000,"dur":1.000},\n]\n' \
    >"$TMP/us/a-5.trace.json"
for w in 34 40 50 60 80 100000; do
    "$CLI" waterfall --width $w "$TMP/us" >"$TMP/us$w.txt" 2>/dev/null
done
$PY - "$TMP" <<'EOF2'
import re, sys
T = sys.argv[1]
fails = 0
def ok(c, desc, detail=None):
    global fails
    print(("ok" if c else "not ok") + " - " + desc + ("" if c or detail is None else f"  [{detail}]"))
    fails += 0 if c else 1
label = r"\d+(\.\d+)? (ns|µs|ms|s)"
for w in (34, 40, 50, 60, 80):
    raw = open(f"{T}/us{w}.txt", "rb").read()
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        ok(False, f"--width {w}: the output is valid UTF-8", e)
        continue
    ax = lines[1]
    cols = w - 22 - 2
    body = ax[23:]
    ok(re.fullmatch(rf"0 ns(\s+{label})*\s*", body) is not None and len(body) <= cols,
       f"--width {w}: the axis is whole labels one space apart or more, within {cols} columns", ax)
    ok(w < 40 or re.search(r"\s1\.00 µs$", body) is not None, f"--width {w}: the end label (1.00 µs) is kept", ax)
lines = open(f"{T}/us100000.txt", encoding="utf-8").read().splitlines()
ok(max(len(l) for l in lines) <= 1000 and any(len(l) == 1000 for l in lines),
   "--width 100000: clamped to 1000 columns", max(len(l) for l in lines))
sys.exit(1 if fails else 0)
EOF2
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
