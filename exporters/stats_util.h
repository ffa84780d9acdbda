/* The stats exporters' two containers (stats.c, stats_gpu.c): a hash map keyed by a pair
 * of pointers (interned strings, op descriptors) and the log-linear duration histogram
 * behind every percentile of stats.json. Drainer thread only; malloc only when they grow. */
#ifndef TA_STATS_UTIL_H
#define TA_STATS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ */
/* Zeroed memory for the maps' tables and the per-file rows. A page first touched by a
 * fault costs ~20 us on this VM, and one first read (a map's probe) then written ~75 us
 * and a TLB-flush interrupt to the program's CPU; populated by the kernel in one system
 * call (MADV_POPULATE_WRITE) a page costs ~1.3 us. 20,000 files made the drainer fault
 * ~1,800 pages, half its CPU time (bench/NOTES.md, row 52). So a large table is mapped
 * and populated at once, and rows come from chunks populated the same way. Under ASan,
 * malloc, so that its checks see every row. */
#define ST_BIG (64u << 10)

/* Raw system calls (not libc's mmap, which the agent wraps), so that the exporter also
 * builds alone (tests/stats/unit.c: hence ta_sandboxed weak). NULL when the mapping fails.
 * The last drain and the stats' end run on the program's thread, maybe after it entered
 * a seccomp sandbox: there no madvise (a filter that allows malloc's mmap and munmap may
 * kill on anything else), the pages fault in as malloc's would. */
extern bool ta_sandboxed __attribute__((weak));
static inline void *st_map(size_t n)
{
    long p = syscall(SYS_mmap, 0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    if (!(&ta_sandboxed && ta_sandboxed))
        syscall(SYS_madvise, (void *)p, n, 23 /* MADV_POPULATE_WRITE, Linux 5.14; else faults */);
    return (void *)p;
}

static inline void *st_zalloc(size_t n)
{
#ifndef __SANITIZE_ADDRESS__
    if (n >= ST_BIG) {
        return st_map(n);
    }
#endif
    return calloc(1, n);
}

static inline void st_free(void *p, size_t n)
{
#ifndef __SANITIZE_ADDRESS__
    if (n >= ST_BIG) {
        if (p)
            syscall(SYS_munmap, p, n);
        return;
    }
#endif
    free(p);
}

/* Rows that live as long as the stats do: handed out of chunks of 16 KiB doubling to 256
 * KiB (at most 256 KiB populated ahead of use). Never freed one by one. */
struct slab {
    char *p;
    size_t left, chunk;
};

static inline void *slab_zalloc(struct slab *s, size_t n)
{
#ifdef __SANITIZE_ADDRESS__
    (void)s;
    return calloc(1, n);
#else
    n = (n + 15) & ~(size_t)15;
    if (s->left < n) {
        size_t c = s->chunk ? s->chunk * 2 : 16u << 10;
        if (c > (256u << 10))
            c = 256u << 10;
        if (c < n)
            c = n;
        char *p = st_map(c);
        if (!p)
            return NULL;
        s->p = p;
        s->left = c;
        s->chunk = c;
    }
    void *r = s->p;
    s->p += n;
    s->left -= n;
    return r;
#endif
}

/* ------------------------------------------------------------------------------------ */
/* A hash map keyed by a pair of pointers (open addressing, linear probing, power of two). */

struct pmap {
    struct pslot {
        const void *a, *b;
        void *v;
    } *s;
    size_t cap, n; /* cap: 0 or a power of two */
};

static inline size_t pmap_hash(const void *a, const void *b)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ull;
    h ^= (uint64_t)(uintptr_t)b * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    return (size_t)h;
}

static inline void *pmap_get(const struct pmap *m, const void *a, const void *b)
{
    if (!m->cap)
        return NULL;
    for (size_t i = pmap_hash(a, b) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct pslot *s = &m->s[i];
        if (!s->v)
            return NULL;
        if (s->a == a && s->b == b)
            return s->v;
    }
}

/* Room for one more key (grown when needed). false when out of memory. */
static inline bool pmap_reserve(struct pmap *m)
{
    if ((m->n + 1) * 4 > m->cap * 3) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        struct pslot *ns = st_zalloc(ncap * sizeof *ns);
        if (!ns)
            return false;
        for (size_t j = 0; j < m->cap; j++) {
            struct pslot *o = &m->s[j];
            if (!o->v)
                continue;
            size_t i = pmap_hash(o->a, o->b) & (ncap - 1);
            while (ns[i].v)
                i = (i + 1) & (ncap - 1);
            ns[i] = *o;
        }
        st_free(m->s, m->cap * sizeof *m->s);
        m->s = ns;
        m->cap = ncap;
    }
    return true;
}

