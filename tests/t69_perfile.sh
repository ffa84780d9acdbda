#!/usr/bin/env bash
# Many distinct files (issue #20): the data-loader pattern of bench/whole.c, 2,000 files
# each written 4 KiB, stat'ed, read and unlinked, keeps one stats.json row per file with
# its exact counts, bytes and size classes, and the trace has each file's calls; size
# classes past the two a row holds itself (a file read in five sizes) come out complete
# and in order; and the memory the agent adds per distinct file stays bounded: peak RSS of
# 6,000 files less that of 2,000, over the 4,000 more (the figure itself is in
# bench/NOTES.md; the bound here is loose enough for a loaded machine, and the agent
# before issue #20 exceeded it twice over).
source "$(dirname "$0")/lib/common.sh"

ta_cc "$TBUILD/whole" "$ROOT/bench/whole.c"
W=$TMP/w
[ -d /dev/shm ] && [ -w /dev/shm ] && W=$(mktemp -d /dev/shm/ta-t69.XXXXXX)
trap 'rm -rf "$TMP" "$W"' EXIT
mkdir -p "$W/a" "$W/b" "$TMP/o2" "$TMP/o6" "$TMP/sz"

traced "$TMP/o2" "$TBUILD/whole" files "$W/a" 2000 >"$TMP/o2.txt"
check "the 2,000-file workload runs under the agent" test $? -eq 0
# the same with 6,000 files, stats only (the trace's writer buffers are not per file)
TRACEAGENT_EXPORT=stats traced "$TMP/o6" "$TBUILD/whole" files "$W/b" 6000 >"$TMP/o6.txt"
check "the 6,000-file workload runs under the agent" test $? -eq 0

# a file written in 4 sizes (1, 10, 100, 1000 bytes) and read in 5 (5, 50, 500, the 556
# left, and the 0 at its end); another written 100 bytes then 1
traced "$TMP/sz" $PY - "$W/sizes.bin" "$W/two.bin" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for n in (1, 10, 100, 1000):
    os.write(fd, b"s" * n)
os.close(fd)
fd = os.open(sys.argv[1], os.O_RDONLY)
for n in (5, 50, 500, 5000, 5000):
    os.read(fd, n)
os.close(fd)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"t" * 100)
os.write(fd, b"t")
os.close(fd)
EOF
check "the size-class program runs under the agent" test $? -eq 0

ASAN=0
[ -n "${TA_ASAN:-}" ] && ASAN=1
$PY - "$TMP" "$W" "$ASAN" "$ROOT/tests/lib" <<'EOF'
import glob, json, re, sys
T, W, asan = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path.insert(0, sys.argv[4])
import tacheck
from tacheck import check

def one(pattern):
    fs = glob.glob(pattern)
    return fs[0] if len(fs) == 1 else None

def rows_of(outdir):
    s = one(outdir + "/whole-*.stats.json")
    return tacheck.load_stats(s)["files"] if s else []

def kb(path):
    m = re.search(r"maxrss_kb=(\d+)", open(path).read())
    return int(m.group(1)) if m else None

want = {"opens": 2, "closes": 2, "reads": 1, "writes": 1, "seeks": 0, "syncs": 0,
        "meta": 2, "maps": 0, "errors": 0, "bytes_read": 4096, "bytes_written": 4096,
        "read_sizes": [[4096, 1]], "write_sizes": [[4096, 1]]}
for n, sub, out in ((2000, "a", "o2"), (6000, "b", "o6")):
    rows = {r["path"]: r for r in rows_of(f"{T}/{out}")}
    names = [f"{W}/{sub}/file-{i:06d}.bin" for i in range(n)]
    missing = [p for p in names if p not in rows]
    check(f"{n} files: every file has its own row ({len(rows)} rows)",
          not missing and len(rows) == n, missing[:3])
    bad = [(p, {k: rows[p].get(k) for k in want if rows[p].get(k) != want[k]})
           for p in names if p in rows and any(rows[p].get(k) != want[k] for k in want)]
    check(f"{n} files: each row's counts, bytes and size classes exact "
          "(2 opens, 2 closes, 1 read and 1 write of 4096, 2 meta: stat and unlink)",
          not bad, bad[:3])

# the trace of the 2,000: each file's calls, by path
tr = one(T + "/o2/whole-*.trace.json")
evs = tacheck.load_trace(tr, require_closed=True) if tr else []
per = {}
for e in tacheck.spans(evs, "posix"):
    p = (e.get("args") or {}).get("path")
    if p and p.startswith(W + "/a/"):
        per.setdefault(p, []).append(e["name"])
names = [f"{W}/a/file-{i:06d}.bin" for i in range(2000)]
badt = [(p, sorted(per.get(p, []))) for p in names
        if sorted(n for n in per.get(p, []) if n in ("open", "write", "read", "close", "stat", "unlink"))
        != ["close", "close", "open", "open", "read", "stat", "unlink", "write"]]
check("2000 files: the trace has each file's open, write, close, stat, open, read, close, "
      "unlink", len(per) == 2000 and not badt, badt[:3])

rows = {r["path"]: r for r in tacheck.load_stats(one(T + "/sz/python3*.stats.json"))["files"]} \
    if one(T + "/sz/python3*.stats.json") else {}
r = rows.get(W + "/sizes.bin", {})
check("a file written in 4 sizes and read in 5: all classes, ascending",
      r.get("write_sizes") == [[1, 1], [8, 1], [64, 1], [512, 1]] and
      r.get("read_sizes") == [[0, 1], [4, 1], [32, 1], [256, 1], [512, 1]] and
      r.get("bytes_written") == 1111 and r.get("bytes_read") == 1111, [r])
r = rows.get(W + "/two.bin", {})
check("a file written 100 bytes then 1: both classes, ascending",
      r.get("write_sizes") == [[1, 1], [64, 1]] and r.get("writes") == 2, [r])

# peak RSS per distinct file: 6,000 files less 2,000, over the 4,000 more (1.0-1.1 KB
# before issue #20's work in the stats rows alone, ~2.1 KB in all; ~0.3 KB after:
# bench/NOTES.md). The ASan build's shadow memory and quarantine say nothing of the agent's.
a, b = kb(T + "/o2.txt"), kb(T + "/o6.txt")
if asan:
    print("# peak RSS per file: not checked under ASan (its shadow memory and quarantine)")
else:
    per_file = (b - a) * 1024 / 4000 if a and b else None
    check(f"peak RSS per distinct file {per_file and round(per_file)} B <= 1024 B",
          per_file is not None and per_file <= 1024, [f"2000 files: {a} KiB, 6000: {b} KiB"])
tacheck.finish()
EOF
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
