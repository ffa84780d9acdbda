/* Libraries that families want, and the program's later dlopens.
 *
 * A family names the libraries it wants (`wants`: sonames, or patterns with '*'); it is
 * told of each one loaded (`loaded(path, handle)`) once per object: at registration for
 * those already there, and later when a check finds new objects. A check compares the
 * dynamic linker's count of loaded and unloaded objects (dl_iterate_phdr's dlpi_adds and
 * dlpi_subs, read at the first object: one call, no walk) with the counts at the last
 * check; only when they moved are the objects scanned. It runs
 *   - before each dlopen and dlmopen of the program (below),
 *   - once per drainer cycle (ta_dl_poll: at most 4 ms apart) and before the final drain,
 *   - when a wrapper asks ta_resolve_for from an object it has not seen (ta_dl_sync): a
 *     family's wrappers find their callers lazily and never wait for a dlopen to be told.
 * So a family hears of a load at the program's next dlopen, or within one drainer cycle,
 * or at the first wrapped call from the new object, whichever comes first. Nothing at
 * all when no family wants anything and resolve.c's caches are empty (Python dlopens at
 * every import).
 *
 * dlopen and dlmopen are not wrapped in C: glibc takes its "caller" from the return
 * address (DT_RUNPATH/DT_RPATH of the calling object, $ORIGIN, the namespace, the names
 * an object is known by). A wrapper that called the real dlopen would make the agent the
 * caller. So each is an assembly stub that saves the argument registers, calls
 * ta_dl_before (the check; it returns the real function), restores the registers and the
 * stack as they were and jumps: glibc sees the program's own return address. The check
 * cannot run after the real call, hence the other places above; an unload is seen before
 * the next dlopen maps anything where the old object was, so resolve.c's caches are
 * dropped (ta_dl_gen) before a new object's constructors can ask.
 *
 * The agent never calls into the loader (dlopen, dlsym, dlclose, a family's `loaded`)
 * while holding its lock: a thread inside dlopen holds glibc's loader lock while its
 * constructors run, and one of them may register a family (ta_wants_add) and wait for
 * ours. What to tell is queued under the lock; one thread at a time (the teller) tells
 * it with the lock released, so a family's `loaded` calls come one at a time, in load
 * order, and another thread never waits for the teller (except ta_dl_sync, boundedly).
 *
 * The real functions are found with dlsym(RTLD_NEXT), which may allocate (FIELD_NOTES):
 * an allocator that dlopens meanwhile gets NULL and a dlerror message, never a call
 * through NULL. They are resolved in a constructor, before the program runs. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "ta.h"

_Atomic unsigned ta_dl_gen; /* bumped when an object was unloaded (resolve.c's caches) */

/* resolve.c */
void ta_resolve_interposer(const void *addr);
bool ta_resolve_for_used(void); /* its caches hold something */

typedef void *(*dlopen_fn)(const char *, int);
typedef void *(*dlmopen_fn)(Lmid_t, const char *, int);
static _Atomic(dlopen_fn) real_dlopen;
static _Atomic(dlmopen_fn) real_dlmopen;
static __thread int dl_resolving __attribute__((tls_model("initial-exec")));

static void resolve_dl(void)
{
    if (dl_resolving)
        return;
    dl_resolving = 1;
    int saved = errno;
    /* RTLD_NEXT: glibc's (libc.so.6 from 2.34, libdl before), or an interposer after us */
    dlopen_fn o = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
    dlmopen_fn m = (dlmopen_fn)dlsym(RTLD_NEXT, "dlmopen");
    if (o)
        atomic_store_explicit(&real_dlopen, o, memory_order_release);
    if (m)
        atomic_store_explicit(&real_dlmopen, m, memory_order_release);
    if (!o || !m)
        dlerror(); /* not the program's to see */
    errno = saved;
    dl_resolving = 0;
}

__attribute__((constructor(101))) static void dl_init(void) { resolve_dl(); }

