/* GPU statistics of the stats exporter (stats.c calls in; exporters/README.md, "GPU").
 *
 * Device events (op layer DEVICE, on named tracks, arriving late and out of order, after
 * the spans that launched them) are told apart by their op's fields and name, never by
 * category: a GRID field makes a kernel; a name starting "Memcpy" with a BYTES field a copy
 * (direction from the name's suffix: HtoD, DtoH; any other counts as DtoD); "Memset" a
 * memset; "Graph" a graph launch (busy, counted apart: it has no GRID field). Anything
 * else on the device layer (Sync) is counted in `ops` only.
 *
 *  - `kernels`: per kernel name (the interned pointer), duration statistics with the
 *    log-linear histogram of stats.c's ops rows (a copy: percentiles within 0.4%), the
 *    launch configs (up to CFG_SLOTS told apart, `configs_capped` past them) and the
 *    devices.
 *  - `gpu`: totals, bytes each way, and per device the exact union of busy intervals
 *    (kernels, copies, memsets, graphs: only overlapping or touching ones merge), kept as a
 *    window of sorted disjoint intervals over a watermark below which the union is summed
 *    (see "Interval sets"); work later than the whole window is counted in busy_approx_ns.
 *  - `phases`: per marker name, its spans' count and time; the GPU work LAUNCHED under it
 *    (its name on the work's scope path; once per name when markers of one name nest);
 *    the busy time of ANY work overlapping its ranges: a name keeps its ranges until the
 *    devices' watermarks pass them; what a device retires is intersected with them then
 *    (dev_retired), what lies below a watermark when a range completes comes from the
 *    device's checkpoints (phase_range), the windows at finish.
 *  - tree nodes: the work at the node its scope names (stats.c finds the node; the walk is
 *    done once per scope id, cached here), summed over subtrees at finish.
 *
 * Per device event: a few cached lookups by pointer (op, name, scope id, device), a
 * histogram bucket and an interval append (a retirement every 32,768 intervals,
 * O(1) amortised): no malloc in steady state (cost: bench/NOTES.md
 * rows 39 and 48, measured with tests/gpustats/bench.c). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "stats_gpu.h"
#include "stats_util.h"

#define IV_CAP (1u << 16)     /* intervals per device, or per phase name, kept at most */
#define CK_MAX 4096           /* checkpoints of a device's retired busy time */
#define IV_TOTAL (1u << 21)   /* interval slots in all (32 MiB), at most */
#define MAX_DEVS 64           /* devices told apart */
#define CFG_SLOTS 32          /* launch configs told apart per kernel */
#define GPU_CAUSES 16         /* GPU drop causes told apart */

static void goom(void);

/* ------------------------------------------------------------------------------------ */
/* Interval sets: sorted, disjoint [a, b), merged only when they overlap or touch (a union,
 * exact). Work that arrives in order (start >= the last interval's start) extends or
 * follows the last interval; work a few intervals late goes in place; work later than that
 * waits in `pend` (IV_PEND of them, allocated at the first), sorted and merged into the
 * tail of the set when full and before the set is read: a late record costs a slot, not a
 * binary search and a memmove over the set. Always n + np <= cap, so that a flush fits.
 *
 * A set holds a window, not the whole run: when it cannot grow (IV_CAP, IV_TOTAL) its
 * oldest half is retired (iv_retire): their length goes to `done` (exact) and `wm`, the
 * watermark, moves to their end. Records arrive nearly in order, so work starting before
 * the watermark (later than the whole window, tens of thousands of intervals) is rare: its
 * part before the watermark is counted as busy in `late` without knowing whether it was
 * covered already (done + window <= the exact union <= done + window + late). Memory is
 * bounded and each interval is retired once: O(1) amortised. A device's set tells its
 * phases what it retires (dev_retired) and keeps checkpoints of its cumulative busy time;
 * a phase's set of marker ranges drops ranges the devices are done with (phase_room). */

#define IV_PEND 1024
#define IV_NEAR 64 /* a late interval this close to the end goes in place */

struct iv {
    uint64_t a, b;
};
struct ivset {
    struct iv *v, *pend;
    uint32_t n, cap, np;
    int16_t dev;   /* >= 0: the set of g.dev[dev] (its retirements go to the phases) */
    uint64_t wm;   /* retired: every retired interval ends at or before wm, the window after */
    uint64_t done; /* the length of the retired intervals */
    uint64_t late; /* ns of work before wm counted as busy without knowing (an upper bound) */
};

static uint64_t iv_slots;   /* allocated in all sets (reset in a forked child) */
static struct iv *iv_tmp;   /* the merged tail, at a flush */
static uint32_t iv_tmp_cap;

static void dev_retired(int dev, const struct iv *r, uint32_t k, uint64_t w0, uint64_t w1);
static bool phase_room(struct ivset *s);

/* Room for `need` intervals: grown (to IV_CAP, within IV_TOTAL), else false */
static bool iv_grow(struct ivset *s, uint32_t need)
{
    if (need <= s->cap)
        return true;
    uint32_t ncap = s->cap ? s->cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > IV_CAP || iv_slots + (ncap - s->cap) > IV_TOTAL)
        return false;
    struct iv *nv = realloc(s->v, ncap * sizeof *nv);
    if (!nv)
        return false;
    iv_slots += ncap - s->cap;
    s->v = nv;
    s->cap = ncap;
    return true;
}

static int cmp_iv(const void *x, const void *y)
{
    const struct iv *p = x, *q = y;
    return (p->a > q->a) - (p->a < q->a);
}

/* The late intervals into the set: sorted, merged with the tail they reach (fits: n + np
 * <= cap) */
