#!/usr/bin/env bash
# LTTng export (issue 18): TRACEAGENT_EXPORT=json,stats,lttng records every event into a
# real LTTng session (a session daemon of the test's own, tests/lttng/lib.sh), read back
# with babeltrace2: the event counts by type equal those of the json traces of the same
# run, process by process (a forked child included), and every file call and marker has
# its typed LTTng event with the same thread, times and fields (tests/lttng/compare.py);
# an HDF5 program's calls too, where libhdf5 is installed. Without the exporter's
# objects, without liblttng-ust, without a session daemon, without a session: at most
# one warning, the same exit status, the same json trace, and no second more.
source "$(dirname "$0")/lib/common.sh"
source "$ROOT/tests/lttng/lib.sh"

# ---- the baseline: json alone, no daemon of ours ------------------------------------------
lt_run base json
check "the sample exits 0 under the agent (json export)" test "$(cat "$TMP/base/rc")" = 0
lt_events base >"$TMP/base.ev"
n=$(LD_DEBUG=libs TRACEAGENT_OUTPUT="$TMP/base/ld" LD_PRELOAD="$AGENT" /bin/true 2>&1 | grep -c lttng)
check "without lttng export, no LTTng library is loaded or looked for (LD_DEBUG=libs: $n lines)" \
    test "$n" = 0

# lt_same NAME WHAT WARNINGS: exit status, json trace and time as the baseline's, and at
# most WARNINGS lines on stderr, all of them about LTTng
lt_same() {
    local n=$1 what=$2 w=$3
    check "$what: exit status unchanged" test "$(cat "$TMP/$n/rc")" = 0
    lt_events "$n" >"$TMP/$n.ev"
    check "$what: json traces as with json export alone" cmp -s "$TMP/base.ev" "$TMP/$n.ev"
    local lines other
    lines=$(wc -l <"$TMP/$n/err")
    other=$(grep -vic lttng "$TMP/$n/err")
    check "$what: $w warning(s) on stderr, about LTTng ($lines: $(head -c 300 "$TMP/$n/err"))" \
        test "$lines" = "$w" -a "$other" = 0
    local ms base_ms
    ms=$(cat "$TMP/$n/ms") base_ms=$(cat "$TMP/base/ms")
    # the wait this guards against is liblttng-ust's registration timeout (3 s by default):
    # 2.5 s more tells it from a loaded machine's noise (a run took 1.7 s more at load 6)
    check "$what: no time penalty (${ms} ms, json alone ${base_ms} ms: < 2.5 s more)" \
        test "$ms" -lt $((base_ms + 2500))
}

# ---- no exporter objects beside the agent: the agent's one warning --------------------
mkdir -p "$TMP/nolib"
cp "$AGENT_SO" "$TMP/nolib/"
chmod -R a+rX "$TMP/nolib"
AGENT_RUN="${AGENT%"$AGENT_SO"}$TMP/nolib/$(basename "$AGENT_SO")" lt_run nolib json,lttng
lt_same nolib "no libtraceagent-lttng.so" 1
# ---- the exporter's front but no provider (as when liblttng-ust is not installed) --------
mkdir -p "$TMP/noust"
cp "$AGENT_SO" "$LIBDIR/libtraceagent-lttng.so" "$TMP/noust/"
chmod -R a+rX "$TMP/noust"
AGENT_RUN="${AGENT%"$AGENT_SO"}$TMP/noust/$(basename "$AGENT_SO")" lt_run noust json,lttng
lt_same noust "no provider (liblttng-ust missing)" 1

# ---- no session daemon of ours (none at all, unless the machine's root one) -------------
lt_run nosd json,lttng
lt_same nosd "no session daemon" 0

# ---- a session daemon, no session --------------------------------------------------------
lt_sessiond
lt_run nosession json,lttng
lt_same nosession "a session daemon, no session" 0

