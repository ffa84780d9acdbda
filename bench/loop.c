/* bench/loop.c: one hot-path micro-benchmark, one mode per run.
 *
 *   loop MODE [N [REPS [THREADS]]]
 *
 * MODE is one of
 *   empty   the bare loop (what every other figure includes)
 *   floor   two clock_gettime(CLOCK_MONOTONIC) and one 64-byte store into a 1 MiB ring:
 *           the least a tracer can do per event, the yardstick for the agent's added cost
 *   marker  traceagent_push("bench") + traceagent_pop() (include/traceagent.h)
 *   pread   pread(fd, buf, 1, 0) on a small file in the page cache
 *   write   write(fd, buf, 1) to /dev/null
 *   fopen   fopen(file, "r") + fread(buf, 1, 1, f) + fclose(f)
 *   stat    stat(file, &st)
 *   floorpread  the floor wrapped around libc's own pread (never the agent's): a tracer's
 *           least cost for that call, cache effects of the system call included; in A/B
 *           mode A is the bare libc pread
 *   floorfopen  the floor wrapped around each of libc's own fopen, fread and fclose (three
 *           records), inline in the loop: what the fopen trio costs any tracer that records
 *           three events, with no wrapper of its own to return through; A is the bare trio.
 *           BENCH_FLOOR_TSC=1 takes the floor's stamps as the agent does (`lfence; rdtsc`
 *           before, `rdtsc` after) instead of clock_gettime
 * The calls are made normally: under LD_PRELOAD the agent interposes them.
 *
 * Each thread runs a warm-up (N/10 iterations, within 100..20000; see worker()), then REPS repetitions of
 * N/REPS iterations, each timed with CLOCK_MONOTONIC; it reports the median and the best
 * repetition in ns per iteration. BENCH_GAP_US=U sleeps U us (untimed) before each
 * repetition: with repetitions shorter than the agent's ring, the drainer empties the ring
 * in the gap and the timed calls never wait for room, so the figure is the cost on the
 * calling thread, not the drainer's throughput (see README.md). BENCH_PIN=1 (one thread):
 * after the warm-up, the calling thread is pinned to one CPU and the agent's drainer thread
 * to another, so that the drainer's work is not timed with the calls.
 *
 * BENCH_AB=1 (one thread; not floor): A/B in one process. Each repetition times the call
 * made straight into libc (A: pointers from libc's own handle, so a preloaded agent is
 * skipped), the normal call (B: through the agent when it is preloaded) and the floor,
 * back to back, A and B swapping places every other repetition. The added cost is the
 * median over repetitions of B - A: both halves of a pair see the same machine, so noise
 * from other jobs mostly cancels. For `marker`, A is the empty loop (what the header's
 * inline functions cost without the agent). The added cost is the mean of two medians, over
 * the B-first and over the A-first repetitions, which cancels what going first costs.
 * Before the warm-up, the first 16384 events (one default ring) are timed apart, A then B:
 * ab_cold_added_ns, what a thread's first ring of events costs extra (its pages are
 * touched for the first time). BENCH_DUMP=1 prints every A/B repetition to stderr. With THREADS > 1 every thread does the same (all start
 * together behind a barrier and stay alive until all are done); the figures are the median
 * over threads of each thread's median. Defaults: N=200000, REPS=7, THREADS=1.
 *
 * The file is $BENCH_FILE (default: bench-loop.dat in $TMPDIR or /tmp, created with 4 KiB).
 *
 * One line goes to stdout, `key=value` pairs:
 *   mode n reps threads calls median_ns min_ns p10_ns p25_ns wall_s   (percentiles of the
 *                                          repetitions' ns per iteration)
 *   drainer_cpu_ns drainer_utime_stime_ns drainer_stime_ns
 *                                          CPU time of the thread named "traceagent" (the
 *                                          agent's drainer), read from /proc just before
 *                                          exiting (schedstat ns; utime+stime and stime in
 *                                          clock ticks); -1 when there is none
 *   vmhwm_kb vmrss_kb                       peak and current resident memory
 *   cuda_libs                               mapped objects whose name has cuda/cupti/cudart
 *   ab_base_ns ab_floor_ns ab_added_ns ab_added_p25_ns ab_added_p75_ns ab_ratio   (A/B mode)
 * `calls` is every timed call the process made in MODE, warm-up included (per process,
 * over all threads). BENCH_SETTLE_MS=M sleeps M ms before reading /proc (lets the drainer
 * empty the rings, so that its CPU time covers nearly all events). The bookkeeping uses raw
 * system calls, so it adds no event to a trace. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "traceagent.h"

/* loop-lttng (run.sh builds it when liblttng-ust is installed): the same loop, each call
 * followed by its LTTng-UST tracepoint (bench/lttng_tp.h), for the peer column. The A side
 * of the A/B mode stays the bare libc call, so ab_added_ns is what the tracepoint adds. */
