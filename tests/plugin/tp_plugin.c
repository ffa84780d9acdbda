/* The outside plug-in (t50_plugin.sh; the worked example of agent/README.md, "Writing a
 * plug-in"): built against include/traceagent_plugin.h alone, preloaded after the agent
 * (LD_PRELOAD="libtraceagent.so:tp_plugin.so"). It brings
 *   - a family, "tpapi": wrappers of the made-up API (tpapi.h) that record on the calling
 *     thread's ring (enter, begin, commit, leave), each reaching the copy of the library its
 *     caller links (api->resolve with the return address: two copies are loaded);
 *   - a batch source: the work the library completes later on its own thread, handed over
 *     by its completion callback, emitted on a named track ("TP device 0 queue 1") with a
 *     flow from the submit that launched it and the scope (call path) it was launched in;
 *   - hooks: before_final_drain hands over the work still queued at exit (tpapi_flush);
 *     each hook writes a line to $TP_HOOK_LOG, for the test to see it ran. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <traceagent_plugin.h>

#include "tpapi.h"

static const struct ta_plugin_api *api;
static int hook_fd = -1;

/* ---- the ops and their fields: what the exporters show, without knowing tpapi --------- */

#define F_PATH {"path", TA_FT_STR, TA_ROLE_PATH, TA_OFF_STR, 0}
#define F_LIB {"lib", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0}
#define F_RET {"ret", TA_FT_I64, TA_ROLE_RET, TA_OFF_U64(0), 0}
static const struct ta_field f_open[] = {F_PATH, F_LIB, F_RET};
static const struct ta_field f_read[] = {
    F_PATH, F_LIB, F_RET, {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES}};
/* the payload after the record (ext): struct submit_ext */
struct submit_ext {
    uint32_t grid[3], block[3];
    uint64_t usec;
    char note[96];
};
static const struct ta_field f_submit[] = {
    F_PATH, F_LIB,
    {"flow", TA_FT_U64, TA_ROLE_FLOW_OUT, TA_OFF_U64(0), 0},
    {"work", TA_FT_U64, TA_ROLE_NONE, TA_OFF_U64(1), 0},
    {"grid", TA_FT_DIM3, TA_ROLE_GRID, TA_OFF_EXT(0), 0},
    {"block", TA_FT_DIM3, TA_ROLE_BLOCK, TA_OFF_EXT(12), 0},
    {"usec", TA_FT_U64, TA_ROLE_NONE, TA_OFF_EXT(24), 0},
    {"note", TA_FT_TEXT, TA_ROLE_NONE, TA_OFF_EXT(32), 0}};
static const struct ta_field f_close[] = {F_PATH, F_LIB, F_RET};
static const struct ta_field f_work[] = {
    {"flow", TA_FT_U64, TA_ROLE_FLOW_IN, TA_OFF_U64(0), 0},
    {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(2), 0},
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(3), 0},
    F_LIB};

#define N(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
/* cat: add_family sets it */
static struct ta_op op_open = {"tpapi_open", 0, TA_IO_OPEN, TA_SHAPE_SPAN, 0, TA_LAYER_LOGICAL,
                               N(f_open), {0}, f_open, {0}};
static struct ta_op op_read = {"tpapi_read", 0, TA_IO_READ, TA_SHAPE_SPAN, 0, TA_LAYER_LOGICAL,
                               N(f_read), {0}, f_read, {0}};
static struct ta_op op_submit = {"tpapi_submit", 0, TA_IO_NONE, TA_SHAPE_SPAN, 0,
                                 TA_LAYER_LOGICAL, N(f_submit), {0}, f_submit, {0}};
static struct ta_op op_close = {"tpapi_close", 0, TA_IO_CLOSE, TA_SHAPE_SPAN, 0, TA_LAYER_LOGICAL,
                                N(f_close), {0}, f_close, {0}};
static struct ta_op op_work = {"tpapi_work", 0, TA_IO_NONE, TA_SHAPE_SPAN, 0, TA_LAYER_DEVICE,
                               N(f_work), {0}, f_work, {0}};
static struct ta_op *const ops[] = {&op_open, &op_read, &op_submit, &op_close, &op_work, NULL};
static int cat = -1;

/* ---- the copies of the library, as the agent tells of them (wants / loaded) ------------ */

