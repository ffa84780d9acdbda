"""An h5py pipeline: read datasets from several HDF5 files, convert them to numpy arrays,
compute, and write the results to a new HDF5 file, in a multiprocessing Pool of 2, with
traceagent.range markers around the phases.

    /usr/bin/python3 samples/h5py_pipeline.py DIR [files] [rows]

Under the agent (`traceagent run -- /usr/bin/python3 samples/h5py_pipeline.py DIR`, as
`make demo` does) every H5Dread/H5Dwrite shows with its file, dataset, bytes and
selection, the preads HDF5 made nested beneath it, and "hdf5 to numpy" tells how long the
conversion took. Without the agent it runs the same (the markers cost nothing).
Needs h5py and numpy (Debian: python3-h5py, python3-numpy; `make deps`).
"""
import multiprocessing
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import traceagent  # noqa: E402

COLS = 128
BATCH = 256


def make_inputs(d, n, rows):
    paths = []
    for i in range(n):
        p = os.path.join(d, f"input-{i:02d}.h5")
        rng = np.random.default_rng(i)
        with h5py.File(p, "w") as f:
            f.create_dataset("features", data=rng.standard_normal((rows, COLS), dtype=np.float32),
                             chunks=(BATCH, COLS), compression="gzip", compression_opts=1)
            f.create_dataset("labels", data=rng.integers(0, 10, rows, dtype=np.int32))
        paths.append(p)
    return paths


def process(path):
    """One input file: per-label feature means, read a batch of rows at a time."""
    with traceagent.range("process " + os.path.basename(path)):
        sums = np.zeros((10, COLS))
        counts = np.zeros(10)
        with h5py.File(path, "r") as f:
            feats, labels = f["features"], f["labels"]
            for r0 in range(0, feats.shape[0], BATCH):
                with traceagent.range("hdf5 to numpy"):
                    x = np.asarray(feats[r0:r0 + BATCH], dtype=np.float64)
                    y = labels[r0:r0 + BATCH]
                with traceagent.range("compute"):
                    np.add.at(sums, y, x)
                    counts += np.bincount(y, minlength=10)
        return sums, counts


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "h5py-pipeline-data"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    os.makedirs(d, exist_ok=True)
    with traceagent.range("make inputs"):
        paths = make_inputs(d, n, rows)
    with traceagent.range("process files"):
        pool = multiprocessing.get_context("fork").Pool(2)
        parts = pool.map(process, paths, chunksize=1)
        pool.close()
        pool.join()
    with traceagent.range("write results"):
        sums = sum(p[0] for p in parts)
        counts = sum(p[1] for p in parts)
        means = sums / np.maximum(counts, 1)[:, None]
        out = os.path.join(d, "results.h5")
        with h5py.File(out, "w") as f:
            f.create_dataset("label_means", data=means)
            f.create_dataset("label_counts", data=counts.astype(np.int64))
    print(f"h5py_pipeline: {n} files x {rows} rows, {int(counts.sum())} samples; results in {out}")


if __name__ == "__main__":
    main()
