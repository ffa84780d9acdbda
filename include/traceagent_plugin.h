/* traceagent plug-in interface: how an API family, a batch source or an exporter that lives
 * in its own shared object gets into the agent.
 *
 * A plug-in is a shared object built against this header alone (no agent source, no link
 * against libtraceagent.so). It asks the agent for the interface, by the ABI it was built
 * for, and registers what it brings:
 *
 *     #include <traceagent_plugin.h>
 *     static const struct ta_plugin_api *ta;
 *     __attribute__((constructor)) static void init(void)
 *     {
 *         ta = ta_plugin_get();            // NULL: no agent, or another ABI (one line said why)
 *         if (ta)
 *             ta->add_family(&my_family);  // ops, hooks; the agent calls init() now
 *     }
 *
 * The agent loads the plug-ins named in TRACEAGENT_PLUGINS (RTLD_NODELETE: op descriptors
 * and strings stay valid to the end), and its own external objects when they are needed
 * (the LTTng exporter, the CUPTI module). A plug-in loaded some other way (the CUDA driver
 * through CUDA_INJECTION64_PATH) asks the same way.
 *
 * Versioning (as lttng-ust's provider ABI): every struct that crosses this line starts with
 * its size and only grows at its end. A plug-in of another major ABI is refused with one
 * line on stderr and the program runs on, untraced by it. Within one major, a plug-in
 * checks `api->size` before it uses a member added in a later minor; the agent reads of a
 * plug-in's struct only the members its `size` covers.
 *
 * Everything here is usable from any thread. What may run on the program's hot path (in a
 * wrapper) is marked HOT: no lock, no malloc, no system call. */
#ifndef TRACEAGENT_PLUGIN_H
#define TRACEAGENT_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TA_PLUGIN_ABI_MAJOR 1
#define TA_PLUGIN_ABI_MINOR 2 /* 1.1: TA_ROLE_SHAPE; 1.2: call stacks (ta_event.stack) */
#define TA_PLUGIN_ABI ((uint32_t)(TA_PLUGIN_ABI_MAJOR << 16 | TA_PLUGIN_ABI_MINOR))

/* ------------------------------------------------------------------------------------ */
/* Categories: the `cat` of every event, and the words of TRACEAGENT_TRACE. The first ones
 * are built in; a family may add its own (add_family), up to TA_CAT_MAX in all. */

enum ta_cat {
    TA_CAT_POSIX,
    TA_CAT_STDIO,
    TA_CAT_HDF5,
    TA_CAT_CUDA,
    TA_CAT_GPU,
    TA_CAT_MARKER,
    TA_CAT_AGENT,
    TA_CAT_N, /* built-in ones; added categories take the ids from here on */
    TA_CAT_MAX = 32
};

/* What an operation does to a file, for the per-file statistics. */
enum ta_io_kind {
    TA_IO_NONE,
    TA_IO_OPEN,
    TA_IO_CLOSE,
    TA_IO_READ,
    TA_IO_WRITE,
    TA_IO_SEEK,
    TA_IO_SYNC,
    TA_IO_META, /* stat, truncate, unlink, rename, mkdir, ... */
    TA_IO_MAP,
    TA_IO_COPY, /* copy_file_range, sendfile: a read of the PATH, a write of the PATH_OUT */
};

/* How an operation appears in the trace. */
enum ta_shape {
    TA_SHAPE_SPAN,    /* "ph":"X": t0..t1 */
    TA_SHAPE_INSTANT, /* "ph":"i" at t0 */
    TA_SHAPE_COUNTER, /* "ph":"C" at t0, value in the COUNTER field */
};

/* Which layer an operation's bytes and time belong to. Statistics count each layer apart:
 * an 8 KiB H5Dread (LOGICAL) made of two 4 KiB preads (FILE) is 8 KiB read at each layer,
 * never 16 KiB of the file. */
enum ta_layer {
    TA_LAYER_NONE,    /* markers, the agent's notes */
    TA_LAYER_FILE,    /* POSIX and stdio calls: bytes that reach the file */
    TA_LAYER_LOGICAL, /* a library's own view (HDF5 datasets): bytes the program asked for */
    TA_LAYER_DEVICE,  /* GPU work and copies */
};

