/* traceagent internal interfaces: the record, the per-thread state, the hot-path helpers,
 * and the contracts between the agent core, the API families and the exporters.
 *
 * Nothing here is public: include/traceagent.h is the only header users see.
 *
 * Data flow:
 *   wrapper (one file per API family) --ta_rec--> per-thread SPSC ring --> drainer thread
 *   --ta_event (ns times, strings resolved)--> exporters (trace JSON, stats, ...)
 */
#ifndef TA_H
#define TA_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define TA_EXPORT __attribute__((visibility("default")))
#define ta_likely(x) __builtin_expect(!!(x), 1)
#define ta_unlikely(x) __builtin_expect(!!(x), 0)
#define TA_CACHELINE 64
/* The common wrappers go in one section (GCC's .text.hot), slow paths are `cold` (moved out
 * of the functions that call them): after a system call each code page a call touches is
 * an instruction-TLB miss on machines without PCID (bench/NOTES.md, row 23). */
#define TA_HOT __attribute__((hot))
/* The first of a group of hot wrappers a program calls one after another (fopen, fread,
 * fclose): starts a code page, so that the group, defined next to it, shares that page. */
#define TA_PAGE __attribute__((aligned(4096)))
#define TA_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------------------------------ */
/* Categories, operations, the record, events, families, exporters, sources: the plug-in
 * interface (include/traceagent_plugin.h) is the one definition, for the agent's own code
 * and for plug-ins alike. */

#define TA_AGENT_INTERNAL 1
#include "traceagent_plugin.h"

/* Category names by id: the built-in ones, then those families added (plugin.c). */
extern const char *ta_cat_names[TA_CAT_MAX];
extern _Atomic int ta_ncats; /* ids in use */

/* An op of the file layer (POSIX, stdio): the agent's field set for its I/O kind. */
#define TA_OP_DEFINE(var, name_, cat_, io_) \
    static const struct ta_op var = {name_, cat_, io_, TA_SHAPE_SPAN, 0, TA_LAYER_FILE, 0, {0}, NULL, {0}}

/* ------------------------------------------------------------------------------------ */
/* Clock                                                                                 */

/* Ticks: the TSC where the agent chose it (see clock.c), else CLOCK_MONOTONIC ns. The
 * drainer converts ticks to CLOCK_MONOTONIC ns with ta_clock_to_ns(). */
extern int ta_clock_tsc; /* 1: ticks are TSC cycles */
static inline uint64_t ta_mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
/* The start of a span, or an instant: lfence first, as the kernel's own rdtsc_ordered(). A
 * bare rdtsc may run before earlier loads complete (~100 cycles early), and then a thread
 * that took a token from another stamps the start of its span before the other's span
 * ended (t18 saw it under load). */
static inline uint64_t ta_now(void)
{
    if (ta_likely(ta_clock_tsc)) {
        uint32_t lo, hi;
        __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
        return ((uint64_t)hi << 32) | lo;
    }
    return ta_mono_ns();
}
/* The end of a span: a bare rdtsc. Running early only moves the end earlier, never past
 * what follows (later stores become visible after it retires), so it cannot break the
 * order with another thread's ta_now(); after a system call it is ordered anyway. */
static inline uint64_t ta_now_end(void)
{
    if (ta_likely(ta_clock_tsc)) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
        return ((uint64_t)hi << 32) | lo;
    }
    return ta_mono_ns();
}
void ta_clock_init(void);
void ta_clock_ensure(void); /* ta_clock_init once, before the first record */
/* Converting reads (tsc, mono) pairs as needed and extends the conversion: only the
 * holder of the drain converts (drainer.c: the drainer, a flush, the signal flush). */
uint64_t ta_clock_to_ns(uint64_t ticks);
void ta_clock_refresh(void); /* a pair now: at each drain cycle */
/* The newest pair's TSC ticks, read by the drainer each cycle: the stamps of a thread in a
 * strict seccomp sandbox, whose rdtsc faults (core.c, emulate_rdtsc) */
extern _Atomic uint64_t ta_clock_recent;

/* ------------------------------------------------------------------------------------ */
/* Strings: a global, lock-free, append-only intern table. Safe from any thread and from
 * the hot path (no lock, no malloc, no syscall once its pages are touched).              */

uint32_t ta_intern(const char *s, size_t len); /* 0 when the table is full */
static inline uint32_t ta_intern_cstr(const char *s)
{
    return s ? ta_intern(s, __builtin_strlen(s)) : 0;
}
const char *ta_str(uint32_t id); /* "" for 0 */
/* A per-thread cache in front of ta_intern for names passed again and again (markers):
 * keyed by the pointer, and checked against the text, so a reused buffer is never
 * mistaken for the string it held before. */
