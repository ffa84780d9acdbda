/* The I/O family's fd table, exclude list and working directory (see fdtab.h). The common
 * paths are inline in fdtab.h (entry accessors, an open or close of an fd, a path this
 * thread named lately); what is here is their slow side: paths seen for the first time
 * (made absolute), excludes, dups, chdir, and the fds open at start. */
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

static const char *absolute(const char *base, const char *path, size_t n, char *buf,
                            size_t cap, size_t *len);

/* An exclude as given, and also as the agent names paths (absolute, "." and ".." resolved
 * lexically, no "//": ta_path_id), which is what it is matched against: "../data" or an
 * output directory "//traceagent-out" (cwd "/") never matched once paths were absolute. A
 * trailing '/' is kept: "/tmp/" does not exclude "/tmp2". */
static void excl_add_both(const char *p, size_t n, int dir, const char *cwd)
{
    p = skip_dot_slash(p, &n);
    if (!n)
        return;
    excl_add(p, n, "", 0, dir);
    char tmp[4096];
    size_t m = 0;
    const char *a = absolute(cwd[0] ? cwd : NULL, p, n, tmp, sizeof tmp - 1, &m);
    if (a == p)
        return; /* absolute and clean already, or cwd unknown, or too long */
    if (p[n - 1] == '/' && tmp[m - 1] != '/')
        tmp[m++] = '/';
    excl_add(tmp, m, "", 0, dir);
}

static void excl_init(const char *cwd)
{
    for (int i = 0; i < ta_cfg.nexcludes && i < TA_MAX_EXCLUDES; i++)
        if (ta_cfg.excludes[i])
            excl_add_both(ta_cfg.excludes[i], ta_cfg.exclude_len[i], 0, cwd);
    /* the agent's own output directory: a directory match, so that "out" does not also
     * exclude "out2" */
    excl_add_both(ta_cfg.output, strlen(ta_cfg.output), 1, cwd);
}

TA_HOT bool ta_path_excluded(const char *path, size_t n)
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

/* ------------------------------------------------------------------------------------ */
/* Absolute paths                                                                       */

_Atomic uint32_t ta_cwd_gen;
static _Atomic uint32_t cwd_id; /* the cwd, interned (absolute); 0 unknown */

size_t ta_path_join(char *out, size_t len, size_t cap, const char *rel, size_t n)
{
    while (len && out[len - 1] == '/')
        len--;
    for (size_t i = 0; i < n;) {
        while (i < n && rel[i] == '/')
            i++;
        size_t c = i;
        while (i < n && rel[i] != '/')
            i++;
        size_t cl = i - c;
        if (cl == 0 || (cl == 1 && rel[c] == '.'))
            continue;
        if (cl == 2 && rel[c] == '.' && rel[c + 1] == '.') {
            while (len && out[len - 1] != '/')
                len--;
            if (len)
                len--; /* its slash; "/.." is "/" */
            continue;
        }
        if (len + 1 + cl + 1 > cap)
            return 0;
        out[len++] = '/';
        memcpy(out + len, rel + c, cl);
        len += cl;
    }
    if (!len)
        out[len++] = '/';
    out[len] = 0;
    return len;
}

/* Does the absolute path p (n bytes) hold an empty, "." or ".." component, or end in '/'?
 * From slash to slash with libc's memchr (32 bytes at a time), not byte by byte (bench/
 * NOTES.md, row 46); only for paths that needs_clean below cannot clear. */
static bool needs_clean_walk(const char *p, size_t n)
{
    for (const char *q = p; (q = memchr(q, '/', n - (size_t)(q - p))); q++) {
        size_t i = (size_t)(q - p);
        if (i + 1 == n)
            return n > 1;
        if (p[i + 1] == '/')
            return true;
        if (p[i + 1] == '.' &&
            (i + 2 == n || p[i + 2] == '/' ||
             (p[i + 2] == '.' && (i + 3 == n || p[i + 3] == '/'))))
            return true;
    }
    return false;
}

/* 0x80 in each byte of w equal to the byte of c8 (c8: one byte repeated), 0 in the others:
 * exact, no borrow from one byte into the next */
static inline uint64_t bytes_eq(uint64_t w, uint64_t c8)
{
    const uint64_t l7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t x = w ^ c8;
    return ~(((x & l7) + l7) | x | l7);
}

/* needs_clean_walk's answer. A path needs cleaning only where a slash is followed by '/'
 * or '.', or at a trailing slash: most have neither, and are cleared here 8 bytes a step
 * (two loads, three compares), where the walk cost a memchr call per component: ~200
 * instructions for a 27-byte path of 4 components (bench/NOTES.md, row 59). Every
 * distinct path, and every one the thread's cache misses, passes here. */
