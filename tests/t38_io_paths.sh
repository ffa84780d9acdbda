#!/usr/bin/env bash
# Files as stats.json's `files` table and the trace name them.
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
tacheck.finish()
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
