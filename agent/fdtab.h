/* The file-descriptor table of the I/O family (posix.c, stdio.c): what the agent knows about
 * each open fd of the program, so that a call on an fd or a FILE* can name its file and say
 * at which offset its transfer started.
 *
 * One entry per fd number below TA_FD_MAX, in a zero-initialised array (.bss: pages are
 * touched only when an fd in them is used). An fd at or above TA_FD_MAX is traced without
 * path or offset. Entries are shared by all threads without a lock: each field is one aligned
 * store, and offsets are relaxed atomics. Two threads racing on one fd (or on close and reuse
 * of one fd number) are racing in the program too; the worst outcome is a wrong or missing
 * path/offset on the racing calls, never a crash.
 *
 * Offsets are -1 when unknown. What the agent tracks is the kernel offset as the program's
 * own calls move it (read/write/lseek...); whatever moves it behind the agent's back (stdio's
 * internal buffering, another process sharing the open file description, a dup'ed fd) makes
 * it unknown, see ta_fd_dup() and the notes at the top of posix.c. */
#ifndef TA_FDTAB_H
#define TA_FDTAB_H

#include <fcntl.h>
#include <string.h>

#include "ta.h"

#define TA_FD_MAX 65536

struct ta_fdent {
    /* Offsets are stored plus one, so that the zeroed entry of an fd the agent never saw
     * opened (a socket, a pipe) says "unknown". Use the accessors below. */
    int64_t off1;    /* kernel file offset as tracked, + 1; 0 unknown (relaxed atomic) */
    int64_t spos1;   /* logical position of the FILE* open on this fd, + 1; 0 unknown */
    uint32_t path;   /* interned absolute path (ta_path_id); 0 unknown */
    uint32_t group;  /* != 0: shares its open file description with the other fds of this
                      * group (dup). Their calls move one offset the agent cannot attribute
                      * to an fd, so offsets stay unknown while the group has two members */
    uint8_t used;    /* the agent saw this fd being opened, or looked it up at start */
    uint8_t excluded;/* path is under an excluded prefix: pass calls through, record nothing */
    uint8_t append;  /* O_APPEND: writes go to the end, their offset is unknown */
    uint8_t stream;  /* a FILE* is open on this fd: stdio moves the kernel offset behind the
                      * agent's back, so `off` stays unknown and `spos` is the position */
};
_Static_assert(sizeof(struct ta_fdent) == 32, "two entries per cache line");

extern struct ta_fdent ta_fdtab[TA_FD_MAX];

/* The entry of `fd`, or NULL for a negative or too large fd; as it is, for the table's
 * own upkeep. */
static inline struct ta_fdent *ta_fd_slot(int fd)
{
    return ta_likely((unsigned)fd < TA_FD_MAX) ? &ta_fdtab[fd] : NULL;
}

/* The entry of `fd`, or NULL for a negative or too large fd. Fds open at start (inherited,
 * or across exec) were looked up in /proc/self/fd by ta_fdtab_init, from the constructor;
 * an fd made later by a call the agent does not see (socket, pipe, a library's raw system
 * call) stays unknown: no path, no offset. Never a system call here: a program under a
 * seccomp filter is killed by any call it did not make itself (a lazy readlinkat of an
 * inherited fd was). */
static inline struct ta_fdent *ta_fd(int fd) { return ta_fd_slot(fd); }

/* The tracked offset of the fd, -1 when unknown. */
static inline int64_t ta_fd_off(const struct ta_fdent *e)
{
    return __atomic_load_n(&e->off1, __ATOMIC_RELAXED) - 1;
}
/* Store a new tracked offset (ignored while the fd shares its description or carries a
 * FILE*: the offset is not the agent's to know then). */
static inline void ta_fd_set_off(struct ta_fdent *e, int64_t off)
{
    if (!e->group && !e->stream)
        __atomic_store_n(&e->off1, off < 0 ? 0 : off + 1, __ATOMIC_RELAXED);
}
static inline void ta_fd_forget_off(struct ta_fdent *e)
{
    __atomic_store_n(&e->off1, 0, __ATOMIC_RELAXED);
}
/* The FILE*'s logical position, -1 when unknown. */
static inline int64_t ta_fd_spos(const struct ta_fdent *e)
{
    return __atomic_load_n(&e->spos1, __ATOMIC_RELAXED) - 1;
}
static inline void ta_fd_set_spos(struct ta_fdent *e, int64_t pos)
{
    __atomic_store_n(&e->spos1, pos < 0 ? 0 : pos + 1, __ATOMIC_RELAXED);
}

/* Set up the exclude list (from ta_cfg, plus the output directory), read the cwd, and look
 * up the fds open at start (/proc/self/fd: their paths, offsets, flags, and which share one
 * open file description). Called once from ta_posix_init(), in the constructor, before the
 * program can have installed a seccomp filter; safe to call again (it does nothing then). */
