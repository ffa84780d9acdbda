#!/usr/bin/env bash
# The environment of an exec'd image (issue 13, items 4 and 17). execve with an explicit
# envp while other threads setenv/unsetenv crashed the program (the agent read the live
# environment twice) or sent the new image's trace elsewhere; execve of a 20000-entry
# envp from a thread with a 64 KiB stack overflowed it (alloca); execveat, clearenv()
# then execv, and an envp whose LD_PRELOAD was emptied lost the agent in the new image.
# Each new image must be traced into the same directory, with the agent's entries put
# back; with TRACEAGENT_CHILDREN=0 nothing is added.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/ends"
ta_cc "$bin" "$ROOT/tests/core/ends.c"

# run NAME MODE [env...]: the program traced into $TMP/NAME; prints its exit status
run() {
    local name=$1 mode=$2; shift 2
    mkdir -p "$TMP/$name"
    ( cd "$TMP/$name" && timeout 60 env "$@" TRACEAGENT_OUTPUT="$TMP/$name/out" \
        LD_PRELOAD="$AGENT" "$bin" "$mode" >"$TMP/$name/log" 2>&1 )
    echo $?
}
# images NAME: the number of closed traces of `ends` with stats.json beside them
images() {
    $PY - "$ROOT" "$TMP/$1/out" <<'PY'
import glob, os, sys
sys.path.insert(0, sys.argv[1] + "/tests/lib")
import tacheck
n = 0
for f in glob.glob(sys.argv[2] + "/ends-*.trace.json"):
    if tacheck.is_closed(f) and os.path.exists(f[:-len(".trace.json")] + ".stats.json"):
        tacheck.load_trace(f)
        n += 1
print(n)
PY
}

# the sanitized build (make test-asan) also hands its runtime's 3 variables to children
san=0; [ -n "${TA_ASAN:-}" ] && san=3
# ... and where the CUPTI module is built beside it, the agent names the module in the
# new image's CUDA_INJECTION64_PATH and NVTX_INJECTION64_PATH as it starts (issue 16)
[ -f "$(dirname "${AGENT##*:}")/libtraceagent-cupti.so" ] && san=$((san + 2))
good=0
for i in 1 2 3 4 5; do
    rc=$(run race$i race)
    n=$(images race$i)
    [ "$rc" = 0 ] && [ "$n" = 2 ] && grep -q "^entries $((3 + san))$" "$TMP/race$i/log" && good=$((good + 1))
    [ "$rc" = 0 ] && [ "$n" = 2 ] || echo "# race run $i: rc $rc, $n closed traces of 2"
done
check "execve(envp) while 2 threads setenv/unsetenv: 5 of 5 runs exit 0, both images traced into the output directory ($good)" test $good = 5

rc=$(run small smallstack)
check "execve of a 20000-entry envp from a 64 KiB thread: exit 0 (rc $rc), both images traced ($(images small))" \
    test "$rc" = 0 -a "$(images small)" = 2 -a "$(grep -c "^entries $((20002 + san))\$" "$TMP/small/log")" = 1

for m in execveat execveat-env clearenv dropenv; do
    rc=$(run $m $m)
    n=$(images $m)
    check "$m: exit 0 (rc $rc), the image before (flushed) and the new image (traced) both closed with stats ($n of 2)" \
        test "$rc" = 0 -a "$n" = 2
    check "$m: the new image has the agent in LD_PRELOAD and TRACEAGENT_OUTPUT" \
        grep -q "^TRACEAGENT_OUTPUT=$TMP/$m/out\$" "$TMP/$m/log"
done
check "dropenv: LD_PRELOAD= became the agent's entry" grep -q "^LD_PRELOAD=.*${AGENT##*/}\$" "$TMP/dropenv/log"

# the buffer a vfork child builds its environment in is the parent's memory: unmapped by
# the parent when vfork returns (a guard of that design; the old agent used the stack)
rc=$(run vfork vforkenv)
grew=$(sed -n 's/^vm grew \(-\?[0-9]*\) KiB$/\1/p' "$TMP/vfork/log")
check "vfork + execve(envp) 20 times: every child had the agent (rc $rc), the parent grew $grew KiB (< 256)" \
    test "$rc" = 0 -a -n "$grew" -a "${grew:-999}" -lt 256
rc=$(run nochild clearenv TRACEAGENT_CHILDREN=0)
check "TRACEAGENT_CHILDREN=0, clearenv then execv: nothing added (the new image sees 1 variable), only the first image traced (rc $rc)" \
    test "$rc" = 0 -a "$(images nochild)" = 1 -a "$(grep -c . "$TMP/nochild/log")" = 1 -a "$(cat "$TMP/nochild/log")" = "entries 1"
finish
