/* One clock for every thread, and the conversion the drainer applies.
 *
 * Records carry ticks (ta_now()). Ticks are raw TSC cycles where the kernel's own
 * CLOCK_MONOTONIC is made of the TSC in user space (tsc_is_kernels_clock below), or with
 * TRACEAGENT_CLOCK=tsc; CLOCK_MONOTONIC nanoseconds otherwise. An rdtsc costs less than a
 * vDSO clock_gettime, and after a system call far less: clock_gettime then also reads two
 * cold pages (the vDSO's data), rdtsc none (bench/NOTES.md, row 29).
 *
 * TSC ticks are turned into CLOCK_MONOTONIC ns by a piecewise-linear function f, made
 * after the fact from (tsc, mono) pairs, so that traces of several processes share one
 * time base:
 *   - f starts at the pair read at init; it is defined up to the tick of the latest pair
 *     (end_tick), and a stamp past it is converted only after a new pair is read (the
 *     stamp was taken before, so it lies between two pairs: f interpolates, it never
 *     extrapolates a slope measured over a short baseline);
 *   - the current segment is extended to the new pair when it meets the pair within
 *     TOL_NS; else a new segment starts at end_tick, where f was, and meets the pair: with
 *     the long-run slope (init to now) when that meets it within TOL_NS, else exactly.
 * f is continuous and monotonic, never changes under a converted stamp (new segments
 * start at end_tick, and every converted stamp is at or before it), and spans that nested
 * in ticks nest in ns. Pairs are read when stamps need them: a drainer that sleeps long
 * needs no wake-up for the clock (it had breakpoints at 1, 2, 4 .. ms, each a wake-up the
 * program paid for: bench/NOTES.md, rows 54 and 58); the drainer reads one at each
 * cycle too, so that no interpolation spans more than a cycle (~50 ms at most) of a rate
 * that NTP may have changed. Converting changes this state: only the holder of the drain
 * (drainer.c's drain_owner: the drainer, a flush, the signal flush) converts. */
#include <math.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "ta.h"

int ta_clock_tsc TA_HOT_DATA;

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

struct seg {
    uint64_t tick; /* segment start */
    double ns;     /* f(tick) */
    double slope;  /* ns per tick from here */
};

#define NSEG 256 /* kept segments; older ticks use the oldest kept one */
#define TOL_NS 30.0 /* f may miss a pair by this much (a pair's window is ~30 ns here) */
static struct seg segs[NSEG];
static unsigned nseg;           /* total segments made; segs[(nseg-1) % NSEG] is current */
static uint64_t init_tick, init_ns;
static uint64_t end_tick;       /* f is made up to here: the latest pair's tick */
/* The state above is whole (release at the end of ta_clock_init). A drainer started for a
 * plug-in's source cycles before any thread records, so its cycle may meet an init under
 * way on the first recording thread; records themselves come after it. */
static _Atomic int ready;

/* A (tsc, mono) pair read as close together as we can: the mono read between two TSC
 * reads, keeping the tightest of a few tries. The first read is ordered (lfence, as
 * ta_now): it comes after the loads before it, so a record the caller saw committed was
 * stamped before the pair's tick. */
static void read_pair(uint64_t *tick, uint64_t *ns)
{
    uint64_t best = ~0ull;
    for (int i = 0; i < 5; i++) {
        __asm__ volatile("lfence" ::: "memory");
        uint64_t a = rdtsc();
        uint64_t m = ta_mono_ns();
        uint64_t b = rdtsc();
        if (b - a < best) {
            best = b - a;
            *tick = a + (b - a) / 2;
            *ns = m;
        }
    }
}

/* The kernel's clocksource, "tsc\n", "kvm-clock\n", ... ("" when unreadable). */
static void clocksource(char *buf, size_t n)
{
    long got = -1;
    int fd = ta_sys_open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                         0, 0);
    if (fd >= 0) {
        got = ta_sys_read(fd, buf, n - 1);
        ta_sys_close(fd);
    }
    buf[got > 0 ? got : 0] = 0;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Least TSC cycles one clock_gettime(CLOCK_MONOTONIC) takes, through libc (`sys` = 0: the
 * vDSO, when the kernel lets it) or as a system call. */
