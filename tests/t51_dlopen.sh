#!/usr/bin/env bash
# dlopen under the agent loads what it loads without it. The agent interposes dlopen and
# dlmopen (dl.c: families are told of later loads), and glibc takes the caller's search
# path, $ORIGIN, namespace and the names it records from the return address: traced, the
# program's own object must still be the caller. Each case prints one line, compared with
# the untraced run's:
#   bare     the executable (RUNPATH $ORIGIN/../lib) dlopens a bare name
#   path     the executable dlopens "$ORIGIN/../lib/libdlplug.so"
#   order    a library with RUNPATH dlopens a name that LD_LIBRARY_PATH also has: glibc
#            searches LD_LIBRARY_PATH first
#   noload   a library with RUNPATH $ORIGIN loads a bare name (no soname); the same name
#            with RTLD_NOLOAD finds it (the name it was opened by is one of its names)
#   dlerror  a plug-in's wrappers resolve their real functions (failed lookups among
#            them): the program's dlerror() stays empty after its calls
# that a family hears of a load within a drainer cycle when nothing else asks, and a
# deadlock a reviewer reproduced: a family's `loaded` calling into the loader while
# another thread, inside dlopen, registers a family.
source "$(dirname "$0")/lib/common.sh"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }

D="$TMP/d"
SRC="$ROOT/tests/plugin"
mkdir -p "$D/bin" "$D/lib" "$D/rp" "$D/llp" "$D/caller" "$D/ns" "$D/tp"
so() { # OUT SRC flags...
    local out=$1 src=$2; shift 2
    gcc -std=gnu11 -O1 -g -Wall -fPIC -shared -I"$ROOT/include" -I"$SRC" -o "$out" "$src" "$@" \
        -pthread || { fail "compile $(basename "$src") $*"; finish; }
}
so "$D/lib/libdlplug.so" "$SRC/dl_plug.c" -DDL_TAG='"lib"'
so "$D/rp/libdlplug.so" "$SRC/dl_plug.c" -DDL_TAG='"runpath"'
so "$D/llp/libdlplug.so" "$SRC/dl_plug.c" -DDL_TAG='"ldpath"'
so "$D/ns/libdlns.so" "$SRC/dl_plug.c" -DDL_TAG='"ns"' # no soname: known by its names only
so "$D/caller/libdlcaller.so" "$SRC/dl_caller.c" -ldl -Wl,--enable-new-dtags,-rpath,"$D/rp"
so "$D/ns/libdlcaller.so" "$SRC/dl_caller.c" -ldl -Wl,--enable-new-dtags,-rpath,'$ORIGIN'
ta_cc "$D/bin/dl_prog" "$SRC/dl_prog.c" -ldl -Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib'
so "$D/tp/libtpapi_a.so" "$SRC/tpapi.c" -DTP_TAG='"a"' -Wl,-soname,libtpapi_a.so
so "$D/tp/ext_a.so" "$SRC/ext.c" -L"$D/tp" -l:libtpapi_a.so -Wl,--enable-new-dtags,-rpath,'$ORIGIN'
# linked against no copy: its calls bind to whatever the global scope has (the plug-in)
so "$D/tp/ext_loose.so" "$SRC/ext.c"
so "$D/tp/tp_plugin.so" "$SRC/tp_plugin.c" -ldl
so "$D/slow.so" "$SRC/dl_fam.c" -DDL_NAME='"slow"' -DDL_WANTS='"libdlplug*"' -DDL_SLOW -ldl
so "$D/late.so" "$SRC/dl_fam.c" -DDL_NAME='"late"' -DDL_WANTS='"libdlnone*"' -ldl
so "$D/fam.so" "$SRC/dl_fam.c" -DDL_NAME='"fam"' -DDL_WANTS='"libdlplug*"' -DDL_QUIET -ldl