void ta_fdtab_init(void);

/* fn(fd, arg) for each fd listed in `dir` (an open /proc/self/fd) but `dir` itself, by raw
 * system calls; the last getdents64's result: 0 when all were listed. */
long ta_proc_fds(int dir, void (*fn)(int fd, void *arg), void *arg);

/* The working directory, for relative paths: read once at init, then followed through the
 * program's chdir/fchdir (posix.c) without a system call. `ta_cwd_gen` changes with every
 * change of it (the per-thread path cache keeps relative paths only within one). */
extern _Atomic uint32_t ta_cwd_gen;
void ta_cwd_chdir(const char *path) __attribute__((cold)); /* after a chdir(path) that worked */
void ta_cwd_fchdir(int fd) __attribute__((cold));          /* after an fchdir(fd) that worked */

/* Inline, as the other helpers a wrapper calls on its common path: each code page a call
 * touches after a system call is one more instruction-TLB miss on machines without PCID,
 * and the front end waits for it (bench/NOTES.md, row 23). */
extern _Atomic int ta_fd_hwm; /* 1 + the highest fd ever entered: bounds the table scans */
void ta_fd_raise_hwm_slow(int fd) __attribute__((cold));
void ta_fd_leave_group(int fd, uint32_t g) __attribute__((cold));
/* fcntl(F_SETFL): O_APPEND is a flag of the open file description, so of e's whole group. */
void ta_fd_set_append(struct ta_fdent *e, bool on) __attribute__((cold));
static inline void ta_fd_raise_hwm(int fd)
{
    /* relaxed: only a bound for scans, which tolerate a stale value */
    if (ta_unlikely(fd + 1 > atomic_load_explicit(&ta_fd_hwm, memory_order_relaxed)))
        ta_fd_raise_hwm_slow(fd);
}
static inline void ta_fd_clear(struct ta_fdent *e)
{
    e->used = 0;
    e->path = 0;
    e->excluded = 0;
    e->append = 0;
    e->stream = 0;
    e->group = 0;
    __atomic_store_n(&e->off1, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->spos1, 0, __ATOMIC_RELAXED);
}

/* `fd` was just opened on `path` (interned id, 0 unknown) with open flags `oflags`. The
 * offset starts at `off` (0 for open(2), -1 when unknown). `excluded` entries record
 * nothing. */
static inline void ta_fd_opened(int fd, uint32_t path, int oflags, bool excluded, int64_t off)
{
    struct ta_fdent *e = ta_fd_slot(fd);
    if (!e)
        return;
    if (ta_unlikely(e->group)) /* stale: the fd was closed behind the agent's back */
        ta_fd_leave_group(fd, e->group);
    ta_fd_clear(e);
    e->path = path;
    e->excluded = excluded;
    e->append = (oflags & O_APPEND) != 0;
    ta_fd_set_off(e, off);
    e->used = 1;
    ta_fd_raise_hwm(fd);
}
/* `fd` is closed (or about to be): forget everything about it. */
static inline void ta_fd_closed(int fd)
{
    struct ta_fdent *e = ta_fd_slot(fd);
    if (!e)
        return;
    if (ta_unlikely(e->group))
        ta_fd_leave_group(fd, e->group);
    ta_fd_clear(e);
}
/* close_range(first, last): forget every fd in the range. */
void ta_fd_closed_range(unsigned first, unsigned last);
/* `newfd` is a duplicate of `oldfd` (dup, dup2, dup3, F_DUPFD): same path and flags, and
 * both now share one file offset, which therefore stays unknown until only one of them
 * is left open (then it is unknown until the next lseek). */
void ta_fd_dup(int oldfd, int newfd);

/* Is `path` (length n) under an excluded prefix (TRACEAGENT_EXCLUDE, or the output
 * directory)? Plain prefix match on the path as given, after dropping leading "./". */
bool ta_path_excluded(const char *path, size_t n);

/* Intern the path a call names, made absolute as Darshan does: a relative path is joined to
 * the cwd (AT_FDCWD) or to `dirfd`'s path, and "." and ".." are resolved lexically (symlinks
 * are not: the name is the program's, not the kernel's). An absolute path is kept as given
 * unless it holds "//", "." or ".." components. Relative to a cwd or dirfd the agent does
 * not know (getcwd failed at init; a directory fd from a call it does not see), the path
 * stays as given. Sets *excluded (and returns 0) for an excluded path, or when `dirfd` is
 * itself excluded. An empty path with `empty_ok` (AT_EMPTY_PATH) names `dirfd` itself.
 * No system call: one join and one intern for a relative path the thread's cache does not
 * hold (its entries are kept while the cwd does not change). */