static uint64_t gettime_cycles(int sys, int tries)
{
    uint64_t best = ~0ull;
    struct timespec ts;
    for (int i = 0; i < tries; i++) {
        uint64_t a = rdtsc();
        if (sys)
            syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        else
            clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t b = rdtsc();
        if (b - a < best)
            best = b - a;
    }
    return best;
}

/* Is the kernel's own CLOCK_MONOTONIC, as user space reads it, a function of the raw TSC of
 * whichever CPU the reader runs on? Then TSC ticks order events across CPUs exactly as well
 * as CLOCK_MONOTONIC does, and the conversion (below) maps them onto it.
 *   - The TSC must be invariant (CPUID 0x80000007 EDX bit 8: constant rate, never stops).
 *   - clocksource "tsc": the kernel checked the TSCs are synchronised and reads them.
 *   - clocksource "kvm-clock" (a KVM guest, which may not offer "tsc" at all:
 *     bench/NOTES.md, row 29): the vDSO reads it in user space only when the hypervisor
 *     sets PVCLOCK_TSC_STABLE_BIT, which Linux takes to mean that every vCPU's
 *     TSC is synchronised; the vDSO then applies vCPU 0's scale to the TSC of any vCPU
 *     (arch/x86/include/asm/vdso/gettimeofday.h, vread_pvclock). Without the bit it falls
 *     back to the system call. So: kvm-clock and a clock_gettime well below the system
 *     call's cost mean the vDSO, hence a synchronised TSC (how far apart two vCPUs' stamps
 *     were measured: bench/NOTES.md, row 15). */
static int tsc_is_kernels_clock(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
        return 0;
    __get_cpuid(0x80000007, &a, &b, &c, &d);
    if (!(d & (1u << 8)))
        return 0;
    char cs[64];
    clocksource(cs, sizeof cs);
    if (strcmp(cs, "tsc\n") == 0)
        return 1;
    if (strcmp(cs, "kvm-clock\n") == 0)
        return gettime_cycles(0, 32) * 3 < gettime_cycles(1, 8);
    return 0;
}
#else
static int tsc_is_kernels_clock(void) { return 0; }
#endif

_Atomic uint64_t ta_clock_recent; /* ta.h */

/* Chosen with the first thread that records (ta_thread_attach): a process that records
 * nothing reads no /sys file. Until then ta_now() reads CLOCK_MONOTONIC, and nothing has
 * been recorded with it. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
void ta_clock_ensure(void) { pthread_once(&once, ta_clock_init); }

void ta_clock_init(void)
{
    if (ta_cfg.clock == TA_CLOCK_TSC) /* TRACEAGENT_CLOCK, read with the rest (config.c) */
        ta_clock_tsc = 1;
    else if (ta_cfg.clock == TA_CLOCK_MONOTONIC)
        ta_clock_tsc = 0;
    else
        ta_clock_tsc = tsc_is_kernels_clock();
    ta_debug("clock: %s", ta_clock_tsc ? "tsc" : "monotonic");
    nseg = 0;
    if (!ta_clock_tsc)
        return;
    read_pair(&init_tick, &init_ns);
    /* its slope is set by the first pair after it, before any conversion */
    segs[0] = (struct seg){init_tick, (double)init_ns, 1.0};
    nseg = 1;
    end_tick = init_tick;
    atomic_store_explicit(&ta_clock_recent, init_tick, memory_order_relaxed);
    atomic_store_explicit(&ready, 1, memory_order_release);
}

