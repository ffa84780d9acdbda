#!/usr/bin/env bash
# ta_fmt and ta_log (agent/log.c) at every length around their buffers, and the programs
# whose long text once made the agent loop forever before main: each runs under a timeout,
# outside the preload.
. "$(dirname "$0")/lib/common.sh"
gcc -std=gnu11 -O1 -g -Wall -D_GNU_SOURCE -I"$ROOT/include" -I"$ROOT/agent" -o "$TBUILD/fmt" \
    "$ROOT/tests/core/fmt.c" "$ROOT/agent/log.c" || { fail "compile fmt.c"; exit 1; }
out=$(timeout 20 "$TBUILD/fmt"); rc=$?
echo "$out"
T_FAILS=$((T_FAILS + $(grep -c '^not ok' <<<"$out")))
check "ta_fmt unit test ran to its end (rc $rc; 124: it hung)" test "$rc" -lt 2

# under the agent, each of these must end as it does untraced (timeout: 124)
t=60
out=$(TRACEAGENT_OUTPUT="$TMP/argv" timeout $t env LD_PRELOAD="$AGENT" /bin/true $(seq 1 1100) 2>&1); rc=$?
check "/bin/true with 1100 arguments (argv over 4 KiB): exits 0 (rc $rc)" test "$rc" = 0
n=$(ls "$TMP/argv" 2>/dev/null | grep -c trace.json)
check "  and its trace is written" test "$n" = 1
mkdir -p "$TMP/src"
for i in $(seq 1 300); do echo "#define X$i $i" > "$TMP/src/a_long_header_name_number_$i.h"; done
want=$(cd "$TMP/src" && find . -name '*.h' | xargs grep -l define | wc -l)
got=$(cd "$TMP/src" && TRACEAGENT_OUTPUT="$TMP/xargs" timeout $t env LD_PRELOAD="$AGENT" sh -c \
    "find . -name '*.h' | xargs grep -l define | wc -l" 2>/dev/null); rc=$?
check "find | xargs grep -l: same result as untraced ($got of $want files, rc $rc)" \
    test "$rc-$got" = "0-$want"
long=$(printf 'v%.0s' $(seq 1 960))
out=$(TRACEAGENT_OUTPUT="$TMP/bad" TRACEAGENT_TRACE="$long" timeout $t env LD_PRELOAD="$AGENT" /bin/true 2>&1); rc=$?
check "a 960-byte bad TRACEAGENT_TRACE: exits 0 (rc $rc) with one warning naming it" \
    test "$rc-$(grep -c 'TRACEAGENT_TRACE=' <<<"$out")" = 0-1
long=$(printf 'w%.0s' $(seq 1 5000))
out=$(TRACEAGENT_OUTPUT="$TMP/bad2" TRACEAGENT_LOG="$long" timeout $t env LD_PRELOAD="$AGENT" /bin/true 2>&1); rc=$?
check "a 5000-byte bad TRACEAGENT_LOG: exits 0 (rc $rc) with one warning naming it" \
    test "$rc-$(grep -c 'TRACEAGENT_LOG=' <<<"$out")" = 0-1
# a cwd of 4082-4095 bytes (the output dir's absolute name no longer fits)
deep="$TMP/deep"
mkdir -p "$deep"
cd "$deep" || exit 1
while [ ${#PWD} -lt 4000 ]; do mkdir -p d123456789012345678901234567890123456789; cd d123456789012345678901234567890123456789 || exit 1; done
base=$PWD
bad=""
for want in 4082 4088 4095; do
    cd "$base" || exit 1
    pad=$((want - ${#PWD} - 1))
    if [ $pad -gt 0 ]; then
        name=$(printf 'p%.0s' $(seq 1 $pad))
        mkdir -p "$name" && cd "$name" || exit 1
    fi
    TRACEAGENT_OUTPUT=out timeout $t env LD_PRELOAD="$AGENT" /bin/true 2>/dev/null; rc=$?
    n=$(ls out 2>/dev/null | grep -c trace.json)
    [ "$rc-$n" = 0-1 ] || bad="$bad ${#PWD}:rc=$rc,traces=$n"
done
cd "$TMP" || exit 1
check "cwd of 4082-4095 bytes, relative output: exits 0 and traced each time ($bad)" test -z "$bad"
# a relative agent path over 8 KiB in LD_PRELOAD
cd "$base" || exit 1
rel=$(realpath --relative-to="$base" "${AGENT##*:}")
# (the dynamic linker opens no name over PATH_MAX: the list is long, the name is not)
pre="$rel$(printf ':%.0s' $(seq 1 8300))"
# make test-asan: the ASan runtime stays first, as its absolute path
[ "$AGENT" != "${AGENT##*:}" ] && pre="${AGENT%:*}:$pre"
TRACEAGENT_OUTPUT="$TMP/relpre" timeout $t env LD_PRELOAD="$pre" /bin/true 2>/dev/null; rc=$?
check "a relative agent path of ${#pre} bytes in LD_PRELOAD: exits 0 (rc $rc)" test "$rc" = 0
n=$(ls "$TMP/relpre" 2>/dev/null | grep -c trace.json)
check "  and the agent traced it" test "$n" = 1
(cd "$base" && TRACEAGENT_OUTPUT="$TMP/relpre2" timeout $t env LD_PRELOAD="$pre" sh -c 'cd / && /bin/true'); rc=$?
n=$(ls "$TMP/relpre2" 2>/dev/null | grep -c trace.json)
check "  a child that changes directory is traced too (rc $rc, $n traces)" test "$rc-$n" = 0-2
cd "$TMP" || exit 1
finish