# under make test-asan the ASan runtime is preloaded in both runs: its dlopen interceptor
# is glibc's caller then, with or without the agent (only the comparison holds)
pre=
[ "${TA_ASAN:-0}" = 1 ] && pre="${AGENT%%:*}"
n=0
plug= # preloaded after the agent in the traced run
same() { # DESCRIPTION EXPECTED-IN-UNTRACED [ENV=VALUE...] -- ARGS...
    local desc=$1 want=$2; shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    n=$((n + 1))
    timeout 30 env "${envs[@]}" LD_PRELOAD="$pre" "$D/bin/dl_prog" "$@" > "$TMP/u$n" 2>&1
    timeout 30 env "${envs[@]}" TRACEAGENT_OUTPUT="$TMP/o$n" LD_PRELOAD="$AGENT$plug" \
        "$D/bin/dl_prog" "$@" > "$TMP/t$n" 2>&1
    if [ -z "$pre" ]; then
        check "$desc: untraced: $(head -c 160 "$TMP/u$n" | tr '\n' ' ')" grep -q "$want" "$TMP/u$n"
    fi
    check "$desc: traced as untraced ($(head -c 160 "$TMP/t$n" | tr '\n' ' '))" \
        cmp -s "$TMP/u$n" "$TMP/t$n"
}
same "bare name from an executable with RUNPATH \$ORIGIN" "bare: loaded, tag lib" -- \
    bare libdlplug.so
same "dlopen(\"\$ORIGIN/../lib/libdlplug.so\") from the executable" "path: loaded, tag lib" -- \
    path '$ORIGIN/../lib/libdlplug.so'
same "LD_LIBRARY_PATH before the caller's RUNPATH" "via: loaded, tag ldpath" \
    LD_LIBRARY_PATH="$D/llp" -- via "$D/caller/libdlcaller.so" libdlplug.so
same "RUNPATH without LD_LIBRARY_PATH" "via: loaded, tag runpath" -- \
    via "$D/caller/libdlcaller.so" libdlplug.so
same "RTLD_NOLOAD by the bare name a library with RUNPATH loaded" "noload: loaded, tag ns" -- \
    noload "$D/ns/libdlcaller.so" libdlns.so
# with the plug-in preloaded after the agent: the first call of each wrapper from an
# object that does not define it looks through that object and its dependencies first
# (failed lookups), and finds the library the program loaded RTLD_GLOBAL
plug=":$D/tp/tp_plugin.so"
same "a plug-in's wrappers leave no dlerror() to the program" "dlerror after the calls: none" -- \
    dlerror ext_run "$D/tp/libtpapi_a.so" "$D/tp/ext_loose.so"
check "the plug-in traced its calls" grep -qs '"tpapi_open"' "$TMP"/o$n/*.trace.json
plug=
# a family told of a library (its `loaded` has a failed dlsym)
same "a family's failed lookups leave no dlerror() to the program" \
    "dlerror after dlopen of libdlplug.so: none" TRACEAGENT_PLUGINS="$D/fam.so" -- \
    dlerror - "$D/lib/libdlplug.so" "$D/ns/libdlns.so"

# no dlopen and no wrapped call after the load: the drainer's cycle tells the family
timeout 30 env TRACEAGENT_OUTPUT="$TMP/ot" TRACEAGENT_PLUGINS="$D/fam.so" LD_PRELOAD="$AGENT" \
    "$D/bin/dl_prog" told "$D/fam.so" "$D/lib/libdlplug.so" > "$TMP/tt" 2>&1
ms=$(sed -n 's/^told: told after \([0-9]*\) ms$/\1/p' "$TMP/tt")
check "a load told within a drainer cycle, without another dlopen ($(tail -1 "$TMP/tt"); < 500 ms on a loaded machine)" \
    test -n "$ms" -a "${ms:-9999}" -lt 500

# the deadlock: at most 30 s (it never ends when it happens)
timeout 30 env TRACEAGENT_OUTPUT="$TMP/od" TRACEAGENT_PLUGINS="$D/slow.so" LD_PRELOAD="$AGENT" \
    "$D/bin/dl_prog" threads "$D/lib/libdlplug.so" "$D/late.so" > "$TMP/td" 2> "$TMP/tde"
rc=$?
check "a family's slow loaded() while another thread's dlopen registers a family: no deadlock (rc $rc)" \
    test "$rc" = 0
check "both dlopens returned" grep -qx "done" "$TMP/td"
check "the slow family was told of its library ($(head -c 200 "$TMP/tde" | tr '\n' ' '))" \
    grep -q "slow: told of $D/lib/libdlplug.so (found)" "$TMP/tde"
finish
