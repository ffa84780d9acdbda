#!/usr/bin/env bash
# Trace volume: a stdio-heavy program (`sort` of 200,000 lines writes each with its own
# fwrite_unlocked; `sort` of 50 MB wrote a 1 GB trace) keeps a usable trace with the
# defaults: posix and stdio spans shorter than TRACEAGENT_MIN_DURATION_NS (1 us by default)
# are counted in stats.json, exactly, but not written to the trace; the trace and stats
# say how many were left out, and `traceagent run`'s summary says how to get them all.
# Markers are written whatever their length. TRACEAGENT_MIN_DURATION_NS=0 writes all.
source "$(dirname "$0")/lib/common.sh"

N=200000
seq 1 $N | awk 'BEGIN{srand(7)} {print rand() "\t" $0}' >"$TMP/in.txt"
sort "$TMP/in.txt" >"$TMP/ref.txt"

# defaults, through the CLI (no variable set: unset what the caller may have)
env -u TRACEAGENT_MIN_DURATION_NS "$CLI" run -o "$TMP/def" -- \
    sort "$TMP/in.txt" -o "$TMP/def.txt" 2>"$TMP/def.summary"
check "defaults: sort's output is unchanged" cmp -s "$TMP/ref.txt" "$TMP/def.txt"
# everything written
TRACEAGENT_MIN_DURATION_NS=0 "$CLI" run -q -o "$TMP/all" -- sort "$TMP/in.txt" -o "$TMP/all.txt"
check "MIN_DURATION_NS=0: sort's output is unchanged" cmp -s "$TMP/ref.txt" "$TMP/all.txt"
check "run's summary says how many spans were left out and how to get them" \
    grep -Eq '^Trace: .*[0-9]+ spans shorter than 1\.00 .s left out.*--min-duration 0' \
    "$TMP/def.summary"
grep '^Trace:' "$TMP/def.summary" | sed 's/^/# /'

# a short marker is written by default; short posix calls are not
cat >"$TMP/mark.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
#include <traceagent.h>
int main(void)
{
    char b[1];
    int fd = open("/dev/zero", O_RDONLY);
    for (int i = 0; i < 1000; i++) {
        traceagent_push("short");
        traceagent_pop();
        if (read(fd, b, 1) != 1)
            return 1;
    }
    return 0;
}
C
ta_cc "$TBUILD/t39_mark" "$TMP/mark.c"
env -u TRACEAGENT_MIN_DURATION_NS TRACEAGENT_OUTPUT="$TMP/mark" LD_PRELOAD="$AGENT" \
    "$TBUILD/t39_mark"
check "the marker program runs" test $? = 0

$PY - "$ROOT" "$TMP" "$N" <<'PY'
import os, sys
ROOT, T, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
check = tacheck.check

def one(d):
    (pid, [p]), = tacheck.files(d).items()
    return p, tacheck.load_trace(p["trace"], require_closed=True), tacheck.load_stats(p["stats"])

pd, ed, sd = one(T + "/def")
pa, ea, sa = one(T + "/all")
zd, za = os.path.getsize(pd["trace"]), os.path.getsize(pa["trace"])
check(f"default trace is under 1/20 of the full one ({zd} vs {za} bytes)", zd * 20 < za)
for label, s in (("defaults", sd), ("MIN_DURATION_NS=0", sa)):
    row = tacheck.op(s, "stdio", "fwrite_unlocked")
    check(f"{label}: stats count every fwrite_unlocked ({row and row['count']} of {N})",
          row is not None and row["count"] == N)
note = [e for e in ed if e.get("cat") == "agent" and e.get("name") == "spans_left_out"]
left = sd["agent"].get("trace_spans_left_out")
check(f"defaults: stats.json's agent.trace_spans_left_out says how many ({left})",
      isinstance(left, int) and left > N // 2)
check("defaults: an agent event `spans_left_out` in the trace has the same count",
      len(note) == 1 and note[0]["args"].get("count") == left
      and note[0]["args"].get("min_duration_ns") == 1000, note)
all_spans = sum(r["count"] for r in sd["ops"] if r.get("kind") == "span")
check(f"defaults: spans written + left out = spans in stats ({len(tacheck.spans(ed))} + {left} "
      f"= {all_spans})", len(tacheck.spans(ed)) + left == all_spans)
check(f"defaults: no written posix/stdio span is shorter than 1 us",
      all(e["dur"] >= 1.0 for e in tacheck.spans(ed) if e["cat"] in ("posix", "stdio")))
check(f"MIN_DURATION_NS=0: every fwrite_unlocked in the trace "
      f"({len(tacheck.spans(ea, 'stdio', 'fwrite_unlocked'))})",
      len(tacheck.spans(ea, "stdio", "fwrite_unlocked")) == N
      and sa["agent"].get("trace_spans_left_out") == 0
      and not [e for e in ea if e.get("name") == "spans_left_out"])

pm, em, sm = one(T + "/mark")
check(f"defaults: short markers are all written ({len(tacheck.spans(em, 'marker', 'short'))})",
      len(tacheck.spans(em, "marker", "short")) == 1000)
r = tacheck.op(sm, "posix", "read")
check(f"defaults: 1-byte reads of /dev/zero are all counted in stats ({r and r['count']})",
      r is not None and r["count"] == 1000)
tacheck.finish()
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