void *ta_dlopen_real(const char *file, int mode)
{
    dlopen_fn o = atomic_load_explicit(&real_dlopen, memory_order_acquire);
    if (ta_unlikely(!o)) {
        resolve_dl();
        o = atomic_load_explicit(&real_dlopen, memory_order_acquire);
        if (!o)
            return NULL;
    }
    return o(file, mode);
}

/* ------------------------------------------------------------------------------------ */
/* Wanted libraries                                                                      */

static const struct ta_family *fams[TA_MAX_FAMILIES];
static _Atomic int nfams; /* families with wants; read without the lock by the checks */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long long seen_adds, seen_subs; /* the counts at the last scan */
/* this thread is in a check (or telling): a nested one (a family's `loaded` that dlopens,
 * a signal handler) returns at once */
static __thread int dl_busy __attribute__((tls_model("initial-exec")));

/* Objects already told about, with the families told (bit per family) */
#define MAX_TOLD 1024
static struct told {
    uintptr_t addr;  /* dlpi_addr */
    uint32_t hash;   /* of its name: an address reused by another object is another one */
    uint32_t mask;
} told[MAX_TOLD];
static int ntold;

/* What is to be told, queued under the lock, told by the teller without it. The path is
 * copied: the link map's string goes away with an object unloaded meanwhile. */
#define QUEUE 64
struct pending {
    int fam;
    uintptr_t addr;      /* dlpi_addr: its told[] entry */
    uint32_t hash;
    const void *inside;  /* an address in the object (its first PT_LOAD): dladdr1 */
    char path[4096];
};
static struct pending *queue; /* QUEUE entries, mapped at the first one */
static unsigned qhead, qtail; /* under the lock; an entry is free once qhead passed it */
static int teller;            /* a thread is telling (under the lock) */
static _Atomic unsigned queued, done; /* for ta_dl_sync: all told when equal */

/* '*' matches any run of characters (also none); everything else itself */
static bool glob(const char *p, const char *s)
{
    const char *star = NULL, *back = NULL;
    while (*s) {
        if (*p == '*') {
            star = ++p;
            back = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star;
            s = ++back;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return !*p;
}

static bool wanted(const struct ta_family *f, const char *base, const char *soname)
{
    for (const char *const *w = f->wants; *w; w++)
        if (glob(*w, base) || (soname && glob(*w, soname)))
            return true;
    return false;
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

#define MAX_SCAN 1024
struct scan {
    int n;
    unsigned long long adds, subs;
    struct {
        uintptr_t addr;
        const void *inside;
        const char *name;   /* the link map's own string */
        const char *soname; /* in the object's own string table; NULL: none */
    } obj[MAX_SCAN];
};

/* DT_SONAME from the object's dynamic section (glibc relocates DT_STRTAB in place on
 * most targets, not where the dynamic section is read-only) */
static const char *phdr_soname(const struct dl_phdr_info *info)
{
    for (int k = 0; k < info->dlpi_phnum; k++) {
        if (info->dlpi_phdr[k].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[k].p_vaddr);
        uintptr_t strtab = 0;
        long so = -1;
        for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_STRTAB)
                strtab = d->d_un.d_ptr < info->dlpi_addr ? d->d_un.d_ptr + info->dlpi_addr
                                                         : d->d_un.d_ptr;
            else if (d->d_tag == DT_SONAME)
                so = (long)d->d_un.d_val;
        }
        return strtab && so >= 0 ? (const char *)strtab + so : NULL;
    }
    return NULL;
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct scan *s = data;
    s->adds = info->dlpi_adds;
    s->subs = info->dlpi_subs;
    if (s->n < MAX_SCAN && info->dlpi_name && info->dlpi_name[0]) {
        const void *inside = NULL;
        for (int k = 0; k < info->dlpi_phnum && !inside; k++)
            if (info->dlpi_phdr[k].p_type == PT_LOAD)
                inside = (const void *)(info->dlpi_addr + info->dlpi_phdr[k].p_vaddr);
        s->obj[s->n].addr = info->dlpi_addr;
        s->obj[s->n].inside = inside;
        s->obj[s->n].name = info->dlpi_name;
        s->obj[s->n++].soname = phdr_soname(info);
    }
    return 0;
}

static int count_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    unsigned long long *c = data;
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
    return 1; /* the counts are the same in every entry: the first will do */
}

