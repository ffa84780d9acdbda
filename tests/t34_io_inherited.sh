#!/usr/bin/env bash
# Fds the program did not open itself (inherited across exec, stdout redirected to a file)
# still carry their path and offset, looked up once at start (/proc/self/fd, from the
# constructor: never later, on the program's thread).
. "$(dirname "$0")/lib/common.sh"
printf 'abcdefghijklmnopqrstuvwxyz' > "$TMP/in.txt"
$PY - "$TMP" "$AGENT" <<'PY'
import os, subprocess, sys
tmp, agent = sys.argv[1:]
fd = os.open(f"{tmp}/in.txt", os.O_RDONLY)
os.lseek(fd, 7, os.SEEK_SET)
env = dict(os.environ, LD_PRELOAD=agent, TRACEAGENT_OUTPUT=f"{tmp}/o", TRACEAGENT_MIN_DURATION_NS="0")
child = f"import os; print(os.read({fd}, 3).decode()); os.write(1, b'to stdout')"
with open(f"{tmp}/stdout.txt", "w") as out:
    subprocess.run([sys.executable, "-c", child], pass_fds=[fd], env=env, stdout=out, check=True)
PY
$PY - "$TMP" <<PY
import sys, glob; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
tmp = sys.argv[1]
(f,) = glob.glob(tmp + "/o/*.trace.json")
ev = tacheck.spans(tacheck.load_trace(f, require_closed=True), cat="posix")
def check(ok, what): print(("ok - " if ok else "not ok - ") + what)
rd = [e["args"] for e in ev if e["name"] == "read" and e["args"].get("path") == tmp + "/in.txt"]
check(len(rd) == 1 and rd[0].get("offset") == 7 and rd[0].get("bytes") == 3,
      f"inherited fd: read has the file's path and the offset it had before exec ({rd})")
wr = [e["args"] for e in ev if e["name"] == "write" and e["args"].get("fd") == 1]
check(any(a.get("path") == tmp + "/stdout.txt" for a in wr),
      f"stdout redirected to a file: writes carry its path ({wr})")
PY
check "the child's output is intact" grep -q "hijto stdout" <(tr -d '\n' < "$TMP/stdout.txt")
finish
