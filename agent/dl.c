/* Libraries that families want, and the program's later dlopens.
 *
 * A family names the libraries it wants (`wants`: sonames, or patterns with '*'); it is
 * told of each one loaded (`loaded(path, handle)`) once per object: at registration for
 * those already there, and after every dlopen that brings one in. So dlopen is wrapped
 * (dlmopen too): nothing is recorded, the call goes to glibc's, and after a successful
 * load the dynamic linker's count of loaded objects (dl_iterate_phdr's dlpi_adds, read at
 * the first object: one call, no walk) says whether anything is new. A program that
 * dlopens a lot (Python: one dlopen per extension module, most of them already loaded)
 * pays that one check; nothing when no family wants anything.
 *
 * A wrapped dlopen makes the agent glibc's "caller": the caller's DT_RUNPATH or DT_RPATH
 * (and $ORIGIN in it) would no longer be searched for a bare name. So a bare name that
 * the caller's object has a search path for is looked for there first, as the dynamic
 * linker would (an object of that name already loaded is taken as it is).
 *
 * The real dlopen is found with dlsym(RTLD_NEXT), which may allocate (FIELD_NOTES): an
 * allocator that dlopens meanwhile finds it NULL and gets NULL (dlerror unchanged), never
 * a call through NULL. It is resolved in a constructor, before the program runs. */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>

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
    errno = saved;
    dl_resolving = 0;
}

/* A fork while another thread held the lock (inside a dlopen): the child's copy is held by
 * a thread it does not have */
static void dl_child(void);

__attribute__((constructor(101))) static void dl_init(void)
{
    resolve_dl();
    pthread_atfork(NULL, NULL, dl_child);
}

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
static _Atomic int nfams; /* families with wants; read without the lock by the wrapper */
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static _Atomic unsigned long long seen_adds, seen_subs; /* the counts at the last scan */

/* Objects already told about, with the families told (bit per family) */
#define MAX_TOLD 1024
static struct told {
    uintptr_t addr;  /* dlpi_addr */
    uint32_t hash;   /* of its name: an address reused by another object is another one */
    uint32_t mask;
} told[MAX_TOLD];
static int ntold;

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
        s->obj[s->n].addr = info->dlpi_addr;
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

/* Tell family `only` (or every family when only < 0) of the wanted objects it was not
 * told of. Called with the lock; the families' `loaded` runs with it held (it may dlopen,
 * dlsym: the lock is recursive). */
static void tell(int only)
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
    atomic_store(&seen_adds, s.adds);
    atomic_store(&seen_subs, s.subs);
    int nf = atomic_load(&nfams);
    int lo = only < 0 ? 0 : only, hi = only < 0 ? nf : only + 1;
    for (int j = 0; j < s.n; j++) {
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
            if (!t) {
                if (ntold >= MAX_TOLD)
                    break;
                t = &told[ntold++];
                t->addr = s.obj[j].addr;
                t->hash = h;
                t->mask = 0;
            }
            t->mask |= 1u << i;
            /* RTLD_NOLOAD: a reference the family keeps, so that what it took from the
             * object stays valid (the object is not unloaded under it) */
            void *handle = ta_dlopen_real(path, RTLD_LAZY | RTLD_NOLOAD);
            ta_debug("%s: %s is loaded", f->name, path);
            f->loaded(path, handle);
        }
    }
}

static void dl_child(void)
{
    pthread_mutex_t fresh = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    lock = fresh;
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
    ta_guard++;
    pthread_mutex_lock(&lock);
    int i = atomic_load(&nfams);
    if (i < TA_MAX_FAMILIES) {
        fams[i] = f;
        atomic_store(&nfams, i + 1);
        tell(i);
    } else {
        ta_warn("%s: too many families want libraries; not told of later loads", f->name);
    }
    pthread_mutex_unlock(&lock);
    ta_guard--;
}

/* After a successful dlopen: anything new for the families, anything gone from under
 * resolve.c's caches? (An object unloaded by dlclose is seen here, at the next dlopen:
 * before anything new can be mapped where it was.) */
static void after_load(void)
{
    int nf = atomic_load_explicit(&nfams, memory_order_acquire);
    if (ta_likely(nf == 0) && !ta_resolve_for_used())
        return;
    unsigned long long c[2] = {0, 0};
    dl_iterate_phdr(count_cb, c);
    if (c[0] == atomic_load_explicit(&seen_adds, memory_order_relaxed) &&
        c[1] == atomic_load_explicit(&seen_subs, memory_order_relaxed))
        return;
    int saved = errno;
    ta_guard++;
    pthread_mutex_lock(&lock);
    if (nf) {
        tell(-1);
    } else {
        if (c[1] != atomic_load(&seen_subs))
            atomic_fetch_add(&ta_dl_gen, 1);
        atomic_store(&seen_adds, c[0]);
        atomic_store(&seen_subs, c[1]);
    }
    pthread_mutex_unlock(&lock);
    ta_guard--;
    errno = saved;
}