/* ------------------------------------------------------------------------------------ */
/* The record: one 64-byte slot of a thread's ring. Longer payloads continue in the next
 * slots (TA_F_EXT, below). */

enum ta_rec_flags {
    TA_F_FD = 1 << 0,     /* `fd` is valid */
    TA_F_BYTES = 1 << 1,  /* u.io.bytes is valid (bytes actually transferred) */
    TA_F_OFFSET = 1 << 2, /* u.io.offset is valid */
    TA_F_ERR = 1 << 3,    /* the call failed; `err` holds errno */
    TA_F_NS = 1 << 4,     /* t0/t1 are CLOCK_MONOTONIC ns already, not ticks */
    TA_F_RET = 1 << 5,    /* u.io.ret is meaningful and should be shown */
    TA_F_UNFINISHED = 1 << 6, /* a range still open at exit, closed by the agent */
    TA_F_EXT = 1 << 7,    /* the payload goes on in the following slots (commit_ext) */
};

struct ta_op;

struct ta_rec {
    const struct ta_op *op; /* what happened */
    uint64_t t0, t1;        /* start and end: ticks (ta_plugin_api.now) unless TA_F_NS */
    union {                 /* 24 bytes that the op's fields describe */
        struct {
            int64_t ret;    /* return value as the program saw it */
            int64_t bytes;  /* bytes moved */
            int64_t offset; /* file offset where the transfer started */
        } io;
        struct {
            uint64_t correlation; /* links an API call and the device work it launched */
            uint32_t device, stream;
            uint64_t extra;
        } gpu;
        double counter;     /* TA_SHAPE_COUNTER value */
        uint64_t u64[3];
        int64_t i64[3];
        uint32_t u32[6];
        unsigned char b[24];
    } u;
    uint32_t str;  /* interned string: the file's path, or the marker's text; 0 = none */
    uint32_t str2; /* a second interned string: second path, dataset, ...; 0 = none */
    int32_t fd;
    uint16_t err;  /* errno when TA_F_ERR */
    uint8_t depth; /* nesting depth of this thread when the call started (0 = outermost) */
    uint8_t flags; /* enum ta_rec_flags */
};
#ifndef __cplusplus
_Static_assert(sizeof(struct ta_rec) == 64, "a record is one cache line");
#endif

/* Field offsets, for ta_field.offset: in the record, and in the continued payload. */
#define TA_OFF_U64(i) (24 + 8 * (i)) /* u.u64[i], i < 3 */
#define TA_OFF_U32(i) (24 + 4 * (i)) /* u.u32[i], i < 6 */
#define TA_OFF_STR 48
#define TA_OFF_STR2 52
#define TA_OFF_FD 56
#define TA_OFF_ERR 60
#define TA_OFF_EXT(n) (64 + (n)) /* byte n of the payload given to commit_ext */
#define TA_EXT_MAX 4000          /* bytes of continued payload, at most */

/* ------------------------------------------------------------------------------------ */
/* Operations describe their payload: exporters loop over the fields and never read a union
 * arm or test a category. */

enum ta_field_type {
    TA_FT_I64, /* int64 */
    TA_FT_U64, /* uint64 */
    TA_FT_I32, /* int32 */
    TA_FT_U32, /* uint32 */
    TA_FT_U16, /* uint16 */
    TA_FT_F64, /* double */
    TA_FT_STR, /* uint32 interned id (intern()); left out when 0 */
    TA_FT_TRUE, /* no value: `true` when present (its `flag` is set) */
    TA_FT_DIM3, /* three uint32: [x, y, z] (grid, block) */
    TA_FT_TEXT, /* bytes up to a NUL or the payload's end (in the continued payload only) */
};

/* What a field means, for the exporters and statistics that need to know (a file's path,
 * bytes moved, the device, a flow). Fields of role NONE are only shown. */
