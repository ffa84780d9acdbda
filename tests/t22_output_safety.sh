#!/usr/bin/env bash
# The agent's own files, where others could interfere or resources run out (issue 13,
# items 3, 9, 11, 13, 14): a symlink or a file planted under the exact name the agent will
# use (the pid is predicted: a shell execs the program) is never followed nor overwritten,
# 1000 planted names lead to a fresh one, not to reuse; an output directory owned by
# another user, or writable by all without the sticky bit, is refused with one warning;
# files are 0600 and directories the agent makes 0700; under `ulimit -f` the trace stops
# before the limit (no SIGXFSZ: the program exits 0 as untraced); a full disk leaves whole
# lines and no empty files, with one warning; a closed trace is strict JSON (python and
# jq), also when closed by a fatal signal, and a trace cut anywhere still parses line by
# line. The tmpfs and the chown need root (skipped otherwise, saying so).
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/outsafe"
ta_cc "$bin" "$ROOT/tests/core/outsafe.c"
umask 022
root=0
[ "$(id -u)" = 0 ] && root=1

# as_pid DIR SETUP [ARGS]: SETUP runs in a shell with P set to the pid the traced program
# will have (the shell execs it), then the program runs traced into DIR; stderr into
# DIR.err, stdout into DIR.out
as_pid() {
    local d=$1 setup=$2; shift 2
    mkdir -p "$d"
    D="$d" S="$setup" A="$AGENT" B="$bin" bash -c \
        'P=$$; eval "$S"; exec env TRACEAGENT_OUTPUT="$D" LD_PRELOAD="$A" "$B" "$@"' \
        as_pid "${@:-10}" >"$d.out" 2>"$d.err"
}
nwarn() { grep -c '^traceagent\[[0-9]*\]: warning' "$1"; }

# --- planted names (item 9) ---------------------------------------------------------
# a dangling symlink at the exact trace name, and one at the stats name
as_pid "$TMP/dang" 'ln -s "$D/../dang-target" "$D/outsafe-$P.trace.json";
                    ln -s "$D/../dang-target2" "$D/outsafe-$P.stats.json"; echo $P >"$D.pid"'
P=$(cat "$TMP/dang.pid")
check "dangling link at <exe>-<pid>.trace.json: its target is not created" \
    test ! -e "$TMP/dang-target" -a ! -e "$TMP/dang-target2"
check "dangling links: left as they were" \
    test -L "$TMP/dang/outsafe-$P.trace.json" -a -L "$TMP/dang/outsafe-$P.stats.json"
check "dangling links: the program ran (done 10), the trace went to a fresh name" \
    test "$(cat "$TMP/dang.out")" = "done 10" -a -f "$TMP/dang/outsafe-$P.1.trace.json" \
         -a ! -L "$TMP/dang/outsafe-$P.1.trace.json"

# an existing 0600 file under the trace name
as_pid "$TMP/pre" 'printf secret >"$D/outsafe-$P.trace.json"; chmod 600 "$D/outsafe-$P.trace.json";
                   echo $P >"$D.pid"'
P=$(cat "$TMP/pre.pid")
check "a file already at <exe>-<pid>.trace.json is not overwritten" \
    test "$(cat "$TMP/pre/outsafe-$P.trace.json")" = secret
check "that file: the trace went to <exe>-<pid>.1" test -s "$TMP/pre/outsafe-$P.1.trace.json"

# 1000 links to one victim file, at every name the agent once tried
printf victim >"$TMP/victim"
chmod 600 "$TMP/victim"
as_pid "$TMP/many" 'ln -s "$D/../victim" "$D/outsafe-$P.trace.json";
    for n in $(seq 1 999); do ln -s "$D/../victim" "$D/outsafe-$P.$n.trace.json"; done;
    echo $P >"$D.pid"'
P=$(cat "$TMP/many.pid")
check "1000 planted links: the file they point to is untouched" \
    test "$(cat "$TMP/victim")" = victim
