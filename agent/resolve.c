/* Finding the real definition of an intercepted function.
 *
 * dlsym(RTLD_NEXT) finds definitions in the global scope after the agent: libc, and any
 * library the program linked. It does not see libraries that Python (or anyone) loaded
 * with dlopen(RTLD_LOCAL), although the dynamic linker still binds those libraries' own
 * callers to the agent's wrapper (FIELD_NOTES: h5py's libhdf5). So when RTLD_NEXT finds
 * nothing, every loaded object is searched, the agent excepted. A NULL result means no
 * definition is loaded: the wrapper must not call it.
 *
 * A thread already inside ta_resolve gets NULL at once (dlsym may allocate, and an
 * allocator may do file I/O that comes back into a wrapper): wrappers of system calls then
 * take their bootstrap path (the raw syscall). */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "ta.h"

static __thread int resolving __attribute__((tls_model("initial-exec")));

/* dl.c: glibc's dlopen, past the agent's own wrapper (which would find the caller's object
 * is the agent, and tell families of what the agent loads). NULL while it cannot be had. */
void *ta_dlopen_real(const char *file, int mode);

/* The agent's own image, from the linker's symbols (dladdr is slow at start-up). */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

static void *self_base(void) { return (void *)__ehdr_start; }

static int in_agent(void *p) { return (const char *)p >= __ehdr_start && (const char *)p < _end; }

#define MAX_OBJS 512
struct objs {
    int n;
    const char *names[MAX_OBJS]; /* the link map's own strings, valid while loaded */
};

static int collect(struct dl_phdr_info *info, size_t size, void *data)
{
    struct objs *o = data;
    if (o->n >= MAX_OBJS || !info->dlpi_name || !info->dlpi_name[0])
        return 0;
    if ((void *)info->dlpi_addr == self_base())
        return 0;
    o->names[o->n++] = info->dlpi_name;
    return 0;
}

/* The first loaded object, other than the agent (and, with skip_plugins, a plug-in),
 * that defines `name`: for libraries dlopen'ed RTLD_LOCAL, which RTLD_NEXT cannot see. */
static bool skipped(const struct link_map *lm);
static struct link_map *map_of(const void *addr);
static void *search_loaded(const char *name, int skip_plugins)
{
    void *p = NULL;
    struct objs objs;
    objs.n = 0;
    dl_iterate_phdr(collect, &objs);
    for (int i = 0; i < objs.n && !p; i++) {
        void *h = ta_dlopen_real(objs.names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        void *q = dlsym(h, name);
        if (q && !in_agent(q) && !(skip_plugins && skipped(map_of(q))))
            p = q;
        dlclose(h);
    }
    return p;
}

void *ta_resolve(const char *name)
{
    if (resolving)
        return NULL;
    resolving = 1;
    ta_guard++;
    int saved = errno;
    void *p = dlsym(RTLD_NEXT, name); /* never the agent: it is "next after" the agent */
    if (!p)
        p = search_loaded(name, 0);
    /* a name not defined (dlsym failed) leaves a dlerror message on this thread: not the
     * program's to see (its own pending message, if any, went with the first dlsym) */
    dlerror();
    errno = saved;
    ta_guard--;
    resolving = 0;
    return p;
}

/* An object's file name without its directory ("libc.so.6"), or NULL. */
static const char *obj_base(const struct dl_phdr_info *info)
{
    const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    return slash ? slash + 1 : info->dlpi_name;
}

struct in_libc {
    void *const *fns;
    int n;
    bool found, all;
};

static int check_libc(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct in_libc *c = data;
    const char *base = obj_base(info);
    if (!base || strcmp(base, "libc.so.6") != 0)
        return 0;
    c->found = true;
    for (int i = 0; i < c->n; i++) {
        uintptr_t p = (uintptr_t)c->fns[i];
        bool in = false;
        for (int k = 0; k < info->dlpi_phnum && !in; k++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            in = ph->p_type == PT_LOAD && p >= lo && p - lo < ph->p_memsz;
        }
        if (!in)
            c->all = false;
    }
    return 1;
}

bool ta_in_libc(void *const *fns, int n)
{
    struct in_libc c = {fns, n, false, true};
    dl_iterate_phdr(check_libc, &c);
    return c.found && c.all;
}

static int find_patcher(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    static const char *const known[] = {"libsyscall_intercept.so", "libpil4dfs.so"};
    const char *base = obj_base(info);
    for (size_t i = 0; base && i < sizeof known / sizeof known[0]; i++)
        if (strncmp(base, known[i], strlen(known[i])) == 0) {
            *(const char **)data = base;
            return 1;
        }
    return 0;
}

bool ta_syscall_patcher(void)
{
    const char *name = NULL;
    dl_iterate_phdr(find_patcher, &name);
    if (name)
        ta_info("%s is loaded: pread, pwrite, lseek and stat go through glibc", name);
    return name != NULL;
}


/* ------------------------------------------------------------------------------------ */
/* The real function for the object that calls (ta_resolve_for)
 *
 * With two copies of one library loaded (FIELD_NOTES: pip h5py's libhdf5 beside the
 * system's, each in the RTLD_LOCAL scope of its extension module), the dynamic linker binds
 * both copies' callers to the one preloaded wrapper; each must reach its own copy. The
 * object at the return address is found (dladdr1), then the definition it would reach
 * without the agent: the object itself, then its DT_NEEDED dependencies breadth first (the
 * order of its own lookup scope), each one asked for a definition of its own (dlsym on its
 * handle, then checked to be in it). The agent and the plug-ins are skipped: a plug-in's
 * wrappers are interposers too, and returning one to itself recurses forever. Nothing
 * found there: the first definition anywhere, interposers skipped.
 *
 * A wrapper may ask on every call (HOT): a per-thread one-entry cache of the caller's
 * segment, then a lock-free table (object, name) -> function. Both are forgotten when an
 * object is unloaded (dl.c bumps ta_dl_gen, at the latest before the next dlopen: a new
 * object may take the old one's address, and its constructors may call a wrapper).
 *
 * A caller not in the segment cache may be a new object, a name not in the table may be
 * defined by one: dl.c's check runs first (ta_dl_sync), so that a family has been told of a library loaded since the last check
 * before its wrapper looks for that copy (wrappers never wait for the next dlopen). The
 * table's keys are the name's pointer, not its text: `name` is a string with static
 * storage (a literal), as the interface says. */

extern _Atomic unsigned ta_dl_gen; /* dl.c */

/* Objects whose definitions are wrappers: plug-ins (a family's object, or one that asked
 * for a real function: only a wrapper does). Append-only. */
#define MAX_INTERPOSERS 32
static _Atomic(const void *) interposers[MAX_INTERPOSERS]; /* their link maps */
static _Atomic int ninterposers;

static struct link_map *map_of(const void *addr)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!addr || !dladdr1(addr, &info, (void **)&lm, RTLD_DL_LINKMAP))
        return NULL;
    return lm;
}

