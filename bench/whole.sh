#!/usr/bin/env bash
# The `whole` piece of bench/run.sh (issue #20): whole programs, not single calls.
#   files   bench/whole.c: 20,000 distinct files on tmpfs, each open/write 4 KiB/close, stat,
#           open/read/close (7 calls a file), then unlinked
#   python  bench/whole_py.py in /usr/bin/python3: 5,000 files os.stat + open().read(),
#           then numpy.fromfile of 200 files of 256 KiB (interpreter start and numpy's
#           import included)
#   pread   bench/whole.c: 2,000,000 preads of 4 KiB, one thread; and again under
#           `taskset -c 0`, the program and the agent's drainer sharing one CPU; agent and
#           base write every call to the trace (TRACEAGENT_MIN_DURATION_NS=0)
# Each in every configuration, the order rotating each round: untraced, nop (the no-op
# agent), stats (TRACEAGENT_EXPORT=stats), agent (the defaults: json,stats), and with
# BASEAGENT set (run.sh's BASE) base and base-stats, the same two of the other commit's
# agent; for files and pread, minwrap: the yardstick of bench/minwrap.c, the least a
# preloaded wrapper that records every call can cost (two stamps and a 64-byte store around
# libc's function; no path, no row a file, no drainer, nothing written); where
# DARSHAN_PREFIX holds lib/libdarshan.so (non-MPI: bench/build_darshan.sh) darshan (its
# defaults: 1,024 records a module, 4 MiB of records) and darshan-all (every file recorded:
# MAX_RECORDS, MODMEM and NAMEMEM raised to the workload's file count). Both
# include the work directory with a NAME_INCLUDE: Darshan skips every path under /dev/ (and
# /usr/, /etc/, /var/, ...) by default, so on /dev/shm its defaults would record none of the
# workload's files. Round 0 checks each Darshan log: written, and with darshan-parser (when
# built) how many of the workload's files it holds ("darshan-check" lines after the table).
# Figures per configuration, medians over the rounds: wall time of the whole process, its
# ratio to untraced (per round, then the median; p25..p75 beside it), the ratio of its CPU
# time (user + system, all threads: on a busy machine the drainer's CPU is wall time), the
# wall time added per distinct file, peak RSS, the memory added per distinct file ((RSS -
# untraced RSS) / files) and the trace's bytes per event written (the JSON trace keeps calls of 1 us and more by default: "in trace" says how many
# of the process's events that is).
# Environment: AGENT NOPAGENT BASEAGENT PY ROUNDS (5; quick 3) QUICK BB (where whole is
# built) WHOLE_FILES (20000) WHOLE_PY_FILES (5000) WHOLE_PREAD_N (2000000) DARSHAN_PREFIX
# WHOLE_WORKLOADS (files,python,pread,pread1: a comma list to run fewer) WHOLE_ROUNDS.
# Standalone: bash bench/whole.sh (after make), or bash bench/run.sh --only whole.
set -u
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=${AGENT:-$ROOT/build/lib/libtraceagent.so}
NOPAGENT=${NOPAGENT:-$ROOT/build/lib/libtraceagent-nop.so}
BASEAGENT=${BASEAGENT:-}
PY=${PY:-/usr/bin/python3}
QUICK=${QUICK:-${BENCH_QUICK:-0}}
if [ "$QUICK" = 1 ]; then
    R=${WHOLE_ROUNDS:-3} NF=${WHOLE_FILES:-5000} NPY=${WHOLE_PY_FILES:-2000}
    NPR=${WHOLE_PREAD_N:-500000}
else
    R=${WHOLE_ROUNDS:-5} NF=${WHOLE_FILES:-20000} NPY=${WHOLE_PY_FILES:-5000}
    NPR=${WHOLE_PREAD_N:-2000000}
fi
BB=${BB:-$ROOT/build/bench}
mkdir -p "$BB"
gcc -std=gnu11 -O2 -g -Wall -Wextra -o "$BB/whole" "$ROOT/bench/whole.c" || exit 2
gcc -std=gnu11 -O2 -g -Wall -Wextra -fPIC -shared -o "$BB/minwrap.so" "$ROOT/bench/minwrap.c" -ldl ||
    exit 2
