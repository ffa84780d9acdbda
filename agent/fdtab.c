/* The I/O family's fd table and exclude list (see fdtab.h). The common paths are inline in
 * fdtab.h (entry accessors, an open or close of an fd, a path this thread named lately);
 * what is here is their slow side: paths seen for the first time, excludes, dups, fds the
 * agent did not see opened. */
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtab.h"

struct ta_fdent ta_fdtab[TA_FD_MAX];

_Atomic int ta_fd_hwm;                  /* 1 + the highest fd ever entered */
static _Atomic uint32_t next_group = 1; /* dup groups */

void ta_fd_raise_hwm_slow(int fd)
{
    int h = atomic_load_explicit(&ta_fd_hwm, memory_order_relaxed);
    /* relaxed: only a bound for scans, which tolerate a stale value */
    while (fd + 1 > h &&
           !atomic_compare_exchange_weak_explicit(&ta_fd_hwm, &h, fd + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ------------------------------------------------------------------------------------ */
/* Excludes                                                                             */

struct excl {
    const char *s;
    size_t n;
    int dir; /* 1: matches s itself and what lies under s/, not s-something */
};
#define MAX_EXCL (TA_MAX_EXCLUDES * 2 + 4)
static struct excl excl[MAX_EXCL];
static int nexcl;
static char excl_mem[MAX_EXCL * 512];
static size_t excl_used;

static const char *skip_dot_slash(const char *p, size_t *n)
{
    while (*n >= 2 && p[0] == '.' && p[1] == '/') {
        p += 2;
        *n -= 2;
        while (*n && *p == '/') {
            p++;
            (*n)--;
        }
    }
    return p;
}

static void excl_add(const char *a, size_t an, const char *b, size_t bn, int dir)
{
    if (nexcl >= MAX_EXCL || an + bn == 0 || excl_used + an + bn + 1 > sizeof excl_mem)
        return;
    char *s = excl_mem + excl_used;
    memcpy(s, a, an);
    memcpy(s + an, b, bn);
    size_t n = an + bn;
    if (dir)
        while (n > 1 && s[n - 1] == '/')
            n--;
    s[n] = 0;
    excl_used += n + 1;
    excl[nexcl++] = (struct excl){s, n, dir};
}

/* An exclude as given, and, when it is relative, also as an absolute path (the program may
 * name the same files either way). */
static void excl_add_both(const char *p, size_t n, int dir, const char *cwd, size_t cwdn)
{
    p = skip_dot_slash(p, &n);
    if (!n)
        return;
    excl_add(p, n, "", 0, dir);
    if (p[0] != '/' && cwdn) {
        char tmp[4096];
        if (cwdn + 1 + n < sizeof tmp) {
            memcpy(tmp, cwd, cwdn);
            tmp[cwdn] = '/';
            excl_add(tmp, cwdn + 1, p, n, dir);
        }
    }
}

static void excl_init(void)
{
    char cwd[4096];
    long r = syscall(SYS_getcwd, cwd, sizeof cwd);
    size_t cwdn = r > 0 ? strlen(cwd) : 0;
    if (cwdn == 1) /* "/": joining gives "//x" otherwise */
        cwdn = 0;
    for (int i = 0; i < ta_cfg.nexcludes && i < TA_MAX_EXCLUDES; i++)
        if (ta_cfg.excludes[i])
            excl_add_both(ta_cfg.excludes[i], ta_cfg.exclude_len[i], 0, cwd, cwdn);
    /* the agent's own output directory: a directory match, so that "out" does not also
     * exclude "out2" */
    excl_add_both(ta_cfg.output, strlen(ta_cfg.output), 1, cwd, cwdn);
}

bool ta_path_excluded(const char *path, size_t n)
{
    path = skip_dot_slash(path, &n);
    for (int i = 0; i < nexcl; i++) {
        const struct excl *x = &excl[i];
        if (n < x->n || memcmp(path, x->s, x->n) != 0)
            continue;
        if (!x->dir || n == x->n || path[x->n] == '/' || x->s[x->n - 1] == '/')
            return true;
    }
    return false;
}

/* A path named again by the same thread from the same buffer (a loop opening one file, a
 * program keeping its paths): its id from the thread's cache, checked against the text, so
 * a buffer reused for another path is never mistaken for the one it held. Excluded paths
 * are not cached (calls on them pass through).
 *
 * A signal handler can name a path in the middle of this, on the same thread. So an entry
 * is written under `path_filling`, which makes a handler neither read nor write the cache.
 * An entry whose `text` holds its path was already compared by the inline hit path in
 * fdtab.h before this was called; that one may see the old `ptr` and `inl` with a
 * handler's new `text` and `id`, so it reads `id` after the compare, and a long path's
 * entry has an empty `text`, which matches no path that reaches the cache. Here only long
 * paths are compared, with the string table's copy of the entry's own `id`: the two always
 * belong together. */
static uint32_t path_id_cached(const char *path, bool *excluded)
{
    struct ta_thread *t = ta_self;
    unsigned slot = ((uintptr_t)path >> 4) & 7;
    /* strcmp, not a loop of our own: libc's compares 32 bytes at a time (a 28-byte path:
     * 139 instructions -> ~20), and never reads past either string's end */
    if (t && !t->path_filling && t->path_cache[slot].ptr == path && !t->path_cache[slot].inl) {
        uint32_t id = t->path_cache[slot].id;
        if (strcmp(path, ta_str(id)) == 0)
            return id;
    }
    size_t n = strlen(path);
    bool x = nexcl && ta_path_excluded(path, n);
    uint32_t id = x || !n ? 0 : ta_intern(path, n);
    *excluded = x;
    /* excluded paths are not cached: they pass through anyway */
    if (t && id && !t->path_filling) {
        t->path_filling = 1;
        atomic_signal_fence(memory_order_seq_cst);
        t->path_cache[slot].ptr = path;
        t->path_cache[slot].id = id;
        t->path_cache[slot].inl = n < sizeof t->path_cache[slot].text;
        if (t->path_cache[slot].inl)
            memcpy(t->path_cache[slot].text, path, n + 1);
        else
            t->path_cache[slot].text[0] = 0;
        atomic_signal_fence(memory_order_seq_cst);
        t->path_filling = 0;
    }
    return id;
}

uint32_t ta_path_id_slow(int dirfd, const char *path, bool empty_ok, bool *excluded)
{
    *excluded = false;
    if (!path) {
        if (!empty_ok) /* the call fails with EFAULT */
            return 0;
        path = ""; /* statx(fd, NULL, AT_EMPTY_PATH), Linux 6.11 */
    }
    if (path[0] && (path[0] == '/' || dirfd == AT_FDCWD))
        return path_id_cached(path, excluded);
    size_t n = strlen(path);
    char buf[4096];
    const char *p = path;
    if (path[0] != '/' && dirfd != AT_FDCWD) {
        struct ta_fdent *d = ta_fd(dirfd);
        if (d && d->excluded) {
            *excluded = true;
            return 0;
        }
        if (d && d->path) {
            if (n == 0 && empty_ok) /* AT_EMPTY_PATH: the call is on dirfd itself */
                return d->path;
            const char *dp = ta_str(d->path);
            size_t dn = strlen(dp);
            if (dn && dn + 1 + n < sizeof buf) {
                memcpy(buf, dp, dn);
                if (dp[dn - 1] != '/')
                    buf[dn++] = '/';
                memcpy(buf + dn, path, n);
                n += dn;
                buf[n] = 0;
                p = buf;
            }
        }
    }
    if (nexcl && ta_path_excluded(p, n)) {
        *excluded = true;
        return 0;
    }
    return n ? ta_intern(p, n) : 0;
}

/* ------------------------------------------------------------------------------------ */
/* Entries                                                                              */

/* `fd` leaves dup group `g`: if a single other member is left, it owns its offset again
 * (unknown until its next lseek, since the others moved it). Scans the used part of the
 * table: dups are rare, and this runs only when a member of a group is closed. */
void ta_fd_leave_group(int fd, uint32_t g)
{
    int h = atomic_load_explicit(&ta_fd_hwm, memory_order_relaxed);
    int last = -1, count = 0;
    for (int i = 0; i < h && count < 2; i++)
        if (i != fd && ta_fdtab[i].group == g) {
            last = i;
            count++;
        }
    if (count == 1) {
        ta_fd_forget_off(&ta_fdtab[last]);
        ta_fdtab[last].group = 0;
    }
}

void ta_fd_set_append(struct ta_fdent *e, bool on)
{
    e->append = on;
    if (!e->group)
        return;
    int h = atomic_load_explicit(&ta_fd_hwm, memory_order_relaxed);
    for (int i = 0; i < h; i++)
        if (ta_fdtab[i].group == e->group)
            ta_fdtab[i].append = on;
}

void ta_fd_closed_range(unsigned first, unsigned last)
{
    unsigned h = (unsigned)atomic_load_explicit(&ta_fd_hwm, memory_order_relaxed);
    if (last >= h)
        last = h ? h - 1 : 0;
    for (unsigned fd = first; fd <= last && fd < h; fd++)
        if (ta_fdtab[fd].used || ta_fdtab[fd].group)
            ta_fd_closed((int)fd);
}

static uint32_t new_group(void)
{
    uint32_t g = atomic_fetch_add_explicit(&next_group, 1, memory_order_relaxed);
    if (!g) /* wrapped: 0 means "no group" */
        g = atomic_fetch_add_explicit(&next_group, 1, memory_order_relaxed);
    return g;
}

void ta_fd_dup(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    struct ta_fdent *o = ta_fd(oldfd), *n = ta_fd_slot(newfd);
    if (n)
        ta_fd_closed(newfd); /* dup2/dup3 close newfd first */
    if (!o || !o->used) {
        /* an fd the agent knows nothing about (socket, pipe, or beyond the table) */
        return;
    }
    uint32_t g = o->group;
    if (!g)
        o->group = g = new_group();
    ta_fd_forget_off(o);
    if (!n)
        return; /* the duplicate is beyond the table; `o` stays grouped: offsets unknown */
    n->path = o->path;
    n->excluded = o->excluded;
    n->append = o->append;
    n->group = g;
    n->used = 1;
    ta_fd_raise_hwm(newfd);
}

/* ------------------------------------------------------------------------------------ */
/* Fds the agent did not see opened: looked up on first use */

/* A discovered fd may share its open file description with another known fd on the same
 * path: `prog > log 2>&1` starts with fds 1 and 2 on one description, one offset moved by
 * both. Such fds join a group, as dups do (offsets unknown). kcmp tells; where it cannot
 * (no kcmp, not permitted), the same path is taken as shared: an unknown offset is
 * better than a wrong one. */
static void group_if_shared(int fd, struct ta_fdent *e)
{
    unsigned h = (unsigned)atomic_load_explicit(&ta_fd_hwm, memory_order_relaxed);
    long pid = 0;
    for (unsigned o = 0; o < h && o < TA_FD_MAX; o++) {
        struct ta_fdent *x = &ta_fdtab[o];
        if ((int)o == fd || !x->used || x->path != e->path)
            continue;
        if (!pid)
            pid = syscall(SYS_getpid);
        long k = syscall(SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, fd, (long)o);
        if (k != 0 && k != -1)
            continue; /* two descriptions */
        if (k == -1 && errno != ENOSYS && errno != EPERM)
            continue; /* EBADF: o is not open any more */
        uint32_t g = x->group ? x->group : new_group();
        x->group = e->group = g;
        ta_fd_forget_off(x);
        ta_fd_forget_off(e);
        return;
    }
}

void ta_fd_discover(int fd, struct ta_fdent *e)
{
    char link[64], target[4096];
    if (ta_is_agent_fd(fd) || ta_vforked) /* a vfork child's fds are not the parent's */
        return;
    int saved = errno;
    ta_fmt(link, sizeof link, "/proc/self/fd/%d", fd);
    long m = syscall(SYS_readlinkat, AT_FDCWD, link, target, sizeof target - 1);
    if (m <= 0) { /* not open (the call will fail by itself), or no /proc */
        errno = saved;
        return;
    }
    target[m] = 0;
    bool excluded = false;
    uint32_t id = 0;
    if (target[0] == '/') { /* not "pipe:[..]", "socket:[..]", "anon_inode:..." */
        excluded = ta_path_excluded(target, (size_t)m);
        if (!excluded)
            id = ta_intern(target, (size_t)m);
    }
    long off = syscall(SYS_lseek, fd, 0L, SEEK_CUR); /* ESPIPE for pipes, ttys, sockets */
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    if (!e->used) { /* another thread may have opened it meanwhile: its entry wins */
        /* a FILE* on it (stdin, stdout, stderr, or one fopen'ed untraced) moves the kernel
         * offset in its buffer: kept, and the offset stays unknown */
        uint8_t stream = e->stream;
        ta_fd_opened(fd, id, fl < 0 ? 0 : (int)fl, excluded, off < 0 ? -1 : off);
        if (stream) {
            e->stream = 1;
            ta_fd_forget_off(e);
        }
        if (id)
            group_if_shared(fd, e);
    }
    errno = saved;
}

void ta_fdtab_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    excl_init();
}
