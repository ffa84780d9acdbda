#!/usr/bin/env bash
# The CLI on a large run (issue 17): `traceagent merge` and `traceagent report` on a run of
# EVENTS marker spans (default 10 million, in 4 processes) and on one fifth of it: MB of
# trace per CPU second (user + sys) and peak RSS (/usr/bin/time), to see that memory does
# not grow with the trace. merge2h: the same with half the processes on another host
# (their every ts rewritten). Usage: bash bench/cli.sh [EVENTS]   (after make)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EVENTS=${1:-10000000}
CLI="$ROOT/build/bin/traceagent"
AGENT="$ROOT/build/lib/libtraceagent.so"
B="$ROOT/build/bench"
mkdir -p "$B"
gcc -std=gnu11 -O2 -I"$ROOT/include" -o "$B/cligen" "$ROOT/bench/cligen.c" || exit 1
T=$(mktemp -d /tmp/ta-clibench.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$T"' EXIT
measure() { # name dir cmd...: prints name, MB/s per CPU second, peak RSS
    local name=$1 bytes=$2; shift 2
    /usr/bin/time -f "%U %S %M" -o "$T/time" "$@" >/dev/null 2>"$T/err" ||
        { echo "$name failed:"; cat "$T/err"; return; }
    read -r u s rss <"$T/time"
    awk -v n="$name" -v b="$bytes" -v u="$u" -v s="$s" -v r="$rss" 'BEGIN {
        cpu = u + s; if (cpu < 0.01) cpu = 0.01
        printf "  %-8s %8.2f s CPU (user %.2f + sys %.2f)  %8.0f MB/s per core  peak RSS %6.1f MiB\n",
               n, cpu, u, s, b / 1e6 / cpu, r / 1024 }'
}
for n in $((EVENTS / 5)) "$EVENTS"; do
    d="$T/run-$n"
    TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$d" LD_PRELOAD="$AGENT" "$B/cligen" 4 $((n / 4))
    bytes=$(cat "$d"/*.trace.json | wc -c)
    lines=$(cat "$d"/*.trace.json | wc -l)
    echo "run of $n marker spans asked: $lines trace lines, $((bytes / 1000000)) MB in $(ls "$d"/*.trace.json | wc -l) files"
    measure merge "$bytes" "$CLI" merge "$d" -o "$T/merged.json"
    measure report "$bytes" "$CLI" report "$d"
    # half the processes on another host: their ts rewritten (the clock line-up)
    for f in $(ls "$d"/*.stats.json | head -2); do
        sed -i 's/"host": "[^"]*"/"host": "otherhost"/' "$f"
    done
    measure merge2h "$bytes" "$CLI" merge "$d" -o "$T/merged.json"
    rm -rf "$d" "$T/merged.json"
done