static bool is_interposer(const struct link_map *lm)
{
    int n = atomic_load_explicit(&ninterposers, memory_order_acquire);
    for (int i = 0; i < n && i < MAX_INTERPOSERS; i++)
        if (atomic_load_explicit(&interposers[i], memory_order_relaxed) == lm)
            return true;
    return false;
}

/* The object at `addr` is a plug-in: never take a real function from it. */
void ta_resolve_interposer(const void *addr)
{
    if (!addr || in_agent((void *)addr))
        return;
    struct link_map *lm = map_of(addr);
    if (!lm || is_interposer(lm))
        return;
    int i = atomic_fetch_add(&ninterposers, 1);
    if (i < MAX_INTERPOSERS)
        atomic_store_explicit(&interposers[i], lm, memory_order_release);
    /* racing adds of one object give two entries: harmless */
}

static bool skipped(const struct link_map *lm)
{
    return !lm || (void *)lm->l_addr == self_base() || in_agent((void *)lm->l_ld) || is_interposer(lm);
}

/* The string table of a loaded object's dynamic section: glibc relocates DT_STRTAB in
 * place on most targets, not on those with a read-only dynamic section. */
static const char *dyn_strtab(const struct link_map *lm)
{
    for (const ElfW(Dyn) *d = lm->l_ld; d && d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_STRTAB) {
            uintptr_t p = d->d_un.d_ptr;
            return (const char *)(p < lm->l_addr ? p + lm->l_addr : p);
        }
    return NULL;
}

const char *ta_dyn_soname(const struct link_map *lm)
{
    const char *strtab = dyn_strtab(lm);
    for (const ElfW(Dyn) *d = lm->l_ld; strtab && d && d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_SONAME)
            return strtab + d->d_un.d_val;
    return NULL;
}

/* The loaded object a DT_NEEDED entry names, in lm's namespace: by soname, or by file name
 * (a library without a soname), or by path (a needed entry with a slash). */
