#!/usr/bin/env bash
# traceagent benchmarks: `make bench`, or `bash bench/run.sh [options]` after `make`.
# See bench/README.md for what each figure means.
#
#   bash bench/run.sh                      everything but callgrind (~2.5 min on 2 cores)
#   BENCH_QUICK=1 bash bench/run.sh        smaller counts, 3 rounds (~35 s)
#   bash bench/run.sh --only table,startup one or more pieces: layout table hdf5 stacks
#                                          drainer writer whole startup memory lost
#                                          lttng callgrind
#   bash bench/run.sh --callgrind          instructions per call (valgrind), nothing else
#   bash bench/run.sh --no-save            do not write bench/results/
#
# Knobs (environment): BENCH_QUICK, BENCH_ROUNDS (11), BENCH_REPS (timed repetitions per run, 100),
# BENCH_LOST_N (single-thread nothing-lost calls, 20M), BENCH_LOST_MT_N (per thread, 2M),
# BENCH_LOST_THREADS (8), BENCH_DRAIN_N (5M), BENCH_DRAIN_RUNS (3), BENCH_WRITER_N (2M),
# BENCH_WRITER_RUNS (5), BENCH_MEM_THREADS (64),
# BENCH_MEM_N (100k),
# BENCH_STARTUP_N (500), BENCH_LTTNG_N (2M), BENCH_LTTNG_MT_N (250k), BENCH_GAP_US (300),
# BENCH_STRACE=0 (skip strace), KEEP=1 (keep tmp),
# BASE (the commit whose agent the table measures beside this one, built in build/base/ with
# the same CFLAGS: b6f4eea, the commit before issue #14; BASE=none leaves it out).
# Every TRACEAGENT_* variable of the caller is cleared: the agent runs with its defaults
# except where a piece says otherwise.
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT="$ROOT/build/lib/libtraceagent.so"
NOPAGENT="$ROOT/build/lib/libtraceagent-nop.so"
BB="$ROOT/build/bench"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

PIECES="layout table hdf5 stacks drainer writer whole startup memory lost lttng"
SAVE=1
while [ $# -gt 0 ]; do
    case $1 in
    --callgrind) PIECES="callgrind" ;;
    --only) shift; PIECES=$(echo "${1:-}" | tr ',' ' ') ;;
    --only=*) PIECES=$(echo "${1#--only=}" | tr ',' ' ') ;;
    --no-save) SAVE=0 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "bench: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
want() { case " $PIECES " in *" $1 "*) return 0 ;; esac; return 1; }

for v in $(env | sed -n 's/^\(TRACEAGENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD

for f in "$AGENT" "$NOPAGENT"; do
    [ -f "$f" ] || { echo "bench: $f is missing: run 'make' first" >&2; exit 2; }
done

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-3}; REPS=${BENCH_REPS:-60}
    LOST_N=${BENCH_LOST_N:-1000000}; LOST_MT_N=${BENCH_LOST_MT_N:-200000}
    DRAIN_N=${BENCH_DRAIN_N:-1000000}; DRAIN_RUNS=${BENCH_DRAIN_RUNS:-1}; MEM_N=${BENCH_MEM_N:-20000}
    WRITER_N=${BENCH_WRITER_N:-500000}; WRITER_RUNS=${BENCH_WRITER_RUNS:-1}
    STARTUP_N=${BENCH_STARTUP_N:-150}; SN=${BENCH_STRACE_N:-1000}
else
    ROUNDS=${BENCH_ROUNDS:-11}; REPS=${BENCH_REPS:-100}
    LOST_N=${BENCH_LOST_N:-20000000}; LOST_MT_N=${BENCH_LOST_MT_N:-2000000}
    DRAIN_N=${BENCH_DRAIN_N:-5000000}; DRAIN_RUNS=${BENCH_DRAIN_RUNS:-3}; MEM_N=${BENCH_MEM_N:-100000}
    WRITER_N=${BENCH_WRITER_N:-2000000}; WRITER_RUNS=${BENCH_WRITER_RUNS:-5}
    STARTUP_N=${BENCH_STARTUP_N:-500}; SN=${BENCH_STRACE_N:-2000}
fi
LOST_THREADS=${BENCH_LOST_THREADS:-8}
MEM_THREADS=${BENCH_MEM_THREADS:-64}
GAP_US=${BENCH_GAP_US:-300}
DEFAULT_RING_KB=1024 # agent/config.c DEFAULT_BUFFER_KB

