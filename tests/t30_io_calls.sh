#!/usr/bin/env bash
# POSIX and stdio calls, each traced exactly once under the name the program called, with
# the right fd, path, ret, bytes, offset and errno. tests/io/io_calls.c makes every
# intercepted call a known number of times and prints a ledger of what the trace must show;
# built three ways (plain, _FORTIFY_SOURCE=2, _FILE_OFFSET_BITS=64), since each binds other
# symbols (read vs __read_chk, pread vs pread64, ...). It also calls pread from a library it
# loads with dlopen(RTLD_LOCAL).
source "$(dirname "$0")/lib/common.sh"

LIBSO="$TBUILD/io_local.so"
if ! gcc -shared -fPIC -O1 -o "$LIBSO" "$ROOT/tests/io/io_local.c"; then
    fail "build tests/io/io_local.c"
    finish
fi

for variant in plain fortify lfs; do
    case $variant in
        plain) flags=() ;;
        fortify) flags=(-O2 -D_FORTIFY_SOURCE=2) ;;
        lfs) flags=(-D_FILE_OFFSET_BITS=64) ;;
    esac
    bin="$TBUILD/io_calls_$variant"
    if ! ta_cc "$bin" "$ROOT/tests/io/io_calls.c" "${flags[@]}" -ldl; then
        fail "[$variant] build io_calls"
        continue
    fi
    d="$TMP/$variant"
    mkdir -p "$d/ref" "$d/work" "$d/nopwork" "$d/out" "$d/nopout"
    # without the agent, with the no-op agent, and traced: the same ledger every time
    "$bin" "$d/ref" "$LIBSO" >"$d/ref.txt" 2>"$d/ref.err"
    check "[$variant] runs correctly without the agent" test $? -eq 0
    TRACEAGENT_OUTPUT="$d/nopout" LD_PRELOAD="$NOPAGENT" "$bin" "$d/nopwork" "$LIBSO" \
        >"$d/nop.txt" 2>"$d/nop.err"
    check "[$variant] runs correctly under the no-op agent" test $? -eq 0
    traced "$d/out" "$bin" "$d/work" "$LIBSO" >"$d/got.txt" 2>"$d/got.err"
    rc=$?
    check "[$variant] runs correctly under the agent" test $rc -eq 0
    [ $rc -eq 0 ] || sed 's/^/# /' "$d/got.err" | head -5
    check "[$variant] same output with and without the agent" cmp -s "$d/ref.txt" "$d/got.txt"
    check "[$variant] same output under the no-op agent" cmp -s "$d/ref.txt" "$d/nop.txt"
    check "[$variant] nothing on stderr" test ! -s "$d/got.err"
    nm -D --undefined-only "$bin" | awk '{print $NF}' | sed 's/@.*//' >"$d/imports.txt"
    # once more with s.txt excluded: none of its calls, by path or on its fd/FILE*
    mkdir -p "$d/xwork" "$d/xout"
    TRACEAGENT_EXCLUDE="$d/xwork/s.txt" traced "$d/xout" "$bin" "$d/xwork" "$LIBSO" \
        >"$d/xgot.txt" 2>"$d/xgot.err"
    check "[$variant] runs correctly with an exclude" test $? -eq 0

    $PY - "$ROOT" "$variant" "$d" <<'EOF'
import collections, os, sys
ROOT, variant, d = sys.argv[1:4]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck

def check(desc, cond, detail=None):
    return tacheck.check(f"[{variant}] " + desc, cond, detail)

# What each call in the source binds to in this build.
LFS = dict(open="open64", openat="openat64", creat="creat64", pread="pread64",
           pwrite="pwrite64", preadv="preadv64", pwritev="pwritev64", preadv2="preadv64v2",
           pwritev2="pwritev64v2", lseek="lseek64", ftruncate="ftruncate64", mmap="mmap64",
           stat="stat64", lstat="lstat64", fstat="fstat64", fstatat="fstatat64",
           fcntl="fcntl64", sendfile="sendfile64", fopen="fopen64", freopen="freopen64",
           fseeko="fseeko64", ftello="ftello64", fsetpos="fsetpos64")
FORTIFY = dict(read="__read_chk", pread="__pread_chk", pread64="__pread64_chk",
               fread="__fread_chk", fread_unlocked="__fread_unlocked_chk",
               fgets="__fgets_chk", fgets_unlocked="__fgets_unlocked_chk")
STDIO = {"fopen", "fopen64", "fdopen", "freopen", "freopen64", "fclose", "fread", "fwrite",
         "fgets", "fputs", "getline", "getdelim", "fseek", "fseeko", "fseeko64", "ftell",
         "ftello", "ftello64", "fflush", "fread_unlocked", "fwrite_unlocked",
         "fgets_unlocked", "fputs_unlocked", "fflush_unlocked", "rewind", "fsetpos",
         "fsetpos64", "__getdelim"}

imports = set(open(d + "/imports.txt").read().split())