struct ta_thread;
uint32_t ta_intern_cached(struct ta_thread *t, const char *s);
void ta_intern_init(void);
void ta_intern_prefault(void); /* drainer: write the pages the table will use next */

/* ------------------------------------------------------------------------------------ */
/* Per-thread state and the ring                                                         */

#define TA_MARK_STACK 128

struct ta_ring {
    /* producer's line: `head` is the next slot to write; only the owner thread stores it */
    _Alignas(TA_CACHELINE) _Atomic uint64_t head;
    uint64_t tail_cache; /* producer's last seen value of `tail` */
    uint64_t mask;       /* slots - 1, slots a power of two */
    struct ta_rec *slots;
    /* consumer's line: `tail` is the next slot to read; only the drainer stores it */
    _Alignas(TA_CACHELINE) _Atomic uint64_t tail;
    _Alignas(TA_CACHELINE) char end[0];
};

enum ta_thread_state { TA_TH_FREE, TA_TH_ACTIVE, TA_TH_RETIRED };

struct ta_mark {
    uint64_t t0;
    uint32_t str;
    uint8_t depth;
};

struct ta_thread {
    struct ta_ring ring;
    /* Set when the slot is handed to a thread, read by the drainer: kept off the lines the
     * owner writes on every call, so the drainer's reads do not bounce them. */
    _Alignas(TA_CACHELINE) int32_t tid;
    _Atomic int state;   /* enum ta_thread_state */
    _Atomic int cold;    /* a fresh ring whose pages were never touched (drainer populates) */
    int32_t seen_tid;    /* drainer-private: tid the drainer has named; 0 = not yet */
    char seen_name[16];  /* drainer-private: the name it gave then */
    char name[16];       /* the thread's name at attach, then at exit (prctl) */
    struct ta_thread *next;      /* registry list, append-only */
    struct ta_thread *free_next; /* free list, under the registry lock */
    /* The owner's, written on every call. */
    _Alignas(TA_CACHELINE) uint8_t depth; /* current nesting depth */
    uint8_t wait_failed; /* the last wait for room timed out: drop at once while full */
    uint8_t writing;     /* between ta_rec_begin and ta_rec_commit (see there) */
    uint8_t path_filling; /* a path_cache entry is being written (fdtab.c) */
    uint16_t nmarks;     /* ranges pushed and not popped (may exceed TA_MARK_STACK) */
    uint16_t ext_room;   /* continuation slots ta_rec_begin_ext claimed (in what was padding) */
    uint64_t dropped_full; /* owner writes (relaxed), drainer reads once a cycle */
    uint64_t failed_at;    /* ta_events_drained when a wait for room last failed */
    uint64_t dropped_reentry; /* records a signal handler made while one was half written */
    struct ta_mark marks[TA_MARK_STACK];
    struct {
        const char *ptr;
        uint32_t id, len;
    } name_cache[16];
    struct { /* paths the thread named lately (fdtab.c), one line each */
        const char *ptr;
        uint32_t id;
        uint8_t inl;     /* `text` holds the whole path, 1: absolute, 2: relative (valid
                          * while path_gen is ta_cwd_gen); 0: compare with ta_str(id) */
        char text[51];   /* the path, when it fits: a hit reads no other page */
    } path_cache[8];
    uint32_t path_gen;   /* ta_cwd_gen when the relative paths in path_cache were resolved */
    uint32_t stack_skip; /* records of the stacks' categories to pass before the next stack
                          * (TRACEAGENT_STACKS_EVERY); only the cold commit reads it */
};

extern __thread struct ta_thread *ta_self __attribute__((tls_model("initial-exec")));
extern __thread int ta_guard __attribute__((tls_model("initial-exec")));
/* Set while this thread's memory is a vfork child's (core.c): the fd table is the parent's. */
extern __thread unsigned char ta_vforked __attribute__((tls_model("initial-exec")));
/* The fd table may be kept up to date by a call that is not recorded (category off, the
 * agent's own call): not in the no-op build, not in a vfork child. */
#define TA_UPKEEP (!TA_NOP && !ta_vforked)

/* Global switches, read on the hot path. */
extern _Atomic int ta_active; /* 1 between init and the final flush */
extern uint32_t ta_trace_mask; /* bit (1 << enum ta_cat) per traced category */