# Programs that close fds they do not own (daemons, subprocess children): liblttng-ust's
# (its sockets, pipes, shared memory) stay open as the agent's own do, or liblttng-ust
# aborts at exit (counter/shm.c: Assertion '0' failed, exit 134). lt_closeall NAME WHAT
# ARGS...: run ARGS under json,lttng; exit 0, its files and its json trace intact
ta_cc "$LT_BIN/lttng_closeall" "$ROOT/tests/lttng/closeall.c"
chmod a+rx "$LT_BIN/lttng_closeall"
lt_closeall() {
    local n=$1 what=$2 d="$TMP/$1"
    shift 2
    lt_dir "$d" "$d/out" "$d/data"
    (cd "$d" && timeout 60 "${LT_AS[@]}" TRACEAGENT_EXPORT=json,lttng \
        TRACEAGENT_OUTPUT="$d/out" LD_PRELOAD="$AGENT" "$@" >"$d/stdout" 2>"$d/err")
    local rc=$?
    check "$what: exits 0 ($rc; $(grep -v '^traceagent' "$d/err" | head -c 200))" test $rc = 0
    check "$what: its files and its json trace intact" \
        $PY -c 'import glob, json, sys
d = sys.argv[1]
assert open(d + "/data/before.txt").read() == "before\n"
assert open(d + "/data/after.txt").read() == "after\n"
ts = glob.glob(d + "/out/*.trace.json")
assert ts
for t in ts:
    json.load(open(t))' "$d"
}
lt_closeall_all() { # SUFFIX WHERE
    local m
    for m in loop range from; do
        lt_closeall "close-$m$1" "$2: closes fds 3.. ($m)" "$LT_BIN/lttng_closeall" data $m
    done
    lt_closeall "close-py$1" "$2: python3's os.closerange(3, 1000)" python3 -c \
        'import os; open("data/before.txt", "w").write("before\n"); os.closerange(3, 1000); open("data/after.txt", "w").write("after\n")'
}
lt_closeall_all "" "a session daemon, no session"

# ---- a session recording traceagent:* -----------------------------------------------------
lt_dir "$TMP/trace"
lt create t59 --output="$TMP/trace/t59" >"$TMP/lttng.out" 2>&1 &&
    lt enable-event --userspace 'traceagent:*' -s t59 >>"$TMP/lttng.out" 2>&1 &&
    lt start t59 >>"$TMP/lttng.out" 2>&1 ||
    { fail "an LTTng session records traceagent:* ($(tail -3 "$TMP/lttng.out"))"; finish; }
lt_run rec json,stats,lttng
check "the sample exits 0 under the agent (json,stats,lttng)" test "$(cat "$TMP/rec/rc")" = 0
check "no warning with a session recording ($(head -c 300 "$TMP/rec/err"))" test ! -s "$TMP/rec/err"
# drops: a 4 KiB ring that drops when full, and 20000 writes back to back; and a plug-in
# that counts drops of 16 causes of 56 characters (tests/lttng/drops_plugin.c)
gcc -std=gnu11 -O1 -g -fPIC -shared -I"$ROOT/include" -o "$LT_BIN/drops_plugin.so" \
    "$ROOT/tests/lttng/drops_plugin.c" || { fail "compile drops_plugin.c"; finish; }
chmod a+rx "$LT_BIN/drops_plugin.so"
TRACEAGENT_BUFFER_KB=4 TRACEAGENT_ON_FULL=drop LT_WRITES=20000 \
    AGENT_RUN="$AGENT:$LT_BIN/drops_plugin.so" lt_run drops json,lttng
check "the sample exits 0 with a small ring dropping events" test "$(cat "$TMP/drops/rc")" = 0
lt_closeall_all -rec "a session recording"
# dup2 onto liblttng-ust's fds: as with liblttng-ust-fd.so (2.13 wraps close and fclose,
# not dup2), the call does what it asks, the numbers are the program's from then on;
# liblttng-ust's buffers are mapped already, and the process's events still reach LTTng
lt_closeall dup2 "a session recording: dup2 onto liblttng-ust's fds" "$LT_BIN/lttng_closeall" data dup2
check "a session recording: dup2 replaced liblttng-ust's fds ($(cat "$TMP/dup2/stdout"))" \
    test "$(cat "$TMP/dup2/stdout")" -gt 0

