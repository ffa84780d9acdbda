#!/usr/bin/env bash
# Records longer than one slot, batch sources on named tracks, scopes and plug-in drop
# causes, through the plug-in interface (tests/core/extrec.c is its own plug-in, with an
# exporter that checks each payload and writes what it saw to <stem>.extcheck).
source "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/extrec" "$ROOT/tests/core/extrec.c" -ldl

# value KEY FILE: the number after KEY in an .extcheck file
value() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print -1 }' "$2"; }
one() { local f=("$1"/*.extcheck); [ -f "${f[0]}" ] && echo "${f[0]}"; }

# TRACEAGENT_EXPORT unset: json, stats, and the exporters plug-ins add (extcheck)
run() { # name threads n [mode] env...: the run's stdout in $TMP/name.out
    local name=$1 nth=$2 n=$3 mode=; shift 3
    case "${1:-}" in fork|sig) mode=$1; shift ;; esac
    mkdir -p "$TMP/$name"
    env TRACEAGENT_OUTPUT="$TMP/$name" LD_PRELOAD="$AGENT" "$@" "$TBUILD/extrec" "$nth" "$n" $mode > "$TMP/$name.out" 2> "$TMP/$name.err"
}

# payloads of 0..4000 bytes from 4 threads through 64-slot rings: a 4000-byte payload takes
# the whole ring, most wrap at its end; waiting for room, nothing is lost
run wrap 4 3000 TRACEAGENT_BUFFER_KB=4
grep -E '^(ok|not ok) ' "$TMP/wrap.out" | sed 's/ - / - wrap: /'
f=$(one "$TMP/wrap")
if [ -z "$f" ]; then
    fail "wrap: the exporter wrote its file ($(head -c 300 "$TMP/wrap.err"))"
else
    sent=$(awk '$1 == "sent" { print $2 }' "$TMP/wrap.out")
    check "wrap: the agent said nothing ($(head -c 200 "$TMP/wrap.err"))" test ! -s "$TMP/wrap.err"
    check "wrap: 4 x 3000 sent, all received ($(value recv "$f") of $sent)" \
        test "$(value recv "$f")" = 12000 -a "$sent" = 12000
    check "wrap: every payload whole and right ($(value bad "$f") bad, $(value noext "$f") without it)" \
        test "$(value bad "$f")" = 0 -a "$(value noext "$f")" = 0
    check "wrap: in order per thread ($(value order "$f") out of order), 4 threads" \
        test "$(value order "$f")" = 0 -a "$(value nthreads "$f")" = 4
    check "wrap: every size arrived (1, 57, 4000: $(value size_1 "$f"), $(value size_57 "$f"), $(value size_4000 "$f"))" \
        test "$(value size_1 "$f")" -gt 1000 -a "$(value size_57 "$f")" -gt 1000 -a "$(value size_4000 "$f")" -gt 1000 \
            -a "$(value size_0 "$f")" -gt 1000
    check "wrap: nothing dropped (ring_full $(value ring_full "$f"))" test "$(value ring_full "$f")" -le 0
    check "wrap: a payload over TA_EXT_MAX is dropped and counted (ext_too_long $(value too_long "$f"))" \
        test "$(value too_long "$f")" = 1
    check "sources: 20 events and the one held for the final poll ($(value src_events "$f"), final $(value final_only "$f"))" \
        test "$(value src_events "$f")" = 21 -a "$(value final_only "$f")" = 1
    check "sources: times, name, category, scope and payload as given ($(value src_bad "$f") bad)" \
        test "$(value src_bad "$f")" = 0
    check "tracks: two, each named once before its events, tids past pid_max" \
        test "$(value tracks "$f")" = 2 -a "$(value track_errors "$f")" = 0 -a \
            "$(grep -c '^track .* named 1 name GPU 0 stream [78]$' "$f")" = 2
    check "ring events carry their category ($(value marker_outer "$f") outer marker)" \
        test "$(value marker_outer "$f")" = 1
    check "plug-in drop cause: exporter saw the total (test_lost $(value test_lost "$f"))" \
        test "$(value test_lost "$f")" = 7
    ns=$(awk '$1 == "scope_ns" { print $2 }' "$TMP/wrap.out")
    check "scope: a launch three ranges deep costs well under 1 us ($ns ns)" test "${ns:-9999}" -lt 1000
    stats=("$TMP"/wrap/*.stats.json)
    trace=("$TMP"/wrap/*.trace.json)
    check "plug-in drop cause in stats.json and in the trace's dropped event" $PY - "${stats[0]}" "${trace[0]}" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
ok = st["dropped"].get("test_lost") == 7 and st["dropped"].get("ext_too_long") == 1
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[2]) if l.startswith("{")]
d = [e for e in ev if e.get("name") == "dropped" and e.get("args", {}).get("cause") == "test_lost"]
ok = ok and d and d[-1]["args"]["total"] == 7
sys.exit(0 if ok else 1)
PY
fi

# the drop policy: some records are lost, every one counted, those that arrive are whole
run drop 4 3000 TRACEAGENT_BUFFER_KB=4 TRACEAGENT_ON_FULL=drop
f=$(one "$TMP/drop")
if [ -z "$f" ]; then
    fail "drop: the exporter wrote its file"
else
    r=$(value recv "$f") d=$(value ring_full "$f")
    check "drop: received + dropped = sent ($r + $d = 12000)" test $((r + d)) = 12000
    check "drop: whole and in order ($(value bad "$f") bad, $(value order "$f") out of order)" \
        test "$(value bad "$f")" = 0 -a "$(value noext "$f")" = 0 -a "$(value order "$f")" = 0
fi

# a signal handler that records a payload on the thread it interrupts: inside another
# record's window (a payload being copied) it is dropped and counted, never mixed in
run sig 4 20000 sig TRACEAGENT_BUFFER_KB=4
f=$(one "$TMP/sig")
if [ -z "$f" ]; then
    fail "signal: the exporter wrote its file ($(head -c 300 "$TMP/sig.err"))"
else
    ss=$(awk '$1 == "sig_sent" { print $2 }' "$TMP/sig.out")
    sr=$(value sig_recv "$f") se=$(value reentry "$f")
    check "signal: handler's records received + signal_reentry = recorded ($sr + $((se < 0 ? 0 : se)) = $ss)" \
        test "${ss:-0}" -gt 0 -a $((sr + (se < 0 ? 0 : se))) = "${ss:-0}"
    check "signal: every record whole ($(value bad "$f") + $(value sig_bad "$f") bad, $(value order "$f") out of order)" \
        test "$(value bad "$f")" = 0 -a "$(value sig_bad "$f")" = 0 -a "$(value noext "$f")" = 0 \
            -a "$(value order "$f")" = 0 -a "$(value recv "$f")" = 80000
fi

# default rings: payloads mostly in place, the wrap only now and then
run big 2 20000
f=$(one "$TMP/big")
check "default rings: 2 x 20000 whole, in order, none lost" \
    test -n "$f" -a "$(value recv "$f")" = 40000 -a "$(value bad "$f")" = 0 -a \
        "$(value noext "$f")" = 0 -a "$(value order "$f")" = 0

# a forked child names the track it uses again, in its own files, and forgets the parent's
# source events and drop counts
mkdir -p "$TMP/fork"
TRACEAGENT_OUTPUT="$TMP/fork" TRACEAGENT_BUFFER_KB=4 LD_PRELOAD="$AGENT" "$TBUILD/extrec" 2 500 fork > "$TMP/fork.out" 2>&1
files=("$TMP"/fork/*.extcheck)
child= parent=
for x in "${files[@]}"; do
    if [ "$(value src_events "$x")" = 1 ]; then child=$x; else parent=$x; fi
done
check "fork: two processes' files" test "${#files[@]}" = 2 -a -n "$child" -a -n "$parent"
if [ -n "$child" ]; then
    check "fork: the child's track named again, once, before its event" \
        test "$(value tracks "$child")" = 1 -a "$(value track_errors "$child")" = 0 -a \
            "$(grep -c '^track .* named 1 name GPU 0 stream 7$' "$child")" = 1
    check "fork: the child's own records whole (200), the parent's drop cause not its own" \
        test "$(value recv "$child")" = 200 -a "$(value bad "$child")" = 0 -a \
            "$(value test_lost "$child")" -le 0
    check "fork: the parent's events all in the parent's ($(value recv "$parent") records)" \
        test "$(value recv "$parent")" = 1000 -a "$(value src_events "$parent")" = 21
fi
# a source alone, in a process none of whose threads records: polled while it runs (the
# drainer thread starts for it), and once finally
ta_cc "$TBUILD/extsrc.so" "$ROOT/tests/core/extsrc.c" -shared -fPIC
mkdir -p "$TMP/alone"
TRACEAGENT_OUTPUT="$TMP/alone" TRACEAGENT_TRACE=markers TRACEAGENT_PLUGINS="$TBUILD/extsrc.so" \
    LD_PRELOAD="$AGENT" sleep 0.3
f=("$TMP"/alone/*.extsrc)
check "a source alone: polled while the process runs, then once with final ($(tr '\n' ' ' < "${f[0]}" 2>/dev/null))" \
    test "$(value polls "${f[0]}" 2>/dev/null)" -ge 5 -a "$(value finals "${f[0]}" 2>/dev/null)" = 1
finish