struct ta_thread *ta_thread_attach(void) __attribute__((cold)); /* slow path: a ring */

/* Enter an intercepted call of category `cat`. Returns NULL when the call must not be
 * recorded (agent off, category off, agent's own thread, re-entered from the agent);
 * otherwise the caller's state with depth already incremented: pair with ta_leave(). */
static inline struct ta_thread *ta_enter(int cat)
{
    if (ta_unlikely(!(ta_trace_mask & (1u << cat))) || ta_unlikely(ta_guard))
        return NULL;
    struct ta_thread *t = ta_self;
    if (ta_unlikely(!t)) {
        t = ta_thread_attach();
        if (!t)
            return NULL;
    }
    t->depth++;
    return t;
}
static inline void ta_leave(struct ta_thread *t) { t->depth--; }

/* Writing a record: ta_rec_begin() gives the slot for the next record of thread `t`, or
 * NULL when the ring stays full (then the event is counted in dropped_full); fill it, then
 * ta_rec_commit().
 *
 * A signal handler that records on this thread while a record is half written would get
 * the same slot: `writing` marks that window, and such a record is dropped and counted
 * (dropped_reentry) instead. The signal fences keep the compiler from moving the slot's
 * stores out of the window (a handler runs on this thread: no hardware fence is needed). */
struct ta_rec *ta_ring_full_slow(struct ta_thread *t) __attribute__((cold));
/* Is slot `h` free, as far as the producer last saw the drainer's tail? */
static inline bool ta_ring_room(const struct ta_ring *r, uint64_t h)
{
    return h - r->tail_cache <= r->mask;
}
/* The slot at the ring's head, once `writing` is set: a free one, or NULL (full). */
TA_INLINE struct ta_rec *ta_rec_claim(struct ta_thread *t)
{
    struct ta_ring *r = &t->ring;
    /* relaxed: only this thread stores head */
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (ta_unlikely(!ta_ring_room(r, h))) {
        /* acquire: pairs with the drainer's release store of tail in drain_cycle; the
         * drainer has finished reading every slot below tail before we overwrite one */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (!ta_ring_room(r, h)) {
            struct ta_rec *rec = ta_ring_full_slow(t);
            if (!rec) {
                atomic_signal_fence(memory_order_seq_cst);
                t->writing = 0;
            }
            return rec;
        }
    }
    return &r->slots[h & r->mask];
}
/* Set `writing`, or say a record is half written (then this one is dropped and counted). */
TA_INLINE bool ta_rec_enter(struct ta_thread *t)
{
    if (ta_unlikely(t->writing)) {
        t->dropped_reentry++;
        return false;
    }
    t->writing = 1;
    atomic_signal_fence(memory_order_seq_cst);
    return true;
}
static inline struct ta_rec *ta_rec_begin(struct ta_thread *t)
{
    return ta_rec_enter(t) ? ta_rec_claim(t) : NULL;
}

/* The slot the thread's next record takes, computed before a wrapped call so that after
 * the call the record's stores need no load first. After a system call every page is a
 * TLB miss on machines without PCID (bench/NOTES.md, row 21); a store whose address comes
 * from a load pays two misses in a row, one whose address is in a register overlaps its
 * miss with the check in ta_rec_begin_peeked. `rec` is NULL when the ring looked full. */
struct ta_slot {
    struct ta_rec *rec;
    uint64_t h; /* the ring's head when it was taken */
};
TA_INLINE struct ta_slot ta_rec_peek(struct ta_thread *t)
{
    struct ta_ring *r = &t->ring;
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    struct ta_slot s = {ta_ring_room(r, h) ? &r->slots[h & r->mask] : NULL, h};
    return s;
}
/* ta_rec_begin for a slot from ta_rec_peek: that slot when the head has not moved since,
 * checked after `writing` is set (a signal handler that recorded before that moved it; one
 * that comes after it drops its record), else the head's slot as ta_rec_begin finds it.
 * Room cannot have shrunk: only this thread moves head, and tail only grows. */
TA_INLINE struct ta_rec *ta_rec_begin_peeked(struct ta_thread *t, struct ta_slot s)
{
    if (!ta_rec_enter(t))
        return NULL;
    if (ta_likely(s.rec && atomic_load_explicit(&t->ring.head, memory_order_relaxed) == s.h))
        return s.rec;
    return ta_rec_claim(t);
}
/* Call stacks (TRACEAGENT_STACKS). Capture (stacks.c), on the program's threads: the
 * categories whose spans get a stack, 0 when none (or libunwind could not be loaded). A
 * record of such a category is committed by ta_rec_commit_stack (cold), which appends the
 * return addresses to the record as continued payload: the continuation header's second
 * u32 (reserved before) is their count, and they are the LAST 8 x count bytes of the
 * payload, leaf first, after the op's own payload if it has one. */
