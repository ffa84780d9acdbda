/* The drainer: one background thread that empties every thread's ring, turns records into
 * events (ticks to ns, string ids to text) and feeds the exporters. Everything that is not
 * on the hot path (formatting, aggregation, file writes) happens here.
 *
 * `drain_owner` (a tid, 0 when free) serialises the consumers of the rings: the drainer
 * thread for each cycle, the fatal-signal flush, fork's prepare handler and the final
 * flush. Rings are single-consumer: whoever holds it is the consumer. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/futex.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include "ta.h"

extern struct ta_thread *_Atomic ta_registry;
extern _Atomic int ta_drainer_running;
void ta_thread_reclaim(struct ta_thread *t);
void ta_clock_span_to_ns(uint64_t t0, uint64_t t1, uint64_t *ns0, uint64_t *ns1); /* clock.c */
int ta_clock_segment(uint64_t *tick, uint64_t *end, double *ns, double *slope);     /* clock.c */
int ta_trace_json_rec(const struct ta_rec *r, int32_t tid, uint64_t ts_ns, uint64_t dur_ns);

static pthread_t drainer;
static _Atomic int stop_req;
/* What the drainer sleeps on: bumped by a stop request and by a producer whose ring is full.
 * The drainer reads it before its cycle and sleeps only while it is unchanged, so a wake
 * that comes mid-cycle is not lost. */
static _Atomic uint32_t wake_seq;
static _Atomic int thread_wanted; /* started, and the drainer thread not yet created */
/* created and not yet in drainer_main: the sanitized build waits for that before a fork
 * (agent/asan.c) */
_Atomic int ta_drainer_starting;
static _Atomic int drain_owner;
/* The drainer thread is detached: the final flush waits for drainer_alive to drop to 0
 * (futex) instead of joining it. A fork from a signal handler that interrupted the flush
 * leaves a child whose copy of the flush would wait in pthread_join forever for a thread
 * that exists only in the parent; a flag can be reset in the child. */
static _Atomic uint32_t drainer_alive;
static _Atomic int drainer_tid;
/* A final flush is under way (`flushing`); in a child forked meanwhile (from a signal
 * handler on the flushing thread, which goes on with the parent's flush when the handler
 * returns) that copy of the flush is `abandoned`: it writes nothing, finishes nothing, and
 * never touches the parent's files. `in_final`: no slot is reclaimed during the final
 * flush (reclaiming takes reg_lock, which fork's prepare handler takes too). */
static _Atomic int flushing, abandoned, in_final;
/* A fatal signal's flush, handed by the handler to the drainer thread (which is not
 * interrupted: it may malloc, and the stats exporter does) */
static _Atomic int final_req, final_done;
static __thread int prefork_nested;
/* The main thread's kernel-cleared tid (set_tid_address: 0 once it has exited), or NULL */
static _Atomic int *main_tid;
void ta_drainer_watch_main(int *addr) { main_tid = (_Atomic int *)addr; }
void ta_orphaned(int code) __attribute__((noreturn)); /* core.c */
static const struct ta_exporter *exps[TA_MAX_EXPORTERS];
static int nexps;
/* the JSON trace is the only exporter: records go to its shortcut first (dispatch) */
static int json_only;
/* drops by cause: ring full, records a signal handler made mid-record, and calls of
 * threads that have no ring (thread.c: it could not be mapped) */
#define NCAUSES 3
static uint64_t dropped_reported[NCAUSES];
static uint64_t dropped_retired[2]; /* drops of threads whose slot was reclaimed */
static const char *const drop_causes[NCAUSES] = {"ring_full", "signal_reentry", "no_ring"};
/* ... and the causes plug-ins name (ta_dropped_add): interned names, claimed by one CAS
 * each, so that any thread may count, also in a signal handler. The last entry takes the
 * causes that find the table full. */
#define NPLUGIN_CAUSES 16
_Static_assert(NCAUSES + NPLUGIN_CAUSES <= TA_DROP_CAUSES_MAX, "exporters keep every cause");
static _Atomic uint32_t pcause_name[NPLUGIN_CAUSES];
static _Atomic uint64_t pcause_total[NPLUGIN_CAUSES];
static uint64_t pcause_reported[NPLUGIN_CAUSES]; /* drainer-private */
/* Named tracks the exporters have been told of (drainer-private; again in a forked child,
 * whose files are new). Index: the track id; ids past the end are named every time. */
#define NTRACKS_SEEN 257
static uint8_t track_seen[NTRACKS_SEEN];
/* The pid the exporters started for: a fork child has another (its sources reset), a
 * failed exec the same (its sources' state is still its own) */
static int started_pid;
/* Drainer-private room for a payload that wraps at a ring's end (one consumer at a time:
 * drain_owner) */
static _Alignas(8) unsigned char ext_buf[TA_EXT_MAX];

/* Does struct `s` of a plug-in (its `size` first; 0: the agent's own, whole) have `m`? */
#define TA_HAS(s, m) ((s)->size == 0 || (s)->size >= offsetof(__typeof__(*(s)), m) + sizeof((s)->m))
extern _Atomic uint64_t ta_dropped_no_ring;
struct ta_agent_stats ta_agent_stats;
_Atomic uint64_t ta_events_drained; /* progress, watched by producers that wait */

