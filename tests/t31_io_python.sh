#!/usr/bin/env bash
# I/O from Debian's Python: os.read/os.pread/os.write with exact counts and offsets, file
# objects, numpy.fromfile (dup + fdopen + fread inside numpy), and multiprocessing Pools
# whose workers read files of their own and leave through os._exit (or are SIGTERMed by the
# Pool's "with" block). Every process gets its own trace; nothing crashes.
source "$(dirname "$0")/lib/common.sh"

$PY -c 'import numpy' 2>/dev/null || skip "python3-numpy is not installed (make deps)"
mkdir -p "$TMP/work" "$TMP/out"
traced "$TMP/out" $PY "$ROOT/tests/io/py_io.py" "$TMP/work" >"$TMP/py.out" 2>"$TMP/py.err"
rc=$?
check "the Python program runs to its end under the agent" test $rc -eq 0 -a "$(tail -1 "$TMP/py.out")" = done
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/py.err" | tail -5
check "nothing on stderr" test ! -s "$TMP/py.err"

$PY - "$ROOT" "$TMP" <<'EOF'
import collections, sys
ROOT, T = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck

check = tacheck.check

W = T + "/work/"
out = open(T + "/py.out").read().split("\n")
task_pids = [int(x) for x in next(l for l in out if l.startswith("task pids")).split()[2:]]
term_pids = [int(x) for x in next(l for l in out if l.startswith("terminated pids")).split()[2:]]
procs = tacheck.files(T + "/out")
parent = [pid for pid in procs if pid not in task_pids + term_pids]
check("one trace file per process: the parent and its 5 pool workers",
      len(procs) == 6 and len(parent) == 1 and all(p in procs for p in task_pids + term_pids),
      [sorted(procs), task_pids, term_pids])
check("the 3 tasks of the first pool ran in 3 different workers", len(set(task_pids)) == 3,
      task_pids)
parent = parent[0] if parent else None

ev = {}
bad = []
for pid, runs in procs.items():
    clean = pid not in term_pids  # SIGTERMed workers leave an unclosed (still valid) trace
    try:
        ev[pid] = tacheck.load_trace(runs[0]["trace"], require_closed=clean)
    except Exception as e:  # noqa
        bad.append(f"{pid}: {e}")
        ev[pid] = []
check("every trace parses (closed, except those of SIGTERMed workers)", not bad, bad)
check("workers that left through os._exit have their stats.json too",
      all(procs[p][0]["stats"] for p in task_pids))

def io(pid, path=None):
    return [e for e in ev.get(pid, []) if e.get("ph") == "X" and e.get("cat") in ("posix", "stdio")
            and (path is None or e.get("args", {}).get("path") == path)]

def names(evs):
    return dict(collections.Counter(e["name"] for e in evs))

# os-level calls on ctl.dat, exact
ctl = io(parent, W + "ctl.dat")
want = {"open64": 2, "write": 4, "close": 2, "read": 3, "pread64": 1, "lseek64": 1}
check("ctl.dat: exactly the calls os.open/write/read/pread/lseek/close made", names(ctl) == want,
      [names(ctl)])
wr = [(e["args"].get("offset"), e["args"].get("bytes")) for e in ctl if e["name"] == "write"]
check("ctl.dat: writes of 4096 bytes at 0, 4096, 8192, 12288",
      wr == [(0, 4096), (4096, 4096), (8192, 4096), (12288, 4096)], wr)
rd = [(e["args"].get("offset"), e["args"].get("bytes")) for e in ctl if e["name"] == "read"]
check("ctl.dat: os.read at 0, 1000, 2000", rd == [(0, 1000), (1000, 1000), (2000, 1000)], rd)
pr = [(e["args"].get("offset"), e["args"].get("bytes")) for e in ctl if e["name"] == "pread64"]
check("ctl.dat: os.pread of 100 bytes at 8192", pr == [(8192, 100)], pr)

# file objects: whatever Python does underneath, the bytes add up
obj = io(parent, W + "obj.dat")
rb = sum(e["args"].get("bytes", 0) for e in obj if e["name"] == "read")
wb = sum(e["args"].get("bytes", 0) for e in obj if e["name"] == "write")
n = names(obj)
check("obj.dat: 2 opens, 2 closes, 10000 bytes written and read back",
      n.get("open64") == 2 and n.get("close") == 2 and rb == 10000 and wb == 10000,
      [n, rb, wb])

# numpy.fromfile reads through stdio on a dup of Python's fd
npb = io(parent, W + "np.bin")
fr = [(e["args"].get("offset"), e["args"].get("bytes")) for e in npb
      if e["cat"] == "stdio" and e["name"] in ("fread", "__fread_chk")]
check("numpy.fromfile: fread of 5000 bytes at 0, then 1000 bytes at 400 (after f.seek)",
      fr == [(0, 5000), (400, 1000)], fr)
check("numpy.fromfile: the dup'ed fd and the FILE* keep the path",
      any(e["name"] == "fdopen" for e in npb) and
      any(e["name"] in ("fcntl64", "fcntl", "dup") for e in npb), [names(npb)])
written = sum(e["args"].get("bytes", 0) for e in npb if e["name"] in ("write", "fwrite"))
check("numpy tofile: 5000 bytes written", written == 5000, [names(npb)])

# the pool workers: each task's file read in its worker, exact counts
for i, pid in list(enumerate(task_pids)) + [(3 + j, p) for j, p in enumerate(term_pids)]:
    f = W + f"task{i}.dat"
    evs = io(pid, f)
    want = {"open64": 1, "pread64": 5, "read": 1, "close": 1}
    offs = [e["args"].get("offset") for e in evs if e["name"] == "pread64"]
    where = sorted(p for p in procs if p != pid and [e for e in io(p, f) if "read" in e["name"]])
    check(f"task{i}.dat: read in worker {pid} only, with exact counts and pread offsets",
          names(evs) == want and offs == [0, 512, 1024, 1536, 2048] and not where,
          [names(evs), offs, where])
check("every worker's trace has posix events (its reads of the task pipe, at least)",
      all(io(p) for p in task_pids + term_pids))

stats = procs[parent][0]["stats"] if parent else None
if not stats:
    print("# no stats.json for the parent: per-file row not checked")
else:
    s = tacheck.load_stats(stats)
    row = next((r for r in s["files"] if r["path"] == W + "ctl.dat"), {})
    got = {k: row.get(k) for k in ("opens", "reads", "writes", "bytes_read", "bytes_written")}
    check("stats.json: the ctl.dat row", got == dict(opens=2, reads=4, writes=4, bytes_read=3100,
                                                   bytes_written=16384), [got])
tacheck.finish()
EOF
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
