#!/usr/bin/env bash
# fprintf and vfprintf are traced with their bytes, and the stream position follows them.
. "$(dirname "$0")/lib/common.sh"
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): the ASan runtime, preloaded first, has its own fprintf/printf interceptors that call vfprintf, so the agent sees the program's fprintf as vfprintf; the plain suite runs it"
for build in plain fortify; do
    flags=(); [ $build = fortify ] && flags=(-O2 -D_FORTIFY_SOURCE=2)
    ta_cc "$TBUILD/fmt-$build" "$ROOT/tests/io/fmt.c" "${flags[@]}"
    out=$(traced "$TMP/$build" "$TBUILD/fmt-$build" "$TMP/$build.txt")
    check "$build: output unchanged (7 12 3 10)" test "$out" = "7 12 3 10"
    $PY - "$TMP/$build" "$TMP/$build.txt" "$build" <<PY
import sys, glob; sys.path.insert(0, "$ROOT/tests/lib"); import tacheck
d, path, build = sys.argv[1:]
(f,) = glob.glob(d + "/*.trace.json")
ev = [e for e in tacheck.spans(tacheck.load_trace(f, require_closed=True), cat="stdio")
      if e["args"].get("path") == path]
got = [(e["name"], e["args"].get("bytes"), e["args"].get("offset")) for e in ev
       if e["name"] not in ("fopen", "fclose")]
fp = "__fprintf_chk" if build == "fortify" else "fprintf"
vfp = "__vfprintf_chk" if build == "fortify" else "vfprintf"
want = [(fp, 7, 0), (fp, 12, 7), (vfp, 3, 19), ("fwrite", 10, 22)]
print(("ok" if got == want else "not ok") + f" - {build}: {got} == {want}")
PY
done
finish
