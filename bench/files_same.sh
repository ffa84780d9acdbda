#!/usr/bin/env bash
# Are stats.json's `files` rows the same under two agents? Runs fixed workloads (the
# 2,000-file pattern of bench/whole.c, tests/io/io_calls.c, tests/io/paths.c, and a
# Python loop of os.stat + open().read(), h5py for rows with a `logical` part) under each agent, in the same directories, and
# compares every row but its times (read_ns, write_ns, other_ns and the logical part's
# *_ns move from run to run, and with them the rows' order, which is by time): paths,
# counts, bytes and size classes must be equal, and each row's text byte for byte.
#   bash bench/files_same.sh OLD.so NEW.so     (exit 0: equal)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=$(realpath "$1") NEW=$(realpath "$2")
W=/tmp/ta-files-same
rm -rf "$W" && mkdir -p "$W/bin"
gcc -O2 -o "$W/bin/whole" "$ROOT/bench/whole.c" || exit 2
gcc -std=gnu11 -O1 -I"$ROOT/include" -o "$W/bin/io_calls" "$ROOT/tests/io/io_calls.c" -ldl -pthread || exit 2
gcc -std=gnu11 -O1 -I"$ROOT/include" -o "$W/bin/paths" "$ROOT/tests/io/paths.c" -pthread || exit 2
LIBSO=$(ldconfig -p | awk '/libz\.so\.1 /{print $NF; exit}')
run() { # run AGENT OUTDIR
    local a=$1 o=$2 d
    for d in small io paths py h5; do rm -rf "$W/work/$d"; mkdir -p "$W/work/$d" "$o/$d"; done
    env TRACEAGENT_OUTPUT="$o/small" TRACEAGENT_EXPORT=stats LD_PRELOAD="$a" \
        "$W/bin/whole" files "$W/work/small" 2000 >/dev/null
    env TRACEAGENT_OUTPUT="$o/io" TRACEAGENT_EXPORT=stats LD_PRELOAD="$a" \
        "$W/bin/io_calls" "$W/work/io" "$LIBSO" >/dev/null 2>&1
    (cd "$W/work/paths" && env TRACEAGENT_OUTPUT="$o/paths" TRACEAGENT_EXPORT=stats \
        LD_PRELOAD="$a" "$W/bin/paths" "$W/work/paths" >/dev/null 2>&1)
    env TRACEAGENT_OUTPUT="$o/py" TRACEAGENT_EXPORT=stats LD_PRELOAD="$a" /usr/bin/python3 -c '
import os, sys
d = sys.argv[1]
for i in range(300):
    p = os.path.join(d, "f%04d" % i)
    with open(p, "wb") as f: f.write(b"y" * (i * 37 % 9000))
for i in range(300):
    p = os.path.join(d, "f%04d" % i)
    os.stat(p)
    with open(p, "rb") as f: f.read()
' "$W/work/py"
    env TRACEAGENT_OUTPUT="$o/h5" TRACEAGENT_EXPORT=stats LD_PRELOAD="$a" /usr/bin/python3 -c '
import h5py, numpy, sys
p = sys.argv[1] + "/d.h5"
with h5py.File(p, "w") as f:
    f["a"] = numpy.arange(100000, dtype="f8")
    f.create_dataset("c", data=numpy.arange(50000), chunks=(1000,))
with h5py.File(p, "r") as f:
    f["a"][:]; f["a"][10:20]; f["c"][:]
' "$W/work/h5" 2>/dev/null
}
run "$OLD" "$W/old"
run "$NEW" "$W/new"
/usr/bin/python3 - "$W" <<'PY'
import glob, json, re, sys
W = sys.argv[1]
bad = 0
for d in ("small", "io", "paths", "py", "h5"):
    rows = {}
    for side in ("old", "new"):
        fs = sorted(glob.glob(f"{W}/{side}/{d}/*.stats.json"))
        out = []
        for f in fs:
            # the rows as bytes: each is one line of the section; times zeroed
            text = open(f).read()
            a = text.index('"files": [')
            sec = text[a:text.index("\n  ],\n", a)] if "\n  ],\n" in text[a:] else ""
            for line in sec.split("\n")[1:]:
                line = re.sub(r'("\w+_ns": )\d+', r"\g<1>0", line.strip().rstrip(","))
                out.append("bytes " + re.sub(r"tmp\.\w{6}\"", 'tmp.XXXXXX"', line))
            for r in json.load(open(f))["files"]:
                r = {k: v for k, v in r.items() if not k.endswith("_ns")}
                if "logical" in r:
                    r["logical"] = {k: v for k, v in r["logical"].items() if not k.endswith("_ns")}
                r["path"] = re.sub(r"tmp\.\w{6}$", "tmp.XXXXXX", r["path"])  # mkstemp
                out.append(json.dumps(r, sort_keys=True))
        rows[side] = sorted(out)
    same = rows["old"] == rows["new"]
    bad += not same
    print("%s: %s: %d rows before, %d after (parsed, and as text)" % ("same" if same else "DIFFERENT", d, len(rows["old"]) // 2, len(rows["new"]) // 2))
    if not same:
        o, n = set(rows["old"]), set(rows["new"])
        for r in sorted(o - n)[:3]: print("  only before:", r)
        for r in sorted(n - o)[:3]: print("  only after: ", r)
sys.exit(1 if bad else 0)
PY