#ifdef BENCH_LTTNG
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "lttng_tp.h"
#define TP(...) lttng_ust_tracepoint(ta_bench, __VA_ARGS__)
#else
#define TP(...) ((void)0)
#endif

enum mode { M_EMPTY, M_FLOOR, M_MARKER, M_PREAD, M_WRITE, M_FOPEN, M_STAT, M_FLOORPREAD,
            M_FLOORFOPEN };
static const char *const mode_names[] = {"empty", "floor", "marker", "pread",     "write",
                                         "fopen", "stat",  "floorpread", "floorfopen"};
#define NMODES (int)(sizeof mode_names / sizeof mode_names[0])

static enum mode mode;
static long n_iter, reps, nthreads;
static char file_path[4096];
static pthread_barrier_t start_bar, end_bar;
static uint64_t gap_ns; /* BENCH_GAP_US: pause before each repetition, untimed */
static int pin;         /* BENCH_PIN=1: caller on one CPU, the drainer on another */
static void pin_threads(void);

/* ---- raw-syscall bookkeeping (never seen by the agent) ------------------------------- */

static int raw_open(const char *p) { return (int)syscall(SYS_openat, AT_FDCWD, p, O_RDONLY, 0); }
static long raw_read(int fd, char *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static void raw_close(int fd) { syscall(SYS_close, fd); }

/* Whole small file into buf (NUL-terminated); bytes read or -1. */
static long slurp(const char *path, char *buf, size_t n)
{
    int fd = raw_open(path);
    if (fd < 0)
        return -1;
    size_t got = 0;
    long r;
    while (got < n - 1 && (r = raw_read(fd, buf + got, n - 1 - got)) > 0)
        got += (size_t)r;
    raw_close(fd);
    buf[got] = 0;
    return (long)got;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- the floor: what the agent's ring push amounts to, done inline -------------------- */

struct rec64 {
    uint64_t w[8];
} __attribute__((aligned(64)));
#define FLOOR_SLOTS (1u << 14) /* 1 MiB, the agent's default ring */
static struct rec64 *floor_ring;
static __thread uint64_t floor_head;

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

/* ---- the timed bodies ------------------------------------------------------------------ */

struct tstate {
    int fd;
    char buf[64];
    struct stat st;
};

static int setup(struct tstate *s)
{
    s->fd = -1;
    if (mode == M_PREAD || mode == M_FLOORPREAD) {
        s->fd = open(file_path, O_RDONLY);
        if (s->fd < 0) {
            perror(file_path);
            return -1;
        }
    } else if (mode == M_WRITE) {
        s->fd = open("/dev/null", O_WRONLY);
        if (s->fd < 0) {
            perror("/dev/null");
            return -1;
        }
    }
    return 0;
}

static void teardown(struct tstate *s)
{
    if (s->fd >= 0)
        close(s->fd);
}

static int failed;
#define FAIL(what)                                                                       \
    do {                                                                                 \
        if (!failed++)                                                                   \
            fprintf(stderr, "loop: %s failed: %s\n", what, strerror(errno));            \
    } while (0)

/* A noinline function per mode, so that `callgrind --toggle-collect=run_*` counts exactly
 * the timed iterations. */
__attribute__((noinline)) void run_empty(struct tstate *s, long n)
{
    (void)s;
    for (long i = 0; i < n; i++)
        __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void run_floor(struct tstate *s, long n)
{
    (void)s;
    for (long i = 0; i < n; i++)
        floor_body();
}

__attribute__((noinline)) void run_marker(struct tstate *s, long n)
{
    (void)s;
    for (long i = 0; i < n; i++) {
        traceagent_push("bench");
        TP(range_begin, "bench");
        traceagent_pop();
        TP(range_end);
    }
}

__attribute__((noinline)) void run_pread(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        ssize_t r = pread(s->fd, s->buf, 1, 0);
        if (r != 1)
            FAIL("pread");
        TP(pread, s->fd, r, 0);
    }
}

__attribute__((noinline)) void run_write(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        ssize_t r = write(s->fd, s->buf, 1);
        if (r != 1)
            FAIL("write");
        TP(write, s->fd, r, -1);
    }
}

__attribute__((noinline)) void run_fopen(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        FILE *f = fopen(file_path, "r");
        TP(fopen, file_path, f != NULL);
        if (!f) {
            FAIL("fopen");
            continue;
        }
        size_t r = fread(s->buf, 1, 1, f);
        if (r != 1)
            FAIL("fread");
        TP(fread, f->_fileno, (long)r, 0);
        int fd = f->_fileno, c = fclose(f);
        TP(fclose, fd, c, -1);
        (void)fd, (void)c;
    }
}