/* The slot of (a, b): the key's own, or (v NULL) the empty one where it goes. One probe
 * sequence for a look-up that may insert: a key missing from a 3/4 full map costs 8
 * probes on average, where a distinct file is looked for once, then inserted
 * (bench/NOTES.md, row 44). Only after pmap_reserve(m). */
static inline struct pslot *pmap_slot(struct pmap *m, const void *a, const void *b)
{
    for (size_t i = pmap_hash(a, b) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct pslot *s = &m->s[i];
        if (!s->v || (s->a == a && s->b == b))
            return s;
    }
}

/* The value of (a, b); when absent, a new zeroed one of `size` bytes put there and *fresh
 * set, for the caller to fill. One probe sequence for the look-up and the insert. NULL
 * when out of memory (nothing put). */
static inline void *pmap_get_or_new(struct pmap *m, const void *a, const void *b, size_t size,
                                    bool *fresh)
{
    *fresh = false;
    if (!pmap_reserve(m))
        return NULL;
    struct pslot *s = pmap_slot(m, a, b);
    if (s->v)
        return s->v;
    void *v = calloc(1, size);
    if (!v)
        return NULL;
    s->a = a;
    s->b = b;
    s->v = v;
    m->n++;
    *fresh = true;
    return v;
}

/* Insert a key known to be absent. false when out of memory. */
static inline bool pmap_put(struct pmap *m, const void *a, const void *b, void *v)
{
    if (!pmap_reserve(m))
        return false;
    size_t i = pmap_hash(a, b) & (m->cap - 1);
    while (m->s[i].v)
        i = (i + 1) & (m->cap - 1);
    m->s[i].a = a;
    m->s[i].b = b;
    m->s[i].v = v;
    m->n++;
    return true;
}


/* ------------------------------------------------------------------------------------ */
/* Log-linear duration histogram: block 0 holds values 0..127 exactly; block b >= 1 holds
 * [2^(b+6), 2^(b+7)) in 128 equal buckets. Blocks are allocated on first use. */

#define H_SUB 128
#define H_BLOCKS 58 /* 1 + (63 - 7 + 1) */

struct hist {
    uint64_t *blk[H_BLOCKS];
};

static inline void hist_add(struct hist *h, uint64_t v)
{
    unsigned b, i;
    if (v < H_SUB) {
        b = 0;
        i = (unsigned)v;
    } else {
        unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 7..63 */
        b = e - 6;
        i = (unsigned)(v >> (e - 7)) & (H_SUB - 1);
    }
    uint64_t *p = h->blk[b];
    if (__builtin_expect(!p, 0)) {
        p = h->blk[b] = calloc(H_SUB, sizeof *p);
        if (!p)
            return;
    }
    p[i]++;
}

/* Lower bound and width of bucket (b, i). */
static inline void hist_bucket(unsigned b, unsigned i, uint64_t *lo, uint64_t *w)
{
    if (b == 0) {
        *lo = i;
        *w = 1;
    } else {
        unsigned shift = b - 1; /* e - 7 */
        *lo = (uint64_t)(H_SUB + i) << shift;
        *w = 1ull << shift;
    }
}

/* The value of rank `rank` (1-based) in ascending order, as its bucket's midpoint. */
static inline uint64_t hist_rank(const struct hist *h, uint64_t rank, uint64_t min, uint64_t max)
{
    uint64_t seen = 0;
    for (unsigned b = 0; b < H_BLOCKS; b++) {
        const uint64_t *p = h->blk[b];
        if (!p)
            continue;
        for (unsigned i = 0; i < H_SUB; i++) {
            seen += p[i];
            if (p[i] && seen >= rank) {
                uint64_t lo, w;
                hist_bucket(b, i, &lo, &w);
                uint64_t v = lo + w / 2;
                return v < min ? min : v > max ? max : v;
            }
        }
    }
    return max; /* a block allocation failed: fewer samples than counted */
}

static inline uint64_t hist_pct(const struct hist *h, uint64_t count, unsigned pct,
                                uint64_t min, uint64_t max)
{
    uint64_t rank = (count * pct + 99) / 100; /* ceil(count * pct / 100) */
    if (rank < 1)
        rank = 1;
    return hist_rank(h, rank, min, max);
}

#endif
