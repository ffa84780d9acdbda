#!/usr/bin/env bash
# JSON escaping: quotes, backslashes, control characters, invalid UTF-8, very long names.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/names" "$ROOT/tests/core/names.c"
traced "$TMP/o" "$TBUILD/names"
$PY - "$TMP/o" <<PY
import sys, glob, json; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
(f,) = glob.glob(sys.argv[1] + "/*.trace.json")
def check(ok, what): print(("ok - " if ok else "not ok - ") + what)
try:
    ev = tacheck.load_trace(f, require_closed=True)
    check(True, "every line parses, file is valid UTF-8 and closed")
except Exception as e:
    check(False, f"trace parses: {e}"); sys.exit(0)
names = [e["name"] for e in ev if e.get("ph") == "X"]
R = "\ufffd"
want = [
    'quote" backslash\\\\ slash/',
    "ctrl \x01\x02\x1f tab\t nl\n cr\r",
    f"bad utf8 {R}{R} end",
    f"truncated {R}{R}",
    "ok utf8 \u00e9\u20ac\U0001F600",
    f"surrogate {R}{R}{R} overlong {R}{R}",
]
for w in want:
    check(w in names, f"name round-trips: {w!r}")
long = [n for n in names if n.startswith("aaaa")]
check(len(long) == 1 and len(long[0]) == 4096 and long[0].endswith("a..."),
      f"a 9999-byte name is cut at 4096 bytes and marked ({len(long[0]) if long else None})")
st = tacheck.load_stats(f.replace(".trace.json", ".stats.json"))
check(all(tacheck.op(st, "marker", w) for w in want), "stats.json holds the same names")
PY
finish
