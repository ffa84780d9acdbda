#!/usr/bin/env bash
# A signal handler that records (write(2) from a handler, as Python's wakeup fd does) while
# the interrupted thread is in the middle of a record: the trace stays whole, and every
# event is either written or counted as dropped. And a timer that fires while the agent's
# drainer thread starts never runs the program's handler on that thread.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/sigio" "$ROOT/tests/core/sigio.c"
# markers: 3 M ranges; pread: 100 k preads (each one interrupted, as a rule: slower)
for mode in markers pread; do
n=3000000; [ $mode = pread ] && n=100000
traced_quiet "$TMP/o-$mode" "$TBUILD/sigio" $n $mode > "$TMP/out"
check "$mode: the program runs to its end under the agent (rc $?)" test $? = 0
read -r made calls < "$TMP/out"
[ -n "$calls" ] || { fail "$mode: the program printed its counts"; continue; }
$PY - "$TMP/o-$mode" "$made" "$calls" "$mode" <<PY
import sys, glob; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
d, made, calls, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def check(ok, what): print(("ok - " if ok else "not ok - ") + mode + ": " + what)
(f,) = glob.glob(d + "/*.trace.json")
try:
    ev = tacheck.load_trace(f, require_closed=True)
except Exception as e:
    check(False, f"trace parses: {e}"); sys.exit(0)
if mode == "pread":
    main = tacheck.spans(ev, name="pread")
    bad = [e for e in main if e["args"].get("path") != "/dev/zero" or e["args"].get("bytes") != 1]
    check(not bad, f"every pread record whole: path /dev/zero, 1 byte ({len(bad)} not: {bad[:2]})")
    work = len(main) - len(bad)
else:
    work = len(tacheck.spans(ev, name="work"))
writes = sum(1 for e in tacheck.spans(ev, name="write") if e["args"].get("path") == "/dev/null")
drops = {}
for e in ev:
    if e.get("cat") == "agent" and e["name"] == "dropped":
        drops[e["args"]["cause"]] = drops.get(e["args"]["cause"], 0) + e["args"]["count"]
st = tacheck.load_stats(f.replace(".trace.json", ".stats.json"))
check(calls > 1000, f"the handler ran often ({calls} times)")
check(work + writes + sum(drops.values()) == made + calls,
      f"every event written or counted: {work} {'preads' if mode == 'pread' else 'ranges'} + {writes} handler writes + dropped {drops} == {made} + {calls}")
check(st["dropped"] == drops, f"stats.json counts the same drops ({st['dropped']})")
check(tacheck.check_nesting(ev) == [], "spans still nest")
PY
done
# The drainer thread is born with every signal blocked: a timer that fires while it starts
# must not run the program's handler on it (it did in half of such runs, and the handler's
# own calls went unrecorded)
bad=0 calls=0
for i in $(seq 10); do
    read -r c e < <(traced_quiet "$TMP/o-first" "$TBUILD/sigio" 20000 first)
    calls=$((calls + ${c:-0}))
    [ "${e:-1}" = 0 ] || bad=$((bad + 1))
done
check "first: the handler never ran on the agent's thread (10 runs, $calls handler calls; $bad runs where it did)" \
    test $bad = 0 -a $calls -gt 100
finish