static bool needs_clean(const char *p, size_t n)
{
    const uint64_t slash = 0x2f2f2f2f2f2f2f2full, dot = 0x2e2e2e2e2e2e2e2eull;
    if (n > 1 && p[n - 1] == '/')
        return true;
    size_t i = 0;
    for (; i + 9 <= n; i += 8) { /* slashes at i .. i + 7, and the byte after each */
        uint64_t a, b;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 1, 8);
        if (bytes_eq(a, slash) & (bytes_eq(b, slash) | bytes_eq(b, dot)))
            return needs_clean_walk(p, n);
    }
    for (; i + 1 < n; i++)
        if (p[i] == '/' && (p[i + 1] == '/' || p[i + 1] == '.'))
            return needs_clean_walk(p, n);
    return false;
}

/* `path` (n bytes) as the agent names it: relative ones joined to `base` (an absolute
 * directory; NULL: unknown, then kept as given), absolute ones cleaned when they need it.
 * Points into buf or at path; its length in *len. */
TA_HOT static const char *absolute(const char *base, const char *path, size_t n, char *buf,
                            size_t cap, size_t *len)
{
    *len = n;
    size_t bn = 0;
    if (path[0] == '/') {
        if (!needs_clean(path, n))
            return path;
    } else if (base && base[0] == '/') {
        bn = strlen(base);
        if (bn >= cap)
            return path;
        memcpy(buf, base, bn);
    } else {
        return path;
    }
    size_t m = ta_path_join(buf, bn, cap, path, n);
    if (!m)
        return path;
    *len = m;
    return buf;
}

static void set_cwd(uint32_t id)
{
    atomic_store_explicit(&cwd_id, id, memory_order_relaxed);
    /* release: a thread that sees the new generation sees the new cwd (path_id_cached) */
    atomic_fetch_add_explicit(&ta_cwd_gen, 1, memory_order_release);
}

/* The kernel's cwd, when the agent cannot tell it: one getcwd, in a chdir or fchdir the
 * program has just made (a relative chdir after getcwd failed at init; fchdir to a
 * directory fd the agent did not see opened). */
static void cwd_from_kernel(void)
{
    char buf[4096];
    long r = syscall(SYS_getcwd, buf, sizeof buf);
    set_cwd(r > 1 && buf[0] == '/' ? ta_intern(buf, strlen(buf)) : 0);
}

/* Does p hold a ".." component? */
static bool has_dotdot(const char *p)
{
    for (const char *q = p; (q = strstr(q, "..")); q += 2)
        if ((q == p || q[-1] == '/') && (q[2] == 0 || q[2] == '/'))
            return true;
    return false;
}

void ta_cwd_chdir(const char *path)
{
    int saved = errno;
    uint32_t cwd = atomic_load_explicit(&cwd_id, memory_order_relaxed);
    char buf[4096];
    size_t m = 0;
    const char *p = NULL;
    /* ".." after a symbolic link is its target's parent, not the link's: chdir("/d/lnk")
     * then chdir("..") left the agent in /d while the kernel was in the target's parent,
     * and every relative path after it named a file elsewhere. Asked to the kernel then,
     * unless the program is sandboxed (no system call of the agent's own). */
    if (has_dotdot(path) && !ta_sandboxed)
        cwd = 0, path = ""; /* cwd_from_kernel below */
    if (path[0] == '/' || cwd)
        p = absolute(cwd ? ta_str(cwd) : NULL, path, strlen(path), buf, sizeof buf, &m);
    if (p && p[0] == '/')
        set_cwd(ta_intern(p, m));
    else /* no cwd to start from, or too long */
        cwd_from_kernel();
    errno = saved;
}

