#!/usr/bin/env bash
# Runs every tests/t*.sh (and, with --gpu, tests/gpu/t*.sh). Each prints "ok - ..." and
# "not ok - ..." lines; this script counts them and closes with "N passed, N failed".
cd "$(dirname "$0")" || exit 1
dir=.
if [ "${1:-}" = --gpu ]; then
    dir=gpu
    if ! ls gpu/t*.sh >/dev/null 2>&1; then
        echo "test-gpu: skipped: no GPU tests in this version (CUDA/CUPTI comes with its own issue)"; exit 0
    fi
    if [ ! -e /dev/nvidiactl ] && ! command -v nvidia-smi >/dev/null; then
        echo "test-gpu: skipped: no NVIDIA GPU on this machine"; exit 0
    fi
fi
passed=0 failed=0 skipped=0
for t in "$dir"/t*.sh; do
    [ -e "$t" ] || continue
    echo "=== $t"
    out=$(timeout 600 bash "$t" 2>&1); rc=$?
    echo "$out"
    p=$(grep -c '^ok - ' <<<"$out"); f=$(grep -c '^not ok - ' <<<"$out")
    if [ $rc -eq 77 ]; then skipped=$((skipped + 1)); continue; fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then echo "not ok - $t exited $rc"; f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