check "1000 planted links: all still links, the trace at a name not planted (.1000)" \
    test "$(find "$TMP/many" -type l | wc -l)" = 1000 -a -f "$TMP/many/outsafe-$P.1000.trace.json" \
         -a -f "$TMP/many/outsafe-$P.1000.stats.json"

# --- the output directory (item 9) --------------------------------------------------
mkdir -p "$TMP/nobody" "$TMP/ww" "$TMP/sticky"
chmod 0777 "$TMP/ww"
chmod 1777 "$TMP/sticky"
dirs=ww
if [ $root = 1 ] && chown nobody "$TMP/nobody"; then dirs="nobody ww"
else echo "# skip - a directory owned by nobody: not root"; fi
for d in $dirs; do
    traced "$TMP/$d" "$bin" 10 >"$TMP/$d.out" 2>"$TMP/$d.err"
    rc=$?
    check "output dir $d ($(stat -c '%U %a' "$TMP/$d")): refused with one warning, no file, the program runs on" \
        test "$rc" = 0 -a "$(cat "$TMP/$d.out")" = "done 10" -a "$(nwarn "$TMP/$d.err")" = 1 \
             -a -z "$(ls -A "$TMP/$d")"
    grep -q refused "$TMP/$d.err" || fail "output dir $d: the warning says refused: $(cat "$TMP/$d.err")"
done
# a failed exec once started tracing into the refused directory all the same
traced "$TMP/ww" $PY -c 'import os
try: os.execv("/nonexistent/prog", ["x"])
except OSError: pass' 2>/dev/null
check "output dir ww: still no file after a failed exec ($(ls -A "$TMP/ww" | tr '\n' ' '))" \
    test -z "$(ls -A "$TMP/ww")"
traced "$TMP/sticky" "$bin" 10 >/dev/null 2>"$TMP/sticky.err"
check "output dir 1777 (sticky, as /tmp): used, no warning" \
    test "$(ls "$TMP/sticky" | wc -l)" = 2 -a ! -s "$TMP/sticky.err"

# --- modes (item 11) -----------------------------------------------------------------
traced "$TMP/made/deeper" "$bin" 10 >/dev/null
check "files are 0600 under umask 022 ($(stat -c %a "$TMP"/made/deeper/* | sort -u | tr '\n' ' '))" \
    test "$(stat -c %a "$TMP"/made/deeper/* | sort -u)" = 600
check "directories the agent makes are 0700 ($(stat -c %a "$TMP/made" "$TMP/made/deeper" | tr '\n' ' '))" \
    test "$(stat -c %a "$TMP/made" "$TMP/made/deeper" | sort -u)" = 700

# --- RLIMIT_FSIZE (item 3) -------------------------------------------------------------
"$bin" 20000 >/dev/null 2>&1
check "untraced: the program exits 0 under ulimit -f 20" bash -c "ulimit -f 20; '$bin' 20000 >/dev/null"
mkdir -p "$TMP/fsize"
(ulimit -f 20; traced "$TMP/fsize" "$bin" 20000 >"$TMP/fsize.out" 2>"$TMP/fsize.err")
rc=$?
check "ulimit -f 20: traced, the program still exits 0 (rc $rc)" test "$rc" = 0 -a "$(cat "$TMP/fsize.out")" = "done 20000"
check "ulimit -f 20: one warning ($(head -c 300 "$TMP/fsize.err"))" test "$(nwarn "$TMP/fsize.err")" = 1
check "ulimit -f 20: no file past 20 KiB" test -z "$(find "$TMP/fsize" -type f -size +20k)"
# ulimit -f 1: stats.json (written at exit by the main thread) cannot fit, nor can the trace
mkdir -p "$TMP/fsize1"
(ulimit -f 1; traced "$TMP/fsize1" "$bin" 10 >"$TMP/fsize1.out" 2>"$TMP/fsize1.err")
rc=$?
check "ulimit -f 1: traced, the program still exits 0 (rc $rc), one warning" \
    test "$rc" = 0 -a "$(cat "$TMP/fsize1.out")" = "done 10" -a "$(nwarn "$TMP/fsize1.err")" = 1