enum ta_field_role {
    TA_ROLE_NONE,
    TA_ROLE_FD,
    TA_ROLE_PATH,     /* the file the operation acts on (absolute) */
    TA_ROLE_PATH2,    /* a second file, named only (rename's target, link's name) */
    TA_ROLE_PATH_OUT, /* the file written by a copy (TA_IO_COPY) */
    TA_ROLE_BYTES,    /* bytes moved, counted at the op's layer */
    TA_ROLE_OFFSET,
    TA_ROLE_RET,
    TA_ROLE_ERRNO,    /* the call failed */
    TA_ROLE_UNFINISHED,
    TA_ROLE_COUNTER,  /* a counter's value (TA_SHAPE_COUNTER) */
    TA_ROLE_FILE,     /* a library's file (HDF5 file name) */
    TA_ROLE_DATASET,  /* a library's object within its file (HDF5 dataset) */
    TA_ROLE_DEVICE,
    TA_ROLE_STREAM,
    TA_ROLE_CORRELATION,
    TA_ROLE_GRID,
    TA_ROLE_BLOCK,
    TA_ROLE_FLOW_OUT, /* a flow starts at this event: its id (uint64, nonzero) */
    TA_ROLE_FLOW_IN,  /* a flow ends at this event: the id its start gave */
    /* ABI 1.1 */
    TA_ROLE_SHAPE,    /* a STR: the shape of what a LOGICAL read or write selected ("all",
                       * "[64,1024]"): statistics list the shapes seen per DATASET */
};

struct ta_field {
    const char *key; /* the key in the trace's `args` and in statistics */
    uint8_t type;    /* enum ta_field_type */
    uint8_t role;    /* enum ta_field_role */
    uint16_t offset; /* TA_OFF_*: where the value is in the record or its payload */
    uint8_t flag;    /* present when (rec->flags & flag) == flag; 0: always (a STR: when
                      * nonzero; a payload field: when the payload reaches it) */
};

/* One static descriptor per intercepted function (or marker kind, or device activity).
 * Records point at it. `name` is what the program called (`pread64`, `H5Dread`) or what the
 * device did; `name_from_str`: the display name is the record's `str` instead (markers,
 * kernels). Built-in ops may leave `fields` NULL: the agent's own field set for `io` is
 * used then. `cat` of a plug-in's op is set by add_family. */
struct ta_op {
    const char *name;
    uint8_t cat;   /* enum ta_cat, or an id add_family gave */
    uint8_t io;    /* enum ta_io_kind */
    uint8_t shape; /* enum ta_shape */
    uint8_t name_from_str;
    uint8_t layer;   /* enum ta_layer */
    uint8_t nfields;
    uint8_t reserved8[2];
    const struct ta_field *fields;
    void *reserved[2]; /* room to grow without changing the size of plug-ins' ops */
};

/* ------------------------------------------------------------------------------------ */
/* Events, as exporters see them (and as batch sources hand them over)                    */

struct ta_event {
    uint32_t size;     /* sizeof(struct ta_event) of whoever filled it in (a source: its
                        * own); 0 reads as ABI 1.0's. Members past it read as none. */
    const struct ta_rec *rec; /* op, flags and the fields' values (times: use ts/dur) */
    const struct ta_op *op;
    const char *name;  /* op->name, or the record's `str` (name_from_str) */
    const char *path;  /* the PATH field's text, or NULL */
    const char *str2;  /* the record's second string, or NULL */
    uint64_t ts_ns;    /* start, CLOCK_MONOTONIC ns */
    uint64_t dur_ns;   /* 0 for instants and counters */
    int32_t tid;       /* the thread; for an event on a named track, the track's tid */
    uint32_t track;    /* 0: the thread `tid`; else a track from track_new */
    uint32_t scope;    /* the call path that caused it (late work: scope()); 0 none */
    uint32_t ext_len;  /* bytes in ext */
    const unsigned char *ext; /* the continued payload (TA_OFF_EXT(0) is ext[0]), or NULL */
    const char *cat;   /* the category's name */
    /* ABI 1.2 */
    uint32_t stack;    /* the call stack recorded with the event (TRACEAGENT_STACKS): an id of
                        * the process's stack table (stack_ips, frame), the same id for the
                        * same frames; 0: none */
};

#define TA_EVENT_SIZE_1_0 (offsetof(struct ta_event, cat) + sizeof(const char *))

/* One frame of a call stack, as the agent's symbolizer names it (ABI 1.2). Strings stay
 * valid to the end of the process; a member it could not find is NULL (0 for line). */