# HDF5 (tests/hdf5/h5known.c), where libhdf5 is installed; not under ASan (t52 says why)
H5INC=/usr/include/hdf5/serial H5LIB=/usr/lib/x86_64-linux-gnu/hdf5/serial
HDF5=0
if [ -f "$H5INC/hdf5.h" ] && [ -e "$H5LIB/libhdf5.so" ] && [ -z "${TA_ASAN:-}" ]; then
    HDF5=1
    ta_cc "$LT_BIN/lttng_h5known" "$ROOT/tests/hdf5/h5known.c" -I"$H5INC" -L"$H5LIB" -lhdf5
    lt_dir "$TMP/h5" "$TMP/h5/out"
    (cd "$TMP/h5" && "${LT_AS[@]}" TRACEAGENT_EXPORT=json,lttng TRACEAGENT_MIN_DURATION_NS=0 \
        TRACEAGENT_OUTPUT="$TMP/h5/out" LD_PRELOAD="$AGENT" "$LT_BIN/lttng_h5known" known.h5 \
        >/dev/null 2>"$TMP/h5/err")
    check "h5known exits 0 under the agent (json,lttng)" test $? = 0
fi
# A plug-in's category (tests/plugin: the tpapi family, a batch source on named tracks,
# fields of every type, a continued payload): LTTng's generic `span` events
P="$LT_BIN/plug" SRC="$ROOT/tests/plugin"
mkdir -p "$P"
cc_so() { # OUT SRC flags...
    local out=$1 src=$2; shift 2
    gcc -std=gnu11 -O1 -g -fPIC -shared -I"$ROOT/include" -I"$SRC" -o "$out" "$src" "$@" -pthread ||
        { fail "compile $(basename "$src")"; finish; }
}
for t in a b c; do
    cc_so "$P/libtpapi_$t.so" "$SRC/tpapi.c" -DTP_TAG="\"$t\"" -Wl,-soname,"libtpapi_$t.so"
done
for t in a b; do
    cc_so "$P/ext_$t.so" "$SRC/ext.c" -L"$P" -l:"libtpapi_$t.so" -Wl,--enable-new-dtags,-rpath,'$ORIGIN'
done
cc_so "$P/tp_plugin.so" "$SRC/tp_plugin.c" -ldl
ta_cc "$P/tp_prog" "$SRC/prog.c" -ldl
chmod -R a+rX "$P"
lt_dir "$TMP/plug" "$TMP/plug/out"
timeout 60 "${LT_AS[@]}" TRACEAGENT_EXPORT=json,lttng TRACEAGENT_MIN_DURATION_NS=0 \
    TRACEAGENT_OUTPUT="$TMP/plug/out" LD_PRELOAD="$AGENT:$P/tp_plugin.so" "$P/tp_prog" "$P" fork \
    >/dev/null 2>"$TMP/plug/err"
check "the plug-in's program exits 3 under the agent (json,lttng), as it does untraced" test $? = 3

lt stop t59 >/dev/null 2>&1
lt destroy t59 >/dev/null 2>&1
babeltrace2 "$TMP/trace/t59" >"$TMP/bt.txt" 2>"$TMP/bt.err"
check "babeltrace2 reads the session's trace ($(head -2 "$TMP/bt.err"))" test $? = 0 -a -s "$TMP/bt.txt"

# each run's events apart, by the pids of its json traces
$PY - "$TMP/bt.txt" "$TMP/rec/out" "$TMP/drops/out" "$TMP/h5/out" "$TMP/plug/out" <<'PY'
import glob, os, re, sys
runs = [(d, {re.search(r"-(\d+)\.trace\.json$", p).group(1) for p in glob.glob(d + "/*.trace.json")})
        for d in sys.argv[2:] if os.path.isdir(d)]  # h5: not run under ASan