check "ulimit -f 1: no file past 1 KiB" test -z "$(find "$TMP/fsize1" -type f -size +1k)"

# the program lowers its own limit below the trace's size, then exits at once: the exit's
# flush, on the program's thread, must not write past it either
mkdir -p "$TMP/lower"
traced "$TMP/lower" "$bin" lower >"$TMP/lower.out" 2>"$TMP/lower.err"
rc=$?
check "setrlimit(RLIMIT_FSIZE) lowered mid-run: the program exits 0 (rc $rc), one warning" \
    test "$rc" = 0 -a "$(cat "$TMP/lower.out")" = lowered -a "$(nwarn "$TMP/lower.err")" = 1

# --- full disk (item 14) -----------------------------------------------------------------
full_ok=0
mkdir -p "$TMP/small" "$TMP/full"
if [ $root = 1 ] && mount -t tmpfs -o size=64k,mode=0700 tatest "$TMP/small" 2>/dev/null &&
   mount -t tmpfs -o size=64k,mode=0700 tatest "$TMP/full" 2>/dev/null; then
    full_ok=1
    trap 'umount "$TMP/small" "$TMP/full" 2>/dev/null; rm -rf "$TMP"' EXIT
    traced "$TMP/small" "$bin" 20000 >"$TMP/small.out" 2>"$TMP/small.err"
    rc=$?
    check "disk full mid-run: the program exits 0 (rc $rc)" test "$rc" = 0 -a "$(cat "$TMP/small.out")" = "done 20000"
    check "disk full mid-run: one warning ($(head -c 300 "$TMP/small.err"))" test "$(nwarn "$TMP/small.err")" = 1
    check "disk full mid-run: no empty file" test -z "$(find "$TMP/small" -type f -empty)"
    # a disk full from the start: not even "[" fits
    dd if=/dev/zero of="$TMP/full/fill" bs=4k 2>/dev/null
    traced "$TMP/full" "$bin" 100 >"$TMP/full.out" 2>"$TMP/full.err"
    rc=$?
    check "disk full from the start: the program exits 0, one warning, no empty file" \
        test "$rc" = 0 -a "$(nwarn "$TMP/full.err")" = 1 -a -z "$(find "$TMP/full" -type f -empty)"
else
    echo "# skip - full disk: cannot mount a tmpfs here"
fi