def sym(call):
    if call == "pread@lib":
        return "pread"
    if call == "getline" and "getline" not in imports:
        return "__getdelim"  # optimised builds: <bits/stdio.h> inlines getline() so
    if variant == "lfs":
        return LFS.get(call, call)
    if variant == "fortify":
        return FORTIFY.get(call, call)
    return call

def cat(call):
    return "stdio" if call in STDIO else "posix"

ledger = []
for line in open(d + "/got.txt"):
    if line.startswith("L "):
        f = line.rstrip("\n").split(" ")
        ledger.append(dict(call=f[1], fd=f[2], rel=f[3], ret=f[4], bytes=f[5], offset=f[6],
                           errno=f[7]))
check(f"the program's ledger has {len(ledger)} calls", len(ledger) > 150)

missing = sorted({sym(l["call"]) for l in ledger if l["call"] != "pread@lib"} - imports)
check("the binary imports every name the checker expects", not missing, missing)

procs = tacheck.files(d + "/out")
check("one process traced", len(procs) == 1, list(procs))
(pid, runs), = procs.items()
trace = runs[0]["trace"]
try:
    events = tacheck.load_trace(trace, require_closed=True)
    check("trace.json is well formed and closed", True)
except tacheck.FormatError as e:
    check("trace.json is well formed and closed", False, [e])
    sys.exit(1)

io = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("posix", "stdio")]
io.sort(key=lambda e: e["ts"])  # one thread: program order
W = d + "/work"

def want_path(rel):
    return W if rel == "." else W + "/" + rel

problems = []
for i, (l, e) in enumerate(zip(ledger, io)):
    a = e.get("args", {})
    p = []
    if e["name"] != sym(l["call"]) or e["cat"] != cat(l["call"]):
        p.append(f"name {e['cat']}/{e['name']}, expected {cat(l['call'])}/{sym(l['call'])}")
    for key in ("fd", "ret", "bytes", "offset"):
        v = l[key]
        if v == "-":
            continue
        if v == "none":
            if key in a:
                p.append(f"{key}={a[key]}, expected none")
        elif a.get(key) != int(v):
            p.append(f"{key}={a.get(key)}, expected {v}")
    if l["rel"] == "none":
        if "path" in a:
            p.append(f"path={a['path']}, expected none")
    elif l["rel"] != "-" and a.get("path") != want_path(l["rel"]):
        p.append(f"path={a.get('path')}, expected {want_path(l['rel'])}")
    if l["errno"] != "0":
        if a.get("errno") != int(l["errno"]):
            p.append(f"errno={a.get('errno')}, expected {l['errno']}")
    elif "errno" in a:
        p.append(f"errno={a['errno']} on a call that succeeded")
    if p:
        problems.append(f"call {i} {l['call']}: " + "; ".join(p) + f"  [{e}]")
if len(io) != len(ledger):
    extra = io[len(ledger):] if len(io) > len(ledger) else ledger[len(io):]
    problems.append(f"{len(io)} posix/stdio events for {len(ledger)} calls; first unmatched: "
                    f"{extra[:3]}")
check(f"{len(ledger)} calls traced once each, in order, with name, fd, path, ret, bytes, "
      "offset and errno as the program saw them", not problems, problems)

# TRACEAGENT_EXCLUDE: the same ledger without the calls on s.txt
xruns = list(tacheck.files(d + "/xout").values())
xio = []
if xruns:
    xio = [e for e in tacheck.load_trace(xruns[0][0]["trace"]) if e.get("ph") == "X"
           and e.get("cat") in ("posix", "stdio")]
xio.sort(key=lambda e: e["ts"])
xw = d + "/xwork"
kept = [sym(l["call"]) for l in ledger if l["rel"] != "s.txt"]
got = [e["name"] for e in xio]
leak = [e for e in xio if "s.txt" in e.get("args", {}).get("path", "")]
check("with s.txt excluded: every other call traced, none on s.txt (by path, fd or FILE*)",
      got == kept and not leak, [f"{len(got)} events, {len(kept)} expected", leak[:2]] +
      [f"first difference at {i}: {g} vs {k}" for i, (g, k) in enumerate(zip(got, kept)) if g != k][:1])

# The same facts a user would look for, checked on the events alone.
def evs(name, **args):
    return [e for e in io if e["name"] == name and
            all(e.get("args", {}).get(k) == v for k, v in args.items())]
A = W + "/a.dat"
S = W + "/s.txt"
check("pread at offset 4096 reports offset 4096 and 512 bytes",
      len(evs(sym("pread"), path=A, offset=4096, bytes=512)) == 1)
