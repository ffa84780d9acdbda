#!/usr/bin/env bash
# A program built with include/traceagent.h runs unchanged without the agent: it links no
# library, its output is the same, and the marker calls cost nothing visible. Also as C++
# and as a non-PIE executable.
. "$(dirname "$0")/lib/common.sh"
src="$ROOT/tests/core/nest.c"
ta_cc "$TBUILD/nest" "$src"
check "built with traceagent.h: needs no extra library (ldd lists libc only)" \
    bash -c "! ldd '$TBUILD/nest' | grep -qv -e linux-vdso -e libc.so -e ld-linux"
check "runs without the agent, exit 0" "$TBUILD/nest"
check "-no-pie build runs without the agent" bash -c "gcc -O2 -no-pie -I'$ROOT/include' -o '$TBUILD/nest-nopie' '$src' -pthread && '$TBUILD/nest-nopie'"
cat > "$TMP/cxx.cc" <<'CC'
#include <traceagent.h>
#include <cstdio>
int main() { traceagent_push("c++"); traceagent_instant("i"); traceagent_count("c", 1.5); traceagent_pop(); std::puts(traceagent_present() ? "agent" : "none"); }
CC
if command -v g++ >/dev/null; then
    g++ -O2 -I"$ROOT/include" -o "$TBUILD/cxx" "$TMP/cxx.cc"
    check "C++ program without the agent says none" test "$("$TBUILD/cxx")" = none
    check "C++ program with the agent says agent" test "$(traced "$TMP/o" "$TBUILD/cxx")" = agent
fi
# with the agent, the non-PIE build is traced too (weak references resolved at load)
traced "$TMP/np" "$TBUILD/nest-nopie"
n=$($PY -c "
import sys, glob; sys.path.insert(0, '$ROOT/tests/lib'); import tacheck
print(len(tacheck.spans(tacheck.load_trace(glob.glob('$TMP/np/*.trace.json')[0]), name='leaf')))")
check "-no-pie build traced with the agent (4800 leaf spans: $n)" test "$n" = 4800
finish
