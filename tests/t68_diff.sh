#!/usr/bin/env bash
# traceagent diff and run --repeat: the ops rows' "hist" (what the tests run on), a planted
# 30% regression flagged, two runs of one program not flagged, a 3% change inside a 10%
# run-to-run spread not flagged (synthetic stats), --fail-above's exit codes, and the
# statistics of run --repeat equal those computed from the runs' own stats files.
source "$(dirname "$0")/lib/common.sh"
[ -x "$CLI" ] || { fail "CLI not built ($CLI)"; finish; }
ta_cc "$TBUILD/work" "$ROOT/tests/diff/work.c"
W="$TBUILD/work"

# 1. single runs of the program: the knob sleeps 1000 us (base, again) or 1300 us (new)
traced "$TMP/base" "$W" 150 1000
traced "$TMP/again" "$W" 150 1000
traced "$TMP/new" "$W" 150 1300

$PY - "$TMP/base" "$ROOT" <<'PY'
import glob, json, sys
sys.path.insert(0, sys.argv[2] + "/tests/lib")
from tacheck import check, finish
def width(lo):
    return 1 if lo < 128 else 1 << (lo.bit_length() - 1 - 7)
def pct(h, count, p, mn, mx):
    rank = max(1, (count * p + 99) // 100)
    seen = 0
    for lo, n in h:
        seen += n
        if seen >= rank:
            return min(max(lo + width(lo) // 2, mn), mx)
    return mx
rows = [r for f in glob.glob(sys.argv[1] + "/*.stats.json") for r in json.load(open(f))["ops"]
        if r["kind"] == "span"]
check("stats: every span row has a hist", rows and all("hist" in r for r in rows), rows[:2])
bad = [r["name"] for r in rows if sum(c for _, c in r["hist"]) != r["count"]]
check("stats: hist counts sum to the row's count", not bad, bad)
bad = [r["name"] for r in rows if [lo for lo, _ in r["hist"]] != sorted({lo for lo, _ in r["hist"]})]
check("stats: hist buckets ascending, each once", not bad, bad)
bad = [r["name"] for r in rows
       if any(lo >= 128 and lo % width(lo) for lo, _ in r["hist"]) or
       any(not (r["min_ns"] - width(lo) < lo <= r["max_ns"]) for lo, _ in r["hist"])]
check("stats: bucket lower bounds on the log-linear grid, within [min, max]", not bad, bad)
bad = [(r["name"], r["median_ns"], pct(r["hist"], r["count"], 50, r["min_ns"], r["max_ns"]))
       for r in rows if pct(r["hist"], r["count"], 50, r["min_ns"], r["max_ns"]) != r["median_ns"]
       or pct(r["hist"], r["count"], 95, r["min_ns"], r["max_ns"]) != r["p95_ns"]]
check("stats: median and p95 recomputed from hist equal the rows'", not bad, bad)
finish()
PY
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))

"$CLI" diff --format json "$TMP/base" "$TMP/new" >"$TMP/d1.json"; rc=$?
check "diff exits 0 without --fail-above ($rc)" test $rc = 0
"$CLI" diff --format json "$TMP/base" "$TMP/again" >"$TMP/d2.json"
"$CLI" diff "$TMP/base" "$TMP/new" >"$TMP/d1.txt"
$PY - "$TMP/d1.json" "$TMP/d2.json" "$ROOT" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3] + "/tests/lib")
from tacheck import check, finish
d1, d2 = (json.load(open(p)) for p in sys.argv[1:3])
row = lambda d, kind, name: next((r for r in d["rows"] if r["kind"] == kind and r["name"] == name), None)
s = row(d1, "marker", "step")
check("planted 30% regression: marker 'step' is a significant regression (Mann-Whitney)",
      s and s["verdict"] == "regression" and s["significant"] and s["test"] == "mann-whitney", [s])
check("its change is about +30% of the sleep (15%..40%)", s and 15 < s["change_pct"] < 40, [s])
check("mean and count of both sides shown", s and s["base"]["count"] == 150 == s["new"]["count"]
      and s["new"]["mean_ns"] > s["base"]["mean_ns"] > 0, [s])
