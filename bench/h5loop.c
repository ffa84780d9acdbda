/* bench/h5loop.c: what the agent adds to HDF5 calls, A/B in one process (bench/run.sh,
 * piece `hdf5`).
 *
 *   h5loop MODE [ITERS [REPS]]      MODE: dread | dmove | dopen
 *
 *   dread  H5Dread of one element (a 1-element hyperslab of a 1000-int contiguous dataset
 *          into a 1-element memory space: the same ids every call, the data in HDF5's
 *          cache after the first): the path whose names and bytes the agent keeps, so that
 *          a repeated read calls no HDF5 function of its own (agent/hdf5.c)
 *   dmove  H5Sselect_hyperslab of the next element, then that H5Dread: the loop that walks a
 *          dataset; each new selection bumps the agent's selection epoch, so every read
 *          computes its bytes and shape with HDF5's own functions (about five calls)
 *   dopen  H5Dopen2 + H5Dclose of that dataset (the agent looks its names up at each open)
 *
 * Each repetition times ITERS calls made straight into libhdf5 (A: pointers from the
 * library's own handle, so a preloaded agent is skipped), ITERS normal calls (B: through
 * the agent when it is preloaded) and ITERS of the floor (loop.c's: two clock_gettime and a
 * 64-byte store, the least a tracer can do per event), A and B swapping places every other
 * repetition, with a 300 us untimed pause before each (the agent's drainer empties the
 * ring there, so the figure is the cost on the calling thread). The added cost is the
 * median over repetitions of (B - A) per call.
 *
 * One line to stdout: mode iters reps base_ns added_ns added_p25_ns added_p75_ns floor_ns
 * ratio (added / floor). The file is $BENCH_FILE (default /tmp/bench-h5loop-<pid>.h5),
 * removed at the end. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- the floor, as bench/loop.c has it ------------------------------------------------- */
struct rec64 {
    uint64_t w[8];
} __attribute__((aligned(64)));
#define FLOOR_SLOTS (1u << 14)
static struct rec64 floor_ring[FLOOR_SLOTS];
static uint64_t floor_head;

static inline void floor_body(void)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rec64 *r = &floor_ring[floor_head++ & (FLOOR_SLOTS - 1)];
    r->w[0] = (uint64_t)(uintptr_t)&floor_ring;
    r->w[1] = (uint64_t)a.tv_sec * 1000000000ull + (uint64_t)a.tv_nsec;
    r->w[2] = (uint64_t)b.tv_sec * 1000000000ull + (uint64_t)b.tv_nsec;
    r->w[3] = 1;
    r->w[4] = 1;
    r->w[5] = 0;
    r->w[6] = 3;
    r->w[7] = 0;
    __asm__ volatile("" ::: "memory");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double pct(double *v, long n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(long)(p * (double)(n - 1) + 0.5)];
}

static void pause_us(long us)
{
    struct timespec t = {0, us * 1000};
    syscall(SYS_nanosleep, &t, NULL); /* raw: nothing the agent records */
}

typedef herr_t (*dread_fn)(hid_t, hid_t, hid_t, hid_t, hid_t, void *);
typedef hid_t (*dopen_fn)(hid_t, const char *, hid_t);
typedef herr_t (*dclose_fn)(hid_t);
typedef herr_t (*select_fn)(hid_t, H5S_seloper_t, const hsize_t *, const hsize_t *,
                            const hsize_t *, const hsize_t *);
static dread_fn a_dread;
static dopen_fn a_dopen;
static dclose_fn a_dclose;
static select_fn a_select;
static hid_t file, dset, mspace, fspace;
static int sink;

__attribute__((noinline)) static void run_a(int mode, long n)
{
    int v;
    for (long i = 0; i < n; i++) {
        if (mode == 0) {
            a_dread(dset, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, &v);
            sink += v;
        } else if (mode == 2) {
            hsize_t at[1] = {(hsize_t)(i % 1000)}, one[1] = {1};
            a_select(fspace, H5S_SELECT_SET, at, NULL, one, NULL);
            a_dread(dset, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, &v);
            sink += v;
        } else {
            a_dclose(a_dopen(file, "/x", H5P_DEFAULT));
        }
    }
}

