#!/usr/bin/env bash
# The CUPTI module on a machine without a GPU (issue 16, "What must show, without a GPU"):
# it is built; programs that do not use CUDA never map libcupti, libcuda or libcudart; a
# CUDA program (samples/cuda_vecadd.cu) ends traced exactly as untraced. On these machines
# (no driver, no libcuda.so.1) the CUDA runtime fails before it loads the driver, so the
# driver never loads the module (CUDA_INJECTION64_PATH is read at cuInit): the program's
# failing CUDA calls cannot reach CUPTI and are not traced here. Its NVTX ranges are: NVTX
# loads the module through NVTX_INJECTION64_PATH, which the agent sets. The replay of what
# CUPTI delivers on a GPU is t63.
source "$(dirname "$0")/lib/common.sh"
MOD="$ROOT/build/lib/libtraceagent-cupti.so"
CUDA=""
for d in "${CUDA_HOME:-}" /usr/local/cuda; do
    [ -n "$d" ] && [ -f "$d/include/cupti.h" ] && { CUDA="$d"; break; }
done

out=$(make -s -C "$ROOT" CUDA_HOME=/nonexistent cupti 2>&1); rc=$?
check "make without CUDA: the module is skipped in one clear line, make succeeds ($out)" \
    test "$rc-$(grep -c 'cupti: no cupti.h' <<<"$out")-$(wc -l <<<"$out")" = 0-1-1
[ -n "$CUDA" ] || { echo "# skip - no CUDA headers (cupti.h): the module is not built here"; finish; }
check "the module is built: $MOD" test -f "$MOD"
check "... it exports InitializeInjection and InitializeInjectionNvtx2" \
    test "$(nm -D --defined-only "$MOD" 2>/dev/null | grep -c ' T InitializeInjection\(Nvtx2\)\?$')" = 2