static void drain_acquire(int me)
{
    int z = 0;
    while (!atomic_compare_exchange_weak_explicit(&drain_owner, &z, me, memory_order_acquire,
                                                  memory_order_relaxed)) {
        z = 0;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

/* Bounded wait, for the signal handler: the drainer ends its cycle within milliseconds. */
static int drain_try_acquire(int me, int ms)
{
    for (int i = 0; i < ms * 10; i++) {
        int z = 0;
        if (atomic_compare_exchange_strong_explicit(&drain_owner, &z, me, memory_order_acquire,
                                                    memory_order_relaxed))
            return 1;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void drain_release(void) { atomic_store_explicit(&drain_owner, 0, memory_order_release); }

static void emit_thread_name(int tid, const char *name, int signal_mode)
{
    for (int i = 0; i < nexps; i++)
        if (exps[i]->thread_name && (!signal_mode || exps[i]->signal_safe))
            exps[i]->thread_name(tid, name);
}

static const char *cat_name(const struct ta_op *op)
{
    const char *c = op->cat < TA_CAT_MAX ? ta_cat_names[op->cat] : NULL;
    return c ? c : "";
}

/* A named track's first event since the exporters started: tell them its name first. */
static void name_track(uint32_t track, int32_t tid, int signal_mode)
{
    if (track < NTRACKS_SEEN) {
        if (track_seen[track])
            return;
        track_seen[track] = 1;
    }
    const char *name = ta_track_name(track);
    for (int i = 0; i < nexps; i++)
        if (TA_HAS(exps[i], track_name) && exps[i]->track_name &&
            (!signal_mode || exps[i]->signal_safe))
            exps[i]->track_name(track, tid, name ? name : "");
}

/* What every event takes from its record: names, strings, and times in ns (ticks are
 * converted; TA_F_NS times are ns already); a duration for spans only. */
/* The clock's current segment: stamps within it convert here, inline, as ta_clock_to_ns
 * would (bench/NOTES.md, row 51); any other through clock.c, which may read a new pair
 * and change the segment (then taken again). Private to the consumer of the cycle
 * (drain_owner). */
static struct {
    int ok;
    uint64_t tick, end;
    double ns, slope;
} cseg;

static void cseg_take(void)
{
    cseg.ok = ta_clock_segment(&cseg.tick, &cseg.end, &cseg.ns, &cseg.slope);
}

static inline int in_cseg(uint64_t t) { return t - cseg.tick <= cseg.end - cseg.tick; }

static inline uint64_t seg_ns(uint64_t t)
{
    double v = cseg.ns + (double)(int64_t)(t - cseg.tick) * cseg.slope; /* f_of's */
    return v < 0 ? 0 : (uint64_t)(v + 0.5);
}

static inline __attribute__((always_inline)) void rec_times(const struct ta_rec *r,
                                                             const struct ta_op *op,
                                                             uint64_t *ts, uint64_t *dur)
{
    if (r->flags & TA_F_NS) {
        *ts = r->t0;
        *dur = op->shape == TA_SHAPE_SPAN && r->t1 > r->t0 ? r->t1 - r->t0 : 0;
    } else if (op->shape == TA_SHAPE_SPAN) {
        /* both ends converted at once, the start once (bench/NOTES.md, rows 42 and 50) */
        uint64_t end;
        if (ta_likely(cseg.ok && in_cseg(r->t0) && in_cseg(r->t1))) {
            *ts = seg_ns(r->t0);
            end = seg_ns(r->t1);
            *dur = end > *ts ? end - *ts : 0;
            return;
        }
        ta_clock_span_to_ns(r->t0, r->t1, ts, &end);
        if (ta_clock_tsc) {
            *dur = end > *ts ? end - *ts : 0;
            cseg_take();
        } else {
            *dur = r->t1 - r->t0;
        }
    } else {
        if (ta_likely(cseg.ok && in_cseg(r->t0))) {
            *ts = seg_ns(r->t0);
        } else {
            *ts = ta_clock_to_ns(r->t0);
            if (ta_clock_tsc)
                cseg_take();
        }
        *dur = 0;
    }
}

static inline __attribute__((always_inline)) void event_from_rec(struct ta_event *ev,
                                                                  const struct ta_rec *r,
                                                                  const struct ta_op *op)
{
    if (op->name_from_str) {
        ev->name = ta_str(r->str);
        ev->path = NULL;
    } else {
        ev->name = op->name;
        ev->path = r->str ? ta_str(r->str) : NULL;
    }
    ev->str2 = r->str2 ? ta_str(r->str2) : NULL;
    rec_times(r, op, &ev->ts_ns, &ev->dur_ns);
}

static inline void dispatch(const struct ta_rec *r, int tid, int signal_mode,
                            const unsigned char *ext, uint32_t ext_len, uint32_t stack)
{
    const struct ta_op *op = r->op;
    if (ta_unlikely(!op))
        return; /* never written: cannot happen by design; never crash the program on it */
    uint64_t ts, dur;
    rec_times(r, op, &ts, &dur);
    /* the JSON trace alone: its kept line for such a record, when it has one, without the
     * event built (bench/NOTES.md, row 51) */
    if (json_only && !stack && ta_trace_json_rec(r, tid, ts, dur))
        return;
    /* every member set, one by one: an initializer zeroed the whole struct first with
     * `rep stos`, ~5% of the drainer's time per pread event (bench/NOTES.md, row 51). A
     * member added to struct ta_event must be set here too: */
    _Static_assert(sizeof(struct ta_event) == 104, "dispatch sets every member of ta_event");
    struct ta_event ev;
    ev.size = sizeof ev;
    ev.rec = r;
    ev.op = op;
    ev.tid = tid;
    ev.track = 0;
    ev.scope = 0;
    ev.ext = ext;
    ev.ext_len = ext_len;
    ev.stack = stack;
    ev.cat = cat_name(op);
    if (op->name_from_str) {
        ev.name = ta_str(r->str);
        ev.path = NULL;
    } else {
        ev.name = op->name;
        ev.path = r->str ? ta_str(r->str) : NULL;
    }
    ev.str2 = r->str2 ? ta_str(r->str2) : NULL;
    ev.ts_ns = ts;
    ev.dur_ns = dur;
    for (int i = 0; i < nexps; i++)
        if (!signal_mode || exps[i]->signal_safe)
            exps[i]->event(&ev);
}

/* The pages of a fresh ring that attach did not map (thread.c) are mapped here, on the
 * drainer's thread, rather than faulted in one by one by the program's thread as it first
 * writes them (10-25 us each on a VM). MADV_POPULATE_WRITE leaves their contents alone, so
 * it is safe while the owner writes records. */
static void populate(struct ta_thread *t)
{
    atomic_store_explicit(&t->cold, 0, memory_order_relaxed);
    /* from the slot's start: madvise wants a page-aligned address, and the records start
     * after the 3 KiB header (given that, it failed with EINVAL and mapped nothing) */
    ta_sys_populate(t, sizeof *t + (t->ring.mask + 1) * sizeof(struct ta_rec));
}

/* The record at `tail` goes on in the following slots (TA_F_EXT, thread.c): its payload,
 * and the slots it takes in all (0: not whole, which one release store of head rules out;
 * the rest of the ring is then skipped rather than read as records). A payload that wraps
 * at the ring's end is copied into ext_buf; otherwise the exporters read it in place.
 * *nf: the return addresses of a call stack (TRACEAGENT_STACKS), the payload's last
 * 8 x nf bytes (the header's second u32); *len is the whole payload, theirs included. */
static uint64_t ext_payload(const struct ta_rec *slots, uint64_t mask, uint64_t tail,
                            uint64_t avail, const unsigned char **ext, uint32_t *len,
                            uint32_t *nf)
{
    const unsigned char *first = (const unsigned char *)&slots[(tail + 1) & mask];
    uint32_t n, frames;
    memcpy(&n, first, sizeof n);
    memcpy(&frames, first + 4, sizeof frames);
    uint64_t k = (8 + (uint64_t)n + sizeof(struct ta_rec) - 1) / sizeof(struct ta_rec);
    if (avail < 2 || n > TA_EXT_MAX || 1 + k > avail)
        return 0;
    uint64_t start = (tail + 1) & mask;
    uint64_t upto_end = (mask + 1 - start) * sizeof(struct ta_rec) - 8;
    if (n <= upto_end) {
        *ext = first + 8;
    } else {
        memcpy(ext_buf, first + 8, upto_end);
        memcpy(ext_buf + upto_end, slots, n - upto_end);
        *ext = ext_buf;
    }
    *len = n;
    *nf = 8ull * frames <= n ? frames : 0;
    return 1 + k;
}

/* The stack at the end of a record's payload: its id in the stack table (stackdb.c), and
 * the payload without it (what the exporters see as ev.ext). Not in signal mode: the
 * table allocates, which a fatal signal's flush must not. TRACEAGENT_LOG=debug logs the
 * frames (what tests/t56 reads). */
static uint32_t take_stack(const struct ta_rec *r, int tid, int signal_mode,
                           const unsigned char **ext, uint32_t *len, uint32_t nf)
{
    static uint64_t ips[TA_EXT_MAX / 8];
    uint32_t own = *len - 8 * nf;
    memcpy(ips, *ext + own, 8ull * nf);
    *len = own;
    if (!own)
        *ext = NULL;
    if (signal_mode)
        return 0;
    uint32_t id = ta_stack_intern(ips, nf);
    if (ta_cfg.log_level >= TA_LOG_DEBUG) {
        char line[1024];
        int o = snprintf(line, sizeof line, "stack: tid %d op %s id %u frames %u:", tid,
                         r->op && r->op->name ? r->op->name : "?", id, nf);
        for (uint32_t i = 0; i < nf && o > 0 && (size_t)o < sizeof line - 20; i++)
            o += snprintf(line + o, sizeof line - (size_t)o, " %llx",
                          (unsigned long long)ips[i]);
        ta_debug("%s", line);
    }
    return id;
}

/* Batch sources hand their events to this, on the consumer's thread (poll_sources). */
static int emit_signal_mode;
static uint64_t emitted;
static void source_emit(const struct ta_event *in)
{
    if (!in || !in->rec)
        return;
    const struct ta_rec *r = in->rec;
    const struct ta_op *op = in->op ? in->op : r->op;
    if (!op)
        return;
    /* as much of the source's event as it had (a source built for an older ABI has a
     * shorter one); the rest reads as none */
    struct ta_event ev;
    size_t have = in->size ? in->size : TA_EVENT_SIZE_1_0;
    memset(&ev, 0, sizeof ev);
    memcpy(&ev, in, have < sizeof ev ? have : sizeof ev);
    ev.size = sizeof ev;
    ev.op = op;
    event_from_rec(&ev, r, op); /* ticks too, if the source used ta_plugin_api.now */
    ev.cat = cat_name(op);
    if (!ev.ext)
        ev.ext_len = 0;
    int32_t tid = ev.track ? ta_track_tid(ev.track) : 0;
    if (tid) {
        ev.tid = tid;
        name_track(ev.track, tid, emit_signal_mode);
    } else {
        ev.track = 0; /* no such track: the event goes to the thread it names, or the process */
        if (ev.tid <= 0)
            ev.tid = ta_proc.pid;
    }
    for (int i = 0; i < nexps; i++)
        if (!emit_signal_mode || exps[i]->signal_safe)
            exps[i]->event(&ev);
    emitted++;
}

/* Every registered source's poll (final: hand over everything held); in a signal handler
 * only those that say they are signal-safe. The number of events they gave. */
static uint64_t poll_sources(int signal_mode, int final)
{
    /* acquire: pairs with the registry's release store of the count; the entries below it
     * are written */
    int n = atomic_load_explicit(&ta_nsources, memory_order_acquire);
    emit_signal_mode = signal_mode;
    emitted = 0;
    for (int i = 0; i < n && i < TA_MAX_SOURCES; i++) {
        const struct ta_source *src = ta_source_list[i];
        if (!src || !TA_HAS(src, poll) || !src->poll)
            continue;
        if (signal_mode && !(TA_HAS(src, signal_safe) && src->signal_safe))
            continue;
        src->poll(source_emit, final);
    }
    return emitted;
}

/* How the sources are polled by a cycle */
enum { SRC_NONE, SRC_POLL, SRC_FINAL };

/* One pass over every ring, then the sources. Returns the number of events consumed;
 * *fill (when not NULL): the fullest ring's share drained, in 1/1024ths of the ring,
 * rounded up (the drainer's own pace, see drainer_main). */
static uint64_t drain_cycle(int signal_mode, unsigned *fill, int sources)
{
    unsigned cycle_fill = 0;
    uint64_t n = 0, dropped[NCAUSES] = {
        dropped_retired[0], dropped_retired[1],
        atomic_load_explicit(&ta_dropped_no_ring, memory_order_relaxed)};
    ta_clock_refresh();
    cseg_take();
    for (struct ta_thread *t = atomic_load_explicit(&ta_registry, memory_order_acquire); t;
         t = t->next) {
        /* acquire: pairs with the release stores of state in thread.c; a RETIRED slot's
         * records were all committed before */
        int st = atomic_load_explicit(&t->state, memory_order_acquire);
        if (st == TA_TH_FREE)
            continue;
        /* the name the thread had when it attached, and when it ended (thread.c); never
         * read from /proc here: opening a file would take the lowest free fd from under
         * the program */
        if (!signal_mode && (t->seen_tid != t->tid ||
                             memcmp(t->name, t->seen_name, sizeof t->name))) {
            t->seen_tid = t->tid;
            memcpy(t->seen_name, t->name, sizeof t->name);
            if (t->name[0])
                emit_thread_name(t->tid, t->name, 0);
        }
        struct ta_ring *r = &t->ring;
        /* only a ring its thread uses: the thread has written half of what attach mapped
         * (a short thread's ring stays at 64 KiB; a retired one is about to be reused) */
        if (ta_unlikely(atomic_load_explicit(&t->cold, memory_order_relaxed)) && !signal_mode &&
            st == TA_TH_ACTIVE && atomic_load_explicit(&r->head, memory_order_relaxed) >= 512)
            populate(t);
        /* acquire: pairs with the release store of head in ta_rec_commit; the records
         * below head are complete */
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        /* locals: the exporters are called through pointers, and reloading these from the
         * producer's lines for every record would bounce them between cores */
        const struct ta_rec *slots = r->slots;
        const uint64_t mask = r->mask;
        const int32_t tid = t->tid;
        uint64_t published = tail;
        if (head != tail) {
            unsigned f = (unsigned)(((head - tail) * 1024 + mask) / (mask + 1));
            if (f > cycle_fill)
                cycle_fill = f;
        }
        while (tail != head) {
            const struct ta_rec *rec = &slots[tail & mask];
            if (ta_unlikely(rec->flags & TA_F_EXT)) {
                const unsigned char *ext = NULL;
                uint32_t len = 0, nf = 0, stack = 0;
                uint64_t k = ext_payload(slots, mask, tail, head - tail, &ext, &len, &nf);
                if (k) {
                    struct ta_rec own;
                    if (nf) {
                        stack = take_stack(rec, tid, signal_mode, &ext, &len, nf);
                        if (!len) {
                            /* a stack and no payload of its own: to the exporters, a
                             * record without TA_F_EXT, as it was without the stack */
                            own = *rec;
                            own.flags &= (uint8_t)~TA_F_EXT;
                            rec = &own;
                        }
                    }
                    dispatch(rec, tid, signal_mode, ext, len, stack);
                    tail += k;
                } else {
                    tail = head;
                }
            } else {
                /* the JSON trace alone: its kept line, here, without dispatch's frame for
                 * the event (bench/NOTES.md, row 51); else the event path */
                const struct ta_op *op = rec->op;
                uint64_t ts, dur;
                if (json_only && ta_likely(op)) {
                    rec_times(rec, op, &ts, &dur);
                    if (!ta_trace_json_rec(rec, tid, ts, dur))
                        dispatch(rec, tid, signal_mode, NULL, 0, 0);
                } else {
                    dispatch(rec, tid, signal_mode, NULL, 0, 0);
                }
                tail++;
            }
            n++;
            if (tail - published >= 256 || tail == head) {
                /* release: the producer may reuse the slots below tail once it sees this
                 * (pairs with its acquire load of tail) */
                atomic_store_explicit(&r->tail, tail, memory_order_release);
                /* progress, for producers waiting on a full ring (ta_ring_full_slow) */
                atomic_fetch_add_explicit(&ta_events_drained, tail - published,
                                          memory_order_relaxed);
                published = tail;
            }
        }
        uint64_t d[2] = {
            atomic_load_explicit((_Atomic uint64_t *)&t->dropped_full, memory_order_relaxed),
            atomic_load_explicit((_Atomic uint64_t *)&t->dropped_reentry, memory_order_relaxed)};
        dropped[0] += d[0];
        dropped[1] += d[1];
        if (st == TA_TH_RETIRED && !signal_mode && !atomic_load_explicit(&in_final, memory_order_relaxed)) {
            dropped_retired[0] += d[0];
            dropped_retired[1] += d[1];
            ta_thread_reclaim(t);
        }
    }
    if (sources != SRC_NONE)
        n += poll_sources(signal_mode, sources == SRC_FINAL);
    for (int c = 0; c < NCAUSES; c++) {
        if (dropped[c] <= dropped_reported[c])
            continue;
        for (int i = 0; i < nexps; i++)
            if (exps[i]->dropped && (!signal_mode || exps[i]->signal_safe))
                exps[i]->dropped(drop_causes[c], dropped[c]);
        dropped_reported[c] = dropped[c];
    }
    for (int c = 0; c < NPLUGIN_CAUSES; c++) {
        uint32_t name = atomic_load_explicit(&pcause_name[c], memory_order_relaxed);
        uint64_t total = atomic_load_explicit(&pcause_total[c], memory_order_relaxed);
        if (!name || total <= pcause_reported[c])
            continue;
        for (int i = 0; i < nexps; i++)
            if (exps[i]->dropped && (!signal_mode || exps[i]->signal_safe))
                exps[i]->dropped(ta_str(name), total);
        pcause_reported[c] = total;
    }
    ta_agent_stats.events += n;
    for (int i = 0; i < nexps; i++)
        if (exps[i]->cycle_end && (!signal_mode || exps[i]->signal_safe))
            exps[i]->cycle_end();
    if (fill)
        *fill = cycle_fill;
    return n;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void flush_all(int me, int hooks);

/* Is a thread of the program left, besides the drainer `me`? Asked only once the main
 * thread has exited (pthread_exit from main, a raw exit, a kill by a seccomp strict-mode
 * violation): the drainer alone would keep such a process alive forever. Reads
 * /proc/self/task with raw system calls; *leader_code: the main thread's exit code, as
 * waitpid reports it (field 52 of its stat). Unknown: 1 (left). */
static int program_threads_left(int me, int *leader_code)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    char buf[4096];
    long n;
    int left = 0;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long o = 0; o < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + o);
            o += d->d_reclen;
            int tid = 0;
            for (const char *c = d->d_name; *c >= '0' && *c <= '9'; c++)
                tid = tid * 10 + (*c - '0');
            if (tid <= 0 || tid == me)
                continue;
            char path[64], st[1024];
            ta_fmt(path, sizeof path, "/proc/self/task/%d/stat", tid);
            int f = ta_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
            long r = f >= 0 ? ta_sys_read(f, st, sizeof st - 1) : -1;
            if (f >= 0)
                ta_sys_close(f);
            if (r <= 0) /* gone meanwhile */
                continue;
            st[r] = 0;
            char *p = strrchr(st, ')');
            if (!p || p[1] != ' ')
                continue;
            char state = p[2];
            if (state != 'Z' && state != 'X')
                left = 1;
            if (tid == ta_proc.pid && leader_code) { /* field 3 is the state; 52 exit_code */
                p += 2;
                for (int field = 3; field < 52 && p; field++)
                    if ((p = strchr(p, ' ')))
                        p++;
                if (p)
                    *leader_code = (int)strtol(p, NULL, 10);
            }
        }
    }
    ta_sys_close(fd);
    return left;
}

static void *drainer_main(void *arg)
{
    (void)arg;
    uint64_t cpu_before = ta_agent_stats.drainer_cpu_ns; /* an earlier drainer's, if any */
    ta_guard = 1; /* this thread never records; it starts with every signal blocked */
    atomic_store_explicit(&ta_drainer_starting, 0, memory_order_release);
    prctl(PR_SET_NAME, "traceagent", 0, 0, 0);
    int me = ta_gettid();
    atomic_store(&drainer_tid, me);
    uint64_t sleep_ns = 500000;
    while (!atomic_load_explicit(&stop_req, memory_order_acquire)) {
        uint32_t seq = atomic_load_explicit(&wake_seq, memory_order_acquire);
        if (atomic_load_explicit(&final_req, memory_order_acquire)) {
            /* a fatal signal: the whole flush, stats included, here (ta_drainer_flush_for_signal) */
            uint64_t cpu0 = thread_cpu_ns();
            ta_agent_stats.drainer_cpu_ns = cpu0 + cpu_before;
            flush_all(me, 1);
            atomic_store_explicit(&final_done, 1, memory_order_release);
            break;
        }
        unsigned cycle_fill;
        drain_acquire(me);
        drain_cycle(0, &cycle_fill, SRC_POLL);
        ta_agent_stats.drainer_cpu_ns = thread_cpu_ns() + cpu_before;
        drain_release();
        /* new libraries for the families, unloads for resolve.c's caches (dl.c): the
         * dlopen stub checks before a load, this within one cycle after it */
        ta_dl_poll();
        ta_intern_prefault();
        /* the main thread is gone: once no thread of the program is left either, end the
         * process as it would have ended without the drainer (every 50 ms at most) */
        if (main_tid && !atomic_load_explicit(main_tid, memory_order_acquire)) {
            static uint64_t last;
            uint64_t now = ta_mono_ns();
            int code = 0;
            if (now - last > 50000000 && !(last = now, program_threads_left(me, &code)))
                ta_orphaned(code);
        }
        /* Sleep so that the fullest ring is about 1/4 full when the drainer comes back:
         * long enough for large batches (each cycle pays a futex wait, clock reads and a
         * write: at 500 us, ~40 ns per pread event), short enough that a thread never
         * waits for room at a steady rate. A thread whose ring fills anyway wakes the
         * drainer (ta_drainer_kick), at once: a burst after a long sleep waits (or, with
         * TRACEAGENT_ON_FULL=drop, drops) only until the drainer is up. At most 50 ms,
         * idle too: each wake-up of this thread cost the program's own thread time on a
         * VM whatever the thread did (a thread doing nothing but waking every 4 ms made
         * `import numpy` 1.31 x slower, every 50 ms 1.07 x), so slow producers get few
         * (was 1/8, 4 ms, 2 ms idle: bench/NOTES.md, row 54). A sandboxed program's
         * threads cannot wake the drainer, and with TRACEAGENT_ON_FULL=drop a burst after
         * a long sleep would drop until it is up: there, 4 ms and 2 ms idle as before. */
        bool brief = ta_sandboxed || ta_cfg.on_full_drop;
        uint64_t most = brief ? 4000000 : 50000000;
        if (!cycle_fill) { /* nothing drained (fill rounds up: any record counts) */
            sleep_ns = brief ? 2000000 : most;
        } else {
            uint64_t paced = sleep_ns * 256 / cycle_fill; /* at most doubling per cycle */
            sleep_ns = paced < 2 * sleep_ns ? paced : 2 * sleep_ns;
        }
        sleep_ns = sleep_ns < 50000 ? 50000 : sleep_ns > most ? most : sleep_ns;
        struct timespec ts = {0, (long)sleep_ns};
        /* sleeps unless woken since the cycle began (a kick, or a stop request) */
        syscall(SYS_futex, &wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    }
    /* release: what the drainer wrote is seen by the thread that waited for this */
    atomic_store_explicit(&drainer_alive, 0, memory_order_release);
    syscall(SYS_futex, &drainer_alive, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

/* Exporters start with the process (its files exist even when it records nothing); the
 * thread starts with the first thread that records (ta_drainer_ensure_thread), so a
 * process that never records, like most short shell tools, pays for no thread. */
void ta_drainer_start(void)
{
    memset(dropped_reported, 0, sizeof dropped_reported);
    memset(dropped_retired, 0, sizeof dropped_retired);
    memset(pcause_reported, 0, sizeof pcause_reported);
    memset(track_seen, 0, sizeof track_seen);
    started_pid = ta_proc.pid;
    nexps = ta_exporters_select(exps, TA_MAX_EXPORTERS);
    for (int i = 0; i < nexps; i++)
        if (exps[i]->start && exps[i]->start() < 0) {
            /* it said why; drop it and go on with the others */
            exps[i--] = exps[--nexps];
        }
    /* (the selected exporters are copies, plugin.c: known by their functions) */
    json_only = nexps == 1 && exps[0]->event == ta_exporter_trace_json.event;
    atomic_store(&stop_req, 0);
    atomic_store(&final_req, 0);
    atomic_store(&final_done, 0);
    atomic_store(&abandoned, 0);
    atomic_store(&in_final, 0);
    atomic_store(&thread_wanted, 1);
}

void ta_drainer_ensure_thread(void)
{
    int one = 1;
    if (!atomic_compare_exchange_strong(&thread_wanted, &one, 0))
        return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* running before it runs: a thread whose ring fills meanwhile waits for it, as it
     * would once it runs, instead of dropping */
    atomic_store(&ta_drainer_running, 1);
    atomic_store(&drainer_alive, 1);
    atomic_store(&ta_drainer_starting, 1);
    /* Signals go to the program's threads. The drainer is born with all of them blocked
     * (a new thread takes its creator's mask): blocking them in drainer_main left a window
     * in which a process-directed signal (SIGALRM of a timer) could run the program's
     * handler on the drainer, where its calls went unrecorded (t17 lost one now and then). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&drainer, &attr, drainer_main, NULL) != 0) {
        atomic_store(&ta_drainer_running, 0);
        atomic_store(&drainer_alive, 0);
        atomic_store(&ta_drainer_starting, 0);
        ta_warn("cannot start the drainer thread; events are written at exit only");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* A thread whose ring is full: wake the drainer now rather than at the end of its sleep. */
void ta_drainer_kick(void)
{
    /* release: pairs with the drainer's acquire load of wake_seq before its cycle */
    atomic_fetch_add_explicit(&wake_seq, 1, memory_order_release);
    if (ta_sandboxed) /* no futex from a sandboxed thread: the drainer wakes within 4 ms */
        return;
    syscall(SYS_futex, &wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Everything left in the rings, then every exporter's finish, as the consumer `me`. */
static void flush_all(int me, int hooks)
{
    /* families hand over what they hold (CUPTI's buffers) before the last drain; not from
     * a signal handler (ta_drainer_flush_inline's): their hooks are not signal-safe */
    if (hooks && !atomic_load(&abandoned))
        ta_families_hook(TA_HOOK_BEFORE_FINAL_DRAIN);
    drain_acquire(me);
    atomic_store(&in_final, 1);
    uint64_t cpu0 = thread_cpu_ns();
    /* the rings until they are empty, then the sources' final poll (the families' hooks
     * before the final drain have run: they handed over what they held), then what came
     * into the rings meanwhile */
    while (!atomic_load(&abandoned) && drain_cycle(0, NULL, SRC_NONE))
        ;
    if (!atomic_load(&abandoned))
        drain_cycle(0, NULL, SRC_FINAL);
    while (!atomic_load(&abandoned) && drain_cycle(0, NULL, SRC_NONE))
        ;
    ta_agent_stats.drainer_cpu_ns += thread_cpu_ns() - cpu0;
    for (int i = 0; i < nexps && !atomic_load(&abandoned); i++)
        if (exps[i]->finish)
            exps[i]->finish();
    drain_release();
}

void ta_drainer_stop_and_flush(void)
{
    atomic_store(&flushing, 1);
    atomic_store(&thread_wanted, 0);
    if (atomic_exchange(&ta_drainer_running, 0) && ta_gettid() != drainer_tid) {
        atomic_store_explicit(&stop_req, 1, memory_order_release);
        ta_drainer_kick();
        /* acquire: pairs with the drainer's release store at its end */
        uint32_t v;
        while ((v = atomic_load_explicit(&drainer_alive, memory_order_acquire)) &&
               !atomic_load(&abandoned)) {
            struct timespec ts = {0, 10000000};
            syscall(SYS_futex, &drainer_alive, FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0);
        }
    }
    /* ranges the calling thread still has open are closed as unfinished */
    if (ta_self && !atomic_load(&abandoned))
        ta_close_open_ranges(ta_self);
    if (!atomic_load(&abandoned)) {
        ta_dl_poll(); /* a library loaded since the last check: its family hands over too */
        flush_all(ta_gettid(), 1);
    }
    atomic_store(&flushing, 0);
}

/* From a fatal-signal handler: the drainer thread does the final flush (it may allocate,
 * the handler may not), and the handler waits for it, at most timeout_ms: the thread the
 * signal interrupted may hold a lock the drainer needs (the malloc arena, reg_lock), and
 * the program must die by its signal regardless. 1: flushed; 0: not in time; -1: there
 * is no drainer thread to hand it to. */
int ta_drainer_flush_for_signal(int timeout_ms)
{
    if (!atomic_load_explicit(&drainer_alive, memory_order_acquire) || atomic_load(&stop_req))
        return -1;
    atomic_store(&flushing, 1);
    atomic_store(&thread_wanted, 0);
    atomic_store_explicit(&final_req, 1, memory_order_release);
    ta_drainer_kick();
    for (int i = 0; i < timeout_ms; i++) {
        if (atomic_load_explicit(&final_done, memory_order_acquire))
            return 1;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The same on the calling thread: for a signal in a process whose drainer thread never
 * started (nothing was recorded, so the exporters have nothing to allocate for), where
 * the families' hooks are skipped; or on the drainer thread itself (ta_orphaned). */
void ta_drainer_flush_inline(int in_signal)
{
    atomic_store(&flushing, 1);
    atomic_store(&thread_wanted, 0);
    flush_all(ta_gettid(), !in_signal);
}

void ta_drain_signal(void)
{
    int me = ta_gettid();
    if (atomic_load(&drain_owner) == me)
        return; /* the crash is inside a drain: leave the file as it is */
    if (!drain_try_acquire(me, 200))
        return;
    drain_cycle(1, NULL, SRC_FINAL); /* only the signal-safe sources */
    /* the signal-safe exporters close their files as at a clean end (trace.json's last
     * line and "]"); the process dies of the signal next */
    for (int i = 0; i < nexps; i++)
        if (exps[i]->signal_safe && exps[i]->finish)
            exps[i]->finish();
    drain_release();
}

int ta_drain_hold(void)
{
    int me = ta_gettid();
    if (atomic_load(&drain_owner) == me)
        return 0;
    drain_acquire(me);
    return 1;
}

void ta_drain_unhold(int taken)
{
    if (taken)
        drain_release();
}

/* fork() from a signal handler that interrupted this very thread while it held the rings
 * (the final flush): it holds them already; waiting for itself deadlocked.
 *
 * Sources are not polled at a fork. The rings are not drained there either: what the
 * parent recorded is the parent's, written by its drainer after the fork, and what a
 * source holds is the parent's too (the child forgets it: the source's after_fork_child).
 * A final poll here would run the exporters on the program's forking thread, inside
 * fork(), and make a source hand over early (CUPTI flushing its buffers) for nothing; a
 * family that must quiesce before a fork has its before_fork hook. */
void ta_drainer_prefork(void)
{
    int me = ta_gettid();
    if (atomic_load(&drain_owner) == me) {
        prefork_nested = 1;
        return;
    }
    drain_acquire(me);
}

void ta_drainer_postfork_parent(void)
{
    if (prefork_nested)
        prefork_nested = 0;
    else
        drain_release();
}

void ta_drainer_after_fork_child(void)
{
    prefork_nested = 0;
    /* a flush that was under way is the parent's: this copy of it stops where it is */
    if (atomic_exchange(&flushing, 0))
        atomic_store(&abandoned, 1);
    atomic_store(&drainer_alive, 0);
    atomic_store(&final_req, 0);
    atomic_store(&drain_owner, 0);
    atomic_store(&ta_drainer_running, 0);
    atomic_store(&ta_drainer_starting, 0);
    atomic_store(&thread_wanted, 0);
    memset(&ta_agent_stats, 0, sizeof ta_agent_stats);
    atomic_store(&stop_req, 0);
    for (int i = 0; i < nexps; i++)
        if (exps[i]->after_fork)
            exps[i]->after_fork();
    /* the child's own files: its tracks are named again as it uses them */
    memset(track_seen, 0, sizeof track_seen);
    if (ta_proc.pid != started_pid) {
        /* a forked child (not a failed exec, whose process goes on as it was): what the
         * parent's plug-ins lost is the parent's, and the sources forget what they hold */
        for (int c = 0; c < NPLUGIN_CAUSES; c++)
            atomic_store_explicit(&pcause_total[c], 0, memory_order_relaxed);
        memset(pcause_reported, 0, sizeof pcause_reported);
        int n = atomic_load_explicit(&ta_nsources, memory_order_acquire);
        for (int i = 0; i < n && i < TA_MAX_SOURCES; i++) {
            const struct ta_source *src = ta_source_list[i];
            if (src && TA_HAS(src, after_fork_child) && src->after_fork_child)
                src->after_fork_child();
        }
    }
}

/* Events a plug-in lost before they reached the agent (CUPTI's dropped records), by
 * cause: counted here from any thread, reported by the drainer's next cycle through the
 * exporters' `dropped`, like the agent's own causes. */
void ta_dropped_add(const char *cause, uint64_t n)
{
    if (!n)
        return;
    uint32_t id = ta_intern_cstr(cause && *cause ? cause : "unknown");
    if (!id)
        id = ta_intern_cstr("other");
    if (!id) /* no string table: an entry named 0 would pass its count to the next cause */
        return;
    int c = 0;
    for (; c < NPLUGIN_CAUSES - 1; c++) {
        uint32_t v = atomic_load_explicit(&pcause_name[c], memory_order_relaxed);
        if (!v) {
            uint32_t z = 0;
            if (atomic_compare_exchange_strong_explicit(&pcause_name[c], &z, id,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed))
                break;
            v = z; /* another cause took it first */
        }
        if (v == id)
            break;
    }
    if (c == NPLUGIN_CAUSES - 1) { /* the table is full: the last entry is "other" */
        uint32_t z = 0;
        atomic_compare_exchange_strong_explicit(&pcause_name[c], &z, ta_intern_cstr("other"),
                                                memory_order_relaxed, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&pcause_total[c], n, memory_order_relaxed);
}

/* A plug-in's exporter registered while recording runs: it starts, then gets the events
 * from the next cycle on (not those already written by the others). */
void ta_drainer_add_exporter(const struct ta_exporter *e)
{
    /* its start() runs on the program's thread: its own calls are not the program's (and
     * must not wait on a full ring for the drainer, which waits on the drain we hold) */
    ta_guard++;
    int taken = ta_drain_hold();
    /* not once the final flush began: it would be started and never finished */
    if (!atomic_load(&flushing) && nexps < TA_MAX_EXPORTERS && (!e->start || e->start() >= 0)) {
        exps[nexps++] = e;
        /* the trace's shortcut would keep events from it (not reachable through
         * TRACEAGENT_EXPORT today: a word no plug-in had named by the start falls back
         * to json,stats; a plug-in API caller could) */
        json_only = 0;
    }
    ta_drain_unhold(taken);
    ta_guard--;
}
