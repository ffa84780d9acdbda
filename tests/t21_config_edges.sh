#!/usr/bin/env bash
# Configuration edges: every key of agent/config_keys.h taken all three ways (environment,
# config file, `traceagent run` flag) with its effect; config files that are FIFOs, stdin,
# big, empty, with out-of-range numbers, relative; empty lists; long values; and secure
# execution (AT_SECURE), where the agent reads and writes nothing. Runs that once hung are
# under `timeout`, outside the preload.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/cfgkeys" "$ROOT/tests/core/cfgkeys.c"
ta_cc "$TBUILD/secure" "$ROOT/tests/core/secure.c" -ldl
ta_cc "$TBUILD/cfgplugin.so" "$ROOT/tests/core/cfgplugin.c" -shared -fPIC
t=60
prog="$TBUILD/cfgkeys"
mkdir -p "$TMP/excl"
ntr() { ls "$1" 2>/dev/null | grep -c "$2"; }
nwarn() { grep -c 'traceagent\[[0-9]*\]: warning' "$1"; }

# ---- every key, three ways --------------------------------------------------------------
KEYS=$(sed -n 's/.*X(\([a-z_]*\), "\(TRACEAGENT_[A-Z_]*\)".*/\1:\2/p' "$ROOT/agent/config_keys.h")
check "the key table lists keys ($(wc -w <<<"$KEYS"))" test "$(wc -w <<<"$KEYS")" -ge 12
# the clock this machine does not choose by itself
def=$(TRACEAGENT_OUTPUT="$TMP/clk" LD_PRELOAD="$AGENT" "$prog" >/dev/null 2>&1
      $PY -c "import json,glob; print(json.load(open(sorted(glob.glob('$TMP/clk/*.stats.json'))[0]))['agent']['clock'])")
other=$([ "$def" = tsc ] && echo monotonic || echo tsc)
echo '{"buffer_kb": 32}' > "$TMP/inner.json"
declare -A VAL=([output]=DIR [export]=stats [trace]=posix [buffer_kb]=64
    [min_duration_ns]=10000000000 [children]=0 [stacks]=posix [stacks_every]=16
    [stacks_depth]=8 [log]=debug
    [exclude]="$TMP/excl" [on_full]=drop [direct]=0 [clock]=$other [config]="$TMP/inner.json"
    [plugins]="$TBUILD/cfgplugin.so")
