#!/usr/bin/env bash
# Corners of process life found by a review (tests/core/procs.c): a child made by hand with
# clone(CLONE_VM) hung the program (its first traced call started a drainer thread that
# kept it alive); signal() past the agent's wrapper (strict ISO C) made a later
# sigaction(SIG_DFL) a no-op; the agent's alternate signal stack showed through sigaltstack
# and crashed a SA_ONSTACK handler with a large frame; quick_exit left the trace unflushed;
# under a low RLIMIT_NOFILE the agent's files took the program's low fd numbers; a second
# thread's _exit while the process ended killed the agent's flush mid-write. Each mode must
# print and exit as untraced, and leave whole traces.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/procs"
ta_cc "$bin" "$ROOT/tests/core/procs.c" -D_GNU_SOURCE
gcc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -Wall -o "$TBUILD/procs-sysv" "$ROOT/tests/core/procs.c" ||
    fail "compile procs.c strict ISO C"

# run MODE [BIN]: untraced and traced (output dir $TMP/MODE), outputs and exit status
run() {
    local mode=$1 b=${2:-$bin}
    mkdir -p "$TMP/$mode"
    timeout 30 "$b" "$mode" >"$TMP/$mode.ref" 2>&1
    echo "rc=$?" >>"$TMP/$mode.ref"
    traced "$TMP/$mode" timeout 30 "$b" "$mode" >"$TMP/$mode.got" 2>&1
    echo "rc=$?" >>"$TMP/$mode.got"
    check "$mode: output and exit status as untraced ($(tr '\n' ' ' <"$TMP/$mode.got"))" \
        cmp -s "$TMP/$mode.ref" "$TMP/$mode.got"
}
run clone
run sysv "$TBUILD/procs-sysv"
run altstack
run quick
run nofile
for i in 1 2 3 4 5 6; do
    mkdir -p "$TMP/exit2"
    traced "$TMP/exit2" timeout 30 "$bin" exit2 >/dev/null 2>&1
done

$PY - "$ROOT" "$TMP" <<'PY'
import glob, sys
ROOT, T = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
check = tacheck.check

def traces(mode):
    return tacheck.whole_traces(f"{T}/{mode}/procs-*.trace.json", mode)

tr = traces("clone")
w = [e for _, ev in tr for e in tacheck.spans(ev, name="write")]
check("clone: one closed trace; the parent's 3 writes, none of the child's",
      len(tr) == 1 and len(w) == 3, [len(tr), len(w)])

tr = traces("quick")
w = [e for _, ev in tr for e in tacheck.spans(ev, name="write")]
check("quick: quick_exit flushed the trace: closed, 100 writes, stats.json beside it",
      len(tr) == 1 and len(w) == 100
      and glob.glob(tr[0][0].replace(".trace.json", ".stats.json")), [len(tr), len(w)])

tr = traces("nofile")
check("nofile: parent's and child's traces both closed", len(tr) == 2, [f for f, _ in tr])
fs = sorted(glob.glob(f"{T}/exit2/procs-*.trace.json"))
tr = traces("exit2")
check("exit2: a worker's _exit while the process ends: all 6 traces closed, with stats.json",
      len(fs) == 6 and len(tr) == 6
      and all(glob.glob(f.replace(".trace.json", ".stats.json")) for f in fs), fs)
tacheck.finish()
PY
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
