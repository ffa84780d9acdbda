#!/usr/bin/env bash
# fork() from a signal handler while the agent does its exit flush (issue 13, item 2): a
# 200 us SIGALRM whose handler forks, armed after 300k preads, then a return from main.
# The fork's prepare handler waited for the rings the same thread held (deadlock, 20 of
# 20 runs), and a child forked meanwhile took the parent's flush for its own and waited
# 5 s in _exit. Under `timeout`, outside the preload: the program ends as untraced, with
# its trace closed and stats.json written, and no child takes seconds to leave.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/ends"
ta_cc "$bin" "$ROOT/tests/core/ends.c"
ok_runs=0 closed=0 slow=0
for i in 1 2 3; do
    d="$TMP/run$i"
    mkdir -p "$d"
    ( cd "$d" && TRACEAGENT_OUTPUT="$d/out" LD_PRELOAD="$AGENT" exec timeout 60 "$bin" forkflush ) \
        >"$d/log" 2>&1
    rc=$?
    [ $rc = 0 ] && ok_runs=$((ok_runs + 1))
    grep -q "slow child" "$d/log" && slow=$((slow + 1))
    $PY - "$ROOT" "$d/out" <<'PY' && closed=$((closed + 1))
import glob, sys
sys.path.insert(0, sys.argv[1] + "/tests/lib")
import tacheck
fs = glob.glob(sys.argv[2] + "/ends-*.trace.json")
ok = len(fs) == 1 and tacheck.is_closed(fs[0]) and glob.glob(sys.argv[2] + "/ends-*.stats.json")
if ok:
    ev = tacheck.load_trace(fs[0])
    ok = len(tacheck.spans(ev, name="pread")) + len(tacheck.spans(ev, name="pread64")) >= 1
sys.exit(0 if ok else 1)
PY
done
check "forkflush: 3 of 3 runs end with status 0 within 60 s (got $ok_runs)" test $ok_runs = 3
check "forkflush: the parent's trace closed and stats.json written in 3 of 3 runs ($closed)" test $closed = 3
check "forkflush: no child forked during the flush took 2 s or more to leave ($slow runs had one)" test $slow = 0
finish