/* ------------------------------------------------------------------------------------ */
/* The caller's search path for a bare name                                               */

/* DT_RUNPATH, else DT_RPATH, of the object at `caller`; NULL when none (then glibc's own
 * search, with the agent as the caller, is the caller's: the executable's path and the
 * system's) */
static const char *caller_path(const void *caller, struct link_map **lmp)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!caller || !dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return NULL;
    const char *strtab = NULL;
    uintptr_t runpath = 0, rpath = 0;
    bool has_run = false, has_r = false;
    for (const ElfW(Dyn) *d = lm->l_ld; d && d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB) {
            uintptr_t p = d->d_un.d_ptr;
            strtab = (const char *)(p < lm->l_addr ? p + lm->l_addr : p);
        } else if (d->d_tag == DT_RUNPATH) {
            runpath = d->d_un.d_val;
            has_run = true;
        } else if (d->d_tag == DT_RPATH) {
            rpath = d->d_un.d_val;
            has_r = true;
        }
    }
    if (!strtab || (!has_run && !has_r))
        return NULL;
    *lmp = lm;
    return strtab + (has_run ? runpath : rpath);
}

/* A file `name` in one of the caller's search directories: its path in buf, or NULL */
static const char *find_in_path(const char *sp, const struct link_map *lm, const char *name,
                                char *buf, size_t cap)
{
    /* $ORIGIN: the directory of the caller's object (the executable's: /proc/self/exe is
     * not read; an executable's own $ORIGIN is left to glibc) */
    const char *obj = lm->l_name;
    const char *slash = obj ? strrchr(obj, '/') : NULL;
    size_t olen = slash ? (size_t)(slash - obj) : 0;
    while (*sp) {
        const char *end = strchr(sp, ':');
        size_t len = end ? (size_t)(end - sp) : strlen(sp);
        size_t n = 0;
        bool ok = len > 0;
        for (size_t i = 0; i < len && ok;) {
            const char *tok = NULL;
            size_t tl = 0;
            if (!strncmp(sp + i, "$ORIGIN", 7) && (tl = 7))
                tok = obj;
            else if (!strncmp(sp + i, "${ORIGIN}", 9) && (tl = 9))
                tok = obj;
            if (tok) {
                if (!olen || n + olen >= cap) {
                    ok = false;
                    break;
                }
                memcpy(buf + n, obj, olen);
                n += olen;
                i += tl;
            } else if (sp[i] == '$') {
                ok = false; /* $LIB, $PLATFORM: left to glibc */
            } else {
                if (n + 1 >= cap) {
                    ok = false;
                    break;
                }
                buf[n++] = sp[i++];
            }
        }
        size_t nl = strlen(name);
        if (ok && n + 1 + nl < cap) {
            buf[n++] = '/';
            memcpy(buf + n, name, nl + 1);
            int fd = ta_sys_open(buf, O_RDONLY | O_CLOEXEC, 0);
            if (fd >= 0) {
                ta_sys_close(fd);
                return buf;
            }
        }
        if (!end)
            break;
        sp = end + 1;
    }
    return NULL;
}

/* What glibc would open for the caller: `file` itself, or a path from the caller's
 * RUNPATH/RPATH when the name is bare and not loaded yet */
static const char *as_caller(const char *file, int mode, const void *caller, char *buf,
                             size_t cap)
{
    if (!file || strchr(file, '/') || ta_guard)
        return file;
    struct link_map *lm = NULL;
    const char *sp = caller_path(caller, &lm);
    if (!sp)
        return file;
    /* an object of that name already loaded: glibc takes it before any search */
    void *h = ta_dlopen_real(file, RTLD_LAZY | RTLD_NOLOAD);
    if (h) {
        dlclose(h);
        return file;
    }
    const char *p = find_in_path(sp, lm, file, buf, cap);
    return p ? p : file;
}

TA_EXPORT void *dlopen(const char *file, int mode)
{
    char buf[4096];
    const char *f = as_caller(file, mode, __builtin_return_address(0), buf, sizeof buf);
    void *h = ta_dlopen_real(f, mode);
    if (h && !(mode & RTLD_NOLOAD))
        after_load();
    return h;
}

TA_EXPORT void *dlmopen(Lmid_t ns, const char *file, int mode)
{
    dlmopen_fn m = atomic_load_explicit(&real_dlmopen, memory_order_acquire);
    if (ta_unlikely(!m)) {
        resolve_dl();
        m = atomic_load_explicit(&real_dlmopen, memory_order_acquire);
        if (!m)
            return NULL;
    }
    char buf[4096];
    const char *f = as_caller(file, mode, __builtin_return_address(0), buf, sizeof buf);
    void *h = m(ns, f, mode);
    if (h && !(mode & RTLD_NOLOAD))
        after_load();
    return h;
}
