#!/usr/bin/env bash
# The CLI: `traceagent run` passes the program's exit status and its death by a signal
# through, forwards signals, sets the TRACEAGENT_* variables, keeps LD_PRELOAD entries,
# prints the summary; `traceagent report` reads stats files and directories.
source "$(dirname "$0")/lib/common.sh"
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): traceagent run preloads its own agent (build/lib/libtraceagent.so), not the sanitized one; the plain suite runs it"

[ -x "$CLI" ] || { fail "CLI not built ($CLI)"; finish; }
[ -f "$AGENT" ] || { fail "agent not built ($AGENT)"; finish; }
ta_cc "$TBUILD/cli_nested" "$ROOT/tests/stats/nested.c" || fail "build nested.c"
ta_cc "$TBUILD/cli_crash" "$ROOT/tests/stats/crash.c" || fail "build crash.c"

# --help, --version
"$CLI" --help >"$TMP/help" 2>&1; rc=$?
check "--help exits 0 and shows run and report" \
    bash -c "[ $rc = 0 ] && grep -q 'traceagent run' '$TMP/help' && grep -q -- '--buffer-kb' '$TMP/help'"
"$CLI" --version >"$TMP/ver" 2>&1; rc=$?
check "--version prints a version" bash -c "[ $rc = 0 ] && grep -Eq '^traceagent [0-9]' '$TMP/ver'"
"$CLI" frobnicate >/dev/null 2>&1; rc=$?
check "an unknown command exits 2" test $rc = 2

# exit status passes through; the summary lists the spans
"$CLI" run -o "$TMP/r1" -- "$TBUILD/cli_nested" 200 "$TMP/data.bin" 3 2>"$TMP/r1.err"; rc=$?
check "run: exit status 3 passes through (got $rc)" test $rc = 3
check "run: the summary lists outer and inner" \
    bash -c "grep -Eq '^ +marker +outer +200 ' '$TMP/r1.err' && grep -Eq '^ +marker +inner +600 ' '$TMP/r1.err'"
check "run: the summary has the table header" grep -Eq 'cat +name +count +total .*mean +p95' "$TMP/r1.err"
check "run: the summary names the files written" \
    bash -c "grep -q 'r1/cli_nested-[0-9]*.trace.json' '$TMP/r1.err' && grep -q 'r1/cli_nested-[0-9]*.stats.json' '$TMP/r1.err'"