/* With the lock: scan, forget what was unloaded, queue what family `only` (or every
 * family when only < 0) was not told of. dl_iterate_phdr takes only glibc's list lock,
 * which no thread holds while it waits for ours. */
static void scan_and_queue(int only)
{
    static struct scan s; /* under the lock: too big for a thread's stack */
    s.n = 0;
    dl_iterate_phdr(scan_cb, &s);
    if (s.subs != atomic_load(&seen_subs)) {
        /* an object went away: forget those not loaded any more, and resolve.c's caches */
        int k = 0;
        for (int i = 0; i < ntold; i++) {
            bool here = false;
            for (int j = 0; j < s.n && !here; j++)
                here = s.obj[j].addr == told[i].addr && name_hash(s.obj[j].name) == told[i].hash;
            if (here)
                told[k++] = told[i];
        }
        ntold = k;
        atomic_fetch_add(&ta_dl_gen, 1);
    }
    /* full: something could not be queued; the counts are left as they were, so that the
     * next check scans again */
    bool full = false;
    int nf = atomic_load(&nfams);
    int lo = only < 0 ? 0 : only, hi = only < 0 ? nf : only + 1;
    if (hi > lo && !queue && !(queue = ta_sys_mmap(QUEUE * sizeof *queue))) {
        full = true;
        hi = lo;
    }
    for (int j = 0; j < s.n && !full; j++) {
        const char *path = s.obj[j].name;
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        uint32_t h = name_hash(path);
        struct told *t = NULL;
        for (int i = 0; i < ntold && !t; i++)
            if (told[i].addr == s.obj[j].addr && told[i].hash == h)
                t = &told[i];
        for (int i = lo; i < hi; i++) {
            const struct ta_family *f = fams[i];
            if ((t && (t->mask & (1u << i))) || !wanted(f, base, s.obj[j].soname))
                continue;
            if (qtail - qhead >= QUEUE || strlen(path) >= sizeof queue->path ||
                (!t && ntold >= MAX_TOLD)) {
                full = true;
                break;
            }
            if (!t) {
                t = &told[ntold++];
                t->addr = s.obj[j].addr;
                t->hash = h;
                t->mask = 0;
            }
            t->mask |= 1u << i;
            struct pending *p = &queue[qtail++ % QUEUE];
            p->fam = i;
            p->addr = s.obj[j].addr;
            p->hash = h;
            p->inside = s.obj[j].inside;
            strcpy(p->path, path);
            atomic_fetch_add(&queued, 1);
        }
    }
    atomic_store(&seen_subs, s.subs); /* unloads are handled */
    if (!full && only < 0)
        atomic_store(&seen_adds, s.adds);
    else if (full)
        atomic_store(&seen_adds, ~0ull);
}

/* A reference to the object the entry names, in its own namespace (glibc's handle is its
 * link map), or NULL: unloaded meanwhile, or not (yet) loaded to the end. Waits for a
 * dlopen under way in another thread (the loader's lock). */
static void *reference(const struct pending *p)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!p->inside || !dladdr1(p->inside, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm ||
        !lm->l_name || strcmp(lm->l_name, p->path) != 0)
        return NULL;
    Lmid_t ns = LM_ID_BASE;
    if (dlinfo(lm, RTLD_DI_LMID, &ns) != 0)
        return NULL;
    dlmopen_fn m = atomic_load_explicit(&real_dlmopen, memory_order_acquire);
    void *h = m ? m(ns, p->path, RTLD_LAZY | RTLD_NOLOAD)
                : ns == LM_ID_BASE ? ta_dlopen_real(p->path, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    if (h && h != (void *)lm) {
        dlclose(h); /* another object of that path: not the one scanned */
        h = NULL;
    }
    return h;
}

/* With the lock, as the teller: tell everything queued, one at a time, the lock released
 * around each call. Returns with the lock, no longer the teller. */
