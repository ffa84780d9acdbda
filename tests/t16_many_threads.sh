#!/usr/bin/env bash
# 100,000 short threads, one after the other: no event lost, and the rings are handed back
# (peak memory stays near that of a few rings, not 100,000).
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/threads" "$ROOT/tests/core/threads.c"
base=$("$TBUILD/threads" 2000)
peak=$(traced "$TMP/o" "$TBUILD/threads" 100000)
$PY - "$TMP/o" <<PY
import sys, glob; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
(f,) = glob.glob(sys.argv[1] + "/*.trace.json")
ev = tacheck.load_trace(f, require_closed=True)
n = len(tacheck.spans(ev, name="short"))
d = sum(e["args"]["count"] for e in ev if e["name"] == "dropped" and e.get("cat") == "agent")
print(("ok" if n == 100000 and d == 0 else "not ok") + f" - 100000 threads: {n} spans, {d} dropped")
PY
added=$(( peak - base ))
# a default ring is 1 MiB; the slots that exist at once are bounded by how many threads
# end between two drainer passes, a handful here
check "100000 threads: peak RSS added ${added} kB < 32 MiB (not one ring, nor one stats record of KiBs, per thread)" test $added -lt 32768
finish
