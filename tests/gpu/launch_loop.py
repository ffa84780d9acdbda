"""The launch-bound PyTorch loop of issue 16: STEPS steps of 10 x (matmul + relu + mul + add)
on 256 x 256 float32 on the GPU (about 4 kernels a layer, 80,000 in all at 2000 steps).

    python3 tests/gpu/launch_loop.py [--steps N] [--profile] [--summary FILE]

The loop is the marker range "loop": under the agent, stats.json's phase "loop" counts
the kernels it launched (the warm-up's stay out). Prints and writes (--summary) the wall
time of the loop alone (after a warm-up, up to a
torch.cuda.synchronize), so that a run untraced, one under the agent and one under
torch.profiler (--profile: its post-processing timed apart) compare the same thing.
Exits 0 saying why when torch or a GPU is missing.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import traceagent  # noqa: E402  (a no-op without the agent)

try:
    import torch
except ImportError:
    print("launch_loop: torch not installed")
    sys.exit(0)


def loop(x, w, steps):
    for _ in range(steps):
        y = x
        for _ in range(10):
            y = torch.relu(y @ w) * 0.5 + 0.1
    return y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--summary")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("launch_loop: no GPU (CUDA not available)")
        sys.exit(0)
    dev = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.randn(256, 256, device=dev)
    w = torch.randn(256, 256, device=dev) / 16
    loop(x, w, 20)  # warm-up: cuBLAS handles, the caching allocator
    torch.cuda.synchronize()
    s = {"steps": a.steps, "profile": a.profile, "torch": torch.__version__}
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            with traceagent.range("loop"):
                loop(x, w, a.steps)
            torch.cuda.synchronize()
            s["wall_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        n = tot = 0
        for e in prof.events():
            if "CUDA" in str(getattr(e, "device_type", "")) and not e.name.startswith(("Memcpy", "Memset")):
                n += 1
                tot += e.time_range.elapsed_us() * 1000
        s["post_s"] = time.perf_counter() - t1
        s["kernels"], s["kernel_ns"] = n, int(tot)
    else:
        t0 = time.perf_counter()
        with traceagent.range("loop"):  # under the agent: stats.json's phase "loop"
            loop(x, w, a.steps)
        torch.cuda.synchronize()
        s["wall_s"] = time.perf_counter() - t0
    s["end_mono_ns"] = time.monotonic_ns()
    print(json.dumps(s))
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump(s, f)


if __name__ == "__main__":
    main()