TMP=$(mktemp -d /tmp/ta-bench.XXXXXX)
# at exit, also after an interrupt: our LTTng sessions destroyed, a session daemon we started
# stopped (see "LTTng sessions" below), the temporary directory removed
LTTNG_SD_PID="" LTTNG_SESSIONS=""
cleanup() {
    local n
    for n in $LTTNG_SESSIONS; do lttng destroy "$n" >/dev/null 2>&1; done
    [ -n "$LTTNG_SD_PID" ] && kill "$LTTNG_SD_PID" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
REPORT="$TMP/report.txt"
: >"$REPORT"
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
note() { printf '%s\n' "$*" >>"$REPORT"; } # results file only

# ---- build the bench programs ---------------------------------------------------------
mkdir -p "$BB"
CFLAGS_B="-std=gnu11 -O2 -g -Wall -Wextra -I$ROOT/include"
gcc $CFLAGS_B -o "$BB/loop" "$ROOT/bench/loop.c" -pthread -ldl || exit 2
gcc $CFLAGS_B -o "$BB/startup" "$ROOT/bench/startup.c" || exit 2
gcc $CFLAGS_B -fPIC -shared -o "$BB/minwrap.so" "$ROOT/bench/minwrap.c" -ldl || exit 2
LOOP="$BB/loop"
# The LTTng-UST peer: the same loop with a tracepoint after each call (bench/lttng_tp.h),
# traced by a session of our own; only where liblttng-ust's headers and lttng-tools are.
LTTNG=0 LTTNG_WHY="lttng-tools is not installed ('make deps' installs it)"
if command -v lttng >/dev/null && command -v lttng-sessiond >/dev/null; then
    if gcc $CFLAGS_B -DBENCH_LTTNG -I"$ROOT/bench" -o "$BB/loop-lttng" "$ROOT/bench/loop.c" \
        "$ROOT/bench/lttng_tp.c" -pthread -ldl -llttng-ust 2>"$BB/loop-lttng.err"; then
        LTTNG=1
    else
        LTTNG_WHY="loop-lttng does not build (liblttng-ust-dev missing? $BB/loop-lttng.err: $(grep -m1 error "$BB/loop-lttng.err"))"
    fi
fi
# The base agent: another commit's (the one before issue #14 unless BASE says), built once
# per commit from `git archive` into build/base/<commit>/ with the same CFLAGS, measured in
# the table beside this one, interleaved: both columns come from the same run.
BASE=${BASE:-b6f4eea}
BASEAGENT="" BASEREV=""
if [ "$BASE" != none ] && { want table || want writer || want whole; }; then
    BASEREV=$(git -C "$ROOT" rev-parse --verify -q "$BASE^{commit}") ||
        { echo "bench: BASE=$BASE is no commit of this repository (BASE=none: no base)" >&2; exit 2; }
    BASEDIR="$ROOT/build/base/${BASEREV:0:12}"
    BASEAGENT="$BASEDIR/build/lib/libtraceagent.so"
    if [ ! -f "$BASEAGENT" ]; then
        echo "bench: building the base agent ($BASE = ${BASEREV:0:12}) in ${BASEDIR#$ROOT/} ..." >&2
        rm -rf "$BASEDIR" && mkdir -p "$BASEDIR" &&
            git -C "$ROOT" archive "$BASEREV" | tar -x -C "$BASEDIR" || exit 2
        # the same flags: the Makefile's own, or the caller's CFLAGS for both builds
        if ! env -u MAKEFLAGS -u MFLAGS make -C "$BASEDIR" -j2 ${CFLAGS:+"CFLAGS=$CFLAGS"} \
            build/lib/libtraceagent.so >"$BASEDIR.log" 2>&1; then
            echo "bench: the base agent does not build: see ${BASEDIR#$ROOT/}.log" >&2
            rm -f "$BASEAGENT"; exit 2
        fi
    fi
fi
export BENCH_FILE="$TMP/small.dat"
head -c 4096 /dev/zero | tr '\0' x >"$BENCH_FILE"

# ---- header -----------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
GLIBC=$(ldd --version 2>/dev/null | head -1 | sed 's/.* //')
CLOCKSRC=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)
DIRTY=$(git -C "$ROOT" status --porcelain -- agent exporters 2>/dev/null | grep -q . && echo "+local changes")
say "traceagent bench  $(date '+%Y-%m-%d %H:%M:%S %z')  $(hostname)"
say "machine: nproc=$(nproc) cpu=\"$CPU\" kernel=$(uname -r) glibc=$GLIBC clocksource=$CLOCKSRC load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
# the clock the agent picks here (stats.json agent.clock): tsc or monotonic
AGENT_CLOCK=$(TRACEAGENT_OUTPUT="$TMP/clk" LD_PRELOAD="$AGENT" "$LOOP" marker 100 1 >/dev/null 2>&1 &&
    sed -n 's/.*"clock": *"\([a-z]*\)".*/\1/p' "$TMP"/clk/*.stats.json | head -1)
rm -rf "$TMP/clk"
say "agent: $REV${DIRTY:+ $DIRTY}  clock=${AGENT_CLOCK:-?}  pieces: $PIECES  quick=$QUICK rounds=$ROUNDS"
[ -n "$BASEAGENT" ] && say "base: $(git -C "$ROOT" log -1 --format="%h %s" "$BASEREV" | cut -c1-72)  CFLAGS=${CFLAGS:-default}"
say ""

# ---- LTTng sessions -------------------------------------------------------------------------
# A session daemon is started when none answers (user-space only, --no-kernel) and stopped
# at the end (by the pid in its own pid file); one that was running is used and left alone.
# Each piece makes its own session, default channel (per-user buffers, 4 x 512 KiB
# sub-buffers per CPU, discard mode: what a user gets from `lttng enable-event -u`),
# output under $TMP.
lttng_up() {
    [ $LTTNG = 1 ] || return 1
    lttng list >/dev/null 2>&1 && return 0
    lttng-sessiond --daemonize --no-kernel >/dev/null 2>"$TMP/lttng-sd.err" || {
        LTTNG=0 LTTNG_WHY="lttng-sessiond would not start: $(head -1 "$TMP/lttng-sd.err")"; return 1; }
    local rundir="${LTTNG_HOME:-$HOME}/.lttng"
    [ "$(id -u)" = 0 ] && rundir=/var/run/lttng
    LTTNG_SD_PID=$(cat "$rundir/lttng-sessiond.pid" 2>/dev/null)
    lttng list >/dev/null 2>&1 || { LTTNG=0 LTTNG_WHY="no session daemon answers"; return 1; }
}
# lttng_begin NAME [EVENTS [CHANNEL OPTION...]]: a session recording EVENTS (every ta_bench
# event), started; with a CHANNEL, in a channel of that name made with the OPTIONs
# (lttng enable-channel); on failure none is left behind and LTTNG_WHY says why
lttng_begin() {
    local name=$1 events=${2:-ta_bench:*} ch=() ; shift; [ $# -gt 0 ] && shift
    lttng destroy "$name" >/dev/null 2>&1
    rm -rf "$TMP/lttng-$name"
    LTTNG_SESSIONS="$LTTNG_SESSIONS $name"
    if [ $# -gt 0 ]; then ch=(-c "$1"); fi
    if ! { lttng create "$name" --output="$TMP/lttng-$name" >/dev/null 2>"$TMP/lttng.err" &&
        { [ $# = 0 ] || lttng enable-channel -u -s "$name" "${@:2}" "$1" >/dev/null 2>>"$TMP/lttng.err"; } &&
        lttng enable-event -u "$events" -s "$name" "${ch[@]}" >/dev/null 2>>"$TMP/lttng.err" &&
        lttng start "$name" >/dev/null 2>>"$TMP/lttng.err"; }; then
        LTTNG_WHY="no LTTng session: $(head -1 "$TMP/lttng.err")"
        lttng destroy "$name" >/dev/null 2>&1
        return 1
    fi
}
# lttng_end NAME: stop; prints "DISCARDED BYTES" (events the buffers discarded, trace size)
lttng_end() {
    lttng stop "$1" >/dev/null 2>&1
    local d b
    d=$(lttng list "$1" 2>/dev/null | sed -n 's/.*Discarded events: *//p' | awk '{s += $1} END {print s + 0}')
    lttng destroy "$1" >/dev/null 2>&1
    b=$(du -sb "$TMP/lttng-$1" 2>/dev/null | cut -f1)
    echo "${d:-0} ${b:--}"
    rm -rf "$TMP/lttng-$1"
}

# kv LINE KEY: the value of key=value in LINE
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# run_loop CONFIG OUTDIR MODE N REPS [THREADS]: one loop run, its output line on stdout
run_loop() {
    local cfg=$1 out=$2; shift 2
    case $cfg in
    untraced) "$LOOP" "$@" ;;
    nop) TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$NOPAGENT" "$LOOP" "$@" ;;
    agent) TRACEAGENT_EXPORT=json,stats TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" "$LOOP" "$@" ;;
    base) TRACEAGENT_EXPORT=json,stats TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$BASEAGENT" "$LOOP" "$@" ;;
    minwrap) LD_PRELOAD="$BB/minwrap.so" "$LOOP" "$@" ;; # the yardstick: bench/minwrap.c
    strace) strace -f -qq -o /dev/null "$LOOP" "$@" ;;
    lttng) "$BB/loop-lttng" "$@" ;; # inside a session: lttng_begin first
    esac
}

# stats_field DIR WHAT NAME...: from the one stats.json in DIR: WHAT=count (sum of ops
# counts for these names), dropped (sum of the dropped object)
stats_field() {
    local dir=$1 what=$2; shift 2
    "$PY" - "$dir" "$what" "$@" <<'PY'
import glob, json, sys
d, what, names = sys.argv[1], sys.argv[2], sys.argv[3:]
fs = glob.glob(d + "/*.stats.json")
if len(fs) != 1:
    print(-1); sys.exit()
try:
    st = json.load(open(fs[0]))
except Exception:
    print(-1); sys.exit()
if what == "dropped":
    print(sum(v for v in (st.get("dropped") or {}).values() if isinstance(v, (int, float))))
else:
    c = {}
    for o in st.get("ops", []):
        c[o.get("name")] = c.get(o.get("name"), 0) + o.get("count", 0)
    print(min(c.get(n, 0) for n in names))
PY
}

# ops the agent must record for each call, to count it as traced
declare -A OPNAMES=([marker]="bench" [pread]="pread" [write]="write"
                    [fopen]="fopen fread fclose" [stat]="stat")

# ============================================================================================
# 0. Code layout: fopen, fopen64, fread, fclose and the body fopen and fopen64 share on one
#    4 KiB page of the library (bench/NOTES.md, row 27): after each of the trio's system
#    calls one page of the agent's code is missed, not three. It holds while agent/stdio.c
#    defines them together after the TA_PAGE-aligned body, in that order; moving one away,
#    or the body growing past the page, makes this line FAIL (and run.sh exit 1 at the end).
# ============================================================================================
LAYOUT_FAILED=0
if want layout; then
    if ! command -v nm >/dev/null; then
        say "layout: skipped (nm, from binutils, is not installed)"
    else
        syms=$(nm -S --defined-only "$AGENT" |
            awk '$3 ~ /^[tT]$/ && $4 ~ /^(fopen|fopen64|fread|fclose|fopen_as)$/')
        names=$(echo "$syms" | awk '{print $4}' | sort | tr '\n' ' ')
        lo="" hi="" body=""
        while read -r addr size _ name; do
            [ -n "$addr" ] || continue
            s=$((0x$addr)) e=$((0x$addr + 0x$size - 1))
            if [ -z "$lo" ] || [ $s -lt $lo ]; then lo=$s; fi
            if [ -z "$hi" ] || [ $e -gt $hi ]; then hi=$e; fi
            [ "$name" = fopen_as ] && body=$s
        done <<<"$syms"
        why=""
        [ "$names" = "fclose fopen fopen64 fopen_as fread " ] || why="symbols found: $names"
        [ -z "$why" ] && [ $((lo / 4096)) != $((hi / 4096)) ] &&
            why="they span pages 0x$(printf %x $((lo / 4096)))..0x$(printf %x $((hi / 4096)))"
        [ -z "$why" ] && [ $((body % 4096)) != 0 ] && why="the shared body is not at a page's start"
        if [ -z "$why" ]; then
            say "layout: PASS - fopen, fopen64, fread, fclose and fopen_as on one 4 KiB page (0x$(printf %x $((lo / 4096))), $((hi - lo + 1)) bytes from its start)"
        else
            say "layout: FAIL - $why (bench/NOTES.md, row 27)"
            LAYOUT_FAILED=1
        fi
    fi
    say ""
