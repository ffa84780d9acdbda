/* Per-thread state: each thread that records gets a struct ta_thread with its own
 * single-producer (the thread), single-consumer (the drainer) ring of records.
 *
 * Life of a slot: FREE -> ACTIVE (ta_thread_attach, on the thread's first event) ->
 * RETIRED (the thread exits: pthread key destructor) -> FREE again once the drainer has
 * emptied it (ta_thread_reclaim). Slots are never unmapped; a program that starts and ends
 * 100,000 threads reuses a few slots: at most RETIRED_MAX slots wait for the drainer at
 * once (attach waits for one to come back rather than map another, see attach_wait), so
 * the rings alive are bounded by the threads alive plus RETIRED_MAX, however far behind
 * the drainer falls. The registry is an append-only list the drainer walks without a
 * lock; the free list and appends take reg_lock (never on the hot path: once per
 * thread). */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "ta.h"

__thread struct ta_thread *ta_self __attribute__((tls_model("initial-exec")));
__thread int ta_guard __attribute__((tls_model("initial-exec")));

static pthread_key_t key;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
struct ta_thread *_Atomic ta_registry; /* newest first */
static struct ta_thread *freelist;     /* under reg_lock, linked through free_next */
_Atomic int ta_drainer_running;
_Atomic uint64_t ta_threads_attached;
/* Retired slots the drainer has not yet reclaimed. */
static _Atomic int retired_live;
#define RETIRED_MAX 32
/* Calls not recorded because their thread has no ring (its ring could not be mapped:
 * address-space limit, no memory): the drainer reports them as dropped, cause no_ring. */
_Atomic uint64_t ta_dropped_no_ring;
/* A thread whose ring could not be mapped tries again only every 256th call (each try is
 * a system call): the calls between are counted as dropped. */
static __thread unsigned no_ring_skip __attribute__((tls_model("initial-exec")));


static size_t ring_slots(void)
{
    size_t bytes = (size_t)ta_cfg.buffer_kb * 1024;
    size_t n = 1;
    while (n * sizeof(struct ta_rec) < bytes)
        n <<= 1;
    return n < 64 ? 64 : n;
}

/* Thread exit: ranges still open are closed as unfinished, then the drainer may take the
 * rest and reclaim the slot. */
static void on_thread_exit(void *p)
{
    struct ta_thread *t = p;
    ta_self = NULL;
    ta_guard++;
    prctl(PR_GET_NAME, t->name, 0, 0, 0);
    ta_close_open_ranges(t);
    /* release: the drainer, seeing RETIRED with acquire, sees every record committed and
     * the name above */
    atomic_store_explicit(&t->state, TA_TH_RETIRED, memory_order_release);
    atomic_fetch_add_explicit(&retired_live, 1, memory_order_relaxed);
    ta_guard--;
}

void ta_thread_init(void)
{
    static int done;
    if (!done) {
        pthread_key_create(&key, on_thread_exit);
        done = 1;
    }
}

static struct ta_thread *attach(void);

/* Keeps errno as it was: it runs before the program's call, whose errno must be its own. */
struct ta_thread *ta_thread_attach(void)
{
    if (!atomic_load_explicit(&ta_active, memory_order_acquire))
        return NULL;
    /* a child made by clone(CLONE_VM) by hand shares the parent's memory: no ring and no
     * drainer thread of its own there (the drainer would have kept the child alive after
     * its thread exited, and the parent waited for it forever) */
    if (ta_in_forked_copy())
        return NULL;
    int saved = errno;
    struct ta_thread *t = attach();
    errno = saved;
    return t;
}

