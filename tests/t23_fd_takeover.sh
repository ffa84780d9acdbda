#!/usr/bin/env bash
# The agent's fds (1000 and up) must not change what the program's fd calls do (issue 13,
# item 6): dup2/dup3 onto one of their numbers gives the program that number and the trace
# goes on elsewhere (dup2(2, 1000) once sent the trace into the program's stderr); close of
# one returns -1 EBADF as without the agent (it returned 0); dup/dup2/fcntl from one is
# EBADF; F_DUPFD from 1000 and dup() past 1000 give the numbers they give untraced (1001,
# not 1000, while the agent held 1000); a vfork child's calls on such a number act on its
# own table (its close of the file it dup2()ed there must not fail); a thread's calls
# drained while main dup2()s onto the agent's numbers again and again never land in the
# program's file. Each mode prints what its calls returned: traced and untraced output
# must be the same.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/fdsteal"
ta_cc "$bin" "$ROOT/tests/core/fdsteal.c"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 1100 ] || ulimit -n 1100 2>/dev/null ||
    skip "needs 1100 fds (ulimit -n is $(ulimit -n))"

for mode in dup2 dup3 close oldfd dupfd fill vfork storm; do
    mkdir -p "$TMP/$mode" "$TMP/$mode.ref.d"
    timeout 60 "$bin" $mode "$TMP/$mode.ref.d" >"$TMP/$mode.ref" 2>"$TMP/$mode.ref.err"
    traced "$TMP/$mode" timeout 60 "$bin" $mode "$TMP/$mode" >"$TMP/$mode.got" 2>"$TMP/$mode.err"
    check "$mode: the program prints what it prints untraced ($(grep -v '^end' "$TMP/$mode.got" | head -3 | tr '\n' ' '))" \
        cmp -s "$TMP/$mode.ref" "$TMP/$mode.got"
done
check "dup2: the program's stderr got its 4 lines and no trace JSON" \
    test "$(cat "$TMP/dup2.err")" = "$(printf 'through fd %d\n' 1000 1001 1002 1003)"
check "dup3: the program's stderr got its 4 lines and no trace JSON" \
    test "$(cat "$TMP/dup3.err")" = "$(printf 'through fd %d\n' 1000 1001 1002 1003)"
check "vfork: the child's line went to stderr, nothing else" \
    test "$(cat "$TMP/vfork.err")" = "child through fd 1000"
check "storm: the program's own file is still empty (no trace written into it)" \
    test -f "$TMP/storm/storm.txt" -a ! -s "$TMP/storm/storm.txt"

$PY - "$ROOT" "$TMP" <<'EOF'
import glob, sys
ROOT, T = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
check = tacheck.check

for mode in ["dup2", "dup3", "close", "oldfd", "dupfd", "fill", "vfork", "storm"]:
    fs = sorted(glob.glob(f"{T}/{mode}/fdsteal-*.trace.json"))
    try:
        (f,) = fs
        ev = tacheck.load_trace(f, require_closed=True)
    except Exception as e:
        check(f"{mode}: one trace, whole and closed", False, [fs, e])
        continue
    n = len(tacheck.spans(ev, "posix", "stat"))
    want = {"dup2": 400, "dup3": 400, "dupfd": 250, "fill": 250, "storm": 200}.get(mode, 200)
    check(f"{mode}: one trace, whole and closed, with the stat calls after the takeover ({n})",
          n >= want, [n, want])
    st = glob.glob(f.replace(".trace.json", ".stats.json"))
    check(f"{mode}: stats.json written", len(st) == 1 and tacheck.load_stats(st[0]) is not None)
tacheck.finish()
EOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
