/* The lists and the way in: categories, API families, exporters and batch sources, the
 * built-in ones (families.def, exporters.def) and those plug-ins add; the interface a
 * plug-in gets (ta_api) and the one exported symbol that hands it out.
 *
 * The core names no family and no exporter: it walks these lists at start-up
 * (ta_plugins_init, ta_plugins_load), at fork and at the end (ta_families_hook), and the
 * drainer takes its exporters and sources from here. Registration is rare (start-up, a
 * dlopen): a mutex orders it; the lists are published with release stores and read
 * without a lock, and nothing is ever removed. */
#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta.h"

const char *ta_cat_names[TA_CAT_MAX] = {"posix", "stdio", "hdf5", "cuda",
                                        "gpu",   "marker", "agent"};
_Atomic int ta_ncats = TA_CAT_N;

/* Registration is rare and short: a spin lock (glibc's mutex would fault its code page
 * in during every process's start-up, for three built-in families) */
static _Atomic int reg_mu;
static void reg_lock(void)
{
    while (atomic_exchange_explicit(&reg_mu, 1, memory_order_acquire))
        sched_yield();
}
static void reg_unlock(void) { atomic_store_explicit(&reg_mu, 0, memory_order_release); }

/* ------------------------------------------------------------------------------------ */
/* Families */

