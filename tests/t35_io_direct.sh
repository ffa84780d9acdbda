#!/usr/bin/env bash
# pread, pwrite, lseek and stat are system calls the agent makes itself (agent/posix.c,
# "Direct calls"), where that is exactly what glibc's function would do. Where pread's system
# call is made (a seccomp filter traps one pread and reports the address of its `syscall`
# instruction): in the agent by default, in glibc with TRACEAGENT_DIRECT=0, after a
# pthread_cancel, when another interposer comes after the agent, and when a library that
# rewrites glibc's system calls (syscall_intercept) is loaded. Two things must not
# change for the program: that interposer, preloaded before or after the agent, still gets
# every call, and pthread_cancel still cancels a thread whose only cancellation point is
# pread. Return values and errno are t30's (every call compared with the untraced run);
# here, calls on a NULL path (EFAULT; glibc declares those arguments nonnull, which once
# let GCC drop the agent's own NULL check).
source "$(dirname "$0")/lib/common.sh"
[ -n "${TA_ASAN:-}" ] && skip "under ASan (make test-asan): the ASan runtime, preloaded first, defines pread, so the agent makes no direct calls there (the case this test checks); the plain suite runs it"

bin="$TBUILD/io_direct"
shim="$TBUILD/io_shim.so"
ta_cc "$bin" "$ROOT/tests/io/direct.c" -ldl
gcc -shared -fPIC -O1 -o "$shim" "$ROOT/tests/io/shim.c" -ldl || { fail "build shim.c"; finish; }
N=200

# where pread's system call is made
where() { "$@" where "$TMP/w.dat" 2>&1; }
W="$TMP/wout"
mkdir -p "$W"
if [ "$(where "$bin")" = no-seccomp ]; then
    echo "# no seccomp filters here: where the system call is made is not checked"
else
    check "without the agent, glibc makes pread's system call (the test's own check)" \
        test "$(where "$bin")" = libc.so.6
    got=$(TRACEAGENT_OUTPUT="$W" LD_PRELOAD="$AGENT" where "$bin")
    check "under the agent, the agent makes it ($got)" test "$got" = libtraceagent.so
    got=$(TRACEAGENT_OUTPUT="$W" LD_PRELOAD="$NOPAGENT" where "$bin")
    check "under the no-op agent too ($got)" test "$got" = libtraceagent-nop.so
    got=$(TRACEAGENT_DIRECT=0 TRACEAGENT_OUTPUT="$W" LD_PRELOAD="$AGENT" where "$bin")
    check "with TRACEAGENT_DIRECT=0, glibc makes it ($got)" test "$got" = libc.so.6
    got=$(TRACEAGENT_OUTPUT="$W" LD_PRELOAD="$AGENT" "$bin" where "$TMP/w.dat" cancel 2>&1)
    check "once pthread_cancel was called, glibc makes it ($got)" test "$got" = libc.so.6
    got=$(TRACEAGENT_OUTPUT="$W" LD_PRELOAD="$AGENT:$shim" where "$bin")
    check "with an interposer after the agent, glibc makes it, called by the interposer ($got)" \
        test "$got" = libc.so.6
    # a library that rewrites glibc's own system calls (known by name) sees only glibc's
    cp "$shim" "$TBUILD/libsyscall_intercept.so.0"
    got=$(TRACEAGENT_OUTPUT="$W" LD_PRELOAD="$TBUILD/libsyscall_intercept.so.0:$AGENT" \
        where "$bin")
    check "with syscall_intercept loaded, glibc makes it ($got)" test "$got" = libc.so.6
fi
want="shim pread=$N pwrite=$N lseek=$N stat=$N fstat=$N"

got=$(LD_PRELOAD="$shim" "$bin" chain "$TMP/f0.dat" $N)
check "the interposer counts every call without the agent (the test's own check)" \
    test "$got" = "$want"
for order in agent-first shim-first; do
    if [ $order = agent-first ]; then pre="$AGENT:$shim"; else pre="$shim:$AGENT"; fi
    mkdir -p "$TMP/$order"
    # every span in the trace (the default leaves posix spans under 1 us out of it)
    got=$(TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$TMP/$order" LD_PRELOAD="$pre" \
        "$bin" chain "$TMP/f1.dat" $N)
    check "[$order] the interposer still gets every call ($got)" test "$got" = "$want"
    $PY - "$ROOT" "$TMP/$order" "$N" "$order" <<'PYEOF' || T_FAILS=$((T_FAILS + 1))
import collections, sys
ROOT, out, n, order = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
(pid, runs), = tacheck.files(out).items()
ev = tacheck.load_trace(runs[0]["trace"], require_closed=True)
c = collections.Counter(e["name"] for e in ev if e.get("ph") == "X" and e.get("cat") == "posix")
want = {"pread": n, "pwrite": n, "lseek": n, "stat": n, "fstat": n}
ok = all(c.get(k) == v for k, v in want.items())
print(("ok - " if ok else "not ok - ") + f"[{order}] every call traced once: " +
      ", ".join(f"{k} {c.get(k)}" for k in want))
sys.exit(0 if ok else 1)
PYEOF
done

"$bin" nullpath "$TMP/n.dat" >"$TMP/null.ref" 2>&1
check "calls on a NULL path fail with EFAULT without the agent (the test's own check)" \
    grep -q "^stat=-1 errno=14" "$TMP/null.ref"
mkdir -p "$TMP/nullout"
traced "$TMP/nullout" "$bin" nullpath "$TMP/n.dat" >"$TMP/null.got" 2>&1
rc=$?
check "calls on a NULL path: same results and errno under the agent (rc $rc)" \
    cmp -s "$TMP/null.ref" "$TMP/null.got"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/null.got" | head -3

mkdir -p "$TMP/cancel"
got=$(traced "$TMP/cancel" "$bin" cancel "$TMP/f2.dat" 2>"$TMP/cancel.err")
rc=$?
check "pthread_cancel cancels a thread in a pread loop under the agent (rc $rc)" test $rc -eq 0
# (a hung loop's trace, millions of preads, is not worth reading)
[ $rc -eq 0 ] && $PY - "$ROOT" "$TMP/cancel" "${got:-0}" <<'PYEOF' || T_FAILS=$((T_FAILS + 1))
import sys
ROOT, out, done = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
(pid, runs), = tacheck.files(out).items()
ev = tacheck.load_trace(runs[0]["trace"], require_closed=True)
n = sum(1 for e in ev if e.get("ph") == "X" and e.get("name") == "pread")
ok = done >= 1000 and n == done
print(("ok - " if ok else "not ok - ") +
      f"every pread the cancelled thread completed is in the trace ({n} of {done})")
sys.exit(0 if ok else 1)
PYEOF
finish