f = row(d1, "marker", "fixed")
check("the unchanged marker 'fixed' is not flagged", f and not f["significant"], [f])
check("the regression is listed first (sorted by significance)", d1["rows"][0]["name"] == "step",
      [d1["rows"][:2]])
sig = [r for r in d2["rows"] if r["significant"]]
check("two runs of the same program: nothing flagged", not sig, sig)
finish()
PY
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
check "the table names the regression" grep -q "^regression  *marker  *step" "$TMP/d1.txt"
"$CLI" diff --fail-above 10 "$TMP/base" "$TMP/new" >/dev/null 2>"$TMP/fa.err"; rc=$?
check "--fail-above 10: the regression passes it: exit 1 ($rc)" test $rc = 1
check "--fail-above says which row" grep -q "step" "$TMP/fa.err"
"$CLI" diff --fail-above 80 "$TMP/base" "$TMP/new" >/dev/null 2>&1; rc=$?
check "--fail-above 80: exit 0 ($rc)" test $rc = 0
"$CLI" diff --fail-above 1 "$TMP/base" "$TMP/again" >/dev/null 2>&1; rc=$?
check "--fail-above 1 on two runs of the same program: exit 0 ($rc)" test $rc = 0
"$CLI" diff --fail-above 10 "$TMP/new" "$TMP/base" >/dev/null 2>&1; rc=$?
check "an improvement does not fail --fail-above: exit 0 ($rc)" test $rc = 0
"$CLI" diff "$TMP/base" >/dev/null 2>&1; rc=$?
check "diff with one run: usage error, exit 2 ($rc)" test $rc = 2
"$CLI" diff --fail-above x "$TMP/base" "$TMP/new" >/dev/null 2>&1; rc=$?
check "diff --fail-above x: exit 2 ($rc)" test $rc = 2
"$CLI" diff "$TMP/base" "$TMP/missing" >/dev/null 2>&1; rc=$?
check "diff with a missing run: exit 2 ($rc)" test $rc = 2

