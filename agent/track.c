/* Named tracks: a line of events in the trace that is not a thread ("GPU 0 stream 7"),
 * for events a batch source hands over. A track is its name's interned id in a small
 * table: the same name gives the same track, from any thread, without a lock (one
 * compare-and-swap claims an entry; ids are never reused or removed, also in a forked
 * child, which inherits the table). Not on a hot path: a linear scan is enough. */
#include "ta.h"

#define MAX_TRACKS 256
/* Events on a track carry a tid no thread can have: Linux's pid_max is at most 2^22, so
 * 2^30 + id is never a real thread's, and the same track keeps the same tid in every
 * cycle, fork and exporter. */
#define TRACK_TID_BASE (1 << 30)

static _Atomic uint32_t names[MAX_TRACKS]; /* interned name; 0: free */

uint32_t ta_track_new(const char *name)
{
    uint32_t id = name ? ta_intern_cstr(name) : 0;
    if (!id)
        return 0; /* no name, or the string table is full */
    for (uint32_t i = 0; i < MAX_TRACKS; i++) {
        /* acquire/release are not needed for the id itself (a plain number, and the
         * string it names is published by ta_intern); relaxed suffices */
        uint32_t v = atomic_load_explicit(&names[i], memory_order_relaxed);
        if (!v) {
            uint32_t z = 0;
            if (atomic_compare_exchange_strong_explicit(&names[i], &z, id, memory_order_relaxed,
                                                        memory_order_relaxed))
                return i + 1;
            v = z; /* another thread took it first: its name may be ours */
        }
        if (v == id)
            return i + 1;
    }
    return 0;
}

static uint32_t name_of(uint32_t track)
{
    if (!track || track > MAX_TRACKS)
        return 0;
    return atomic_load_explicit(&names[track - 1], memory_order_relaxed);
}

const char *ta_track_name(uint32_t track)
{
    uint32_t id = name_of(track);
    return id ? ta_str(id) : NULL;
}

int32_t ta_track_tid(uint32_t track)
{
    return name_of(track) ? TRACK_TID_BASE + (int32_t)track : 0;
}
