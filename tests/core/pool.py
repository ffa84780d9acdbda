# A multiprocessing.Pool block: leaving `with` terminates the workers with SIGTERM. Each
# worker is made busy first (a long sleep, started for sure), so that none leaves on its
# own on the pool's stop sentinel before the SIGTERM comes: under load an idle worker
# could, and the test's count of SIGTERM'd workers was then 0.
import multiprocessing
import os
import sys
import tempfile
import time


def work(x):
    with open("/proc/self/stat") as f:
        f.read()
    return x * x


def busy(d):
    open(os.path.join(d, str(os.getpid())), "w").close()
    time.sleep(120)


if __name__ == "__main__":
    d = tempfile.mkdtemp()
    with multiprocessing.Pool(4) as p:
        print(sum(p.map(work, range(200))))
        # 8 tasks for 4 workers: each takes one and sleeps; the rest wait in the queue
        p.map_async(busy, [d] * 8)
        deadline = time.time() + 60
        while len(os.listdir(d)) < 4 and time.time() < deadline:
            time.sleep(0.01)
        if len(os.listdir(d)) < 4:
            sys.exit("pool.py: the 4 workers did not all start their task in 60 s")
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)
