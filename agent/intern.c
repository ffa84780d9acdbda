/* The string table: paths, marker texts, dataset names become 32-bit ids that fit in a
 * record. Global, lock-free, append-only, safe on the hot path of any thread:
 *   - the arena is one reserved mapping; an entry is taken with one fetch_add and written
 *     before it is published;
 *   - the index is a chain of open-addressing tables ("levels") of (hash << 32 | id) words,
 *     each twice the size of the one before; a new entry is published by one
 *     compare-and-swap from 0 (release), readers load with acquire;
 *   - a level that is half full is sealed: its empty slots become SEALED, one CAS each,
 *     by the thread whose entry filled it to half, and new strings go to the next level.
 *     A string is looked for level by level from the first: within a level, it lies
 *     before the first empty or sealed slot of its probe sequence (no deletions), and it
 *     is inserted only at the first empty one, so no string is ever in two levels (a
 *     thread that finds its slot sealed goes on to the next level, as every other one
 *     does);
 *   - two threads inserting the same new string race on the CAS; the loser finds the
 *     winner's entry equal and uses it (its own arena bytes are wasted, a rare few).
 * Why levels: one table of 2^21 slots was 16 MiB that 20,000 distinct paths touched
 * whole (a random slot each, 4,096 pages), each page a read fault then a write fault that
 * flushed the TLB of the drainer's CPU: 0.8 KiB and ~2 us per distinct file
 * (bench/NOTES.md, row 43). The levels in use are about 4 x 8 bytes per string.
 * Strings longer than 4096 bytes are cut to 4093 bytes followed by "...".
 * An id is stable for the life of the process (and in a forked child). The table never
 * frees: a program that opens millions of distinct paths fills it, after which new strings
 * come back as id 0 ("") and are counted (ta_intern_full). */
#include <string.h>

#include "ta.h"

#define ARENA_BYTES (256ull << 20)
#define LEVEL0_BITS 12 /* 4,096 slots, 32 KiB */
#define LEVELS 11      /* up to 2^22 slots: 4 M strings at half load, more than the arena */
#define TABLE_SLOTS ((1u << (LEVEL0_BITS + LEVELS)) - (1u << LEVEL0_BITS)) /* all levels */
#define MAX_PROBES 4096
#define SEALED 1ull /* hash 0, which no entry has: a slot of a sealed level, never filled */
#define MAX_LEN 4096

struct entry {
    uint32_t len;
    char s[];
};

static char *arena;
static _Atomic uint64_t arena_used;
static _Atomic uint64_t *table;
static _Atomic uint32_t level_used[LEVELS]; /* entries inserted into each level */
static _Atomic int level_top;                /* the newest level that holds entries */
_Atomic uint64_t ta_intern_full;

/* Level k: 2^(LEVEL0_BITS + k) slots, after the smaller ones */
static inline uint32_t level_bits(int k) { return LEVEL0_BITS + (uint32_t)k; }
static inline _Atomic uint64_t *level_tab(int k)
{
    return table + ((1u << level_bits(k)) - (1u << LEVEL0_BITS));
}

/* Level k is half full: from now on its empty slots stay empty of entries. Cold: once per
 * level, a walk over slots that half full touched all the pages of already. The next
 * level's pages are written once here (an atomic add of 0 changes nothing another thread
 * could see): a page first read by a probe maps the shared zero page, and the write that
 * follows replaces it and flushes the TLB of every CPU this process ran on, the drainer's
 * included, with an interrupt (~250 such pages for 20,000 distinct paths). */
__attribute__((cold, noinline)) static void seal(int k)
{
    _Atomic uint64_t *tab = level_tab(k);
    for (uint32_t i = 0, n = 1u << level_bits(k); i < n; i++) {
        uint64_t z = 0;
        if (atomic_load_explicit(&tab[i], memory_order_relaxed) == 0)
            atomic_compare_exchange_strong_explicit(&tab[i], &z, SEALED, memory_order_relaxed,
                                                    memory_order_relaxed);
    }
    if (k + 1 < LEVELS) {
        _Atomic uint64_t *next = level_tab(k + 1);
        for (uint32_t i = 0, n = 1u << level_bits(k + 1); i < n; i += 4096 / sizeof *next)
            atomic_fetch_add_explicit(&next[i], 0, memory_order_relaxed);
    }
}