__attribute__((noinline)) void run_stat(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        int r = stat(file_path, &s->st);
        if (r != 0)
            FAIL("stat");
        TP(stat, file_path, r);
    }
}

static ssize_t (*libc_pread)(int, void *, size_t, off_t);
static FILE *(*libc_fopen)(const char *, const char *);
static size_t (*libc_fread)(void *, size_t, size_t, FILE *);
static int (*libc_fclose)(FILE *);

/* The floor's stamps around a real call: clock_gettime, or with BENCH_FLOOR_TSC=1 the TSC
 * read as the agent reads it (the start ordered by lfence, the end bare). */
static int floor_tsc;

static inline uint64_t floor_start(void)
{
    if (floor_tsc) {
        uint32_t lo, hi;
        __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
        return (uint64_t)hi << 32 | lo;
    }
    return now_ns();
}

static inline uint64_t floor_end(void)
{
    if (floor_tsc) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
        return (uint64_t)hi << 32 | lo;
    }
    return now_ns();
}

static inline void floor_record(uint64_t t0, uint64_t t1, uint64_t what)
{
    struct rec64 *r = &floor_ring[floor_head++ & (FLOOR_SLOTS - 1)];
    r->w[0] = (uint64_t)(uintptr_t)&floor_ring;
    r->w[1] = t0;
    r->w[2] = t1;
    r->w[3] = 1;
    r->w[4] = 1;
    r->w[5] = what;
    r->w[6] = 3;
    r->w[7] = 0;
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void run_floorpread(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        uint64_t t0 = floor_start();
        if (libc_pread(s->fd, s->buf, 1, 0) != 1)
            FAIL("pread");
        floor_record(t0, floor_end(), (uint64_t)s->fd);
    }
}

__attribute__((noinline)) void run_floorfopen(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        uint64_t t0 = floor_start();
        FILE *f = libc_fopen(file_path, "r");
        floor_record(t0, floor_end(), (uint64_t)(uintptr_t)f);
        if (!f) {
            FAIL("fopen");
            continue;
        }
        t0 = floor_start();
        size_t r = libc_fread(s->buf, 1, 1, f);
        floor_record(t0, floor_end(), r);
        if (r != 1)
            FAIL("fread");
        t0 = floor_start();
        int c = libc_fclose(f);
        floor_record(t0, floor_end(), (uint64_t)c);
    }
}

static void (*const runners[])(struct tstate *, long) = {
    run_empty, run_floor, run_marker, run_pread, run_write, run_fopen, run_stat, run_floorpread,
    run_floorfopen,
};

/* The same calls made straight into libc (pointers from its own handle, which skips any
 * preloaded agent): the baseline of the A/B mode, in the same process. */
static ssize_t (*libc_write)(int, const void *, size_t);
static int (*libc_stat)(const char *, struct stat *);