static struct link_map *needed_map(struct link_map *lm, const char *needed)
{
    struct link_map *head = lm;
    while (head->l_prev)
        head = head->l_prev;
    bool path = strchr(needed, '/') != NULL;
    for (struct link_map *m = head; m; m = m->l_next) {
        if (!m->l_name || !m->l_name[0])
            continue;
        if (path) {
            if (strcmp(m->l_name, needed) == 0)
                return m;
            continue;
        }
        const char *so = ta_dyn_soname(m);
        const char *base = strrchr(m->l_name, '/');
        base = base ? base + 1 : m->l_name;
        if ((so && strcmp(so, needed) == 0) || strcmp(base, needed) == 0)
            return m;
    }
    return NULL;
}

/* A definition of `name` in object lm itself (not in its dependencies), or NULL. */
static void *defined_in(struct link_map *lm, const char *name)
{
    if (!lm->l_name || !lm->l_name[0])
        return NULL; /* the executable: its handle is the global scope, preloads first */
    void *h = ta_dlopen_real(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return NULL;
    void *q = NULL;
    if (h == (void *)lm) { /* glibc's handle is the link map: not another namespace's copy */
        q = dlsym(h, name);
        if (q && map_of(q) != lm)
            q = NULL;
    }
    dlclose(h);
    return q;
}

/* The caller's object, then its DT_NEEDED dependencies, breadth first. */
#define MAX_BFS 256
static void *search_deps(struct link_map *start, const char *name)
{
    struct link_map *queue[MAX_BFS];
    int n = 0;
    queue[n++] = start;
    for (int i = 0; i < n; i++) {
        struct link_map *lm = queue[i];
        if (!skipped(lm)) {
            void *q = defined_in(lm, name);
            if (q)
                return q;
        }
        const char *strtab = dyn_strtab(lm);
        for (const ElfW(Dyn) *d = lm->l_ld; strtab && d && d->d_tag != DT_NULL; d++) {
            if (d->d_tag != DT_NEEDED)
                continue;
            struct link_map *m = needed_map(lm, strtab + d->d_un.d_val);
            bool seen = !m;
            for (int k = 0; k < n && !seen; k++)
                seen = queue[k] == m;
            if (!seen && n < MAX_BFS)
                queue[n++] = m;
        }
    }
    return NULL;
}

/* ta_resolve, but never a plug-in's wrapper: RTLD_NEXT from the agent finds a plug-in
 * preloaded after it first. */
static void *search_all(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p && !skipped(map_of(p)))
        return p;
    return search_loaded(name, 1);
}

static void *resolve_slow(const char *name, struct link_map *lm)
{
    if (resolving)
        return NULL;
    resolving = 1;
    ta_guard++;
    int saved = errno;
    void *p = NULL;
    if (lm && !in_agent((void *)lm->l_ld) && !is_interposer(lm))
        p = search_deps(lm, name);
    if (!p)
        p = search_all(name);
    dlerror(); /* as in ta_resolve */
    errno = saved;
    ta_guard--;
    resolving = 0;
    return p;
}

