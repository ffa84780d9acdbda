"""Batched inference from HDF5 shards with PyTorch: read each shard a batch of rows at a
time through h5py, copy the batch to the GPU, run a small model, copy the result back and
write all results to a new HDF5 file, with traceagent markers and NVTX ranges around the
phases.

    python3 samples/torch_h5_inference.py DIR [--shards N] [--rows R] [--batch B]
                                              [--cpu] [--profile] [--summary FILE]

DIR holds the shards (`shard-NN.h5`, a float32 `x` of rows x 256): they are made first,
with h5py, when missing. Results go to DIR/results.h5. Under the agent
(`traceagent run -- python3 samples/torch_h5_inference.py /tmp/shards`) each H5Dread shows
before the host-to-device copy it feeds, every kernel and copy on its GPU stream with an
arrow from its launch, the NVTX ranges as markers, and stats.json's `phases` tell how much
GPU time each phase launched and how long the GPU sat idle while it ran ("read batch"
against "infer").

Without a GPU it runs on the CPU (and says so); without torch it says so and exits 0.
--profile runs it under torch.profiler instead (not with the agent: CUPTI has one client
before CUDA 13.3) and prints the kernel count and total kernel time torch.profiler saw.
--summary FILE writes what the run did as JSON (batches, device, wall time, and the
profiler's counts with --profile): tests/gpu/run.sh compares the two runs.
"""
import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import traceagent  # noqa: E402

try:
    import torch
except ImportError:
    print("torch_h5_inference: torch not installed; nothing to run")
    sys.exit(0)
import h5py  # noqa: E402
import numpy as np  # noqa: E402

COLS = 256


def make_shards(d, n, rows):
    os.makedirs(d, exist_ok=True)
    paths = []
    for i in range(n):
        p = os.path.join(d, f"shard-{i:02d}.h5")
        if not os.path.exists(p):
            rng = np.random.default_rng(i)
            with h5py.File(p + ".tmp", "w") as f:
                f.create_dataset("x", data=rng.standard_normal((rows, COLS), dtype=np.float32),
                                 chunks=(min(rows, 256), COLS))
            os.replace(p + ".tmp", p)
        paths.append(p)
    return paths


@contextlib.contextmanager
def phase(name, nvtx):
    """A traceagent range and, on the GPU, an NVTX range of the same name."""
    with traceagent.range(name):
        if nvtx:
            with torch.cuda.nvtx.range(name):
                yield
        else:
            yield


def model_for(dev):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(COLS, 512), torch.nn.ReLU(),
                            torch.nn.Linear(512, 512), torch.nn.ReLU(),
                            torch.nn.Linear(512, 10))
    return m.to(dev).eval()


def run(paths, out, batch, dev):
    gpu = dev.type == "cuda"
    with phase("load model", gpu):
        model = model_for(dev)
    results, batches = [], 0
    with torch.no_grad():
        for p in paths:
            with phase("shard", gpu), h5py.File(p, "r") as f:
                x = f["x"]
                for r0 in range(0, x.shape[0], batch):
                    with phase("read batch", gpu):
                        a = x[r0:r0 + batch]  # H5Dread
                    with phase("infer", gpu):
                        t = torch.from_numpy(a).to(dev, non_blocking=False)  # Memcpy HtoD
                        y = torch.softmax(model(t), dim=1)
                        results.append(y.cpu().numpy())  # Memcpy DtoH (synchronises)
                    batches += 1
    with phase("write results", gpu):
        with h5py.File(out, "w") as f:
            f.create_dataset("probs", data=np.concatenate(results))
    if gpu:
        torch.cuda.synchronize()
    return batches


def profiler_counts(prof):
    """Kernels (device events that are not copies or memsets) and their total time, ns."""
    count, total = 0, 0.0
    for e in prof.events():
        dt = getattr(e, "device_type", None)
        if dt is None or "CUDA" not in str(dt):
            continue
        name = e.name
        if name.startswith("Memcpy") or name.startswith("Memset"):
            continue
        count += 1
        total += e.time_range.elapsed_us() * 1000.0
    return count, int(round(total))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    ap.add_argument("--profile", action="store_true", help="run under torch.profiler")
    ap.add_argument("--summary", help="write what the run did as JSON")
    a = ap.parse_args()
    if not a.cpu and torch.cuda.is_available():
        dev = torch.device("cuda")
    else:
        dev = torch.device("cpu")
        print("torch_h5_inference: " + ("--cpu given" if a.cpu else "no GPU (CUDA not available)")
              + ": running on the CPU")
    paths = make_shards(a.dir, a.shards, a.rows)
    out = os.path.join(a.dir, "results.h5")
    summary = {"device": str(dev), "shards": len(paths), "rows": a.rows, "batch": a.batch,
               "agent": traceagent.enabled(), "torch": torch.__version__}
    t0 = time.perf_counter()
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=acts) as prof:
            summary["batches"] = run(paths, out, a.batch, dev)
        summary["wall_s"] = time.perf_counter() - t0
        summary["kernels"], summary["kernel_ns"] = profiler_counts(prof)
        print(f"torch.profiler: {summary['kernels']} kernels, "
              f"{summary['kernel_ns'] / 1e6:.3f} ms of kernel time")
    else:
        summary["batches"] = run(paths, out, a.batch, dev)
        summary["wall_s"] = time.perf_counter() - t0
    print(f"torch_h5_inference: {summary['batches']} batches of {a.batch} rows on {dev} "
          f"in {summary['wall_s']:.3f} s; results in {out}")
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump(summary, f)


if __name__ == "__main__":
    main()