extern uint32_t ta_stack_mask;
void ta_stacks_init(void); /* after the configuration: loads libunwind when stacks are asked */
void ta_rec_commit_stack(struct ta_thread *t) __attribute__((cold));
/* The stack for the record at the head of t's ring, when its category and the EVERY
 * counter ask for one: its return addresses into ips (TA_STACK_MAX at most), leaf first,
 * the agent's own frames left out; 0 for none. Only while `writing` is set. ips has room
 * for TA_STACK_WALK: the walk is made into it in place, the agent's frames included. */
#define TA_STACK_MAX 64
#define TA_STACK_WALK (TA_STACK_MAX + 16)
/* Set while this thread runs libunwind (its load, a walk): the pipe libunwind opens for
 * its memory checks is then made the agent's (posix.c pipe2: moved high, registered like
 * an output file), and its close of that pipe let through. */
extern __thread unsigned char ta_unwinding __attribute__((tls_model("initial-exec")));
uint32_t ta_stack_take(struct ta_thread *t, const struct ta_rec *rec, uint64_t *ips);
/* Commit the record at the head with nf return addresses as its continued payload
 * (thread.c); without them when the ring has no room (counted: dropped "stack"). */
void ta_rec_commit_frames(struct ta_thread *t, const uint64_t *ips, uint32_t nf);

/* Publish the record at the head: one release store. */
TA_INLINE void ta_rec_commit_plain(struct ta_thread *t)
{
    struct ta_ring *r = &t->ring;
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* release: pairs with the drainer's acquire load of head; makes the slot's contents
     * visible before the drainer can see the new head */
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    t->writing = 0;
}
/* ta_stack_mask is 0 unless stacks are on: one load, a branch predicted not taken. */
static inline void ta_rec_commit(struct ta_thread *t)
{
    if (ta_unlikely(ta_stack_mask)) {
        ta_rec_commit_stack(t);
        return;
    }
    ta_rec_commit_plain(t);
}

/* Common record fill for a span on a file descriptor; families add their own fields. */
static inline void ta_rec_span(struct ta_rec *rec, const struct ta_op *op, uint64_t t0,
                               uint64_t t1, uint8_t depth)
{
    rec->op = op;
    rec->t0 = t0;
    rec->t1 = t1;
    rec->str = 0;
    rec->str2 = 0;
    rec->fd = -1;
    rec->err = 0;
    rec->depth = depth;
    rec->flags = 0;
}

/* The no-op build (-DTA_NOP=1): wrappers only make the call (the real function, or the
 * same direct system call as the agent's, posix.c). */
#ifndef TA_NOP
#define TA_NOP 0
#endif

/* The one shape of a wrapper (posix.c, stdio.c; a family of a plug-in may follow it):
 *
 *     TA_REAL_OR(fn, late, fallback);               the real function, else the fallback
 *     struct ta_span sp;
 *     if (!TA_SPAN_ENTER(sp, cat))                   not recorded: just the call
 *         return ta_real(args);
 *     ...read what the record needs: a line read before the call is warm, after it cold
 *     TA_SPAN_CALL(sp, int r, ta_real(args), r < 0);  peek the slot, stamp, call, stamp
 *     ...the bookkeeping the result allows
 *     family_rec(&sp, op, ...);                     into the peeked slot (fdtab.h ta_io_rec)
 *     return TA_SPAN_LEAVE(sp, r);                  leave; errno as the call left it
 *
 * Checking the real function (declared with TA_REAL): while real_fn is NULL (a call from
 * another library's constructor, or from inside the resolver) the wrapper returns
 * `fallback` (the raw system call, or a failure); with `late`, it looks the function up
 * first (ta_get_real_fn: for families whose functions the resolver itself never calls).
 * `ta_real` is then the function to call: real_fn itself, or with `late` a copy held in
 * the wrapper: the pointer each family's wrappers used before the shape was shared, so
 * that their code stays as it was (bench/disasm.sh compares two builds). */