static struct ta_thread *take_free(size_t slots)
{
    struct ta_thread *t = NULL;
    pthread_mutex_lock(&reg_lock);
    for (struct ta_thread **pp = &freelist; *pp; pp = &(*pp)->free_next) {
        struct ta_thread *c = *pp;
        if (c->ring.mask + 1 == slots) {
            *pp = c->free_next;
            t = c;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return t;
}

extern _Atomic uint64_t ta_events_drained;

/* No free slot, and RETIRED_MAX slots wait for the drainer: wake it and wait for one to
 * come back instead of mapping another ring. Threads that start and end faster than the
 * drainer comes round (100,000 short threads on a loaded machine: the drainer's sleep of
 * up to 50 ms, or longer without a CPU) would otherwise each map a ring, and t16 saw 300
 * to 1000 rings alive at once (+33 to +84 MiB peak RSS). The policy is the full ring's
 * (ta_ring_full_slow): wait while the drainer makes progress, map a fresh ring after 1 s
 * without any; TRACEAGENT_ON_FULL=drop never waits (then a fresh ring is mapped). */
static struct ta_thread *attach_wait(size_t slots)
{
    if (ta_cfg.on_full_drop ||
        atomic_load_explicit(&retired_live, memory_order_relaxed) < RETIRED_MAX ||
        !atomic_load_explicit(&ta_drainer_running, memory_order_relaxed))
        return NULL;
    uint64_t seen = atomic_load_explicit(&ta_events_drained, memory_order_relaxed);
    int retired = atomic_load_explicit(&retired_live, memory_order_relaxed);
    uint64_t since = ta_mono_ns();
    for (int i = 0;; i++) {
        ta_drainer_kick();
        if (i < 64) {
            sched_yield();
        } else {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        struct ta_thread *t = take_free(slots);
        if (t)
            return t;
        int now_retired = atomic_load_explicit(&retired_live, memory_order_relaxed);
        if (now_retired < RETIRED_MAX ||
            !atomic_load_explicit(&ta_drainer_running, memory_order_relaxed))
            return NULL; /* reclaimed, and taken by another thread meanwhile: map one */
        uint64_t now_seen = atomic_load_explicit(&ta_events_drained, memory_order_relaxed);
        uint64_t now = ta_mono_ns();
        if (now_seen != seen || now_retired != retired) {
            seen = now_seen;
            retired = now_retired;
            since = now;
        } else if (now - since > 1000000000) {
            ta_debug("no ring reclaimed for 1 s: mapping another");
            return NULL;
        }
    }
}

static struct ta_thread *attach(void)
{
    ta_guard++; /* nothing below may record */
    ta_clock_ensure();
    size_t slots = ring_slots();
    struct ta_thread *t = take_free(slots);
    if (!t && !no_ring_skip)
        t = attach_wait(slots);
    int fresh = !t;
    if (fresh) {
        /* this thread's ring could not be mapped lately: its calls are dropped, counted,
         * and a new try made every 256th */
        if (no_ring_skip) {
            no_ring_skip--;
            t = NULL;
        } else {
            t = ta_sys_mmap(sizeof *t + slots * sizeof(struct ta_rec));
            if (!t)
                no_ring_skip = 255;
        }
        if (!t) {
            atomic_fetch_add_explicit(&ta_dropped_no_ring, 1, memory_order_relaxed);
            static _Atomic int warned;
            if (!atomic_exchange_explicit(&warned, 1, memory_order_relaxed))
                ta_warn("cannot map a %zu KiB ring for thread %d (address-space limit or no "
                        "memory): its events are dropped and counted (no_ring)",
                        slots * sizeof(struct ta_rec) >> 10, ta_gettid());
            ta_guard--;
            return NULL;
        }
        t->ring.slots = (struct ta_rec *)(t + 1);
        t->ring.mask = slots - 1;
        /* Pages mapped now, in one system call: faulted in one by one on this thread, the
         * first 16384 records of a default ring cost ~300 ns more each on this VM (1 MiB:
         * ~0.15 ms populated, ~4 ms of faults). The whole ring for the first few rings (the
         * main thread and a pool's workers, up to 4 MiB: a bigger TRACEAGENT_BUFFER_KB
         * would hold up the thread's first call); later ones get their first 64 KiB, the
         * rest by the drainer: a program starting many short threads at once would
         * otherwise hold a whole ring per thread before the drainer recycles them (t16). */
        static _Atomic int fresh_rings;
        size_t bytes = slots * sizeof(struct ta_rec);
        size_t now = atomic_fetch_add_explicit(&fresh_rings, 1, memory_order_relaxed) < 4
                         ? 4u << 20 : 64u << 10;
        ta_sys_populate(t, sizeof *t + (bytes < now ? bytes : now));
        atomic_store_explicit(&t->cold, bytes > now, memory_order_relaxed);
    }
    no_ring_skip = 0;
    atomic_store_explicit(&t->ring.head, 0, memory_order_relaxed);
    atomic_store_explicit(&t->ring.tail, 0, memory_order_relaxed);
    t->ring.tail_cache = 0;
    t->dropped_full = 0;
    t->dropped_reentry = 0;
    t->writing = 0;
    t->ext_room = 0;
    t->stack_skip = 0;
    t->tid = ta_gettid();
    t->depth = 0;
    t->nmarks = 0;
    t->seen_tid = 0;
    t->wait_failed = 0;
    prctl(PR_GET_NAME, t->name, 0, 0, 0);
    /* release: the drainer reads the fields above after an acquire load of state */
    atomic_store_explicit(&t->state, TA_TH_ACTIVE, memory_order_release);
    if (fresh) {
        pthread_mutex_lock(&reg_lock);
        t->next = atomic_load_explicit(&ta_registry, memory_order_relaxed);
        /* release: the drainer walks the list from an acquire load of ta_registry */
        atomic_store_explicit(&ta_registry, t, memory_order_release);
        pthread_mutex_unlock(&reg_lock);
    }
    atomic_fetch_add_explicit(&ta_threads_attached, 1, memory_order_relaxed);
    pthread_setspecific(key, t);
    ta_self = t;
    ta_drainer_ensure_thread();
    ta_guard--;
    return t;
}

/* Drainer: a RETIRED slot it has emptied goes back to the free list. */
void ta_thread_reclaim(struct ta_thread *t)
{
    atomic_store_explicit(&t->state, TA_TH_FREE, memory_order_relaxed);
    pthread_mutex_lock(&reg_lock);
    t->free_next = freelist;
    freelist = t;
    pthread_mutex_unlock(&reg_lock);
    atomic_fetch_sub_explicit(&retired_live, 1, memory_order_relaxed);
}

/* The ring is full. Policy (explicit, documented in agent/README.md): wait for the drainer,
 * yielding the CPU to it, for as long as it makes progress; drop the event and count it
 * when the drainer has made none for 1 s (a drainer blocked in write() by the kernel's
 * dirty-page throttling makes none for a few hundred ms: that is not a dead drainer;
 * TRACEAGENT_ON_FULL=drop: drop at once, never
 * slow the program down). After a wait that failed, this thread drops at once while its
 * ring is full, until the drainer shows progress again: a stuck drainer costs the program
 * one wait, not one per event. */
static struct ta_rec *full_slow(struct ta_thread *t, uint64_t n, int count);

/* Keeps errno as it was: wrappers do not save it around a successful call. */
struct ta_rec *ta_ring_full_slow(struct ta_thread *t)
{
    int saved = errno;
    struct ta_rec *r = full_slow(t, 1, 1);
    errno = saved;
    return r;
}

/* The same policy for a record of n slots (ta_rec_begin_ext): room for all n or none.
 * `count`: a failure is a dropped record (dropped_full); a stack that finds no room
 * (commit_cont) counts its own loss. */
static struct ta_rec *full_slow(struct ta_thread *t, uint64_t n, int count)
{
    struct ta_ring *r = &t->ring;
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t last = h + n - 1; /* the last slot the record takes */
    uint64_t seen = atomic_load_explicit(&ta_events_drained, memory_order_relaxed);
    if (t->wait_failed && seen != t->failed_at)
        t->wait_failed = 0; /* the drainer moves again: worth waiting for */
    if (!t->wait_failed && !ta_cfg.on_full_drop && !ta_sandboxed && /* no syscall there */
        atomic_load_explicit(&ta_drainer_running, memory_order_relaxed)) {
        uint64_t since = ta_mono_ns();
        ta_drainer_kick();
        for (int i = 0;; i++) {
            if (i < 64) {
                sched_yield();
            } else {
                struct timespec ts = {0, 50000};
                nanosleep(&ts, NULL);
            }
            /* acquire: as in ta_rec_begin */
            r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (ta_ring_room(r, last))
                return &r->slots[h & r->mask];
            /* give up only when the drainer makes no progress at all */
            uint64_t now_seen = atomic_load_explicit(&ta_events_drained, memory_order_relaxed);
            uint64_t now = ta_mono_ns();
            if (now_seen != seen) {
                seen = now_seen;
                since = now;
            } else if (now - since > 1000000000) {
                break;
            }
        }
        t->wait_failed = 1;
        t->failed_at = seen;
        ta_debug("ring full and no drainer progress for 1 s: dropping while full");
    } else {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (ta_ring_room(r, last))
            return &r->slots[h & r->mask];
        /* dropping (TRACEAGENT_ON_FULL=drop): wake the drainer at the first drop and every
         * 1024th, not at each, so that a full ring does not cost a syscall per event */
        if ((t->dropped_full & 1023) == 0 &&
            atomic_load_explicit(&ta_drainer_running, memory_order_relaxed))
            ta_drainer_kick();
    }
    if (!count)
        return NULL;
    /* relaxed: a counter only this thread writes; the drainer reads it for the total */
    atomic_store_explicit((_Atomic uint64_t *)&t->dropped_full, t->dropped_full + 1,
                          memory_order_relaxed);
    return NULL;
}

void ta_thread_prefork(void) { pthread_mutex_lock(&reg_lock); }
void ta_thread_postfork_parent(void) { pthread_mutex_unlock(&reg_lock); }

/* Forked child: only the calling thread lives on. The parent's undrained records are the
 * parent's to write: discard them here; every other slot becomes free. */
void ta_thread_postfork_child(void)
{
    pthread_mutex_init(&reg_lock, NULL);
    freelist = NULL;
    atomic_store_explicit(&retired_live, 0, memory_order_relaxed);
    atomic_store_explicit(&ta_dropped_no_ring, 0, memory_order_relaxed);
    for (struct ta_thread *t = atomic_load_explicit(&ta_registry, memory_order_acquire); t;
         t = t->next) {
        uint64_t h = atomic_load_explicit(&t->ring.head, memory_order_relaxed);
        atomic_store_explicit(&t->ring.tail, h, memory_order_relaxed);
        t->ring.tail_cache = h;
        t->dropped_full = 0;
        t->dropped_reentry = 0;
        t->seen_tid = 0;
        if (t == ta_self) {
            /* ranges the parent had open are the parent's: the child starts at depth 0 */
            t->tid = ta_gettid();
            t->wait_failed = 0;
            t->nmarks = 0;
            t->depth = 0;
            t->writing = 0;
            t->ext_room = 0;
            t->path_filling = 0;
            continue;
        }
        atomic_store_explicit(&t->state, TA_TH_FREE, memory_order_relaxed);
        t->free_next = freelist;
        freelist = t;
    }
}

/* Records longer than one slot. The record's slot comes first, then the continuation
 * slots: the payload's length (u32) and a reserved u32 at the start of the first one, the
 * payload's bytes after them, contiguous in slot order and wrapping at the ring's end like
 * the slots themselves. All n slots are claimed in one `writing` window and published by
 * one release store of head, so the drainer sees the whole record or none of it.
 *
 * Out of line, unlike ta_rec_begin: longer records are rare (kernel launches, long names),
 * and the one-slot hot path must compile as before. */
#define EXT_HDR 8 /* u32 length, u32 reserved */

/* Continuation slots for len bytes of payload. */
static inline uint64_t ext_slots(uint32_t len)
{
    return (EXT_HDR + (uint64_t)len + sizeof(struct ta_rec) - 1) / sizeof(struct ta_rec);
}

struct ta_rec *ta_rec_begin_ext(struct ta_thread *t, uint32_t ext_len)
{
    if (!ext_len)
        return ta_rec_begin(t);
    if (!ta_rec_enter(t))
        return NULL;
    struct ta_ring *r = &t->ring;
    uint64_t n = 1 + ext_slots(ext_len);
    if (ta_unlikely(ext_len > TA_EXT_MAX || n > r->mask + 1)) {
        /* a caller's mistake, or a ring smaller than the payload: it can never fit */
        t->ext_room = 0;
        atomic_signal_fence(memory_order_seq_cst);
        t->writing = 0;
        ta_dropped_add("ext_too_long", 1);
        return NULL;
    }
    /* relaxed: only this thread stores head */
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    struct ta_rec *rec;
    if (ta_likely(ta_ring_room(r, h + n - 1))) {
        rec = &r->slots[h & r->mask];
    } else {
        /* acquire: as in ta_rec_claim */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (ta_ring_room(r, h + n - 1)) {
            rec = &r->slots[h & r->mask];
        } else {
            int saved = errno;
            rec = full_slow(t, n, 1);
            errno = saved;
        }
    }
    if (!rec) {
        t->ext_room = 0;
        atomic_signal_fence(memory_order_seq_cst);
        t->writing = 0;
        return NULL;
    }
    t->ext_room = (uint16_t)(n - 1);
    return rec;
}

/* Copy n bytes to byte `off` of the continuation that starts at slot `first`, wrapping at
 * the ring's end. */
static void cont_copy(struct ta_ring *r, uint64_t first, uint64_t off, const void *src,
                      uint64_t n)
{
    uint64_t upto_end = (r->mask + 1 - first) * sizeof(struct ta_rec);
    unsigned char *base = (unsigned char *)&r->slots[first];
    if (off >= upto_end) {
        memcpy((unsigned char *)r->slots + (off - upto_end), src, n);
        return;
    }
    uint64_t a = n <= upto_end - off ? n : upto_end - off;
    memcpy(base + off, src, a);
    if (a < n)
        memcpy(r->slots, (const unsigned char *)src + a, n - a);
}

/* Commit the record at the head with its continuation: `len` bytes of the op's payload
 * (`room` slots claimed for them by begin_ext), then nf return addresses (TRACEAGENT_STACKS,
 * the last 8 x nf bytes; header {len + 8 x nf, nf}). The stack's extra slots are claimed
 * here, under the full ring's policy; without room the record goes without its stack and
 * the loss is counted (dropped "stack"). */
static void commit_cont(struct ta_thread *t, const void *ext, uint32_t len, uint64_t room,
                        const uint64_t *ips, uint32_t nf)
{
    struct ta_ring *r = &t->ring;
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (nf && len + 8ull * nf > TA_EXT_MAX) {
        nf = (TA_EXT_MAX - len) / 8; /* the innermost frames, as the depth limit keeps */
        if (!nf)
            ta_dropped_add("stack", 1);
    }
    uint64_t need = ext_slots(len + 8 * nf);
    if (nf && need > room) {
        /* slots h+1 .. h+need: free as far as the producer saw, or after the policy's wait */
        int ok = 1 + need <= r->mask + 1;
        if (ok && !ta_ring_room(r, h + need)) {
            /* acquire: as in ta_rec_claim */
            r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (!ta_ring_room(r, h + need)) {
                int saved = errno;
                ok = full_slow(t, 1 + need, 0) != NULL;
                errno = saved;
            }
        }
        if (!ok) {
            ta_dropped_add("stack", 1);
            nf = 0;
            need = ext_slots(len);
        }
    }
    if (!len && !nf) {
        /* a plug-in's stray flag must not make the drainer read the next record as a
         * payload */
        r->slots[h & r->mask].flags &= (uint8_t)~TA_F_EXT;
        ta_rec_commit_plain(t);
        return;
    }
    uint64_t first = (h + 1) & r->mask;
    uint32_t hdr[2] = {len + 8 * nf, nf};
    cont_copy(r, first, 0, hdr, EXT_HDR);
    if (len)
        cont_copy(r, first, EXT_HDR, ext, len);
    if (nf)
        cont_copy(r, first, EXT_HDR + len, ips, 8ull * nf);
    r->slots[h & r->mask].flags |= TA_F_EXT;
    /* release: pairs with the drainer's acquire load of head; the record and all of its
     * continuation slots are visible before the drainer can see the new head */
    atomic_store_explicit(&r->head, h + 1 + need, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    t->writing = 0;
}

void ta_rec_commit_frames(struct ta_thread *t, const uint64_t *ips, uint32_t nf)
{
    commit_cont(t, NULL, 0, 0, ips, nf);
}

void ta_rec_commit_ext(struct ta_thread *t, const void *ext, uint32_t ext_len)
{
    uint64_t room = t->ext_room;
    t->ext_room = 0;
    struct ta_ring *r = &t->ring;
    const struct ta_rec *rec = &r->slots[atomic_load_explicit(&r->head, memory_order_relaxed) &
                                         r->mask];
    uint64_t ips[TA_STACK_WALK];
    uint32_t nf = ta_unlikely(ta_stack_mask) ? ta_stack_take(t, rec, ips) : 0;
    /* no payload, or none claimed (begin_ext with 0): the stack alone, or one slot */
    if (!ext_len || !ext || !room) {
        commit_cont(t, NULL, 0, 0, ips, nf);
        return;
    }
    /* never past what begin claimed (a commit with a longer ext_len than its begin) */
    uint64_t cap = room * sizeof(struct ta_rec) - EXT_HDR;
    uint32_t len = ext_len <= cap ? ext_len : (uint32_t)cap;
    commit_cont(t, ext, len, room, ips, nf);
}
