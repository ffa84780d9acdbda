/* exporters/lttng/provider.c: the LTTng exporter (TRACEAGENT_EXPORT=lttng). Each event the
 * drainer hands over fires one typed tracepoint of the `traceagent` provider (tp.h), on the
 * drainer's thread. Built as libtraceagent-lttng-ust.so, linked with liblttng-ust, against
 * include/traceagent_plugin.h alone; loaded by libtraceagent-lttng.so (front.c), which sets
 * liblttng-ust's environment first. Registers itself with ta_plugin_get + add_exporter.
 *
 * Fields are mapped by role, never by op name: each kind of event has columns for some
 * roles (a file span: FD, PATH, BYTES, ...); a field of another role, or a second one of
 * a role, goes to the event's `args` text (JSON), so nothing the op carries is lost. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "tp.h"

#include <lttng/ust-fork.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <traceagent_plugin.h>

static const struct ta_plugin_api *ta;

#define NONE "-" /* a string the event does not carry (tp.h) */

/* s, or NONE for NULL or "" */
static const char *nz(const char *s) { return s && *s ? s : NONE; }

/* ------------------------------------------------------------------------------------ */
/* Fields. A built-in file op (POSIX, stdio) leaves `fields` NULL: the header says the
 * agent's own set for its I/O kind applies; this is that set (agent/fields.c, same order). */

#define IO_FIELDS(key2, role2)                                                     \
    {                                                                              \
        {"fd", TA_FT_I32, TA_ROLE_FD, TA_OFF_FD, TA_F_FD},                         \
        {"path", TA_FT_STR, TA_ROLE_PATH, TA_OFF_STR, 0},                          \
        {key2, TA_FT_STR, role2, TA_OFF_STR2, 0},                                  \
        {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES},            \
        {"offset", TA_FT_I64, TA_ROLE_OFFSET, TA_OFF_U64(2), TA_F_OFFSET},         \
        {"ret", TA_FT_I64, TA_ROLE_RET, TA_OFF_U64(0), TA_F_RET},                  \
        {"errno", TA_FT_U16, TA_ROLE_ERRNO, TA_OFF_ERR, TA_F_ERR},                 \
        {"unfinished", TA_FT_TRUE, TA_ROLE_UNFINISHED, 0, TA_F_UNFINISHED},        \
    }
static const struct ta_field io_fields[] = IO_FIELDS("detail", TA_ROLE_NONE);
static const struct ta_field meta_fields[] = IO_FIELDS("path2", TA_ROLE_PATH2);
static const struct ta_field copy_fields[] = IO_FIELDS("path_out", TA_ROLE_PATH_OUT);
static const struct ta_field counter_fields[] = {
    {"value", TA_FT_F64, TA_ROLE_COUNTER, TA_OFF_U64(0), 0}};
#define N(a) (unsigned)(sizeof a / sizeof a[0])

static const struct ta_field *op_fields(const struct ta_op *op, unsigned *n)
{
    if (op->fields) {
        *n = op->nfields;
        return op->fields;
    }
    if (op->shape == TA_SHAPE_COUNTER) {
        *n = N(counter_fields);
        return counter_fields;
    }
    if (op->name_from_str) {
        *n = 0;
        return NULL;
    }
    switch (op->io) {
    case TA_IO_META: *n = N(meta_fields); return meta_fields;
    case TA_IO_COPY: *n = N(copy_fields); return copy_fields;
    default: *n = N(io_fields); return io_fields;
    }
}

static unsigned type_size(unsigned t)
{
    switch (t) {
    case TA_FT_I64: case TA_FT_U64: case TA_FT_F64: return 8;
    case TA_FT_I32: case TA_FT_U32: case TA_FT_STR: return 4;
    case TA_FT_U16: return 2;
    case TA_FT_DIM3: return 12;
    case TA_FT_TEXT: return 1;
    default: return 0;
    }
}

/* Where the field's value is, or NULL when the event does not carry it (as fields.h) */
static const unsigned char *field_at(const struct ta_event *ev, const struct ta_field *f)
{
    const struct ta_rec *r = ev->rec;
    if (!r || (r->flags & f->flag) != f->flag)
        return NULL;
    unsigned size = type_size(f->type);
    const unsigned char *p;
    if (f->offset >= 64) {
        uint32_t n = f->offset - 64u;
        if (!ev->ext || n + size > ev->ext_len)
            return NULL;
        p = ev->ext + n;
    } else {
        if (f->offset + size > 64 || f->type == TA_FT_TEXT)
            return NULL;
        p = (const unsigned char *)r + f->offset;
    }
    if (f->type == TA_FT_STR) {
        uint32_t id;
        memcpy(&id, p, 4);
        if (!id)
            return NULL;
    }
    return p;
}