#define TA_REAL_OR(fn, late, ...)                                                         \
    __typeof__(real_##fn) ta_real_copy_ = real_##fn;                                      \
    __typeof__(real_##fn) *const ta_real_p_ = (late) ? &ta_real_copy_ : &real_##fn;       \
    if (ta_unlikely(!ta_real_copy_) && !((late) && (ta_real_copy_ = ta_get_real_##fn()))) \
        return __VA_ARGS__
#define ta_real (*ta_real_p_)

/* One recorded call: its thread, the slot peeked for its record, its stamps, its errno
 * (what a record function reads). */
struct ta_span {
    struct ta_thread *t;
    struct ta_slot slot;
    uint64_t t0, t1;
    int failed; /* the call failed, as the wrapper's test says */
    int err;    /* errno after a failure, 0 after a success */
};

/* Enter a call of category `cat`: true with sp.t set (pair with TA_SPAN_LEAVE), false
 * when the call is not recorded (NOP build, category off, the agent's own call). */
#define TA_SPAN_ENTER(sp, cat) (!TA_NOP && ((sp).t = ta_enter(cat)) != NULL)

/* The call: `decl` (a declaration, `int r`) = CALL, evaluated once, between the stamps;
 * FAILED, an expression of the result evaluated once after them, says whether errno is
 * saved. errno is read only on failure: nothing after it changes errno, and a success need
 * not touch its line (after a system call every line touched costs). The slot is peeked
 * before: see ta_rec_peek. `sp` must be a plain name: the failure and errno are also
 * locals named after it (<sp>_failed, <sp>_err), which TA_SPAN_LEAVE reads; kept as the
 * wrappers had them before the shape was shared, so their code stays as it was. */
#define TA_SPAN_CALL(sp, decl, CALL, FAILED)                                              \
    (sp).slot = ta_rec_peek((sp).t);                                                      \
    (sp).t0 = ta_now();                                                                   \
    decl = CALL;                                                                          \
    (sp).t1 = ta_now_end();                                                               \
    const int sp##_failed = (FAILED);                                                     \
    const int sp##_err = sp##_failed ? errno : 0;                                         \
    (sp).failed = sp##_failed;                                                            \
    (sp).err = sp##_err

/* Leave, errno restored after a failure (the record may have changed it): the value
 * `r`, which the wrapper returns. TA_SPAN_LEAVE_VOID for a call returning nothing. */
#define TA_SPAN_LEAVE(sp, r) (TA_SPAN_LEAVE_VOID(sp), (r))
#define TA_SPAN_LEAVE_VOID(sp)                                                            \
    (ta_leave((sp).t), sp##_failed ? (void)(errno = sp##_err) : (void)0)

/* ------------------------------------------------------------------------------------ */
/* Finding the real functions (resolve.c)                                               */

/* Address of the next definition of `name` after the agent: RTLD_NEXT first, then every
 * loaded object (also those dlopen'ed RTLD_LOCAL, which RTLD_NEXT cannot see), skipping
 * the agent itself. NULL when none is loaded: never call it then. */
void *ta_resolve(const char *name) __attribute__((cold));
/* Are all `n` functions glibc's own definitions (in the loaded libc.so.6)? */
bool ta_in_libc(void *const *fns, int n) __attribute__((cold));
/* Is a library loaded that rewrites glibc's system call instructions (syscall_intercept,
 * pil4dfs)? Such a library sees only the system calls glibc's code makes. */
bool ta_syscall_patcher(void) __attribute__((cold));

/* Declare the pointer to the real function and a resolver used by its wrapper:
 *   TA_REAL(ssize_t, read, int, void *, size_t);
 * gives `real_read` (NULL until resolved) and `ta_get_real_read()`, which resolves it on
 * first use. Families resolve all their pointers in one init function too. */
/* Data every wrapper reads after its system call (the real function's pointer, the trace
 * and stack masks, the clock's kind): kept together (~1 KiB: one page, or two where the
 * group happens to straddle one), apart from the .bss they would be spread over. Here a system call empties the TLB (KPTI without PCID), so each page a
 * wrapper touches after it is a page walk (bench/NOTES.md, row 53). */
#define TA_HOT_DATA __attribute__((section(".bss.ta_hot")))

#define TA_REAL(ret, fn, ...)                                                   \
    static ret (*real_##fn)(__VA_ARGS__) TA_HOT_DATA;                           \
    static inline ret (*ta_get_real_##fn(void))(__VA_ARGS__)                    \
    {                                                                           \
        if (ta_unlikely(!real_##fn))                                            \
            real_##fn = (ret(*)(__VA_ARGS__))ta_resolve(#fn);                   \
        return real_##fn;                                                       \
    }

/* ------------------------------------------------------------------------------------ */
/* Raw system calls for the agent's own I/O: never through anything the agent wraps.     */

long ta_sys_write(int fd, const void *buf, size_t n);  /* writes all of it or fails */
int ta_sys_open(const char *path, int flags, int mode);
int ta_sys_close(int fd);
long ta_sys_read(int fd, void *buf, size_t n);
void *ta_sys_mmap(size_t len); /* anonymous, private, zeroed; NULL on failure */
/* Map the pages of [p, p+len) now, in one system call, without changing their contents
 * (64 KiB: ~15 us here, where 16 page faults take ~250 us). Nothing before Linux 5.14. */
void ta_sys_populate(void *p, size_t len);
/* Give back the pages wholly inside [p, p + len) (MADV_DONTNEED): they read as zeros after. */
void ta_sys_release(void *p, size_t len);
void ta_sys_munmap(void *p, size_t len);
int ta_sys_mkdir_p(const char *path); /* 0 or -errno */
int ta_gettid(void);

/* ------------------------------------------------------------------------------------ */
/* Configuration, process identity, logging (config.c, core.c, log.c)                   */

enum ta_export_bits { TA_EXPORT_JSON = 1, TA_EXPORT_STATS = 2, TA_EXPORT_LTTNG = 4 };

#define TA_MAX_EXCLUDES 32
struct ta_config {
    char output[4096];
    uint32_t exports;     /* enum ta_export_bits */
    uint32_t trace_mask;  /* 1 << enum ta_cat */
    uint32_t buffer_kb;   /* per-thread ring size */
    uint64_t min_duration_ns;     /* spans shorter than this are left out of the trace */
    uint32_t min_duration_mask;   /* ... of these categories (1 << enum ta_cat) */
    int children;
    int on_full_drop;     /* TRACEAGENT_ON_FULL=drop: never wait for the drainer */
    int no_direct;        /* TRACEAGENT_DIRECT=0: every call through glibc (posix.c) */
    uint32_t stacks_mask; /* TRACEAGENT_STACKS: 1 << enum ta_cat (all: every category) */
    uint32_t stacks_every; /* TRACEAGENT_STACKS_EVERY: one record in N gets a stack */
    uint32_t stacks_depth; /* TRACEAGENT_STACKS_DEPTH: frames kept at most, 1..64 */
    int log_level;
    int nexcludes;
    char *excludes[TA_MAX_EXCLUDES]; /* path prefixes not traced (interned strings) */
    size_t exclude_len[TA_MAX_EXCLUDES];
    int clock;            /* TRACEAGENT_CLOCK: enum ta_clock_choice */
    int secure;           /* AT_SECURE: nothing read, written or recorded */
    int trace_all;        /* TRACEAGENT_TRACE unset or `all`: plug-ins' categories too */
    const char *plugins;  /* TRACEAGENT_PLUGINS (interned), or NULL */
};
enum ta_clock_choice { TA_CLOCK_AUTO, TA_CLOCK_TSC, TA_CLOCK_MONOTONIC };
extern struct ta_config ta_cfg;
void ta_config_load(void);
/* Is the family's category traced, is the exporter named, by the configuration? */
bool ta_config_traces(const char *family, const char *cat);
bool ta_config_exports(const char *name);
/* After the plug-ins are in: words of TRACEAGENT_TRACE/EXPORT that name nothing are bad
 * (one warning, the default used); the functions say which words plug-ins added */
void ta_config_check_words(int (*cat_known)(const char *), int (*exporter_known)(const char *));

struct ta_proc {
    int pid, ppid;
    char exe[256];        /* basename of the executable ("python3" for Python) */
    char host[256];
    char cmdline[4096];   /* argv joined by spaces (cut at 4095 bytes) */
    int argc;
    char **argv;          /* as main() gets it */
    uint64_t start_mono_ns, start_real_ns; /* the wall-clock anchor */
    char stem[4096];      /* <output>/<exe>-<pid>[.N]: prefix of this process's files */
};
extern struct ta_proc ta_proc;

/* Create `<stem><suffix>` (new, 0600, never through a symlink), with the agent's fd
 * protections: the fd, also stored in *slot, which follows the file should it move
 * (ta_agent_fd_move); -errno after a warning. */
int ta_out_open(const char *suffix, int *slot);
void ta_out_close(int *slot); /* close a file from ta_out_open; *slot = -1 */
void ta_choose_stem(void); /* <output>/<exe>-<pid>, or .N after it when that name is taken */
/* The output directory is one nobody else can plant names in: 0, or -1 after a warning */
int ta_check_output_dir(const char *dir);
/* The program takes fd number fd, the agent's: move the agent's file elsewhere (fd closed).
 * Call with the drain held (ta_drain_hold). 0, or -1 when the agent had to let go of it. */
int ta_agent_fd_move(int fd);
bool ta_is_agent_fd(int fd); /* the program must never close or reuse these */
void ta_agent_fd_add(int fd);
int ta_agent_fds(int *out, int max); /* the agent's open fds, without a syscall */
void ta_agent_fd_del(int fd);
int ta_agent_fd_adopt(int fd); /* a loaded library's own fd: made high and the agent's */

void ta_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ta_warn(...) ta_log(TA_LOG_WARN, __VA_ARGS__)
#define ta_info(...) ta_log(TA_LOG_INFO, __VA_ARGS__)
#define ta_debug(...) ta_log(TA_LOG_DEBUG, __VA_ARGS__)

/* out[0..len) is an absolute directory (or "" for the root); append `rel` (n bytes) to it,
 * resolving "." and ".." lexically and dropping empty components. The new length (at
 * least 1: "/"), or 0 when the result does not fit in cap bytes with its NUL. */
size_t ta_path_join(char *out, size_t len, size_t cap, const char *rel, size_t n);

/* Async-signal-safe snprintf subset (%s %d %u %ld %lu %lld %llu %zu %x %p %c %%). */
int ta_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ta_vfmt(char *buf, size_t n, const char *fmt, va_list ap);

/* Process life (core.c), called by wrappers of _exit, exec*, and the signal handler. */
void ta_flush_final(void);     /* clean end: drain, finish every exporter, stop drainer */
void ta_flush_signal(void);    /* from a fatal-signal handler: async-signal-safe subset */
bool ta_in_forked_copy(void);  /* vfork/clone child sharing or copying our state */
extern bool ta_sandboxed;      /* the program entered seccomp: no needless syscall on its threads */
/* The signal that is ending the process (0: none): stats.json says "complete": false. */
extern _Atomic int ta_end_signal;
const char *ta_sig_name(int sig, char *buf, size_t n); /* "SIGTERM"; "SIG<n>" if unknown */

/* ------------------------------------------------------------------------------------ */
/* The drainer and exporters                                                            */

extern const struct ta_exporter ta_exporter_trace_json;
extern const struct ta_exporter ta_exporter_stats;

/* What the agent itself did, for stats.json's "agent" section (drainer-owned). */
struct ta_agent_stats {
    uint64_t events;         /* records drained */
    uint64_t drainer_cpu_ns; /* CPU time spent draining (drainer thread + final flush) */
    uint64_t trace_bytes;    /* bytes written to trace.json */
    uint64_t trace_left_out; /* spans shorter than min_duration_ns, in stats only */
};
extern struct ta_agent_stats ta_agent_stats;
extern _Atomic uint64_t ta_threads_attached; /* threads that recorded (thread.c) */
extern _Atomic uint64_t ta_intern_full;      /* strings the full string table lost (intern.c) */

void ta_drainer_start(void);         /* exporters; the thread comes with the first event */
void ta_drainer_ensure_thread(void); /* start the drainer thread if it is wanted */
void ta_drainer_kick(void);          /* wake it: a ring is full */
void ta_drainer_stop_and_flush(void); /* joins the drainer, drains all, finishes exporters */
void ta_drain_signal(void);           /* signal context: drain into signal-safe exporters */
void ta_drainer_after_fork_child(void);
void ta_drainer_prefork(void);
void ta_drainer_postfork_parent(void);
/* No drain runs while held (a program's thread changing the agent's fds): 1 if taken, 0
 * if this thread held it already; give it to ta_drain_unhold. */
int ta_drain_hold(void);
void ta_drain_unhold(int taken);
int ta_drainer_flush_for_signal(int timeout_ms); /* the drainer flushes all: 1 done, 0 late, -1 none */
void ta_drainer_flush_inline(int in_signal);   /* the same on this thread (no drainer thread) */

void ta_close_open_ranges(struct ta_thread *t); /* markers.c */

/* ------------------------------------------------------------------------------------ */
/* The lists (plugin.c): families, exporters and batch sources, built-in or from plug-ins.
 * The core walks them; it names none of them. */

#define TA_MAX_FAMILIES 32
#define TA_MAX_EXPORTERS 8
#define TA_MAX_SOURCES 8
enum ta_hook { TA_HOOK_BEFORE_FORK, TA_HOOK_AFTER_FORK_CHILD, TA_HOOK_BEFORE_FINAL_DRAIN,
               TA_HOOK_AT_EXIT };
void ta_plugins_init(void);  /* constructor: built-in families and exporters; families
                              * that registered before the agent's constructor start */
void ta_plugins_load(void);  /* then the plug-ins the configuration asks for */
/* An exporter added while recording runs: started, then fed (drainer.c) */
void ta_drainer_add_exporter(const struct ta_exporter *e);
void ta_families_hook(enum ta_hook h); /* every family's hook h, in registration order */
/* The exporters TRACEAGENT_EXPORT asks for, at most max: how many */
int ta_exporters_select(const struct ta_exporter **out, int max);
/* Sources: published in order, never removed; the drainer reads ta_nsources first */
extern const struct ta_source *ta_source_list[TA_MAX_SOURCES];
extern _Atomic int ta_nsources;
extern const struct ta_plugin_api ta_api;

/* Named tracks (track.c): ids from 1, the same for the same name; 0 when full */
uint32_t ta_track_new(const char *name);
const char *ta_track_name(uint32_t track); /* NULL: no such track */
int32_t ta_track_tid(uint32_t track);       /* the tid exporters give its events */

/* Scopes (scope.c): call paths interned as (parent, op, name) -> id, lock-free */
uint32_t ta_scope(const struct ta_op *op, uint32_t name);
uint32_t ta_scope_parent(uint32_t scope, const struct ta_op **op, const char **name);

/* Records longer than one slot (thread.c): a slot for a record whose payload goes on for
 * ext_len bytes in the following slots, then the commit that copies ext and publishes all */
struct ta_rec *ta_rec_begin_ext(struct ta_thread *t, uint32_t ext_len);
void ta_rec_commit_ext(struct ta_thread *t, const void *ext, uint32_t ext_len);
/* Drop causes an exporter may be told of: the agent's own and those plug-ins name */
#define TA_DROP_CAUSES_MAX 32
/* Events a plug-in lost before they reached the agent, by cause (drainer.c) */
void ta_dropped_add(const char *cause, uint64_t n);

/* The real function for a caller's object (resolve.c) */
void *ta_resolve_for(const char *name, const void *caller);
/* Libraries families want (dl.c): told of those loaded now, and of later loads at the
 * checks: before the program's next dlopen, once per drainer cycle (ta_dl_poll), at a
 * wrapped call from an object not seen before (ta_dl_sync, from ta_resolve_for) */
void ta_wants_add(const struct ta_family *f);
void ta_dl_poll(void); /* not from a signal handler: it may call into the loader */
void ta_dl_sync(void); /* the check, then a bounded wait for another thread telling */
void ta_dl_prefork(void);  /* fork handlers (core.c): tell before, no teller across */
void ta_dl_postfork_parent(void);
void ta_dl_postfork_child(void);
/* The HDF5 family (hdf5.c): the libraries it wants and its hook for each one loaded */
extern const char *const ta_hdf5_wants[];
void ta_hdf5_loaded(const char *path, void *handle);

/* Stacks on the drainer's side (stackdb.c): the drainer's thread only (and the thread that
 * ends the process); may allocate, and read objects' files (through the agent's own fds).
 * intern: the id of these frames (leaf first), each resolved now in the objects mapped
 * now; the same id for the same frames in the same objects, from 1; 0 for none (n == 0)
 * or when the table is full (counted as dropped "stack"). */
uint32_t ta_stack_intern(const uint64_t *ips, uint32_t n);
const uint64_t *ta_stack_ips(uint32_t id, uint32_t *n); /* NULL for 0 or an unknown id */
uint32_t ta_stack_count(void);                          /* ids in use: 1..count */
/* The frame at return address ip (symbols read once per object, cached): 0, or -1 when
 * nothing is known (no object maps it). out->size says which members the caller has. */
int ta_frame_lookup(uint64_t ip, struct ta_frame_info *out);
/* The call site of stack id: the index in its frames of the first frame outside the
 * runtimes (libc, libm, libpthread, libdl, ld.so; libstdc++, libgcc_s, libgfortran), the
 * code that made the call; 0 when every frame is in it. */
uint32_t ta_stack_site(uint32_t id);
/* Frame i (0: the leaf) of stack id, as resolved when the stack was interned: the names of
 * the objects mapped then, even if one was unloaded since (ta_frame_lookup answers for
 * what is mapped now). For the exporters. 0, or -1 when nothing is known (no object mapped
 * it, or no such frame). */
int ta_stack_frame(uint32_t id, uint32_t i, struct ta_frame_info *out);

#endif