SHM=/dev/shm
[ -d "$SHM" ] && [ -w "$SHM" ] || SHM=${TMPDIR:-/tmp}
W=$(mktemp -d "$SHM/ta-whole.XXXXXX")
O=$(mktemp -d /tmp/ta-whole-out.XXXXXX)
trap 'rm -rf "$W" "$O"' EXIT
mkdir -p "$W/files"
head -c 4096 /dev/zero >"$W/pread.dat"
HAVE_NUMPY=1
"$PY" -c 'import numpy' 2>/dev/null || HAVE_NUMPY=0
[ $HAVE_NUMPY = 1 ] && "$PY" "$ROOT/bench/whole_py.py" --setup "$W/py" "$NPY" 200

CONFIGS=(untraced nop minwrap stats agent)
[ -n "$BASEAGENT" ] && [ -f "$BASEAGENT" ] && CONFIGS+=(base base-stats)
DARSHAN_LIB=""
if [ -n "${DARSHAN_PREFIX:-}" ]; then
    for f in "$DARSHAN_PREFIX/lib/libdarshan.so" "$DARSHAN_PREFIX/lib64/libdarshan.so"; do
        [ -f "$f" ] && DARSHAN_LIB=$f && break
    done
fi
if [ -n "$DARSHAN_LIB" ]; then
    CONFIGS+=(darshan darshan-all)
    DARSHAN_PARSER=$DARSHAN_PREFIX/bin/darshan-parser
    [ -x "$DARSHAN_PARSER" ] || DARSHAN_PARSER=""
    # Darshan reads a config file (DARSHAN_CONFIG_PATH, darshan-runtime.rst "Darshan library
    # config settings"); a NAME_INCLUDE regex overrides its default exclusion of /dev/.
    wre=$(printf '%s' "$W" | sed 's/[.[\*^$]/\\&/g')
    printf 'NAME_INCLUDE ^%s/ *\n' "$wre" >"$O/darshan.conf"
    # Every file: records for the largest workload plus 1,024 for the program's own files;
    # a POSIX record is 704 bytes, a STDIO one 248 (3.5.0), 1 KiB a record for both; names
    # (path + 8-byte id) well under 256 bytes each. Beyond the 4 MiB of its defaults.
    DMAX=$((NF > NPY + 200 ? NF : NPY + 200))
    DMAX=$((DMAX + 1024))
    { cat "$O/darshan.conf"
      echo "MAX_RECORDS $DMAX POSIX,STDIO"
      echo "MODMEM $((DMAX / 1024 + 5))"
      echo "NAMEMEM $((DMAX / 4096 + 2))"; } >"$O/darshan-all.conf"
fi
: >"$O/darshan"

# darshan_check CONFIG WORKLOAD LOG: append to $O/darshan what the log holds
darshan_check() {
    local cfg=$1 wl=$2 log=$3 want line
    case $wl in files) want=$NF ;; python) want=$((NPY + 200)) ;; *) want=1 ;; esac
    if [ ! -s "$log" ]; then
        echo "darshan-check $wl $cfg: no log written (DARSHAN_LOGFILE=$log)" | tee -a "$O/darshan" >&2
        return
    fi
    line="darshan-check $wl $cfg: log $(stat -c %s "$log") B"
    if [ -n "$DARSHAN_PARSER" ]; then
        "$DARSHAN_PARSER" --show-incomplete "$log" >"$O/parsed" 2>&1
        local n tot inc
        n=$(awk -F'\t' -v w="$W/" '$1 == "POSIX" && index($6, w) == 1 { print $3 }' "$O/parsed" | sort -u | wc -l)
        tot=$(awk -F'\t' '$1 == "POSIX" { print $3 }' "$O/parsed" | sort -u | wc -l)
        inc=$(sed -n 's/^# \*WARNING\*: The \([A-Z_-]*\) module contains incomplete data!$/\1/p' "$O/parsed" | tr '\n' ' ')
        line="$line, darshan-parser: $n of the workload's $want files have a POSIX record ($tot POSIX records in all)"
        [ -n "$inc" ] && line="$line; incomplete (records dropped): $inc"
        [ "$cfg" = darshan-all ] && [ "$n" -lt "$want" ] && echo "whole: $wl under darshan-all recorded $n of $want files" >&2
    fi
    echo "$line" >>"$O/darshan"
}

