#!/usr/bin/env bash
# 100,000 short threads, one after the other: no event lost, and the rings are handed back
# (peak memory stays near that of a few rings, not 100,000). Run beside two busy loops, one
# per core of a CI machine: a drainer that gets little CPU reclaims rings late, and before
# the bound on retired rings (agent/thread.c, RETIRED_MAX) 300-1000 rings were alive at once
# (+33 to +84 MiB).
. "$(dirname "$0")/lib/common.sh"
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): its checks are memory bounds (peak RSS, RLIMIT_AS), which ASan's shadow memory and quarantine change; the plain suite runs it"
ta_cc "$TBUILD/threads" "$ROOT/tests/core/threads.c"
base=$("$TBUILD/threads" 2000)
timeout 300 yes >/dev/null & load1=$!
timeout 300 yes >/dev/null & load2=$!
peak=$(traced "$TMP/o" "$TBUILD/threads" 100000)
kill "$load1" "$load2"; wait "$load1" "$load2" 2>/dev/null
$PY - "$TMP/o" <<PY
import sys, glob; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
(f,) = glob.glob(sys.argv[1] + "/*.trace.json")
ev = tacheck.load_trace(f, require_closed=True)
n = len(tacheck.spans(ev, name="short"))
d = sum(e["args"]["count"] for e in ev if e["name"] == "dropped" and e.get("cat") == "agent")
print(("ok" if n == 100000 and d == 0 else "not ok") + f" - 100000 threads: {n} spans, {d} dropped")
PY
added=$(( peak - base ))
# a default ring is 1 MiB (64 KiB of it mapped for a thread that writes little); the rings
# that exist at once are bounded by the threads alive plus 32 retired ones, however late
# the drainer comes
check "100000 threads: peak RSS added ${added} kB < 32 MiB (not one ring, nor one stats record of KiBs, per thread)" test $added -lt 32768

# A thread whose ring cannot be mapped (RLIMIT_AS lowered by the program) loses its calls,
# and says so: each is counted as dropped (cause no_ring) in stats.json and in the trace.
ta_cc "$TBUILD/noring" "$ROOT/tests/core/noring.c"
made=$(traced "$TMP/nr" "$TBUILD/noring" 2>"$TMP/nr.err")
$PY - "$TMP/nr" "$made" "$TMP/nr.err" <<PY
import sys, glob; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
d, made, err = sys.argv[1], sys.argv[2].split(), open(sys.argv[3]).read()
calls, ran = int(made[0]), int(made[1])
(f,) = glob.glob(d + "/*.trace.json")
ev = tacheck.load_trace(f, require_closed=True)
rec = len(tacheck.spans(ev, name="pread"))
tdrop = sum(e["args"]["count"] for e in ev if e["name"] == "dropped" and e.get("cat") == "agent"
            and e["args"].get("cause") == "no_ring")
(sf,) = glob.glob(d + "/*.stats.json")
st = tacheck.load_stats(sf)
row = tacheck.op(st, "posix", "pread")
srec = row["count"] if row else 0
sdrop = st.get("dropped", {}).get("no_ring", 0)
tacheck.check(f"no ring under RLIMIT_AS: {ran} threads ran, {calls} preads made; trace: {rec} "
              f"recorded + {tdrop} dropped (no_ring)", ran == 4 and tdrop > 0 and rec + tdrop == calls)
tacheck.check(f"no ring: stats.json: {srec} counted + {sdrop} dropped (no_ring) = {calls}",
              sdrop > 0 and srec + sdrop == calls)
tacheck.check("no ring: one warning on stderr", err.count("no_ring") == 1, err.splitlines()[-3:])
tacheck.finish()
PY
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