/* A new pair, and f made up to its tick (see the top of the file). */
static void extend(void)
{
    uint64_t p, m;
    read_pair(&p, &m);
    if (p <= end_tick)
        return;
    struct seg *s = &segs[(nseg - 1) % NSEG];
    double fm = (double)m;
    if (end_tick == s->tick) { /* no stamp converted on it yet: its slope is free */
        double slope = (fm - s->ns) / (double)(p - s->tick);
        if (slope > 0)
            s->slope = slope;
        end_tick = p;
        return;
    }
    double at_p = s->ns + (double)(int64_t)(p - s->tick) * s->slope;
    if (fabs(at_p - fm) <= TOL_NS) {
        end_tick = p;
        return;
    }
    double f_end = s->ns + (double)(int64_t)(end_tick - s->tick) * s->slope;
    double span = (double)(p - end_tick);
    double slope = (double)(m - init_ns) / (double)(p - init_tick); /* the long run's */
    if (!(fabs(f_end + span * slope - fm) <= TOL_NS))
        slope = (fm - f_end) / span;
    if (!(slope > 0)) /* f ahead of the pair over a short span: the next pair corrects */
        slope = s->slope;
    segs[nseg % NSEG] = (struct seg){end_tick, f_end, slope};
    nseg++;
    end_tick = p;
}

static const struct seg *seg_for(uint64_t t)
{
    unsigned last = nseg - 1, first = nseg > NSEG ? nseg - NSEG : 0;
    /* most conversions hit the current segment */
    for (unsigned i = last;; i--) {
        const struct seg *s = &segs[i % NSEG];
        if (t >= s->tick || i == first)
            return s;
    }
}

static double f_of(uint64_t t)
{
    const struct seg *s = seg_for(t);
    return s->ns + (double)(int64_t)(t - s->tick) * s->slope;
}

/* A pair now (each drain cycle: see the top of the file). */
void ta_clock_refresh(void)
{
    if (atomic_load_explicit(&ready, memory_order_acquire)) {
        extend();
        atomic_store_explicit(&ta_clock_recent, end_tick, memory_order_relaxed);
    }
}

uint64_t ta_clock_to_ns(uint64_t ticks)
{
    if (!ta_clock_tsc)
        return ticks;
    /* (a stamp still past the new pair, from a CPU whose TSC is a few ns ahead: the
     * current segment goes on) */
    if (ticks > end_tick)
        extend();
    double v = f_of(ticks);
    return v < 0 ? 0 : (uint64_t)(v + 0.5);
}

/* A span's two stamps in ns, each ta_clock_to_ns's value: one segment found for both when
 * both are in the current one, as nearly all are (the drainer converted them one call
 * each; bench/NOTES.md, row 51). */
void ta_clock_span_to_ns(uint64_t t0, uint64_t t1, uint64_t *ns0, uint64_t *ns1)
{
    if (!ta_clock_tsc) {
        *ns0 = t0;
        *ns1 = t1;
        return;
    }
    if (t0 > end_tick || t1 > end_tick)
        extend();
    const struct seg *s = &segs[(nseg - 1) % NSEG];
    if (ta_unlikely(!nseg || t0 < s->tick || t1 < s->tick)) {
        *ns0 = ta_clock_to_ns(t0);
        *ns1 = ta_clock_to_ns(t1);
        return;
    }
    /* f_of's arithmetic, in the same order: the same doubles */
    double v0 = s->ns + (double)(int64_t)(t0 - s->tick) * s->slope;
    double v1 = s->ns + (double)(int64_t)(t1 - s->tick) * s->slope;
    *ns0 = v0 < 0 ? 0 : (uint64_t)(v0 + 0.5);
    *ns1 = v1 < 0 ? 0 : (uint64_t)(v1 + 0.5);
}

/* The current segment, for a consumer that converts many stamps inline (drain_cycle): a
 * stamp t from *tick to *end is f_of's *ns + (double)(int64_t)(t - *tick) * *slope,
 * rounded as ta_clock_to_ns rounds; any other goes through ta_clock_to_ns, after which
 * the segment may have changed. 0: none (ticks are ns already, or no segment yet). */
int ta_clock_segment(uint64_t *tick, uint64_t *end, double *ns, double *slope)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return 0;
    const struct seg *s = &segs[(nseg - 1) % NSEG];
    *tick = s->tick;
    *end = end_tick;
    *ns = s->ns;
    *slope = s->slope;
    return 1;
}