void ta_posix_init(void);
void ta_stdio_init(void);
static const struct ta_family builtin_families[] = {
#define TA_FAMILY(name_, cat_, ...) \
    {.size = sizeof(struct ta_family), .name = #name_, .cat = cat_, __VA_ARGS__},
#include "families.def"
#undef TA_FAMILY
};

/* Copies, zero past what the registering side's `size` covered: a plug-in built for an
 * older minor ABI has no later hooks, and they read as NULL here. */
static struct ta_family fams[TA_MAX_FAMILIES];
static int fam_cat[TA_MAX_FAMILIES];
static _Atomic int nfams;
/* ta_plugins_init has run: the configuration is in. A plug-in preloaded beside the agent
 * may register from a constructor that runs before the agent's: its family gets its
 * category at once, and the rest (traced or not, init, wants) when the agent starts. */
static int ready, nready;

static int cat_find(const char *name)
{
    int n = atomic_load_explicit(&ta_ncats, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (ta_cat_names[i] && !strcmp(ta_cat_names[i], name))
            return i;
    return -1;
}

/* Copy `size` bytes of a plug-in's struct (what it was built with) into a zeroed one of
 * ours; -1 when it is too short to hold the members every version has. */
static int copy_sized(void *dst, size_t cap, const void *src, size_t min)
{
    uint32_t size = src ? *(const uint32_t *)src : 0;
    if (size < min)
        return -1;
    memset(dst, 0, cap);
    memcpy(dst, src, size < cap ? size : cap);
    *(uint32_t *)dst = (uint32_t)cap;
    return 0;
}

/* Family n is in and the configuration read: is its category traced; its init; the
 * libraries it wants. */
static void family_start(int n)
{
    const struct ta_family *f = &fams[n];
    int cat = fam_cat[n];
    if (cat >= TA_CAT_N && ta_config_traces(f->name, ta_cat_names[cat])) {
        __atomic_or_fetch(&ta_cfg.trace_mask, 1u << cat, __ATOMIC_RELAXED);
        if (atomic_load(&ta_active))
            __atomic_or_fetch(&ta_trace_mask, 1u << cat, __ATOMIC_RELAXED);
    }
    if (f->init)
        f->init();
    if (f->wants && f->loaded)
        ta_wants_add(f);
    ta_debug("family %s: category %s (%d)", f->name, ta_cat_names[cat], cat);
}

static int add_family(const struct ta_family *f)
{
    struct ta_family c;
    if (copy_sized(&c, sizeof c, f, offsetof(struct ta_family, init)) < 0 || !c.name) {
        ta_warn("plug-in: a family without a name or of an unknown size; not added");
        return -1;
    }
    const char *cname = c.cat ? c.cat : c.name;
    reg_lock();
    int n = atomic_load_explicit(&nfams, memory_order_relaxed);
    int cat = cat_find(cname);
    if (n == TA_MAX_FAMILIES || (cat < 0 && ta_ncats == TA_CAT_MAX)) {
        reg_unlock();
        ta_warn("plug-in: no room for family %s (at most %d families, %d categories)",
                c.name, TA_MAX_FAMILIES, TA_CAT_MAX);
        return -1;
    }
    if (cat < 0) {
        /* a new category: its name lives in the string table (the plug-in's own copy of
         * the text may be unloaded with it: only RTLD_NODELETE ones stay) */
        ta_intern_init();
        uint32_t id = ta_intern_cstr(cname);
        cat = ta_ncats;
        ta_cat_names[cat] = id ? ta_str(id) : "plugin";
        atomic_store_explicit(&ta_ncats, cat + 1, memory_order_release);
    }
    for (struct ta_op *const *op = c.ops; op && *op; op++)
        (*op)->cat = (uint8_t)cat;
    fams[n] = c;
    fam_cat[n] = cat;
    atomic_store_explicit(&nfams, n + 1, memory_order_release);
    int now = ready;
    if (now)
        nready = n + 1;
    reg_unlock();
    if (now)
        family_start(n);
    return cat;
}

void ta_families_hook(enum ta_hook h)
{
    /* a fork while another thread registered: that thread is not in the child */
    if (h == TA_HOOK_AFTER_FORK_CHILD)
        atomic_store_explicit(&reg_mu, 0, memory_order_relaxed);
    int n = atomic_load_explicit(&nfams, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const struct ta_family *f = &fams[i];
        void (*fn)(void) = h == TA_HOOK_BEFORE_FORK          ? f->before_fork
                           : h == TA_HOOK_AFTER_FORK_CHILD   ? f->after_fork_child
                           : h == TA_HOOK_BEFORE_FINAL_DRAIN ? f->before_final_drain
                                                             : f->at_exit;
        if (fn)
            fn();
    }
}

/* A TRACEAGENT_TRACE word that a family added: its name or its category's */
static int cat_known(const char *word)
{
    int n = atomic_load_explicit(&nfams, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (!strcmp(fams[i].name, word))
            return 1;
    return cat_find(word) >= TA_CAT_N;
}

/* ------------------------------------------------------------------------------------ */
/* Exporters */

static struct ta_exporter exps[TA_MAX_EXPORTERS];
static uint32_t exp_bit[TA_MAX_EXPORTERS]; /* a built-in's TRACEAGENT_EXPORT bit; 0: a plug-in's */
static _Atomic int nexps;

static int exp_add(const struct ta_exporter *e, uint32_t bit)
{
    struct ta_exporter c;
    if (bit) { /* the agent's own: size 0 */
        c = *e;
        c.size = sizeof c;
    } else if (copy_sized(&c, sizeof c, e, offsetof(struct ta_exporter, thread_name)) < 0 ||
               !c.name || !c.event) {
        ta_warn("plug-in: an exporter without a name or an event function, or of an "
                "unknown size; not added");
        return -1;
    }
    reg_lock();
    int n = atomic_load_explicit(&nexps, memory_order_relaxed);
    if (n == TA_MAX_EXPORTERS) {
        reg_unlock();
        ta_warn("plug-in: no room for exporter %s (at most %d)", c.name, TA_MAX_EXPORTERS);
        return -1;
    }
    exps[n] = c;
    exp_bit[n] = bit;
    atomic_store_explicit(&nexps, n + 1, memory_order_release);
    reg_unlock();
    /* one added once recording runs (a plug-in dlopened by the program) starts now */
    if (!bit && atomic_load(&ta_active) && ta_config_exports(c.name))
        ta_drainer_add_exporter(&exps[n]);
    return 0;
}

static int add_exporter(const struct ta_exporter *e) { return exp_add(e, 0); }

static int selected(int i)
{
    return exp_bit[i] ? (ta_cfg.exports & exp_bit[i]) != 0 : ta_config_exports(exps[i].name);
}

int ta_exporters_select(const struct ta_exporter **out, int max)
{
    int n = atomic_load_explicit(&nexps, memory_order_acquire), k = 0;
    for (int i = 0; i < n && k < max; i++)
        if (selected(i))
            out[k++] = &exps[i];
    return k;
}

static int exporter_known(const char *word)
{
    int n = atomic_load_explicit(&nexps, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (!strcmp(exps[i].name, word))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Sources */

static struct ta_source srcs[TA_MAX_SOURCES];
const struct ta_source *ta_source_list[TA_MAX_SOURCES];
_Atomic int ta_nsources;

static int add_source(const struct ta_source *s)
{
    struct ta_source c;
    if (copy_sized(&c, sizeof c, s, offsetof(struct ta_source, after_fork_child)) < 0 ||
        !c.poll) {
        ta_warn("plug-in: a source without a poll function, or of an unknown size; not added");
        return -1;
    }
    reg_lock();
    int n = atomic_load_explicit(&ta_nsources, memory_order_relaxed);
    if (n == TA_MAX_SOURCES) {
        reg_unlock();
        ta_warn("plug-in: no room for source %s (at most %d)", c.name ? c.name : "?",
                TA_MAX_SOURCES);
        return -1;
    }
    srcs[n] = c;
    ta_source_list[n] = &srcs[n];
    atomic_store_explicit(&ta_nsources, n + 1, memory_order_release);
    reg_unlock();
    /* a source needs the drainer thread even if no thread of the program ever records */
    if (atomic_load(&ta_active))
        ta_drainer_ensure_thread();
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The interface */

static ta_thread_t *api_enter(int cat)
{
    if ((unsigned)cat >= TA_CAT_MAX)
        return NULL;
    return ta_enter(cat);
}
static void api_leave(ta_thread_t *t) { ta_leave(t); }
static uint8_t api_depth(ta_thread_t *t) { return (uint8_t)(t->depth - 1); }
static uint64_t api_now(void) { return ta_now(); }
static uint64_t api_now_ns(void) { return ta_mono_ns(); }
static const char *api_str(uint32_t id) { return ta_str(id); }
static int api_pid(void) { return ta_proc.pid; }
static const char *api_out_stem(void) { return ta_proc.stem; }
static void api_vlog(int level, const char *fmt, va_list ap)
{
    char buf[1024];
    ta_vfmt(buf, sizeof buf, fmt, ap);
    ta_log(level < TA_LOG_ERROR ? TA_LOG_ERROR : level > TA_LOG_DEBUG ? TA_LOG_DEBUG : level,
           "%s", buf);
}
static void api_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_vlog(level, fmt, ap);
    va_end(ap);
}

const struct ta_plugin_api ta_api = {
    .size = sizeof(struct ta_plugin_api),
    .abi = TA_PLUGIN_ABI,
    .add_family = add_family,
    .add_exporter = add_exporter,
    .add_source = add_source,
    .track_new = ta_track_new,
    .enter = api_enter,
    .leave = api_leave,
    .begin = ta_rec_begin_ext,
    .commit = ta_rec_commit_ext,
    .depth = api_depth,
    .now = api_now,
    .now_ns = api_now_ns,
    .intern = ta_intern,
    .str = api_str,
    .scope = ta_scope,
    .scope_parent = ta_scope_parent,
    .dropped = ta_dropped_add,
    .log = api_log,
    .vlog = api_vlog,
    .resolve = ta_resolve_for,
    .pid = api_pid,
    .out_stem = api_out_stem,
    .stack_ips = ta_stack_ips,
    .frame = ta_frame_lookup,
};

/* The one way in. A plug-in built for another major ABI gets NULL and one line naming it
 * (its object, from the caller's address: ta_plugin_get is inline in the plug-in). */
TA_EXPORT const struct ta_plugin_api *traceagent_plugin_api(uint32_t abi)
{
    if (abi >> 16 != TA_PLUGIN_ABI_MAJOR) {
        Dl_info di;
        const char *who = "a plug-in";
        if (dladdr(__builtin_return_address(0), &di) && di.dli_fname && *di.dli_fname)
            who = di.dli_fname;
        ta_warn("%s is built for plug-in ABI %u.%u; this agent has %u.%u: not loaded", who,
                abi >> 16, abi & 0xffff, TA_PLUGIN_ABI_MAJOR, TA_PLUGIN_ABI_MINOR);
        return NULL;
    }
    /* a plug-in preloaded beside the agent may ask from a constructor that runs before
     * the agent's: interning, tracks and drop causes need the string table now */
    ta_intern_init();
    return &ta_api;
}

/* ------------------------------------------------------------------------------------ */
/* Start-up */

/* The built-in families and exporters: in the constructor, also under secure execution
 * (the wrappers need their real functions; the category masks stay 0 there). */
void ta_plugins_init(void)
{
    static int done;
    if (!done) { /* once per process: a forked child has its lists already */
        done = 1;
        for (size_t i = 0; i < sizeof builtin_families / sizeof builtin_families[0]; i++)
            add_family(&builtin_families[i]);
#define TA_EXPORTER(var, bit)                \
    extern const struct ta_exporter var; \
    exp_add(&var, bit);
#include "exporters.def"
#undef TA_EXPORTER
    }
    /* the families registered so far start now; later ones start as they register */
    reg_lock();
    ready = 1;
    int from = nready, to = nready = atomic_load_explicit(&nfams, memory_order_relaxed);
    reg_unlock();
    for (int i = from; i < to; i++)
        family_start(i);
}

/* The directory the agent was loaded from, with a '/' (its own external objects live
 * beside it); "" when unknown. */
static const char *own_dir(void)
{
    static char dir[PATH_MAX];
    Dl_info di;
    if (dir[0] || !dladdr((void *)own_dir, &di) || !di.dli_fname)
        return dir;
    /* the name LD_PRELOAD gave, when absolute: no system call and no malloc (this runs
     * in every process's start-up, and a first malloc maps the heap and faults in
     * malloc's code); a relative one is resolved */
    char *r = di.dli_fname[0] == '/' ? (char *)di.dli_fname : realpath(di.dli_fname, NULL);
    if (!r)
        return dir;
    char *slash = strrchr(r, '/');
    if (slash && (size_t)(slash - r + 1) < sizeof dir) {
        memcpy(dir, r, (size_t)(slash - r + 1));
        dir[slash - r + 1] = 0;
    }
    if (r != di.dli_fname)
        free(r);
    return dir;
}

static void *load(const char *path, const char *why)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        ta_warn("%s: cannot load %s: %s; going on without it", why, path, e ? e : "?");
    }
    return h;
}

/* The agent's own external objects, each loaded only where it is needed: the LTTng
 * exporter when `lttng` export is asked for (liblttng-ust starts threads in every process
 * that loads it); the CUPTI module only in processes that use CUDA: the driver loads it at
 * cuInit from CUDA_INJECTION64_PATH (FIELD_NOTES), which the agent sets when the module is
 * built and nothing else holds that slot. */
/* The CUPTI module into an injection variable of CUDA or NVTX, unless the user (or another
 * tool: nsys, a container image) set it: that value is kept, and said so once. */
static void inject(const char *var, const char *path, const char *what)
{
    if (access(path, R_OK) != 0)
        return;
    const char *cur = getenv(var);
    if (!cur || !*cur)
        setenv(var, path, 1);
    else if (strcmp(cur, path))
        ta_warn("%s is %s already: kept, so %s", var, cur, what);
}

static void load_own(void)
{
    const char *dir = own_dir();
    char path[PATH_MAX];
    if (ta_cfg.exports & TA_EXPORT_LTTNG) {
        ta_fmt(path, sizeof path, "%slibtraceagent-lttng.so", dir);
        if (access(path, R_OK) == 0) {
            /* liblttng-ust's fds kept from the program's close-all loops (posix.c) */
            void *h = load(path, "TRACEAGENT_EXPORT=lttng") ?
                dlopen("liblttng-ust-common.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) : NULL;
            if (h) {
                extern int (*ta_lttng_safe_closefrom)(int, int (*)(int));
                extern int (*ta_lttng_safe_close)(int, int (*)(int));
                *(void **)&ta_lttng_safe_closefrom = dlsym(h, "lttng_ust_safe_closefrom_fd");
                *(void **)&ta_lttng_safe_close = dlsym(h, "lttng_ust_safe_close_fd");
                dlclose(h);
            }
        } else
            ta_warn("TRACEAGENT_EXPORT: lttng export needs %s, which this build does not "
                    "have; ignored", path);
    }
    if (dir[0]) {
        ta_fmt(path, sizeof path, "%slibtraceagent-cupti.so", dir);
        if (ta_cfg.trace_mask & (1u << TA_CAT_CUDA | 1u << TA_CAT_GPU))
            inject("CUDA_INJECTION64_PATH", path, "CUDA is not traced");
        /* NVTX ranges become markers: NVTX loads the module at a library's first NVTX
         * call (FIELD_NOTES: not through CUPTI's own NVTX path) */
        if (ta_cfg.trace_mask & (1u << TA_CAT_MARKER))
            inject("NVTX_INJECTION64_PATH", path, "NVTX ranges are not traced");
    }
}

/* After the configuration and the output directory, before recording starts: the agent's
 * own external objects, then TRACEAGENT_PLUGINS in order (each registers itself from its
 * constructor), then the words of TRACEAGENT_TRACE/EXPORT that only plug-ins could name. */
void ta_plugins_load(void)
{
    load_own();
    const char *p = ta_cfg.plugins ? ta_cfg.plugins : "";
    while (*p) {
        size_t len = strcspn(p, ":,");
        if (len) {
            char path[PATH_MAX];
            if (len < sizeof path) {
                memcpy(path, p, len);
                path[len] = 0;
                load(path, "TRACEAGENT_PLUGINS");
            }
        }
        p += len;
        if (*p)
            p++;
    }
    ta_config_check_words(cat_known, exporter_known);
}