# --- strict JSON (item 13) ----------------------------------------------------------------
traced "$TMP/json" "$bin" 200 >/dev/null
jqok() { jq -e "$@" >/dev/null; }
check "a closed trace is strict JSON for jq" jqok 'type == "array" and length > 3' "$TMP"/json/*.trace.json
check "a closed stats.json is strict JSON for jq" jqok '.schema' "$TMP"/json/*.stats.json
# closed by a fatal signal (SIGTERM, the default disposition)
mkdir -p "$TMP/term" "$TMP/kill"
for s in term kill; do
    timeout -s KILL 60 env TRACEAGENT_OUTPUT="$TMP/$s" LD_PRELOAD="$AGENT" "$bin" wait >"$TMP/$s.out" 2>/dev/null &
    for i in $(seq 200); do [ -s "$TMP/$s.out" ] && break; sleep 0.05; done
    sleep 0.2
    pid=$(pgrep -P $! -x outsafe)
    kill -"${s^^}" $pid
    wait $! 2>/dev/null
    echo $? >"$TMP/$s.rc"
done
check "SIGTERM: the program dies of it as untraced (rc 143)" test "$(cat "$TMP/term.rc")" = 143
check "SIGTERM: the trace is closed, strict JSON for jq" jqok 'length > 1000' "$TMP"/term/*.trace.json

$PY - "$ROOT" "$TMP" "$full_ok" <<'EOF'
import glob, json, os, sys
ROOT, T, full_ok = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
check = tacheck.check

def load(pattern, closed):
    fs = sorted(glob.glob(pattern))
    if not fs:
        return None, f"no file {pattern}"
    try:
        return tacheck.load_trace(fs[0], require_closed=closed), None
    except Exception as e:
        return None, e

for name in ["dang", "pre", "many", "sticky", "made/deeper", "json"]:
    fs = glob.glob(f"{T}/{name}/*.trace.json")
    if name == "pre":  # the file planted there is not the agent's
        fs = glob.glob(f"{T}/{name}/*.1.trace.json")
    bad = []
    for f in fs:
        if os.path.islink(f):
            continue
        try:
            tacheck.load_trace(f, require_closed=True)
            with open(f) as fh:
                json.load(fh)
        except Exception as e:
            bad.append(f"{f}: {e}")
    check(f"{name}: the trace is whole, closed, strict JSON (json.load)", fs and not bad, bad)

ev, err = load(f"{T}/fsize/*.trace.json", False)
check("ulimit -f 20: the trace is whole lines per CONTRACT", ev is not None, [err])
if ev is not None:
    f = glob.glob(f"{T}/fsize/*.trace.json")[0]
    check(f"ulimit -f 20: the trace is even closed (strict JSON), {os.path.getsize(f)} bytes",
          tacheck.is_closed(f) and json.load(open(f)) is not None)
ev, err = load(f"{T}/lower/*.trace.json", False)
check("RLIMIT_FSIZE lowered mid-run: the trace is whole lines per CONTRACT", ev is not None, [err])
ev, err = load(f"{T}/fsize1/*.trace.json", False)
check("ulimit -f 1: the trace is whole lines per CONTRACT", ev is not None, [err])
for f in glob.glob(f"{T}/fsize*/*.stats.json"):
    check("ulimit -f 20: a stats.json there is whole", tacheck.load_stats(f) is not None)

if full_ok:
    ev, err = load(f"{T}/small/*.trace.json", False)
    check("disk full mid-run: the trace holds whole lines per CONTRACT", ev is not None and len(ev) > 100,
          [err, ev and len(ev)])
    for f in glob.glob(f"{T}/small/*.stats.json"):
        check("disk full: a stats.json there is whole", tacheck.load_stats(f) is not None)
    left = [f for f in glob.glob(f"{T}/full/*.json")]
    for f in left:
        ok = True
        try:
            tacheck.load_trace(f) if f.endswith(".trace.json") else tacheck.load_stats(f)
        except Exception as e:
            ok = False
        check(f"disk full from the start: {os.path.basename(f)} left there is valid", ok)

ev, err = load(f"{T}/term/*.trace.json", True)
check("SIGTERM: the trace is closed and strict JSON (json.load)", ev is not None, [err])
ev, err = load(f"{T}/kill/*.trace.json", False)
check("SIGKILL: the trace, cut short, is whole lines per CONTRACT", ev is not None, [err])

# a closed trace cut at every line boundary and in the middle of every line: what is left
# opens as the array form (whole lines, the last comma dropped), each whole line alone
(f,) = glob.glob(f"{T}/json/*.trace.json")
data = open(f, "rb").read()
cuts = []
pos = 0
while True:
    nl = data.find(b"\n", pos)
    if nl < 0:
        break
    cuts += [nl + 1] + ([(pos + nl) // 2] if pos else [])
    pos = nl + 1
bad = []
for c in cuts:
    text = data[:c].decode()
    lines = text.split("\n")
    whole = lines[:-1] if not text.endswith("\n") else lines[:-1]
    try:
        assert whole and whole[0] == "["
        for line in whole[1:]:
            if line != "]":
                json.loads(line[:-1] if line.endswith(",") else line)
        body = "\n".join(whole).rstrip()
        if not body.endswith("]"):
            body = body.rstrip(",") + "]"
        json.loads(body)
    except Exception as e:
        bad.append(f"cut at {c}: {e}")
check(f"a trace cut at each of {len(cuts)} places still parses line by line and as an array",
      not bad, bad)
tacheck.finish()
EOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