static int resolve_libc(void)
{
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return -1;
    libc_pread = (ssize_t(*)(int, void *, size_t, off_t))dlsym(h, "pread");
    libc_write = (ssize_t(*)(int, const void *, size_t))dlsym(h, "write");
    libc_fopen = (FILE * (*)(const char *, const char *)) dlsym(h, "fopen");
    libc_fread = (size_t(*)(void *, size_t, size_t, FILE *))dlsym(h, "fread");
    libc_fclose = (int (*)(FILE *))dlsym(h, "fclose");
    libc_stat = (int (*)(const char *, struct stat *))dlsym(h, "stat");
    return libc_pread && libc_write && libc_fopen && libc_fread && libc_fclose && libc_stat
               ? 0 : -1;
}

__attribute__((noinline)) void direct_marker(struct tstate *s, long n)
{
    (void)s;
    for (long i = 0; i < n; i++) /* what a program without the agent does: nothing */
        __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void direct_pread(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++)
        if (libc_pread(s->fd, s->buf, 1, 0) != 1)
            FAIL("pread");
}

__attribute__((noinline)) void direct_write(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++)
        if (libc_write(s->fd, s->buf, 1) != 1)
            FAIL("write");
}

__attribute__((noinline)) void direct_fopen(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++) {
        FILE *f = libc_fopen(file_path, "r");
        if (!f) {
            FAIL("fopen");
            continue;
        }
        if (libc_fread(s->buf, 1, 1, f) != 1)
            FAIL("fread");
        libc_fclose(f);
    }
}

__attribute__((noinline)) void direct_stat(struct tstate *s, long n)
{
    for (long i = 0; i < n; i++)
        if (libc_stat(file_path, &s->st) != 0)
            FAIL("stat");
}

