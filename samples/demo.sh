#!/usr/bin/env bash
# make demo: trace the sample pipeline with `traceagent run` and show what came out.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${DEMO_OUT:-$ROOT/build/demo}
rm -rf "$OUT" && mkdir -p "$OUT"
gcc -std=gnu11 -O2 -I"$ROOT/include" -o "$ROOT/build/bin/pipeline" "$ROOT/samples/pipeline.c" -pthread
echo "== traceagent run -o $OUT/trace -- pipeline $OUT/data 8 1024"
"$ROOT/build/bin/traceagent" run -o "$OUT/trace" -- "$ROOT/build/bin/pipeline" "$OUT/data" 8 1024
echo
echo "Open a trace in https://ui.perfetto.dev (Open trace file), chrome://tracing or speedscope:"
ls -1 "$OUT"/trace/*.trace.json
echo "Statistics (count, mean, median, p95, p99 per call; per file; call tree):"
ls -1 "$OUT"/trace/*.stats.json
