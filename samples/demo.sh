#!/usr/bin/env bash
# make demo: trace the sample pipeline with `traceagent run` and show what came out.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${DEMO_OUT:-$ROOT/build/demo}
rm -rf "$OUT" && mkdir -p "$OUT"
gcc -std=gnu11 -O2 -I"$ROOT/include" -o "$ROOT/build/bin/pipeline" "$ROOT/samples/pipeline.c" -pthread
TA="$ROOT/build/bin/traceagent"
echo "== traceagent run -o $OUT/trace -- pipeline $OUT/data 8 1024 >$OUT/pipeline.out"
# the program's own output (its child's `wc -l`) goes to a file: the summary (on stderr,
# with the files written) is what the demo shows
"$TA" run -o "$OUT/trace" -- "$ROOT/build/bin/pipeline" "$OUT/data" 8 1024 >"$OUT/pipeline.out"
echo "(the pipeline's own output: $OUT/pipeline.out: $(head -c 200 "$OUT/pipeline.out"))"
echo
echo "== traceagent waterfall --width ${COLUMNS:-100} $OUT/trace"
"$TA" waterfall --width "${COLUMNS:-100}" --top 8 "$OUT/trace"
echo
echo "Next: traceagent report $OUT/trace (--format csv|json|markdown), traceagent tree $OUT/trace,"
echo "and a trace (*.trace.json above) in https://ui.perfetto.dev, chrome://tracing or speedscope."

# The h5py sample (samples/h5py_pipeline.py): Debian's h5py under /usr/bin/python3, each
# H5Dread with its file, dataset and bytes, and the file reads beneath it.
PY=/usr/bin/python3
if $PY -c 'import h5py, numpy' 2>/dev/null; then
    echo
    echo "== traceagent run -q -o $OUT/h5py -- $PY samples/h5py_pipeline.py $OUT/h5data"
    "$TA" run -q -o "$OUT/h5py" -- $PY "$ROOT/samples/h5py_pipeline.py" "$OUT/h5data"
    echo "== traceagent report --top 12 $OUT/h5py"
    "$TA" report --top 12 "$OUT/h5py"
    echo "h5py sample: traces and statistics of the main process and its 2 pool workers in $OUT/h5py"
else
    echo "(the h5py sample needs h5py and numpy for $PY: make deps installs python3-h5py)"
fi
