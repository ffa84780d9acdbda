#!/usr/bin/env bash
# Seccomp sandboxes: once a program has installed a filter (or strict mode), any system call
# it did not make itself kills it. The agent makes none of its own on the program's thread
# from then on: the fds open at start are looked up in the constructor (a lazy readlinkat
# of an inherited fd, on its first use, killed the thread in strict mode and hung the
# process; an allow-list filter gave SIGSYS), and prctl(PR_SET_SECCOMP) maps the thread's
# ring and starts the drainer before the sandbox is in (tests/io/seccomp.c).
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/io_seccomp"
ta_cc "$bin" "$ROOT/tests/io/seccomp.c"

# allow-list filter: write, exit, exit_group, rt_sigreturn; anything else is SIGSYS
"$bin" filter 3>"$TMP/f.ref3" >"$TMP/f.ref" 2>&1
check "filter: untraced, the program runs (rc $?)" test $? = 0
mkdir -p "$TMP/filter"
traced "$TMP/filter" timeout -s KILL 60 "$bin" filter 3>"$TMP/f3" >"$TMP/f.out" 2>"$TMP/f.err"
rc=$?
check "filter: traced, no SIGSYS: the same exit status as untraced (rc $rc)" test $rc = 0
check "filter: the same output on stdout (stdio and write) and on the inherited fd 3" \
    bash -c "cmp -s '$TMP/f.ref' '$TMP/f.out' && cmp -s '$TMP/f.ref3' '$TMP/f3'"

# strict mode first thing in main (no call recorded before it); the program's thread ends
# with SYS_exit, the only way out strict mode leaves. Strict mode disables rdtsc for the
# thread (a SIGSEGV; the vDSO's clock reads it too), and any system call but read, write,
# exit and sigreturn kills it: with the TSC the agent's stamps there come from the drainer.
# strict MODE CLOCK [WANT_WRITE]: WANT_WRITE 1 (the default) checks the trace has the write
# on fd 3; 0 (the program handles SIGSEGV itself, or the clock is CLOCK_MONOTONIC: the agent
# leaves that thread unrecorded) checks only that it ran as untraced.
strict() {
    local mode=$1 clock=$2 want=${3:-1} d="$TMP/$1-$2"
    mkdir -p "$d/out"
    : >"$d/s.out"
    # in the background, ended here (kill by its pid) if it is still there at the end
    TRACEAGENT_CLOCK=$clock TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$d/out" \
        LD_PRELOAD="$AGENT" "$bin" $mode 3>"$d/s3" >"$d/s.out" 2>"$d/s.err" &
    local pid=$! i
    for i in $(seq 200); do
        grep -q after "$d/s.out" && { [ $want = 0 ] || grep -q '"fd":3' "$d"/out/*.trace.json 2>/dev/null; } && break
        sleep 0.1
    done
    check "$mode, clock $clock: the thread wrote to the inherited fd 3 and went on (not killed by the agent)" \
        bash -c "[ \"\$(cat '$d/s3')\" = 'in sandbox' ] && [ \"\$(cat '$d/s.out')\" = after ]"
    if [ $want = 1 ]; then
        $PY - "$d" "$mode, clock $clock" <<'PY'
import glob, json, sys
d, name = sys.argv[1:3]
w = []
for f in glob.glob(d + "/out/*.trace.json"):
    for line in open(f):
        if '"name":"write"' in line and line.rstrip().endswith(","):
            w.append(json.loads(line.rstrip().rstrip(","))["args"])
ok = any(a.get("fd") == 3 and a.get("path") == d + "/s3" and a.get("bytes") == 11 for a in w)
print(("ok" if ok else "not ok") + f" - {name}: the trace has the write on fd 3, with the path "
      f"the fd had at start ({[a for a in w if a.get('fd') == 3]})")
# its time: from the drainer's clock, between the process's start and end, after the other
# write's start only if it came second
ev = {}
for f in glob.glob(d + "/out/*.trace.json"):
    for line in open(f):
        line = line.rstrip().rstrip(",")
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("name") in ("process_start", "process_end") or \
               (e.get("name") == "write" and e["args"].get("fd") in (1, 3)):
                ev[e["name"] + str(e.get("args", {}).get("fd", ""))] = e
t = lambda k: ev[k]["ts"] if k in ev else None
ok2 = None not in (t("process_start"), t("write3"), t("write1"), t("process_end")) and \
    t("process_start") <= t("write3") <= t("write1") <= t("process_end")
print(("ok" if ok2 else "not ok") + f" - {name}: its writes' times lie in the process's, in order "
      f"({[t(k) for k in ('process_start', 'write3', 'write1', 'process_end')]})")
sys.exit(0 if ok and ok2 else 1)
PY
        [ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
    fi
    sleep 0.5
    if kill -0 $pid 2>/dev/null; then
        # not this test's: the drainer thread outlives the program's thread (its SYS_exit ends
        # only that thread), and the process with it
        echo "# $mode: the process was still running after its thread's SYS_exit; killed"
    fi
    { kill -KILL $pid; wait $pid; } 2>/dev/null
}
strict strict tsc
strict strict monotonic 0
strict strict-segv tsc 0
strict strict-sigset tsc 0
strict strict-blocked tsc 0
finish