seq = [e["args"].get("offset") for e in evs(sym("read"), path=A)][:5]
check("sequential reads report offsets 0, 1000, 2000, 3000, 4000", seq == [0, 1000, 2000, 3000, 4000], seq)
fr = [e for e in io if e["name"] == sym("fread") and e["args"].get("path") == S]
check("fread after fseek(20) reports offset 20", any(e["args"].get("offset") == 20 and e["args"].get("bytes") == 4 for e in fr))
dups = [i for i, e in enumerate(io) if e["name"] == "dup"]
nxt = io[dups[0] + 1] if dups and dups[0] + 1 < len(io) else {}
check("the dup'ed fd keeps the path (and its shared offset is not reported)",
      dups and nxt.get("name") == sym("read") and
      nxt["args"].get("fd") == io[dups[0]]["args"].get("ret") and
      nxt["args"].get("path") == A and "offset" not in nxt["args"], [nxt])
check("a failed open carries errno 2 and the path",
      len(evs(sym("open"), path=W + "/missing", errno=2, ret=-1)) == 1)
check("stdio calls do not also produce posix events on the same file",
      not [e for e in io if e["cat"] == "posix" and e["args"].get("path") == S and e["name"] not in (sym("open"), sym("lseek"), "close", sym("stat"))])
check("only file maps are traced (not anonymous ones)",
      all("fd" in e["args"] for e in io if e["name"] in ("mmap", "mmap64", "munmap")))
check("pread from a library loaded with dlopen(RTLD_LOCAL) is traced",
      len(evs("pread", path=A, offset=512, bytes=256)) == 1)
ren = evs("rename")
check("rename shows both paths", ren and ren[0]["args"].get("path") == W + "/c.dat"
      and ren[0]["args"].get("path2") == W + "/c2.dat", ren)
check("O_APPEND writes report no offset",
      all("offset" not in e["args"] for e in evs("write", path=W + "/b.dat")))

# stats.json, if the stats exporter wrote it: per-op counts and bytes, per-file rows
KIND = {}
for n in ("open", "open64", "openat", "openat64", "creat", "creat64", "__open_2", "__open64_2",
          "__openat_2", "__openat64_2", "dup", "dup2", "dup3", "fcntl", "fcntl64", "fopen",
          "fopen64", "freopen", "freopen64", "fdopen"):
    KIND[n] = "opens"
for n in ("read", "pread", "pread64", "readv", "preadv", "preadv64", "preadv2", "preadv64v2",
          "__read_chk", "__pread_chk", "__pread64_chk", "sendfile", "sendfile64",
          "copy_file_range", "fread", "fread_unlocked", "__fread_chk", "__fread_unlocked_chk",
          "fgets", "fgets_unlocked", "__fgets_chk", "__fgets_unlocked_chk", "getline",
          "getdelim", "__getdelim"):
    KIND[n] = "reads"
for n in ("write", "pwrite", "pwrite64", "writev", "pwritev", "pwritev64", "pwritev2",
          "pwritev64v2", "fwrite", "fwrite_unlocked", "fputs", "fputs_unlocked"):
    KIND[n] = "writes"
stats = runs[0]["stats"]
if not stats:
    print(f"# [{variant}] no stats.json: per-op and per-file rows not checked")
else:
    s = tacheck.load_stats(stats)
    want = collections.Counter((cat(l["call"]), sym(l["call"])) for l in ledger)
    wbytes = collections.Counter()
    for l in ledger:
        if l["bytes"] not in ("none", "-"):
            wbytes[(cat(l["call"]), sym(l["call"]))] += int(l["bytes"])
    got = {(r["cat"], r["name"]): r for r in s["ops"] if r["cat"] in ("posix", "stdio")}
    bad = [f"{k}: count {got.get(k, {}).get('count')} expected {n}" for k, n in want.items()
           if got.get(k, {}).get("count") != n]
    bad += [f"{k}: not made by the program" for k in got if k not in want]
    check("stats.json ops: one row per call made, exact counts", not bad, bad)
    bad = [f"{k}: bytes {got.get(k, {}).get('bytes')} expected {n}" for k, n in wbytes.items()
           if k[1] not in ("mmap", "mmap64", "munmap") and got.get(k, {}).get("bytes") != n]
    check("stats.json ops: bytes per op", not bad, bad)
    rows = {r["path"]: r for r in s["files"]}
    bad = []
    for rel in ("a.dat", "s.txt"):
        exp = collections.Counter()
        for l in ledger:
            if l["rel"] == rel and l["call"] in KIND or (l["call"] == "pread@lib" and rel == "a.dat"):
                k = KIND.get(l["call"], "reads")
                exp[k] += 1
                if k in ("reads", "writes") and l["bytes"] not in ("none", "-"):
                    exp["bytes_" + ("read" if k == "reads" else "written")] += int(l["bytes"])
        row = rows.get(W + "/" + rel, {})
        for k in ("opens", "reads", "writes", "bytes_read", "bytes_written"):
            if row.get(k) != exp[k]:
                bad.append(f"{rel}: {k} {row.get(k)} expected {exp[k]}")
    check("stats.json files: opens, reads, writes and bytes of a.dat and s.txt", not bad, bad)
tacheck.finish()
EOF
    [ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
done
finish
