#!/usr/bin/env bash
# The stack table and the symbolizer of call stacks (issue #19; agent/stackdb.c,
# agent/elfsym.c), by tests/symbolize/prog.c: return addresses of calls inside known
# functions (global and static, in the executable, in a library it links, in one it
# dlopens) are looked up, and what the lookup says (function, library, offset, file:line)
# is checked against nm and addr2line run here on the same files. Builds: DWARF 5 (gcc's
# default) and -gdwarf-4; stripped copies (no symbol or .dynsym's, never a wrong name);
# debug info split off into a file found by .gnu_debuglink and by build-id; truncated and
# corrupted copies of the library (no crash, no wrong answer from a truncated one).
# Interning: same frames same id, ids dense from 1, a full table gives 0; call sites past
# the C runtime. The unit build (-DSYM_UNIT) links the agent's files into the program; the
# plain build asks the agent under test through the plug-in interface (api->frame).
source "$(dirname "$0")/lib/common.sh"
command -v addr2line >/dev/null && command -v nm >/dev/null && command -v objcopy >/dev/null ||
    skip "binutils (addr2line, nm, objcopy) missing"
command -v g++ >/dev/null || skip "g++ missing (a C++ library checks demangling)"

S="$ROOT/tests/symbolize"
D=$TMP/sym
mkdir -p "$D/d5" "$D/d4" "$D/strip" "$D/link" "$D/bid" "$D/root"
UNIT_SRC=("$S/prog.c" "$ROOT/agent/stackdb.c" "$ROOT/agent/elfsym.c" "$ROOT/agent/sys.c")
UNIT_FLAGS=(-D_GNU_SOURCE -DSYM_UNIT -I"$ROOT/agent" -ldl)
# $1: dir, $2: debug flag. The libraries, the unit program and the plain one, in dir.
build() {
    local d=$1 g=$2
    # in source order: liba_static after liba_global (the stripped case below); named
    # relative to the compilation directory (DWARF 4 puts that directory in .debug_info)
    (cd "$S" && gcc -O1 $g -fno-toplevel-reorder -fPIC -shared -o "$d/libsyma.so" liba.c) ||
        { fail "compile liba $g"; exit 1; }
    gcc -O1 $g -fPIC -shared -o "$d/libsymb.so" "$S/libb.c" || { fail "compile libb $g"; exit 1; }
    # libstdc++ (and its __cxa_demangle) comes with it, used or not
    g++ -O1 $g -fPIC -shared -o "$d/libsymcxx.so" "$S/libcxx.cpp" -Wl,--no-as-needed -lstdc++ ||
        { fail "compile libcxx $g"; exit 1; }
    ta_cc "$d/unit" "${UNIT_SRC[@]}" $g "${UNIT_FLAGS[@]}" -L"$d" -lsyma -lsymcxx -Wl,-rpath,"$d"
    ta_cc "$d/prog" "$S/prog.c" $g -L"$d" -lsyma -lsymcxx -Wl,-rpath,"$d" -ldl
}
build "$D/d5" -g
build "$D/d4" -gdwarf-4
# the unit program under AddressSanitizer and UBSan, for the malformed copies: a read past
# a mapping or a misaligned one is reported, not only a crash
ASAN_OK=0
if gcc -fsanitize=address,undefined -x c -o "$D/asan_probe" - <<<'int main(void){return 0;}' 2>/dev/null; then
    ta_cc "$D/d5/unit_asan" "${UNIT_SRC[@]}" -g "${UNIT_FLAGS[@]}" -L"$D/d5" -lsyma -lsymcxx \
        -Wl,-rpath,"$D/d5" -fsanitize=address,undefined -fno-sanitize-recover=all
    ASAN_OK=1
fi
# the DWARF version each build really has (a compiler default that moved would hide a case)
ver() { readelf --debug-dump=rawline "$1" 2>/dev/null | awk '/DWARF Version:/ {print $3; exit}'; }
check "-g gives DWARF 5 line tables, -gdwarf-4 version 4" \
    test "$(ver "$D/d5/libsyma.so")/$(ver "$D/d4/libsyma.so")" = "5/4"