void ta_cwd_fchdir(int fd)
{
    int saved = errno;
    struct ta_fdent *e = ta_fd_slot(fd);
    if (e && e->used && e->path && ta_str(e->path)[0] == '/')
        set_cwd(e->path);
    else
        cwd_from_kernel();
    errno = saved;
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
    bool rel = path[0] != '/';
    uint32_t gen = 0, cwd = 0;
    if (rel) {
        /* acquire: pairs with set_cwd's release; the cwd read next is at least as new as
         * this generation (an older one is only kept under an older generation) */
        gen = atomic_load_explicit(&ta_cwd_gen, memory_order_acquire);
        cwd = atomic_load_explicit(&cwd_id, memory_order_relaxed);
        /* a relative path this thread named lately from the same buffer, in the same cwd:
         * read as the inline hit for absolute ones (fdtab.h), id after the text */
        if (t && !t->path_filling && t->path_gen == gen && t->path_cache[slot].ptr == path &&
            t->path_cache[slot].inl == 2 && strcmp(path, t->path_cache[slot].text) == 0) {
            atomic_signal_fence(memory_order_seq_cst);
            *excluded = false;
            return t->path_cache[slot].id;
        }
    }
    /* strcmp, not a loop of our own: libc's compares 32 bytes at a time (bench/NOTES.md,
     * row 17), and never reads past either string's end. Only absolute
     * paths: a long relative path's entry never matches its absolute text. */
    if (!rel && t && !t->path_filling && t->path_cache[slot].ptr == path &&
        !t->path_cache[slot].inl) {
        uint32_t id = t->path_cache[slot].id;
        if (strcmp(path, ta_str(id)) == 0)
            return id;
    }
    size_t n = strlen(path), an;
    char buf[4096];
    const char *p = absolute(cwd ? ta_str(cwd) : NULL, path, n, buf, sizeof buf, &an);
    bool x = nexcl && ta_path_excluded(p, an);
    uint32_t id = x || !an ? 0 : ta_intern(p, an);
    *excluded = x;
    /* excluded paths are not cached: they pass through anyway; long relative ones neither
     * (see above) */
    if (t && id && !t->path_filling && (!rel || n < sizeof t->path_cache[slot].text)) {
        t->path_filling = 1;
        atomic_signal_fence(memory_order_seq_cst);
        if (rel && t->path_gen != gen) { /* the cwd changed: forget the older relative paths */
            for (unsigned i = 0; i < sizeof t->path_cache / sizeof t->path_cache[0]; i++)
                t->path_cache[i].ptr = NULL;
            t->path_gen = gen;
        }
        t->path_cache[slot].ptr = path;
        t->path_cache[slot].id = id;
        t->path_cache[slot].inl = n < sizeof t->path_cache[slot].text ? 1 + rel : 0;
        if (t->path_cache[slot].inl)
            memcpy(t->path_cache[slot].text, path, n + 1);
        else
            t->path_cache[slot].text[0] = 0;
        atomic_signal_fence(memory_order_seq_cst);
        t->path_filling = 0;
    }
    return id;
}

TA_HOT uint32_t ta_path_id_slow(int dirfd, const char *path, bool empty_ok, bool *excluded)
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
    if (dirfd == AT_FDCWD) { /* an empty path */
        return n == 0 && empty_ok ? atomic_load_explicit(&cwd_id, memory_order_relaxed) : 0;
    } else {
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
            if (dp[0] == '/') {
                p = absolute(dp, path, n, buf, sizeof buf, &n);
            } else if (dn && dn + 1 + n < sizeof buf) { /* a relative dir: cwd unknown */
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
/* Fds open at start: looked up once, from the constructor                              */

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

/* fd's path and offset from /proc/self/fd, its flags from fcntl (three system calls). */
static void discover(int fd, struct ta_fdent *e)
{
    char link[64], target[4096];
    if (ta_is_agent_fd(fd) || e->used)
        return;
    ta_fmt(link, sizeof link, "/proc/self/fd/%d", fd);
    long m = syscall(SYS_readlinkat, AT_FDCWD, link, target, sizeof target - 1);
    if (m <= 0) /* closed meanwhile */
        return;
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
    ta_fd_opened(fd, id, fl < 0 ? 0 : (int)fl, excluded, off < 0 ? -1 : off);
    if (id)
        group_if_shared(fd, e);
}

/* Every fd open now (inherited at start, or across exec). A few system calls per fd, once,
 * before main: none later on the program's thread, which may be under a seccomp filter by
 * then. No /proc: these fds stay unknown. */
long ta_proc_fds(int dir, void (*fn)(int fd, void *arg), void *arg)
{
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0)
        for (long off = 0; off < n;) {
            const char *name = buf + off + 19;          /* struct linux_dirent64: d_name */
            off += *(unsigned short *)(buf + off + 16); /* d_reclen */
            long fd = 0;
            if (*name < '0' || *name > '9')
                continue;
            while (*name >= '0' && *name <= '9' && fd <= INT32_MAX)
                fd = fd * 10 + (*name++ - '0');
            if (fd != dir && fd <= INT32_MAX)
                fn((int)fd, arg);
        }
    return n;
}

static void discover_fd(int fd, void *arg)
{
    (void)arg;
    if (fd < TA_FD_MAX)
        discover(fd, &ta_fdtab[fd]);
}

static void discover_open_fds(void)
{
    int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    ta_proc_fds(dir, discover_fd, NULL);
    syscall(SYS_close, dir);
}

void ta_fdtab_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    int saved = errno;
    char cwd[4096];
    long r = syscall(SYS_getcwd, cwd, sizeof cwd);
    if (r <= 1 || cwd[0] != '/') /* no cwd ("(unreachable)" outside a chroot) */
        cwd[0] = 0;
    if (cwd[0])
        atomic_store_explicit(&cwd_id, ta_intern(cwd, strlen(cwd)), memory_order_relaxed);
    excl_init(cwd);
    discover_open_fds();
    errno = saved;
}
