#!/usr/bin/env bash
# python/traceagent.py: ranges nest, the decorator names spans, an exception inside a
# range still pops it, threads keep their own stacks, names are UTF-8; the same script
# runs unchanged (and quietly) without the agent.
source "$(dirname "$0")/lib/common.sh"

[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }

cat >"$TMP/prog.py" <<'EOF'
import sys, threading
import traceagent

print("enabled", traceagent.enabled())

with traceagent.range("load"):
    with traceagent.range("parse"):
        sum(range(1000))          # the builtin: traceagent.range does not shadow it here
    with traceagent.range("parse"):
        pass

@traceagent.traced
def step(i):
    return i * 2

@traceagent.traced("solve it")
def solve():
    return [step(i) for i in range(3)]

@traceagent.traced(name="kw_named")
def kw():
    return 1

with traceagent.range("main"):
    assert solve() == [0, 2, 4]
    assert kw() == 1

try:
    with traceagent.range("boom"):
        with traceagent.range("deeper"):
            raise ValueError("x")
except ValueError:
    pass

@traceagent.traced
def raises():
    raise KeyError("k")

try:
    raises()
except KeyError:
    pass

with traceagent.range("after"):   # must be at the top: boom and deeper were popped
    pass

def worker(k):
    for _ in range(5):
        with traceagent.range("work"):
            with traceagent.range("work-inner"):
                pass

ts = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()

with traceagent.range("données ✓"):
    pass
traceagent.mark("checkpoint")
traceagent.counter("loss", 0.25)
traceagent.counter("loss", 0.125)
traceagent.push("manual")
traceagent.pop()
print("done")
EOF

# without the agent: runs unchanged, does nothing
env -u LD_PRELOAD PYTHONPATH="$ROOT/python" TRACEAGENT_OUTPUT="$TMP/none" $PY "$TMP/prog.py" \
    >"$TMP/none.out" 2>&1; rc=$?
check "no agent: the script runs unchanged (exit 0)" \
    bash -c "[ $rc = 0 ] && grep -qx 'enabled False' '$TMP/none.out' && grep -qx done '$TMP/none.out'"
check "no agent: nothing written" test ! -e "$TMP/none"

# with the agent
PYTHONPATH="$ROOT/python" traced "$TMP/out" $PY "$TMP/prog.py" >"$TMP/with.out" 2>&1; rc=$?
check "agent: the script runs (exit 0), enabled() is True" \
    bash -c "[ $rc = 0 ] && grep -qx 'enabled True' '$TMP/with.out' && grep -qx done '$TMP/with.out'"

$PY - "$TMP/out" "$ROOT" <<'EOF'
import sys, os
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
def ok(c, d): print(("ok - " if c else "not ok - ") + "agent: " + d)
procs = tacheck.files(sys.argv[1])
ok(len(procs) == 1, f"one process ({len(procs)})")
(pid, [pf]), = procs.items()
ok(pf["exe"] == "python3", f"files named python3-<pid> ({pf['exe']})")
evs = tacheck.load_trace(pf["trace"])
s = tacheck.load_stats(pf["stats"])
m = tacheck.spans(evs, "marker")
names = [e["name"] for e in m]
def count(n): return names.count(n)
ok(count("load") == 1 and count("parse") == 2, "ranges: load x1, parse x2")
ok(count("step") == 3 and count("solve it") == 1 and count("kw_named") == 1, "decorator: names from the function, the argument, name=")
ok(count("raises") == 1 and count("boom") == 1 and count("deeper") == 1, "exceptions: ranges closed")
ok(count("work") == 15 and count("work-inner") == 15, "threads: 3 x 5 ranges")
ok(count("données ✓") == 1, "UTF-8 names")
ok(count("manual") == 1, "push/pop")
ok(not tacheck.check_nesting(evs), "spans nest on every thread")
ok(not any(e.get("args", {}).get("unfinished") for e in m), "no range left open at exit")
inst = [e for e in evs if e.get("ph") == "i" and e.get("name") == "checkpoint"]
ok(len(inst) == 1, "mark: an instant")
c = [c for c in s["counters"] if c["name"] == "loss"]
ok(c and c[0]["count"] == 2 and c[0]["min"] == 0.125 and c[0]["max"] == 0.25 and c[0]["last"] == 0.125, "counter: samples")

# the stats tree: nesting as written in the script
def find(nodes, name):
    return [n for n in nodes if n["name"] == name and n["cat"] == "marker"]
def kids(n, cat="marker"):
    return {c["name"]: c for c in n["children"] if c["cat"] == cat}
top = s["tree"]
load = find(top, "load")
ok(load and kids(load[0]).get("parse", {}).get("count") == 2, "tree: parse (x2) under load")
main = find(top, "main")
solve = kids(main[0]).get("solve it") if main else None
ok(solve and kids(solve).get("step", {}).get("count") == 3 and "kw_named" in kids(main[0]),
   "tree: main -> solve it -> step x3, main -> kw_named")
boom = find(top, "boom")
ok(boom and "deeper" in kids(boom[0]), "tree: deeper under boom")
ok(find(top, "after") and find(top, "raises"), "tree: after and raises at the top (ranges popped by exceptions)")
work = find(top, "work")
ok(work and work[0]["count"] == 15 and kids(work[0]).get("work-inner", {}).get("count") == 15,
   "tree: work -> work-inner merged over threads")
ok(not any(find(top, n) for n in ("parse", "step", "deeper", "work-inner")), "tree: no inner range at the top")
EOF

# the disabled path costs next to nothing
cost=$(env -u LD_PRELOAD PYTHONPATH="$ROOT/python" $PY -c '
import timeit, traceagent
@traceagent.traced
def f(): pass
def g(): pass
n = 200000
a = min(timeit.repeat(f, number=n, repeat=3)); b = min(timeit.repeat(g, number=n, repeat=3))
print(round((a - b) / n * 1e9, 1))')
check "no agent: @traced adds nothing (${cost} ns per call)" \
    $PY -c "import sys; sys.exit(0 if float('$cost') < 50 else 1)"

finish
