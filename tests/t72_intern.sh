#!/usr/bin/env bash
# The string table (agent/intern.c) alone, under concurrency (tests/intern/stress.c): four
# threads intern the same 60,013 paths in four orders while the table grows through six
# levels and the drainer's ahead-of-use population runs beside them; every path must get
# one id, read back as itself, and be found again at that id once most paths sit in
# levels older than the newest (which a look-up searches first).
source "$(dirname "$0")/lib/common.sh"

if gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$ROOT/include" -I"$ROOT/agent" \
        -o "$TBUILD/intern_stress" "$ROOT/tests/intern/stress.c" "$ROOT/agent/intern.c" -pthread; then
    ok "the string table builds alone"
else
    fail "the string table builds alone"
    finish
fi
out=$("$TBUILD/intern_stress" 60013)
check "the stress program ran" test $? -eq 0
relay_checks 6 <<<"$out"

# the same under ThreadSanitizer, where gcc has it: no data race reported
if gcc -std=gnu11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -I"$ROOT/include" -I"$ROOT/agent" \
        -o "$TBUILD/intern_tsan" "$ROOT/tests/intern/stress.c" "$ROOT/agent/intern.c" -pthread 2>/dev/null &&
        "$TBUILD/intern_tsan" 20011 >/dev/null 2>"$TMP/tsan.txt"; then
    check "ThreadSanitizer reports no race ($(grep -c 'WARNING: ThreadSanitizer' "$TMP/tsan.txt"))" \
        test "$(grep -c 'WARNING: ThreadSanitizer' "$TMP/tsan.txt")" -eq 0
else
    echo "# skipped: ThreadSanitizer build or run not available here ($(head -c 200 "$TMP/tsan.txt" 2>/dev/null))"
fi
finish
