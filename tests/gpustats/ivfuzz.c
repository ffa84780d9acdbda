/* t64: stats_gpu.c's interval sets against brute force. Random work, some of it late (near
 * the end, and far back), 1 to 150,000 intervals a round (past the 65,536 kept in a window
 * in some): the window stays sorted and disjoint, above the watermark; without late work
 * its total (retired + window) is the exact union (touching or overlapping intervals
 * merged, no more); with some, the exact union lies within [total - late, total], and
 * work late by less than the window is never counted late. Then phases: marker ranges (of
 * two names, nested ones of one name, a whole-run one arriving last) and the work of two
 * devices, arriving in the order of their ends plus a random lag: each phase's busy time
 * equals the brute force overlap of its ranges' union with each device's union, within
 * the error it reports (0 in most rounds) plus the work counted late. Prints "fuzz ok". */
#define main unit_main
#include "../stats/unit.c"
#undef main
#include "../../exporters/stats_gpu.c"
/* brute force union: overlapping or touching intervals merged */
static uint64_t brute(struct iv *e, int n) {
    qsort(e, n, sizeof *e, cmp_iv);
    uint64_t t = 0, a = 0, b = 0; int have = 0;
    for (int i = 0; i < n; i++) {
        if (have && e[i].a <= b) { if (e[i].b > b) b = e[i].b; }
        else { if (have) t += b - a; a = e[i].a; b = e[i].b; have = 1; }
    }
    if (have) t += b - a;
    return t;
}
int main(void) {
    uint64_t x = 12345;
    static struct iv e[200000];
    for (int round = 0; round < 120; round++) {
        struct ivset s; memset(&s, 0, sizeof s); g.ndev = 1; memset(&g.dev[0], 0, sizeof g.dev[0]);
        int n = 1 + (int)(x % 150000);
        uint64_t t = 1000000;
        for (int i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t d = 1 + x % 5000, gap = (x >> 20) % 3000;
            uint64_t a = t + gap;
            t = a + (x >> 40) % 4000;
            if ((x >> 50) % 7 == 0 && a > 2000000) a -= (x >> 33) % 1500000; /* late, near and far */
            e[i].a = a; e[i].b = a + d;
            iv_add(&s, a, a + d);
        }
        iv_flush(&s);
        uint64_t got = s.done + iv_total(&s) + s.late, want = brute(e, n);
        int sorted = 1;
        for (uint32_t i = 0; i < s.n; i++)
            if (s.v[i].a < s.wm || (i && !(s.v[i].a > s.v[i-1].b))) sorted = 0;
        if (!sorted || got < want || got - s.late > want) {
            printf("FAIL round %d n %d got %lu want %lu late %lu sorted %d\n", round, n, got, want, s.late, sorted);
            return 1;
        }
        if (s.late == 0 && got != want) { printf("FAIL exact round %d %lu %lu\n", round, got, want); return 1; }
        if (n < 30000 && s.late) { printf("FAIL late within the window round %d n %d\n", round, n); return 1; }
        free(s.v); free(s.pend); free(g.dev[0].ck); iv_slots = 0; /* each round from nothing */
    }
    /* phases */
    static struct ev { uint64_t at, a, b; int who; } q[300000];
    static struct iv dv[2][200000], rg[2][100000];
    int approx_rounds = 0;
    for (int round = 0; round < 12; round++) {
        memset(&g, 0, sizeof g);
        iv_slots = 0;
        struct phase *ph[2] = {phase_get("p0"), phase_get("p1")};
        dev_get(0);
        dev_get(1);
        int nq = 0, nd[2] = {0, 0}, nr[2] = {0, 0};
        int n = 1000 + (int)(x % 260000);
        uint64_t t[2] = {1000000, 1000000};
        for (int i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int d = (int)(x & 1);
            uint64_t a = t[d] + 1 + (x >> 8) % 3000, b = a + 1 + (x >> 20) % 4000;
            t[d] = (x >> 40) % 4 ? b : a; /* mostly apart, some overlapping */
            uint64_t lag = (x >> 50) % 100 == 0 ? (x >> 30) % 20000000 : (x >> 33) % 500000;
            q[nq++] = (struct ev){b + lag, a, b, d};
            dv[d][nd[d]++] = (struct iv){a, b};
            if ((x >> 45) % 13 == 0) { /* a marker range around recent work */
                int w = (int)((x >> 52) & 1);
                uint64_t ra = a > 20000 ? a - (x >> 24) % 20000 : a, rb = b + (x >> 28) % 9000;
                q[nq++] = (struct ev){rb, ra, rb, 2 + w};
                rg[w][nr[w]++] = (struct iv){ra, rb};
                if ((x >> 56) % 5 == 0) { /* one of the same name around it, ending later */
                    uint64_t oa = ra > 5000 ? ra - 5000 : ra, ob = rb + 50000;
                    q[nq++] = (struct ev){ob, oa, ob, 2 + w};
                    rg[w][nr[w]++] = (struct iv){oa, ob};
                }
            }
        }
        uint64_t end = t[0] > t[1] ? t[0] : t[1];
        q[nq++] = (struct ev){UINT64_MAX, 500000, end + 10000000, 2}; /* the whole run, last */
        rg[0][nr[0]++] = (struct iv){500000, end + 10000000};
        int cmp_ev(const void *u, const void *v) {
            const struct ev *e = u, *f = v;
            return (e->at > f->at) - (e->at < f->at);
        }
        qsort(q, nq, sizeof *q, cmp_ev);
        for (int i = 0; i < nq; i++) {
            if (q[i].who < 2)
                iv_add(&g.dev[q[i].who].busy, q[i].a, q[i].b);
            else
                phase_range(ph[q[i].who - 2], q[i].a, q[i].b);
        }
        uint64_t late = 0;
        for (int d = 0; d < 2; d++) {
            iv_flush(&g.dev[d].busy);
            late += g.dev[d].busy.late;
        }
        for (int w = 0; w < 2; w++) {
            struct phase *p = ph[w];
            iv_flush(&p->ranges);
            uint64_t got = p->busy, want = 0;
            for (int d = 0; d < 2; d++) {
                const struct ivset *s = &g.dev[d].busy;
                got += iv_overlap(s->v, s->n, p->ranges.v, p->ranges.n, s->wm, UINT64_MAX);
            }
            /* brute force: the unions, then their overlap */
            qsort(rg[w], nr[w], sizeof **rg, cmp_iv);
            uint32_t m = 0;
            for (int i = 0; i < nr[w]; i++)
                if (m && rg[w][i].a <= rg[w][m - 1].b) {
                    if (rg[w][i].b > rg[w][m - 1].b) rg[w][m - 1].b = rg[w][i].b;
                } else rg[w][m++] = rg[w][i];
            for (int d = 0; d < 2; d++) {
                static struct iv u[200000];
                memcpy(u, dv[d], nd[d] * sizeof *u);
                qsort(u, nd[d], sizeof *u, cmp_iv);
                uint32_t k = 0;
                for (int i = 0; i < nd[d]; i++)
                    if (k && u[i].a <= u[k - 1].b) {
                        if (u[i].b > u[k - 1].b) u[k - 1].b = u[i].b;
                    } else u[k++] = u[i];
                want += iv_overlap(u, k, rg[w], m, 0, UINT64_MAX);
            }
            uint64_t diff = got > want ? got - want : want - got;
            if (diff > p->approx + late || (!p->approx && !late && got != want)) {
                printf("FAIL phase round %d n %d p%d got %lu want %lu approx %lu late %lu\n",
                       round, n, w, got, want, p->approx, late);
                return 1;
            }
            approx_rounds += p->approx || late;
        }
    }
    if (approx_rounds > 12) {
        printf("FAIL phases: approximate in %d of 24\n", approx_rounds);
        return 1;
    }
    /* 100,000 marker ranges of one name and no device work: the older ones dropped, no
     * out-of-memory warning, the wall time kept */
    memset(&g, 0, sizeof g);
    iv_slots = 0;
    struct phase *hp = phase_get("host");
    for (uint64_t i = 0; i < 100000; i++)
        phase_range(hp, 1000 + 3000 * i, 2000 + 3000 * i);
    iv_flush(&hp->ranges);
    if (g.oom_warned || hp->wall_done + iv_total(&hp->ranges) != 100000 * 1000ull ||
        hp->ranges.n > IV_CAP) {
        printf("FAIL host-only markers: warned %d wall %lu kept %u\n", g.oom_warned,
               hp->wall_done + iv_total(&hp->ranges), hp->ranges.n);
        return 1;
    }
    printf("fuzz ok\n");
    return 0;
}
