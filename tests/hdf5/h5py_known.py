"""Known HDF5 datasets through Debian's h5py 3.7 (/usr/bin/python3), for t54_h5py.sh.

    h5py_known.py DIR

Writes DIR/data0.h5 and DIR/data1.h5, each with /x (int32, 2**18, contiguous, 1 MiB) and
/grp/y (float64, 256 x 256, chunks of 32 rows, gzip, 512 KiB). The main process reads
data0.h5: x[:], x[1000:3000], y[()], y[10:20, 0:100]; then a fork Pool(2) runs one task
per file, each in its own worker: x[:] and y[:, :128]. Prints one line per result and
"task pids P0 P1", "main pid P", then "done".

What h5py 3.7 calls for these (seen with an interposer on libhdf5): File(.., "w")
H5Fcreate, File(.., "r") H5Fopen; create_dataset(data=) H5Dcreate2 + one H5Dwrite with
H5S_ALL; create_group H5Gcreate2; f["x"] H5Oopen (datasets are opened as objects);
each slice is ONE H5Dread whose file space is a hyperslab (x[:] is a hyperslab of all
of x, not a select-all), y[()] one H5Dread with a select-all file space; objects and files
are closed with H5Idec_ref (no H5Dclose, H5Oclose or H5Fclose).
"""
import multiprocessing
import os
import sys
import time

import h5py
import numpy as np

D = sys.argv[1]
N = 1 << 18


def path(i):
    return os.path.join(D, f"data{i}.h5")


def x_of(i):
    return np.arange(N, dtype=np.int32) * 3 + i


def y_of(i):
    return np.arange(256 * 256, dtype=np.float64).reshape(256, 256) * 0.5 + i


def task(i):
    with h5py.File(path(i), "r") as f:
        x = f["x"][:]
        y = f["grp/y"][:, :128]
    time.sleep(0.5)  # keep this worker busy so that the other task goes to the other one
    return os.getpid(), i, int(x.sum()), float(y.sum())


def main():
    os.makedirs(D, exist_ok=True)
    for i in range(2):
        with h5py.File(path(i), "w") as f:
            f.create_dataset("x", data=x_of(i))
            g = f.create_group("grp")
            g.create_dataset("y", data=y_of(i), chunks=(32, 256), compression="gzip")
    with h5py.File(path(0), "r") as f:
        x = f["x"]
        a = x[:]
        b = x[1000:3000]
        y = f["grp/y"]
        c = y[()]
        e = y[10:20, 0:100]
    ok = (np.array_equal(a, x_of(0)) and np.array_equal(b, x_of(0)[1000:3000])
          and np.array_equal(c, y_of(0)) and np.array_equal(e, y_of(0)[10:20, 0:100]))
    print("main reads", "correct" if ok else "WRONG")
    pool = multiprocessing.get_context("fork").Pool(2)
    res = pool.map(task, range(2), chunksize=1)
    pool.close()
    pool.join()
    for pid, i, xs, ys in res:
        good = xs == int(x_of(i).sum()) and ys == float(y_of(i)[:, :128].sum())
        print(f"task {i} in {pid}:", "correct" if good else "WRONG")
    print("task pids", *[r[0] for r in res])
    print("main pid", os.getpid())
    print("done")


if __name__ == "__main__":
    main()
