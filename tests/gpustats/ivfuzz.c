/* t64: stats_gpu.c's interval sets against brute force. Random work, some of it late (near
 * the end, and far back), 1 to 150,000 intervals a round (past the 65,536 kept apart in
 * some): the set stays sorted with gaps of at least its merge distance; without an
 * approximation its total is the exact union (merge distance 1 us); with one, the exact
 * union lies within [total - approx, total]. Prints "fuzz ok". */
#define main unit_main
#include "../stats/unit.c"
#undef main
#include "../../exporters/stats_gpu.c"
/* brute force union with merge distance 1000 */
static uint64_t brute(struct iv *e, int n) {
    qsort(e, n, sizeof *e, cmp_iv);
    uint64_t t = 0, a = 0, b = 0; int have = 0;
    for (int i = 0; i < n; i++) {
        if (have && e[i].a < b + MERGE_NS) { if (e[i].b > b) b = e[i].b; }
        else { if (have) t += b - a; a = e[i].a; b = e[i].b; have = 1; }
    }
    if (have) t += b - a;
    return t;
}
int main(void) {
    uint64_t x = 12345;
    static struct iv e[200000];
    for (int round = 0; round < 120; round++) {
        struct ivset s; memset(&s, 0, sizeof s);
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
        uint64_t got = iv_total(&s), want = brute(e, n);
        int sorted = 1;
        for (uint32_t i = 1; i < s.n; i++) if (!(s.v[i].a >= s.v[i-1].b + s.md)) sorted = 0;
        if (!sorted || got < want || got - s.approx > want) {
            printf("FAIL round %d n %d got %lu want %lu approx %lu md %lu sorted %d\n", round, n, got, want, s.approx, s.md, sorted);
            return 1;
        }
        if (s.approx == 0 && got != want) { printf("FAIL exact round %d %lu %lu\n", round, got, want); return 1; }
        free(s.v); free(s.pend); iv_slots = 0; /* each round from nothing */
    }
    printf("fuzz ok\n");
    return 0;
}