# stripped: the program and liba, all symbols and debug info gone (.dynsym stays)
cp "$D/d5/unit" "$D/strip/unit" && cp "$D/d5/libsyma.so" "$D/strip/libsyma.so" &&
    strip --strip-all "$D/strip/unit" "$D/strip/libsyma.so"
# liba with its symbols and lines in a separate file: named by .gnu_debuglink next to it,
# and by build-id under a debug root
cp "$D/d5/libsyma.so" "$D/link/libsyma.so"
objcopy --only-keep-debug "$D/link/libsyma.so" "$D/link/libsyma.so.dbg" &&
    strip --strip-all "$D/link/libsyma.so" &&
    objcopy --add-gnu-debuglink="$D/link/libsyma.so.dbg" "$D/link/libsyma.so"
bid=$(readelf -n "$D/d5/libsyma.so" | awk '/Build ID:/ {print $3}')
mkdir -p "$D/root/.build-id/${bid:0:2}"
objcopy --only-keep-debug "$D/d5/libsyma.so" "$D/root/.build-id/${bid:0:2}/${bid:2}.debug"
cp "$D/strip/libsyma.so" "$D/bid/libsyma.so"

LIBB5="$D/d5/libsymb.so"
"$D/d5/unit" frames "$LIBB5" >"$D/u5.txt" 2>"$D/u5.err"
"$D/d4/unit" frames "$D/d4/libsymb.so" >"$D/u4.txt" 2>"$D/u4.err"
LD_LIBRARY_PATH="$D/strip" "$D/strip/unit" frames "$LIBB5" >"$D/us.txt" 2>"$D/us.err"
LD_LIBRARY_PATH="$D/link" "$D/d5/unit" frames "$LIBB5" >"$D/ul.txt" 2>"$D/ul.err"
LD_LIBRARY_PATH="$D/bid" "$D/d5/unit" debugroot "$D/root" "$LIBB5" >"$D/ub.txt" 2>"$D/ub.err"
traced "$TMP/out" "$D/d5/prog" frames "$LIBB5" >"$D/a5.txt" 2>"$D/a5.err"

# truncated and corrupted copies of liba, read in place of it (one forked child each)
L="$D/d5/libsyma.so"
size=$(stat -c %s "$L")
bad=()
for n in 0 10 63 64 65 200 1000 4096 $((size / 4)) $((size / 2)) $((size * 3 / 4)) $((size - 64)) $((size - 1)); do
    head -c "$n" "$L" >"$D/trunc.$n"
    bad+=("$D/trunc.$n")
