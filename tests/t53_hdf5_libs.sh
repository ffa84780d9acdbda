#!/usr/bin/env bash
# The HDF5 family and the libraries a program loads (agent/hdf5.c, Debian's libhdf5 1.10.8):
#   none      a program that never uses HDF5 (C, /bin/true, python3) maps no libhdf5 under
#             the agent and records no hdf5 event
#   copies    two copies of libhdf5 at once: the program's own (linked) reads file A, a copy
#             under another soname (its DT_SONAME patched in place) reads file B from a
#             reader2.so the program dlopens RTLD_LOCAL. The same hid values exist in both
#             copies: each H5Dread is traced once, with its own copy's file and dataset
#   nesting   the preads libhdf5 makes for an H5Dread are inside its span
#   h5py      Debian's h5py (RTLD_LOCAL extension modules: where a naive wrapper calls NULL,
#             FIELD_NOTES) reads f['x'][:]: exit 0, H5Dread with file and dataset
#   failure   H5Fopen of a missing file: the same return value and the same HDF5 error
#             output as untraced; recorded with `error`
#   selection the same memory and file space ids re-selected between reads: each read has
#             its own bytes and shape (a stale cache would repeat the first)
#   ops       chunk reads and writes (also the hl library's H5DO* that call them), iterations
#             with callbacks, 4 threads reading one dataset: the results as untraced, each
#             call one span with its names, the H5DO* spans around their H5D* ones
source "$(dirname "$0")/lib/common.sh"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }
H5INC=/usr/include/hdf5/serial
H5LIB=/usr/lib/x86_64-linux-gnu/hdf5/serial
[ -f "$H5INC/hdf5.h" ] && [ -e "$H5LIB/libhdf5.so" ] ||
    skip "no libhdf5-dev (hdf5.h, libhdf5.so): make deps installs it"

# under ASan (make test-asan) a program linked with libhdf5 can hang in its exit handlers
# with libasan alone, no agent (p11-kit's destructor, through libcurl, waits on glibc's
# locale lock): the test programs leave with _exit after their last call there
[ -n "${TA_ASAN:-}" ] && export T53_QUICK_EXIT=1
D="$TMP/d"
SRC="$ROOT/tests/hdf5"
mkdir -p "$D"
h5cc_() { ta_cc "$@" -I"$H5INC" -L"$H5LIB" -lhdf5 -Wl,-rpath,"$H5LIB"; }
h5cc_ "$D/libs_main" "$SRC/libs_main.c" -ldl
h5cc_ "$D/libs_sel" "$SRC/libs_sel.c"
h5cc_ "$D/libs_era" "$SRC/libs_era.c"
h5cc_ "$D/libs_ops" "$SRC/libs_ops.c" -lhdf5_hl
ta_cc "$D/libs_none" "$SRC/libs_none.c"

# --- none ---------------------------------------------------------------------------------
traced "$D/o_none" "$D/libs_none" > "$TMP/none.out" 2>&1
check "a C program that never uses HDF5 maps no libhdf5 under the agent ($(cat "$TMP/none.out"))" \
    grep -qx "hdf5 mappings: 0" "$TMP/none.out"
traced "$D/o_true" /bin/true
check "/bin/true runs under the agent (exit 0)" test $? -eq 0
out=$(traced "$D/o_py0" "$PY" -c \
    'print(sum("libhdf5" in l for l in open("/proc/self/maps")))' 2>&1)
check "python3 -c that never imports h5py maps no libhdf5 (libhdf5 mappings: $out)" \
    test "$out" = 0
check "no hdf5 event where HDF5 was never used" \
    bash -c "! cat '$D'/o_none/*.trace.json '$D'/o_true/*.trace.json '$D'/o_py0/*.trace.json | grep -q '\"cat\":\"hdf5\"'"

# --- copies -------------------------------------------------------------------------------
# a second copy of the system's libhdf5 under another soname and other symbol versions
# (tests/hdf5/libs_copy.py says why), the DT_NEEDED of reader2.so
"$PY" "$SRC/libs_copy.py" "$(readlink -f "$H5LIB/libhdf5.so")" "$D/libhdf5_sercpy.so.103" ||
    { fail "make the copy of libhdf5"; finish; }
