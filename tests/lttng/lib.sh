# Sourced by t59_lttng.sh and t61_lttng_relay.sh after tests/lib/common.sh: a session daemon
# (and relay daemon) of the test's own, the traced sample, and reading traces back.
#
# The daemons run in an LTTNG_HOME of the test's own. A root session daemon is one per
# machine (/var/run/lttng, whatever LTTNG_HOME says): as root, the test runs the daemons,
# the lttng commands and the traced programs as the unprivileged user `nobody`, whose
# daemon lives in LTTNG_HOME alone, so that the test never meets a session daemon of the
# machine's (bench/run.sh starts one) nor leaves one behind. Not root: as the user itself.

for t in lttng lttng-sessiond babeltrace2; do
    command -v $t >/dev/null ||
        skip "$t is not installed ('make deps' installs lttng-tools and babeltrace2)"
done
AGENT_SO="${AGENT##*:}"
LIBDIR=$(dirname "$AGENT_SO")
[ -f "$AGENT_SO" ] || { fail "agent not built ($AGENT_SO)"; finish; }
[ -f "$LIBDIR/libtraceagent-lttng.so" ] && [ -f "$LIBDIR/libtraceagent-lttng-ust.so" ] ||
    skip "the LTTng exporter is not built ($LIBDIR/libtraceagent-lttng*.so: 'make' builds it where liblttng-ust-dev is installed)"

LT_HOME="$TMP/lttng-home"
mkdir -p "$LT_HOME"
chmod 755 "$TMP"
LT_AS=(env)
if [ "$(id -u)" = 0 ]; then
    id nobody >/dev/null 2>&1 || skip "running as root with no user 'nobody' to run a session daemon of the test's own"
    chown nobody "$LT_HOME"
    LT_AS=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups env)
fi
LT_AS+=(HOME="$LT_HOME" LTTNG_HOME="$LT_HOME")
# lt_dir DIR...: directories the daemons and the traced programs write
lt_dir() { mkdir -p "$@" && { [ "$(id -u)" != 0 ] || chown nobody "$@"; }; }
lt() { "${LT_AS[@]}" lttng "$@"; }

LT_PIDS=""
lt_cleanup() {
    local p
    for p in $LT_PIDS; do kill "$p" 2>/dev/null; done
    for p in $LT_PIDS; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    LT_PIDS=""
    [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap lt_cleanup EXIT

# lt_sessiond: start the session daemon, its pid in LT_SD_PID (stopped at exit, by pid)
lt_sessiond() {
    "${LT_AS[@]}" lttng-sessiond --daemonize --no-kernel >"$TMP/sessiond.out" 2>&1 ||
        { fail "lttng-sessiond starts ($(head -2 "$TMP/sessiond.out"))"; finish; }
    LT_SD_PID=$(cat "$LT_HOME/.lttng/lttng-sessiond.pid" 2>/dev/null)
    [ -n "$LT_SD_PID" ] || { fail "lttng-sessiond wrote its pid file"; finish; }
    LT_PIDS="$LT_PIDS $LT_SD_PID"
}

# The sample: POSIX, stdio, markers, a fork (tests/lttng/sample.c). As root, `nobody` may
# not reach the checkout (a clone under /root): the agent, the exporter's objects beside
# it and the programs are run from copies in $TMP.
LT_BIN="$TBUILD"
if [ "$(id -u)" = 0 ]; then
    LT_BIN="$TMP/bin"
    mkdir -p "$LT_BIN" "$TMP/lib"
    cp "$AGENT_SO" "$LIBDIR/libtraceagent-lttng.so" "$LIBDIR/libtraceagent-lttng-ust.so" "$TMP/lib/"
    AGENT="${AGENT%"$AGENT_SO"}$TMP/lib/$(basename "$AGENT_SO")"
    AGENT_SO="$TMP/lib/$(basename "$AGENT_SO")"
    LIBDIR="$TMP/lib"
    chmod -R a+rX "$TMP/lib"
fi
ta_cc "$LT_BIN/lttng_sample" "$ROOT/tests/lttng/sample.c"
# lt_run NAME EXPORT: the sample traced into $TMP/NAME/out (its files in $TMP/NAME/data),
# exporting EXPORT, with the agent AGENT_RUN (default: the one under test), LT_WRITES more
# writes at its end (tests/lttng/sample.c); its exit status
# in $TMP/NAME/rc, stderr in $TMP/NAME/err, wall time in ms in $TMP/NAME/ms
lt_run() {
    local d="$TMP/$1" t0 t1
    lt_dir "$d" "$d/out" "$d/data"
    t0=$(date +%s%N)
    "${LT_AS[@]}" TRACEAGENT_EXPORT="$2" TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$d/out" \
        LD_PRELOAD="${AGENT_RUN:-$AGENT}" "$LT_BIN/lttng_sample" "$d/data" ${LT_WRITES:-} \
        >"$d/stdout" 2>"$d/err"
    echo $? >"$d/rc"
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >"$d/ms"
}

# lt_events NAME: (cat, ph, name) counts of the run's json traces, one per line, sorted
lt_events() {
    $PY - "$TMP/$1/out" <<'PY'
import collections, glob, json, sys
c = collections.Counter()
for p in glob.glob(sys.argv[1] + "/*.trace.json"):
    for line in open(p).read().splitlines()[1:]:
        if line in ("]", ""):
            continue
        e = json.loads(line.rstrip(","))
        c[(e.get("cat"), e.get("ph"), e.get("name"))] += 1
for k, v in sorted(c.items(), key=str):
    print(k, v)
PY
}