enum { FN_OPEN, FN_READ, FN_SUBMIT, FN_CLOSE, FN_SUBSCRIBE, FN_FLUSH, NFN };
static const char *const fn_names[NFN] = {"tpapi_open", "tpapi_read", "tpapi_submit",
                                          "tpapi_close", "tpapi_subscribe", "tpapi_flush"};
#define MAX_COPIES 4
static struct copy {
    void *fn[NFN];   /* this copy's own definitions */
    uint32_t lib;    /* its file name, interned */
    uint32_t track;  /* "TP device <i> queue 1" */
} copies[MAX_COPIES];
static _Atomic int ncopies;

static void hook_line(const char *what)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%d %s\n", (int)syscall(SYS_getpid), what);
    if (hook_fd >= 0 && n > 0)
        syscall(SYS_write, hook_fd, line, (size_t)n); /* raw: the agent would record write() */
}

/* ---- completed work: from the library's thread to the source's poll -------------------- */

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
#define DONE_MAX 4096
static struct done {
    int copy;
    struct tp_done d;
} done_q[DONE_MAX];
static int ndone;
/* what the submit wrapper knew of each work: its scope (work ids are small here) */
#define SUB_MAX 1024
static _Atomic uint64_t sub_id[MAX_COPIES][SUB_MAX];
static _Atomic uint32_t sub_scope[MAX_COPIES][SUB_MAX];

static void on_done(const struct tp_done *d, void *arg)
{
    pthread_mutex_lock(&done_mu);
    if (ndone < DONE_MAX)
        done_q[ndone++] = (struct done){(int)(intptr_t)arg, *d};
    else if (api)
        api->dropped("tpapi_queue_full", 1);
    pthread_mutex_unlock(&done_mu);
}

static uint64_t flow_id(int copy, uint64_t work) { return (uint64_t)(copy + 1) << 32 | work; }

static void poll(void (*emit)(const struct ta_event *ev), int final)
{
    static struct done take[DONE_MAX];
    pthread_mutex_lock(&done_mu);
    int n = ndone;
    memcpy(take, done_q, (size_t)n * sizeof take[0]);
    ndone = 0;
    pthread_mutex_unlock(&done_mu);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        struct done *w = &take[i];
        unsigned slot = (unsigned)(w->d.id % SUB_MAX);
        int known = atomic_load(&sub_id[w->copy][slot]) == w->d.id;
        if (!known && !final) { /* done before its submit wrapper got back: next time */
            take[kept++] = *w;
            continue;
        }
        struct ta_rec r;
        memset(&r, 0, sizeof r);
        r.op = &op_work;
        r.t0 = w->d.start_ns;
        r.t1 = w->d.end_ns;
        r.u.u64[0] = flow_id(w->copy, w->d.id);
        r.u.u32[2] = w->d.queue;
        r.u.u32[3] = (uint32_t)w->copy;
        r.str2 = copies[w->copy].lib;
        r.fd = -1;
        r.flags = TA_F_NS;
        struct ta_event ev;
        memset(&ev, 0, sizeof ev);
        ev.size = sizeof ev; /* the ABI this plug-in was built for */
        ev.rec = &r;
        ev.op = &op_work;
        ev.track = copies[w->copy].track;
        ev.scope = known ? atomic_load(&sub_scope[w->copy][slot]) : 0;
        emit(&ev);
    }
    if (kept) { /* back in front of what came meanwhile */
        pthread_mutex_lock(&done_mu);
        int room = DONE_MAX - ndone < kept ? DONE_MAX - ndone : kept;
        memmove(done_q + room, done_q, (size_t)ndone * sizeof done_q[0]);
        memcpy(done_q, take, (size_t)room * sizeof done_q[0]);
        ndone += room;
        pthread_mutex_unlock(&done_mu);
    }
}

static void forget_parent(void)
{
    /* the parent's work is the parent's: its completions never come here */
    pthread_mutex_init(&done_mu, NULL);
    ndone = 0;
    memset(sub_id, 0, sizeof sub_id);
}

static const struct ta_source source = {
    .size = sizeof(struct ta_source),
    .name = "tpapi",
    .signal_safe = 0,
    .poll = poll,
    .after_fork_child = forget_parent,
};

/* ---- the family ------------------------------------------------------------------------ */