check "... the agent links no CUDA library" \
    test "$(readelf -d "${AGENT##*:}" | grep NEEDED | grep -c 'cupti\|cuda')" = 0

# ---- programs that do not use CUDA ----------------------------------------------------------
cuda_maps() { grep -c 'libcupti\|libcuda\.\|libcudart' "$1"; }
traced "$TMP/c" sh -c 'echo "${CUDA_INJECTION64_PATH-unset} ${NVTX_INJECTION64_PATH-unset}"; cat /proc/self/maps > "$0"' \
    "$TMP/c.maps" > "$TMP/c.env"
check "a C program: the injection variables name the module" \
    test "$(cat "$TMP/c.env")" = "$MOD $MOD"
check "a C program (cat) never maps libcupti, libcuda or libcudart ($(cuda_maps "$TMP/c.maps"))" \
    test -s "$TMP/c.maps" -a "$(cuda_maps "$TMP/c.maps")" = 0
traced "$TMP/py" $PY -c 'import json, os; open(os.sys.argv[1], "w").write(open("/proc/self/maps").read())' \
    "$TMP/py.maps"
check "python3 (json, os) never maps libcupti, libcuda or libcudart ($(cuda_maps "$TMP/py.maps"))" \
    test -s "$TMP/py.maps" -a "$(cuda_maps "$TMP/py.maps")" = 0 -a "$(grep -c "libtraceagent" "$TMP/py.maps")" -ge 1

# ---- a value the user set is kept, and said so once ------------------------------------------
# the variables are set for the program itself (sh), as a user's environment would: the
# agent reads them in the process it starts in
v=$(CUDA_INJECTION64_PATH=/other/inj.so NVTX_INJECTION64_PATH=/other/nvtx.so traced "$TMP/keep" \
    sh -c 'echo "$CUDA_INJECTION64_PATH $NVTX_INJECTION64_PATH"' 2> "$TMP/keep.err")
check "injection variables set by the user are kept ($v)" test "$v" = "/other/inj.so /other/nvtx.so"
check "... and said so, once each ($(tr '\n' ' ' < "$TMP/keep.err" | head -c 300))" \
    test "$(grep -c 'CUDA_INJECTION64_PATH is /other/inj.so already' "$TMP/keep.err")-$(grep -c 'NVTX_INJECTION64_PATH is /other/nvtx.so already' "$TMP/keep.err")-$(wc -l < "$TMP/keep.err")" = 1-1-2

# ---- NVTX from a program without CUDA (tests/cupti/nvtxprog.c, the real nvtx3 headers) ----
ta_cc "$TBUILD/nvtxprog" "$ROOT/tests/cupti/nvtxprog.c" -I"$CUDA/include" -ldl
"$TBUILD/nvtxprog" > "$TMP/nvtx-plain.out" 2>&1
traced "$TMP/nvtx" "$TBUILD/nvtxprog" > "$TMP/nvtx.out" 2> "$TMP/nvtx.err"
check "NVTX: the program's output unchanged, the agent silent" \
    test "$(cat "$TMP/nvtx-plain.out")" = "$(cat "$TMP/nvtx.out")" -a ! -s "$TMP/nvtx.err"
check "NVTX without CUDA: the module loaded, libcupti not ($(cat "$TMP/nvtx.out"))" \
    test "$(cat "$TMP/nvtx.out")" = "nvtx done, libcupti mapped 0"
check "NVTX: push/pop, a domain range named by a registered string, a mark, a range ended on another thread, a thread's name" \
    $PY - "$(ls "$TMP"/nvtx/*.trace.json | head -1)" <<'PY'
import json, sys
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[1]) if l.startswith("{")]
m = {e["name"]: e for e in ev if e.get("cat") == "marker"}
names = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "thread_name"}
o, r, s = m.get("outer"), m.get("registered name"), m.get("started")
ok = o and r and s and m.get("a mark", {}).get("ph") == "i" and o["ph"] == r["ph"] == s["ph"] == "X"
ok = ok and o["ts"] <= r["ts"] and r["ts"] + r["dur"] <= o["ts"] + o["dur"] and r["dur"] >= 1000
ok = ok and s["tid"] != o["tid"] and names.get(s["tid"]) == "nvtx worker" and s["dur"] >= 2000
ok = ok and o["ts"] <= s["ts"] and s["ts"] + s["dur"] <= o["ts"] + o["dur"]
sys.exit(0 if ok else 1)
PY
TRACEAGENT_TRACE=posix traced "$TMP/nvtx-off" "$TBUILD/nvtxprog" > /dev/null 2>&1
off=$(ls "$TMP"/nvtx-off/*.trace.json 2>/dev/null | head -1)
check "NVTX: markers not traced, NVTX not injected (no marker in the trace)" \
    test -n "$off" -a "$(grep -c '"cat":"marker"' "$off")" = 0

# ---- the CUDA sample, untraced and traced ---------------------------------------------------
BIN="$TBUILD/cuda_vecadd"
if [ ! -x "$BIN" ] || [ "$ROOT/samples/cuda_vecadd.cu" -nt "$BIN" ]; then
    "$CUDA/bin/nvcc" -O2 -o "$BIN" "$ROOT/samples/cuda_vecadd.cu" > "$TMP/nvcc.log" 2>&1 ||
        { fail "nvcc samples/cuda_vecadd.cu ($(head -c 300 "$TMP/nvcc.log"))"; finish; }
fi
"$BIN" > "$TMP/plain.out" 2> "$TMP/plain.err"; prc=$?
traced "$TMP/vec" "$BIN" > "$TMP/vec.out" 2> "$TMP/vec.err"; trc=$?
same() { cmp -s "$TMP/plain.out" "$TMP/vec.out" && cmp -s "$TMP/plain.err" "$TMP/vec.err" && test "$prc" = "$trc"; }
check "cuda_vecadd traced: same stdout, stderr and status as untraced (status $prc / $trc)" same
trace=$(ls "$TMP"/vec/*.trace.json 2>/dev/null | head -1)
if [ "$prc" = 2 ]; then
    check "no GPU: the sample says so and exits 2 ($(head -c 200 "$TMP/plain.err"))" \
        grep -q 'no CUDA device' "$TMP/plain.err"
    check "no GPU: its NVTX range 'setup' is a marker span in the trace (NVTX injection)" \
        $PY - "$trace" <<'PY'
import json, sys
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[1]) if l.startswith("{")]
m = [e for e in ev if e.get("cat") == "marker" and e.get("ph") == "X"]
sys.exit(0 if [e["name"] for e in m] == ["setup"] and m[0]["dur"] > 0 else 1)
PY
    echo "# no GPU here: the runtime fails before cuInit loads the module, so its failing calls are not traced (t63 replays CUPTI)"
else
    check "a GPU: the sample's kernels, copies, memset and CUDA calls are in the trace" \
        $PY - "$trace" <<'PY'
import json, sys
ev = [json.loads(l.rstrip(",\n")) for l in open(sys.argv[1]) if l.startswith("{")]
names = {e["name"] for e in ev if e.get("ph") == "X"}
k = [n for n in names if n.startswith(("vecAdd", "scale", "blockSum"))]
ok = len(k) == 3 and {"Memcpy HtoD", "Memcpy DtoH", "Memset", "cudaLaunchKernel", "compute"} <= names
sys.exit(0 if ok else 1)
PY
fi
finish
