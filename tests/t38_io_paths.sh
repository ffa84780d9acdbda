#!/usr/bin/env bash
# Files as stats.json's `files` table and the trace name them.
# Absolute paths: a relative path is resolved against the cwd (followed through chdir and
# fchdir) or the openat dirfd, "." and ".." lexically, as Darshan does (`x.bin` opened in
# two directories was one row; the same database showed as `t.db` and `/data/run/t.db`).
# Copies: copy_file_range (coreutils 9's cp) and sendfile (Python's shutil.copyfile) count
# as a read of the source and a write of the destination (`cp -r` of 763 files showed every
# destination with 0 bytes written); the trace event names both (`path`, `path_out`).
source "$(dirname "$0")/lib/common.sh"

# --- copies ----------------------------------------------------------------------------
mkdir -p "$TMP/c/src"
for i in 1 2 3 4 5 6; do head -c $((i * 7919 + 13)) /dev/urandom >"$TMP/c/src/f$i"; done
traced "$TMP/cp" cp -r "$TMP/c/src" "$TMP/c/dst"
check "cp -r: the copies are whole" diff -r "$TMP/c/src" "$TMP/c/dst"
traced "$TMP/py" $PY -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' \
    "$TMP/c/src/f6" "$TMP/c/py6"
check "shutil.copyfile: the copy is whole" cmp -s "$TMP/c/src/f6" "$TMP/c/py6"