static void loaded(const char *path, void *handle)
{
    int i = atomic_load(&ncopies);
    if (i >= MAX_COPIES || !handle)
        return;
    struct copy *c = &copies[i];
    for (int k = 0; k < NFN; k++)
        c->fn[k] = dlsym(handle, fn_names[k]); /* the handle's scope: this copy's own */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    c->lib = api->intern(base, strlen(base));
    char track[64];
    snprintf(track, sizeof track, "TP device %d queue 1", i);
    c->track = api->track_new(track);
    atomic_store(&ncopies, i + 1);
    if (c->fn[FN_SUBSCRIBE])
        ((int (*)(tp_done_fn, void *))c->fn[FN_SUBSCRIBE])(on_done, (void *)(intptr_t)i);
    api->log(TA_LOG_INFO, "tpapi: %s is copy %d", path, i);
}

static void before_fork(void) { hook_line("before_fork"); }
static void after_fork_child(void) { hook_line("after_fork_child"); }
static void before_final_drain(void)
{
    /* the work still queued in the library completes now, and the final poll that comes
     * next hands it over: none is lost at exit */
    int n = atomic_load(&ncopies);
    for (int i = 0; i < n; i++)
        if (copies[i].fn[FN_FLUSH])
            ((void (*)(void))copies[i].fn[FN_FLUSH])();
    char line[64];
    snprintf(line, sizeof line, "before_final_drain %d", n);
    hook_line(line);
}
static void at_exit(void) { hook_line("at_exit"); }

static const char *const wants[] = {"libtpapi_*.so*", NULL};
static const struct ta_family family = {
    .size = sizeof(struct ta_family),
    .name = "tpapi",
    .cat = NULL,
    .ops = ops,
    .init = NULL,
    .before_fork = before_fork,
    .after_fork_child = after_fork_child,
    .before_final_drain = before_final_drain,
    .at_exit = at_exit,
    .wants = wants,
    .loaded = loaded,
};

__attribute__((constructor)) static void tp_plugin_init(void)
{
    const char *log = getenv("TP_HOOK_LOG");
    if (log)
        hook_fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                               0600);
    api = ta_plugin_get();
    if (!api)
        return; /* no agent (or another ABI): the wrappers only pass calls on */
    cat = api->add_family(&family);
    if (cat < 0 || api->add_source(&source) != 0)
        api->log(TA_LOG_WARN, "tpapi: not registered");
    hook_line("init");
}

/* ---- the wrappers ---------------------------------------------------------------------- */

/* handle -> its name (interned), for the calls that take a handle */
#define HMAX 1024
static _Atomic(uintptr_t) h_key[HMAX];
static _Atomic uint32_t h_name[HMAX];
static void handle_put(const void *h, uint32_t name)
{
    unsigned i = (unsigned)(((uintptr_t)h >> 4) * 2654435761u) % HMAX;
    for (int p = 0; p < 64; p++, i = (i + 1) % HMAX) {
        uintptr_t z = 0;
        if (atomic_load(&h_key[i]) == (uintptr_t)h ||
            atomic_compare_exchange_strong(&h_key[i], &z, (uintptr_t)h)) {
            atomic_store(&h_name[i], name);
            return;
        }
    }
}
static uint32_t handle_name(const void *h)
{
    unsigned i = (unsigned)(((uintptr_t)h >> 4) * 2654435761u) % HMAX;
    for (int p = 0; p < 64; p++, i = (i + 1) % HMAX) {
        uintptr_t k = atomic_load(&h_key[i]);
        if (k == (uintptr_t)h)
            return atomic_load(&h_name[i]);
        if (!k)
            return 0;
    }
    return 0;
}

/* Which copy a real function belongs to, or -1 */
static int copy_of(void *fn, int which)
{
    int n = atomic_load(&ncopies);
    for (int i = 0; i < n; i++)
        if (copies[i].fn[which] == fn)
            return i;
    return -1;
}

