"""I/O from Python (Debian's /usr/bin/python3): os-level calls with exact counts, file
objects, numpy.fromfile, and a multiprocessing Pool whose workers each read a file of their
own. argv[1]: a directory for the files. Prints "done" at the end.
t31_io_python.sh checks the traces against what this does."""
import multiprocessing
import os
import sys
import time

import numpy

D = sys.argv[1]


def p(name):
    return os.path.join(D, name)


def worker_task(i):
    """Task i: 1 open, 5 preads of 512 at 0, 512, ..., 1 read of 100 at 0, 1 close."""
    fd = os.open(p(f"task{i}.dat"), os.O_RDONLY)
    got = [os.pread(fd, 512, k * 512) for k in range(5)]
    head = os.read(fd, 100)
    os.close(fd)
    time.sleep(0.3)  # keep this worker busy so that the next task goes to another one
    assert all(len(g) == 512 for g in got) and len(head) == 100
    return os.getpid()


def main():
    # os-level: controlled counts on ctl.dat
    fd = os.open(p("ctl.dat"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for k in range(4):
        assert os.write(fd, bytes([65 + k]) * 4096) == 4096
    os.close(fd)
    fd = os.open(p("ctl.dat"), os.O_RDONLY)
    for k in range(3):
        assert len(os.read(fd, 1000)) == 1000
    assert os.pread(fd, 100, 8192) == b"C" * 100
    assert os.lseek(fd, 0, os.SEEK_SET) == 0
    os.close(fd)

    # file objects
    with open(p("obj.dat"), "wb") as f:
        f.write(b"y" * 10000)
    with open(p("obj.dat"), "rb") as f:
        assert len(f.read()) == 10000

    # numpy.fromfile: by name, and from an open file after a seek
    numpy.arange(1250, dtype=numpy.uint32).tofile(p("np.bin"))  # 5000 bytes
    a = numpy.fromfile(p("np.bin"), dtype=numpy.uint32)
    assert a.size == 1250 and a[-1] == 1249
    with open(p("np.bin"), "rb") as f:
        f.seek(400)
        b = numpy.fromfile(f, dtype=numpy.uint32, count=250)
        assert b[0] == 100 and b.size == 250

    # a Pool of 3 workers, each task on its own file; workers leave through os._exit
    for i in range(3):
        with open(p(f"task{i}.dat"), "wb") as f:
            f.write(bytes([i]) * 4096)
    pool = multiprocessing.Pool(3)
    pids = pool.map(worker_task, range(3), chunksize=1)
    pool.close()
    pool.join()
    print("task pids", *pids)

    # the same in a "with" block: its __exit__ SIGTERMs the workers
    for i in range(3, 5):
        with open(p(f"task{i}.dat"), "wb") as f:
            f.write(bytes([i]) * 4096)
    with multiprocessing.Pool(2) as pool2:
        pids2 = pool2.map(worker_task, range(3, 5), chunksize=1)
    print("terminated pids", *pids2)
    print("done")


if __name__ == "__main__":
    main()