gcc -std=gnu11 -O1 -g -Wall -fPIC -shared -I"$H5INC" -o "$D/reader2.so" "$SRC/libs_reader2.c" \
    "$D/libhdf5_sercpy.so.103" -Wl,-rpath,"$D" -Wl,-rpath,"$H5LIB" ||
    { fail "compile reader2.so"; finish; }
check "reader2.so needs the copy" bash -c \
    "readelf -d '$D/reader2.so' | grep -q 'NEEDED.*libhdf5_sercpy.so.103'"
(cd "$D" && timeout 60 ./libs_main make A.h5 B.h5) || fail "make A.h5 and B.h5"
(cd "$D" && timeout 60 ./libs_main read A.h5 B.h5 "$D/reader2.so") > "$TMP/u_main" 2>&1
check "untraced: both copies read ($(tr '\n' ' ' < "$TMP/u_main"))" \
    bash -c "grep -qx 'copies loaded: 2' '$TMP/u_main' && [ \$(grep -cx 'A 120' '$TMP/u_main') = 3 ] && [ \$(grep -cx 'B 8028' '$TMP/u_main') = 2 ]"
(cd "$D" && timeout 60 env TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$D/o_main" \
    LD_PRELOAD="$AGENT" ./libs_main read A.h5 B.h5 "$D/reader2.so") > "$TMP/t_main" 2>&1
rc=$?
check "traced: exit 0, output as untraced (rc $rc: $(tr '\n' ' ' < "$TMP/t_main" | head -c 300))" \
    bash -c "[ $rc = 0 ] && cmp -s '$TMP/u_main' '$TMP/t_main'"
# the premise: the two copies hand out the same ids
check "the two copies gave the same file and dataset ids" bash -c \
    "[ \"\$(grep '^main:' '$TMP/t_main' | cut -d: -f2)\" = \"\$(grep '^reader2:' '$TMP/t_main' | cut -d: -f2)\" ]"

# --- selection and failure ----------------------------------------------------------------
(cd "$D" && timeout 60 "$D/libs_sel" S.h5 nothere.h5 > "$TMP/u_sel.out" 2> "$TMP/u_sel.err")
rc_u=$?
rm -f "$D/S.h5"
(cd "$D" && traced "$D/o_sel" timeout 60 "$D/libs_sel" S.h5 nothere.h5 > "$TMP/t_sel.out" 2> "$TMP/t_sel.err")
rc_t=$?
check "missing file: the same exit and H5Fopen result as untraced ($(cat "$TMP/t_sel.out"))" \
    bash -c "[ $rc_u = 0 ] && [ $rc_t = $rc_u ] && grep -qx 'missing: -1' '$TMP/t_sel.out' && cmp -s '$TMP/u_sel.out' '$TMP/t_sel.out'"
# the error stack names the thread and the time: only those may differ
check "missing file: HDF5's own error output, unchanged ($(wc -l < "$TMP/u_sel.err") lines)" \
    bash -c "[ -s '$TMP/u_sel.err' ] && diff <(sed -E 's/thread [0-9]+/thread N/; s/time = .*/time = T/' '$TMP/u_sel.err') <(sed -E 's/thread [0-9]+/thread N/; s/time = .*/time = T/' '$TMP/t_sel.err') >/dev/null"

# --- what changes without a wrapped call: H5close's ids, a type's size, an unwrapped open -
(cd "$D" && traced "$D/o_era" timeout 60 "$D/libs_era" E1.h5 E2.h5 E3.h5 > "$TMP/t_era" 2>&1)
rc=$?
ids=$(sed -n 's/^ids: //p' "$TMP/t_era")
check "era: exit 0, the two datasets got the same id after H5close ($ids), the type grew to 8" \
    bash -c "[ $rc = 0 ] && [ -n '$ids' ] && [ \"\$(echo $ids | cut -d' ' -f1)\" = \"\$(echo $ids | cut -d' ' -f2)\" ] && grep -qx 'type size: 8' '$TMP/t_era'"

# --- ops ----------------------------------------------------------------------------------
(cd "$D" && timeout 60 "$D/libs_ops" O.h5 > "$TMP/u_ops" 2>&1)
rm -f "$D/O.h5"
(cd "$D" && traced "$D/o_ops" timeout 60 "$D/libs_ops" O.h5 > "$TMP/t_ops" 2>&1)
check "ops: results as untraced ($(tr '\n' ' ' < "$TMP/t_ops"))" bash -c \
    "grep -qx 'H5Ovisit2 0 3' '$TMP/u_ops' && grep -qx 'threads: 0 failed reads' '$TMP/u_ops' && cmp -s '$TMP/u_ops' '$TMP/t_ops'"

# --- h5py ---------------------------------------------------------------------------------
"$PY" -c "import h5py" 2>/dev/null && have_h5py=1 || have_h5py=0
if [ $have_h5py = 1 ]; then
    "$PY" -c "import h5py, numpy as np; f = h5py.File('$D/P.h5', 'w'); f['x'] = np.arange(50, dtype='i8'); f.close()"
    out=$(traced "$D/o_py" timeout 60 "$PY" -c "import h5py; f = h5py.File('$D/P.h5', 'r'); print(int(f['x'][:].sum())); f.close()" 2>&1)
    check "h5py reads f['x'][:] under the agent: exit 0, right data ($out)" test "$out" = 1225
fi

# --- the traces ---------------------------------------------------------------------------
"$PY" - "$ROOT/tests/lib" "$D" "$have_h5py" <<'PYEOF'
import glob, os, sys
sys.path.insert(0, sys.argv[1])
import tacheck
from tacheck import check
D, have_h5py = sys.argv[2], sys.argv[3] == "1"

def load(name):
    evs = []
    for p in glob.glob(os.path.join(D, name, "*.trace.json")):
        evs += tacheck.load_trace(p)
    return evs

ev = load("o_main")
A, B = os.path.join(D, "A.h5"), os.path.join(D, "B.h5")
reads = tacheck.spans(ev, "hdf5", "H5Dread")
by = {}
for e in reads:
    a = e.get("args", {})
    by.setdefault((a.get("file"), a.get("dataset"), a.get("bytes")), []).append(e)
want = {(A, "/a/x", 64): 3, (B, "/b/y", 32): 2}
got = {k: len(v) for k, v in by.items()}
check("copies: each H5Dread traced once, with its copy's file and dataset (3 of A:/a/x, "
      "2 of B:/b/y, 64 and 32 bytes)", got == want, [f"got {got}"])
opens = tacheck.spans(ev, "hdf5", "H5Dopen2")
check("copies: H5Dopen2 of each copy names its own file",
      sorted((e["args"].get("file"), e["args"].get("dataset")) for e in opens)
      == [(A, "/a/x"), (B, "/b/y")], [e.get("args") for e in opens])
# nesting: the file I/O of an H5Dread inside its span, on its thread
nested = 0
for r in reads:
    t0, t1 = r["ts"], r["ts"] + r["dur"]
    for p in tacheck.spans(ev, "posix"):
        if p["tid"] == r["tid"] and p["ts"] >= t0 and p["ts"] + p["dur"] <= t1 \
                and p.get("args", {}).get("path") == r["args"].get("file"):
            nested += 1
check(f"nesting: preads of the dataset's file inside H5Dread spans ({nested})", nested >= 1)
check("nesting: the spans nest strictly", not tacheck.check_nesting(ev),
      tacheck.check_nesting(ev))

ev = load("o_sel")
reads = tacheck.spans(ev, "hdf5", "H5Dread")
got = [(e["args"].get("bytes"), e["args"].get("selection")) for e in reads]
check("selection: re-selected spaces give each read its own bytes and shape",
      got == [(80, "[2,10]"), (280, "[7,10]"), (84, "[7,3]")], [f"got {got}"])
fo = [e for e in tacheck.spans(ev, "hdf5", "H5Fopen")]
miss = os.path.join(D, "nothere.h5")
check("failure: H5Fopen of a missing file recorded with error, ret -1, its path",
      len(fo) == 1 and fo[0]["args"].get("error") is True and fo[0]["args"].get("ret") == -1
      and fo[0]["args"].get("file") == miss and "bytes" not in fo[0]["args"],
      [e.get("args") for e in fo])

ev = load("o_era")
E = [os.path.join(D, f"E{i}.h5") for i in (1, 2, 3)]
got = [(e["args"].get("file"), e["args"].get("dataset"), e["args"].get("bytes"))
       for e in tacheck.spans(ev, "hdf5", "H5Dread")]
check("era: after H5close the same id names the new file's dataset, with its bytes",
      got == [(E[0], "/alpha", 40), (E[1], "/beta", 400)], [f"got {got}"])
cl = [(e["args"].get("file"), e["args"].get("dataset")) for e in tacheck.spans(ev, "hdf5", "H5Dclose")]
check("era: H5Dclose of ids opened by H5Oopen_by_idx (not wrapped), read or not, name their dataset",
      cl.count((E[1], "/beta")) == 3, [f"got {cl}"])  # its create, d2 (read), d3 (not)
got = [e["args"].get("bytes") for e in tacheck.spans(ev, "hdf5", "H5Dwrite")
       if e["args"].get("dataset") == "/p"]
check("era: H5Tset_precision between two writes: 20 then 80 bytes", got == [20, 80], [f"got {got}"])

ev = load("o_ops")
O = os.path.join(D, "O.h5")
h5 = tacheck.spans(ev, "hdf5")
def named(name):
    return [e for e in h5 if e["name"] == name]
def args(name):
    return [(e["args"].get("dataset"), e["args"].get("bytes"), e["args"].get("selection"))
            for e in named(name)]
check("ops: chunk writes: H5Dwrite_chunk twice (one inside H5DOwrite_chunk), 20 bytes each",
      args("H5Dwrite_chunk") == [("/c", 20, "chunk")] * 2
      and args("H5DOwrite_chunk") == [("/c", 20, "chunk")], [args("H5Dwrite_chunk"), args("H5DOwrite_chunk")])
check("ops: chunk reads: the chunk's stored size, 20 bytes",
      args("H5Dread_chunk") == [("/c", 20, "chunk")] * 2
      and args("H5DOread_chunk") == [("/c", 20, "chunk")], [args("H5Dread_chunk"), args("H5DOread_chunk")])
inside = all(any(i["tid"] == o["tid"] and i["ts"] >= o["ts"] and i["ts"] + i["dur"] <= o["ts"] + o["dur"]
                 for i in named(o["name"].replace("H5DO", "H5D"))) for o in named("H5DOwrite_chunk") + named("H5DOread_chunk"))
check("ops: each H5DO*_chunk span holds its H5D*_chunk span", inside and named("H5DOread_chunk"))
it = [(e["name"], e["args"].get("file"), e["args"].get("object")) for e in h5
      if e["name"] in ("H5Literate", "H5Ovisit", "H5Ovisit2")]
check("ops: one span per iteration, on the file's root group",
      it == [(n, O, "/") for n in ("H5Literate", "H5Ovisit", "H5Ovisit2")], it)
rd = named("H5Dread")
tids = {e["tid"] for e in rd}
check(f"ops: 4 threads x 100 whole reads, each with its dataset and 80 bytes ({len(rd)} on {len(tids)} threads)",
      len(rd) == 400 and len(tids) == 4 and all(e["args"].get("file") == O and e["args"].get("dataset") == "/c"
                                              and e["args"].get("bytes") == 80 for e in rd))
check("ops: H5Dset_extent names its dataset",
      [(e["args"].get("dataset"), e["args"].get("ret")) for e in named("H5Dset_extent")] == [("/c", 0)])

if have_h5py:
    ev = load("o_py")
    reads = tacheck.spans(ev, "hdf5", "H5Dread")
    P = os.path.join(D, "P.h5")
    check("h5py: H5Dread with file, dataset and bytes",
          len(reads) >= 1 and all(e["args"].get("file") == P and e["args"].get("dataset") == "/x"
                                  and e["args"].get("bytes") == 400 for e in reads),
          [e.get("args") for e in reads])
tacheck.finish()
PYEOF
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
finish
