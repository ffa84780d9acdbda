#!/usr/bin/env bash
# 8 threads x 100,000 preads on one file: every call is either in the trace or counted as
# dropped (trace's agent "dropped" events, stats.json "dropped"); the traced ones carry the
# right path, fd, bytes and offsets on the right threads. Run twice: with the default ring,
# and with 4 KB rings that drop when full (TRACEAGENT_ON_FULL=drop), where drops must happen.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/io_threads"
ta_cc "$bin" "$ROOT/tests/io/io_threads.c" || { fail "build io_threads"; finish; }
for mode in default small; do
T="$TMP/$mode"
mkdir -p "$T/out"
if [ $mode = small ]; then
    TRACEAGENT_BUFFER_KB=4 TRACEAGENT_ON_FULL=drop traced "$T/out" "$bin" "$T/f.dat" \
        >"$T/made.txt" 2>"$T/err.txt"
else
    traced "$T/out" "$bin" "$T/f.dat" >"$T/made.txt" 2>"$T/err.txt"
fi
check "[$mode] the program runs correctly under the agent" test $? -eq 0
check "[$mode] nothing on stderr" test ! -s "$T/err.txt"

$PY - "$ROOT" "$T" "$mode" <<'PYEOF'
import collections, json, sys
ROOT, T, mode = sys.argv[1:4]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck

def check(desc, cond, detail=None):
    return tacheck.check(f"[{mode}] " + desc, cond, detail)

made = int(open(T + "/made.txt").read())
(pid, runs), = tacheck.files(T + "/out").items()
events = tacheck.load_trace(runs[0]["trace"], require_closed=True)
io = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("posix", "stdio")]
dropped = sum(e["args"]["count"] for e in events if e.get("cat") == "agent" and e.get("name") == "dropped")
print(f"# {made} calls made, {len(io)} traced, {dropped} dropped")
check("traced + dropped (trace) == calls made", len(io) + dropped == made, [len(io), dropped, made])
if mode == "small":
    check("4 KB rings in drop mode do drop (so the sums test the drop counts)", dropped > 0)
if runs[0]["stats"]:
    s = tacheck.load_stats(runs[0]["stats"])
    sd = sum(s.get("dropped", {}).values())
    check("traced + dropped (stats.json) == calls made", len(io) + sd == made, [len(io), sd])
    row = tacheck.op(s, "posix", "pread") or {}
    check("stats.json counts every traced pread", row.get("count") == sum(e["name"] == "pread" for e in io),
          [row.get("count")])
else:
    print("# no stats.json: its dropped count not checked")
pr = [e for e in io if e["name"] == "pread"]
F = T + "/f.dat"
wrong = [e for e in pr if e["args"].get("path") != F or e["args"].get("bytes") != 64
         or e["args"].get("offset", -1) % 64 or not 0 <= e["args"].get("offset", -1) < 4096]
check("every traced pread has the path, 64 bytes and its offset", not wrong, wrong[:3])
tids = collections.Counter(e["tid"] for e in pr)
check("preads come from 8 threads, none from more than 100,000 calls",
      len(tids) == 8 and max(tids.values()) <= 100000 and pid not in tids, [dict(tids)])
others = collections.Counter(e["name"] for e in io if e["name"] != "pread")
check("the main thread's open, pwrite, close are there unless dropped",
      dropped > 0 or dict(others) == {"open": 1, "pwrite": 1, "close": 1}, [dict(others)])
tacheck.finish()
PYEOF
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
done
finish
