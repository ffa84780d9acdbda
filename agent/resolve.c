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

void *ta_resolve(const char *name)
{
    if (resolving)
        return NULL;
    resolving = 1;
    ta_guard++;
    int saved = errno;
    void *p = dlsym(RTLD_NEXT, name); /* never the agent: it is "next after" the agent */
    if (!p) {
        struct objs objs;
        objs.n = 0;
        dl_iterate_phdr(collect, &objs);
        for (int i = 0; i < objs.n && !p; i++) {
            void *h = dlopen(objs.names[i], RTLD_LAZY | RTLD_NOLOAD);
            if (!h)
                continue;
            void *q = dlsym(h, name);
            if (q && !in_agent(q))
                p = q;
            dlclose(h);
        }
    }
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

/* placeholder: per-caller resolution comes with the resolver work */
void *ta_resolve_for(const char *name, const void *caller)
{
    (void)caller;
    return ta_resolve(name);
}