static int64_t as_i64(const struct ta_field *f, const unsigned char *p)
{
    switch (f->type) {
    case TA_FT_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case TA_FT_U64: { uint64_t v; memcpy(&v, p, 8); return (int64_t)v; }
    case TA_FT_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case TA_FT_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case TA_FT_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case TA_FT_F64: { double v; memcpy(&v, p, 8); return v == v ? (int64_t)v : 0; }
    case TA_FT_TRUE: return 1;
    default: return 0;
    }
}

static const char *as_str(const struct ta_field *f, const unsigned char *p)
{
    uint32_t id;
    if (f->type != TA_FT_STR)
        return NULL;
    memcpy(&id, p, 4);
    return nz(ta->str(id));
}

/* ------------------------------------------------------------------------------------ */
/* args: the fields without a column, as a JSON object (no malloc: the drainer's buffer).
 * Past the buffer the object stays valid JSON: a string is cut at a character and closed,
 * a field that does not fit is left out with those after it, and the object ends with
 * "truncated":true. Strings are written as trace.json writes them (jsonw.c): invalid
 * UTF-8 bytes as U+FFFD, control characters escaped. */

static char args_buf[8192];
static size_t args_len;
/* room kept for ,"truncated":true} and the NUL */
#define ARGS_ROOM (sizeof args_buf - sizeof ",\"truncated\":true}")
static int args_over; /* a put did not fit: the field is rolled back */
static int args_cut;  /* a string was cut: the object is closed as truncated */

