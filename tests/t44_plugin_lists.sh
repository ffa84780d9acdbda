#!/usr/bin/env bash
# The lists and the way in (agent/plugin.c): a plug-in's family gets a category of its own,
# which TRACEAGENT_TRACE switches like a built-in one; its hooks run at fork, at the final
# drain and at exit, in that order; a plug-in preloaded beside the agent (its constructor
# runs before the agent's) works as one named in TRACEAGENT_PLUGINS; the agent's own
# external objects are loaded only when asked for (LTTng) or left to the CUDA driver
# (CUPTI, through CUDA_INJECTION64_PATH). The outside plug-in of the docs is t45.
. "$(dirname "$0")/lib/common.sh"
ta_cc "$TBUILD/hookplugin.so" "$ROOT/tests/core/hookplugin.c" -shared -fPIC
ta_cc "$TBUILD/hookprog" "$ROOT/tests/core/hookprog.c" -ldl
PLUG="$TBUILD/hookplugin.so"
ncalls() { cat "$1"/*.trace.json 2>/dev/null | grep -c '"cat":"hookfam","name":"hook_call"'; }

# ---- a family in TRACEAGENT_PLUGINS, and the same plug-in preloaded --------------------
for way in plugins preload; do
    d="$TMP/$way"
    if [ $way = plugins ]; then
        out=$(TRACEAGENT_PLUGINS="$PLUG" traced "$d" "$TBUILD/hookprog" "$PLUG" 2>"$TMP/err"); rc=$?
    else
        out=$(TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$d" LD_PRELOAD="$AGENT:$PLUG" \
              "$TBUILD/hookprog" "$PLUG" 2>"$TMP/err"); rc=$?
    fi
    check "$way: the program runs as before (rc $rc, '$out')" test "$rc-$out" = "0-done"
    check "$way: 8 spans of the plug-in's own category in the traces ($(ncalls "$d"))" \
        test "$(ncalls "$d")" = 8
    # the parent: init, before_fork, (child: after_fork_child, before_final_drain, at_exit),
    # before_final_drain, at_exit; the child's lines come between the parent's
    hooks=$(grep '^hook: ' "$TMP/err" | sed 's/hook: //' | tr '\n' ' ')
    check "$way: hooks in order ($hooks)" test "$hooks" = \
        "init before_fork after_fork_child before_final_drain at_exit before_final_drain at_exit "
    check "$way: no warning" test "$(grep -c 'warning' "$TMP/err")" = 0
    early=$($PY -c "import json,glob; print(sorted(json.load(open(f))['dropped'].get('hook_early', 0) for f in glob.glob('$d/*.stats.json')))")
    check "$way: a drop counted from the plug-in's constructor reaches stats.json ($early)" \
        test "$early" = "[0, 2]"
done
# a preloaded plug-in's category named in TRACEAGENT_TRACE (its constructor ran before the
# agent read the configuration)
out=$(TRACEAGENT_TRACE=hookfam TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$TMP/pre-on" \
      LD_PRELOAD="$AGENT:$PLUG" "$TBUILD/hookprog" "$PLUG" 2>"$TMP/err")
check "preload, TRACEAGENT_TRACE=hookfam: taken, no warning ($(ncalls "$TMP/pre-on") spans)" \
    test "$out-$(ncalls "$TMP/pre-on")-$(grep -c warning "$TMP/err")" = "done-8-0"
# the category is switched by TRACEAGENT_TRACE like a built-in one
TRACEAGENT_PLUGINS="$PLUG" TRACEAGENT_TRACE=posix traced "$TMP/off" "$TBUILD/hookprog" "$PLUG" >/dev/null 2>"$TMP/err"
check "TRACEAGENT_TRACE=posix: the plug-in's category is off ($(ncalls "$TMP/off") spans, no warning)" \
    test "$(ncalls "$TMP/off")-$(grep -c warning "$TMP/err")" = "0-0"
TRACEAGENT_PLUGINS="$PLUG" TRACEAGENT_TRACE=hookfam traced "$TMP/on" "$TBUILD/hookprog" "$PLUG" >/dev/null 2>"$TMP/err"
check "TRACEAGENT_TRACE=hookfam: named by its family, it is on ($(ncalls "$TMP/on") spans, no warning)" \
    test "$(ncalls "$TMP/on")-$(grep -c warning "$TMP/err")" = "8-0"
out=$(TRACEAGENT_TRACE=posix,hookfam traced "$TMP/bad" /bin/echo done 2>"$TMP/err")
check "a plug-in's word without the plug-in: one warning, the default, the program unchanged" \
    test "$out-$(grep -c 'TRACEAGENT_TRACE=posix,hookfam' "$TMP/err")" = "done-1"

# ---- the agent's own external objects ----------------------------------------------------
mkdir -p "$TMP/lib"
cp "${AGENT##*:}" "$TMP/lib/libtraceagent.so"
own="${AGENT%:*}"; [ "$own" = "$AGENT" ] && own="" || own="$own:"
inj() { env "$@" TRACEAGENT_OUTPUT="$TMP/inj" LD_PRELOAD="$own$TMP/lib/libtraceagent.so" \
        sh -c 'echo "${CUDA_INJECTION64_PATH-unset}"' 2>/dev/null; }
check "no CUPTI module beside the agent: CUDA_INJECTION64_PATH stays unset" test "$(inj)" = unset
: > "$TMP/lib/libtraceagent-cupti.so"
check "a CUPTI module beside the agent: CUDA_INJECTION64_PATH names it" \
    test "$(inj)" = "$TMP/lib/libtraceagent-cupti.so"
check "... not when cuda and gpu are not traced" test "$(inj TRACEAGENT_TRACE=posix)" = unset
check "... nor over a CUDA_INJECTION64_PATH already set (another tool holds the slot)" \
    test "$(inj CUDA_INJECTION64_PATH=/other.so)" = /other.so
# the copy in $TMP/lib, which has no LTTng object beside it (the build has one where
# liblttng-ust-dev is installed)
TRACEAGENT_EXPORT=json,lttng TRACEAGENT_OUTPUT="$TMP/lt" LD_PRELOAD="$own$TMP/lib/libtraceagent.so" \
    /bin/true 2>"$TMP/err"
check "lttng export without its object: one warning naming it, the trace still written" \
    test "$(grep -c 'libtraceagent-lttng.so' "$TMP/err")-$(ls "$TMP/lt" | grep -c trace.json)" = 1-1
finish