uint32_t ta_path_id_slow(int dirfd, const char *path, bool empty_ok, bool *excluded);
static inline uint32_t ta_path_id(int dirfd, const char *path, bool empty_ok, bool *excluded)
{
    /* glibc's headers declare most path arguments nonnull, and GCC then drops the NULL
     * check below in the wrappers: hide where `path` comes from (stat(NULL) is EFAULT) */
    __asm__("" : "+r"(path));
    /* the common case inline: a path this thread named lately from the same buffer, short
     * enough for its copy in the cache (fdtab.c: path_id_cached) */
    struct ta_thread *t = ta_self;
    if (t && path && path[0] && (path[0] == '/' || dirfd == AT_FDCWD) && !t->path_filling) {
        unsigned slot = ((uintptr_t)path >> 4) & 7;
        /* inl 1: an absolute path (a relative one's entry, inl 2, is checked against the
         * cwd's generation in fdtab.c, so that this stays as it was for absolute paths) */
        if (t->path_cache[slot].ptr == path && t->path_cache[slot].inl == 1 &&
            strcmp(path, t->path_cache[slot].text) == 0) {
            atomic_signal_fence(memory_order_seq_cst); /* id after the text: fdtab.c */
            *excluded = false;
            return t->path_cache[slot].id;
        }
    }
    return ta_path_id_slow(dirfd, path, empty_ok, excluded);
}

/* Enter a call on `fd` of category `cat`: its entry in *e (NULL beyond the table). NULL
 * when the call is not recorded: agent off, or the fd's file is excluded (then the wrapper
 * just makes the call). Pair a non-NULL result with ta_leave(). */
static inline struct ta_thread *ta_io_enter(int cat, int fd, struct ta_fdent **e)
{
    struct ta_thread *t = ta_enter(cat);
    if (!t)
        return NULL;
    *e = ta_fd(fd);
    if (*e && (*e)->excluded) {
        ta_leave(t);
        return NULL;
    }
    return t;
}

/* TA_SPAN_ENTER (ta.h) for a call on `fd`: its entry in `e` (NULL beyond the table); not
 * recorded either when the fd's file is excluded. */
#define TA_SPAN_ENTER_FD(sp, cat, fd, e)                                                  \
    (!TA_NOP && ((sp).t = ta_io_enter(cat, fd, &(e))) != NULL)

/* ------------------------------------------------------------------------------------ */
/* The record of one I/O call (posix.c, stdio.c): what it says beyond its span, named at
 * each call (designated initializers). A field not named is 0; fd, bytes and off have no
 * "none" at 0: name them, -1 for none. */
struct ta_io {
    int fd;         /* < 0: no fd */
    uint32_t path;  /* interned ids, 0 none: the file, */
    uint32_t str2;  /* a second path (rename: the new name; copies: the destination) */
    int64_t ret;    /* the result */
    int64_t bytes;  /* bytes moved; < 0 not known (not shown after a failure either) */
    int64_t off;    /* where the transfer started; < 0 unknown */
    bool no_ret;    /* the call returns a pointer: no `ret` shown */
};

/* ta_io_rec(&sp, op, (struct ta_io){...}): the record, into the slot the span peeked; the
 * span's failure is TA_F_ERR with its errno. Hot path: inline, no call but the ring's.
 * ta_io_rec_at takes the fields one by one: a wrapper that handed it the span's or the
 * struct's address compiled to other code (bench/disasm.sh), so the macro unpacks both. */
TA_INLINE void ta_io_rec_at(struct ta_thread *t, struct ta_slot slot, uint64_t t0,
                            uint64_t t1, int failed, int err, const struct ta_op *op, int fd,
                            uint32_t path, uint32_t str2, int64_t ret, int64_t bytes,
                            int64_t off, bool no_ret)
{
    struct ta_rec *rec = ta_rec_begin_peeked(t, slot);
    if (ta_unlikely(!rec))
        return; /* counted as dropped by the ring */
    ta_rec_span(rec, op, t0, t1, (uint8_t)(t->depth - 1));
    uint8_t f = 0;
    rec->u.io.ret = ret;
    rec->u.io.bytes = bytes;
    rec->u.io.offset = off;
    rec->str = path;
    rec->str2 = str2;
    rec->fd = fd;
    if (!no_ret)
        f |= TA_F_RET;
    if (fd >= 0)
        f |= TA_F_FD;
    if (bytes >= 0 && !failed)
        f |= TA_F_BYTES;
    if (off >= 0)
        f |= TA_F_OFFSET;
    if (failed) {
        f |= TA_F_ERR;
        rec->err = (uint16_t)err;
    }
    rec->flags = f;
    ta_rec_commit(t);
}
#define ta_io_rec(sp, op, ...)                                                            \
    do {                                                                                  \
        const struct ta_io io_ = __VA_ARGS__; /* the compound literal: its commas */      \
        ta_io_rec_at((sp)->t, (sp)->slot, (sp)->t0, (sp)->t1, (sp)->failed, (sp)->err, op, \
                     io_.fd, io_.path, io_.str2, io_.ret, io_.bytes, io_.off, io_.no_ret); \
    } while (0)

#endif
