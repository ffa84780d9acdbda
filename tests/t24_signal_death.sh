#!/usr/bin/env bash
# Death by a signal (issue 13, item 12): stats.json was missing after SIGTERM, SIGSEGV,
# SIGABRT, SIGBUS. It must be written, marked "complete": false with the signal's name,
# and the program must die by the same signal with the same wait status as untraced; a
# clean exit says "complete": true. A `with multiprocessing.Pool(4)` block SIGTERMs its
# workers: every one leaves stats.json. `traceagent run` and `report` count the processes
# whose stats are incomplete or missing instead of silently showing fewer processes.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/ends"
ta_cc "$bin" "$ROOT/tests/core/ends.c"

# status MODE [LD_PRELOAD]: the raw wait status (core dump bit included: core files of up
# to 256 MiB allowed, removed after) of `ends MODE`, under a timeout
status() {
    timeout 60 $PY - "$bin" "$1" "${2:-}" "$TMP/$1/out" <<'PY'
import os, resource, sys
b, mode, pre, out = sys.argv[1:5]
env = dict(os.environ)
if pre:
    env.update(LD_PRELOAD=pre, TRACEAGENT_OUTPUT=out)
os.makedirs(out, exist_ok=True)
pid = os.fork()
if pid == 0:
    os.chdir(out)
    resource.setrlimit(resource.RLIMIT_CORE, (256 << 20, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 2)
    os.execve(b, [b, mode], env)
print(os.waitpid(pid, 0)[1])
for f in os.listdir(out):
    if f.startswith("core"):
        os.unlink(os.path.join(out, f))
PY
}

# untraced: the same program alone, or under make test-asan with the ASan runtime alone
# (it turns core dumps off: disable_coredump), so that only the agent differs
alone=; [ -n "${TA_ASAN:-}" ] && alone=${AGENT%:*}
for m in term segv abort bus; do
    want=$(status $m "$alone")
    got=$(status $m "$AGENT")
    check "$m: wait status as untraced ($got, untraced $want)" test "$got" = "$want"
    $PY - "$ROOT" "$TMP/$m/out" "$m" <<'PY' || T_FAILS=$((T_FAILS + 1))
import glob, json, sys
sys.path.insert(0, sys.argv[1] + "/tests/lib")
import tacheck
out, m = sys.argv[2:4]
name = {"term": "SIGTERM", "segv": "SIGSEGV", "abort": "SIGABRT", "bus": "SIGBUS"}[m]
st = glob.glob(out + "/ends-*.stats.json")
s = tacheck.load_stats(st[0]) if len(st) == 1 else {}
tacheck.check(f"{m}: stats.json written, complete false, signal {name}",
              s.get("complete") is False and s.get("signal") == name,
              [st, {k: s.get(k) for k in ("complete", "signal")}])
ops = {(o["cat"], o["name"]): o["count"] for o in s.get("ops", [])}
n = ops.get(("posix", "pread"), 0) + ops.get(("posix", "pread64"), 0)
tacheck.check(f"{m}: the stats hold the 1000 preads before the signal ({n})", n == 1000)
tr = glob.glob(out + "/ends-*.trace.json")
ok = len(tr) == 1
if ok:
    tacheck.load_trace(tr[0])
tacheck.check(f"{m}: the trace parses line by line", ok, tr)
tacheck.finish()
PY
done

mkdir -p "$TMP/clean"
( cd "$TMP/clean" && traced "$TMP/clean/out" "$bin" show >/dev/null )
check "a clean exit: \"complete\": true" grep -q '"complete": true' "$TMP"/clean/out/ends-*.stats.json

# multiprocessing.Pool: every worker's SIGTERM leaves stats (3 runs)
for i in 1 2 3; do
    mkdir -p "$TMP/pool$i"
    ( cd "$TMP/pool$i" && timeout 120 env TRACEAGENT_OUTPUT="$TMP/pool$i/out" LD_PRELOAD="$AGENT" \
        $PY "$ROOT/tests/core/pool.py" >/dev/null 2>&1 )
done
$PY - "$ROOT" "$TMP" <<'PY' || T_FAILS=$((T_FAILS + 1))
import glob, os, sys
sys.path.insert(0, sys.argv[1] + "/tests/lib")
import tacheck
T = sys.argv[2]
missing, procs, termed = [], 0, 0
for i in (1, 2, 3):
    for f in glob.glob(f"{T}/pool{i}/out/python3-*.trace.json"):
        procs += 1
        s = f[:-len(".trace.json")] + ".stats.json"
        if not os.path.exists(s):
            missing.append(f)
            continue
        termed += tacheck.load_stats(s).get("signal") == "SIGTERM"
tacheck.check(f"Pool(4), 3 runs: every process left stats.json ({procs - len(missing)} of {procs})",
              procs >= 15 and not missing, missing)
tacheck.check(f"Pool(4): the 12 busy workers ended by SIGTERM say so ({termed})", termed >= 12)
tacheck.finish()
PY

# the summary counts them: run's and report's
mkdir -p "$TMP/sum"
( cd "$TMP/sum" && timeout 120 "$CLI" run -o "$TMP/sum/out" -- $PY "$ROOT/tests/core/pool.py" \
    >/dev/null 2>"$TMP/sum/run.txt" )
ntr=$(ls "$TMP"/sum/out/*.trace.json | wc -l)
nterm=$(grep -l '"signal": "SIGTERM"' "$TMP"/sum/out/*.stats.json | wc -l)
check "run: the summary counts every process ($ntr traces)" \
    grep -q "^traceagent: $ntr processes, " "$TMP/sum/run.txt"
check "run: the summary says $nterm of $ntr ended by SIGTERM (stats incomplete)" \
    grep -q "^traceagent: $nterm of $ntr processes ended by SIGTERM (stats incomplete)" "$TMP/sum/run.txt"
mkdir -p "$TMP/kill"
( cd "$TMP/kill" && traced "$TMP/sum/out" sh -c 'kill -KILL $$' ) 2>/dev/null
"$CLI" report "$TMP/sum/out" >"$TMP/sum/report.txt" 2>&1
check "report: a process killed by SIGKILL is counted as leaving no stats" \
    grep -q "^traceagent: $nterm of $((ntr + 1)) processes ended by SIGTERM (stats incomplete); 1 left no stats" \
    "$TMP/sum/report.txt"

# SIGPIPE from stdio's flush at exit, after the agent's destructor had flushed: it was
# swallowed (the handler took it for one arriving mid-flush) and the program exited 0
cat >"$TMP/pipe.c" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("hello\n"); sleep(1); return 0; }
C
ta_cc "$TBUILD/latepipe" "$TMP/pipe.c"
mkdir -p "$TMP/latepipe"
rc=$(traced "$TMP/latepipe" bash -c '"$0" | true; echo ${PIPESTATUS[0]}' "$TBUILD/latepipe")
check "SIGPIPE at exit's stdio flush, after the agent's: dies of it as untraced (rc $rc, want 141)" \
    test "$rc" = 141
finish