static void iv_flush(struct ivset *s)
{
    if (!s->np)
        return;
    qsort(s->pend, s->np, sizeof *s->pend, cmp_iv);
    uint64_t a0 = s->pend[0].a;
    uint32_t lo = 0, hi = s->n; /* the first interval that a0 may merge with */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->v[mid].b >= a0)
            hi = mid;
        else
            lo = mid + 1;
    }
    uint32_t i = lo, m = s->n - i + s->np;
    if (m > iv_tmp_cap) {
        uint32_t cap = iv_tmp_cap ? iv_tmp_cap : 4096;
        while (cap < m)
            cap *= 2;
        struct iv *t = realloc(iv_tmp, cap * sizeof *t);
        if (!t) {
            goom();
            s->np = 0; /* lost: out of memory */
            return;
        }
        iv_tmp = t;
        iv_tmp_cap = cap;
    }
    uint32_t x = i, y = 0, o = 0;
    while (x < s->n || y < s->np) { /* both sorted by start: one walk */
        struct iv e = y >= s->np || (x < s->n && s->v[x].a <= s->pend[y].a) ? s->v[x++]
                                                                              : s->pend[y++];
        if (o && e.a <= iv_tmp[o - 1].b) {
            if (e.b > iv_tmp[o - 1].b)
                iv_tmp[o - 1].b = e.b;
        } else {
            iv_tmp[o++] = e;
        }
    }
    s->np = 0;
    memcpy(s->v + i, iv_tmp, o * sizeof *iv_tmp);
    s->n = i + o;
}

/* Retire everything before t (an interval across t is cut there): `done` += their length,
 * wm = t; the device's phases are told. Needs np == 0. */
static void iv_retire(struct ivset *s, uint64_t t)
{
    if (t <= s->wm)
        return;
    uint32_t k = 0;
    while (k < s->n && s->v[k].b <= t)
        k++;
    bool across = k < s->n && s->v[k].a < t;
    uint64_t end = across ? s->v[k].b : 0;
    if (across) /* the part before t retired with the others, the rest kept */
        s->v[k].b = t;
    uint32_t kr = k + across;
    if (s->dev >= 0)
        dev_retired(s->dev, s->v, kr, s->wm, t);
    for (uint32_t i = 0; i < kr; i++)
        s->done += s->v[i].b - s->v[i].a;
    if (across)
        s->v[k] = (struct iv){t, end};
    memmove(s->v, s->v + k, (s->n - k) * sizeof *s->v);
    s->n -= k;
    s->wm = t;
}

/* A full set that cannot grow: the late ones in, then the oldest half retired (a phase's
 * ranges: phase_room). False: no room at all (out of memory). */
static bool iv_room(struct ivset *s)
{
    if (s->n + s->np < s->cap || iv_grow(s, s->n + s->np + 1))
        return true;
    iv_flush(s);
    if (s->n + s->np < s->cap)
        return true;
    if (s->dev < 0)
        return phase_room(s);
    if (!s->n)
        return false;
    iv_retire(s, s->v[(s->n - 1) / 2].b);
    return s->n + s->np < s->cap;
}

static void iv_add(struct ivset *s, uint64_t a, uint64_t b)
{
    if (b < a)
        b = a;
    if (a < s->wm) { /* later than the whole window: counted, not placed */
        uint64_t e = b < s->wm ? b : s->wm;
        s->late += e - a;
        if (b <= s->wm)
            return;
        a = s->wm;
    }
    uint32_t n = s->n;
    if (!n || a >= s->v[n - 1].a) { /* in order (the late ones in pend are merged later) */
        if (n && a <= s->v[n - 1].b) {
            if (b > s->v[n - 1].b)
                s->v[n - 1].b = b;
            return;
        }
        if (!iv_room(s)) {
            goom();
            return;
        }
        if (s->n != n || a < s->wm) { /* made room: placed anew */
            iv_add(s, a, b);
            return;
        }
        s->v[s->n++] = (struct iv){a, b};
        return;
    }
    /* late by a few intervals (concurrent streams: the usual case): put in place, merged
     * with the neighbours it reaches; a move of at most IV_NEAR intervals */
    {
        uint32_t i = n;
        while (i > 0 && n - i < IV_NEAR && s->v[i - 1].a > a)
            i--;
        if (i == 0 || s->v[i - 1].a <= a) { /* v[i - 1].a <= a < v[i].a */
            uint32_t lo = i > 0 && a <= s->v[i - 1].b ? i - 1 : i, hi = i;
            while (hi < n && s->v[hi].a <= b)
                hi++;
            if (lo < hi) { /* merged with v[lo..hi) */
                uint64_t na = a < s->v[lo].a ? a : s->v[lo].a;
                uint64_t nb = b > s->v[hi - 1].b ? b : s->v[hi - 1].b;
                s->v[lo] = (struct iv){na, nb};
                memmove(&s->v[lo + 1], &s->v[hi], (n - hi) * sizeof *s->v);
                s->n -= hi - lo - 1;
                return;
            }
            if (n + s->np < s->cap || iv_grow(s, n + s->np + 1)) {
                memmove(&s->v[i + 1], &s->v[i], (n - i) * sizeof *s->v);
                s->v[i] = (struct iv){a, b};
                s->n++;
                return;
            }
        }
    }
    if (!iv_room(s)) {
        goom();
        return;
    }
    if (s->n != n || a < s->wm) { /* made room: placed anew */
        iv_add(s, a, b);
        return;
    }
    if (!s->pend && !(s->pend = malloc(IV_PEND * sizeof *s->pend))) {
        goom();
        return;
    }
    s->pend[s->np++] = (struct iv){a, b};
    if (s->np == IV_PEND)
        iv_flush(s);
}