/* Drainer, once a cycle: the program's threads find the pages they will write next
 * already there. A page of the arena or of the next level first written by a program
 * thread is a fault in that thread, 15-25 us on this VM (~250 of them for 20,000 distinct
 * paths); written here, ahead, by the kernel in one system call for 64 pages, it costs
 * the program nothing (bench/NOTES.md, row 52). Racing a program thread on the same page
 * is harmless: populating a page that is there already does nothing. */
#define AHEAD (256u << 10)
void ta_intern_prefault(void)
{
    static uint64_t arena_done = 64u << 10; /* ta_intern_init's */
    static int level_done = 0;
    if (!arena)
        return;
    uint64_t used = atomic_load_explicit(&arena_used, memory_order_relaxed);
    if (used + AHEAD / 2 > arena_done && arena_done < ARENA_BYTES) {
        uint64_t to = used + AHEAD < ARENA_BYTES ? used + AHEAD : ARENA_BYTES;
        ta_sys_populate(arena + arena_done, to - arena_done); /* whole pages, rounded there */
        arena_done = to;
    }
    /* the next level once the one in use is a quarter full (sealed at half) */
    for (int k = level_done; k + 1 < LEVELS; k++) {
        if (atomic_load_explicit(&level_used[k], memory_order_relaxed) < (1u << level_bits(k)) / 4)
            break;
        ta_sys_populate((void *)level_tab(k + 1), ((size_t)1 << level_bits(k + 1)) * sizeof *table);
        level_done = k + 1;
    }
}

void ta_intern_init(void)
{
    if (arena)
        return;
    /* one reservation for both; pages are touched only as strings arrive */
    char *m = ta_sys_mmap(TABLE_SLOTS * sizeof(uint64_t) + ARENA_BYTES);
    if (!m)
        return;
    table = (_Atomic uint64_t *)m;
    arena = m + TABLE_SLOTS * sizeof(uint64_t);
    /* the first level and the start of the arena now, before the drainer runs
     * (ta_intern_prefault): one system call instead of ~20 faults in the program */
    ta_sys_populate(table, (1u << LEVEL0_BITS) * sizeof(uint64_t));
    ta_sys_populate(arena, 64u << 10);
    /* id 0 is the empty string at offset 0 */
    atomic_store_explicit(&arena_used, 8, memory_order_relaxed);
}

static inline uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) /* not memcpy: a variable length makes it a libc call */
        w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

const char *ta_str(uint32_t id)
{
    /* an id past the table's end (a plug-in's field read as a string by mistake) reads
     * as none, never outside the arena */
    if (!id || !arena ||
        (uint64_t)id * 8 >= atomic_load_explicit(&arena_used, memory_order_relaxed))
        return "";
    return ((struct entry *)(arena + (uint64_t)id * 8))->s;
}