# one CONFIG WORKLOAD ROUND: run it, append "workload config round wall_ns rss_kb cpu_ms
# trace_bytes trace_events events" to $O/raw
one() {
    local cfg=$1 wl=$2 rnd=$3 out="$O/o" pre=() cmd=() tset=()
    rm -rf "$out" && mkdir -p "$out"
    case $cfg in
    untraced) ;;
    nop) pre=(env TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$NOPAGENT") ;;
    minwrap) pre=(env LD_PRELOAD="$BB/minwrap.so") ;;
    stats) pre=(env TRACEAGENT_EXPORT=stats TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT") ;;
    agent) pre=(env TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$AGENT") ;;
    base) pre=(env TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$BASEAGENT") ;;
    base-stats) pre=(env TRACEAGENT_EXPORT=stats TRACEAGENT_OUTPUT="$out" LD_PRELOAD="$BASEAGENT") ;;
    darshan | darshan-all) pre=(env DARSHAN_ENABLE_NONMPI=1 DARSHAN_CONFIG_PATH="$O/$cfg.conf"
        DARSHAN_LOGFILE="$out/log.darshan" LD_PRELOAD="$DARSHAN_LIB") ;;
    esac
    # The pread loop is issue #20's "with the JSON trace": every call written to it. The
    # default leaves posix calls under 1 us out, and where a pread takes less (324 ns on
    # one host: 336 of 2 M in the trace) the writer would not be measured at all.
    case $wl:$cfg in pread*:agent | pread*:base) pre+=(TRACEAGENT_MIN_DURATION_NS=0) ;; esac
    case $wl in
    files) cmd=("$BB/whole" files "$W/files" "$NF") ;;
    python) cmd=("$PY" "$ROOT/bench/whole_py.py" "$W/py") ;;
    pread) cmd=("$BB/whole" pread "$W/pread.dat" "$NPR") ;;
    pread1) cmd=("$BB/whole" pread "$W/pread.dat" "$NPR"); tset=(taskset -c 0) ;;
    esac
    local t0 t1 rss
    t0=${EPOCHREALTIME/./}
    "${tset[@]}" /usr/bin/time -f "%M %U %S" -o "$O/rss" "${pre[@]}" "${cmd[@]}" >"$O/stdout" 2>"$O/stderr" ||
        { echo "whole: $wl under $cfg failed: $(tail -1 "$O/stderr")" >&2; return; }
    t1=${EPOCHREALTIME/./}
    rss=$(tail -1 "$O/rss" | awk '{printf "%d %d", $1, ($2 + $3) * 1000}') # KiB, CPU ms
    local tb=0 te=0 ev=0
    if [ "$rnd" = 0 ]; then # the trace's size and events: once per configuration
        local f
        for f in "$out"/*.trace.json; do
            [ -f "$f" ] || continue
            tb=$((tb + $(stat -c %s "$f")))
            te=$((te + $(grep -c '"ph":"[XiBE]"' "$f")))
        done
        for f in "$out"/*.stats.json; do
            [ -f "$f" ] || continue
            ev=$((ev + $(sed -n 's/^  "events": \([0-9]*\),$/\1/p' "$f" | head -1)))
        done
        case $cfg in darshan*) darshan_check "$cfg" "$wl" "$out/log.darshan" ;; esac
    fi
    echo "$wl $cfg $rnd $(((t1 - t0) * 1000)) $rss $tb $te $ev" >>"$O/raw"
}

WLS="files pread pread1"
[ $HAVE_NUMPY = 1 ] && WLS="files python pread pread1"
[ -n "${WHOLE_WORKLOADS:-}" ] && WLS=$(echo "$WHOLE_WORKLOADS" | tr ',' ' ')
: >"$O/raw"
nc=${#CONFIGS[@]}
for ((r = 0; r < R; r++)); do
    for wl in $WLS; do
        # pread1 shows what sharing one CPU costs: untraced and the two exports suffice
        for ((i = 0; i < nc; i++)); do
            c=${CONFIGS[$(((i + r) % nc))]}
            [ $wl = pread1 ] && case $c in untraced | stats | agent | base) ;; *) continue ;; esac
            # minwrap wraps the C workloads' calls only (not Python's)
            [ $wl = python ] && [ $c = minwrap ] && continue
            one "$c" "$wl" "$r"
        done
    done
done

echo "== whole programs (issue #20): medians of $R rounds, configurations interleaved =="
echo "files: $NF distinct files on $SHM (7 calls a file + unlink); python: $NPY files stat+read, 200 numpy.fromfile of 256 KiB; pread: $NPR x 4 KiB, one thread, every call in the trace; pread1: the same under taskset -c 0"
[ $HAVE_NUMPY = 1 ] || echo "python: skipped ($PY has no numpy)"
if [ -z "${DARSHAN_PREFIX:-}" ]; then
    echo "darshan: skipped (DARSHAN_PREFIX is not set: Darshan built without MPI, e.g. ./configure --without-mpi --prefix=P, then DARSHAN_PREFIX=P)"
elif [ -z "$DARSHAN_LIB" ]; then
    echo "darshan: skipped (no lib/libdarshan.so under DARSHAN_PREFIX=$DARSHAN_PREFIX)"
fi
"$PY" - "$O/raw" "$NF" "$NPY" <<'PY'
import statistics as S, sys
raw, nf, npy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(raw):
    wl, cfg, rnd, ns, rss, cpu, tb, te, ev = line.split()
    rows.setdefault(wl, {}).setdefault(cfg, {})[int(rnd)] = (int(ns), int(rss), int(tb), int(te), int(ev), int(cpu))
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
files = {"files": nf, "python": npy + 200}
print("%-8s %-11s %8s %7s %13s %7s %8s %7s %8s %10s %10s" % ("workload", "config", "wall ms", "x untr.", "p25..p75",
      "cpu x", "+us/file", "RSS MB", "+B/file", "trace B/ev", "in trace"))
for wl in ("files", "python", "pread", "pread1"):
    if wl not in rows or "untraced" not in rows[wl]:
        continue
    u = rows[wl]["untraced"]
    urss = S.median(x[1] for x in u.values())
    for cfg, runs in rows[wl].items():
        walls = [x[0] for x in runs.values()]
        ratios = [runs[r][0] / u[r][0] for r in runs if r in u]
        rss = S.median(x[1] for x in runs.values())
        first = runs.get(0, (0, 0, 0, 0, 0, 0))
        per_file = "%8.0f" % ((rss - urss) * 1024 / files[wl]) if wl in files and cfg != "untraced" else "%8s" % "-"
        cpus = [runs[r][5] / u[r][5] for r in runs if r in u and u[r][5]]
        cpu = "%7.3f" % S.median(cpus) if cpus else "%7s" % "-"
        us_file = "%8.2f" % (S.median([(runs[r][0] - u[r][0]) / 1e3 / files[wl] for r in runs if r in u])) if wl in files and cfg != "untraced" else "%8s" % "-"
        bpe = "%10.0f" % (first[2] / first[3]) if first[3] and first[4] else "%10s" % "-"
        intr = "%d/%d" % (first[3], first[4]) if first[4] else "-"
        print("%-8s %-11s %8.1f %7.3f %6.3f..%-6.3f %s %s %7.1f %s %s %10s" % (
            wl, cfg, S.median(walls) / 1e6, S.median(ratios), q(ratios, .25), q(ratios, .75),
            cpu, us_file, rss / 1024, per_file, bpe, intr))
PY
cat "$O/darshan"