/* The definition the caller's object reaches (its own copy); never NULL when called */
#define REAL(name) \
    __typeof__(name) *real = \
        api ? (__typeof__(name) *)api->resolve(#name, __builtin_return_address(0)) : NULL

static void fill(struct ta_rec *r, const struct ta_op *op, uint64_t t0, uint64_t t1,
                 uint8_t depth, uint32_t path, int copy)
{
    r->op = op;
    r->t0 = t0;
    r->t1 = t1;
    r->str = path;
    r->str2 = copy >= 0 ? copies[copy].lib : 0;
    r->fd = -1;
    r->err = 0;
    r->depth = depth;
    r->flags = TA_F_RET;
}

tp_handle *tpapi_open(const char *name)
{
    REAL(tpapi_open);
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    ta_thread_t *t = api->enter(cat);
    if (!t)
        return real(name);
    uint8_t depth = api->depth(t);
    uint64_t t0 = api->now();
    tp_handle *h = real(name);
    uint64_t t1 = api->now();
    uint32_t id = name ? api->intern(name, strlen(name)) : 0;
    if (h)
        handle_put(h, id);
    struct ta_rec *r = api->begin(t, 0);
    if (r) {
        fill(r, &op_open, t0, t1, depth, id, copy_of((void *)real, FN_OPEN));
        r->u.io.ret = h ? 0 : -1;
        api->commit(t, NULL, 0);
    }
    api->leave(t);
    return h;
}

long tpapi_read(tp_handle *h, void *buf, long n)
{
    REAL(tpapi_read);
    if (!real)
        return -1;
    ta_thread_t *t = api->enter(cat);
    if (!t)
        return real(h, buf, n);
    uint8_t depth = api->depth(t);
    uint64_t t0 = api->now();
    long got = real(h, buf, n);
    uint64_t t1 = api->now();
    struct ta_rec *r = api->begin(t, 0);
    if (r) {
        fill(r, &op_read, t0, t1, depth, handle_name(h), copy_of((void *)real, FN_READ));
        r->u.io.ret = got;
        if (got >= 0) {
            r->u.io.bytes = got;
            r->flags |= TA_F_BYTES;
        }
        api->commit(t, NULL, 0);
    }
    api->leave(t);
    return got;
}

uint64_t tpapi_submit(tp_handle *h, const struct tp_work *w)
{
    REAL(tpapi_submit);
    if (!real)
        return 0;
    ta_thread_t *t = api->enter(cat);
    if (!t)
        return real(h, w);
    uint8_t depth = api->depth(t);
    int copy = copy_of((void *)real, FN_SUBMIT);
    uint32_t path = handle_name(h);
    /* the call path the work belongs to, taken before it can complete: the thread's open
     * ranges, then this call (name 0: the op's own name, as its span is named) */
    uint32_t scope = api->scope(&op_submit, 0);
    uint64_t t0 = api->now();
    uint64_t id = real(h, w);
    uint64_t t1 = api->now();
    if (id && copy >= 0) {
        unsigned slot = (unsigned)(id % SUB_MAX);
        atomic_store(&sub_scope[copy][slot], scope);
        atomic_store(&sub_id[copy][slot], id); /* after the scope: poll reads id first */
    }
    struct submit_ext x;
    memset(&x, 0, sizeof x);
    uint32_t ext_len = 0;
    if (w) {
        memcpy(x.grid, w->grid, sizeof x.grid);
        memcpy(x.block, w->block, sizeof x.block);
        x.usec = w->usec;
        size_t nl = strnlen(w->note, sizeof x.note - 1);
        memcpy(x.note, w->note, nl);
        ext_len = (uint32_t)(offsetof(struct submit_ext, note) + nl + 1);
    }
    struct ta_rec *r = api->begin(t, ext_len);
    if (r) {
        fill(r, &op_submit, t0, t1, depth, path, copy);
        r->u.u64[0] = id && copy >= 0 ? flow_id(copy, id) : 0;
        r->u.u64[1] = id;
        r->flags = ext_len ? TA_F_EXT : 0;
        api->commit(t, ext_len ? &x : NULL, ext_len);
    }
    api->leave(t);
    return id;
}

int tpapi_close(tp_handle *h)
{
    REAL(tpapi_close);
    if (!real)
        return -1;
    ta_thread_t *t = api->enter(cat);
    if (!t)
        return real(h);
    uint8_t depth = api->depth(t);
    uint32_t path = handle_name(h);
    uint64_t t0 = api->now();
    int rc = real(h);
    uint64_t t1 = api->now();
    struct ta_rec *r = api->begin(t, 0);
    if (r) {
        fill(r, &op_close, t0, t1, depth, path, copy_of((void *)real, FN_CLOSE));
        r->u.io.ret = rc;
        api->commit(t, NULL, 0);
    }
    api->leave(t);
    return rc;
}