done
cat >"$D/corrupt.py" <<'EOF'
import random, struct, sys
src, d, pre = sys.argv[1], sys.argv[2], sys.argv[3]
data = bytearray(open(src, "rb").read())
rnd = random.Random(19)
shoff, = struct.unpack_from("<Q", data, 0x28)
def save(name, b): open(f"{d}/{pre}.{name}", "wb").write(b)
if pre == "bad4":
    for k in range(1, 8):
        save(f"cut{k}", data[:len(data) * k // 8])
b = bytearray(data); struct.pack_into("<Q", b, 0x28, 2**63); save("shoff", b)
b = bytearray(data); struct.pack_into("<H", b, 0x3c, 0xffff); save("shnum", b)
b = bytearray(data); struct.pack_into("<H", b, 0x3e, 0xfff0); save("shstrndx", b)
# every section's offset and size made huge, one at a time would be many: all at once
b = bytearray(data)
for i in range(struct.unpack_from("<H", data, 0x3c)[0]):
    struct.pack_into("<QQ", b, shoff + i * 64 + 0x18, 2**62 + i, 2**62)
save("secs", b)
# random bytes over the whole file, then over the section headers and the tail (symbols,
# DWARF) only, a few seeds each
for k in range(6):
    b = bytearray(data)
    lo = 0 if k < 2 else (shoff if k < 4 else len(data) // 2)
    for _ in range(200):
        b[rnd.randrange(lo, len(data))] = rnd.randrange(256)
    save(f"rand{k}", b)
# a few bytes inside one DWARF section at a time
shnum, shstrndx = struct.unpack_from("<HH", data, 0x3c)
def shdr(i): return struct.unpack_from("<IIQQQQ", data, shoff + i * 64)
stro = shdr(shstrndx)[4]
for i in range(shnum):
    name = data[stro + shdr(i)[0]:].split(b"\0")[0].decode()
    off, size = shdr(i)[4], shdr(i)[5]
    if name in (".debug_info", ".debug_abbrev", ".debug_line", ".debug_line_str") and size:
        for k in range(4):
            b = bytearray(data)
            for _ in range(1 + k * 5):
                b[off + rnd.randrange(size)] = rnd.randrange(256)
            save(f"{name[1:]}{k}", b)
EOF
$PY "$D/corrupt.py" "$L" "$D" bad
# ... and of the DWARF 4 build (its .debug_info is read too): no crash asked of those
$PY "$D/corrupt.py" "$D/d4/libsyma.so" "$D" bad4
bad+=("$D"/bad.* "$D"/bad4.*)
TRUNC_UNIT="$D/d5/unit"
[ "$ASAN_OK" = 1 ] && TRUNC_UNIT="$D/d5/unit_asan"
# the ASan runtime must come first: without the agent here (run.sh --asan sets no
# LD_PRELOAD for this program)
ASAN_OPTIONS=detect_leaks=0 "$TRUNC_UNIT" trunc "$LIBB5" "${bad[@]}" >"$D/trunc.txt" 2>"$D/trunc.err"
trunc_rc=$?
[ "$ASAN_OK" = 1 ] && ok "malformed copies read by a sanitized build (ASan, UBSan)"

$PY - "$D" "$size" "$trunc_rc" <<'EOF' || T_FAILS=$((T_FAILS + 1))
import os, re, subprocess, sys
d, size, trunc_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fails = 0
def ok(c, what):
    global fails
    fails += not c
    print(("ok - " if c else "not ok - ") + what)
def rows(name):
    out = {}
    for ln in open(f"{d}/{name}.txt"):
        f = ln.rstrip("\n").split("\t")
        if len(f) == 9:
            out[f[0]] = dict(ip=int(f[1], 16), fn=int(f[2], 16), rc=int(f[3]), lib=f[4],
                             off=int(f[5], 16), func=f[6], file=f[7], line=int(f[8]))
    return out
def nm_addr(obj, sym):
    for ln in subprocess.run(["nm", obj], capture_output=True, text=True).stdout.splitlines():
        p = ln.split()
        if len(p) == 3 and p[2] == sym:
            return int(p[0], 16)
    return None
def a2l(obj, off):
    o = subprocess.run(["addr2line", "-f", "-C", "-e", obj, hex(off)], capture_output=True,
                       text=True).stdout.splitlines()
    fl = re.sub(r" \(discriminator \d+\)$", "", o[1]) if len(o) > 1 else "??:0"
    f, _, l = fl.rpartition(":")
    return o[0] if o else "??", f, int(l) if l.isdigit() else 0

PROBES = ["prog_global", "prog_static", "liba_global", "liba_static", "hdr_fn", "libb_fn",
          "cxx_fn"]
NM = {"cxx_fn": "_ZN7symtest6cxx_fnEi"}  # the symbol's own name
FUNC = {"cxx_fn": "symtest::cxx_fn(int)"}  # demangled
def objects(ver):
    dd = f"{d}/{ver}"
    return {"prog_global": f"{dd}/unit", "prog_static": f"{dd}/unit",
            "liba_global": f"{dd}/libsyma.so", "liba_static": f"{dd}/libsyma.so",
            "hdr_fn": f"{dd}/libsyma.so",
            "libb_fn": f"{dd}/libsymb.so", "cxx_fn": f"{dd}/libsymcxx.so"}

def check_full(name, label, ver, lib_at=None, prog=None):
    """every probe: the right function, library, offset, file:line (addr2line's)"""
    r = rows(name)
    objs = objects(ver)
    if prog:
        objs["prog_global"] = objs["prog_static"] = prog
    for p in PROBES:
        e = r.get(p)
        obj = objs[p]  # the file with symbols, where nm and addr2line look
        lib = lib_at.get(p, obj) if lib_at else obj
        if not e:
            ok(False, f"{label}: {p} looked up")
            continue
        want_off = nm_addr(obj, NM.get(p, p)) + (e["ip"] - e["fn"])
        fn, file, line = a2l(obj, want_off - 1)
        ok(e["rc"] == 0 and e["lib"] in (lib, os.path.realpath(lib)),
           f"{label}: {p}: library {e['lib']} (want {lib})")
        ok(e["off"] == want_off, f"{label}: {p}: offset {e['off']:#x} (nm: {want_off:#x})")
        ok(e["func"] == FUNC.get(p, p) == fn, f"{label}: {p}: function {e['func']} (addr2line: {fn})")
        ok((e["file"], e["line"]) == (file, line) and line > 0,
           f"{label}: {p}: {e['file']}:{e['line']} (addr2line: {file}:{line})")
        if p == "hdr_fn":  # another file of the unit's table than its first
            ok(e["file"].endswith("/tests/symbolize/hdr.h"), f"{label}: hdr_fn is in hdr.h")
    return r

r5 = check_full("u5", "DWARF 5", "d5")
check_full("u4", "DWARF 4", "d4")
check_full("a5", "under the agent (api->frame)", "d5", prog=f"{d}/d5/prog")
# liba's symbols and lines from its separate debug file; library: the stripped one loaded
def at(sub):
    return {p: f"{d}/{sub}/libsyma.so" for p in ("liba_global", "liba_static", "hdr_fn")}
check_full("ul", "debug link", "d5", lib_at=at("link"))
check_full("ub", "build-id", "d5", lib_at=at("bid"))

# libc's fopen: a name nm -D gives at its address (an alias at most), without a version
def dyn_names(lib, addr):
    out = set()
    for ln in subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                             text=True).stdout.splitlines():
        p = ln.split()
        if len(p) == 3 and int(p[0], 16) == addr:
            out.add(p[2].split("@")[0])
    return out
for name, rr in (("unit", r5), ("agent", rows("a5"))):
    e = rr.get("libc_fopen")
    if not e:
        ok(False, f"{name}: libc's fopen looked up")
        continue
    names = dyn_names(e["lib"], e["off"] - 8)
    ok(e["rc"] == 0 and os.path.basename(e["lib"]).startswith("libc.so") and "fopen" in names
       and e["func"] in names, f"{name}: libc: {e['lib']} {e['func']} (nm -D: {sorted(names)})")
    v, a = rr.get("vdso"), rr.get("anon")
    ok(v and v["rc"] == 0 and v["lib"] == "[vdso]" and v["off"] == 16 and v["func"] == "-",
       f"{name}: the vdso: library [vdso], offset 0x10, no function ({v})")
    ok(a and a["rc"] == -1 and a["lib"] == "-" and a["func"] == "-" and a["file"] == "-",
       f"{name}: anonymous memory: -1, nothing named ({a})")

# the objects' files were read on the agent's own high fds, closed at once: the program's
# lowest free fd is the same after the lookups as before
for name in ("u5", "a5"):
    lf = [ln.split("\t") for ln in open(f"{d}/{name}.txt") if ln.startswith("lowfd\t")]
    ok(lf and lf[0][1].strip() == lf[0][2].strip(),
       f"{name}: the lowest free fd before and after the lookups: {lf}")

# stripped: .dynsym's name (liba_global is exported), else none; never another's
s = rows("us")
want = {"prog_global": "-", "prog_static": "-", "liba_global": "liba_global",
        "liba_static": "-", "hdr_fn": "-", "libb_fn": "libb_fn",
        "cxx_fn": "symtest::cxx_fn(int)"}
# the case that matters: liba_static lies after liba_global, the one name left
ga, sa = nm_addr(f"{d}/d5/libsyma.so", "liba_global"), nm_addr(f"{d}/d5/libsyma.so", "liba_static")
ok(ga is not None and sa is not None and ga < sa, f"liba_static ({sa:#x}) after liba_global ({ga:#x})")
for p, w in want.items():
    e = s.get(p, {})
    ok(e.get("rc") == 0 and e.get("func") == w and (e.get("file") == "-" or p in ("libb_fn", "cxx_fn")),
       f"stripped: {p}: function {e.get('func')} (want {w}), no line")

# truncated and corrupted copies: every child ended normally; a truncated copy gives the
# right function and line or none at all
ok(trunc_rc == 0, "trunc driver ran")
results, cur = {}, []
for ln in open(f"{d}/trunc.txt"):
    f = ln.rstrip("\n").split("\t")
    if f[0] == "exit":
        results[f[1]] = (int(f[2]), cur)
        cur = []
    elif len(f) == 9:
        cur.append(f)
crashed = [k for k, (st, c) in results.items() if st != 0 or len(c) != 3]
ok(len(results) >= 60 and not crashed,
   f"{len(results)} truncated or corrupted copies read: no crash ({crashed})")
wrong = []
for k, (st, c) in results.items():
    if ".trunc." not in "." + os.path.basename(k) + ".":
        continue
    for f in c:
        e = r5[f[0]]
        if f[6] not in ("-", e["func"]) or (f[7], f[8]) not in (("-", "0"), (e["file"], str(e["line"]))):
            wrong.append((os.path.basename(k), f[0], f[6], f[7], f[8]))
ok(not wrong, f"truncated copies: the right function and line, or none ({wrong})")
sys.exit(1 if fails else 0)
EOF

# interning and call sites (the unit program prints ok/bad per check)
"$D/d5/unit" intern >"$D/intern.txt" 2>&1
while IFS= read -r ln; do
    case $ln in
    ok\ *) ok "intern: ${ln#ok }" ;;
    bad\ *) fail "intern: ${ln#bad }" ;;
    esac