outs = {d: open(d + "/../bt.txt", "w") for d, _ in runs}
for line in open(sys.argv[1]):
    m = re.search(r"\bpid = (\d+)", line)
    for d, pids in runs:
        if m and m.group(1) in pids:
            outs[d].write(line)
PY
$PY "$ROOT/tests/lttng/compare.py" "$TMP/rec/out" "$TMP/rec/bt.txt" 2 || T_FAILS=$((T_FAILS + 1))
# compare.py's lines, named after the run
compare_as() { # LABEL OUTDIR MIN_PROCS
    $PY "$ROOT/tests/lttng/compare.py" "$2" "$2/../bt.txt" "$3" | sed "s/^\(not \)\{0,1\}ok - /&$1: /" |
        tee "$TMP/$1.check"
    ! grep -q "^not ok" "$TMP/$1.check" || T_FAILS=$((T_FAILS + 1))
}
dup2_pid=$(ls "$TMP/dup2/out" | sed -n 's/.*-\([0-9]*\)\.trace\.json$/\1/p' | head -1)
check "dup2: its events after the dup2 reached LTTng (fopen of after.txt, pid $dup2_pid)" \
    grep -q "traceagent:stdio: .*pid = $dup2_pid,.*after\\.txt" "$TMP/bt.txt"
compare_as drops "$TMP/drops/out" 2
check "drops: the agent's drop counts reached LTTng (traceagent:dropped)" \
    grep -q 'traceagent:dropped: .*cause = "[^"]*", count = [1-9]' "$TMP/drops/bt.txt"
# the plug-in's events (tests/lttng/drops_plugin.c): args past 8 KiB stay JSON, marked
# truncated; invalid UTF-8 as U+FFFD (compare.py: as trace.json's); a counter's field more
$PY - "$TMP/drops/bt.txt" >"$TMP/ltx.check" <<'PY'
import json, re, sys
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
big = bad = cnt = None
for line in open(sys.argv[1], encoding="utf-8", errors="strict"):
    m = re.search(r'name = "(ltx_\w+)".*args = "((?:[^"\\]|\\.)*)"', line)
    if not m:
        continue
    a = json.loads(m.group(2).replace('\\"', '"').replace("\\\\", "\\"))
    if m.group(1) == "ltx_text" and a.get("n") == 1:
        big = a
    elif m.group(1) == "ltx_text" and a.get("n") == 3:
        bad = a
    elif m.group(1) == "ltx_level":
        cnt = a
print("big", bool(big and big.get("truncated") is True and big.get("n") == 1 and
                  len(big.get("text", "")) > 4000 and set(big.get("text")) == {"a"}))
print("bad", bool(bad and bad.get("text") == "ok \ufffd bad \ufffd( end" and bad.get("after") == 4))
print("cnt", bool(cnt == {"unit_code": 7}))
PY
check "drops: a plug-in span's args past 8 KiB: valid JSON in LTTng, marked truncated" \
    grep -qx "big True" "$TMP/ltx.check"
check "drops: invalid UTF-8 in a plug-in's text: U+FFFD in LTTng's args" grep -qx "bad True" "$TMP/ltx.check"
check "drops: a plug-in counter's other field in LTTng's args" grep -qx "cnt True" "$TMP/ltx.check"
if [ $HDF5 = 1 ]; then
    compare_as hdf5 "$TMP/h5/out" 1
    check "hdf5: LTTng events with a dataset and a selection" \
        grep -q 'traceagent:hdf5: .*dataset = "/[^"]*".*selection = "[^"]' "$TMP/h5/bt.txt"
fi
compare_as plug-in "$TMP/plug/out" 2
check "plug-in: span events of its category, with a continued payload's text in args" \
    grep -q 'traceagent:span: .*cat = "tpapi".*note.*work from' "$TMP/plug/bt.txt"
check "plug-in: its named tracks' names" grep -q 'traceagent:track_name: ' "$TMP/plug/bt.txt"
finish