struct ta_frame_info {
    uint32_t size;        /* sizeof(struct ta_frame_info) of the caller: members past it are
                           * left alone */
    const char *function; /* demangled where the name is C++'s; NULL: no symbol covers it */
    const char *library;  /* the object's path ("/usr/lib/x86_64-linux-gnu/libc.so.6"; the
                           * executable's own path for the program) */
    uint64_t offset;      /* of the return address in that object (its load bias taken off) */
    const char *file;     /* source file, where the object has DWARF line information */
    uint32_t line;
};

/* ------------------------------------------------------------------------------------ */
/* What a plug-in registers                                                              */

/* An API family: the functions it intercepts, its ops, and hooks at the ends of a process's
 * life. Every hook may be NULL. */
struct ta_family {
    uint32_t size;     /* sizeof(struct ta_family) */
    const char *name;  /* "posix", "hdf5", "tpapi": also its TRACEAGENT_TRACE word, unless */
    const char *cat;   /* the category's name ("cuda"); NULL: the family's name */
    struct ta_op *const *ops; /* NULL-terminated: add_family sets their `cat` */
    void (*init)(void);       /* resolve the real functions; at registration */
    void (*before_fork)(void);      /* in fork's prepare handler */
    void (*after_fork_child)(void); /* in the child, before it records (reset CUPTI here) */
    void (*before_final_drain)(void); /* exit, exec, fatal signal: hand over what you hold
                                       * (cuptiActivityFlushAll); the drain comes next */
    void (*at_exit)(void);    /* after the final drain and the exporters' end */
    /* Libraries the family wants (sonames, or prefixes ending in '*': "libhdf5*.so*"),
     * NULL-terminated; `loaded` is called for each one loaded, at registration and at
     * every later dlopen that brings one in (`path`: its file name; `handle`: for dlsym).
     * A later load is told at the program's next dlopen, within one drainer cycle
     * (4 ms), or at the first wrapped call from a new object (resolve), whichever comes
     * first; one call at a time, in load order, on any thread, never with a lock of the
     * agent's held. */
    const char *const *wants;
    void (*loaded)(const char *path, void *handle);
};

/* Writes events somewhere. Called on the drainer's thread only (or the thread that ends the
 * process), one call at a time: no locking needed. Every member may be NULL but `event`. */
struct ta_exporter {
    uint32_t size;     /* sizeof(struct ta_exporter); 0 in the agent's own */
    const char *name;  /* its TRACEAGENT_EXPORT word */
    int signal_safe;   /* event/cycle_end/finish may run in a fatal-signal handler */
    int (*start)(void);                              /* open files; 0 or -errno */
    void (*event)(const struct ta_event *ev);
    void (*thread_name)(int tid, const char *name);
    void (*dropped)(const char *cause, uint64_t total); /* running total, when it grows */
    void (*cycle_end)(void);  /* end of a drain cycle: write buffered output */
    void (*finish)(void);     /* clean end (exit, exec): complete and close the files */
    void (*after_fork)(void); /* in a forked child: forget the parent's state (then start) */
    void (*track_name)(uint32_t track, int tid, const char *name); /* a named track, once */
};

/* A batch source: events that come in batches on the source's own schedule (CUPTI's
 * activity buffers), not through a ring. `poll` runs on the drainer's thread after the
 * rings of each cycle, and with final = 1 at every flush (exit, exec, fork, fatal signal:
 * then only when signal_safe); it hands each event to `emit`, which the agent passes. */
struct ta_source {
    uint32_t size;     /* sizeof(struct ta_source) */
    const char *name;
    int signal_safe;
    void (*poll)(void (*emit)(const struct ta_event *ev), int final);
    void (*after_fork_child)(void);
};

/* ------------------------------------------------------------------------------------ */
/* What the agent offers                                                                 */

typedef struct ta_thread ta_thread_t; /* opaque: the calling thread's state */

enum ta_log_level { TA_LOG_ERROR, TA_LOG_WARN, TA_LOG_INFO, TA_LOG_DEBUG };

struct ta_plugin_api {
    uint32_t size; /* sizeof(struct ta_plugin_api) of the agent: members past it are absent */
    uint32_t abi;  /* TA_PLUGIN_ABI of the agent */

