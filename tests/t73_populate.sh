#!/usr/bin/env bash
# Making memory present ahead of use (agent/sys.c: ta_sys_populate), which the string
# table, the stats maps and the trace writer's kept entries rely on to keep page faults,
# and the TLB flushes of the program's CPUs that follow a copied zero page, out of the
# program's way (bench/NOTES.md, rows 52 and 56): any range, aligned or not, gets every
# page it touches and no other. And giving memory back (ta_sys_release, the trace writer's
# at its finish): only the pages wholly inside the range, never a neighbour's bytes.
source "$(dirname "$0")/lib/common.sh"

if gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$ROOT/include" -I"$ROOT/agent" \
        -o "$TBUILD/populate" "$ROOT/tests/sys/populate.c" "$ROOT/agent/sys.c" 2>"$TMP/cc.txt"; then
    ok "agent/sys.c builds alone"
else
    fail "agent/sys.c builds alone: $(head -c 300 "$TMP/cc.txt")"
    finish
fi
out=$("$TBUILD/populate")
check "the program ran" test $? -eq 0
relay_checks 6 <<<"$out"
finish