fi

# ============================================================================================
# 1. The table: added ns per call, interleaved configurations, medians of ROUNDS rounds
# ============================================================================================
if want table; then
    CALLS="marker pread write fopen stat"
    # iterations per timed repetition: 0.2 to 1 ms of work, shorter than a scheduler time
    # slice and than the agent's ring (16384 records), so that a repetition is seldom cut by
    # another job and never waits for the drainer
    declare -A REPSIZE=([floor]=4000 [floorpread]=500 [floorfopen]=100 [marker]=2000 [pread]=500
                        [write]=500 [fopen]=100 [stat]=500)
    HAVE_STRACE=0
    if [ "${BENCH_STRACE:-1}" != 0 ] && command -v strace >/dev/null &&
        strace -f -qq -o /dev/null true 2>/dev/null; then HAVE_STRACE=1; fi
    CONFIGS=(untraced nop agent)
    [ -n "$BASEAGENT" ] && CONFIGS+=(base)
    if lttng_up && lttng_begin ta-bench-table; then CONFIGS+=(lttng); fi
    RAW="$TMP/raw.txt"
    : >"$RAW"
    echo "table: $ROUNDS rounds x {${CONFIGS[*]}$([ $HAVE_STRACE = 1 ] && echo " strace")} x {floor floorpread floorfopen $CALLS} (+ minwrap for pread, fopen) ..." >&2
    NC=${#CONFIGS[@]}
    for ((r = 1; r <= ROUNDS; r++)); do
        for call in floor floorpread floorfopen $CALLS; do
            n=$((REPSIZE[$call] * REPS))
            case $call in
            floor*) cfgs=(untraced) ;;
            *) # rotate the order each round: no configuration always runs first
                cfgs=("${CONFIGS[@]:$((r % NC))}" "${CONFIGS[@]:0:$((r % NC))}")
                case $call in pread | fopen) cfgs+=(minwrap) ;; esac ;;
            esac
            for cfg in "${cfgs[@]}"; do
                out="$TMP/o-$cfg"; rm -rf "$out"
                line=$(BENCH_AB=1 BENCH_PIN=1 BENCH_GAP_US=$GAP_US run_loop $cfg "$out" $call $n $REPS 2>"$TMP/err")
                if [ -z "$line" ]; then
                    echo "bench: $cfg $call failed: $(head -3 "$TMP/err")" >&2; continue; fi
                echo "round=$r config=$cfg $line" >>"$RAW"
                if [ $cfg = agent ] && [ $r = 1 ]; then
                    got=$(stats_field "$out" count ${OPNAMES[$call]})
                    echo "$call $got $(kv "$line" calls) $(kv "$line" cuda_libs)" >>"$TMP/traced.txt"
                fi
            done
            rm -rf "$TMP/o-agent" "$TMP/o-base" "$TMP/o-nop" "$TMP/o-lttng" "$TMP/o-minwrap"
            if [ $HAVE_STRACE = 1 ] && [ "${call#floor}" = "$call" ] && [ $call != marker ]; then
                sn=$SN; [ $call = fopen ] && sn=$((SN / 4))
                line=$(BENCH_GAP_US=0 run_loop strace - $call $sn 5 2>/dev/null)
                [ -n "$line" ] && echo "round=$r config=strace $line" >>"$RAW"
            fi
        done
    done
    LT="- -"
    [ "${CONFIGS[${#CONFIGS[@]}-1]}" = lttng ] && LT=$(lttng_end ta-bench-table)
    "$PY" - "$RAW" "$TMP/traced.txt" "$HAVE_STRACE" $LT "$LTTNG_WHY" "${BASEREV:0:7}" "$REV" <<'PY' | tee -a "$REPORT"
import sys, statistics as S
raw, traced_f, have_strace = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
lt_disc, lt_bytes, lt_why = sys.argv[4], sys.argv[5], sys.argv[6]
base_rev, new_rev = sys.argv[7], sys.argv[8]
runs = {}  # (round, config, mode) -> the loop's key=value fields
for line in open(raw):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    runs[(int(kv["round"]), kv["config"], kv["mode"])] = kv
traced = {}
try:
    for line in open(traced_f):
        call, got, calls, cuda = line.split()
        traced[call] = int(got) >= int(calls)
except FileNotFoundError:
    pass
rounds = sorted({k[0] for k in runs})
def med(v): return S.median(v) if v else float("nan")
def col(cfg, call, key):
    return [float(runs[(r, cfg, call)][key]) for r in rounds
            if (r, cfg, call) in runs and key in runs[(r, cfg, call)]]
def xproc(cfg, call):  # separate processes: this config's median minus untraced, same round
    return [float(runs[(r, cfg, call)]["median_ns"]) - float(runs[(r, "untraced", call)]["median_ns"])
            for r in rounds if (r, cfg, call) in runs and (r, "untraced", call) in runs]
targets = {"marker": 1.25, "pread": 1.25, "fopen": 3.5}
labels = {"marker": "marker push+pop", "pread": "pread 1 B (cached)", "write": "write 1 B /dev/null",
          "fopen": "fopen+fread+fclose", "stat": "stat"}
floor = med(col("untraced", "floor", "median_ns"))
hdr = ["call", "untraced ns", "nop +ns", "agent +ns", "floor ns", "agent/floor", "target", "met?"]
have_lttng = any(k[1] == "lttng" for k in runs)
have_base = any(k[1] == "base" for k in runs)
if have_strace: hdr.append("strace +ns")
if have_lttng: hdr.append("LTTng +ns")
hdr += ["agent +ns p25..p75", "agent +ns x-proc"]
rows = []
for call in ["marker", "pread", "write", "fopen", "stat"]:
    ok = traced.get(call, True)
    a = med(col("agent", call, "ab_added_ns"))
    # ratio per round against the floor timed in the same process, then the median
    ratio = med([float(runs[(r, "agent", call)]["ab_added_ns"]) / float(runs[(r, "agent", call)]["ab_floor_ns"])
                 for r in rounds if (r, "agent", call) in runs and "ab_added_ns" in runs[(r, "agent", call)]])
    t = targets.get(call)
    na = "not traced yet"
    row = [labels[call], f"{med(col('untraced', call, 'median_ns')):.0f}",
           f"{med(col('nop', call, 'ab_added_ns')):+.0f}", f"{a:+.0f}" if ok else na, f"{floor:.1f}",
           f"{ratio:.2f}" if ok else "-", f"<= {t}" if t else "-",
           ("yes" if ratio <= t else "NO") if (t and ok) else "-"]
    if have_strace:
        s = xproc("strace", call)
        row.append(f"{med(s):+,.0f}" if s else "-")
    if have_lttng:
        l = col("lttng", call, "ab_added_ns")
        row.append(f"{med(l):+.0f}" if l else "-")
    row.append(f"{med(col('agent', call, 'ab_added_p25_ns')):+.0f}..{med(col('agent', call, 'ab_added_p75_ns')):+.0f}"
               if ok else "-")
    row.append(f"{med(xproc('agent', call)):+.0f}" if ok else "-")
    rows.append(row)