    /* Registration. add_family: the category id (>= 0), or -1 (said why). The others: 0,
     * or -1. Registered things stay to the end of the process. */
    int (*add_family)(const struct ta_family *f);
    int (*add_exporter)(const struct ta_exporter *e);
    int (*add_source)(const struct ta_source *s);
    /* A named track ("GPU 0 stream 7"), the same id for the same name; 0 when full. */
    uint32_t (*track_new)(const char *name);

    /* Recording on the calling thread's ring (HOT). enter: NULL when this call must not be
     * recorded (category off, agent off, re-entered from the agent); else pair with leave.
     * begin: a slot for a record with ext_len bytes of continued payload (0: none), or NULL
     * (ring full, counted); fill it; then commit with the same ext (copied after it). */
    ta_thread_t *(*enter)(int cat);
    void (*leave)(ta_thread_t *t);
    struct ta_rec *(*begin)(ta_thread_t *t, uint32_t ext_len);
    void (*commit)(ta_thread_t *t, const void *ext, uint32_t ext_len);
    uint8_t (*depth)(ta_thread_t *t); /* the thread's depth before this call: rec->depth */
    uint64_t (*now)(void);            /* ticks, for t0/t1 of a ring record (HOT) */
    uint64_t (*now_ns)(void);         /* CLOCK_MONOTONIC ns, for source events */

    /* Strings: interned once, same id for the same text, valid to the end (HOT). */
    uint32_t (*intern)(const char *s, size_t len);
    const char *(*str)(uint32_t id);

    /* Late work: the call path open on the calling thread (its marker ranges, outermost
     * first), extended by one more node (op, name) when op is not NULL: the call that
     * launches (name 0: the op's own name, as its span is named). Give it with the event
     * that completes later (ta_event.scope); statistics add that event's time there. */
    uint32_t (*scope)(const struct ta_op *op, uint32_t name);
    /* For exporters: one step of a scope's path (0: the root, no more); *name is NULL
     * for a step named by its op. */
    uint32_t (*scope_parent)(uint32_t scope, const struct ta_op **op, const char **name);

    /* Events lost before they reached the agent (CUPTI's dropped records), by cause. */
    void (*dropped)(const char *cause, uint64_t n);
    void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    void (*vlog)(int level, const char *fmt, va_list ap);

    /* The real function `name` for a wrapper: the definition the object at `caller` (a
     * return address; NULL: any) would reach if the agent were not there. NULL: none.
     * `name` must be a string with static storage (a literal, as "H5Dread"): answers are
     * cached by its address, not its text. Asking from an object not seen before first
     * tells the families of libraries loaded since the agent last looked. */
    void *(*resolve)(const char *name, const void *caller);

    /* The process's identity: pid, and the prefix of its output files */
    int (*pid)(void);
    const char *(*out_stem)(void);

    /* ABI 1.2: call stacks, for exporters (on the drainer's thread). The return addresses
     * of stack `id` (ta_event.stack), leaf first, *n of them; NULL for 0 or an unknown id.
     * frame: what is at return address `ip` (0, or -1 when nothing is known of it). The
     * first call for an object reads its symbols from its file: slow, once. */
    const uint64_t *(*stack_ips)(uint32_t id, uint32_t *n);
    int (*frame)(uint64_t ip, struct ta_frame_info *out);
};

/* The one exported symbol: the interface for a plug-in built for `abi`, or NULL (another
 * major ABI: the agent said so in one line). */
const struct ta_plugin_api *traceagent_plugin_api(uint32_t abi);
typedef const struct ta_plugin_api *(*ta_plugin_api_fn)(uint32_t abi);

/* For a plug-in: find the agent's interface, whatever scope the plug-in was loaded in. */
#ifndef TA_AGENT_INTERNAL
#include <dlfcn.h>
static inline const struct ta_plugin_api *ta_plugin_get(void)
{
    ta_plugin_api_fn f = (ta_plugin_api_fn)dlsym(RTLD_DEFAULT, "traceagent_plugin_api");
    return f ? f(TA_PLUGIN_ABI) : (const struct ta_plugin_api *)0;
}
#endif

#ifdef __cplusplus
}
#endif
#endif