TA_HOT uint32_t ta_intern(const char *s, size_t n)
{
    if (ta_unlikely(!table))
        return 0;
    if (ta_unlikely(n > MAX_LEN)) {
        /* cut, and say so: the text ends with "..." */
        char cut[MAX_LEN];
        memcpy(cut, s, MAX_LEN - 3);
        memcpy(cut + MAX_LEN - 3, "...", 3);
        return ta_intern(cut, MAX_LEN);
    }
    uint64_t h = hash(s, n);
    uint32_t h32 = (uint32_t)(h >> 32) | 1; /* never 0, so a used slot is neither 0 nor SEALED */
    uint32_t mine = 0;                     /* our arena entry, once made */
    /* A path named again is mostly one named lately (stat, then open, then unlink it), so
     * in the newest level: looked for there first, it is found without a miss in each older
     * level (4 levels at 20,000 paths; bench/NOTES.md, row 53). Only a look: a string not
     * found here is searched for, and inserted, as below, which probes this level again. */
    int top = atomic_load_explicit(&level_top, memory_order_relaxed);
    if (top > 0) {
        _Atomic uint64_t *tab = level_tab(top);
        uint32_t mask = (1u << level_bits(top)) - 1;
        for (uint32_t i = 0, idx = (uint32_t)h; i < MAX_PROBES; i++, idx++) {
            /* acquire: pairs with the release CAS below, so the entry's bytes are visible */
            uint64_t v = atomic_load_explicit(&tab[idx & mask], memory_order_acquire);
            if (v == 0 || v == SEALED)
                break;
            if ((uint32_t)(v >> 32) == h32) {
                uint32_t id = (uint32_t)v;
                const struct entry *e = (const struct entry *)(arena + (uint64_t)id * 8);
                if (e->len == n && memcmp(e->s, s, n) == 0)
                    return id;
            }
        }
    }
    for (int k = 0; k < LEVELS; k++) {
        _Atomic uint64_t *tab = level_tab(k);
        uint32_t mask = (1u << level_bits(k)) - 1;
        for (uint32_t i = 0, idx = (uint32_t)h; i < MAX_PROBES; i++, idx++) {
            _Atomic uint64_t *slot = &tab[idx & mask];
            /* acquire: pairs with the release CAS below, so the entry's bytes are visible */
            uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
            if (v == 0) {
                if (!mine) {
                    uint64_t sz = (sizeof(struct entry) + n + 1 + 7) & ~7ull;
                    uint64_t off =
                        atomic_fetch_add_explicit(&arena_used, sz, memory_order_relaxed);
                    if (off + sz > ARENA_BYTES || off / 8 > UINT32_MAX)
                        goto full;
                    struct entry *e = (struct entry *)(arena + off);
                    e->len = (uint32_t)n;
                    memcpy(e->s, s, n);
                    e->s[n] = 0;
                    mine = (uint32_t)(off / 8);
                }
                uint64_t want = ((uint64_t)h32 << 32) | mine;
                /* release: publishes the entry written above; pairs with the acquire loads */
                if (atomic_compare_exchange_strong_explicit(slot, &v, want, memory_order_release,
                                                            memory_order_acquire)) {
                    if (k > atomic_load_explicit(&level_top, memory_order_relaxed))
                        atomic_store_explicit(&level_top, k, memory_order_relaxed);
                    /* the last level is never sealed: it takes what the arena holds */
                    if (k + 1 < LEVELS &&
                        atomic_fetch_add_explicit(&level_used[k], 1, memory_order_relaxed) + 1 ==
                            (1u << level_bits(k)) / 2)
                        seal(k);
                    return mine;
                }
                /* lost the race: v is the winner's word (or SEALED); compare it below */
            }
            if (v == SEALED)
                break; /* not in this level, and never will be: the next one */
            if ((uint32_t)(v >> 32) == h32) {
                uint32_t id = (uint32_t)v;
                const struct entry *e = (const struct entry *)(arena + (uint64_t)id * 8);
                if (e->len == n && memcmp(e->s, s, n) == 0)
                    return id;
            }
        }
        /* MAX_PROBES words of other strings: every thread sees the same ones (slots only go
         * from 0 to full), so every thread goes on to the next level for this string */
    }
full:
    atomic_fetch_add_explicit(&ta_intern_full, 1, memory_order_relaxed);
    return 0;
}

uint32_t ta_intern_cached(struct ta_thread *t, const char *s)
{
    unsigned slot = ((uintptr_t)s >> 3) & 15;
    if (t->name_cache[slot].ptr == s) {
        uint32_t id = t->name_cache[slot].id, len = t->name_cache[slot].len;
        const char *have = ta_str(id);
        uint32_t i = 0;
        while (i < len && s[i] == have[i])
            i++;
        if (i == len && s[len] == 0)
            return id;
    }
    size_t n = strlen(s);
    uint32_t id = ta_intern(s, n);
    if (id && n <= MAX_LEN) {
        t->name_cache[slot].ptr = s;
        t->name_cache[slot].id = id;
        t->name_cache[slot].len = (uint32_t)n;
    }
    return id;
}