def table(hdr, rows):
    w = [max(len(x) for x in c) for c in zip(hdr, *rows)]
    fmt = lambda r: " | ".join(x.ljust(w[0]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(r))
    print(fmt(hdr)); print("-+-".join("-" * x for x in w))
    for r in rows: print(fmt(r))
print(f"== added ns per call on the calling thread; medians over {len(rounds)} rounds ==")
table(hdr, rows)
def q(v, p):  # quantile p of v (linear), nan for none
    v = sorted(v)
    if not v: return float("nan")
    k = (len(v) - 1) * p; i = int(k)
    return v[i] + (v[min(i + 1, len(v) - 1)] - v[i]) * (k - i)
if have_base:
    # base and new, each A/B against the bare call in its own process, both in every round
    # (the order rotating): per round the difference new - base, and whether it stands out
    # from the noise, i.e. from how far the two configurations' rounds move anyway
    bhdr = ["call", f"base {base_rev} +ns", f"new {new_rev} +ns", "base/floor", "new/floor",
            "new-base ns (p25..p75 of rounds)", "noise ns", "no slower?"]
    brows = []
    for call in ["marker", "pread", "write", "fopen", "stat"]:
        b, a = col("base", call, "ab_added_ns"), col("agent", call, "ab_added_ns")
        ratio = lambda cfg: med([float(runs[(r, cfg, call)]["ab_added_ns"]) / float(runs[(r, cfg, call)]["ab_floor_ns"])
                                 for r in rounds if (r, cfg, call) in runs and "ab_added_ns" in runs[(r, cfg, call)]])
        d = [float(runs[(r, "agent", call)]["ab_added_ns"]) - float(runs[(r, "base", call)]["ab_added_ns"])
             for r in rounds if (r, "agent", call) in runs and (r, "base", call) in runs
             and "ab_added_ns" in runs[(r, "agent", call)] and "ab_added_ns" in runs[(r, "base", call)]]
        # noise: half the p25..p75 width of each configuration's rounds, the larger one
        noise = max((q(b, .75) - q(b, .25)) / 2, (q(a, .75) - q(a, .25)) / 2) if a and b else float("nan")
        ok = "-" if not d else ("yes" if med(d) <= max(noise, 0) or q(d, .25) <= 0 else "NO")
        brows.append([labels[call], f"{med(b):+.1f}", f"{med(a):+.1f}", f"{ratio('base'):.2f}",
                      f"{ratio('agent'):.2f}", f"{med(d):+.1f} ({q(d, .25):+.1f}..{q(d, .75):+.1f})",
                      f"{noise:.1f}", ok])
    print()
    print(f"== base {base_rev} vs new {new_rev}: the same table's A/B, both agents in every round, "
          f"interleaved; medians over {len(rounds)} rounds ==")
    table(bhdr, brows)
    print("new-base: per round, the new agent's +ns minus the base's; no slower: its median within the "
          "noise (half the p25..p75 width of either agent's rounds), or the new agent faster in at "
          "least a quarter of the rounds.")
ub = [f"{call} {med(col('untraced', call, 'ab_added_ns')):+.1f}" for call in ["pread", "fopen"]]
cold = [f"{call} {med(col('agent', call, 'ab_cold_added_ns')):+.0f}" for call in ["marker", "pread", "fopen"]]
flt = med(col("agent", "pread", "ab_cold_minflt"))
print("+ns: A/B in one process (direct libc call vs the same call through the preloaded library, "
      "alternating repetitions), median of the per-repetition differences; agent/floor against the "
      "floor timed in the same process. p25..p75: spread of those differences. x-proc: separate "
      "processes, median minus the untraced run's median, same round (noisier). Bias check, A/B "
      "with nothing preloaded: " + ", ".join(ub) + " ns.")
fp = med(col("untraced", "floorpread", "ab_added_ns"))
ap = med(col("agent", "pread", "ab_added_ns"))
print(f"The floor wrapped around a real pread (libc's own, A/B against the bare pread) adds {fp:+.0f} ns, "
      f"{fp / floor:.2f} x the floor alone: the system call leaves the clock and the ring's lines colder. "
      f"The agent's pread adds {ap / fp:.2f} x that.")
ff = med(col("untraced", "floorfopen", "ab_added_ns"))
af = med(col("agent", "fopen", "ab_added_ns"))
print(f"The floor wrapped around each of libc's fopen, fread and fclose (three records, inline in the loop) "
      f"adds {ff:+.0f} ns, {ff / floor:.2f} x the floor alone (the target allows 3.5 x). The agent's "
      f"fopen trio adds {af / ff:.2f} x that.")
mp, mf = med(col("minwrap", "pread", "ab_added_ns")), med(col("minwrap", "fopen", "ab_added_ns"))
if mp == mp:
    print(f"A minimal preloaded wrapper (bench/minwrap.c: the agent's two TSC stamps and one 64-byte "
          f"store around libc's function, no bookkeeping, no drainer) adds {mp:+.0f} ns to pread "
          f"({mp / floor:.2f} x the floor) and {mf:+.0f} ns to the fopen trio ({mf / floor:.2f} x). "
          f"The agent adds {ap / mp:.2f} x and {af / mf:.2f} x that.")
print(f"A thread's first 16384 events (its ring's first lap: {flt:.0f} page faults on the timed events; "
      "the agent maps a fresh ring's pages when the thread attaches) cost more, ns per call added: "
      + ", ".join(cold) + ".")
if have_lttng:
    epc = {"marker": 2, "fopen": 3}  # LTTng events per iteration
    ev = sum(int(kv["calls"]) * epc.get(m, 1) for (r, c, m), kv in runs.items() if c == "lttng")
    bpe = f", {int(lt_bytes) / ev:.0f} B/event on disk" if lt_bytes.isdigit() and ev else ""
    print(f"LTTng +ns: LTTng-UST, one tracepoint at the end of each call (a begin and an end for a "
          f"marker; bench/lttng_tp.h) in an active session with the default channel, A/B against the "
          f"bare call as above. It stamps one time per event where the agent stamps two. Its buffers "
          f"discarded {lt_disc} of {ev:,} events in these runs{bpe}.")
else:
    print(f"LTTng: skipped ({lt_why})")
PY
    [ $HAVE_STRACE = 1 ] || say "strace: skipped (not installed or not permitted here)"
    note ""
    note "raw runs (round config loop-output):"
    sed 's/ drainer_utime_stime_ns=[^ ]*//; s/ vmrss_kb=[^ ]*//' "$RAW" >>"$REPORT"
    say ""
fi

# ============================================================================================
# 1b. HDF5: what the agent adds to an H5Dread of one element from a cached dataset (the same
#    spaces every call: agent/hdf5.c calls no HDF5 function of its own then), to a read after
#    a new selection (its bytes and shape computed with HDF5's functions) and to an
#    H5Dopen2 + H5Dclose (names looked up at each open), A/B in one process (bench/h5loop.c),
#    next to the floor timed in the same process. Built only where hdf5.h is installed.
# ============================================================================================
if want hdf5; then
    H5INC=/usr/include/hdf5/serial H5LIB=/usr/lib/x86_64-linux-gnu/hdf5/serial
    if [ ! -f "$H5INC/hdf5.h" ] || [ ! -e "$H5LIB/libhdf5.so" ]; then
        say "hdf5: skipped: no libhdf5-dev (hdf5.h, libhdf5.so; 'make deps' installs it)"
        say ""
    elif ! gcc $CFLAGS_B -I"$H5INC" -o "$BB/h5loop" "$ROOT/bench/h5loop.c" -L"$H5LIB" -lhdf5 \
        -Wl,-rpath,"$H5LIB" -ldl 2>"$BB/h5loop.err"; then
        say "hdf5: skipped: bench/h5loop.c does not build ($BB/h5loop.err)"
        say ""
    else
        H5R=$ROUNDS
        echo "hdf5: $H5R rounds x {untraced nop agent} x {dread dmove dopen} ..." >&2
        : >"$TMP/h5raw.txt"
        for ((r = 1; r <= H5R; r++)); do
            for m in "dread 200 400" "dmove 200 400" "dopen 40 400"; do
                for cfg in untraced nop agent; do
                    out="$TMP/o-h5-$cfg"; rm -rf "$out"
                    case $cfg in
                    untraced) line=$("$BB/h5loop" $m 2>/dev/null) ;;
                    nop) line=$(TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$NOPAGENT" "$BB/h5loop" $m 2>/dev/null) ;;
                    agent) line=$(TRACEAGENT_EXPORT=json,stats TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" "$BB/h5loop" $m 2>/dev/null) ;;
                    esac
                    [ -n "$line" ] && echo "round=$r config=$cfg $line" >>"$TMP/h5raw.txt"
                    rm -rf "$out"
                done
            done
        done
        "$PY" - "$TMP/h5raw.txt" <<'PY' | tee -a "$REPORT"
import sys, statistics as S
rows = [dict(f.split("=", 1) for f in l.split() if "=" in f) for l in open(sys.argv[1])]
def med(mode, cfg, key):
    v = [float(r[key]) for r in rows if r["mode"] == mode and r["config"] == cfg]
    return S.median(v) if v else float("nan")
print(f"== hdf5: added ns per call, A/B in one process (bench/h5loop.c), median of "
      f"{len({r['round'] for r in rows})} rounds ==")
floor = S.median([float(r["floor_ns"]) for r in rows])
for mode, label, target in (("dread", "H5Dread, 1 element, cached dataset", 3.0),
                            ("dmove", "H5Sselect_hyperslab + H5Dread, moved", None),
                            ("dopen", "H5Dopen2 + H5Dclose", None)):
    base = med(mode, "untraced", "base_ns")
    line = f"{label:36s} untraced {base:7.0f} ns"
    for cfg in ("untraced", "nop", "agent"):
        a = med(mode, cfg, "added_ns")
        line += f"  {cfg} {a:+6.0f} ns ({a / floor:4.2f} x floor)"
    if target:
        a = med(mode, "agent", "added_ns")
        line += f"  target <= {target:.0f} x: {'met' if a <= target * floor else 'NOT MET'}"
    print(line)
print(f"(floor {floor:.1f} ns: two clock_gettime and a 64-byte store, timed in the same processes; "
      f"untraced +ns: the PLT call against the library's own pointer, the method's zero)")
print()
PY
    fi
fi

# ============================================================================================
# 1c. Call stacks (TRACEAGENT_STACKS): what a pread made 18 frames deep (a recursion of 15 in
#    bench/stackloop.c) costs with stacks off, on for every call, and on for one in 16,
#    A/B in one process against libc's own pread, beside the floor; the configurations take
#    turns in each round. Then libunwind's two walks (unw_backtrace, unw_init_local +
#    unw_step) at the same depth, without the agent: agent/stacks.c uses the first.
# ============================================================================================
if want stacks; then
    if ! gcc $CFLAGS_B -o "$BB/stackloop" "$ROOT/bench/stackloop.c" -ldl 2>"$BB/stackloop.err"; then
        say "stacks: skipped: bench/stackloop.c does not build ($BB/stackloop.err)"
        say ""
    else
        SR=$ROUNDS SI=400
        echo "stacks: $SR rounds x {untraced off every every16} ..." >&2
        : >"$TMP/stkraw.txt"
        for ((r = 1; r <= SR; r++)); do
            for cfg in untraced off every every16; do
                out="$TMP/o-stk-$cfg"; rm -rf "$out"
                case $cfg in
                untraced) line=$("$BB/stackloop" pread $SI $REPS 2>/dev/null) ;;
                off) line=$(TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" "$BB/stackloop" pread $SI $REPS 2>/dev/null) ;;
                every) line=$(TRACEAGENT_STACKS=posix TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" "$BB/stackloop" pread $SI $REPS 2>/dev/null) ;;
                every16) line=$(TRACEAGENT_STACKS=posix TRACEAGENT_STACKS_EVERY=16 TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" "$BB/stackloop" pread $SI $REPS 2>/dev/null) ;;
                esac
                [ -n "$line" ] && echo "round=$r config=$cfg $line" >>"$TMP/stkraw.txt"
                rm -rf "$out"
            done
            line=$("$BB/stackloop" unwind 200 $REPS 2>/dev/null)
            [ -n "$line" ] && echo "round=$r config=unwind $line" >>"$TMP/stkraw.txt"
        done
        "$PY" - "$TMP/stkraw.txt" <<'PY' | tee -a "$REPORT"
import sys, statistics as S
rows = [dict(f.split("=", 1) for f in l.split() if "=" in f) for l in open(sys.argv[1])]
def vals(cfg, key):
    return [float(r[key]) for r in rows if r["config"] == cfg]
def med(cfg, key):
    v = vals(cfg, key)
    return S.median(v) if v else float("nan")
def q(cfg, key):
    v = sorted(vals(cfg, key))
    return (v[len(v) // 4], v[(3 * len(v)) // 4]) if v else (float("nan"),) * 2
pr = [r for r in rows if r["mode"] == "pread"]
n = len({r["round"] for r in rows})
print(f"== stacks: added ns per pread, 18 frames deep (15 in the program), A/B in one process "
      f"(bench/stackloop.c), median of {n} rounds ==")
floor = S.median([float(r["floor_ns"]) for r in pr]) if pr else float("nan")
off = med("off", "added_ns")
print(f"pread untraced {med('untraced', 'base_ns'):6.0f} ns   floor {floor:5.1f} ns")
for cfg, label in (("untraced", "untraced"), ("off", "agent, stacks off"),
                   ("every", "agent, STACKS=posix"), ("every16", "agent, STACKS=posix EVERY=16")):
    a = med(cfg, "added_ns"); lo, hi = q(cfg, "added_ns")
    line = f"  {label:30s} {a:+7.0f} ns (rounds p25..p75 {lo:+.0f}..{hi:+.0f}; {a / floor:5.2f} x floor)"
    if cfg in ("every", "every16"):
        d = [float(x["added_ns"]) - float(y["added_ns"]) for x in rows if x["config"] == cfg
             for y in rows if y["config"] == "off" and y["round"] == x["round"]]
        dm = S.median(d) if d else float("nan")
        line += f"  stacks add {dm:+6.0f} ns"
        if cfg == "every":
            line += f"  target <= 1000 ns: {'met' if dm <= 1000 else 'NOT MET'}"
    print(line)
if vals("unwind", "base_ns"):
    print(f"libunwind alone, 18 frames: unw_backtrace {med('unwind', 'base_ns'):.0f} ns per stack, "
          f"unw_init_local + unw_step {med('unwind', 'base_ns') + med('unwind', 'added_ns'):.0f} ns")
print()
PY
        note "raw runs (round config output):"
        cat "$TMP/stkraw.txt" >>"$REPORT"
        say ""
    fi
fi

# ============================================================================================
# 2. Drainer throughput: events per second of the drainer thread's CPU, bytes per event
# ============================================================================================
# drain_run LABEL EXPORT MODE N THREADS [OUTDIR [PLACE]]: DRAIN_RUNS runs, median and range.
# PLACE: split (default: the program's thread on one CPU, the drainer on another, as on
# any multi-core machine) or one (both on the same CPU, taskset)
drain_run() {
    local label=$1 exp=$2 mode=$3 n=$4 th=$5 out=${6:-$TMP/drain} place=${7:-split}
    local i line cpu vals="" pre=(env BENCH_PIN=1)
    [ "$place" = one ] && pre=(taskset -c "$(($(nproc) - 1))")
    for ((i = 0; i < DRAIN_RUNS; i++)); do
        rm -rf "$out"
        # MIN_DURATION_NS=0: every event formatted and written, as the rate and B/event assume
        line=$(BENCH_SETTLE_MS=100 TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_EXPORT=$exp TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" \
            "${pre[@]}" "$LOOP" "$mode" "$n" 1 "$th" 2>"$TMP/err")
        if [ -z "$line" ]; then say "$label: FAILED ($(head -2 "$TMP/err"))"; return; fi
        cpu=$(kv "$line" drainer_cpu_ns)
        [ "${cpu:--1}" -le 0 ] && cpu=$(kv "$line" drainer_utime_stime_ns)
        vals="$vals $(kv "$line" calls),$cpu,$(kv "$line" drainer_utime_stime_ns),$(kv "$line" drainer_stime_ns),$(kv "$line" median_ns)"
        vals="$vals,$(cat "$out"/*.trace.json 2>/dev/null | wc -c),$(cat "$out"/*.trace.json 2>/dev/null | grep -c '^{')"
    done
    rm -rf "$out"
    "$PY" - "$label" $vals <<'PY' | tee -a "$REPORT"
import sys, statistics as S
label, runs = sys.argv[1], [list(map(float, r.split(","))) for r in sys.argv[2:]]
runs = [r for r in runs if r[1] > 0]
if not runs:
    print(f"{label:36s} no drainer thread found"); sys.exit()
rates = [r[0] / (r[1] / 1e9) for r in runs]
calls, cpu, cpu2, stime, prod, nbytes, events = runs[0]
kern = S.median([100 * r[3] / r[2] for r in runs if r[2] > 0] or [0])
rate = S.median(rates)
bpe = f"{nbytes / events:.0f} B/event" if events > 0 else "no trace  "
spread = f" ({min(rates)/1e6:.2f}..{max(rates)/1e6:.2f})" if len(rates) > 1 else ""
print(f"{label:36s} {calls/1e6:5.2f} M events: {rate/1e6:5.2f} M events/s per core{spread}, "
      f"{1e9 / rate:4.0f} ns/event, kernel {kern:2.0f}%  {bpe}  producer "
      f"{S.median([r[4] for r in runs]):.0f} ns/event  target >= 5 M/s: {'yes' if rate >= 5e6 else 'NO'}")
PY
}
if want drainer; then
    echo "drainer: $DRAIN_N events x $DRAIN_RUNS runs per line ..." >&2
    say "== drainer: events formatted and written per second of the drainer thread's CPU (median of $DRAIN_RUNS runs) =="
    drain_run "markers, export json,stats" json,stats marker "$DRAIN_N" 1
    drain_run "markers, export json" json marker "$DRAIN_N" 1
    drain_run "markers, export stats" stats marker "$DRAIN_N" 1
    drain_run "pread, export json,stats" json,stats pread $((DRAIN_N / 5)) 1
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        shm=$(mktemp -d /dev/shm/ta-bench.XXXXXX)
        drain_run "markers, json,stats, out on tmpfs" json,stats marker "$DRAIN_N" 1 "$shm/drain"
        rm -rf "$shm"
    fi
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        drain_run "markers, json,stats, 1 CPU for both" json,stats marker "$DRAIN_N" 1 "$TMP/drain" one
    fi
    say "(program thread and drainer pinned to different CPUs unless said; output in $TMP's file system"
    say " unless said; kernel = stime share of utime+stime; producer = ns per call of the loop with the"
    say " default 1 MiB ring and no pauses: a tight marker loop is bound by the drainer)"
    say ""
fi

# ============================================================================================
# 2b. The writer (issue #20): drainer CPU (user + system, its write calls included) per
#     event, for pread events with a path and for marker events, exporting json alone,
#     stats alone and both; the base agent (BASE) in the same rounds, interleaved, and the
#     floor timed in the same rounds. Target: json at most 75 ns per event for both kinds.
# ============================================================================================
if want writer; then
    WCONF=(agent)
    [ -n "$BASEAGENT" ] && WCONF+=(base)
    echo "writer: $WRITER_RUNS rounds x {${WCONF[*]}} x {pread marker} x {json stats json,stats}, $WRITER_N events each ..." >&2
    WRAW="$TMP/writer.txt"
    : >"$WRAW"
    for ((r = 1; r <= WRITER_RUNS; r++)); do
        l=$("$LOOP" floor 400000 100 2>/dev/null)
        echo "round=$r cfg=floor mode=floor exp=- $l" >>"$WRAW"
        for mode in pread marker; do
            for exp in json stats json,stats; do
                for cfg in "${WCONF[@]}"; do
                    lib=$AGENT
                    [ $cfg = base ] && lib=$BASEAGENT
                    out="$TMP/writer-out"
                    rm -rf "$out"
                    # every event formatted (MIN_DURATION_NS=0); the program's thread on one
                    # CPU, the drainer on another (BENCH_PIN); settled before /proc is read
                    l=$(BENCH_PIN=1 BENCH_SETTLE_MS=100 TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_EXPORT=$exp \
                        TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$lib" "$LOOP" $mode "$WRITER_N" 1 1 2>/dev/null)
                    b=$(cat "$out"/*.trace.json 2>/dev/null | wc -c)
                    echo "round=$r cfg=$cfg mode=$mode exp=$exp trace_bytes=$b $l" >>"$WRAW"
                done
            done
        done
        rm -rf "$TMP/writer-out"
    done
    say "== writer: drainer CPU per event (user + system, writes included), median of $WRITER_RUNS rounds =="
    "$PY" - "$WRAW" "${BASEREV:0:7}" "$REV" <<'PY' | tee -a "$REPORT"
import sys, statistics as S
rows = [dict(f.split("=", 1) for f in l.split() if "=" in f) for l in open(sys.argv[1])]
base_rev, new_rev = sys.argv[2], sys.argv[3]
floor = S.median(float(r["median_ns"]) for r in rows if r["cfg"] == "floor")
def per_event(cfg, mode, exp):
    v = [float(r["drainer_cpu_ns"]) / float(r["calls"]) for r in rows
         if r["cfg"] == cfg and r["mode"] == mode and r["exp"] == exp
         and float(r.get("drainer_cpu_ns", -1)) > 0]
    return (S.median(v), min(v), max(v)) if v else None
def bpe(cfg, mode):
    v = [float(r["trace_bytes"]) / float(r["calls"]) for r in rows
         if r["cfg"] == cfg and r["mode"] == mode and r["exp"] == "json"]
    return S.median(v) if v else 0
cfgs = ["agent"] + (["base"] if any(r["cfg"] == "base" for r in rows) else [])
names = {"agent": f"new {new_rev}", "base": f"base {base_rev}"}
for mode, label in (("pread", "pread events with a path"), ("marker", "marker events")):
    for cfg in cfgs:
        cells = []
        for exp in ("json", "stats", "json,stats"):
            m = per_event(cfg, mode, exp)
            cells.append(f"{exp:10s} {m[0]:5.0f} ns ({m[0] / floor:4.2f} x floor; {m[1]:.0f}..{m[2]:.0f})"
                         if m else f"{exp:10s}   failed")
        j = per_event(cfg, mode, "json")
        met = "" if not j else f"  json target <= 75 ns: {'met' if j[0] <= 75 else 'NOT MET'}"
        print(f"{label:26s} {names[cfg]:13s} " + "  ".join(cells) + f"  {bpe(cfg, mode):.0f} B/event{met}")
print(f"(floor {floor:.1f} ns: two clock_gettime and a 64-byte store, timed in the same rounds; "
      "drainer CPU from the drainer thread's schedstat after the loop, the exit's flush not in it; "
      "the program's thread and the drainer on different CPUs; output in the bench's temporary "
      "directory; min..max over the rounds)")
PY
    note "-- writer raw --"
    cat "$WRAW" >>"$REPORT"
    say ""
fi

# ============================================================================================
# Whole programs (issue #20): the small-file pattern in C and in Python, the pread loop, each
# untraced / nop / stats only / agent (and the base agent, and Darshan where
# DARSHAN_PREFIX is set), in bench/whole.sh; before `lost`, which leaves the page cache full
# ============================================================================================
if want whole; then
    echo "whole: small files, python, pread loop ..." >&2
    AGENT="$AGENT" NOPAGENT="$NOPAGENT" BASEAGENT="$BASEAGENT" PY="$PY" QUICK="$QUICK" BB="$BB" \
        bash "$ROOT/bench/whole.sh" | tee -a "$REPORT"
    say ""
fi

# ============================================================================================
# 3. Start-up: /bin/true with and without the agent; no CUDA library in a non-CUDA program
# ============================================================================================
if want startup; then
    echo "startup: /bin/true x $STARTUP_N x 3 ..." >&2
    say "== start-up: /bin/true, $STARTUP_N spawns per configuration, interleaved =="
    # twice: output on the disk ($TMP's file system) and on tmpfs (/dev/shm): creating the
    # two files of a process is most of the cost where file creation is slow (bench/NOTES.md,
    # row 29)
    for where in "$TMP/startup-out" /dev/shm/traceagent-bench-$$; do
    line=$("$BB/startup" "$AGENT" "$NOPAGENT" "$STARTUP_N" "$where" /bin/true)
    fs=$(df -T "$(dirname "$where")" 2>/dev/null | awk 'NR==2 {print $2}')
    "$PY" - "$line" "$where ($fs)" <<'PY' | tee -a "$REPORT"
import sys
kv = dict(f.split("=", 1) for f in sys.argv[1].split())
a = float(kv["agent_added_us"])
print(f"output in {sys.argv[2]}:")
print(f"  untraced {float(kv['untraced_med_us']):.0f} us, agent {float(kv['agent_med_us']):.0f} us, "
      f"nop agent {float(kv['nop_med_us']):.0f} us (medians, spawn to exit)")
print(f"  added: agent {a:+.0f} us, nop agent {float(kv['nop_added_us']):+.0f} us "
      f"(median of paired differences); target <= +1000 us: {'yes' if a <= 1000 else 'NO'}"
      f"{'' if kv['failures'] == '0' else '  (' + kv['failures'] + ' failed runs)'}")
PY
    rm -rf "$where"
    done
    rm -rf "$TMP/startup-out"
    # CUDA: what the dynamic linker loads or even looks for, and what ends up mapped
    cu_true=$(LD_DEBUG=libs TRACEAGENT_OUTPUT="$TMP/cu" LD_PRELOAD="$AGENT" /bin/true 2>&1 |
        grep -ciE 'libcuda|libcupti|libcudart|libnvrtc')
    cu_loop=$(LD_DEBUG=libs TRACEAGENT_OUTPUT="$TMP/cu" LD_PRELOAD="$AGENT" "$LOOP" pread 1000 2>&1 |
        grep -ciE 'libcuda|libcupti|libcudart|libnvrtc')
    maps=$(TRACEAGENT_OUTPUT="$TMP/cu" LD_PRELOAD="$AGENT" "$LOOP" marker 1000 | tr ' ' '\n' | sed -n 's/^cuda_libs=//p')
    ok=yes; [ "$cu_true" = 0 ] && [ "$cu_loop" = 0 ] && [ "$maps" = 0 ] || ok=NO
    say "CUDA/CUPTI libraries loaded or searched for (LD_DEBUG=libs): /bin/true $cu_true, loop pread $cu_loop; mapped in loop marker (/proc/self/maps): $maps; none: $ok"
    rm -rf "$TMP/cu"
    say ""
fi

# ============================================================================================
# 4. Memory: 64 threads recording markers at once, peak resident memory added
# ============================================================================================
if want memory; then
    echo "memory: $MEM_THREADS threads x $MEM_N markers ..." >&2
    say "== memory: $MEM_THREADS threads x $MEM_N markers each, all alive at once (VmHWM) =="
    declare -A HWM
    for cfg in untraced nop agent; do
        l=$(run_loop $cfg "$TMP/mem-$cfg" marker "$MEM_N" 1 "$MEM_THREADS" 2>/dev/null)
        HWM[$cfg]=$(kv "$l" vmhwm_kb)
        rm -rf "$TMP/mem-$cfg"
    done
    "$PY" - "${HWM[untraced]:-0}" "${HWM[nop]:-0}" "${HWM[agent]:-0}" "$MEM_THREADS" "$DEFAULT_RING_KB" <<'PY' | tee -a "$REPORT"
import sys
u, n, a, th, ring = map(int, sys.argv[1:])
added, rings = a - u, th * ring
print(f"VmHWM untraced {u/1024:.1f} MiB, nop agent {n/1024:.1f} MiB, agent {a/1024:.1f} MiB: "
      f"added {added/1024:.1f} MiB = rings {th} x {ring} KiB ({rings/1024:.0f} MiB) "
      f"+ {(added - rings)/1024:.1f} MiB ({(added - rings)/th:.0f} KiB per thread beyond its ring)")
PY
    say ""
fi

# ============================================================================================
# 5. Nothing lost, last (it leaves gigabytes of page cache behind): long pread loops with default buffers, every call in stats and trace
# ============================================================================================
# lost_run LABEL N THREADS
lost_run() {
    local label=$1 n=$2 th=$3 out="$TMP/lost"
    rm -rf "$out"
    local line
    # every pread in the trace too: MIN_DURATION_NS=0 (the default leaves out spans < 1 us)
    line=$(TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT" "$LOOP" pread "$n" 1 "$th" 2>"$TMP/err")
    if [ -z "$line" ]; then say "$label: FAILED ($(head -2 "$TMP/err"))"; return; fi
    local calls drop ops lines ok
    calls=$(kv "$line" calls)
    drop=$(stats_field "$out" dropped)
    ops=$(stats_field "$out" count pread)
    lines=$(cat "$out"/*.trace.json 2>/dev/null | grep -c -F '"name":"pread"')
    ok=yes
    [ "$drop" = 0 ] && [ "$ops" = "$calls" ] && [ "$lines" = "$calls" ] || ok=NO
    if [ "$ops" = 0 ] && [ "$lines" = 0 ]; then ok="- (pread not traced yet)"; fi
    local wall; wall=$(kv "$line" wall_s)
    say "$(printf '%-10s calls=%-9s dropped=%-3s stats.ops.pread=%-9s trace events=%-9s %5.1f s, %4.2f M calls/s  ok: %s' \
        "$label" "$calls" "$drop" "$ops" "$lines" "$wall" "$(echo "$calls $wall" | awk '{print $1/$2/1e6}')" "$ok")"
    rm -rf "$out"
}
# lost_lttng LABEL N THREADS: the same loop under LTTng-UST (default channel, discard mode)
lost_lttng() {
    local label=$1 n=$2 th=$3 line res
    lttng_begin ta-bench-lost || { say "LTTng $label: skipped ($LTTNG_WHY)"; return; }
    line=$("$BB/loop-lttng" pread "$n" 1 "$th" 2>"$TMP/err")
    res=$(lttng_end ta-bench-lost)
    if [ -z "$line" ]; then say "LTTng $label: FAILED ($(head -2 "$TMP/err"))"; return; fi
    "$PY" - "$label" "$(kv "$line" calls)" $res "$(kv "$line" wall_s)" <<'PY' | tee -a "$REPORT"
import sys
label, calls, disc, nbytes, wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
kept = calls - disc
bpe = f"{int(nbytes) / kept:.0f} B/event" if nbytes.isdigit() and kept > 0 else "-"
print(f"LTTng-UST {label:10s} calls={calls:<9d} discarded={disc} ({100 * disc / calls:.2f}%)  {bpe}  "
      f"{wall:5.1f} s, {calls / wall / 1e6:4.2f} M calls/s")
PY
}
if want lost; then
    echo "lost: pread x $LOST_N (1 thread), $LOST_THREADS threads x $LOST_MT_N ..." >&2
    say "== nothing lost (default buffers, TRACEAGENT_ON_FULL default; calls include warm-up) =="
    lost_run "1 thread" "$LOST_N" 1
    lost_run "$LOST_THREADS threads" "$LOST_MT_N" "$LOST_THREADS"
    if lttng_up; then
        echo "lost: the same loops under LTTng-UST ..." >&2
        lost_lttng "1 thread" "$LOST_N" 1
        lost_lttng "$LOST_THREADS threads" "$LOST_MT_N" "$LOST_THREADS"
    else
        say "LTTng: skipped ($LTTNG_WHY)"
    fi
    say ""
fi

# ============================================================================================
# 7. LTTng export (TRACEAGENT_EXPORT=lttng, exporters/lttng/): what it adds to json export
#    alone, in one run, inside a session recording traceagent:* (default channel: discard
#    mode, per-user buffers): per call on the program's thread (A/B, interleaved rounds:
#    the hot path is the same, the drainer does more), per event on the drainer's thread;
#    then the nothing-lost loops exporting to LTTng, with the default channel (events LTTng
#    discarded when its consumer fell behind), with a channel that blocks for at most 100 ms
#    per event (--blocking-timeout=100000, what README recommends: the drainer waits that
#    long, then LTTng discards) and with one that blocks for good (--blocking-timeout=inf:
#    the drainer waits, the agent's rings absorb the wait).
#    Smaller loops than `lost` (BENCH_LTTNG_N, 2M; BENCH_LTTNG_MT_N, 250k per thread): each
#    event is ~100 bytes of trace on disk.
# ============================================================================================
LTTNG_N=${BENCH_LTTNG_N:-2000000}; LTTNG_MT_N=${BENCH_LTTNG_MT_N:-250000}
[ "$QUICK" = 1 ] && { LTTNG_N=${BENCH_LTTNG_N:-300000}; LTTNG_MT_N=${BENCH_LTTNG_MT_N:-50000}; }
# lost_export LABEL N THREADS CHANNEL-KIND: the pread loop exporting json,lttng into a
# session of its own; every call in stats.json, and how many LTTng kept and discarded
lost_export() {
    local label=$1 n=$2 th=$3 kind=$4 out="$TMP/lost" line res opts=()
    [ "$kind" = blocking ] && opts=(ch --blocking-timeout=inf)
    [ "$kind" = finite ] && opts=(ch --blocking-timeout=100000)
    lttng_begin ta-bench-export 'traceagent:*' "${opts[@]}" ||
        { say "export $label, $kind: skipped ($LTTNG_WHY)"; return; }
    rm -rf "$out"
    line=$(TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_EXPORT=json,stats,lttng TRACEAGENT_OUTPUT="$out" \
        LD_PRELOAD="$AGENT" "$LOOP" pread "$n" 1 "$th" 2>"$TMP/err")
    res=$(lttng_end ta-bench-export)
    if [ -z "$line" ]; then say "export $label, $kind: FAILED ($(head -2 "$TMP/err"))"; return; fi
    "$PY" - "$label" "$kind" "$(kv "$line" calls)" "$(stats_field "$out" count pread)" \
        "$(stats_field "$out" dropped)" $res "$(kv "$line" wall_s)" <<'PY' | tee -a "$REPORT"
import sys
label, kind = sys.argv[1], sys.argv[2]
calls, ops, drop, disc = (int(x) for x in sys.argv[3:7])
nbytes, wall = sys.argv[7], float(sys.argv[8])
print(f"json,lttng {label:10s} {kind:8s} calls={calls:<9d} stats.ops.pread={ops:<9d} agent dropped={drop} "
      f"LTTng discarded={disc} ({100 * disc / max(calls, 1):.2f}%)  {wall:5.1f} s, "
      f"{calls / wall / 1e6:4.2f} M calls/s  agent lost nothing: {'yes' if ops == calls and drop == 0 else 'NO'}")
PY
    rm -rf "$out"
}
if want lttng; then
    if [ ! -f "$ROOT/build/lib/libtraceagent-lttng-ust.so" ]; then
        say "lttng: skipped (build/lib/libtraceagent-lttng-ust.so is not built: liblttng-ust-dev is missing)"
    elif ! lttng_up; then
        say "lttng: skipped ($LTTNG_WHY)"
    elif ! lttng_begin ta-bench-export 'traceagent:*'; then
        say "lttng: skipped ($LTTNG_WHY)"
    else
        echo "lttng: $ROUNDS rounds x {json, json,lttng} x {marker pread}, drainer, lost loops ..." >&2
        say "== lttng: TRACEAGENT_EXPORT=json,lttng against json alone, one run, a session recording traceagent:* =="
        RAWL="$TMP/raw-lttng.txt"; : >"$RAWL"
        declare -A LSIZE=([marker]=2000 [pread]=500)
        for ((r = 1; r <= ROUNDS; r++)); do
            for call in marker pread; do
                exps=(json json,lttng); ((r % 2)) && exps=(json,lttng json)
                for exp in "${exps[@]}"; do
                    rm -rf "$TMP/o-lt"
                    line=$(BENCH_AB=1 BENCH_PIN=1 BENCH_GAP_US=$GAP_US TRACEAGENT_EXPORT=$exp \
                        TRACEAGENT_OUTPUT="$TMP/o-lt" LD_PRELOAD="$AGENT" \
                        "$LOOP" $call $((LSIZE[$call] * REPS)) $REPS 2>/dev/null)
                    [ -n "$line" ] && echo "exp=$exp $line" >>"$RAWL"
                done
            done
        done
        rm -rf "$TMP/o-lt"
        "$PY" - "$RAWL" <<'PY' | tee -a "$REPORT"
import sys, statistics as S
rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    rows.setdefault((kv["mode"], kv["exp"]), []).append(float(kv["ab_added_ns"]))
print(f"{'per call, added (A/B median of rounds)':40s} {'json':>8s} {'json,lttng':>11s}")
for m in ("marker", "pread"):
    j, l = rows.get((m, "json"), []), rows.get((m, "json,lttng"), [])
    if j and l:
        print(f"{m:40s} {S.median(j):+7.0f}ns {S.median(l):+10.0f}ns")
PY
        drain_run "pread, export json" json pread $((DRAIN_N / 5)) 1
        drain_run "pread, export json,lttng" json,lttng pread $((DRAIN_N / 5)) 1
        drain_run "markers, export json" json marker "$DRAIN_N" 1
        drain_run "markers, export json,lttng" json,lttng marker "$DRAIN_N" 1
        LT=$(lttng_end ta-bench-export)
        say "(drainer ns/event: the json,lttng line less the json one is what each event costs the drainer"
        say " for LTTng; LTTng's consumer daemon writes the trace on its own CPU time, not counted;"
        say " this session discarded ${LT%% *} events)"
        for kind in discard finite blocking; do
            lost_export "1 thread" "$LTTNG_N" 1 $kind
        done
        for kind in discard finite blocking; do
            lost_export "$LOST_THREADS threads" "$LTTNG_MT_N" "$LOST_THREADS" $kind
        done
    fi
    say ""
fi

# ============================================================================================
# 6. Callgrind: instructions per call (stable on a noisy machine)
# ============================================================================================
if want callgrind; then
    if ! command -v valgrind >/dev/null; then
        say "callgrind: skipped (valgrind is not installed: apt-get install valgrind)"
    else
        echo "callgrind: floor marker pread write fopen stat ..." >&2
        say "== callgrind: instructions per iteration in the timed loop (calling thread only) =="
        CG="$TMP/cg"; mkdir -p "$CG"
        cg_ir() { # cg_ir CONFIG MODE N: Ir per call of run_MODE on the calling thread
            local cfg=$1 mode=$2 n=$3 pre=() out="$CG/o-$1"
            case $cfg in
            agent) pre=(env TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT") ;;
            nop) pre=(env TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$NOPAGENT") ;;
            esac
            rm -f "$CG/cg.out"
            local line
            line=$(BENCH_GAP_US=3000 "${pre[@]}" valgrind --tool=callgrind --toggle-collect="run_$mode" \
                --callgrind-out-file="$CG/cg.out" "$LOOP" "$mode" "$n" 4 2>/dev/null)
            local ir
            ir=$(sed -n 's/^summary: //p' "$CG/cg.out" 2>/dev/null)
            [ -n "$ir" ] && [ -n "$line" ] && echo "$ir $(kv "$line" calls)" || echo "0 1"
            [ "$cfg" = agent ] && [ "$mode" = marker ] && cp "$CG/cg.out" "$CG/marker-agent.out"
            [ "$cfg" = agent ] && [ "$mode" = pread ] && cp "$CG/cg.out" "$CG/pread-agent.out"
            [ "$cfg" = agent ] && [ "$mode" = fopen ] && cp "$CG/cg.out" "$CG/fopen-agent.out"
            rm -rf "$out"
        }
        printf '%-8s %10s %10s %10s %10s %12s\n' call untraced nop agent "agent +" "agent/floor" | tee -a "$REPORT"
        fl=$(cg_ir untraced floor 20000); fl_ir=$(echo "$fl" | awk '{printf "%.1f", $1/$2}')
        printf '%-8s %10s %10s %10s %10s %12s\n' floor "$fl_ir" - - - - | tee -a "$REPORT"
        for mode in marker pread write fopen stat; do
            n=20000; [ $mode = fopen ] && n=4000
            u=$(cg_ir untraced $mode $n); p=$(cg_ir nop $mode $n); a=$(cg_ir agent $mode $n)
            echo "$mode $u $p $a $fl_ir" | awk '{u=$2/$3; p=$4/$5; a=$6/$7;
                printf "%-8s %10.1f %10.1f %10.1f %+10.1f %12.2f\n", $1, u, p, a, a-u, (a-u)/$8}' |
                tee -a "$REPORT"
        done
        say "(Ir per iteration: floor = 2 clock_gettime + a 64-byte store; under valgrind clock_gettime"
        say " is a real system call, so it counts few instructions: compare agent +Ir between versions)"
        for m in marker pread fopen; do
            if [ -f "$CG/$m-agent.out" ]; then
                say "agent's top functions, $m (self Ir, whole timed loop):"
                callgrind_annotate --inclusive=no "$CG/$m-agent.out" 2>/dev/null |
                    sed -n '/file:function/,$p' | sed -n '3,9p' | sed 's/^/    /' | tee -a "$REPORT"
            fi
        done
        say ""
    fi
fi

# ---- save ---------------------------------------------------------------------------------
if [ "$SAVE" = 1 ]; then
    mkdir -p "$ROOT/bench/results"
    suffix=""
    [ "$QUICK" = 1 ] && suffix="-quick"
    [ "$PIECES" != "layout table hdf5 stacks drainer writer whole startup memory lost lttng" ] && suffix="$suffix-$(echo $PIECES | tr ' ' '+')"
    dest="$ROOT/bench/results/$(date +%Y-%m-%d-%H%M%S)-$(hostname)$suffix.txt"
    cp "$REPORT" "$dest"
    echo "bench: results in ${dest#$ROOT/}" >&2
fi
[ $LAYOUT_FAILED = 0 ] || { echo "bench: the layout check failed (see above)" >&2; exit 1; }