static void tell_queued(void)
{
    while (qhead != qtail) {
        struct pending *p = &queue[qhead % QUEUE]; /* not reused before qhead passes it */
        pthread_mutex_unlock(&lock);
        const struct ta_family *f = fams[p->fam];
        /* RTLD_NOLOAD: a reference the family keeps, so that what it took from the
         * object stays valid (the object is not unloaded under it) */
        void *handle = reference(p);
        if (handle) {
            ta_debug("%s: %s is loaded", f->name, p->path);
            f->loaded(p->path, handle);
        }
        dlerror(); /* a failed lookup of the agent's or the family's: not the program's */
        pthread_mutex_lock(&lock);
        if (!handle) /* not told: again at a later check, should it be there */
            for (int i = 0; i < ntold; i++)
                if (told[i].addr == p->addr && told[i].hash == p->hash)
                    told[i].mask &= ~(1u << p->fam);
        qhead++;
        atomic_fetch_add(&done, 1);
    }
    teller = 0;
}

/* The check. `only`: registration of family `only` (its objects, whatever the counts). */
static void check(int only)
{
    int nf = atomic_load_explicit(&nfams, memory_order_acquire);
    if (ta_likely(nf == 0) && !ta_resolve_for_used())
        return;
    if (dl_busy) {
        if (only >= 0) /* a family registered from a family's `loaded`: a later check */
            atomic_store(&seen_adds, ~0ull);
        return;
    }
    if (only < 0) {
        unsigned long long c[2] = {0, 0};
        dl_iterate_phdr(count_cb, c);
        /* nothing loaded or unloaded since, and nothing queued left untold (a teller at
         * work; one that was in the parent of this fork: then this thread tells) */
        if (c[0] == atomic_load_explicit(&seen_adds, memory_order_relaxed) &&
            c[1] == atomic_load_explicit(&seen_subs, memory_order_relaxed) &&
            atomic_load_explicit(&queued, memory_order_relaxed) ==
                atomic_load_explicit(&done, memory_order_relaxed))
            return;
    }
    dl_busy = 1;
    int saved = errno;
    ta_guard++;
    pthread_mutex_lock(&lock);
    scan_and_queue(only);
    if (!teller && qhead != qtail) {
        teller = 1;
        tell_queued();
    }
    pthread_mutex_unlock(&lock);
    ta_guard--;
    errno = saved;
    dl_busy = 0;
}

void ta_dl_poll(void) { check(-1); }

/* A wrapper met an object it had not seen: the check, then, if another thread is telling
 * what this one found queued, a bounded wait for it (the teller may itself wait for the
 * loader's lock, which this thread may hold: inside a constructor). */
void ta_dl_sync(void)
{
    check(-1);
    if (dl_busy)
        return;
    unsigned want = atomic_load(&queued);
    for (int i = 0; i < 500 && (int)(atomic_load(&done) - want) < 0; i++) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL); /* 50 ms at most */
    }
}

/* fork (core.c's handlers): what was loaded before the fork is told before it, and no
 * thread is telling (a family's `loaded` half done, the allocator's locks held: the
 * child would inherit them) or holds the lock when it happens. */
static int prefork_locked; /* the forking thread's; one fork at a time (core.c) */
void ta_dl_prefork(void)
{
    if (dl_busy) /* a fork from a family's `loaded`, or a signal handler in a check (the
                  * lock may be this thread's): the child resets it anyway */
        return;
    ta_dl_sync();
    pthread_mutex_lock(&lock);
    prefork_locked = 1;
}

void ta_dl_postfork_parent(void)
{
    if (prefork_locked) {
        prefork_locked = 0;
        pthread_mutex_unlock(&lock);
    }
}

void ta_dl_postfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    lock = fresh;
    prefork_locked = 0;
    teller = 0; /* what a thread that timed the wait out was telling: the child's next */
}

