"""Checks of make test-gpu (tests/gpu/run.sh) on what the agent wrote, as a user would read
it: the trace (cat "gpu" events on their tracks, flows, markers) and stats.json (kernels,
gpu, phases). Each check prints one "ok - ..." or "not ok - ..." line; figures are
printed as "info - ..." lines. Standard library only.

    check.py vecadd OUTDIR STDOUT          the vecadd sample's run
    check.py torch OUTDIR AGENT.json PROF.json
    check.py loop OUTDIR PLAIN.json AGENT.json PROF.json RUN.json
    check.py traced-run OUTDIR AGENT RUN.json CMD...
                                           runs CMD under the agent; RUN.json gets when it
                                           ended and when its trace was complete
"""
import glob
import json
import os
import re
import subprocess
import sys
import time

FAILS = 0


def ok(cond, desc, detail=None):
    global FAILS
    print(("ok - " if cond else "not ok - ") + desc +
          ("" if cond or detail is None else f"  [{str(detail)[:400]}]"))
    FAILS += not cond
    return cond


def info(desc):
    print("info - " + desc)


def load_json(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"_error": f"{p}: {e}"}


def trace_events(outdir):
    """Every event of every trace in outdir (lines of the streamed array; a line that does
    not parse is skipped and counted)."""
    evs, bad = [], 0
    for p in sorted(glob.glob(os.path.join(outdir, "*.trace.json"))):
        with open(p, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip().rstrip(",")
                if not line.startswith("{") or line.startswith('{"traceEvents"'):
                    continue
                try:
                    evs.append(json.loads(line))
                except ValueError:
                    bad += 1
    return evs, bad


def stats_files(outdir):
    return [load_json(p) for p in sorted(glob.glob(os.path.join(outdir, "*.stats.json")))]


def gpu_parts(evs):
    spans = [e for e in evs if e.get("ph") == "X"]
    gpu = [e for e in spans if e.get("cat") == "gpu"]
    kernels = [e for e in gpu if "grid" in e.get("args", {})]
    copies = [e for e in gpu if e["name"].startswith("Memcpy")]
    memsets = [e for e in gpu if e["name"].startswith("Memset")]
    return spans, gpu, kernels, copies, memsets


def flows_ok(evs, work):
    """Each piece of device work with a flow field ends a flow that a host event started."""
    starts = {e.get("id") for e in evs if e.get("ph") == "s"}
    ends = [e for e in evs if e.get("ph") == "f"]
    ended = {e.get("id") for e in ends}
    with_flow = [w for w in work if "flow" in w.get("args", {})]
    return len(with_flow), sum(1 for e in ends if e.get("id") in starts), ended <= starts


def vecadd(outdir, stdout):
    evs, bad = trace_events(outdir)
    ok(evs and not bad, f"vecadd: a trace was written ({len(evs)} events, {bad} unreadable lines)")
    spans, gpu, kernels, copies, memsets = gpu_parts(evs)
    ok(len(kernels) > 0, f"vecadd: kernels on GPU tracks ({len(kernels)})")
    ok(len(copies) > 0 and all(c.get("args", {}).get("bytes", 0) > 0 for c in copies),
       f"vecadd: copies with their bytes ({len(copies)}: "
       f"{sorted({c['name'] for c in copies})})")
    ok(all(e.get("dur", 0) > 0 for e in kernels + copies + memsets),
       "vecadd: every kernel, copy and memset has a non-zero duration",
       [e for e in kernels + copies if not e.get("dur", 0) > 0][:3])
    n, matched, sub = flows_ok(evs, kernels + copies + memsets)
    ok(n == len(kernels + copies + memsets) and matched >= n and sub,
       f"vecadd: a flow from its launch to each piece of work ({matched} of {n})")
    markers = [e for e in spans if e.get("cat") == "marker"]
    ok(markers, f"vecadd: NVTX ranges as markers ({sorted({m['name'] for m in markers})})")
    tracks = {e.get("args", {}).get("name") for e in evs
              if e.get("ph") == "M" and e.get("name") == "thread_name"}
    gtracks = sorted(t for t in tracks if t and re.match(r"GPU \d+ stream \d+$", t))
    ok(len(gtracks) >= 2, f"vecadd: work on named GPU tracks, two streams ({gtracks})")
    # the program prints what it launched ("kernels 3 copies 4 memsets 1"): exactly that
    try:
        text = open(stdout, errors="replace").read()
    except OSError:
        text = ""
    for what, got in (("kernels", len(kernels)), ("copies", len(copies)), ("memsets", len(memsets))):
        m = re.search(rf"\b{what}[ =:]+(\d+)", text)
        ok(m is not None and int(m.group(1)) == got, f"vecadd: {what} as the program launched "
           f"them ({got}, it says {m.group(1) if m else 'nothing'})")
    st = [s for s in stats_files(outdir) if "gpu" in s]
    g = st[0]["gpu"] if st else {}
    ok(g.get("kernel_count") == len(kernels) and g.get("copy_count") == len(copies),
       "vecadd: stats.json's gpu counts equal the trace's", g)
    info(f"vecadd: gpu {json.dumps(g)}")


def torch_check(outdir, agent_json, prof_json):
    a, p = load_json(agent_json), load_json(prof_json)
    ok("_error" not in a and "_error" not in p and a.get("device") == "cuda"
       and p.get("device") == "cuda" and a.get("batches") == p.get("batches"),
       f"torch: both runs on the GPU, the same batches ({a.get('batches')}, {p.get('batches')})",
       (a, p))
    st = stats_files(outdir)
    main = [s for s in st if s.get("kernels")]
    ks = main[0]["kernels"] if main else []
    n, t = sum(k["count"] for k in ks), sum(k["total_ns"] for k in ks)
    pn, pt = p.get("kernels", 0), p.get("kernel_ns", 0)
    info(f"torch: agent {n} kernels {t / 1e6:.3f} ms; torch.profiler {pn} kernels "
         f"{pt / 1e6:.3f} ms; agent run {a.get('wall_s')} s, profiler run {p.get('wall_s')} s")
    ok(pn > 0 and abs(n - pn) <= 0.01 * pn, f"torch: kernel count within 1% of torch.profiler's "
       f"({n} vs {pn})")
    ok(pt > 0 and abs(t - pt) <= 0.01 * pt, f"torch: total kernel time within 1% of "
       f"torch.profiler's ({t} vs {pt} ns)")
    evs, _ = trace_events(outdir)
    spans, gpu, kernels, copies, memsets = gpu_parts(evs)
    reads = sorted((e for e in spans if e["name"] == "H5Dread"), key=lambda e: e["ts"])
    if reads:
        h2d = sorted((c for c in copies if c["name"].startswith("Memcpy HtoD")
                      and c["ts"] >= reads[0]["ts"]), key=lambda e: e["ts"])
        pairs = list(zip(reads, h2d))
        late = [(r["ts"] + r["dur"], c["ts"]) for r, c in pairs if r["ts"] + r["dur"] > c["ts"]]
        ok(len(h2d) >= len(reads) and not late,
           f"torch: each batch's H5Dread ends before the host-to-device copy it feeds "
           f"({len(reads)} reads, {len(h2d)} copies after the first read)", late[:3])
    else:
        ok(False, "torch: H5Dread spans in the trace (the HDF5 family traced h5py's reads)")
    ph = {r["name"]: r for r in (main[0].get("phases", []) if main else [])}
    for name in ("read batch", "infer"):
        r = ph.get(name)
        if r:
            info(f"torch: phase {name!r}: {r['count']} x, {r['total_ns'] / 1e6:.2f} ms, launched "
                 f"{r['gpu_kernel_count']} kernels {r['gpu_kernel_ns'] / 1e6:.3f} ms, GPU idle "
                 f"{r['gpu_idle_pct']}%")
    ok(ph.get("infer", {}).get("gpu_kernel_count", 0) > 0,
       "torch: stats.json's phase 'infer' launched the kernels", list(ph))


def loop_check(outdir, plain_json, agent_json, prof_json, run_json):
    pl, ag, pr, run = (load_json(x) for x in (plain_json, agent_json, prof_json, run_json))
    w0, w1, w2 = pl.get("wall_s"), ag.get("wall_s"), pr.get("wall_s")
    info(f"loop: wall untraced {w0} s, under the agent {w1} s, under torch.profiler {w2} s "
         f"(+ {pr.get('post_s')} s of its post-processing)")
    if not ok(all(isinstance(x, (int, float)) for x in (w0, w1, w2)), "loop: three runs timed",
              (pl, ag, pr)):
        return
    info(f"loop: agent / untraced = {w1 / w0:.3f}; torch.profiler / untraced = {w2 / w0:.3f}")
    ok(w1 / w0 <= 1.10, f"loop: under the agent at most 1.10 x untraced ({w1 / w0:.3f})")
    st = [s for s in stats_files(outdir) if s.get("phases")]
    ph = {r["name"]: r for r in (st[0]["phases"] if st else [])}
    n = ph.get("loop", {}).get("gpu_kernel_count", 0)
    pn = pr.get("kernels", 0)
    ok(pn > 0 and n == pn, f"loop: every kernel recorded: the agent's phase 'loop' launched "
       f"{n}, torch.profiler saw {pn}")
    g = st[0].get("gpu", {}) if st else {}
    ok(g.get("records_dropped", 1) == 0, f"loop: no GPU record dropped ({g.get('records_dropped')})")
    end, closed = ag.get("end_mono_ns"), run.get("closed_ns")
    if end and closed:
        info(f"loop: the trace was complete {(closed - end) / 1e9:.3f} s after the loop ended "
             f"(the process exited {(run.get('exit_ns', end) - end) / 1e9:.3f} s after it)")
        ok(closed - end <= 2e9, "loop: the trace complete within 2 s of the program's end")
    else:
        ok(False, "loop: the trace was closed", run)


def traced_run(outdir, agent, run_json, cmd):
    env = dict(os.environ, TRACEAGENT_OUTPUT=outdir, TRACEAGENT_EXPORT="json,stats",
               LD_PRELOAD=agent)
    os.makedirs(outdir, exist_ok=True)
    rc = subprocess.call(cmd, env=env)
    res = {"rc": rc, "exit_ns": time.monotonic_ns()}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a closed trace ends with "]" or the object form
        ps = glob.glob(os.path.join(outdir, "*.trace.json"))
        done = ps and all(open(p, "rb").read()[-3:].strip().endswith((b"]", b"}")) for p in ps)
        if done:
            res["closed_ns"] = time.monotonic_ns()
            break
        time.sleep(0.01)
    with open(run_json, "w") as f:
        json.dump(res, f)
    return rc


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "traced-run":
        return traced_run(args[0], args[1], args[2], args[3:])
    {"vecadd": vecadd, "torch": torch_check, "loop": loop_check}[cmd](*args)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
