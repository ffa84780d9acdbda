# Sourced by tests/t*.sh. Each check prints "ok - ..." or "not ok - ..."; tests/run.sh counts
# them. A test script exits 0 when all its checks passed, 1 otherwise, 77 when skipped.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# TA_AGENT: the agent under test, as LD_PRELOAD names it. make test-asan (tests/run.sh
# --asan) sets "<ASan runtime>:<sanitized agent>"; the agent's file is "${AGENT##*:}".
AGENT="${TA_AGENT:-$ROOT/build/lib/libtraceagent.so}"
NOPAGENT="$ROOT/build/lib/libtraceagent-nop.so"
CLI="$ROOT/build/bin/traceagent"
PY=/usr/bin/python3          # Debian's interpreter (numpy, h5py come from Debian packages)
CHECK="$PY $ROOT/tests/lib/tacheck.py"
TBUILD="$ROOT/build/tests"
mkdir -p "$TBUILD"
T_FAILS=0
# A fresh scratch directory per test script, removed at exit unless KEEP=1.
TMP=$(mktemp -d /tmp/ta-test.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; T_FAILS=$((T_FAILS + 1)); }
# check "description" command args...: ok if the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# Compile a test program: ta_cc OUT SRC [flags...]
ta_cc() {
    local out=$1 src=$2; shift 2
    gcc -std=gnu11 -O1 -g -Wall -I"$ROOT/include" -o "$out" "$src" "$@" -pthread ||
        { fail "compile $(basename "$src") $*"; exit 1; }
}
# Run a command under the agent with output to DIR: traced DIR cmd args...
# Every span is written to the trace (TRACEAGENT_MIN_DURATION_NS=0), unless the caller sets
# TRACEAGENT_MIN_DURATION_NS itself: tests check single fast calls, which the default
# (1 us for posix and stdio) leaves out of the trace.
traced() {
    local d=$1; shift
    TRACEAGENT_MIN_DURATION_NS=${TRACEAGENT_MIN_DURATION_NS-0} TRACEAGENT_OUTPUT="$d" \
        LD_PRELOAD="$AGENT" "$@"
}
# The same, in a subshell whose death by a signal the shell does not report.
traced_quiet() { ( traced "$@" ) 2>/dev/null; }
skip() { echo "skip - $*"; exit 77; }
finish() { [ "$T_FAILS" -eq 0 ]; exit $?; }
# A test program's own "ok - ..." / "not ok - ..." lines, counted as this test's checks,
# then that it printed N of them: relay_checks N <<<"$out"
relay_checks() {
    local n=$1 line seen=0
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "${line#ok - }"; seen=$((seen + 1)) ;;
        "not ok - "*) fail "${line#not ok - }"; seen=$((seen + 1)) ;;
        esac
    done
    check "it printed its $n checks ($seen)" test "$seen" -eq "$n"
}
