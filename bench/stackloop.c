/* bench/stackloop.c: what call stacks (TRACEAGENT_STACKS) add to a pread, A/B in one
 * process (bench/run.sh, piece `stacks`).
 *
 *   stackloop pread [ITERS [REPS [DEPTH]]]
 *   stackloop unwind [ITERS [REPS [DEPTH]]]
 *
 * pread: each repetition times ITERS preads of 64 bytes of $BENCH_FILE made from the
 *        bottom of a recursion DEPTH frames deep (default 14: with main, libc's two start
 *        frames and _start the stack is ~18 frames, the leaf's 15 of them in the program),
 *        straight into libc's pread (A: its pointer from libc's own handle, so a preloaded
 *        agent is skipped) and through the normal call (B: through the agent when it is
 *        preloaded), A and B swapping places every other repetition, 300 us untimed pause
 *        before each (the drainer empties the ring there), then ITERS of the floor (loop.c's:
 *        two clock_gettime and a 64-byte store). run.sh runs it without the agent, with the
 *        agent and stacks off, with TRACEAGENT_STACKS=posix, and with EVERY=16.
 * unwind: no agent needed: libunwind's unw_backtrace against unw_init_local + unw_step
 *        (the two ways agent/stacks.c could walk), both at the same depth, A/B the same way;
 *        base_ns is unw_backtrace's time per stack, added_ns what the step loop costs more.
 *
 * One line to stdout: mode iters reps depth base_ns added_ns added_p25_ns added_p75_ns
 * floor_ns. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
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
__attribute__((noinline)) static void run_floor(long n)
{
    for (long i = 0; i < n; i++)
        floor_body();
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

/* ---- the leaf calls -------------------------------------------------------------------- */
static ssize_t (*a_pread)(int, void *, size_t, off_t);
static int fd;
static char buf[64];
static long sink;

/* unwind mode: libunwind's two ways */
typedef struct { uint64_t w[1024]; } cursor_t; /* >= unw_cursor_t (127 words on x86_64) */
typedef struct { uint64_t w[256]; } context_t; /* >= unw_context_t (ucontext_t) */
static int (*u_backtrace)(void **, int);
static int (*u_getcontext)(context_t *);
static int (*u_init_local)(cursor_t *, context_t *);
static int (*u_step)(cursor_t *);
static int (*u_get_reg)(cursor_t *, int, uint64_t *);

__attribute__((noinline)) static long leaf(int mode, int b)
{
    long r;
    if (mode == 0) {
        r = b ? pread(fd, buf, sizeof buf, 0) : a_pread(fd, buf, sizeof buf, 0);
    } else if (b) { /* unw_init_local + unw_step, the ip of each frame, as tdep_trace gives */
        void *ips[64];
        context_t uc;
        cursor_t c;
        int n = 0;
        u_getcontext(&uc);
        if (u_init_local(&c, &uc) >= 0)
            while (n < 64 && u_step(&c) > 0) {
                uint64_t ip;
                u_get_reg(&c, 16 /* UNW_REG_IP on x86_64 */, &ip);
                ips[n++] = (void *)ip;
            }
        r = n + (long)(uintptr_t)ips[0] % 2;
    } else {
        void *ips[64];
        r = u_backtrace(ips, 64);
    }
    __asm__ volatile("" ::: "memory"); /* not a tail call: the frame stays */
    return r;
}

__attribute__((noinline)) static long recurse(int d, int mode, int b)
{
    long r = d > 0 ? recurse(d - 1, mode, b) : leaf(mode, b);
    __asm__ volatile("" ::: "memory");
    return r;
}

static int g_depth;
__attribute__((noinline)) static void run(int mode, int b, long n)
{
    for (long i = 0; i < n; i++)
        sink += recurse(g_depth, mode, b);
}

int main(int argc, char **argv)
{
    int mode = argc < 2 ? -1 : !strcmp(argv[1], "pread") ? 0 : !strcmp(argv[1], "unwind") ? 1 : -1;
    if (mode < 0) {
        fprintf(stderr, "usage: stackloop pread|unwind [ITERS [REPS [DEPTH]]]\n");
        return 2;
    }
    long iters = argc > 2 ? atol(argv[2]) : 200;
    long reps = argc > 3 ? atol(argv[3]) : 60;
    g_depth = argc > 4 ? atoi(argv[4]) : 14;
    if (mode == 0) {
        void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        a_pread = h ? (ssize_t (*)(int, void *, size_t, off_t))dlsym(h, "pread") : NULL;
        const char *f = getenv("BENCH_FILE");
        fd = open(f ? f : "/etc/passwd", O_RDONLY);
        if (!a_pread || fd < 0) {
            fprintf(stderr, "stackloop: no libc pread or no file\n");
            return 1;
        }
    } else {
        void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "stackloop: no libunwind.so.8\n");
            return 1;
        }
        u_backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
        u_getcontext = (int (*)(context_t *))dlsym(h, "_Ux86_64_getcontext");
        u_init_local = (int (*)(cursor_t *, context_t *))dlsym(h, "_ULx86_64_init_local");
        u_step = (int (*)(cursor_t *))dlsym(h, "_ULx86_64_step");
        u_get_reg = (int (*)(cursor_t *, int, uint64_t *))dlsym(h, "_ULx86_64_get_reg");
        int (*policy)(void *, int) = (int (*)(void *, int))dlsym(h, "_ULx86_64_set_caching_policy");
        void **as = (void **)dlsym(h, "_ULx86_64_local_addr_space");
        if (!u_backtrace || !u_getcontext || !u_init_local || !u_step || !u_get_reg) {
            fprintf(stderr, "stackloop: libunwind lacks a function\n");
            return 1;
        }
        if (policy && as && getenv("BENCH_UNW_PER_THREAD"))
            policy(*as, 2);
    }
    memset(floor_ring, 1, sizeof floor_ring);
    run(mode, 0, iters);
    run(mode, 1, iters);
    run_floor(iters);

    double *added = calloc((size_t)reps, sizeof *added);
    double *base = calloc((size_t)reps, sizeof *base);
    double *flo = calloc((size_t)reps, sizeof *flo);
    for (long r = 0; r < reps; r++) {
        pause_us(300);
        uint64_t ta, tb;
        if (r & 1) {
            uint64_t t0 = now_ns();
            run(mode, 1, iters);
            uint64_t t1 = now_ns();
            run(mode, 0, iters);
            uint64_t t2 = now_ns();
            tb = t1 - t0, ta = t2 - t1;
        } else {
            uint64_t t0 = now_ns();
            run(mode, 0, iters);
            uint64_t t1 = now_ns();
            run(mode, 1, iters);
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
    double am = pct(added, reps, 0.5), a25 = pct(added, reps, 0.25), a75 = pct(added, reps, 0.75);
    double bm = pct(base, reps, 0.5), fm = pct(flo, reps, 0.5);
    printf("mode=%s iters=%ld reps=%ld depth=%d base_ns=%.1f added_ns=%.1f added_p25_ns=%.1f "
           "added_p75_ns=%.1f floor_ns=%.1f\n",
           argv[1], iters, reps, g_depth, bm, am, a25, a75, fm);
    return sink == -1;
}