# a single run's directory with subdirectories of the user's named run-* (run-logs/, a
# run-000/ without stats): still one run, not a set of repeated runs without stats
cp -r "$TMP/base" "$TMP/base_rl"
mkdir -p "$TMP/base_rl/run-logs" "$TMP/base_rl/run-000" "$TMP/base_rl/run-1x"
cp "$TMP"/base/*.stats.json "$TMP/base_rl/run-1x/"
echo log >"$TMP/base_rl/run-logs/out.log"
echo log >"$TMP/base_rl/run-000/out.log"
"$CLI" diff --format json "$TMP/base_rl" "$TMP/new" >"$TMP/drl.json" 2>"$TMP/drl.err"; rc=$?
check "diff of a single run with run-logs/, run-1x/, a run-000/ without stats: exit 0 ($rc)" \
    test $rc = 0 -a ! -s "$TMP/drl.err"
check "... one run, its rows those of the single run's files" $PY -c "
import json, sys
a, b = json.load(open('$TMP/drl.json')), json.load(open('$TMP/d1.json'))
key = lambda d: sorted((r['kind'], r['name'], r['base']['count']) for r in d['rows'] if r.get('base'))
sys.exit(not key(a) or key(a) != key(b) or a['base_runs'] != 1)"

# a long name of 2-byte characters, shortened to "...tail" in the table: cut at a character's
# start (a byte offset fell inside one: the table was not UTF-8)
for side in base new; do
    mkdir -p "$TMP/u8$side"
    for f in "$TMP/$side"/*.stats.json; do
        $PY -c "
import json, sys
def ren(o):
    if isinstance(o, dict): return {k: ren(v) for k, v in o.items()}
    if isinstance(o, list): return [ren(v) for v in o]
    return 'step ' + '\u00e9' * 30 if o == 'step' else o
json.dump(ren(json.load(open(sys.argv[1]))), open(sys.argv[2], 'w'), ensure_ascii=False)" \
            "$f" "$TMP/u8$side/$(basename "$f")"
    done
done
"$CLI" diff "$TMP/u8base" "$TMP/u8new" >"$TMP/u8.txt" 2>&1
check "diff table, a long name of 2-byte characters: valid UTF-8, shortened to '...éé'" $PY -c "
import sys
t = open('$TMP/u8.txt', 'rb').read().decode('utf-8')
sys.exit(not any(w.startswith('...\u00e9') for w in t.split()))"

# --fail-above and new ops: the same run with its marker 'step' renamed 'stepX' (new: no
# base to change from) fails --fail-above when stepX's total is more than PCT % of the
# run's traced time (the top-level tree nodes' total), not when it is less
mkdir -p "$TMP/ren"
for f in "$TMP"/base/*.stats.json; do
    sed 's/"name": *"step"/"name":"stepX"/g' "$f" >"$TMP/ren/$(basename "$f")"
done
share=$($PY -c "
import glob, json
tot = tr = 0
for f in glob.glob('$TMP/ren/*.stats.json'):
    s = json.load(open(f))
    tot += sum(r['total_ns'] for r in s['ops'] if r['name'] == 'stepX' and r['kind'] == 'span')
    tr += sum(n['total_ns'] for n in s['tree'])
print(f'{100 * tot / tr:.3f}' if tr and tot else 0)")
lo=$($PY -c "print(max(0, $share - 1))") hi=$($PY -c "print($share + 1)")
"$CLI" diff --fail-above "$lo" "$TMP/base" "$TMP/ren" >/dev/null 2>"$TMP/fn.err"; rc=$?
check "--fail-above $lo: new marker stepX at $share% of the traced time fails it: exit 1 ($rc)" \
    test $rc = 1 -a "$share" != 0
check "--fail-above names the new marker" grep -q "stepX: new" "$TMP/fn.err"
"$CLI" diff --fail-above "$hi" "$TMP/base" "$TMP/ren" >/dev/null 2>&1; rc=$?
check "--fail-above $hi: the new marker below it, the gone one not counted: exit 0 ($rc)" \
    test $rc = 0
"$CLI" diff --format json "$TMP/base" "$TMP/ren" >"$TMP/fn.json"
check "diff json: the new marker's traced_share_pct ($share)" $PY -c "
import json, sys
r = [r for r in json.load(open('$TMP/fn.json'))['rows'] if r['name'] == 'stepX' and r['kind'] == 'marker']
sys.exit(not (r and abs(r[0]['traced_share_pct'] - $share) < 0.01))"

# 2. synthetic stats: repeated runs whose per-run means spread by 10%, NEW 3% slower (not
# flagged), and 2% spread with NEW 30% slower (flagged: the test can fail); single runs of a
# million events 1% slower (not flagged: below --min-effect) and 10% slower (flagged)
$PY - "$TMP/syn" <<'PY'
import json, os, random, sys
root = sys.argv[1]
rnd = random.Random(7)
def bucket(v):
    if v < 128:
        return v
    s = v.bit_length() - 1 - 7
    return (v >> s) << s
def stats(path, values=None, mean=None, count=1000):
    if values is None:  # a row with a given mean: count values around it
        values = [max(1, int(rnd.gauss(mean, mean * 0.05))) for _ in range(count)]
    h = {}
    for v in values:
        b = bucket(v)
        h[b] = h.get(b, 0) + 1
    row = {"cat": "posix", "name": "read", "kind": "span", "count": len(values),
           "total_ns": sum(values), "min_ns": min(values), "max_ns": max(values),
           "hist": sorted([lo, n] for lo, n in h.items())}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    json.dump({"schema": "traceagent-stats/1", "process": {"pid": 1}, "ops": [row],
               "tree": [{"cat": "posix", "name": "read", "count": row["count"],
                         "total_ns": row["total_ns"], "self_ns": row["total_ns"], "children": []}]},
              open(path, "w"))
for name, spread, change in (("noise", 0.10, 0.03), ("real", 0.02, 0.30)):
    for side, f in (("base", 1.0), ("new", 1.0 + change)):
        for k in range(8):
            m = 100000 * f * (1 + rnd.gauss(0, spread))
            stats(f"{root}/{name}-{side}/run-{k:03d}/app-1.stats.json", mean=m)
base = [int(rnd.lognormvariate(9, 0.5)) for _ in range(1000000)]
stats(f"{root}/big-base.stats.json", values=base)
stats(f"{root}/big-1pct.stats.json", values=[int(v * 1.01) for v in base])
stats(f"{root}/big-10pct.stats.json", values=[int(v * 1.10) for v in base])
PY
verdict() { "$CLI" diff --format json "$1" "$2" | $PY -c "
import json, sys
d = json.load(sys.stdin)
r = next(r for r in d['rows'] if r['kind'] == 'op' and r['name'] == 'posix read')
print(r['verdict'], r['test'], round(r['change_pct'], 1))"; }
v=$(verdict "$TMP/syn/noise-base" "$TMP/syn/noise-new")
check "repeated runs: a 3% change inside a 10% run-to-run spread is not flagged ($v)" \
    test "${v%% *}" = same
v=$(verdict "$TMP/syn/real-base" "$TMP/syn/real-new")
check "repeated runs: a 30% change over a 2% spread is a regression, by Welch ($v)" \
    bash -c "[[ '$v' == 'regression welch '* ]]"
v=$("$CLI" diff --format json "$TMP/syn/real-base" "$TMP/syn/real-new" | $PY -c "
import json, sys
d = json.load(sys.stdin)
r = next(r for r in d['rows'] if r['kind'] == 'node')
print(r['verdict'], r['test'])")
check "repeated runs: the tree node's per-run totals tested too ($v)" test "$v" = "regression welch"
v=$(verdict "$TMP/syn/big-base.stats.json" "$TMP/syn/big-1pct.stats.json")
check "single runs, a million events 1% slower: not flagged (below --min-effect) ($v)" \
    test "${v%% *}" = same
v=$(verdict "$TMP/syn/big-base.stats.json" "$TMP/syn/big-10pct.stats.json")
check "single runs, a million events 10% slower: a regression ($v)" \
    bash -c "[[ '$v' == 'regression mann-whitney '* ]]"

# 3. run --repeat N --warmup W: the runs apart, statistics over the measured ones
if [ -n "${TA_ASAN:-}" ]; then
    echo "# run --repeat: skipped under ASan (traceagent run preloads the plain agent; the plain suite runs it)"
    finish
fi
TRACEAGENT_MIN_DURATION_NS=0 "$CLI" run --repeat 3 --warmup 1 -o "$TMP/rep" -- "$W" 20 1000 \
    2>"$TMP/rep.err"; rc=$?
check "run --repeat 3 --warmup 1 exits 0 ($rc)" test $rc = 0
check "one subdirectory per run: warmup-000, run-000..run-002" \
    test -d "$TMP/rep/warmup-000" -a -d "$TMP/rep/run-000" -a -d "$TMP/rep/run-002" -a ! -e "$TMP/rep/run-003"
check "each run merged into its own run.json" test -f "$TMP/rep/run-001/run.json"
check "the statistics table on stderr" grep -q "3 measured runs (1 warm-up left out)" "$TMP/rep.err"
$PY - "$TMP/rep" "$ROOT" <<'PY'
import glob, json, math, sys
sys.path.insert(0, sys.argv[2] + "/tests/lib")
from tacheck import check, finish
d = sys.argv[1]
rep = json.load(open(f"{d}/repeat.json"))
check("repeat.json: 3 runs, 1 warm-up", rep["runs"] == 3 and rep["warmups"] == 1, [rep["runs"]])
def width(lo):
    return 1 if lo < 128 else 1 << (lo.bit_length() - 1 - 7)
def pct(h, count, p, mn, mx):
    rank = max(1, (count * p + 99) // 100)
    seen = 0
    for lo, n in sorted(h.items()):
        seen += n
        if seen >= rank:
            return min(max(lo + width(lo) // 2, mn), mx)
    return mx
ok, detail = True, []
for name in ("step", "fixed"):
    means, hist, mn, mx, count = [], {}, None, 0, 0
    for run in sorted(glob.glob(f"{d}/run-*")):
        c = t = 0
        for f in glob.glob(f"{run}/*.stats.json"):
            for r in json.load(open(f))["ops"]:
                if r["cat"] == "marker" and r["name"] == name:
                    c += r["count"]; t += r["total_ns"]
                    mn = r["min_ns"] if mn is None else min(mn, r["min_ns"])
                    mx = max(mx, r["max_ns"])
                    for lo, n in r["hist"]:
                        hist[lo] = hist.get(lo, 0) + n
        means.append(t / c)
        count += c
    m = sum(means) / len(means)
    sd = math.sqrt(sum((x - m) ** 2 for x in means) / (len(means) - 1))
    row = next((r for r in rep["ops"] if r["kind"] == "marker" and r["name"] == name), None)
    want = {"mean_ns": m, "stddev_ns": sd, "p50_ns": pct(hist, count, 50, mn, mx),
            "p95_ns": pct(hist, count, 95, mn, mx), "p99_ns": pct(hist, count, 99, mn, mx)}
    good = row is not None and all(math.isclose(row[k], v, rel_tol=1e-9, abs_tol=1e-6)
                                   for k, v in want.items()) \
        and all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(row["run_means_ns"], means)) \
        and len(row["run_means_ns"]) == 3 and row["count_per_run"] == 20
    ok &= good
    if not good:
        detail.append((name, row, want, means))
check("per-run means, their mean and stddev, pooled p50/p95/p99 equal those computed from "
      "the runs' stats files (warm-up left out)", ok, detail)
finish()
PY
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
# report/tree on the --repeat directory: the measured runs only, and a line that says so
"$CLI" report "$TMP/rep" >"$TMP/rep.txt" 2>&1; rc=$?
nrun=$(ls "$TMP"/rep/run-*/*.stats.json | wc -l)
check "report on a --repeat directory: exit 0, says 3 repeated runs, warm-up left out ($rc)" \
    bash -c "[ $rc = 0 ] && head -1 '$TMP/rep.txt' | grep -q 'holds 3 repeated runs (1 warm-up left out).*repeat.json'"