check "run: the output directory has the files" bash -c "ls '$TMP/r1'/cli_nested-*.stats.json >/dev/null"
if grep -q '"cat":"posix"' "$TMP"/r1/*.trace.json; then
    check "run: the summary has the per-file table" bash -c "grep -q 'Files by I/O time' '$TMP/r1.err' && grep -q 'data.bin' '$TMP/r1.err'"
fi

# a second run into the same directory summarizes only its own processes
"$CLI" run -o "$TMP/r1" -- "$TBUILD/cli_nested" 10 - 0 2>"$TMP/r1b.err"
check "run: a later run into the same directory summarizes only its files" \
    bash -c "grep -q '1 process,' '$TMP/r1b.err' && grep -Eq '^ +marker +outer +10 ' '$TMP/r1b.err'"

# death by a signal: the CLI ends the same way (bash sees 128 + sig)
# (braces: bash's own "Killed" note goes to /dev/null, the CLI's stderr to the file)
{ "$CLI" run -o "$TMP/r2" -- "$TBUILD/cli_crash" kill 2>"$TMP/r2.err"; rc=$?; } 2>/dev/null
check "run: child killed by SIGKILL -> CLI ends by SIGKILL (\$? $rc = 137)" test $rc = 137
{ "$CLI" run -o "$TMP/r3" -- "$TBUILD/cli_crash" segv 2>"$TMP/r3.err"; rc=$?; } 2>/dev/null
check "run: child killed by SIGSEGV -> CLI ends by SIGSEGV (\$? $rc = 139)" test $rc = 139
check "run: a crashed run still lists its trace" grep -q 'r3/cli_crash-[0-9]*.trace.json' "$TMP/r3.err"

# signals sent to the CLI reach the program
"$CLI" run -o "$TMP/r4" -- "$TBUILD/cli_crash" sleep 2>"$TMP/r4.err" &
cli=$!
child=
for _ in $(seq 50); do
    child=$(pgrep -P $cli)
    [ -n "$child" ] && break
    sleep 0.1
done
sleep 0.3
kill -TERM $cli
wait $cli; rc=$?
check "run: SIGTERM to the CLI is forwarded; the CLI ends by it (\$? $rc = 143)" test $rc = 143
check "run: the program was gone before the CLI ended" bash -c "[ -n '$child' ] && ! kill -0 '$child' 2>/dev/null"

# --trace markers: no posix or stdio events in the trace
"$CLI" run -o "$TMP/r5" --trace markers -- "$TBUILD/cli_nested" 20 "$TMP/data2.bin" 0 2>"$TMP/r5.err"
$PY - "$TMP/r5" "$ROOT" <<'EOF'
import sys, os
sys.path.insert(0, os.path.join(sys.argv[2], "tests/lib"))
import tacheck
evs = []
for pid, lst in tacheck.files(sys.argv[1]).items():
    evs += tacheck.load_trace(lst[0]["trace"])
cats = {e.get("cat") for e in evs if e.get("ph") == "X"}
ok = cats == {"marker"} and len(tacheck.spans(evs, "marker", "outer")) == 20
print(("ok" if ok else "not ok") + f" - run: --trace markers keeps only marker spans ({sorted(cats)})")
EOF

# every option sets its variable; LD_PRELOAD keeps what was there
gcc -shared -fPIC -o "$TMP/libempty.so" -x c - <<<'int ta_test_empty;' || fail "build libempty.so"
LD_PRELOAD="$TMP/libempty.so" "$CLI" run -q -o "$TMP/r6" --export json --trace posix,markers \
    --buffer-kb 64 --min-duration 5 --children 0 --stacks posix --log error \
    --exclude /proc:/sys --config "$TMP/nonexistent.json" -- env >"$TMP/r6.env" 2>/dev/null
for kv in "TRACEAGENT_OUTPUT=$TMP/r6" TRACEAGENT_EXPORT=json TRACEAGENT_TRACE=posix,markers \
          TRACEAGENT_BUFFER_KB=64 TRACEAGENT_MIN_DURATION_NS=5 TRACEAGENT_CHILDREN=0 \
          TRACEAGENT_STACKS=posix TRACEAGENT_LOG=error TRACEAGENT_EXCLUDE=/proc:/sys \
          "TRACEAGENT_CONFIG=$TMP/nonexistent.json"; do
    grep -qxF "$kv" "$TMP/r6.env" || { fail "run: option sets $kv"; continue; }
done
check "run: every option sets its TRACEAGENT_ variable" test "$(grep -c '^TRACEAGENT_' "$TMP/r6.env")" -ge 10
LD_PRELOAD="$TMP/libempty.so" "$CLI" run -q -o "$TMP/r6" -- env >"$TMP/r6b.env" 2>/dev/null
check "run: the agent is prepended to LD_PRELOAD, existing entries kept" \
    grep -qxF "LD_PRELOAD=$(readlink -f "$AGENT"):$TMP/libempty.so" "$TMP/r6b.env"
"$CLI" run -o "$TMP/r6b" --output="$TMP/r6c" -- env 2>/dev/null | grep -q "^TRACEAGENT_OUTPUT=$TMP/r6c$"
check "run: --opt=value form" test $? = 0

# errors
"$CLI" run -o "$TMP/r7" -- /nonexistent/command 2>"$TMP/r7.err"; rc=$?
check "run: missing command exits 127 (got $rc)" test $rc = 127
check "run: missing command says so" grep -q 'command not found' "$TMP/r7.err"
"$CLI" run -o "$TMP/r7" -- "$TMP" 2>/dev/null; rc=$?
check "run: a command that cannot be executed exits 126 (got $rc)" test $rc = 126
TRACEAGENT_LIB=/nonexistent/libtraceagent.so "$CLI" run -o "$TMP/r8" -- true 2>"$TMP/r8.err"; rc=$?
check "run: missing agent library exits 2 with a clear message" \
    bash -c "[ $rc = 2 ] && grep -q 'libtraceagent.so' '$TMP/r8.err'"
"$CLI" run --bogus -- true 2>/dev/null; rc=$?
check "run: an unknown option exits 2" test $rc = 2
"$CLI" run -o "$TMP/r9" 2>/dev/null; rc=$?
check "run: no command exits 2" test $rc = 2

# report
"$CLI" report "$TMP/r1" >"$TMP/rep1.out" 2>"$TMP/rep1.err"; rc=$?
check "report DIR: exits 0 and prints the table" \
    bash -c "[ $rc = 0 ] && grep -Eq '^ +marker +outer +210 ' '$TMP/rep1.out' && grep -q '2 processes' '$TMP/rep1.out'"
# the stats carry each row's histogram (ops[].hist): percentiles over processes are pooled
# from them; without it (stats of an older agent) p95 is the max over processes, said so
check "report DIR: several processes: p95 pooled from the histograms (no footnote)" \
    bash -c "! grep -q 'p95\\* is the largest per-process p95' '$TMP/rep1.out'"
mkdir -p "$TMP/r1nohist"
for f in "$TMP"/r1/*.stats.json; do
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1]))
for r in d["ops"]: r.pop("hist", None)
json.dump(d, open(sys.argv[2], "w"))' "$f" "$TMP/r1nohist/$(basename "$f")"
done
"$CLI" report "$TMP/r1nohist" >"$TMP/rep1n.out" 2>&1
check "report DIR: several processes without histograms: p95 is the max over processes, said in the header" \
    grep -q 'p95\* is the largest per-process p95' "$TMP/rep1n.out"
one=$(ls "$TMP"/r1/*.stats.json | head -1)
"$CLI" report "$one" >"$TMP/rep2.out" 2>&1; rc=$?
check "report FILE: one process, the trace next to it is listed" \
    bash -c "[ $rc = 0 ] && grep -q '1 process,' '$TMP/rep2.out' && grep -q 'trace.json' '$TMP/rep2.out'"
mkdir -p "$TMP/bad"
cp "$one" "$TMP/bad/good-1.stats.json"
echo '{"schema": "traceagent-stats/1", "ops": [' >"$TMP/bad/cut-2.stats.json"
echo '[1, 2, 3]' >"$TMP/bad/array-3.stats.json"
echo '{"schema": "traceagent-stats/1", "ops": {"x": 1}}' >"$TMP/bad/wrongtype-4.stats.json"
echo '{"schema": "traceagent-stats/1", "ops": [{"cat": 5}, 7, {"cat": "marker", "name": "ok", "count": 1, "total_ns": 5}], "files": [{}], "dropped": {"ring_full": "x"}}' \
    >"$TMP/bad/rows-5.stats.json"
head -c 0 /dev/null >"$TMP/bad/empty-6.stats.json"
"$CLI" report "$TMP/bad" >"$TMP/rep3.out" 2>"$TMP/rep3.err"; rc=$?
check "report: malformed files are named on stderr, not fatal" \
    bash -c "grep -q 'cut-2.stats.json' '$TMP/rep3.err' && grep -q 'array-3.stats.json' '$TMP/rep3.err' && grep -q 'wrongtype-4.stats.json' '$TMP/rep3.err' && grep -q 'empty-6.stats.json' '$TMP/rep3.err'"
check "report: good files still summarized (exit 1 for the bad ones)" \
    bash -c "[ $rc = 1 ] && grep -Eq '^ +marker +outer ' '$TMP/rep3.out' && grep -Eq '^ +marker +ok +1 ' '$TMP/rep3.out' && grep -q 'malformed rows' '$TMP/rep3.out'"
"$CLI" report "$TMP/nonexistent" >/dev/null 2>&1; rc=$?
check "report: a missing path exits 1" test $rc = 1

# drops are shown loudly
$PY - "$one" "$TMP/drop-7.stats.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1])); s["dropped"] = {"ring_full": 1234}
json.dump(s, open(sys.argv[2], "w"))
EOF
"$CLI" report "$TMP/drop-7.stats.json" >"$TMP/rep4.out" 2>&1
check "report: dropped events are shown loudly" grep -q 'WARNING: 1234 events were DROPPED (ring_full: 1234)' "$TMP/rep4.out"

finish
