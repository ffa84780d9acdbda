#!/usr/bin/env bash
# Process life: fork, _exit, exec (and a failed exec), fatal signals, the program's own
# signal dispositions. Each process leaves its own file; a crash leaves one whose every
# line parses.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/life" "$ROOT/tests/core/life.c"
run() { # MODE -> runs in $TMP/MODE, prints rc
    ( traced "$TMP/$1" "$TBUILD/life" "$1" >/dev/null 2>"$TMP/$1.err" ) 2>/dev/null; echo $?
}
inspect() { # DIR EXPECTATIONS-PYTHON
    $PY - "$1" <<PY
import sys, glob, os, collections; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
d = sys.argv[1]
def check(ok, what): print(("ok - " if ok else "not ok - ") + what)
procs = {}
for f in sorted(glob.glob(d + "/*.trace.json")):
    try:
        ev = tacheck.load_trace(f)
    except Exception as e:
        check(False, f"{os.path.basename(f)} parses: {e}"); continue
    names = collections.Counter(e["name"] for e in ev if e.get("ph") == "X")
    stats = f.replace(".trace.json", ".stats.json")
    procs[os.path.basename(f)] = (names, tacheck.is_closed(f), os.path.exists(stats), ev)
$2
PY
}
rc=$(run fork)
check "fork: exit 0" test "$rc" = 0
inspect "$TMP/fork" '
check(len(procs) == 2, f"fork: two trace files ({list(procs)})")
par = [p for p in procs.values() if p[0]["parent"]]
chi = [p for p in procs.values() if p[0]["child"]]
check(len(par) == 1 and par[0][0] == {"parent": 100, "parent_after": 10} and par[0][1] and par[0][2],
      "fork: parent file complete: 100 + 10 ranges, closed, stats written")
check(len(chi) == 1 and chi[0][0] == {"child": 50} and chi[0][1] and chi[0][2],
      "fork: child file complete: its own 50 ranges only, closed, stats written")'
rc=$(run _exit)
inspect "$TMP/_exit" '
chi = [p for p in procs.values() if p[0]["child"]]
check(len(procs) == 2 and len(chi) == 1 and chi[0][0] == {"child": 50} and chi[0][1] and chi[0][2],
      "_exit: the child that left by _exit has a complete file (50 ranges, closed, stats)")'
rc=$(run exec)
inspect "$TMP/exec" '
files = sorted(procs)
check(len(procs) == 2, f"exec: the image before and the image after exec each have a file ({files})")
before = [p for p in procs.values() if p[0] == {"parent": 100}]
after = [p for p in procs.values() if p[0] == {"parent": 100, "new_image": 7}]
check(len(before) == 1 and len(after) == 1 and before[0][1] and after[0][1],
      "exec: 100 ranges before (closed), 7 in the new image (closed)")
check(any(".1.trace.json" in f for f in files) or len({f.split("-")[0] for f in files}) == 2,
      f"exec: the new image did not overwrite the old one ({files})")'
rc=$(run execfail)
inspect "$TMP/execfail" '
allnames = collections.Counter()
for p in procs.values(): allnames.update(p[0])
check(allnames["parent"] == 100 and allnames["after_failed_exec"] == 3,
      f"failed exec: tracing goes on afterwards ({dict(allnames)})")
check(all(p[1] for p in procs.values()), "failed exec: every file closed")
fopens = {n: [e.get("args", {}).get("path") for e in p[3] if e.get("name") == "fopen"]
          for n, p in procs.items()}
after = [fopens[n] for n, p in procs.items() if p[0]["after_failed_exec"]]
before = [fopens[n] for n, p in procs.items() if p[0]["parent"] and not p[0]["after_failed_exec"]]
check(len(after) == 1 and len(before) == 1 and before[0] == after[0] and len(after[0]) == 1 and
      str(after[0][0]).startswith("/") and str(after[0][0]).endswith("/life"),
      f"failed exec: the file opened before it and again after it has the same whole path ({fopens})")'
for sig in segv term abort; do
    rc=$(run $sig)
    case $sig in segv) want=139;; term) want=143;; abort) want=134;; esac
    check "$sig: the program dies by its signal (rc $rc)" test "$rc" = "$want"
    inspect "$TMP/$sig" "
(names, closed, stats, ev), = procs.values()
check(names['before_$( [ $sig = segv ] && echo crash || echo $sig )'] == 5 and names['parent'] == 100,
      '$sig: the 105 ranges before the signal are in the trace, every line parses')"
done
rc=$(run handler)
check "the program's signal handlers and queries behave as without the agent (rc $rc)" test "$rc" = 0
inspect "$TMP/handler" '
(names, closed, stats, ev), = procs.values()
check(names["after_signal"] == 2 and closed, "handler: SIG_IGN set by the program is honoured")'
# the same program without the agent behaves the same
same=1
for m in fork _exit exec execfail handler segv term abort; do
    (cd "$TMP" && "$TBUILD/life" $m >/dev/null 2>&1) 2>/dev/null; r0=$?
    rm -rf "$TMP/$m"; r1=$(run $m)
    [ "$r0" = "$r1" ] || { same=0; echo "# $m: rc $r1 with the agent, $r0 without"; }
done
check "exit statuses match the untraced runs in every mode" test $same = 1
finish