__attribute__((noinline)) static void run_b(int mode, long n)
{
    int v;
    for (long i = 0; i < n; i++) {
        if (mode == 0) {
            H5Dread(dset, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, &v);
            sink += v;
        } else if (mode == 2) {
            hsize_t at[1] = {(hsize_t)(i % 1000)}, one[1] = {1};
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, at, NULL, one, NULL);
            H5Dread(dset, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, &v);
            sink += v;
        } else {
            H5Dclose(H5Dopen2(file, "/x", H5P_DEFAULT));
        }
    }
}

__attribute__((noinline)) static void run_floor(long n)
{
    for (long i = 0; i < n; i++)
        floor_body();
}

int main(int argc, char **argv)
{
    int mode = argc < 2 ? -1 : !strcmp(argv[1], "dread") ? 0 : !strcmp(argv[1], "dopen") ? 1
                             : !strcmp(argv[1], "dmove") ? 2 : -1;
    if (mode < 0) {
        fprintf(stderr, "usage: h5loop dread|dmove|dopen [ITERS [REPS]]\n");
        return 2;
    }
    long iters = argc > 2 ? atol(argv[2]) : (mode == 1 ? 200 : 1000);
    long reps = argc > 3 ? atol(argv[3]) : 60;
    char path[4096];
    const char *bf = getenv("BENCH_FILE");
    if (bf)
        snprintf(path, sizeof path, "%s", bf);
    else
        snprintf(path, sizeof path, "/tmp/bench-h5loop-%d.h5", (int)getpid());

    /* the library's own definitions: past any preloaded interposer */
    void *h = dlopen("libhdf5_serial.so.103", RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        h = dlopen("libhdf5.so", RTLD_LAZY | RTLD_NOLOAD);
    if (!h) {
        fprintf(stderr, "h5loop: libhdf5 is not loaded under a known name\n");
        return 1;
    }
    a_dread = (dread_fn)dlsym(h, "H5Dread");
    a_dopen = (dopen_fn)dlsym(h, "H5Dopen2");
    a_dclose = (dclose_fn)dlsym(h, "H5Dclose");
    a_select = (select_fn)dlsym(h, "H5Sselect_hyperslab");

    hsize_t dims[1] = {1000}, one[1] = {1}, start[1] = {7};
    file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Screate_simple(1, dims, NULL);
    dset = H5Dcreate2(file, "x", H5T_NATIVE_INT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    static int data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = i;
    H5Dwrite(dset, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Sclose(s);
    mspace = H5Screate_simple(1, one, NULL);
    fspace = H5Dget_space(dset);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, one, NULL);

    memset(floor_ring, 1, sizeof floor_ring); /* its pages faulted in before timing */
    /* warm-up: both paths, the floor */
    run_a(mode, iters);
    run_b(mode, iters);
    run_floor(iters);

    double *added = calloc((size_t)reps, sizeof *added);
    double *base = calloc((size_t)reps, sizeof *base);
    double *flo = calloc((size_t)reps, sizeof *flo);
    for (long r = 0; r < reps; r++) {
        pause_us(300);
        uint64_t ta, tb;
        if (r & 1) {
            uint64_t t0 = now_ns();
            run_b(mode, iters);
            uint64_t t1 = now_ns();
            run_a(mode, iters);
            uint64_t t2 = now_ns();
            tb = t1 - t0, ta = t2 - t1;
        } else {
            uint64_t t0 = now_ns();
            run_a(mode, iters);
            uint64_t t1 = now_ns();
            run_b(mode, iters);
            uint64_t t2 = now_ns();
            ta = t1 - t0, tb = t2 - t1;
        }
        uint64_t f0 = now_ns();
        run_floor(iters);
        uint64_t f1 = now_ns();
        added[r] = ((double)tb - (double)ta) / (double)iters;
        base[r] = (double)ta / (double)iters;
        flo[r] = (double)(f1 - f0) / (double)iters;
    }
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    H5Fclose(file);
    unlink(path);
    double am = pct(added, reps, 0.5), a25 = pct(added, reps, 0.25), a75 = pct(added, reps, 0.75);
    double bm = pct(base, reps, 0.5), fm = pct(flo, reps, 0.5);
    printf("mode=%s iters=%ld reps=%ld base_ns=%.1f added_ns=%.1f added_p25_ns=%.1f "
           "added_p75_ns=%.1f floor_ns=%.1f ratio=%.2f\n",
           argv[1], iters, reps, bm, am, a25, a75, fm, am / fm);
    return sink == -1;
}
