#!/usr/bin/env bash
# The trace of `make demo` in a viewer, as a user opens it: speedscope 1.25 (npm, its static
# dist read from disk) in Debian's Chromium, driven by playwright-core (no downloaded
# browser; tests/browser/, installed by `make deps`). CONTRACT: a cleanly closed trace is
# strict JSON that speedscope reads; a trace cut short holds only whole lines and still
# opens. The agent never leaves a half line (checked with the agent's own cuts by the
# tests of that item), so the cuts here are made at line boundaries; one file cut in the
# middle of a line is the negative control: speedscope refuses it ("Unrecognized format"),
# and this test must see that as a failure, or its other checks prove nothing.
. "$(dirname "$0")/lib/common.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
NODE_DIR="$ROOT/tests/browser/node_modules"
[ -n "${TA_ASAN:-}" ] && skip "browser: reads a trace written by the CLI's plain agent; nothing for ASan to check (the plain suite runs it)"
[ -x "$CHROMIUM" ] || skip "browser: no $CHROMIUM (make deps installs Debian's chromium)"
command -v node >/dev/null || skip "browser: no node (make deps installs nodejs)"
[ -d "$NODE_DIR/playwright-core" ] && [ -f "$NODE_DIR/speedscope/dist/release/index.html" ] ||
    skip "browser: no tests/browser/node_modules (make deps runs npm ci there)"

# the demo, as `make demo` runs it (samples/demo.sh), into this test's scratch directory
DEMO_OUT="$TMP/demo" bash "$ROOT/samples/demo.sh" >"$TMP/demo.log" 2>&1 ||
    { fail "make demo's pipeline ran (see below)"; sed 's/^/#   /' "$TMP/demo.log" | tail -20; finish; }
# the pipeline's own trace: the largest one (its children, sh, cat and wc, write small ones)
trace=$(ls -S "$TMP"/demo/trace/pipeline-*.trace.json 2>/dev/null | head -1)
[ -n "$trace" ] || { fail "make demo wrote a pipeline trace"; finish; }
V="$TMP/v"; mkdir -p "$V"
cp "$trace" "$V/closed.trace.json"
$PY - "$V" <<'PY'
import sys
d = sys.argv[1]
data = open(f"{d}/closed.trace.json", "rb").read()
lines = data.splitlines(keepends=True)
# at line boundaries: after a third of the lines, after two thirds, and every line but `]`
n = len(lines)
last = n - 1 if lines[-1].strip() == b"]" else n
for name, k in (("third", n // 3), ("twothirds", 2 * n // 3), ("noclose", last)):
    open(f"{d}/cut-{name}.trace.json", "wb").write(b"".join(lines[:k]))
# the negative control: two thirds of the file, then half of the next line
k = 2 * n // 3
open(f"{d}/halfline.trace.json", "wb").write(b"".join(lines[:k]) + lines[k][: len(lines[k]) // 2])
PY
files=("$V/closed.trace.json" "$V/cut-third.trace.json" "$V/cut-twothirds.trace.json"
       "$V/cut-noclose.trace.json" "$V/halfline.trace.json")
# a fresh profile directory; nothing leaves the machine (the driver lets only file:// through)
timeout 300 node "$ROOT/tests/browser/speedscope.mjs" "$CHROMIUM" \
    "$NODE_DIR/speedscope/dist/release/index.html" "$TMP/chromium-profile" "${files[@]}" \
    >"$TMP/seen.jsonl" 2>"$TMP/node.err"
rc=$?
[ $rc -eq 0 ] || { fail "the browser ran (rc $rc)"; sed 's/^/#   /' "$TMP/node.err" | tail -20; }
$PY - "$TMP/seen.jsonl" "$V" <<'PY'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        s = json.loads(line)
        seen[s["file"].rsplit("/", 1)[1]] = s
fails = 0
def check(ok, what, s=None):
    global fails
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        fails += 1
        if s:
            for k in ("title", "dialogs", "pageErrors", "console", "exception"):
                if s.get(k):
                    print(f"#   {k}: {str(s[k])[:300]}")
def opened(name):
    s = seen.get(name, {})
    return (name in s.get("title", "") and not s.get("dialogs") and not s.get("pageErrors")
            and "sandwich" in s and not s.get("exception")), s
def frames(s):
    return s.get("sandwich", "")
# the closed trace: strict JSON (CONTRACT); the pipeline's markers and I/O are frames
ok, s = opened("closed.trace.json")
check(ok, "speedscope opens the closed trace of make demo (no 'Unrecognized format', no error)", s)
check(ok and "verify" in frames(s) and "write {" in frames(s),
      "speedscope shows its frames: the marker 'verify' and write calls", s)
for cut in ("third", "twothirds", "noclose"):
    ok, s = opened(f"cut-{cut}.trace.json")
    check(ok and "write {" in frames(s),
          f"speedscope opens the trace cut at a line boundary ({cut}) and shows its write calls", s)
# the negative control: what the checks above would see if a trace ended in half a line
ok, s = opened("halfline.trace.json")
s = seen.get("halfline.trace.json", {})
check(not ok and any("Unrecognized format" in d for d in s.get("dialogs", [])),
      "negative control: a trace cut in the middle of a line is refused ('Unrecognized format'), "
      "and the checks above would fail on it", s)
sys.exit(1 if fails else 0)
PY
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