void ta_wants_add(const struct ta_family *f)
{
    if (!f)
        return;
    /* a family's wrappers are interposers: resolve.c never returns one as a real function.
     * `f` may be the registry's copy, in the agent: the family's object is its hooks'. */
    const void *const in_family[] = {f, (const void *)f->init, (const void *)f->loaded,
                                     (const void *)f->before_final_drain};
    for (size_t i = 0; i < sizeof in_family / sizeof in_family[0]; i++)
        ta_resolve_interposer(in_family[i]);
    if (!f->wants || !f->loaded)
        return;
    pthread_mutex_lock(&lock);
    int i = atomic_load(&nfams);
    if (i < TA_MAX_FAMILIES) {
        fams[i] = f;
        atomic_store(&nfams, i + 1);
    }
    pthread_mutex_unlock(&lock);
    if (i >= TA_MAX_FAMILIES) {
        ta_warn("%s: too many families want libraries; not told of later loads", f->name);
        return;
    }
    /* those loaded now; the later ones at the checks (another thread telling at this
     * moment tells them, or this one) */
    check(i);
    ta_dl_sync();
}

/* ------------------------------------------------------------------------------------ */
/* dlopen, dlmopen: the check, then a tail jump to glibc's                                */

/* No real function (the constructor's dlsym is still under way on this thread: an
 * allocator that dlopens): NULL, with a dlerror message when one can be had. */
static __thread int dl_none_busy __attribute__((tls_model("initial-exec")));
static void *dl_unavailable(void)
{
    if (!dl_none_busy) {
        dl_none_busy = 1;
        int saved = errno;
        dlsym(RTLD_DEFAULT, "traceagent: dlopen called while it is being resolved");
        errno = saved;
        dl_none_busy = 0;
    }
    return NULL;
}

/* Called by the stubs below with the arguments saved: 0 dlopen, 1 dlmopen. Returns the
 * function to jump to, never NULL. */
__attribute__((used)) void *ta_dl_before(int which)
{
    void *fn = which ? (void *)atomic_load_explicit(&real_dlmopen, memory_order_acquire)
                     : (void *)atomic_load_explicit(&real_dlopen, memory_order_acquire);
    if (ta_unlikely(!fn)) {
        resolve_dl();
        fn = which ? (void *)atomic_load_explicit(&real_dlmopen, memory_order_acquire)
                   : (void *)atomic_load_explicit(&real_dlopen, memory_order_acquire);
        if (!fn)
            return (void *)dl_unavailable;
    }
    /* before the real call, whose mode is not looked at: new objects for the families
     * (their constructors have run: those of a load under way in another thread have
     * not, and telling waits for it), unloads for resolve.c's caches */
    check(-1);
    return fn;
}

#if defined(__x86_64__) && !defined(__ILP32__)
/* Entered with the stack 8 bytes off 16 (the return address); three pushes make the call
 * aligned. %rdi, %rsi, %rdx: every argument of both (dlmopen takes three); the stack and
 * every callee-saved register are as they came when the jump is taken. */
#define DL_STUB(name, which)                                                                 \
    __asm__(".text\n"                                                                        \
            ".globl " #name "\n"                                                             \
            ".type " #name ", @function\n" #name ":\n"                                       \
            "  .cfi_startproc\n"                                                             \
            "  pushq %rdi\n"                                                                 \
            "  .cfi_adjust_cfa_offset 8\n"                                                   \
            "  pushq %rsi\n"                                                                 \
            "  .cfi_adjust_cfa_offset 8\n"                                                   \
            "  pushq %rdx\n"                                                                 \
            "  .cfi_adjust_cfa_offset 8\n"                                                   \
            "  movl $" #which ", %edi\n"                                                     \
            "  call ta_dl_before\n"                                                          \
            "  popq %rdx\n"                                                                  \
            "  .cfi_adjust_cfa_offset -8\n"                                                  \
            "  popq %rsi\n"                                                                  \
            "  .cfi_adjust_cfa_offset -8\n"                                                  \
            "  popq %rdi\n"                                                                  \
            "  .cfi_adjust_cfa_offset -8\n"                                                  \
            "  jmp *%rax\n"                                                                  \
            "  .cfi_endproc\n"                                                               \
            ".size " #name ", .-" #name "\n")
DL_STUB(dlopen, 0);
DL_STUB(dlmopen, 1);
#endif
/* Elsewhere dlopen is not interposed (a C wrapper would be glibc's caller): families hear
 * of loads at the drainer's cycle and at wrapped calls from new objects only. */