/* The window's length (after iv_flush) */
static uint64_t iv_total(const struct ivset *s)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < s->n; i++)
        t += s->v[i].b - s->v[i].a;
    return t;
}

/* The first interval of v[0..n) that ends after t */
static uint32_t iv_find(const struct iv *v, uint32_t n, uint64_t t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (v[mid].b > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The length of the intersection of x[0..nx) and y[0..ny) within [lo, hi) (a sweep from
 * the first of each that ends after lo). */
static uint64_t iv_overlap(const struct iv *x, uint32_t nx, const struct iv *y, uint32_t ny,
                           uint64_t lo, uint64_t hi)
{
    uint64_t t = 0;
    uint32_t i = iv_find(x, nx, lo), j = iv_find(y, ny, lo);
    while (i < nx && j < ny) {
        uint64_t a = x[i].a > y[j].a ? x[i].a : y[j].a;
        uint64_t b = x[i].b < y[j].b ? x[i].b : y[j].b;
        if (a < lo)
            a = lo;
        if (b > hi)
            b = hi;
        if (a >= hi)
            break;
        if (b > a)
            t += b - a;
        if (x[i].b < y[j].b)
            i++;
        else
            j++;
    }
    return t;
}

/* ------------------------------------------------------------------------------------ */
/* State */

struct gop { /* what an op is, worked out once per op */
    const struct ta_op *op;
    const struct ta_field *f;
    uint8_t kind, dir; /* dir: 0 HtoD, 1 DtoH, 2 DtoD */
    int8_t i_dev, i_grid, i_block, i_bytes;
};

struct kcfg {
    uint32_t grid[3], block[3];
    uint64_t count;
};

struct krow {
    const char *name;
    uint64_t count, total, min, max;
    unsigned __int128 sumsq;
    uint64_t devmask; /* bits: indices in g.dev */
    struct hist h;
    struct kcfg cfg[CFG_SLOTS];
    uint32_t ncfg, lastcfg;
    bool capped; /* a launch config past CFG_SLOTS seen */
};

struct ck { /* a device's busy time retired before t */
    uint64_t t, b;
};
struct dev {
    uint32_t id;
    uint64_t first, last; /* its work's first start and last end */
    struct ivset busy;
    struct ck *ck; /* ascending, at most CK_MAX */
    uint32_t nck;
    uint64_t ckgap; /* busy ns between checkpoints, at least (0: every one kept) */
};

struct phase {
    const char *name;
    uint64_t count, total;
    uint64_t k_count, k_ns, c_count, c_ns, c_bytes, m_ns;
    struct ivset ranges; /* its marker ranges the devices are not done with (dev = -1) */
    uint64_t busy;       /* busy time overlapping its ranges, below the devices' watermarks */
    uint64_t approx;     /* the error bound of busy (checkpoints, ranges dropped early) */
    uint64_t wall_done;  /* the length of its ranges dropped or never kept */
    uint64_t drop_to;    /* the end of the last range dropped */
};

static struct {
    struct pmap ops, kernels, phases;
    struct gop *last_op;
    struct krow *last_k;
    struct phase *last_ph;
    struct dev dev[MAX_DEVS];
    int ndev, last_dev;
    uint64_t k_count, k_ns, c_count, c_ns, bytes[3], m_count, m_ns, gr_count, gr_ns;
    uint64_t first, last;
    struct gpu_scope *scopes; /* by scope id */
    uint32_t nscopes;
    struct phase **pool; /* the phases of each scope, one run per scope */
    struct phase **phl;  /* every phase row */
    uint32_t nphl, capphl;
    uint32_t npool, cappool;
    struct {
        char cause[32];
        uint64_t total;
    } drop[GPU_CAUSES];
    int ndrop;
    bool oom_warned;
} g;

static void goom(void)
{
    if (!g.oom_warned) {
        g.oom_warned = true;
        ta_warn("stats: out of memory, GPU statistics will be incomplete");
    }
}

static bool prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static bool suffix(const char *s, const char *x)
{
    size_t n = strlen(s), m = strlen(x);
    return n >= m && strcmp(s + n - m, x) == 0;
}

static struct gop *gop_get(const struct ta_op *op)
{
    struct gop *o = g.last_op;
    if (o && o->op == op)
        return o;
    bool fresh;
    if (!(o = pmap_get_or_new(&g.ops, op, NULL, sizeof *o, &fresh))) {
        goom();
        return NULL;
    }
    if (!fresh)
        return g.last_op = o;
    o->op = op;
    unsigned nf;
    o->f = ta_op_fields(op, &nf);
    o->i_dev = o->i_grid = o->i_block = o->i_bytes = -1;
    for (unsigned i = nf < 128 ? nf : 128; i-- > 0;) { /* the first of each role */
        switch (o->f[i].role) {
        case TA_ROLE_DEVICE: o->i_dev = (int8_t)i; break;
        case TA_ROLE_GRID: o->i_grid = (int8_t)i; break;
        case TA_ROLE_BLOCK: o->i_block = (int8_t)i; break;
        case TA_ROLE_BYTES: o->i_bytes = (int8_t)i; break;
        default: break;
        }
    }
    const char *name = op->name ? op->name : "";
    if (o->i_grid >= 0 && o->f[o->i_grid].type == TA_FT_DIM3)
        o->kind = GPU_KERNEL;
    else if (prefix(name, "Memcpy") && o->i_bytes >= 0) {
        o->kind = GPU_COPY;
        o->dir = suffix(name, "HtoD") ? 0 : suffix(name, "DtoH") ? 1 : 2;
    } else if (prefix(name, "Memset"))
        o->kind = GPU_MEMSET;
    else if (strcmp(name, "Graph") == 0) /* a graph launch: GPU work, no GRID field */
        o->kind = GPU_GRAPH;
    return g.last_op = o;
}

static struct phase *phase_get(const char *name)
{
    struct phase *p = g.last_ph;
    if (p && p->name == name)
        return p;
    if ((p = pmap_get(&g.phases, name, NULL)))
        return g.last_ph = p;
    if (!(p = calloc(1, sizeof *p))) {
        goom();
        return NULL;
    }
    p->name = name;
    p->ranges.dev = -1;
    if (g.nphl == g.capphl) {
        uint32_t cap = g.capphl ? g.capphl * 2 : 32;
        struct phase **v = realloc(g.phl, cap * sizeof *v);
        if (!v) {
            free(p);
            goom();
            return NULL;
        }
        g.phl = v;
        g.capphl = cap;
    }
    if (!pmap_put(&g.phases, name, NULL, p)) {
        free(p);
        goom();
        return NULL;
    }
    g.phl[g.nphl++] = p;
    return g.last_ph = p;
}

/* The device's slot; -1: past MAX_DEVS */
static int dev_get(uint32_t id)
{
    if (g.ndev && g.dev[g.last_dev].id == id)
        return g.last_dev;
    for (int i = 0; i < g.ndev; i++)
        if (g.dev[i].id == id)
            return g.last_dev = i;
    if (g.ndev == MAX_DEVS)
        return -1;
    g.dev[g.ndev].id = id;
    g.dev[g.ndev].first = UINT64_MAX;
    g.dev[g.ndev].busy.dev = (int16_t)g.ndev;
    return g.last_dev = g.ndev++;
}

/* A checkpoint of a device's retired busy time. Each one but the last (the watermark) is
 * at least `ckgap` ns of busy time after the one before; at CK_MAX the gap becomes twice
 * the busy time over CK_MAX and the points are thinned to it (about CK_MAX / 2 left): the
 * resolution is the same over the whole run and the memory stays put. */
static void ck_add(struct dev *d, uint64_t t, uint64_t b)
{
    if (!d->ck && !(d->ck = malloc(CK_MAX * sizeof *d->ck))) {
        goom();
        return;
    }
    uint32_t n = d->nck;
    if (n && d->ck[n - 1].t == t) {
        d->ck[n - 1].b = b;
        return;
    }
    if (n >= 2 && d->ck[n - 1].b - d->ck[n - 2].b < d->ckgap) { /* the last one: moved */
        d->ck[n - 1] = (struct ck){t, b};
        return;
    }
    if (n == CK_MAX) {
        d->ckgap = 2 * ((d->ck[n - 1].b - d->ck[0].b) / CK_MAX + 1);
        uint32_t o = 1;
        for (uint32_t i = 1; i + 1 < n; i++)
            if (d->ck[i].b - d->ck[o - 1].b >= d->ckgap)
                d->ck[o++] = d->ck[i];
        d->ck[o++] = d->ck[n - 1];
        d->nck = o;
    }
    d->ck[d->nck++] = (struct ck){t, b};
}

/* The device's retired busy time before x (x <= its watermark): *err its error bound.
 * Between two checkpoints the busy time grows by at most the time passed (one engine's
 * union), so it is known within [max(0, db - (t1 - x)), min(db, x - t0)]. */
static uint64_t ck_busy(const struct dev *d, uint64_t x, uint64_t *err)
{
    uint32_t lo = 0, hi = d->nck; /* the first checkpoint after x */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (d->ck[mid].t > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == 0)
        return 0; /* before the first retired work */
    const struct ck *c0 = &d->ck[lo - 1];
    if (lo == d->nck)
        return c0->b;
    const struct ck *c1 = &d->ck[lo];
    uint64_t db = c1->b - c0->b, ahead = c1->t - x, since = x - c0->t;
    uint64_t l = db > ahead ? db - ahead : 0, h = db < since ? db : since;
    *err += (h - l + 1) / 2;
    return c0->b + l + (h - l) / 2;
}

/* A device retired r[0..k) (sorted, within [w0, w1)): its checkpoints, and the busy time
 * they share with each phase's ranges (those ranges' parts in [w0, w1) are now final). */
static void dev_retired(int dev, const struct iv *r, uint32_t k, uint64_t w0, uint64_t w1)
{
    struct dev *d = &g.dev[dev];
    uint64_t b = d->busy.done;
    for (uint32_t i = 0; i < k; i++) {
        ck_add(d, r[i].a, b);
        b += r[i].b - r[i].a;
        ck_add(d, r[i].b, b);
    }
    ck_add(d, w1, b);
    for (uint32_t i = 0; i < g.nphl; i++) {
        struct phase *p = g.phl[i];
        if (!p->ranges.n && !p->ranges.np)
            continue;
        iv_flush(&p->ranges);
        p->busy += iv_overlap(r, k, p->ranges.v, p->ranges.n, w0, w1);
    }
}

static uint64_t min_wm(void)
{
    uint64_t m = g.ndev ? UINT64_MAX : 0;
    for (int d = 0; d < g.ndev; d++)
        if (g.dev[d].busy.wm < m)
            m = g.dev[d].busy.wm;
    return m;
}

/* A phase's ranges full: those every device is done with are dropped; when fewer than
 * half are, the devices lag by more than IV_CAP marker ranges (an idle device, or GPU
 * records that stopped): they are retired to the end of the oldest half, which is then
 * dropped (work of theirs that comes later before that point counts in their `late`).
 * With no device yet (a run with markers only, so far) the older half is dropped. */
static bool phase_room(struct ivset *s)
{
    struct phase *p = (struct phase *)((char *)s - offsetof(struct phase, ranges));
    if (s->n < 2)
        return false;
    uint64_t t = s->v[s->n / 2 - 1].b;
    if (min_wm() < t)
        for (int d = 0; d < g.ndev; d++)
            if (g.dev[d].busy.wm < t) {
                iv_flush(&g.dev[d].busy);
                iv_retire(&g.dev[d].busy, t);
            }
    uint64_t w = g.ndev ? min_wm() : t; /* no device yet: the older half goes */
    uint32_t k = 0;
    while (k < s->n && s->v[k].b <= w)
        p->wall_done += s->v[k].b - s->v[k].a, k++;
    if (k)
        p->drop_to = s->v[k - 1].b;
    memmove(s->v, s->v + k, (s->n - k) * sizeof *s->v);
    s->n -= k;
    return s->n + s->np < s->cap;
}

static bool dim3(const struct ta_event *ev, const struct gop *o, int i, uint32_t out[3])
{
    const unsigned char *p = i >= 0 ? ta_field_at(ev, &o->f[i]) : NULL;
    if (!p || o->f[i].type != TA_FT_DIM3) {
        out[0] = out[1] = out[2] = 0;
        return false;
    }
    memcpy(out, p, 12);
    return true;
}

static void kernel_event(const struct ta_event *ev, const struct gop *o, int dev)
{
    const char *name = ev->name ? ev->name : ev->op->name;
    struct krow *k = g.last_k;
    if (!k || k->name != name) {
        bool fresh;
        if (!(k = pmap_get_or_new(&g.kernels, name, NULL, sizeof *k, &fresh))) {
            goom();
            return;
        }
        if (fresh) {
            k->name = name;
            k->min = UINT64_MAX;
        }
        g.last_k = k;
    }
    uint64_t d = ev->dur_ns;
    k->count++;
    k->total += d;
    k->sumsq += (unsigned __int128)d * d;
    if (d < k->min)
        k->min = d;
    if (d > k->max)
        k->max = d;
    hist_add(&k->h, d);
    if (dev >= 0)
        k->devmask |= 1ull << dev;
    uint32_t gr[3], bl[3];
    dim3(ev, o, o->i_grid, gr);
    dim3(ev, o, o->i_block, bl);
    uint32_t i = k->lastcfg;
    if (i >= k->ncfg || memcmp(k->cfg[i].grid, gr, 12) || memcmp(k->cfg[i].block, bl, 12)) {
        for (i = 0; i < k->ncfg; i++)
            if (!memcmp(k->cfg[i].grid, gr, 12) && !memcmp(k->cfg[i].block, bl, 12))
                break;
        if (i == k->ncfg) {
            if (i == CFG_SLOTS) { /* more configs than told apart: the launch counts, not
                                   * its config; `configs_capped` says so */
                k->capped = true;
                return;
            }
            memcpy(k->cfg[i].grid, gr, 12);
            memcpy(k->cfg[i].block, bl, 12);
            k->ncfg++;
        }
        k->lastcfg = i;
    }
    k->cfg[i].count++;
}

/* ------------------------------------------------------------------------------------ */
/* Scopes: the marker names on a scope's path, found once per scope id */

struct gpu_scope *gpu_scope(uint32_t scope)
{
    if (!scope)
        return NULL;
    if (scope >= g.nscopes) {
        uint32_t cap = g.nscopes ? g.nscopes : 256;
        while (cap <= scope)
            cap *= 2;
        struct gpu_scope *v = realloc(g.scopes, cap * sizeof *v);
        if (!v) {
            goom();
            return NULL;
        }
        memset(v + g.nscopes, 0, (cap - g.nscopes) * sizeof *v);
        g.scopes = v;
        g.nscopes = cap;
    }
    struct gpu_scope *s = &g.scopes[scope];
    if (s->walked)
        return s;
    s->walked = 1;
    s->ph_off = g.npool;
    uint32_t depth = 0;
    for (uint32_t id = scope; id && depth < 256; depth++) {
        const struct ta_op *op = NULL;
        const char *name = NULL;
        id = ta_scope_parent(id, &op, &name);
        if (!op)
            break;
        if (op->cat != TA_CAT_MARKER)
            continue;
        struct phase *p = phase_get(name ? name : op->name);
        if (!p)
            continue;
        bool seen = false; /* "a" inside "a": its work counts once for "a" */
        for (uint32_t k = s->ph_off; k < g.npool && !seen; k++)
            seen = g.pool[k] == p;
        if (seen)
            continue;
        if (g.npool == g.cappool) {
            uint32_t cap = g.cappool ? g.cappool * 2 : 64;
            struct phase **v = realloc(g.pool, cap * sizeof *v);
            if (!v) {
                goom();
                break;
            }
            g.pool = v;
            g.cappool = cap;
        }
        g.pool[g.npool++] = p;
    }
    s->ph_n = (uint16_t)(g.npool - s->ph_off);
    return s;
}

/* ------------------------------------------------------------------------------------ */
/* Per-event entry points */

void gpu_event(const struct ta_event *ev, struct gpu_work *w)
{
    w->kind = GPU_NONE;
    w->bytes = 0;
    if (ev->op->shape != TA_SHAPE_SPAN)
        return;
    struct gop *o = gop_get(ev->op);
    if (!o || o->kind == GPU_NONE)
        return;
    uint64_t t0 = ev->ts_ns, d = ev->dur_ns, t1 = t0 + d;
    int64_t v = 0;
    uint32_t devid = o->i_dev >= 0 && ta_field_i64(ev, &o->f[o->i_dev], &v) && v >= 0
                         ? (uint32_t)v : 0;
    int dev = dev_get(devid);
    if (dev >= 0) {
        struct dev *dv = &g.dev[dev];
        if (t0 < dv->first)
            dv->first = t0;
        if (t1 > dv->last)
            dv->last = t1;
        iv_add(&dv->busy, t0, t1);
        if (!dv->busy.cap)
            goom();
    }
    if (!g.first || t0 < g.first)
        g.first = t0;
    if (t1 > g.last)
        g.last = t1;
    w->kind = o->kind;
    switch (o->kind) {
    case GPU_KERNEL:
        g.k_count++;
        g.k_ns += d;
        kernel_event(ev, o, dev);
        break;
    case GPU_COPY:
        if (ta_field_i64(ev, &o->f[o->i_bytes], &v) && v > 0)
            w->bytes = (uint64_t)v;
        g.c_count++;
        g.c_ns += d;
        g.bytes[o->dir] += w->bytes;
        break;
    case GPU_GRAPH: /* busy (above), counted apart: not a kernel, copy or memset */
        g.gr_count++;
        g.gr_ns += d;
        break;
    default:
        g.m_count++;
        g.m_ns += d;
        break;
    }
    struct gpu_scope *s = gpu_scope(ev->scope);
    for (uint32_t i = 0; s && i < s->ph_n; i++) {
        struct phase *p = g.pool[s->ph_off + i];
        switch (o->kind) {
        case GPU_KERNEL:
            p->k_count++;
            p->k_ns += d;
            break;
        case GPU_COPY:
            p->c_count++;
            p->c_ns += d;
            p->c_bytes += w->bytes;
            break;
        case GPU_MEMSET: p->m_ns += d; break;
        default: break;
        }
    }
}

static void phase_range(struct phase *p, uint64_t x, uint64_t y);

void gpu_marker(const struct ta_event *ev)
{
    if (ev->op->shape != TA_SHAPE_SPAN || !ev->name)
        return;
    struct phase *p = phase_get(ev->name);
    if (!p)
        return;
    p->count++;
    p->total += ev->dur_ns;
    phase_range(p, ev->ts_ns, ev->ts_ns + ev->dur_ns);
}

/* A marker range [x, y) of phase p completed */
static void phase_range(struct phase *p, uint64_t x, uint64_t y)
{
    if (y <= x)
        return;
    /* The parts of [x, y) not in its kept ranges yet: what lies there below a device's
     * watermark is final, counted now from the device's checkpoints; the rest is counted
     * as the devices retire their work (dev_retired) or at finish. */
    struct ivset *s = &p->ranges;
    iv_flush(s);
    uint64_t cur = x, fresh = 0;
    for (uint32_t i = iv_find(s->v, s->n, x); cur < y; i++) {
        uint64_t e = i < s->n && s->v[i].a < y ? s->v[i].a : y;
        if (e > cur) { /* [cur, e) is new */
            fresh += e - cur;
            for (int d = 0; d < g.ndev; d++) {
                const struct dev *dv = &g.dev[d];
                uint64_t w = dv->busy.wm < e ? dv->busy.wm : e;
                if (w <= cur)
                    continue;
                uint64_t err = 0, b1 = ck_busy(dv, w, &err), b0 = ck_busy(dv, cur, &err);
                p->busy += b1 > b0 ? b1 - b0 : 0;
                p->approx += err;
                if (cur < p->drop_to) /* may overlap a range dropped: counted twice */
                    p->approx += b1 > b0 ? b1 - b0 : 0;
            }
        }
        if (i >= s->n || s->v[i].a >= y)
            break;
        if (s->v[i].b > cur)
            cur = s->v[i].b;
    }
    if (y <= min_wm()) /* every device is past it: final, not kept */
        p->wall_done += fresh;
    else
        iv_add(s, x, y);
}

void gpu_dropped(const char *cause, uint64_t total)
{
    /* the CUPTI module's causes (records CUPTI dropped, buffers it could not get) */
    if (!cause || !(prefix(cause, "cupti") || prefix(cause, "gpu")))
        return;
    for (int i = 0; i < g.ndrop; i++)
        if (strncmp(g.drop[i].cause, cause, sizeof g.drop[i].cause - 1) == 0) {
            g.drop[i].total = total;
            return;
        }
    if (g.ndrop < GPU_CAUSES) {
        strncpy(g.drop[g.ndrop].cause, cause, sizeof g.drop[0].cause - 1);
        g.drop[g.ndrop++].total = total;
    }
}

bool gpu_any(void) { return g.k_count || g.c_count || g.m_count || g.gr_count; }

/* ------------------------------------------------------------------------------------ */
/* Tree nodes */

static struct gpu_node *node_get(struct gpu_node **n)
{
    if (!*n && !(*n = calloc(1, sizeof **n)))
        goom();
    return *n;
}

void gpu_node_work(struct gpu_node **np, const struct gpu_work *w, uint64_t dur)
{
    if (w->kind != GPU_KERNEL && w->kind != GPU_COPY)
        return;
    struct gpu_node *n = node_get(np);
    if (!n)
        return;
    if (w->kind == GPU_KERNEL) {
        n->own.kernel_ns += dur;
        n->own.kernel_count++;
    } else {
        n->own.copy_ns += dur;
        n->own.copy_bytes += w->bytes;
    }
}

static void sums_add(struct gpu_sums *d, const struct gpu_sums *s)
{
    d->kernel_ns += s->kernel_ns;
    d->kernel_count += s->kernel_count;
    d->copy_ns += s->copy_ns;
    d->copy_bytes += s->copy_bytes;
}

void gpu_node_merge(struct gpu_node **dst, const struct gpu_node *src)
{
    struct gpu_node *n = node_get(dst);
    if (n)
        sums_add(&n->own, &src->own);
}

void gpu_node_sub_start(struct gpu_node *n)
{
    if (n)
        n->sub = n->own;
}

void gpu_node_sub_add(struct gpu_node **dst, const struct gpu_node *child)
{
    struct gpu_node *n = node_get(dst);
    if (n)
        sums_add(&n->sub, &child->sub);
}

static void kv(struct ta_buf *ob, const char *k, uint64_t v, bool comma)
{
    ta_buf_jstr(ob, k);
    ta_buf_put(ob, ": ", 2);
    ta_buf_u64(ob, v);
    if (comma)
        ta_buf_put(ob, ", ", 2);
}

void gpu_node_write(struct ta_buf *ob, const struct gpu_node *n)
{
    const struct gpu_sums *s = &n->sub;
    if (!s->kernel_count && !s->copy_ns && !s->copy_bytes)
        return;
    ta_buf_cstr(ob, "\"gpu\": {");
    kv(ob, "kernel_ns", s->kernel_ns, true);
    kv(ob, "kernel_count", s->kernel_count, true);
    kv(ob, "copy_ns", s->copy_ns, true);
    kv(ob, "copy_bytes", s->copy_bytes, false);
    ta_buf_cstr(ob, "}, ");
}

/* ------------------------------------------------------------------------------------ */
/* Writing */

/* v >= 0 rounded to 3 decimals, as a JSON number */
static void out_fix3(struct ta_buf *ob, long double v)
{
    if (!(v > 0))
        v = 0;
    uint64_t m = (uint64_t)(v * 1000 + 0.5L);
    ta_buf_u64(ob, m / 1000);
    if (m % 1000) {
        char d[4] = {'.', (char)('0' + m % 1000 / 100), (char)('0' + m % 100 / 10),
                     (char)('0' + m % 10)};
        int n = 4;
        while (d[n - 1] == '0')
            n--;
        ta_buf_put(ob, d, (size_t)n);
    }
}

static void kfix(struct ta_buf *ob, const char *k, long double v, bool comma)
{
    ta_buf_jstr(ob, k);
    ta_buf_put(ob, ": ", 2);
    out_fix3(ob, v);
    if (comma)
        ta_buf_put(ob, ", ", 2);
}

/* 100 * (1 - busy / span), within [0, 100]; 0 for an empty span */
static long double idle_pct(uint64_t busy, uint64_t span)
{
    if (!span)
        return 0;
    long double p = 100.0L * (1.0L - (long double)busy / (long double)span);
    return p < 0 ? 0 : p > 100 ? 100 : p;
}

static void **values(const struct pmap *m, size_t *n)
{
    *n = 0;
    if (!m->n)
        return NULL;
    void **v = malloc(m->n * sizeof *v);
    if (!v) {
        goom();
        return NULL;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->s[i].v)
            v[(*n)++] = m->s[i].v;
    return v;
}

static int cmp_k(const void *a, const void *b)
{
    const struct krow *x = *(struct krow *const *)a, *y = *(struct krow *const *)b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int cmp_dev(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void dim3_out(struct ta_buf *ob, const char *k, const uint32_t v[3])
{
    ta_buf_jstr(ob, k);
    ta_buf_put(ob, ": [", 3);
    for (int i = 0; i < 3; i++) {
        if (i)
            ta_buf_put(ob, ", ", 2);
        ta_buf_u64(ob, v[i]);
    }
    ta_buf_put(ob, "], ", 3);
}

static void write_kernels(struct ta_buf *ob)
{
    size_t n;
    struct krow **v = (struct krow **)values(&g.kernels, &n);
    if (!v)
        return;
    qsort(v, n, sizeof *v, cmp_k);
    ta_buf_cstr(ob, "  \"kernels\": [");
    for (size_t i = 0; i < n; i++) {
        const struct krow *k = v[i];
        ta_buf_cstr(ob, i ? ",\n    {" : "\n    {");
        ta_buf_cstr(ob, "\"name\": ");
        ta_buf_jstr(ob, k->name);
        ta_buf_put(ob, ", ", 2);
        kv(ob, "count", k->count, true);
        kv(ob, "total_ns", k->total, true);
        long double mean = (long double)k->total / k->count;
        long double var = ((long double)k->sumsq - (long double)k->total * mean) / k->count;
        kfix(ob, "mean_ns", mean, true);
        kv(ob, "median_ns", hist_pct(&k->h, k->count, 50, k->min, k->max), true);
        kv(ob, "min_ns", k->min, true);
        kv(ob, "max_ns", k->max, true);
        kfix(ob, "stddev_ns", var > 0 ? __builtin_sqrt((double)var) : 0, true);
        kv(ob, "p95_ns", hist_pct(&k->h, k->count, 95, k->min, k->max), true);
        kv(ob, "p99_ns", hist_pct(&k->h, k->count, 99, k->min, k->max), true);
        /* the most frequent launch config, the first seen of a tie */
        uint32_t best = 0;
        for (uint32_t c = 1; c < k->ncfg; c++)
            if (k->cfg[c].count > k->cfg[best].count)
                best = c;
        static const uint32_t zero[3];
        dim3_out(ob, "grid", k->ncfg ? k->cfg[best].grid : zero);
        dim3_out(ob, "block", k->ncfg ? k->cfg[best].block : zero);
        kv(ob, "configs", k->ncfg, true);
        if (k->capped) /* more than CFG_SLOTS configs: `configs` counts those told apart */
            ta_buf_cstr(ob, "\"configs_capped\": true, ");
        uint32_t ids[MAX_DEVS];
        int nid = 0;
        for (int d = 0; d < g.ndev; d++)
            if (k->devmask >> d & 1)
                ids[nid++] = g.dev[d].id;
        qsort(ids, (size_t)nid, sizeof *ids, cmp_dev);
        ta_buf_cstr(ob, "\"device_ids\": [");
        for (int d = 0; d < nid; d++) {
            if (d)
                ta_buf_put(ob, ", ", 2);
            ta_buf_u64(ob, ids[d]);
        }
        ta_buf_cstr(ob, "]}");
        if (ob->len > ob->cap / 2)
            ta_buf_flush(ob);
    }
    ta_buf_cstr(ob, "\n  ],\n");
    free(v);
}

static void write_gpu(struct ta_buf *ob)
{
    uint64_t busy = 0, span = 0, approx = 0, dropped = 0;
    for (int d = 0; d < g.ndev; d++) {
        const struct ivset *s = &g.dev[d].busy; /* flushed in gpu_write */
        busy += s->done + iv_total(s) + s->late;
        approx += s->late;
        if (g.dev[d].last > g.dev[d].first)
            span += g.dev[d].last - g.dev[d].first;
    }
    for (int i = 0; i < g.ndrop; i++)
        dropped += g.drop[i].total;
    ta_buf_cstr(ob, "  \"gpu\": {");
    kv(ob, "kernel_count", g.k_count, true);
    kv(ob, "kernel_ns", g.k_ns, true);
    kv(ob, "copy_count", g.c_count, true);
    kv(ob, "copy_ns", g.c_ns, true);
    kv(ob, "bytes_htod", g.bytes[0], true);
    kv(ob, "bytes_dtoh", g.bytes[1], true);
    kv(ob, "bytes_dtod", g.bytes[2], true);
    kv(ob, "memset_count", g.m_count, true);
    kv(ob, "memset_ns", g.m_ns, true);
    if (g.gr_count) { /* graph launches: busy, not kernels (no GRID field) */
        kv(ob, "graph_count", g.gr_count, true);
        kv(ob, "graph_ns", g.gr_ns, true);
    }
    kv(ob, "busy_ns", busy, true);
    if (approx)
        kv(ob, "busy_approx_ns", approx, true);
    kv(ob, "first_ns", g.first, true);
    kv(ob, "last_ns", g.last, true);
    /* each device's idle share over its own active span, the devices summed: two devices
     * busy at once are not more than 100% busy */
    kfix(ob, "idle_pct", idle_pct(busy, span), true);
    kv(ob, "records_dropped", dropped, false);
    ta_buf_cstr(ob, "},\n");
}

static int cmp_ph(const void *a, const void *b)
{
    const struct phase *x = *(struct phase *const *)a, *y = *(struct phase *const *)b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void write_phases(struct ta_buf *ob)
{
    size_t n;
    struct phase **v = (struct phase **)values(&g.phases, &n);
    if (!v)
        return;
    qsort(v, n, sizeof *v, cmp_ph);
    ta_buf_cstr(ob, "  \"phases\": [");
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        const struct phase *p = v[i];
        if (!p->count)
            continue; /* a scope's marker whose span never arrived (dropped) */
        ta_buf_cstr(ob, w++ ? ",\n    {" : "\n    {");
        ta_buf_cstr(ob, "\"name\": ");
        ta_buf_jstr(ob, p->name);
        ta_buf_put(ob, ", ", 2);
        kv(ob, "count", p->count, true);
        kv(ob, "total_ns", p->total, true);
        kv(ob, "gpu_kernel_count", p->k_count, true);
        kv(ob, "gpu_kernel_ns", p->k_ns, true);
        kv(ob, "gpu_copy_count", p->c_count, true);
        kv(ob, "gpu_copy_ns", p->c_ns, true);
        kv(ob, "gpu_copy_bytes", p->c_bytes, true);
        kv(ob, "gpu_memset_ns", p->m_ns, true);
        iv_flush(&v[i]->ranges);
        /* what the devices retired (counted as it went) and their windows, above their
         * watermarks */
        uint64_t busy = p->busy, wall = p->wall_done + iv_total(&p->ranges);
        for (int d = 0; d < g.ndev; d++) {
            const struct ivset *s = &g.dev[d].busy;
            busy += iv_overlap(s->v, s->n, p->ranges.v, p->ranges.n, s->wm, UINT64_MAX);
        }
        kv(ob, "gpu_busy_ns", busy, true);
        if (p->approx) /* |gpu_busy_ns - the exact overlap| <= ranges_approx_ns */
            kv(ob, "ranges_approx_ns", p->approx, true);
        /* every device that ran work could have run it during the phase */
        kfix(ob, "gpu_idle_pct", idle_pct(busy, wall * (uint64_t)(g.ndev ? g.ndev : 1)), false);
        ta_buf_char(ob, '}');
        if (ob->len > ob->cap / 2)
            ta_buf_flush(ob);
    }
    ta_buf_cstr(ob, w ? "\n  ],\n" : "],\n");
    free(v);
}

void gpu_write(struct ta_buf *ob)
{
    for (int d = 0; d < g.ndev; d++) /* the late intervals into each device's set */
        iv_flush(&g.dev[d].busy);
    int dropped = 0;
    for (int i = 0; i < g.ndrop; i++)
        dropped |= g.drop[i].total != 0;
    if (g.kernels.n)
        write_kernels(ob);
    if (gpu_any() || dropped)
        write_gpu(ob);
    if (gpu_any())
        write_phases(ob);
}

void gpu_after_fork(void)
{
    memset(&g, 0, sizeof g);
    iv_slots = 0;
}