static void put(const char *s, size_t n)
{
    if (n > ARGS_ROOM - args_len) {
        args_over = 1;
        return;
    }
    memcpy(args_buf + args_len, s, n);
    args_len += n;
    args_buf[args_len] = 0;
}
static void puts_(const char *s) { put(s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid (jsonw.c's) */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

static void put_jstr(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    put("\"", 1);
    for (size_t i = 0; i < n && s[i] && !args_over;) {
        char esc[8];
        size_t k = 1, w;
        const char *out = esc;
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            w = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            w = 6;
        } else if ((k = utf8_valid(s + i, n - i))) {
            out = (const char *)s + i;
            w = k;
        } else {
            out = "\\ufffd";
            w = 6;
            k = 1;
        }
        if (w + 1 > ARGS_ROOM - args_len) { /* no room for it and the closing quote */
            args_cut = 1;
            break;
        }
        put(out, w);
        i += k;
    }
    put("\"", 1);
}

static void put_value(const struct ta_event *ev, const struct ta_field *f, const unsigned char *p)
{
    char num[64];
    switch (f->type) {
    case TA_FT_I64: case TA_FT_I32: case TA_FT_U16:
        snprintf(num, sizeof num, "%lld", (long long)as_i64(f, p));
        puts_(num);
        break;
    case TA_FT_U64: case TA_FT_U32: {
        uint64_t v = 0;
        memcpy(&v, p, type_size(f->type));
        snprintf(num, sizeof num, "%llu", (unsigned long long)v);
        puts_(num);
        break;
    }
    case TA_FT_F64: { /* NaN and inf as null, as trace.json writes them */
        double v;
        memcpy(&v, p, 8);
        if (v != v || v - v != 0)
            puts_("null");
        else {
            snprintf(num, sizeof num, "%.17g", v);
            puts_(num);
        }
        break;
    }
    case TA_FT_STR: { const char *s = as_str(f, p); put_jstr(s, strlen(s)); break; }
    case TA_FT_TRUE: puts_("true"); break;
    case TA_FT_DIM3: {
        uint32_t d[3];
        memcpy(d, p, 12);
        snprintf(num, sizeof num, "[%u,%u,%u]", d[0], d[1], d[2]);
        puts_(num);
        break;
    }
    case TA_FT_TEXT: {
        size_t left = ev->ext_len - (f->offset - 64u);
        const void *nul = memchr(p, 0, left);
        put_jstr((const char *)p, nul ? (size_t)((const unsigned char *)nul - p) : left);
        break;
    }
    default: puts_("null"); break;
    }
}

static void args_add(const struct ta_event *ev, const struct ta_field *f, const unsigned char *p)
{
    if (args_over || args_cut)
        return; /* the buffer is full: the object ends truncated */
    size_t len0 = args_len;
    put(args_len ? "," : "{", 1);
    put_jstr(f->key ? f->key : "", f->key ? strlen(f->key) : 0);
    if (args_cut) { /* not even the key fits */
        args_over = 1;
    } else {
        put(":", 1);
        put_value(ev, f, p);
    }
    if (args_over) { /* left out whole */
        args_len = len0;
        args_buf[args_len] = 0;
    }
}

/* the object's end: "truncated":true when a field was cut or left out */
static void args_end(void)
{
    if (args_over || args_cut) {
        static const char t[] = "\"truncated\":true}";
        char sep = args_len ? ',' : '{';
        args_buf[args_len++] = sep;
        memcpy(args_buf + args_len, t, sizeof t);
        args_len += sizeof t - 1;
    } else if (args_len) {
        args_buf[args_len++] = '}';
        args_buf[args_len] = 0;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Events */

enum kind { K_POSIX, K_STDIO, K_HDF5, K_CUDA, K_GPU, K_RANGE, K_MARK, K_COUNTER, K_SPAN };

#define R(x) (1u << TA_ROLE_##x)
static const uint32_t columns[] = {
    [K_POSIX] = R(FD) | R(PATH) | R(PATH2) | R(PATH_OUT) | R(BYTES) | R(OFFSET) | R(RET) |
                R(ERRNO) | R(UNFINISHED),
    [K_STDIO] = R(FD) | R(PATH) | R(PATH2) | R(PATH_OUT) | R(BYTES) | R(OFFSET) | R(RET) |
                R(ERRNO) | R(UNFINISHED),
    [K_HDF5] = R(FILE) | R(DATASET) | R(SHAPE) | R(BYTES) | R(RET) | R(ERRNO) | R(UNFINISHED),
    [K_CUDA] = R(DEVICE) | R(STREAM) | R(CORRELATION) | R(GRID) | R(BLOCK) | R(BYTES) | R(RET) |
               R(ERRNO),
    [K_GPU] = R(DEVICE) | R(STREAM) | R(CORRELATION) | R(GRID) | R(BLOCK) | R(BYTES) | R(RET) |
              R(ERRNO),
    [K_RANGE] = R(UNFINISHED),
    [K_MARK] = 0,
    [K_COUNTER] = R(COUNTER),
    [K_SPAN] = 0,
};

static enum kind kind_of(const struct ta_op *op)
{
    if (op->shape == TA_SHAPE_COUNTER)
        return K_COUNTER;
    switch (op->cat) {
    case TA_CAT_POSIX: return K_POSIX;
    case TA_CAT_STDIO: return K_STDIO;
    case TA_CAT_HDF5: return K_HDF5;
    case TA_CAT_CUDA: return K_CUDA;
    case TA_CAT_GPU: return K_GPU;
    case TA_CAT_MARKER: return op->shape == TA_SHAPE_INSTANT ? K_MARK : K_RANGE;
    default: return K_SPAN;
    }
}

/* Whether a session records the kind's tracepoint (lttng_ust_tracepoint checks it again) */
static int enabled(enum kind k)
{
    switch (k) {
    case K_POSIX: return lttng_ust_tracepoint_enabled(traceagent, posix);
    case K_STDIO: return lttng_ust_tracepoint_enabled(traceagent, stdio);
    case K_HDF5: return lttng_ust_tracepoint_enabled(traceagent, hdf5);
    case K_CUDA: return lttng_ust_tracepoint_enabled(traceagent, cuda);
    case K_GPU: return lttng_ust_tracepoint_enabled(traceagent, gpu);
    case K_RANGE: return lttng_ust_tracepoint_enabled(traceagent, range);
    case K_MARK: return lttng_ust_tracepoint_enabled(traceagent, mark);
    case K_COUNTER: return lttng_ust_tracepoint_enabled(traceagent, counter);
    case K_SPAN: return lttng_ust_tracepoint_enabled(traceagent, span);
    }
    return 0;
}

static void ev_init(struct lt_ev *e)
{
    memset(e, 0, sizeof *e);
    e->pid = ta->pid();
    /* never "": babeltrace2 2.0.4 (Debian 12's) prints an empty string field as the value
     * the same field had in an earlier event of its type (babeltrace 1.5 reads it right) */
    e->name = e->cat = e->path = e->path2 = NONE;
    e->file = e->dataset = e->object = e->selection = e->host = NONE;
    e->args = "{}";
    e->fd = e->bytes = e->offset = e->device = e->stream = -1;
}

/* A field of a role the kind has a column for, the first of that role: into the column */
static int to_column(struct lt_ev *e, const struct ta_field *f, const unsigned char *p,
                     uint32_t *seen)
{
    uint32_t bit = f->role < 32 ? 1u << f->role : 0;
    if (!bit || (*seen & bit))
        return 0;
    switch (f->role) {
    case TA_ROLE_FD: e->fd = as_i64(f, p); break;
    case TA_ROLE_PATH: if (f->type != TA_FT_STR) return 0; e->path = as_str(f, p); break;
    case TA_ROLE_PATH2:
    case TA_ROLE_PATH_OUT:
        if (f->type != TA_FT_STR || (*seen & (R(PATH2) | R(PATH_OUT))))
            return 0;
        e->path2 = as_str(f, p);
        break;
    case TA_ROLE_BYTES: e->bytes = as_i64(f, p); break;
    case TA_ROLE_OFFSET: e->offset = as_i64(f, p); break;
    case TA_ROLE_RET: e->ret = as_i64(f, p); break;
    case TA_ROLE_ERRNO:
        e->failed = 1;
        e->err = f->type == TA_FT_TRUE ? 0 : (int32_t)as_i64(f, p);
        break;
    case TA_ROLE_UNFINISHED: e->unfinished = 1; break;
    case TA_ROLE_FILE: if (f->type != TA_FT_STR) return 0; e->file = as_str(f, p); break;
    case TA_ROLE_DATASET: if (f->type != TA_FT_STR) return 0; e->dataset = as_str(f, p); break;
    case TA_ROLE_SHAPE: if (f->type != TA_FT_STR) return 0; e->selection = as_str(f, p); break;
    case TA_ROLE_DEVICE: e->device = as_i64(f, p); break;
    case TA_ROLE_STREAM: e->stream = as_i64(f, p); break;
    case TA_ROLE_CORRELATION: {
        uint64_t v = (uint64_t)as_i64(f, p);
        if (f->type == TA_FT_U64)
            memcpy(&v, p, 8);
        e->correlation = v;
        break;
    }
    case TA_ROLE_GRID: if (f->type != TA_FT_DIM3) return 0; memcpy(e->grid, p, 12); break;
    case TA_ROLE_BLOCK: if (f->type != TA_FT_DIM3) return 0; memcpy(e->block, p, 12); break;
    case TA_ROLE_COUNTER:
        if (f->type == TA_FT_F64)
            memcpy(&e->value, p, 8);
        else
            e->value = (double)as_i64(f, p);
        break;
    default: return 0;
    }
    *seen |= bit;
    return 1;
}

static void lt_event(const struct ta_event *ev)
{
    const struct ta_op *op = ev->op;
    if (!op)
        return;
    enum kind k = kind_of(op);
    if (!enabled(k))
        return; /* no session records it: a load and a branch */
    struct lt_ev e;
    ev_init(&e);
    e.ts = ev->ts_ns;
    e.dur = ev->dur_ns;
    e.tid = ev->tid;
    e.track = ev->track;
    e.depth = ev->rec ? ev->rec->depth : 0;
    e.name = nz(ev->name);
    e.cat = nz(ev->size >= TA_EVENT_SIZE_1_0 ? ev->cat : NULL);
    e.instant = op->shape == TA_SHAPE_INSTANT;
    unsigned nf;
    const struct ta_field *f = op_fields(op, &nf);
    uint32_t seen = 0;
    args_len = 0;
    args_buf[0] = 0;
    args_over = args_cut = 0;
    for (unsigned i = 0; i < nf; i++) {
        const unsigned char *p = field_at(ev, &f[i]);
        if (!p)
            continue;
        if (f[i].role < 32 && (columns[k] & 1u << f[i].role) && to_column(&e, &f[i], p, &seen))
            continue;
        /* HDF5's other object (a group's path, an attribute's owner): its own column */
        if (k == K_HDF5 && f[i].type == TA_FT_STR && !*e.object && f[i].key &&
            !strcmp(f[i].key, "object")) {
            e.object = as_str(&f[i], p);
            continue;
        }
        args_add(ev, &f[i], p);
    }
    args_end();
    if (args_len)
        e.args = args_buf;
    switch (k) {
    case K_POSIX: lttng_ust_tracepoint(traceagent, posix, &e); break;
    case K_STDIO: lttng_ust_tracepoint(traceagent, stdio, &e); break;
    case K_HDF5: lttng_ust_tracepoint(traceagent, hdf5, &e); break;
    case K_CUDA: lttng_ust_tracepoint(traceagent, cuda, &e); break;
    case K_GPU: lttng_ust_tracepoint(traceagent, gpu, &e); break;
    case K_RANGE: lttng_ust_tracepoint(traceagent, range, &e); break;
    case K_MARK: lttng_ust_tracepoint(traceagent, mark, &e); break;
    case K_COUNTER: lttng_ust_tracepoint(traceagent, counter, &e); break;
    case K_SPAN: lttng_ust_tracepoint(traceagent, span, &e); break;
    }
}

static void lt_thread_name(int tid, const char *name)
{
    struct lt_ev e;
    ev_init(&e);
    e.tid = tid;
    /* as trace.json names it: the process's first thread is "main" */
    e.name = tid == e.pid ? "main" : nz(name);
    lttng_ust_tracepoint(traceagent, thread_name, &e);
}

static void lt_track_name(uint32_t track, int tid, const char *name)
{
    struct lt_ev e;
    ev_init(&e);
    e.track = track;
    e.tid = tid;
    e.name = nz(name);
    lttng_ust_tracepoint(traceagent, track_name, &e);
}

/* Drop causes the agent tells of: TA_DROP_CAUSES_MAX (agent/ta.h; the drainer asserts its
 * own and the plug-ins' fit), which this object, built against the plug-in header alone,
 * cannot include */
#define DROP_CAUSES 32

static void lt_dropped(const char *cause, uint64_t total)
{
    /* count: dropped since this cause's last event, as trace.json's args.count. The
     * cause is the drainer's string (a constant or an interned name, valid to the end):
     * kept by pointer, whole, as trace_json.c does */
    static struct {
        const char *cause;
        uint64_t last;
    } seen[DROP_CAUSES];
    unsigned i = 0;
    while (i < DROP_CAUSES - 1 && seen[i].cause && seen[i].cause != cause &&
           strcmp(seen[i].cause, cause))
        i++;
    if (!seen[i].cause || (seen[i].cause != cause && strcmp(seen[i].cause, cause))) {
        seen[i].cause = cause;
        seen[i].last = 0;
    }
    if (total < seen[i].last)
        seen[i].last = 0;
    struct lt_ev e;
    ev_init(&e);
    e.ts = ta->now_ns();
    e.name = nz(cause);
    e.count = total - seen[i].last;
    e.total = total;
    lttng_ust_tracepoint(traceagent, dropped, &e);
    seen[i].last = total;
}

static int lt_start(void)
{
    static char exe[4096];
    static struct utsname u;
    /* raw: a wrapped readlink called outside the agent's guard would be recorded */
    long n = syscall(SYS_readlink, "/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    if (uname(&u) != 0)
        u.nodename[0] = 0;
    struct lt_ev e;
    ev_init(&e);
    struct timespec rt;
    e.ts = ta->now_ns();
    clock_gettime(CLOCK_REALTIME, &rt);
    e.realtime = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    e.ppid = (int32_t)getppid();
    e.name = nz(exe);
    e.host = nz(u.nodename);
    lttng_ust_tracepoint(traceagent, process_start, &e);
    return 0;
}

static void lt_finish(void)
{
    struct lt_ev e;
    ev_init(&e);
    e.ts = ta->now_ns();
    lttng_ust_tracepoint(traceagent, process_end, &e);
}

static const struct ta_exporter lt_exporter = {
    .size = sizeof(struct ta_exporter),
    .name = "lttng",
    /* LTTng-UST's ring buffer is lock-free and its tracepoints may run in a signal
     * handler; this file takes no lock and calls no malloc */
    .signal_safe = 1,
    .start = lt_start,
    .event = lt_event,
    .thread_name = lt_thread_name,
    .dropped = lt_dropped,
    .finish = lt_finish,
    .track_name = lt_track_name,
};

/* ------------------------------------------------------------------------------------ */
/* The end of the process: the agent's last drain runs in its destructor, and glibc runs the
 * destructors of the program and its preloaded objects before those of objects loaded
 * later (LD_DEBUG=files: libtraceagent.so, then this object, then liblttng-ust.so.1), so
 * liblttng-ust still records the last events; _exit, exec and fatal signals flush before
 * any destructor. */

/* Fork: liblttng-ust must be told (lttng_ust_before_fork and after_fork_*), or the child
 * keeps the parent's registration and its events are lost (lttng-ust(3)); what
 * liblttng-ust-fork.so does by wrapping fork(), these atfork handlers do, unless that
 * library is loaded already (two before_fork calls would deadlock). */
static sigset_t fork_sigset;
static void lt_prepare(void) { lttng_ust_before_fork(&fork_sigset); }
static void lt_parent(void) { lttng_ust_after_fork_parent(&fork_sigset); }
static void lt_child(void) { lttng_ust_after_fork_child(&fork_sigset); }

__attribute__((constructor)) static void lt_init(void)
{
    ta = ta_plugin_get();
    if (!ta)
        return;
    if (ta->add_exporter(&lt_exporter) < 0)
        return;
    void *h = dlopen("liblttng-ust-fork.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    else
        pthread_atfork(lt_prepare, lt_parent, lt_child);
}
