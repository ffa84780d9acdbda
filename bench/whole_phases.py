#!/usr/bin/env python3
"""The files workload of bench/whole.c split into its phases, per configuration.

    python3 bench/whole_phases.py WHOLE DIR N ROUNDS NAME='VAR=V VAR2=V2' ...

runs `WHOLE files DIR N` once a round in each configuration (NAME and the environment it
adds; the order rotating each round), and prints per configuration the medians, in ms, of:
start (spawn to the loop's start: the loader and the agent's constructor), loop (the 7
calls a file), unlink (the unlink loop), exit (main's end to the parent's wait: the agent's
final flush and the process's teardown) and wall. Each configuration gets its own empty
TRACEAGENT_OUTPUT. bench/NOTES.md row 59 used it, e.g.:

    gcc -O2 -pthread -o /tmp/whole bench/whole.c
    python3 bench/whole_phases.py /tmp/whole /dev/shm/wf 20000 11 untraced= \\
        minwrap=LD_PRELOAD=build/bench/minwrap.so idle=WHOLE_IDLE_THREAD=1 \\
        stats="LD_PRELOAD=$PWD/build/lib/libtraceagent.so TRACEAGENT_EXPORT=stats"
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    whole, wdir, n, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cfgs = []
    for a in sys.argv[5:]:
        name, _, env = a.partition("=")
        cfgs.append((name, dict(kv.split("=", 1) for kv in env.split())))
    os.makedirs(wdir, exist_ok=True)
    res = {name: [] for name, _ in cfgs}
    for r in range(rounds):
        for i in range(len(cfgs)):
            name, add = cfgs[(i + r) % len(cfgs)]
            out = tempfile.mkdtemp(prefix="ta-phases.")
            env = dict(os.environ, TRACEAGENT_OUTPUT=out, **add)
            t0 = time.monotonic_ns()  # CLOCK_MONOTONIC, as whole.c's stamps
            p = subprocess.run([whole, "files", wdir, n], env=env, capture_output=True, text=True)
            t3 = time.monotonic_ns()
            shutil.rmtree(out, ignore_errors=True)
            d = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", p.stdout)}
            if p.returncode or "end_ns" not in d:
                sys.exit(f"{name}: whole failed ({p.returncode}): {p.stderr.strip()[-200:]}")
            res[name].append(((d["start_ns"] - t0) / 1e6, d["ns"] / 1e6, d["unlink_ns"] / 1e6,
                              (t3 - d["end_ns"]) / 1e6, (t3 - t0) / 1e6))
    print(f"files workload, {n} files in {wdir}: medians of {rounds} rounds, ms")
    print("%-12s %8s %8s %8s %8s %8s" % ("config", "start", "loop", "unlink", "exit", "wall"))
    for name, _ in cfgs:
        cols = list(zip(*res[name]))
        print("%-12s %8.1f %8.1f %8.1f %8.1f %8.1f" % ((name,) + tuple(statistics.median(c) for c in cols)))


if __name__ == "__main__":
    main()