done <"$D/intern.txt"
check "intern: the checks ran" grep -q "^ok earlier ids keep" "$D/intern.txt"

# time of a lookup: the first in an object reads its symbols; then the answer is cached
"$D/d5/unit" time "$LIBB5" >"$D/time.txt" 2>&1
sed 's/^/# /' "$D/time.txt"
cached=$(awk '/^time liba_global/ {print int($7)}' "$D/time.txt")
check "a cached lookup takes under 2 us (${cached:-?} ns)" test "${cached:-99999}" -lt 2000

# ---------------------------------------------------------------------------------------
# The agent under test, TRACEAGENT_STACKS set: frames are resolved when their stack is
# interned (a library dlclose'd since keeps its names, the one the loader maps at its
# addresses afterwards gets its own); a library dlopen'ed by a relative name is read from
# its file after a chdir; a table of 131072 stacks of ~20 frames loses none; C++ I/O's
# call sites are past libstdc++; instants' stacks count at their sites.
G=$D/agent
mkdir -p "$G/other"
gcc -O1 -g -fPIC -shared -o "$G/libdlswap_a.so" "$S/dlswap_a.c" &&
    gcc -O1 -g -fPIC -shared -o "$G/libdlswap_b.so" "$S/dlswap_b.c" ||
    { fail "compile the dlswap libraries"; finish; }
