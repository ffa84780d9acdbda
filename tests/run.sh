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
# --asan: the suite against build/lib/libtraceagent-asan.so (make test-asan). TA_AGENT is
# "libasan.so:agent" (LD_PRELOAD="$AGENT" in the tests puts both), the runtime first, as ASan
# wants: its malloc and interceptors are the ones bound, its vfork interceptor cleans the
# stack a vfork child used (the agent's own vfork does not), and a child that the agent
# gives LD_PRELOAD back without ASAN_OPTIONS passes ASan's link-order check. (Agent first
# was tried: ASan's vfork clean-up is lost, t37 reported a false stack error after vfork,
# and env-less children failed that check, t15.) Options for a runtime preloaded into
# programs that were not built with it: no leak check at exit (the programs' leaks are not ours), the programs' own
# SIGSEGV/SIGBUS/SIGFPE/SIGABRT handling and exit statuses left as they are, and no
# alternate signal stack of ASan's (the program would see one: t19 altstack). Every report
# goes to a file under $asan_logs (TA_SANITIZER_LOG, agent/asan.c): a test with one fails,
# whether or not it looked at the program's stderr. symbolize=0: the symbolizer opens
# /proc/self/exe through the agent's open(), whose first event starts the drainer thread,
# and ASan's thread registry is locked while it reports (a hang); run.sh symbolizes the
# report it shows with addr2line.
asan_logs=
if [ "${1:-}" = --asan ]; then
    rt=$(gcc -print-file-name=libasan.so)
    lib="$(cd .. && pwd)/build/lib/libtraceagent-asan.so"
    [ -f "$rt" ] && [ -f "$lib" ] || { echo "test-asan: $rt or $lib missing"; exit 1; }
    asan_logs=$(mktemp -d /tmp/ta-asan.XXXXXX)
    export TA_ASAN=1 TA_AGENT="$rt:$lib"
    asan_opts="detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:handle_sigill=0:allow_user_segv_handler=1:verify_asan_link_order=0:detect_stack_use_after_return=0:symbolize=0:use_sigaltstack=0"
    ubsan_opts="print_stacktrace=1:halt_on_error=1"
    shift
fi
# the tests named after the options (e.g. run.sh --asan t10_ring.sh), else every one
tests=("$@")
[ ${#tests[@]} -gt 0 ] && [ "${tests[0]}" != --gpu ] || tests=("$dir"/t*.sh)
# "#3 0x7f.. (/path/lib.so+0x1234)" -> the function and line, from addr2line
symbolize() {
    local line f off
    while IFS= read -r line; do
        if [[ $line =~ \(([^ ]+)\+(0x[0-9a-f]+)\) ]]; then
            f=${BASH_REMATCH[1]} off=${BASH_REMATCH[2]}
            line+="  $(addr2line -f -i -p -C -e "$f" "$off" 2>/dev/null | tr '\n' ' ')"
        fi
        echo "$line"
    done
}
passed=0 failed=0 skipped=0
for t in "${tests[@]}"; do
    [ -e "$t" ] || continue
    echo "=== $t"
    if [ -n "$asan_logs" ]; then
        n=$(basename "$t" .sh)
        # not log_path in the options: see agent/asan.c
        export ASAN_OPTIONS="$asan_opts" UBSAN_OPTIONS="$ubsan_opts" TA_SANITIZER_LOG="$asan_logs/$n"
    fi
    t0=$SECONDS
    out=$(timeout 600 bash "$t" 2>&1); rc=$?
    out+=$'\n'"# $t: $((SECONDS - t0)) s"
    if [ -n "$asan_logs" ] && compgen -G "$asan_logs/$n.*" >/dev/null; then
        out+=$'\n'"not ok - $t: sanitizer reports: $(ls "$asan_logs" | grep -c "^$n\.")"
        out+=$'\n'$(head -40 "$(ls -d "$asan_logs/$n".* | head -1)" | symbolize | sed 's/^/#   /')
    fi
    echo "$out"
    p=$(grep -c '^ok - ' <<<"$out"); f=$(grep -c '^not ok - ' <<<"$out")
    if [ $rc -eq 77 ]; then skipped=$((skipped + 1)); continue; fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then echo "not ok - $t exited $rc"; f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
done
if [ -n "$asan_logs" ]; then
    if [ -z "$(ls "$asan_logs")" ]; then rm -rf "$asan_logs"
    else echo "sanitizer reports kept in $asan_logs"; fi
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
