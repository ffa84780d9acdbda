# A multiprocessing.Pool block: leaving `with` terminates the workers with SIGTERM.
import multiprocessing


def work(x):
    with open("/proc/self/stat") as f:
        f.read()
    return x * x


if __name__ == "__main__":
    with multiprocessing.Pool(4) as p:
        print(sum(p.map(work, range(200))))