/* The caller's segment (one PT_LOAD of its object) */
struct seg_find {
    uintptr_t addr, lo, hi;
};
static int find_seg(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct seg_find *s = data;
    for (int k = 0; k < info->dlpi_phnum; k++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s->addr >= lo && s->addr - lo < ph->p_memsz) {
            s->lo = lo;
            s->hi = lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

/* A few segments per thread, not one: h5py's calls into libhdf5 come from some twenty
 * extension modules, in turns; with one entry each turn would take the loader's lock. */
#define CALLER_WAYS 4
static __thread struct {
    struct {
        uintptr_t lo, hi;
        struct link_map *lm;
    } way[CALLER_WAYS];
    unsigned gen, next;
} caller_cache __attribute__((tls_model("initial-exec")));

static void caller_forget(unsigned gen)
{
    for (int w = 0; w < CALLER_WAYS; w++)
        caller_cache.way[w].hi = 0; /* empty */
    atomic_signal_fence(memory_order_seq_cst);
    caller_cache.gen = gen;
}

/* (object, name) -> function; write-once entries; a new table when ta_dl_gen moves */
#define RT_SLOTS 512
struct rt_slot {
    _Atomic int state; /* 0 empty, 1 being written, 2 ready */
    const struct link_map *lm;
    const char *name;
    void *fn;
};
struct rtable {
    unsigned gen;
    struct rt_slot slot[RT_SLOTS];
};
static _Atomic(struct rtable *) rtab;

static unsigned rt_hash(const void *lm, const char *name)
{
    uint64_t h = ((uintptr_t)lm ^ ((uintptr_t)name * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return (unsigned)(h >> 40) & (RT_SLOTS - 1);
}

static void *rt_find(struct rtable *t, const struct link_map *lm, const char *name)
{
    unsigned i = rt_hash(lm, name);
    for (int probe = 0; probe < 16; probe++, i = (i + 1) & (RT_SLOTS - 1)) {
        struct rt_slot *s = &t->slot[i];
        int st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == 0)
            return NULL;
        if (st == 2 && s->lm == lm && s->name == name)
            return s->fn;
    }
    return NULL;
}

static void rt_put(struct rtable *t, const struct link_map *lm, const char *name, void *fn)
{
    unsigned i = rt_hash(lm, name);
    for (int probe = 0; probe < 16; probe++, i = (i + 1) & (RT_SLOTS - 1)) {
        struct rt_slot *s = &t->slot[i];
        int empty = 0;
        if (atomic_compare_exchange_strong(&s->state, &empty, 1)) {
            s->lm = lm;
            s->name = name;
            s->fn = fn;
            atomic_store_explicit(&s->state, 2, memory_order_release);
            return;
        }
    }
    /* full around here: not cached, resolved again next time */
}

bool ta_resolve_for_used(void) { return atomic_load_explicit(&rtab, memory_order_relaxed) != NULL; }

static struct rtable *rt_current(unsigned gen)
{
    struct rtable *t = atomic_load_explicit(&rtab, memory_order_acquire);
    if (t && t->gen == gen)
        return t;
    struct rtable *n = ta_sys_mmap(sizeof *n);
    if (!n)
        return NULL;
    n->gen = gen;
    /* a racing thread's table may win: ours is unmapped. Tables replaced by a later
     * generation are left mapped: a reader may still be looking at one. */
    if (atomic_compare_exchange_strong(&rtab, &t, n))
        return n;
    ta_sys_munmap(n, sizeof *n);
    return t && t->gen == gen ? t : NULL;
}

void *ta_resolve_for(const char *name, const void *caller)
{
    /* who asks is a wrapper: its object is an interposer, never a real function */
    const void *asker = __builtin_return_address(0);
    if (!caller || in_agent((void *)caller)) {
        if (!in_agent((void *)asker))
            ta_resolve_interposer(asker);
        return resolve_slow(name, NULL);
    }
    bool synced = false;
again:;
    unsigned gen = atomic_load_explicit(&ta_dl_gen, memory_order_acquire);
    uintptr_t a = (uintptr_t)caller;
    struct link_map *lm = NULL;
    if (ta_unlikely(caller_cache.gen != gen))
        caller_forget(gen);
    for (int w = 0; w < CALLER_WAYS; w++)
        if (a >= caller_cache.way[w].lo && a < caller_cache.way[w].hi) {
            lm = caller_cache.way[w].lm;
            break;
        }
    if (ta_unlikely(!lm)) {
        if (resolving)
            return NULL;
        /* a new object, perhaps: its family told first; an unload seen moves the gen */
        ta_dl_sync();
        synced = true;
        unsigned g2 = atomic_load_explicit(&ta_dl_gen, memory_order_acquire);
        if (g2 != gen)
            caller_forget(gen = g2);
        resolving = 1;
        ta_guard++;
        int saved = errno;
        struct seg_find s = {a, 0, 0};
        dl_iterate_phdr(find_seg, &s);
        lm = map_of(caller);
        errno = saved;
        ta_guard--;
        resolving = 0;
        if (!lm || !s.hi)
            return resolve_slow(name, lm);
        /* a signal handler that comes in between must never see a range with another
         * object's map: empty (hi 0) first, the new end last */
        unsigned w = caller_cache.next++ % CALLER_WAYS;
        caller_cache.way[w].hi = 0;
        atomic_signal_fence(memory_order_seq_cst);
        caller_cache.way[w].lm = lm;
        caller_cache.way[w].lo = s.lo;
        atomic_signal_fence(memory_order_seq_cst);
        caller_cache.way[w].hi = s.hi;
    }
    struct rtable *t = atomic_load_explicit(&rtab, memory_order_acquire);
    void *fn = t && t->gen == gen ? rt_find(t, lm, name) : NULL;
    if (ta_likely(fn != NULL))
        return fn;
    if (!in_agent((void *)asker))
        ta_resolve_interposer(asker);
    /* a name not asked for by this object yet: its definition may be in a library loaded
     * since the last check (the families told first); an unload seen meanwhile may have
     * taken lm: then from the start */
    if (!resolving && !synced) {
        ta_dl_sync();
        synced = true;
        if (atomic_load_explicit(&ta_dl_gen, memory_order_acquire) != gen)
            goto again;
    }
    fn = resolve_slow(name, lm);
    if (fn && (t = rt_current(gen)))
        rt_put(t, lm, name, fn);
    return fn;
}