cat > "$TMP/effect.py" <<PYEOF
import sys, glob, json
sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
key, d, errf, val = sys.argv[1:5]
tr = sorted(glob.glob(d + "/*.trace.json")); st = [tacheck.load_stats(f) for f in sorted(glob.glob(d + "/*.stats.json"))]
err = open(errf).read()
spans = sum(len(tacheck.spans(tacheck.load_trace(f))) for f in tr)
marker_spans = sum(len(tacheck.spans(tacheck.load_trace(f), cat="marker")) for f in tr)
parent = [s for s in st if any(r["cat"] == "marker" and r["name"] == "r" for r in s["ops"])]
paths = [r["path"] for s in st for r in s.get("files", [])]
two = len(tr) == 2 and len(st) == 2
ok = {
    "output": two,
    "export": len(tr) == 0 and len(st) == 2,
    "trace": two and marker_spans == 0,
    "buffer_kb": two and all(s["agent"]["buffer_kb"] == 64 for s in st),
    "min_duration_ns": two and spans == 0 and len(parent) == 1 and tacheck.op(parent[0], "marker", "r")["count"] == 200,
    "children": len(tr) == 1,
    "stacks": two,
    "stacks_every": two,
    "stacks_depth": two,
    "log": two and "debug:" in err,
    "exclude": two and not any(p.startswith(val) for p in paths),
    "on_full": two,
    "direct": two,
    "clock": two and all(s["agent"]["clock"] == val for s in st),
    "config": two and all(s["agent"]["buffer_kb"] == 32 for s in st),
    "plugins": two and len(glob.glob(d + "/*.probe")) == 2,
}.get(key)
print("yes" if ok else "no (%d traces, %d stats, %d spans)" % (len(tr), len(st), spans))
PYEOF
for kv in $KEYS; do
    key=${kv%%:*} var=${kv#*:}
    flag=--${key//_/-}
    if [ -z "${VAL[$key]+x}" ]; then fail "key $key: no value to test it with in t21"; continue; fi
    for way in env file flag; do
        [ "$key-$way" = config-file ] && continue # the file cannot name itself
        d="$TMP/o-$key-$way"
        v=${VAL[$key]}
        [ "$key" = output ] && v=$d
        rm -rf "$TMP/excl"/*
        case $way in
        env) (export TRACEAGENT_OUTPUT="$d" "$var=$v"; timeout $t env LD_PRELOAD="$AGENT" "$prog" "$TMP/excl/f.bin") ;;
        file)
            if [[ $v =~ ^[0-9]+$ ]]; then j=$v; else j="\"$v\""; fi
            echo "{\"$key\": $j}" > "$TMP/c-$key.json"
            TRACEAGENT_OUTPUT="$d" TRACEAGENT_CONFIG="$TMP/c-$key.json" timeout $t env LD_PRELOAD="$AGENT" \
                "$prog" "$TMP/excl/f.bin" ;;
        flag)
            if [ "$key" = output ]; then
                timeout $t "$CLI" run -q "$flag" "$v" -- "$prog" "$TMP/excl/f.bin"
            else
                TRACEAGENT_OUTPUT="$d" timeout $t "$CLI" run -q "$flag" "$v" -- "$prog" "$TMP/excl/f.bin"
            fi ;;
        esac >"$TMP/out" 2>"$TMP/err"; rc=$?
        eff=$($PY "$TMP/effect.py" "$key" "$d" "$TMP/err" "$v" 2>&1 | tail -1)
        check "key $key by $way ($var / \"$key\" / $flag): runs, no warning, takes effect ($eff)" \
            test "$rc-$(cat "$TMP/out")-$(nwarn "$TMP/err")-$eff" = "0-done-0-yes"
    done
done
missing=""
for kv in $KEYS; do
    var=${kv#*:}; key=${kv%%:*}
    grep -q "^| $var |" "$ROOT/README.md" || missing="$missing $var"
    "$CLI" --help | grep -q -- "--${key//_/-} " || missing="$missing --${key//_/-}"
done
check "README's table and traceagent --help list every key ($missing)" test -z "$missing"

# ---- config files that are not plain small files ----------------------------------------
mkfifo "$TMP/fifo"
TRACEAGENT_OUTPUT="$TMP/fifo-out" TRACEAGENT_CONFIG="$TMP/fifo" timeout $t env LD_PRELOAD="$AGENT" \
    "$prog" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "a FIFO as config: no hang (rc $rc), one warning naming it, traced with defaults" \
    test "$rc-$(grep -c 'TRACEAGENT_CONFIG=.*fifo' "$TMP/err")-$(nwarn "$TMP/err")-$(ntr "$TMP/fifo-out" trace.json)" = 0-1-1-2
out=$(echo hello-stdin | TRACEAGENT_OUTPUT="$TMP/stdin-out" TRACEAGENT_CONFIG=/dev/stdin timeout $t \
    env LD_PRELOAD="$AGENT" cat 2>"$TMP/err"); rc=$?
check "config /dev/stdin on a pipe: the program still reads its stdin (got '$out', rc $rc)" \
    test "$rc-$out-$(nwarn "$TMP/err")" = "0-hello-stdin-1"
echo "{\"output\": \"$TMP/stdin-file-out\"}" > "$TMP/stdin.json"
out=$(TRACEAGENT_CONFIG=/dev/stdin timeout $t env LD_PRELOAD="$AGENT" cat <"$TMP/stdin.json" 2>"$TMP/err"); rc=$?
check "config /dev/stdin on a regular file: read, and the program still reads all of it" \
    test "$rc-$(nwarn "$TMP/err")-$(ntr "$TMP/stdin-file-out" trace.json)-$out" = "0-0-1-$(cat "$TMP/stdin.json")"
$PY -c "
import sys; sys.stdout.write('{' + ' ' * 70000 + '\"output\": \"$TMP/big-out\"}')" > "$TMP/big.json"
TRACEAGENT_CONFIG="$TMP/big.json" timeout $t env LD_PRELOAD="$AGENT" "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "a 70 KB config file is read whole (rc $rc, $(nwarn "$TMP/err") warnings)" \
    test "$rc-$(nwarn "$TMP/err")-$(ntr "$TMP/big-out" trace.json)" = 0-0-2
head -c $((17 << 20)) /dev/zero | tr '\0' ' ' > "$TMP/huge.json"
TRACEAGENT_OUTPUT="$TMP/huge-out" TRACEAGENT_CONFIG="$TMP/huge.json" timeout $t env LD_PRELOAD="$AGENT" \
    "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "a 17 MiB config file: one warning saying it is over 16 MiB, defaults" \
    test "$rc-$(grep -c '16 MiB' "$TMP/err")-$(nwarn "$TMP/err")-$(ntr "$TMP/huge-out" trace.json)" = 0-1-1-2
rm -f "$TMP/huge.json"
echo '{}' > "$TMP/empty.json"
TRACEAGENT_OUTPUT="$TMP/empty-out" TRACEAGENT_CONFIG="$TMP/empty.json" timeout $t env LD_PRELOAD="$AGENT" \
    "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "{} is a valid, empty config: no warning" test "$rc-$(nwarn "$TMP/err")-$(ntr "$TMP/empty-out" trace.json)" = 0-0-2
echo '[{"output": "/nowhere"}]' > "$TMP/array.json"
TRACEAGENT_OUTPUT="$TMP/array-out" TRACEAGENT_CONFIG="$TMP/array.json" timeout $t env LD_PRELOAD="$AGENT" \
    "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "a JSON array as config: one warning, not an object" \
    test "$rc-$(grep -c 'not a JSON object' "$TMP/err")-$(ntr "$TMP/array-out" trace.json)" = 0-1-2
for num in 1e300 1e19 -1e300 0.5; do
    echo "{\"min_duration_ns\": $num, \"children\": $num}" > "$TMP/num.json"
    TRACEAGENT_OUTPUT="$TMP/num-$num" TRACEAGENT_CONFIG="$TMP/num.json" timeout $t env LD_PRELOAD="$AGENT" \
        "$prog" >/dev/null 2>"$TMP/err"; rc=$?
    s=$($PY -c "
import sys, glob; sys.path.insert(0, '$ROOT/tests/lib'); import tacheck
print(sum(len(tacheck.spans(tacheck.load_trace(f))) for f in glob.glob('$TMP/num-$num/*.trace.json')))")
    check "config number $num: refused with one warning per key, no negative shown, defaults (2 traces, 201 spans)" \
        test "$rc-$(grep -c 'min_duration_ns' "$TMP/err")-$(grep -c '"children"' "$TMP/err")-$(grep -c -- '-92233' "$TMP/err")-$(ntr "$TMP/num-$num" trace.json)-$s" = "0-1-1-0-2-201"
done
mkdir -p "$TMP/relcfg"
echo "{\"output\": \"$TMP/relcfg-out\", \"buffer_kb\": 16}" > "$TMP/relcfg/cfg.json"
(cd "$TMP/relcfg" && TRACEAGENT_CONFIG=cfg.json timeout $t env LD_PRELOAD="$AGENT" sh -c "cd / && '$prog'") \
    >/dev/null 2>"$TMP/err"; rc=$?
n=$($PY -c "
import glob, json; print(sum(json.load(open(f))['agent']['buffer_kb'] == 16 for f in glob.glob('$TMP/relcfg-out/*.stats.json')))")
check "relative TRACEAGENT_CONFIG: children that chdir still read it (sh, prog, its child: $n of 3)" \
    test "$rc-$(nwarn "$TMP/err")-$n" = 0-0-3

# ---- empty lists, long values -----------------------------------------------------------
for var in TRACEAGENT_EXPORT TRACEAGENT_TRACE; do
    (export TRACEAGENT_OUTPUT="$TMP/e-$var" "$var="; timeout $t env LD_PRELOAD="$AGENT" "$prog") >/dev/null 2>"$TMP/err"; rc=$?
    check "empty $var=: one warning naming it, traced with the default" \
        test "$rc-$(grep -c "$var" "$TMP/err")-$(nwarn "$TMP/err")-$(ntr "$TMP/e-$var" trace.json)-$(ntr "$TMP/e-$var" stats.json)" = 0-1-1-2-2
done
TRACEAGENT_OUTPUT="$TMP/tree" TRACEAGENT_BUFFER_KB=lots timeout $t env LD_PRELOAD="$AGENT" \
    sh -c "'$prog'; '$prog'" >/dev/null 2>"$TMP/err"; rc=$?
check "a bad variable in a process tree (sh, 2 x prog, their children): reported once, all traced" \
    test "$rc-$(grep -c 'TRACEAGENT_BUFFER_KB=lots' "$TMP/err")-$(ntr "$TMP/tree" trace.json)" = 0-1-5
long=$(printf 'x%.0s' $(seq 1 4096))
echo "{\"trace\": \"$long\", \"output\": \"/$long\"}" > "$TMP/long.json"
TRACEAGENT_CONFIG="$TMP/long.json" TRACEAGENT_OUTPUT="$TMP/long-out" timeout $t env LD_PRELOAD="$AGENT" \
    "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "4 KiB strings in a config file: no hang (rc $rc), one warning each (trace; output loses to the env)" \
    test "$rc-$(grep -c '"trace"' "$TMP/err")-$(nwarn "$TMP/err")" = 0-1-1
echo "{\"output\": \"/$long\"}" > "$TMP/long2.json"
# (from $TMP: the default output, ./traceagent-out, is where it writes then)
(cd "$TMP" && TRACEAGENT_CONFIG="$TMP/long2.json" timeout $t env LD_PRELOAD="$AGENT" "$prog") \
    >/dev/null 2>"$TMP/err"; rc=$?
check "a 4 KiB output in a config file: no hang (rc $rc), one warning" test "$rc-$(nwarn "$TMP/err")" = 0-1
mid=$(printf 'y%.0s' $(seq 1 3000))
TRACEAGENT_OUTPUT="/proc/nope/$mid" timeout $t env LD_PRELOAD="$AGENT" "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "a 3000-byte unwritable output in a warning: no hang (rc $rc), one warning" test "$rc-$(nwarn "$TMP/err")" = 0-1
TRACEAGENT_OUTPUT="$TMP/lc" TRACEAGENT_CONFIG="/nonexistent/$mid" timeout $t env LD_PRELOAD="$AGENT" "$prog" >/dev/null 2>"$TMP/err"; rc=$?
check "a 3000-byte missing config path: no hang (rc $rc), one warning" test "$rc-$(nwarn "$TMP/err")" = 0-1

# ---- secure execution (AT_SECURE) -------------------------------------------------------
# A setuid copy of a program that dlopen()s the agent: glibc ignores LD_PRELOAD paths there,
# but an agent in /etc/ld.so.preload (or dlopen'ed) runs with the invoking user's
# environment. Root running a binary setuid to nobody gets AT_SECURE=1 from the kernel.
if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
    skip_secure="needs root and a nobody user"
elif [ -n "${TA_ASAN:-}" ]; then
    skip_secure="under ASan (make test-asan): the sanitized agent needs the ASan runtime loaded first, which a dlopen in a setuid program does not give it; the plain suite checks it"
fi
if [ -z "$skip_secure" ]; then
    sec="$TMP/sec"; mkdir -p "$sec"; chmod 711 "$TMP"; chmod 1777 "$sec"
    cp "$AGENT" "$sec/libtraceagent.so"; chmod 755 "$sec/libtraceagent.so"
    cp "$TBUILD/secure" "$sec/prog"; cp "$TBUILD/secure" "$sec/prog-suid"
    chown nobody "$sec/prog-suid"; chmod 4755 "$sec/prog-suid"
    mkfifo -m 666 "$sec/fifo"
    out=$(cd "$sec" && TRACEAGENT_OUTPUT="$sec/plain-out" timeout $t ./prog "$sec/libtraceagent.so" "$sec/f0" 2>&1)
    if ! grep -q "secure=0" <<<"$out" || [ "$(ntr "$sec/plain-out" trace.json)" = 0 ]; then
        fail "secure: the harness (dlopen of the agent) traces a plain copy: $out"
    fi
    out=$(cd "$sec" && TRACEAGENT_OUTPUT="$sec/out" TRACEAGENT_CONFIG="$sec/fifo" TRACEAGENT_LOG=debug \
        TRACEAGENT_TRACE=bogus timeout $t ./prog-suid "$sec/libtraceagent.so" "$sec/f1" 2>"$TMP/err"); rc=$?
    if grep -q 'secure=1' <<<"$out"; then
        check "AT_SECURE: the program runs as untraced (rc $rc; 124: hung on the FIFO config)" \
            test "$rc-$(grep -c 'passthrough=1' <<<"$out")-$(cat "$sec/f1" 2>/dev/null)" = "0-1-written"
        check "AT_SECURE: nothing created in TRACEAGENT_OUTPUT, nothing on stderr" \
            test "$(ls -d "$sec/out" 2>/dev/null | wc -l)-$(wc -c <"$TMP/err")" = 0-0
        out=$(cd "$sec" && TRACEAGENT_OUTPUT="$sec/out2" timeout $t ./prog-suid "$sec/libtraceagent.so" "$sec/f2" 2>&1); rc=$?
        check "AT_SECURE, no config: no output directory either" test "$rc-$(ls -d "$sec/out2" 2>/dev/null | wc -l)" = 0-0
        mkdir -m 1777 "$sec/out3" # an existing directory: still nothing in it
        out=$(cd "$sec" && TRACEAGENT_OUTPUT="$sec/out3" timeout $t ./prog-suid "$sec/libtraceagent.so" "$sec/f3" 2>&1); rc=$?
        check "AT_SECURE, an existing output directory, a failed exec: no file in it" \
            test "$rc-$(ls -A "$sec/out3" | wc -l)" = 0-0
    else
        skip_secure="a setuid copy did not run with AT_SECURE here ($out)"
    fi
fi
[ -n "$skip_secure" ] && echo "# secure execution not checked: $skip_secure"
finish