check "report on a --repeat directory: the measured runs' $nrun processes, not the warm-up's" \
    bash -c "grep -q '^traceagent: $nrun process' '$TMP/rep.txt' && ! grep -q warmup-000 '$TMP/rep.txt'"
"$CLI" tree "$TMP/rep" >"$TMP/rept.txt" 2>&1
check "tree on a --repeat directory: says so" grep -q 'holds 3 repeated runs' "$TMP/rept.txt"
"$CLI" run -q --repeat 2 -o "$TMP/rep" -- "$W" 1 10 2>/dev/null; rc=$?
check "run --repeat into a directory that holds repeated runs: refused, exit 2 ($rc)" test $rc = 2
"$CLI" run --repeat 0 -- "$W" 1 10 2>/dev/null; rc=$?
check "run --repeat 0: exit 2 ($rc)" test $rc = 2

# 4. diff of two directories of repeated runs: Welch on the per-run means (5 runs of 40
# steps a side: with 3 runs of 20 on the loaded machine, the runs' means spread too much
# for alpha 0.01; steps of 4 ms, not 1 ms: a sleep's overshoot under load (a few hundred us
# in CI with four other jobs) is then a small part of each step, and the 30% stands out)
TRACEAGENT_MIN_DURATION_NS=0 "$CLI" run -q --repeat 5 -o "$TMP/rep1" -- "$W" 40 4000 2>/dev/null
TRACEAGENT_MIN_DURATION_NS=0 "$CLI" run -q --repeat 5 -o "$TMP/rep2" -- "$W" 40 5200 2>/dev/null
"$CLI" diff --format json "$TMP/rep1" "$TMP/rep2" >"$TMP/d3.json"
v=$($PY -c "
import json
d = json.load(open('$TMP/d3.json'))
r = next(r for r in d['rows'] if r['kind'] == 'marker' and r['name'] == 'step')
print(d['base_runs'], d['new_runs'], r['verdict'], r['test'], r.get('p', r.get('p_value', '?')))" 2>&1)
check "diff of repeated runs: 'step' 30% slower is a regression by Welch's test ($v)" \
    test "$(echo "$v" | cut -d' ' -f1-4)" = "5 5 regression welch"
finish
