# The Python workload of issue #20 (bench/whole.sh): a data loader's pattern in
# /usr/bin/python3. Given DIR made by `whole_py.py --setup DIR N M`: os.stat and
# open().read() of each of its N small files, then numpy.fromfile of each of its M larger
# ones. Prints n=<files touched> ns=<wall of the loops>.
import os
import sys
import time

if sys.argv[1] == "--setup":
    d, n, m = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(d, exist_ok=True)
    blob = b"z" * 4096
    for i in range(n):
        with open(os.path.join(d, "s%05d.bin" % i), "wb") as f:
            f.write(blob)
    big = b"\0" * (256 * 1024)
    for i in range(m):
        with open(os.path.join(d, "a%04d.f64" % i), "wb") as f:
            f.write(big)
    sys.exit(0)

import numpy

d = sys.argv[1]
names = sorted(os.listdir(d))
small = [os.path.join(d, x) for x in names if x.startswith("s")]
arrays = [os.path.join(d, x) for x in names if x.startswith("a")]
t0 = time.perf_counter_ns()
total = 0
for p in small:
    total += os.stat(p).st_size
    with open(p, "rb") as f:
        total -= len(f.read())
for p in arrays:
    total += int(numpy.fromfile(p, dtype=numpy.float64).size)
t1 = time.perf_counter_ns()
print("n=%d ns=%d check=%d" % (len(small) + len(arrays), t1 - t0, total))
