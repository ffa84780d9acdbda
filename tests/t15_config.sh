#!/usr/bin/env bash
# Configuration: environment variables, TRACEAGENT_CONFIG, bad values, unwritable output.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/life" "$ROOT/tests/core/life.c"
ta_cc "$TBUILD/nest" "$ROOT/tests/core/nest.c"
nfiles() { ls "$1" 2>/dev/null | grep -c "$2"; }
spans() { $PY -c "
import sys, glob; sys.path.insert(0, '$ROOT/tests/lib'); import tacheck
print(sum(len(tacheck.spans(tacheck.load_trace(f))) for f in glob.glob('$1/*.trace.json')))"; }

# a bad value: one warning naming the variable, default used, program unchanged
out=$(TRACEAGENT_BUFFER_KB=lots traced "$TMP/bad" "$TBUILD/nest" 2>&1); rc=$?
check "bad TRACEAGENT_BUFFER_KB: program exits 0" test $rc = 0
check "bad TRACEAGENT_BUFFER_KB: exactly one warning naming it" \
    test "$(grep -c 'TRACEAGENT_BUFFER_KB=lots' <<<"$out")" = 1
check "bad TRACEAGENT_BUFFER_KB: traced with the default (8000 spans)" test "$(spans "$TMP/bad")" = 8000
out=$(TRACEAGENT_TRACE=posix,bogus TRACEAGENT_LOG=loud traced "$TMP/bad2" "$TBUILD/nest" 2>&1)
check "bad TRACEAGENT_TRACE and TRACEAGENT_LOG: one warning each" \
    test "$(grep -c 'TRACEAGENT_TRACE=posix,bogus' <<<"$out")$(grep -c 'TRACEAGENT_LOG=loud' <<<"$out")" = 11

# categories
TRACEAGENT_TRACE=posix traced "$TMP/posix" "$TBUILD/nest"
check "TRACEAGENT_TRACE=posix: no marker spans" test "$(spans "$TMP/posix")" = 0
# exports
TRACEAGENT_EXPORT=json traced "$TMP/json" "$TBUILD/nest"
check "TRACEAGENT_EXPORT=json: a trace and no stats" \
    test "$(nfiles "$TMP/json" trace.json)$(nfiles "$TMP/json" stats.json)" = 10
TRACEAGENT_EXPORT=stats traced "$TMP/stats" "$TBUILD/nest"
check "TRACEAGENT_EXPORT=stats: stats and no trace" \
    test "$(nfiles "$TMP/stats" trace.json)$(nfiles "$TMP/stats" stats.json)" = 01
# short spans: in stats, not in the trace
TRACEAGENT_MIN_DURATION_NS=10000000000 traced "$TMP/min" "$TBUILD/nest"
n=$($PY -c "
import sys, glob; sys.path.insert(0, '$ROOT/tests/lib'); import tacheck
print(tacheck.op(tacheck.load_stats(glob.glob('$TMP/min/*.stats.json')[0]), 'marker', 'leaf')['count'])")
check "TRACEAGENT_MIN_DURATION_NS: no span in the trace, all 4800 leaves in stats ($n)" \
    test "$(spans "$TMP/min")-$n" = 0-4800
# children
TRACEAGENT_CHILDREN=0 traced "$TMP/nochild" "$TBUILD/life" fork
check "TRACEAGENT_CHILDREN=0: forked child not traced (one trace file)" test "$(nfiles "$TMP/nochild" trace.json)" = 1
TRACEAGENT_CHILDREN=0 traced "$TMP/noexec" "$TBUILD/life" exec
check "TRACEAGENT_CHILDREN=0: exec'd image not traced (one trace file)" test "$(nfiles "$TMP/noexec" trace.json)" = 1
TRACEAGENT_OUTPUT="$TMP/sh" LD_PRELOAD="$AGENT" sh -c "'$TBUILD/life' fork; '$TBUILD/life'"
check "children traced by default: sh + life + its child + life" test "$(nfiles "$TMP/sh" trace.json)" = 4
# a child started with an environment of its own (no LD_PRELOAD in it) is traced all the same
TRACEAGENT_OUTPUT="$TMP/envless" LD_PRELOAD="$AGENT" $PY -c "
import subprocess
for i in range(3):
    subprocess.run(['$TBUILD/nest'], env={'PATH': '/usr/bin'}, check=True)"
check "children given an environment without LD_PRELOAD are still traced (python3 + 3 nest)" \
    test "$(nfiles "$TMP/envless" trace.json)-$(nfiles "$TMP/envless" nest-)" = 4-6
# unwritable output: one warning, program unchanged
out=$(TRACEAGENT_OUTPUT=/proc/nope/x LD_PRELOAD="$AGENT" "$TBUILD/nest" 2>&1); rc=$?
check "unwritable output: exit 0 and one warning" test "$rc-$(grep -c traceagent <<<"$out")" = 0-1
# relative output directory, program started elsewhere: files land where the user said
(cd "$TMP" && mkdir -p rel && cd rel && TRACEAGENT_OUTPUT=out LD_PRELOAD="$AGENT" sh -c "cd / && '$TBUILD/nest'")
check "relative TRACEAGENT_OUTPUT: children that chdir write to the same place" test "$(nfiles "$TMP/rel/out" trace.json)" = 2
# config file
cat > "$TMP/cfg.json" <<JSON
{"output": "$TMP/fromfile", "trace": "posix", "TRACEAGENT_EXPORT": "json,stats", "min_duration_ns": 0}
JSON
TRACEAGENT_CONFIG="$TMP/cfg.json" LD_PRELOAD="$AGENT" "$TBUILD/nest"
check "TRACEAGENT_CONFIG: output directory and categories from the file" \
    test "$(nfiles "$TMP/fromfile" trace.json)-$(spans "$TMP/fromfile")" = 1-0
TRACEAGENT_CONFIG="$TMP/cfg.json" TRACEAGENT_TRACE=all LD_PRELOAD="$AGENT" "$TBUILD/nest"
check "TRACEAGENT_CONFIG: the environment wins over the file" test "$(spans "$TMP/fromfile")" = 8000
echo '{"output": ' > "$TMP/broken.json"
out=$(TRACEAGENT_CONFIG="$TMP/broken.json" traced "$TMP/broken" "$TBUILD/nest" 2>&1); rc=$?
check "broken config file: one warning, defaults, exit 0" test "$rc-$(grep -c 'broken.json' <<<"$out")-$(spans "$TMP/broken")" = 0-1-8000
finish