static void (*const directs[])(struct tstate *, long) = {
    run_empty, run_floor, direct_marker, direct_pread, direct_write, direct_fopen, direct_stat,
    direct_pread, direct_fopen,
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct result {
    double med, min, p10, p25;
    long calls;
    /* A/B mode */
    double base, floor, added, added_p25, added_p75, ratio, cold_added;
    long cold_minflt;
};

static int ab; /* BENCH_AB=1 */

/* median of v[i] for the i of one parity (v unsorted): B-first and A-first repetitions */
static double median_of_parity(const double *v, long n, int parity)
{
    double *c = calloc((size_t)n, sizeof *c);
    long k = 0;
    for (long i = parity; i < n; i += 2)
        c[k++] = v[i];
    double m = k ? median(c, k) : 0;
    free(c);
    return m;
}

static double pctl(double *v, long n, int p) /* v sorted */
{
    return v[(n - 1) * p / 100];
}

static void *worker(void *arg)
{
    struct result *res = arg;
    struct tstate s;
    if (setup(&s) < 0)
        exit(2);
    long per = n_iter / reps;
    if (per < 1)
        per = 1;
    /* warm-up: N/10 iterations (100..20000); in A/B mode at least enough to fill the agent's
     * default ring once (16384 records: its pages are touched for the first time then, see
     * cold_added) */
    long epi = mode == M_FOPEN || mode == M_FLOORFOPEN ? 3 : 1; /* events per iteration */
    long warm = n_iter / 10;
    if (warm > 20000)
        warm = 20000;
    if (ab && warm < 20000 / epi)
        warm = 20000 / epi;
    if (warm < 100)
        warm = 100;
    double *v = calloc((size_t)reps, sizeof *v);
    double *va = ab ? calloc((size_t)reps, sizeof *va) : NULL;
    double *vf = ab ? calloc((size_t)reps, sizeof *vf) : NULL;
    double *vd = ab ? calloc((size_t)reps, sizeof *vd) : NULL;
    double *vr = ab ? calloc((size_t)reps, sizeof *vr) : NULL;
    long floor_per = per * 4 < 4000 ? 4000 : per * 4;
    pthread_barrier_wait(&start_bar);
    if (ab) {
        /* the first ring's worth of events, timed apart: A then B, both cold-ish */
        long cold = 16384 / epi;
        directs[mode](&s, 100);
        runners[mode](&s, 1); /* the agent gives this thread its ring, starts the drainer */
        if (pin && nthreads == 1)
            pin_threads();
        struct rusage ru0, ru1;
        uint64_t t0 = now_ns();
        directs[mode](&s, cold);
        uint64_t t1 = now_ns();
        getrusage(RUSAGE_THREAD, &ru0);
        runners[mode](&s, cold);
        getrusage(RUSAGE_THREAD, &ru1);
        uint64_t t2 = now_ns();
        res->cold_added = ((double)(t2 - t1) - (double)(t1 - t0)) / (double)cold;
        res->cold_minflt = ru1.ru_minflt - ru0.ru_minflt;
        res->calls += 1 + cold;
    }
    runners[mode](&s, warm);
    if (ab) {
        directs[mode](&s, warm);
        run_floor(&s, floor_per);
    }
    if (pin && nthreads == 1)
        pin_threads(); /* after the warm-up: the drainer thread exists by now */
    for (long r = 0; r < reps; r++) {
        if (gap_ns) {
            struct timespec ts = {(time_t)(gap_ns / 1000000000), (long)(gap_ns % 1000000000)};
            nanosleep(&ts, NULL);
        }
        if (!ab) {
            uint64_t t0 = now_ns();
            runners[mode](&s, per);
            uint64_t t1 = now_ns();
            v[r] = (double)(t1 - t0) / (double)per;
            continue;
        }
        /* A/B: the direct call, the call through whatever is preloaded, and the floor,
         * back to back; A and B swap places every other repetition */
        for (int k = 0; k < 2; k++) {
            int b = (k == 0) == (r % 2 == 0);
            uint64_t t0 = now_ns();
            (b ? runners : directs)[mode](&s, per);
            uint64_t t1 = now_ns();
            (b ? v : va)[r] = (double)(t1 - t0) / (double)per;
        }
        uint64_t t0 = now_ns();
        run_floor(&s, floor_per);
        uint64_t t1 = now_ns();
        vf[r] = (double)(t1 - t0) / (double)floor_per;
        vd[r] = v[r] - va[r];
        vr[r] = vd[r] / vf[r];
        if (getenv("BENCH_DUMP"))
            fprintf(stderr, "rep %ld %s A=%.1f B=%.1f d=%.1f\n", r, r % 2 ? "AB" : "BA", va[r], v[r], vd[r]);
    }
    if (ab) {
        res->base = median(va, reps);
        res->floor = median(vf, reps);
        res->ratio = median(vr, reps);
        res->added = (median_of_parity(vd, reps, 0) + median_of_parity(vd, reps, 1)) / 2;
        qsort(vd, (size_t)reps, sizeof *vd, cmp_double);
        res->added_p25 = pctl(vd, reps, 25);
        res->added_p75 = pctl(vd, reps, 75);
        free(va);
        free(vf);
        free(vd);
        free(vr);
    }
    res->calls += warm + per * reps; /* through the normal (interposable) call */
    res->med = median(v, reps); /* sorts v */
    res->min = v[0];
    res->p10 = v[(reps - 1) / 10];
    res->p25 = v[(reps - 1) / 4];
    free(v);
    teardown(&s);
    pthread_barrier_wait(&end_bar);
    return NULL;
}

/* ---- end-of-run readings ---------------------------------------------------------------- */

/* CPU time of the drainer thread (comm "traceagent"): from schedstat (ns) and from
 * utime+stime (clock ticks). Sums over every such thread; -1 when there is none. */
static long long drainer_stime_ns = -1; /* the system (kernel) part of utime+stime */

static void drainer_cpu(long long *sched_ns, long long *ticks_ns)
{
    *sched_ns = -1;
    *ticks_ns = -1;
    DIR *d = opendir("/proc/self/task"); /* getdents: not intercepted */
    if (!d)
        return;
    long hz = sysconf(_SC_CLK_TCK);
    struct dirent *de;
    char path[300], buf[1024];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        if (slurp(path, buf, sizeof buf) < 0 || strncmp(buf, "traceagent\n", 11) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", de->d_name);
        if (slurp(path, buf, sizeof buf) > 0) {
            long long ns = atoll(buf);
            *sched_ns = (*sched_ns < 0 ? 0 : *sched_ns) + ns;
        }
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", de->d_name);
        if (slurp(path, buf, sizeof buf) > 0) {
            /* fields after the ")" of comm: state(3) ... utime(14) stime(15) */
            char *p = strrchr(buf, ')');
            unsigned long long ut = 0, st = 0;
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) == 2) {
                long long ns = (long long)((ut + st) * (1000000000ull / (unsigned long long)hz));
                *ticks_ns = (*ticks_ns < 0 ? 0 : *ticks_ns) + ns;
                drainer_stime_ns = (drainer_stime_ns < 0 ? 0 : drainer_stime_ns) +
                                   (long long)(st * (1000000000ull / (unsigned long long)hz));
            }
        }
    }
    closedir(d);
}