# another file of that name where the program goes: libb's code, other names
cp "$G/libdlswap_b.so" "$G/other/libdlswap_a.so"
ta_cc "$G/dlswap" "$S/dlswap.c" -ldl
ta_cc "$G/relopen" "$S/relopen.c" -ldl
ta_cc "$G/manystacks" "$S/manystacks.c"
ta_cc "$G/marks" "$S/marks.c"
g++ -O1 -g -o "$G/cxio" "$S/cxio.cpp" || { fail "compile cxio.cpp"; finish; }
SWAP=$(TRACEAGENT_STACKS=posix TRACEAGENT_EXPORT=json,stats traced "$G/swap" \
    "$G/dlswap" "$G/libdlswap_a.so" "$G/libdlswap_b.so" swap 2>"$G/swap.err")
check "dlclose: the loader put libb's reader where liba's was (else nothing is tested)" \
    test "$SWAP" = same
TRACEAGENT_STACKS=posix TRACEAGENT_EXPORT=stats traced "$G/close" \
    "$G/dlswap" "$G/libdlswap_a.so" "$G/libdlswap_b.so" close 2>"$G/close.err"
(cd "$G" && TRACEAGENT_STACKS=posix TRACEAGENT_EXPORT=stats traced "$G/rel" ./relopen "$G/other") \
    2>"$G/rel.err"