# --- absolute paths --------------------------------------------------------------------
ta_cc "$TBUILD/io_paths" "$ROOT/tests/io/paths.c"
mkdir -p "$TMP/w"
(cd "$TMP/w" && traced "$TMP/paths" "$TBUILD/io_paths" "$TMP/w" >"$TMP/paths.out")
check "paths: the program runs" test $? = 0
mkdir -p "$TMP/c2/src" && cp "$TMP"/c/src/f[123] "$TMP/c2/src/"
(cd "$TMP/c2" && traced "$TMP/cprel" cp -r src dst)
mkdir -p "$TMP/pw/a"
(cd "$TMP/pw" && traced "$TMP/pyrel" $PY -c '
import os
os.chdir("a")
with open("p.txt", "w") as f: f.write("x" * 70)
os.chdir("..")
with open("a/p.txt") as f: f.read()
')

# chdir("..") after a symbolic link: the kernel's cwd is the link target's parent
mkdir -p "$TMP/sl/real/sub" && ln -s real/sub "$TMP/sl/lnk"
traced "$TMP/pysl" $PY -c '
import os, sys
os.chdir(sys.argv[1] + "/lnk"); os.chdir("..")
with open("f", "w") as f: f.write("x" * 9)
' "$TMP/sl"

# --- excludes as paths are named; a copy from a source without a path ---------------------
mkdir -p "$TMP/xe/w" "$TMP/xe/d1" "$TMP/xe/d2"
echo abcd >"$TMP/xe/d1/f" && echo abcd >"$TMP/xe/d2/f"
(cd "$TMP/xe/w" && TRACEAGENT_EXCLUDE="../d1:$TMP//xe/./d2/" traced "$TMP/xeo" $PY -c '
import os
for p in ("../d1/f", os.getcwd() + "/../d2/f"): open(p).read()
m = os.memfd_create("m"); os.write(m, b"x" * 33)
o = os.open("dst", os.O_WRONLY | os.O_CREAT, 0o600)
os.sendfile(o, m, 0, 33)
')

$PY - "$ROOT" "$TMP" <<'PY'
import glob, os, sys
ROOT, T = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
check = tacheck.check

def rows(d, exe):
    out = {}
    for pid, runs in tacheck.files(d).items():
        for r in runs:
            if r["exe"] == exe and r["stats"]:
                for f in tacheck.load_stats(r["stats"])["files"]:
                    out[f["path"]] = f
                return out, tacheck.load_trace(r["trace"], require_closed=True)
    return out, []

files, ev = rows(T + "/cp", "cp")
bad = []
for i in range(1, 7):
    src, dst = f"{T}/c/src/f{i}", f"{T}/c/dst/f{i}"
    size = os.path.getsize(src)
    s, d = files.get(src, {}), files.get(dst, {})
    if s.get("bytes_read") != size or d.get("bytes_written") != size or d.get("writes", 0) < 1:
        bad.append((i, size, s.get("bytes_read"), d.get("bytes_written")))
check("cp -r (copy_file_range): each destination's bytes_written is its size, each source's "
      "bytes_read too", not bad, bad)
cfr = tacheck.spans(ev, "posix", "copy_file_range")
check("cp -r: copy_file_range events name the source (path) and the destination (path_out)",
      cfr and all(e["args"].get("path", "").startswith(T + "/c/src/f")
                  and e["args"].get("path_out", "").startswith(T + "/c/dst/f") for e in cfr),
      cfr[:2])
files, ev = rows(T + "/py", "python3")
size = os.path.getsize(T + "/c/src/f6")
d = files.get(T + "/c/py6", {})
sf = tacheck.spans(ev, "posix", "sendfile") + tacheck.spans(ev, "posix", "sendfile64")
check(f"shutil.copyfile (sendfile): the destination's bytes_written is its size "
      f"({d.get('bytes_written')} of {size})", sf and d.get("bytes_written") == size,
      [len(sf), d])

W = T + "/w"
files, ev = rows(T + "/paths", "io_paths")
def row(p):
    return files.get(p, {})
check("x.bin in two directories: two rows, each with its bytes",
      row(W + "/d1/x.bin").get("bytes_written") == 10 and row(W + "/d2/x.bin").get("bytes_written") == 20,
      [k for k in files if "x.bin" in k])
db = row(W + "/d2/t.db")
check("t.db named relative, absolute and with '..' and '.': one row (3 opens, 3 bytes, 1 stat)",
      db.get("opens") == 3 and db.get("bytes_written") == 3 and db.get("meta") == 1,
      [(k, v.get("opens"), v.get("bytes_written")) for k, v in files.items() if "t.db" in k])
check("openat(dirfd, \"sub/../y.bin\"): the absolute path", row(W + "/d1/y.bin").get("bytes_written") == 30,
      [k for k in files if "y.bin" in k])
check("fopen after fchdir to a directory fd: the absolute path",
      row(W + "/d1/z.txt").get("bytes_written") == 40, [k for k in files if "z.txt" in k])
check("fopen after fchdir(dirfd(opendir(...))): the absolute path",
      row(W + "/d2/o.txt").get("bytes_written") == 50, [k for k in files if "o.txt" in k])
check("an absolute path with '//' and '/./' is cleaned",
      row(W + "/d1/abs.bin").get("bytes_written") == 60, [k for k in files if "abs.bin" in k])
tmp = W + "/" + open(T + "/paths.out").read().strip()
check("mkstemp: the temporary file's row, absolute, with its open and bytes",
      row(tmp).get("bytes_written") == 80 and row(tmp).get("opens") == 1,
      [(k, v.get("opens")) for k, v in files.items() if "tmp." in k])
ren = tacheck.spans(ev, "posix", "rename")
check("rename of relative names: both absolute",
      len(ren) == 1 and ren[0]["args"].get("path") == W + "/d1/r1"
      and ren[0]["args"].get("path2") == W + "/d2/r2", ren)
names = {(e["name"], e["args"].get("path")) for e in tacheck.spans(ev) if "path" in e.get("args", {})}
check("unlink and mkdir of relative names: absolute",
      ("unlink", W + "/d2/r2") in names and ("mkdir", W + "/d1/m") in names,
      sorted(n for n in names if n[0] in ("unlink", "mkdir")))
rel = sorted({p for _, p in names if not p.startswith("/")})
check("no relative path anywhere in the trace", not rel, rel)

files, ev = rows(T + "/cprel", "cp")
bad = [i for i in (1, 2, 3) if files.get(f"{T}/c2/dst/f{i}", {}).get("bytes_written")
       != os.path.getsize(f"{T}/c/src/f{i}")]
check("cp -r src dst from its directory: absolute rows for the destinations", not bad,
      sorted(files))
files, ev = rows(T + "/pyrel", "python3")
p = files.get(T + "/pw/a/p.txt", {})
check("python: os.chdir, then relative opens: one row, absolute",
      p.get("bytes_written") == 70 and p.get("bytes_read") == 70 and p.get("opens") == 2,
      [(k, v.get("opens")) for k, v in files.items() if "p.txt" in k])
files, ev = rows(T + "/pysl", "python3")
check("chdir(\"..\") after a symbolic link: the file where the kernel put it",
      files.get(T + "/sl/real/f", {}).get("bytes_written") == 9,
      [(k, v.get("bytes_written")) for k, v in files.items() if "/sl/" in k])
files, ev = rows(T + "/xeo", "python3")
check("TRACEAGENT_EXCLUDE with '..', '//', '.': nothing under them is traced (paths are "
      "absolute and clean, the excludes too)", not [k for k in files if "/xe/d" in k], sorted(files))
d = files.get(T + "/xe/w/dst", {})
check("sendfile from a memfd (no path): the destination's bytes_written",
      d.get("bytes_written") == 33 and d.get("writes") == 1, d)
tacheck.finish()
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