/* BENCH_PIN=1 (one thread only): the calling thread on the last allowed CPU, every thread
 * named "traceagent" on the one before. On a 2-core machine shared with other jobs this
 * keeps the drainer's work off the core whose calls are being timed, so that the figure is
 * the cost on the calling thread; the drainer's own cost is measured apart (run.sh). */
static void pin_threads(void)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return;
    int cpus[2], k = 0;
    for (int c = CPU_SETSIZE - 1; c >= 0 && k < 2; c--)
        if (CPU_ISSET(c, &allowed))
            cpus[k++] = c;
    CPU_ZERO(&one);
    CPU_SET(cpus[0], &one);
    sched_setaffinity(0, sizeof one, &one);
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *de;
    char path[300], buf[64];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        if (slurp(path, buf, sizeof buf) < 0 || strncmp(buf, "traceagent\n", 11) != 0)
            continue;
        CPU_ZERO(&one);
        CPU_SET(cpus[1], &one);
        sched_setaffinity(atoi(de->d_name), sizeof one, &one);
    }
    closedir(d);
}

static long status_kb(const char *buf, const char *key)
{
    const char *p = strstr(buf, key);
    return p ? atol(p + strlen(key)) : -1;
}

static int count_cuda_maps(void)
{
    static char buf[1 << 20];
    if (slurp("/proc/self/maps", buf, sizeof buf) < 0)
        return -1;
    int n = 0;
    char last[512] = "";
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *name = strchr(line, '/');
        if (!name || !strcmp(name, last))
            continue;
        snprintf(last, sizeof last, "%s", name);
        if (strstr(name, "libcuda") || strstr(name, "libcupti") || strstr(name, "libcudart") ||
            strstr(name, "libnvrtc"))
            n++;
    }
    return n;
}

static void ensure_file(void)
{
    const char *f = getenv("BENCH_FILE");
    if (f && *f) {
        snprintf(file_path, sizeof file_path, "%s", f);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(file_path, sizeof file_path, "%s/bench-loop.dat", tmp && *tmp ? tmp : "/tmp");
    }
    struct stat st;
    if (stat(file_path, &st) == 0 && st.st_size >= 1)
        return;
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(file_path);
        exit(2);
    }
    char blk[4096];
    memset(blk, 'x', sizeof blk);
    if (write(fd, blk, sizeof blk) != (ssize_t)sizeof blk) {
        perror(file_path);
        exit(2);
    }
    close(fd);
}

static int nthreads_arg_is_one(int argc, char **argv) { return argc <= 4 || atol(argv[4]) == 1; }