TRACEAGENT_STACKS=posix TRACEAGENT_EXPORT=stats traced "$G/many" "$G/manystacks" 2>"$G/many.err"
TRACEAGENT_STACKS=posix TRACEAGENT_EXPORT=stats traced "$G/cx" "$G/cxio" 2>"$G/cx.err"
TRACEAGENT_STACKS=markers TRACEAGENT_EXPORT=stats traced "$G/mk" "$G/marks" 2>"$G/mk.err"
$PY - "$G" <<'EOF2' || T_FAILS=$((T_FAILS + 1))
import glob, json, os, sys
g = sys.argv[1]
fails = 0
def ok(c, desc, detail=None):
    global fails
    print(("ok - " if c else "not ok - ") + desc + ("" if c or detail is None else f"  [{str(detail)[:600]}]"))
    fails += not c
def stats(run):
    f = glob.glob(f"{g}/{run}/*.stats.json")
    return json.load(open(f[0])) if f else {}
def sites(s, cat="posix"):
    return [r for r in s.get("callsites", {}).get("sites", []) if r["cat"] == cat]
def by_fn(s, cat="posix"):
    out = {}
    for r in sites(s, cat):
        k = (r["function"], r["library"])
        out[k] = out.get(k, 0) + r["count"]
    return out
A, B = os.path.realpath(g + "/libdlswap_a.so"), os.path.realpath(g + "/libdlswap_b.so")

if os.environ.get("TA_ASAN"):
    # libasan's interceptors of pread and read are every stack's site here (t57 says the
    # same): the runs are for ASan's eyes; what does not depend on the site is checked
    for run in ("swap", "close", "rel", "many", "cx", "mk"):
        err = open(f"{g}/{run}.err", errors="replace").read()
        ok("AddressSanitizer" not in err and "runtime error" not in err,
           f"ASan: the {run} run under the agent reports nothing", err[-600:])
    s = stats("many")
    n = sum(r["count"] for r in sites(s))
    ok(n == 131073, "131072 distinct stacks of ~20 frames (and the open): all counted", n)
    ok("stack" not in s.get("dropped", {}), "... and no stack dropped", s.get("dropped"))
    print("# ASan: the call-site checks are the plain suite's (the sites are libasan's interceptors here)")
    sys.exit(1 if fails else 0)

s = stats("swap")
f = by_fn(s)
ok(f.get(("lib_reader_A", A)) == 100 and f.get(("lib_other_B", B)) == 7,
   "dlclose: liba's 100 reads keep liba's name, libb's 7 at the same addresses are libb's", f)
tr = glob.glob(g + "/swap/*.trace.json")
evs = json.load(open(tr[0]))["traceEvents"] if tr else []
st = [e.get("args", {}).get("stack", "") for e in evs if e.get("name") == "pread" and "sf" in e]
na, nb = sum(x.startswith("lib_reader_A") for x in st), sum(x.startswith("lib_other_B") for x in st)
ok((na, nb) == (100, 7), "dlclose: trace.json's stacks name lib_reader_A 100 times, lib_other_B 7", (na, nb))
f = by_fn(stats("close"))
ok(f.get(("lib_reader_A", A)) == 100,
   "dlclose before the end, stats alone: the library's reads are named", f)

f = by_fn(stats("rel"))
ok(f.get(("lib_reader_A", A)) == 10,
   "relative dlopen then chdir: symbols from the file loaded, its absolute path as library", f)

s = stats("many")
f = by_fn(s)
n = sum(v for (fn, lib), v in f.items() if fn in ("L", "R"))
ok(n == 131072, "131072 distinct stacks of ~20 frames: every pread at its site (L or R)", (n, f))
ok("stack" not in s.get("dropped", {}), "... and no stack dropped", s.get("dropped"))

s = stats("cx")
f = by_fn(s)
libs = {os.path.basename(lib or "?") for (fn, lib) in f}
ok(f.get(("load_mesh()", os.path.realpath(g + "/cxio")), 0) >= 30 and
   f.get(("load_cfg()", os.path.realpath(g + "/cxio")), 0) >= 10 and libs == {"cxio"},
   "C++: ifstream reads' call sites are load_mesh and load_cfg, none in libstdc++", f)

s = stats("mk")
f = by_fn(s, "marker")
ok(f.get(("mark_here", os.path.realpath(g + "/marks"))) == 5 and
   f.get(("main", os.path.realpath(g + "/marks"))) == 2,
   "marker instants with stacks: counted at their sites", sites(s, "marker"))
sys.exit(1 if fails else 0)
EOF2

finish
