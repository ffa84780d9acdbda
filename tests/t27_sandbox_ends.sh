#!/usr/bin/env bash
# Processes that end without their main thread calling exit (issue 13, item 5 in part):
# a seccomp errno filter that makes getpid fail made the agent take itself for a forked
# copy and skip the exit flush silently; a seccomp strict-mode program leaves by a raw
# exit of its only thread (exit_group is not allowed), and the drainer thread kept the
# process alive forever (kill -TERM too: the drainer blocks every signal); so did a main
# thread that left by pthread_exit before its last worker. Under `timeout`, outside the
# preload: each ends, with its trace closed and stats.json written.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/ends"
ta_cc "$bin" "$ROOT/tests/core/ends.c"

# run MODE: traced into $TMP/MODE/out, killed after 60 s; prints the exit status
run() {
    mkdir -p "$TMP/$1"
    ( cd "$TMP/$1" && timeout -s KILL 60 env TRACEAGENT_OUTPUT="$TMP/$1/out" LD_PRELOAD="$AGENT" \
        "$bin" "$1" </dev/null >"$TMP/$1/log" 2>&1 ) 2>/dev/null
    echo $?
}
closed() {
    $PY - "$ROOT" "$TMP/$1/out" <<'PY'
import glob, os, sys
sys.path.insert(0, sys.argv[1] + "/tests/lib")
import tacheck
fs = glob.glob(sys.argv[2] + "/ends-*.trace.json")
ok = len(fs) == 1 and tacheck.is_closed(fs[0]) and os.path.exists(fs[0][:-11] + ".stats.json")
if ok:
    tacheck.load_trace(fs[0])
sys.exit(0 if ok else 1)
PY
}

rc=$(run sec-errno)
check "seccomp errno filter on getpid: exit 0 as untraced (rc $rc)" test "$rc" = 0
check "seccomp errno filter on getpid: the trace closed, stats.json written" closed sec-errno

t0=$(date +%s)
rc=$(run sec-strict)
t=$(( $(date +%s) - t0 ))
check "seccomp strict mode, raw exit of the only thread: the process ends by itself (rc $rc after $t s)" \
    test $t -lt 50
check "seccomp strict mode: the trace closed, stats.json written" closed sec-strict

rc=$(run pexit)
check "pthread_exit from main, then the last worker returns: exit 0 as untraced (rc $rc)" test "$rc" = 0
check "pthread_exit from main: the worker's output is there" grep -q '^worker$' "$TMP/pexit/log"
check "pthread_exit from main: the trace closed, stats.json written" closed pexit
finish