int main(int argc, char **argv)
{
    if (argc < 2) {
    usage:
        fprintf(stderr, "usage: loop MODE [N [REPS [THREADS]]]\nmodes:");
        for (int i = 0; i < NMODES; i++)
            fprintf(stderr, " %s", mode_names[i]);
        fprintf(stderr, "\n");
        return 2;
    }
    int m = -1;
    for (int i = 0; i < NMODES; i++)
        if (!strcmp(argv[1], mode_names[i]))
            m = i;
    if (m < 0)
        goto usage;
    mode = (enum mode)m;
    n_iter = argc > 2 ? atol(argv[2]) : 200000;
    reps = argc > 3 ? atol(argv[3]) : 7;
    nthreads = argc > 4 ? atol(argv[4]) : 1;
    if (n_iter < 1 || reps < 1 || nthreads < 1)
        goto usage;
    const char *gap = getenv("BENCH_GAP_US");
    gap_ns = gap ? (uint64_t)atoll(gap) * 1000 : 0;
    const char *abv = getenv("BENCH_AB");
    ab = abv && atoi(abv) > 0 && nthreads_arg_is_one(argc, argv);
    if (ab && resolve_libc() < 0) {
        fprintf(stderr, "loop: cannot find libc's own functions: A/B mode off\n");
        ab = 0;
    }
    if (ab && mode == M_FLOOR)
        ab = 0;
    if (ab) {
        floor_ring = aligned_alloc(64, FLOOR_SLOTS * sizeof *floor_ring);
        memset(floor_ring, 0, FLOOR_SLOTS * sizeof *floor_ring);
    }
    const char *pn = getenv("BENCH_PIN");
    pin = pn && atoi(pn) > 0;
    int floor_call = mode == M_FLOORPREAD || mode == M_FLOORFOPEN;
    const char *ft = getenv("BENCH_FLOOR_TSC");
    floor_tsc = ft && atoi(ft) > 0;
    if (mode == M_PREAD || mode == M_FOPEN || mode == M_STAT || floor_call)
        ensure_file();
    if (floor_call && resolve_libc() < 0) {
        fprintf(stderr, "loop: cannot find libc's own functions\n");
        return 2;
    }
    if (floor_call && !floor_ring) {
        floor_ring = aligned_alloc(64, FLOOR_SLOTS * sizeof *floor_ring);
        memset(floor_ring, 0, FLOOR_SLOTS * sizeof *floor_ring);
    }
    if (mode == M_FLOOR && !floor_ring) {
        floor_ring = aligned_alloc(64, FLOOR_SLOTS * sizeof *floor_ring);
        memset(floor_ring, 0, FLOOR_SLOTS * sizeof *floor_ring);
    }

    pthread_barrier_init(&start_bar, NULL, (unsigned)nthreads);
    pthread_barrier_init(&end_bar, NULL, (unsigned)nthreads);
    struct result *res = calloc((size_t)nthreads, sizeof *res);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    uint64_t w0 = now_ns();
    for (long i = 1; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, &res[i]) != 0) {
            fprintf(stderr, "loop: pthread_create failed\n");
            return 2;
        }
    worker(&res[0]);
    for (long i = 1; i < nthreads; i++)
        pthread_join(th[i], NULL);
    uint64_t w1 = now_ns();

    double *meds = calloc((size_t)nthreads, sizeof *meds);
    double *mins = calloc((size_t)nthreads, sizeof *mins);
    double *p10s = calloc((size_t)nthreads, sizeof *p10s);
    double *p25s = calloc((size_t)nthreads, sizeof *p25s);
    long calls = 0;
    for (long i = 0; i < nthreads; i++) {
        meds[i] = res[i].med;
        mins[i] = res[i].min;
        p10s[i] = res[i].p10;
        p25s[i] = res[i].p25;
        calls += res[i].calls;
    }
    const char *settle = getenv("BENCH_SETTLE_MS");
    if (settle && atol(settle) > 0) {
        struct timespec ts = {atol(settle) / 1000, (atol(settle) % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    long long dsched, dticks;
    drainer_cpu(&dsched, &dticks);
    static char status[8192];
    slurp("/proc/self/status", status, sizeof status);
    printf("mode=%s n=%ld reps=%ld threads=%ld calls=%ld median_ns=%.2f min_ns=%.2f "
           "p10_ns=%.2f p25_ns=%.2f wall_s=%.3f drainer_cpu_ns=%lld drainer_utime_stime_ns=%lld "
           "drainer_stime_ns=%lld vmhwm_kb=%ld vmrss_kb=%ld cuda_libs=%d failed=%d",
           mode_names[mode], n_iter, reps, nthreads, calls, median(meds, nthreads),
           median(mins, nthreads), median(p10s, nthreads), median(p25s, nthreads),
           (double)(w1 - w0) / 1e9, dsched, dticks, drainer_stime_ns,
           status_kb(status, "VmHWM:"), status_kb(status, "VmRSS:"), count_cuda_maps(), failed);
    if (ab)
        printf(" ab_base_ns=%.2f ab_floor_ns=%.2f ab_added_ns=%.2f ab_added_p25_ns=%.2f "
               "ab_added_p75_ns=%.2f ab_ratio=%.3f ab_cold_added_ns=%.2f ab_cold_minflt=%ld",
               res[0].base, res[0].floor, res[0].added, res[0].added_p25, res[0].added_p75,
               res[0].ratio, res[0].cold_added, res[0].cold_minflt);
    printf("\n");
    fflush(stdout);
    return failed ? 1 : 0;
}
