/* POSIX I/O: the fd calls of the C library, traced as category "posix".
 *
 * Notes on the I/O family (posix.c, stdio.c, fdtab.c):
 *
 * - Names. Every exported symbol a program can bind to is wrapped under its own name and
 *   recorded under it: a program built with -D_FILE_OFFSET_BITS=64 calls open64, pread64,
 *   fcntl64, fstatat64...; one built with _FORTIFY_SOURCE calls __read_chk, __open_2,
 *   __fread_chk... (when the buffer size is known). Each wrapper calls the real function of
 *   the same name, so each call is traced once: glibc's own internal calls (fread's read(2),
 *   fopen's open(2)) bind inside libc and never reach a wrapper.
 *
 * - Real functions are resolved in ta_posix_init() (from the core's constructor). A call that
 *   comes before that (another library's constructor) or while resolving (dlsym) finds a NULL
 *   pointer and takes the bootstrap path: the raw system call, unrecorded. pread, pwrite,
 *   lseek and stat make their system call themselves when that is all glibc's function
 *   would do ("Direct calls" below).
 *
 * - Records: fd, path (interned, absolute: fdtab.h ta_path_id; for calls on an fd, the
 *   path it was opened with), ret,
 *   bytes actually moved (bytes for mmap/munmap: the length mapped), offset where the
 *   transfer started when known, errno on failure. sendfile and copy_file_range are one
 *   record on the source fd (path = source, str2 = destination path, TA_IO_COPY): the
 *   stats count a read of the source and a write of the destination (`cp` copies with
 *   copy_file_range: its destinations showed 0 bytes written). rename: path = old,
 *   str2 = new.
 *
 * - Offsets (fdtab.h). open sets the offset to 0; read/write/readv/writev/sendfile move it
 *   by the bytes moved; lseek sets it from its result; pread/pwrite leave it. Unknown, and
 *   then not reported, are: writes to an O_APPEND fd (the kernel writes at the end, which
 *   the agent does not know without a syscall; after such a write the offset is unknown
 *   until the next lseek; pwrite on O_APPEND also appends, Linux-style); fds that share
 *   their open file description after dup/dup2/dup3/F_DUPFD, or from the start (fds 1
 *   and 2 of `prog > log 2>&1`, told by kcmp at start), until one is closed and the
 *   other is lseek'ed; fds carrying a FILE* (stdio moves the kernel offset in its own
 *   buffer fills; the FILE* has its own logical position, see stdio.c); fds opened by
 *   calls the agent does not wrap (socket, pipe, accept, ...; opendir's fd has a path).
 *   Fds inherited at start (0, 1, 2, fds across exec) get their path and offset from
 *   /proc/self/fd in the constructor (fdtab.c; never later: no system call of the agent's
 *   own on the program's thread, which may be under a seccomp filter). Offsets
 *   of a file shared with another process (fork) can be wrong once both use it. Opening a
 *   FIFO or device starts at "offset 0" like a file: the agent does not stat it.
 *
 * - Excludes (TRACEAGENT_EXCLUDE prefixes, and the output directory) are checked when a
 *   path is named (open, stat, unlink, ...); an fd opened on an excluded path carries an
 *   `excluded` bit, and every call on it passes through unrecorded.
 *
 * - The agent's own fds: the program has no fd of that number, so its calls go as without
 *   the agent: close() fails with EBADF, close_range() closes the others, dup/dup2/dup3/
 *   fcntl from one fail with EBADF; a dup2/dup3 onto one (or a dup/F_DUPFD that would get
 *   its number) first moves the agent's file to another number (agent_fd_clash).
 *   With the LTTng exporter loaded, liblttng-ust's fds are kept the same way from
 *   close/close_range/closefrom (through liblttng-ust-common, as liblttng-ust-fd.so does);
 *   a dup2/dup3 onto one goes through, as with liblttng-ust-fd (see ta_lttng_safe_close).
 *
 * - mmap/mmap64 are recorded only for file maps (fd >= 0, no MAP_ANONYMOUS); munmap only
 *   when its address is the start of a recorded file map (a small lock-free table; when no
 *   file map is live, munmap costs one load); a failed munmap leaves the map recorded, and
 *   mremap moves its entry (not recorded itself). Maps the table cannot hold are not
 *   matched.
 *
 * - fcntl/fcntl64: only F_DUPFD and F_DUPFD_CLOEXEC are recorded (as dups); every other
 *   command passes through (F_SETFL updates the agent's O_APPEND bit silently, on every
 *   fd of a dup group: it is the open file description's).
 *
 * - A vfork() child shares the parent's memory: vfork is the agent's (core.c), and in the
 *   child nothing is recorded and the fd table is left alone (TA_UPKEEP); children made
 *   with clone(CLONE_VM) some other way are caught on dup2/dup3/close_range
 *   (ta_in_forked_copy).
 *
 * - closefrom is the agent's (glibc's closes behind the wrappers' back, the agent's own fds
 *   included); closedir tells the fd table its fd is gone (after fdopendir).
 */
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdtab.h"

/* Declared by no header without _FORTIFY_SOURCE, or no longer (__xstat, glibc 2.33). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
int __xstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int fcntl64(int fd, int cmd, ...);
void __chk_fail(void) __attribute__((noreturn));

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif

/* ------------------------------------------------------------------------------------ */
/* Real functions                                                                       */

TA_REAL(int, open, const char *, int, ...)
TA_REAL(int, open64, const char *, int, ...)
TA_REAL(int, openat, int, const char *, int, ...)
TA_REAL(int, openat64, int, const char *, int, ...)
TA_REAL(int, creat, const char *, mode_t)
TA_REAL(int, creat64, const char *, mode_t)
TA_REAL(int, __open_2, const char *, int)
TA_REAL(int, __open64_2, const char *, int)
TA_REAL(int, __openat_2, int, const char *, int)
TA_REAL(int, __openat64_2, int, const char *, int)
TA_REAL(int, close, int)
TA_REAL(int, close_range, unsigned, unsigned, int)
TA_REAL(ssize_t, read, int, void *, size_t)
TA_REAL(ssize_t, write, int, const void *, size_t)
TA_REAL(ssize_t, pread, int, void *, size_t, off_t)
TA_REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
TA_REAL(ssize_t, pread64, int, void *, size_t, off64_t)
TA_REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
TA_REAL(ssize_t, readv, int, const struct iovec *, int)
TA_REAL(ssize_t, writev, int, const struct iovec *, int)
TA_REAL(ssize_t, preadv, int, const struct iovec *, int, off_t)
TA_REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
TA_REAL(ssize_t, preadv64, int, const struct iovec *, int, off64_t)
TA_REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t)
TA_REAL(ssize_t, preadv2, int, const struct iovec *, int, off_t, int)
TA_REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
TA_REAL(ssize_t, preadv64v2, int, const struct iovec *, int, off64_t, int)
TA_REAL(ssize_t, pwritev64v2, int, const struct iovec *, int, off64_t, int)
TA_REAL(off_t, lseek, int, off_t, int)
TA_REAL(off64_t, lseek64, int, off64_t, int)
TA_REAL(int, fsync, int)
TA_REAL(int, fdatasync, int)
TA_REAL(int, sync_file_range, int, off64_t, off64_t, unsigned int)
TA_REAL(int, ftruncate, int, off_t)
TA_REAL(int, ftruncate64, int, off64_t)
TA_REAL(void *, mmap, void *, size_t, int, int, int, off_t)
TA_REAL(void *, mmap64, void *, size_t, int, int, int, off64_t)
TA_REAL(int, munmap, void *, size_t)
TA_REAL(int, stat, const char *, struct stat *)
TA_REAL(int, lstat, const char *, struct stat *)
TA_REAL(int, fstat, int, struct stat *)
TA_REAL(int, fstatat, int, const char *, struct stat *, int)
TA_REAL(int, stat64, const char *, struct stat64 *)
TA_REAL(int, lstat64, const char *, struct stat64 *)
TA_REAL(int, fstat64, int, struct stat64 *)
TA_REAL(int, fstatat64, int, const char *, struct stat64 *, int)
TA_REAL(int, __xstat, int, const char *, struct stat *)
TA_REAL(int, __lxstat, int, const char *, struct stat *)
TA_REAL(int, __fxstat, int, int, struct stat *)
TA_REAL(int, __fxstatat, int, int, const char *, struct stat *, int)
TA_REAL(int, __xstat64, int, const char *, struct stat64 *)
TA_REAL(int, __lxstat64, int, const char *, struct stat64 *)
TA_REAL(int, __fxstat64, int, int, struct stat64 *)
TA_REAL(int, __fxstatat64, int, int, const char *, struct stat64 *, int)
TA_REAL(int, statx, int, const char *, int, unsigned int, struct statx *)
TA_REAL(int, dup, int)
TA_REAL(int, dup2, int, int)
TA_REAL(int, dup3, int, int, int)
TA_REAL(int, fcntl, int, int, ...)
TA_REAL(int, fcntl64, int, int, ...)
TA_REAL(ssize_t, sendfile, int, int, off_t *, size_t)
TA_REAL(ssize_t, sendfile64, int, int, off64_t *, size_t)
TA_REAL(ssize_t, copy_file_range, int, off64_t *, int, off64_t *, size_t, unsigned int)
TA_REAL(int, unlink, const char *)
TA_REAL(int, unlinkat, int, const char *, int)
TA_REAL(int, rename, const char *, const char *)
TA_REAL(int, renameat, int, const char *, int, const char *)
TA_REAL(int, renameat2, int, const char *, int, const char *, unsigned int)
TA_REAL(int, mkdir, const char *, mode_t)
TA_REAL(int, mkdirat, int, const char *, mode_t)
TA_REAL(int, rmdir, const char *)
TA_REAL(ssize_t, __read_chk, int, void *, size_t, size_t)
TA_REAL(ssize_t, __pread_chk, int, void *, size_t, off_t, size_t)
TA_REAL(ssize_t, __pread64_chk, int, void *, size_t, off64_t, size_t)
TA_REAL(int, closedir, DIR *)
TA_REAL(DIR *, opendir, const char *)
TA_REAL(int, mkstemp, char *)
TA_REAL(int, mkstemp64, char *)
TA_REAL(int, mkostemp, char *, int)
TA_REAL(int, mkostemp64, char *, int)
TA_REAL(int, mkstemps, char *, int)
TA_REAL(int, mkstemps64, char *, int)
TA_REAL(int, mkostemps, char *, int, int)
TA_REAL(int, mkostemps64, char *, int, int)
TA_REAL(int, chdir, const char *)
TA_REAL(int, fchdir, int)
TA_REAL(void *, mremap, void *, size_t, size_t, int, ...)

/* ------------------------------------------------------------------------------------ */
/* Direct calls. pread, pwrite, lseek and the stat family make their system call in the
 * wrapper (the `syscall` instruction, as glibc's own functions do) instead of calling
 * glibc's function: the system call then returns into the wrapper, where glibc's function
 * returned into glibc's page and then into the wrapper's, one more return and one more
 * instruction-TLB miss after every system call on machines without PCID (bench/NOTES.md,
 * row 26).
 *
 * Only where that is exactly what the call would have done:
 * - the next definition of every such function is glibc's own (ta_in_libc, glibc >= 2.34:
 *   before, libpthread's pread comes first): an interposer of these symbols preloaded after
 *   the agent (Darshan, an I/O redirection library) keeps getting its calls;
 * - no library that rewrites glibc's own system calls is loaded (ta_syscall_patcher:
 *   syscall_intercept, as GekkoFS uses; DAOS's pil4dfs): those see only glibc's;
 * - pthread_cancel was never called through the agent's wrapper. pread and pwrite are
 *   cancellation points, which glibc implements around the system call; from the first
 *   pthread_cancel on, every call goes through glibc again. A thread already inside a
 *   direct pread when the first cancel comes acts on it at its next cancellation point,
 *   once the pread returns: on a local file soon, on a hung NFS or FUSE file system
 *   never (glibc's pread would be cancelled there). A pthread_cancel the program reaches
 *   without the agent's wrapper (from a handle on libc.so.6: dlsym, Python's ctypes) does
 *   not switch the direct calls off: TRACEAGENT_DIRECT=0 does.
 * lseek and stat are not cancellation points. read, write, open and close stay glibc's:
 * they block indefinitely on pipes, sockets, FIFOs and must stay cancellable while they
 * do. x86_64 only (not x32); elsewhere always glibc, and everywhere with
 * TRACEAGENT_DIRECT=0. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define TA_HAVE_DIRECT 1
TA_INLINE long sys4(long nr, long a, long b, long c, long d)
{
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}
#else
#define TA_HAVE_DIRECT 0
TA_INLINE long sys4(long nr, long a, long b, long c, long d)
{
    (void)nr, (void)a, (void)b, (void)c, (void)d;
    return -ENOSYS; /* never called: `direct` is never DIRECT_OK alone */
}
#endif
/* A system call's result as glibc returns it: -1 with errno on failure. */
TA_INLINE long sys_ret(long r)
{
    if (ta_unlikely((unsigned long)r > -4096ul)) {
        errno = (int)-r;
        return -1;
    }
    return r;
}
/* Two bits in one byte, so that a pthread_cancel racing with ta_posix_init always wins. */
enum { DIRECT_OK = 1, DIRECT_CANCELLED = 2 };
static _Atomic unsigned char direct;
#define DIRECT(sys, real)                                                                 \
    (ta_likely(atomic_load_explicit(&direct, memory_order_relaxed) == DIRECT_OK) ? (sys)  \
                                                                                 : (real))
TA_INLINE ssize_t sys_pread(int fd, void *buf, size_t n, off64_t off)
{
    return sys_ret(sys4(SYS_pread64, fd, (long)buf, (long)n, off));
}
TA_INLINE ssize_t sys_pwrite(int fd, const void *buf, size_t n, off64_t off)
{
    return sys_ret(sys4(SYS_pwrite64, fd, (long)buf, (long)n, off));
}
TA_INLINE off64_t sys_lseek(int fd, off64_t off, int whence)
{
    return sys_ret(sys4(SYS_lseek, fd, off, whence, 0));
}
/* As glibc 2.36 on x86_64, whose struct stat is the kernel's: stat, lstat, fstatat (and
 * their 64 names) are newfstatat; fstat is newfstatat(fd, "", AT_EMPTY_PATH), EBADF for a
 * negative fd. */
TA_INLINE int sys_fstatat(int dirfd, const char *path, void *st, int fl)
{
    return (int)sys_ret(sys4(SYS_newfstatat, dirfd, (long)path, (long)st, fl));
}
TA_INLINE int sys_fstat(int fd, void *st)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    return sys_fstatat(fd, "", st, AT_EMPTY_PATH);
}

TA_REAL(int, pthread_cancel, pthread_t)
TA_EXPORT int pthread_cancel(pthread_t th)
{
    atomic_fetch_or_explicit(&direct, DIRECT_CANCELLED, memory_order_relaxed);
    TA_REAL_OR(pthread_cancel, 1, ESRCH);
    return ta_real(th);
}

#define POSIX_FUNCS(X)                                                                    \
    X(open) X(open64) X(openat) X(openat64) X(creat) X(creat64) X(__open_2) X(__open64_2)  \
    X(__openat_2) X(__openat64_2) X(close) X(close_range) X(read) X(write) X(pread)        \
    X(pwrite) X(pread64) X(pwrite64) X(readv) X(writev) X(preadv) X(pwritev) X(preadv64)   \
    X(pwritev64) X(preadv2) X(pwritev2) X(preadv64v2) X(pwritev64v2) X(lseek) X(lseek64)  \
    X(fsync) X(fdatasync) X(sync_file_range) X(ftruncate) X(ftruncate64) X(mmap)          \
    X(mmap64) X(munmap) X(stat) X(lstat) X(fstat) X(fstatat) X(stat64) X(lstat64)         \
    X(fstat64) X(fstatat64) X(__xstat) X(__lxstat) X(__fxstat) X(__fxstatat) X(__xstat64) \
    X(__lxstat64) X(__fxstat64) X(__fxstatat64) X(statx) X(dup) X(dup2) X(dup3) X(fcntl)  \
    X(fcntl64) X(sendfile) X(sendfile64) X(copy_file_range) X(unlink) X(unlinkat)         \
    X(rename) X(renameat) X(renameat2) X(mkdir) X(mkdirat) X(rmdir) X(__read_chk)         \
    X(__pread_chk) X(__pread64_chk) X(pthread_cancel) X(closedir) X(mremap) X(opendir)    \
    X(chdir) X(fchdir) X(mkstemp) X(mkstemp64) X(mkostemp) X(mkostemp64)         \
    X(mkstemps) X(mkstemps64) X(mkostemps) X(mkostemps64)

void ta_posix_init(void)
{
#define RESOLVE(fn) ta_get_real_##fn();
    POSIX_FUNCS(RESOLVE)
#undef RESOLVE
    void *const via_libc[] = {
        real_pread, real_pwrite, real_pread64, real_pwrite64, real_lseek, real_lseek64,
        real_stat, real_lstat, real_fstat, real_fstatat, real_stat64, real_lstat64,
        real_fstat64, real_fstatat64,
    };
    if (TA_HAVE_DIRECT && !ta_cfg.no_direct &&
        ta_in_libc(via_libc, sizeof via_libc / sizeof via_libc[0]) && !ta_syscall_patcher())
        atomic_fetch_or(&direct, DIRECT_OK);
    if (!TA_NOP)
        ta_fdtab_init();
}

/* ------------------------------------------------------------------------------------ */
/* Operations                                                                           */

#define OP(fn, io) TA_OP_DEFINE(op_##fn, #fn, TA_CAT_POSIX, io);
#define OPS_OPEN(X) X(open) X(open64) X(openat) X(openat64) X(creat) X(creat64) X(__open_2) \
    X(__open64_2) X(__openat_2) X(__openat64_2) X(dup) X(dup2) X(dup3) X(fcntl) X(fcntl64) \
    X(mkstemp) X(mkstemp64) X(mkostemp) X(mkostemp64) X(mkstemps) X(mkstemps64)            \
    X(mkostemps) X(mkostemps64)
#define OPS_READ(X) X(read) X(pread) X(pread64) X(readv) X(preadv) X(preadv64) X(preadv2) \
    X(preadv64v2) X(__read_chk) X(__pread_chk) X(__pread64_chk)
#define OPS_WRITE(X) X(write) X(pwrite) X(pwrite64) X(writev) X(pwritev) X(pwritev64) \
    X(pwritev2) X(pwritev64v2)
#define OPS_META(X) X(ftruncate) X(ftruncate64) X(stat) X(lstat) X(fstat) X(fstatat)     \
    X(stat64) X(lstat64) X(fstat64) X(fstatat64) X(__xstat) X(__lxstat) X(__fxstat)       \
    X(__fxstatat) X(__xstat64) X(__lxstat64) X(__fxstat64) X(__fxstatat64) X(statx)       \
    X(unlink) X(unlinkat) X(rename) X(renameat) X(renameat2) X(mkdir) X(mkdirat) X(rmdir)
#define OP_OPEN(fn) OP(fn, TA_IO_OPEN)
#define OP_READ(fn) OP(fn, TA_IO_READ)
#define OP_WRITE(fn) OP(fn, TA_IO_WRITE)
#define OP_META(fn) OP(fn, TA_IO_META)
OPS_OPEN(OP_OPEN)
OPS_READ(OP_READ)
OPS_WRITE(OP_WRITE)
OPS_META(OP_META)
OP(close, TA_IO_CLOSE)
OP(close_range, TA_IO_CLOSE)
OP(closefrom, TA_IO_CLOSE)
OP(lseek, TA_IO_SEEK)
OP(lseek64, TA_IO_SEEK)
OP(fsync, TA_IO_SYNC)
OP(fdatasync, TA_IO_SYNC)
OP(sync_file_range, TA_IO_SYNC)
OP(sendfile, TA_IO_COPY)
OP(sendfile64, TA_IO_COPY)
OP(copy_file_range, TA_IO_COPY)
OP(mmap, TA_IO_MAP)
OP(mmap64, TA_IO_MAP)
OP(munmap, TA_IO_MAP)

/* ------------------------------------------------------------------------------------ */
/* Wrapper kinds: the one shape (ta.h, "The one shape of a wrapper") with what each kind of
 * call records. CALL is the real call, evaluated exactly once on every path.            */

/* A transfer on fd: at its current offset (cur = 1: read, write, readv, ...; the tracked
 * offset moves by the bytes moved) or at `pos` (pread, pwrite, ...). `wr`: a write, whose
 * offset is unknown on an O_APPEND fd (or with `app`, RWF_APPEND). */
#define XFER(opv, fdv, wr, cur, pos, app, CALL)                                            \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        struct ta_fdent *e_ = NULL;                                                       \
        if (!TA_SPAN_ENTER_FD(sp_, TA_CAT_POSIX, fdv, e_))                                 \
            return CALL;                                                                  \
        int app_ = (wr) && ((app) || (e_ && e_->append));                                 \
        int64_t off_ = app_ ? -1 : (cur) ? (e_ ? ta_fd_off(e_) : -1) : (int64_t)(pos);   \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        TA_SPAN_CALL(sp_, ssize_t r_, CALL, r_ < 0);                                      \
        if ((cur) && e_ && r_ > 0) {                                                      \
            if (off_ >= 0)                                                                \
                ta_fd_set_off(e_, off_ + r_);                                             \
            else if (app_)                                                                \
                ta_fd_forget_off(e_);                                                     \
        }                                                                                 \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fdv, .path = path_, .ret = r_,         \
                                             .bytes = r_, .off = off_});                  \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

/* A new fd, not recorded (NOP build, category off): no stale path stays on its number. */
#define UNTRACED_OPEN(CALL)                                                               \
    do {                                                                                  \
        int r0_ = CALL;                                                                   \
        if (TA_UPKEEP && r0_ >= 0)                                                        \
            ta_fd_closed(r0_);                                                            \
        return r0_;                                                                       \
    } while (0)

/* An open: the new fd gets the path (joined with dirfd's), flags, offset 0. */
#define OPEN(opv, dirfd, pathv, flags, CALL)                                               \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_POSIX))                                            \
            UNTRACED_OPEN(CALL);                                                          \
        bool x_;                                                                          \
        uint32_t id_ = ta_path_id(dirfd, pathv, false, &x_);                               \
        TA_SPAN_CALL(sp_, int r_, CALL, r_ < 0);                                          \
        if (r_ >= 0)                                                                      \
            ta_fd_opened(r_, id_, flags, x_, 0);                                          \
        if (!x_)                                                                          \
            ta_io_rec(&sp_, &opv, (struct ta_io){.fd = r_, .path = id_, .ret = r_,        \
                                                 .bytes = -1, .off = -1});                \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

/* A call on one path (stat, unlink, mkdir, ...) or two (rename: path = the first, str2 =
 * the second; d2 < 0 and p2 NULL for one): recorded unless a path is excluded. */
#define ON_PATHS(opv, d1, p1, empty_ok, d2, p2, CALL)                                     \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_POSIX))                                            \
            return CALL;                                                                  \
        bool x1_, x2_ = false;                                                            \
        uint32_t id1_ = ta_path_id(d1, p1, empty_ok, &x1_);                               \
        uint32_t id2_ = (p2) ? ta_path_id(d2, p2, false, &x2_) : 0;                       \
        if (x1_ || x2_) {                                                                 \
            ta_leave(sp_.t);                                                              \
            return CALL;                                                                  \
        }                                                                                 \
        TA_SPAN_CALL(sp_, int r_, CALL, r_ < 0);                                          \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = -1, .path = id1_, .str2 = id2_,         \
                                             .ret = r_, .bytes = -1, .off = -1});         \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)
#define ON_PATH(opv, dirfd, path, empty_ok, CALL)                                         \
    ON_PATHS(opv, dirfd, path, empty_ok, -1, (const char *)NULL, CALL)

/* A call on an fd that moves no data (fstat, fsync, ftruncate, lseek, ...); `pos`: an
 * offset to show (sync_file_range), or -1. RT: its result's type; `seek`: the result is
 * the fd's new offset (lseek). */
#define ON_FD(opv, fdv, RT, seek, pos, CALL)                                               \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        struct ta_fdent *e_ = NULL;                                                       \
        if (!TA_SPAN_ENTER_FD(sp_, TA_CAT_POSIX, fdv, e_))                                 \
            return CALL;                                                                  \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        TA_SPAN_CALL(sp_, RT r_, CALL, r_ < 0);                                           \
        if ((seek) && e_ && r_ >= 0)                                                      \
            ta_fd_set_off(e_, r_);                                                        \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fdv, .path = path_, .ret = r_,          \
                                             .bytes = -1, .off = (seek) ? r_ : (pos)});   \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

/* open's mode argument exists only with O_CREAT or O_TMPFILE. */
#define GET_MODE(flags, mode)                                                             \
    mode_t mode = 0;                                                                      \
    if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) {                        \
        va_list ap_;                                                                      \
        va_start(ap_, flags);                                                             \
        mode = va_arg(ap_, mode_t);                                                       \
        va_end(ap_);                                                                      \
    }

/* The program closes one of the agent's fds: normal (daemons and subprocess children close
 * every fd); the program has no fd of that number, so the call goes as without the agent
 * (close: EBADF; close_range: the others closed) and the agent's stays open. Once, info. */
static _Atomic int warned_agent_fd;
static void warn_agent_fd(const char *what, int fd)
{
    if (atomic_exchange_explicit(&warned_agent_fd, 1, memory_order_relaxed))
        return;
    ta_info("the program called %s on fd %d, the agent's own: left open, as if not there",
            what, fd);
}

/* fd is one of the agent's numbers, in this process's table: a vfork child's table is its
 * own copy, where the program may have put a file of its own at that number (dup2): there
 * its calls on it go through as they are. */
#define AGENT_FD(fd) (ta_unlikely(ta_is_agent_fd(fd)) && !ta_vforked)

/* dup2/dup3 from or onto a number of the agent's: as without the agent. From one: the
 * program has no such fd (EBADF). Onto one: the agent's file moves to another number
 * first, so the program's call does what it asked and the trace goes on where it was
 * (dup2(2, 1000) once sent the trace into the program's stderr). A vfork child's table is
 * its own, the agent's variables are not: nothing moves there. 0, or the errno to fail
 * with. */
__attribute__((cold, noinline)) static int agent_fd_clash(int fd, int fd2)
{
    if (ta_is_agent_fd(fd))
        return EBADF;
    if (fd2 != fd && ta_is_agent_fd(fd2) && !ta_in_forked_copy()) {
        int held = ta_drain_hold(); /* no write of the agent's in flight meanwhile */
        ta_agent_fd_move(fd2);
        ta_drain_unhold(held);
    }
    return 0;
}

/* dup and F_DUPFD give the lowest free number >= `from`; r is what the kernel gave. The
 * agent's numbers below r would be free without the agent, and the lowest of them is what
 * the program would get: the agent's file moves off it and the new fd goes there. */
static int lowest_agent_fd_in(long from, int r)
{
    int all[16], low = -1;
    int k = ta_agent_fds(all, 16);
    for (int i = 0; i < k; i++)
        if (all[i] >= from && all[i] < r && (low < 0 || all[i] < low))
            low = all[i];
    return low;
}

__attribute__((cold, noinline)) static int dupfd_move(int r, long from, int cloexec)
{
    int e = errno;
    if (ta_in_forked_copy())
        return r;
    int held = ta_drain_hold();
    int low = lowest_agent_fd_in(from, r);
    if (low >= 0) {
        ta_agent_fd_move(low); /* low is closed now */
        if (!ta_is_agent_fd(low) &&
            syscall(SYS_dup3, r, low, cloexec ? O_CLOEXEC : 0) == low) {
            syscall(SYS_close, r);
            r = low;
        }
    }
    ta_drain_unhold(held);
    errno = e;
    return r;
}

static inline int dupfd_fix(int r, long from, int cloexec)
{
    if (r < 0 || lowest_agent_fd_in(from, r) < 0)
        return r;
    return dupfd_move(r, from, cloexec);
}

/* ------------------------------------------------------------------------------------ */
/* open                                                                                 */

TA_HOT TA_EXPORT int open(const char *path, int flags, ...)
{
    GET_MODE(flags, mode)
    TA_REAL_OR(open, 0, (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode));
    OPEN(op_open, AT_FDCWD, path, flags, ta_real(path, flags, mode));
}

TA_HOT TA_EXPORT int open64(const char *path, int flags, ...)
{
    GET_MODE(flags, mode)
    TA_REAL_OR(open64, 0, (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE, mode));
    OPEN(op_open64, AT_FDCWD, path, flags, ta_real(path, flags, mode));
}

TA_HOT TA_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    GET_MODE(flags, mode)
    TA_REAL_OR(openat, 0, (int)syscall(SYS_openat, dirfd, path, flags, mode));
    OPEN(op_openat, dirfd, path, flags, ta_real(dirfd, path, flags, mode));
}

TA_HOT TA_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    GET_MODE(flags, mode)
    TA_REAL_OR(openat64, 0, (int)syscall(SYS_openat, dirfd, path, flags | O_LARGEFILE, mode));
    OPEN(op_openat64, dirfd, path, flags, ta_real(dirfd, path, flags, mode));
}

TA_EXPORT int creat(const char *path, mode_t mode)
{
    int flags = O_CREAT | O_WRONLY | O_TRUNC;
    TA_REAL_OR(creat, 0, (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode));
    OPEN(op_creat, AT_FDCWD, path, flags, ta_real(path, mode));
}

TA_EXPORT int creat64(const char *path, mode_t mode)
{
    int flags = O_CREAT | O_WRONLY | O_TRUNC;
    TA_REAL_OR(creat64, 0, (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE, mode));
    OPEN(op_creat64, AT_FDCWD, path, flags, ta_real(path, mode));
}

/* The _2 variants are what fortified programs call when the flags are not constant; they
 * abort on O_CREAT without a mode, which only the real function can do properly. */
TA_EXPORT int __open_2(const char *path, int flags)
{
    TA_REAL_OR(__open_2, 0, (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0));
    OPEN(op___open_2, AT_FDCWD, path, flags, ta_real(path, flags));
}

TA_EXPORT int __open64_2(const char *path, int flags)
{
    TA_REAL_OR(__open64_2, 0, (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE, 0));
    OPEN(op___open64_2, AT_FDCWD, path, flags, ta_real(path, flags));
}

TA_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    TA_REAL_OR(__openat_2, 0, (int)syscall(SYS_openat, dirfd, path, flags, 0));
    OPEN(op___openat_2, dirfd, path, flags, ta_real(dirfd, path, flags));
}

TA_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    TA_REAL_OR(__openat64_2, 0, (int)syscall(SYS_openat, dirfd, path, flags | O_LARGEFILE, 0));
    OPEN(op___openat64_2, dirfd, path, flags, ta_real(dirfd, path, flags));
}

/* mkstemp and its kin open inside libc: recorded as opens, their path (the template as
 * filled in) known after the call. Temporary files of sort, compilers, ... (the fd table
 * no longer looks unknown fds up in /proc on their first use). */
#define MKSTEMP(opv, tmpl, flags, CALL)                                                   \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_POSIX))                                            \
            UNTRACED_OPEN(CALL);                                                          \
        TA_SPAN_CALL(sp_, int r_, CALL, r_ < 0);                                          \
        bool x_ = false;                                                                  \
        uint32_t id_ = 0;                                                                 \
        if (r_ >= 0) {                                                                    \
            id_ = ta_path_id(AT_FDCWD, tmpl, false, &x_);                                 \
            ta_fd_opened(r_, id_, O_RDWR | (flags), x_, 0);                               \
        }                                                                                 \
        if (!x_)                                                                          \
            ta_io_rec(&sp_, &opv, (struct ta_io){.fd = r_, .path = id_, .ret = r_,        \
                                                 .bytes = -1, .off = -1});                \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

TA_EXPORT int mkstemp(char *t)
{
    TA_REAL_OR(mkstemp, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkstemp, t, 0, ta_real(t));
}

TA_EXPORT int mkstemp64(char *t)
{
    TA_REAL_OR(mkstemp64, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkstemp64, t, 0, ta_real(t));
}

TA_EXPORT int mkostemp(char *t, int fl)
{
    TA_REAL_OR(mkostemp, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkostemp, t, fl, ta_real(t, fl));
}

TA_EXPORT int mkostemp64(char *t, int fl)
{
    TA_REAL_OR(mkostemp64, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkostemp64, t, fl, ta_real(t, fl));
}

TA_EXPORT int mkstemps(char *t, int sl)
{
    TA_REAL_OR(mkstemps, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkstemps, t, 0, ta_real(t, sl));
}

TA_EXPORT int mkstemps64(char *t, int sl)
{
    TA_REAL_OR(mkstemps64, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkstemps64, t, 0, ta_real(t, sl));
}

TA_EXPORT int mkostemps(char *t, int sl, int fl)
{
    TA_REAL_OR(mkostemps, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkostemps, t, fl, ta_real(t, sl, fl));
}

TA_EXPORT int mkostemps64(char *t, int sl, int fl)
{
    TA_REAL_OR(mkostemps64, 1, (errno = ENOSYS, -1));
    MKSTEMP(op_mkostemps64, t, fl, ta_real(t, sl, fl));
}

/* ------------------------------------------------------------------------------------ */
/* pipe2: not traced. libunwind (TRACEAGENT_STACKS, stacks.c) opens a pipe at its first walk
 * to check addresses (write 1 byte from the address: EFAULT or not), keeps it, and opens a
 * new one when a read from it fails (src/x86_64/Ginit.c open_pipe, 1.6), through its PLT:
 * left as they are, fds 3 and 4, taken before the program's first open and within reach
 * of its close/dup2 loops. While this thread runs libunwind (ta_unwinding), the pipe is
 * moved high and registered as the agent's (files.c); otherwise pipe2 is the system's. */

TA_EXPORT int pipe2(int fds[2], int flags)
{
    int r = (int)syscall(SYS_pipe2, fds, flags);
    if (ta_unlikely(ta_unwinding) && r == 0 && !ta_vforked) {
        fds[0] = ta_agent_fd_adopt(fds[0]);
        fds[1] = ta_agent_fd_adopt(fds[1]);
    }
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* close                                                                                */

/* liblttng-ust's fds (its sockets to the session daemon, its wait pipes, its shared
 * memory) when the LTTng exporter is loaded: a program that closes fds it does not own
 * (`for (fd = 3; fd < 1000; fd++) close(fd)`, os.closerange) would close them under it,
 * and liblttng-ust aborts at exit (counter/shm.c: Assertion '0' failed). Set by
 * plugin.c (load_own) after the exporter's load to liblttng-ust-common's
 * lttng_ust_safe_close_fd / lttng_ust_safe_closefrom_fd, what liblttng-ust-fd.so's close
 * goes through: an fd of LTTng's fails with EBADF and stays open, as the agent's own do.
 * NULL otherwise: one test of a pointer. A vfork child's fd table is its own copy: there
 * nothing is LTTng's to protect. */
int (*ta_lttng_safe_close)(int fd, int (*close_cb)(int fd));
int (*ta_lttng_safe_closefrom)(int lowfd, int (*close_cb)(int fd));

static int close_cb(int fd)
{
    return real_close ? real_close(fd) : (int)syscall(SYS_close, fd);
}

static int cloexec_cb(int fd)
{
    return (int)syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
}

__attribute__((cold, noinline)) static int lttng_close(int fd)
{
    return ta_lttng_safe_close(fd, close_cb);
}

#define LTTNG_FDS() (ta_unlikely(ta_lttng_safe_close != NULL) && !ta_vforked)
#define CLOSE_REAL(fd) (LTTNG_FDS() ? lttng_close(fd) : ta_real(fd))

struct lt_range { unsigned lo, hi; int (*cb)(int); int err; };

static void lt_range_fd(int fd, void *arg)
{
    struct lt_range *r = arg;
    if ((unsigned)fd < r->lo || (unsigned)fd > r->hi || ta_is_agent_fd(fd))
        return;
    if (ta_lttng_safe_close(fd, r->cb) < 0 && errno != EBADF && !r->err)
        r->err = errno;
}

/* close_range(lo, hi, flags) with LTTng's fds left open: the fds open in [lo, hi], from
 * /proc/self/fd (or each number up to RLIMIT_NOFILE where it cannot be read), one by
 * one through lttng_ust_safe_close_fd. */
__attribute__((cold, noinline)) static int lttng_close_range(unsigned lo, unsigned hi,
                                                             int flags)
{
    if ((flags & CLOSE_RANGE_UNSHARE) && syscall(SYS_unshare, CLONE_FILES) < 0)
        return -1;
    struct lt_range r = {lo, hi, (flags & CLOSE_RANGE_CLOEXEC) ? cloexec_cb : close_cb, 0};
    int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    long n = -1;
    if (dir >= 0) {
        n = ta_proc_fds(dir, lt_range_fd, &r);
        syscall(SYS_close, dir);
    }
    if (n != 0) { /* no /proc: every number below RLIMIT_NOFILE (2^20 at most) */
        struct rlimit rl;
        unsigned max = hi < (1u << 20) ? hi : (1u << 20);
        if (syscall(SYS_getrlimit, RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= (rlim_t)max)
            max = rl.rlim_cur ? (unsigned)rl.rlim_cur - 1 : 0;
        r.err = 0;
        for (unsigned fd = lo; fd <= max; fd++)
            lt_range_fd((int)fd, &r);
    }
    if (r.err) {
        errno = r.err;
        return -1;
    }
    return 0;
}

TA_HOT TA_EXPORT int close(int fd)
{
    if (AGENT_FD(fd)) {
        if (ta_unwinding) { /* libunwind reopening its pipe (pipe2 below) */
            ta_agent_fd_del(fd);
            return (int)syscall(SYS_close, fd);
        }
        warn_agent_fd("close", fd);
        errno = EBADF;
        return -1;
    }
    TA_REAL_OR(close, 0, (int)syscall(SYS_close, fd));
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_POSIX)) {
        if (TA_UPKEEP)
            ta_fd_closed(fd);
        return CLOSE_REAL(fd);
    }
    struct ta_fdent *e = ta_fd_slot(fd); /* not looked up just to be closed */
    uint32_t path = e && e->used ? e->path : 0;
    bool x = e && e->excluded;
    /* forget it before the fd number can be reused by another thread's open */
    ta_fd_closed(fd);
    TA_SPAN_CALL(sp, int r, CLOSE_REAL(fd), r < 0);
    if (!x)
        ta_io_rec(&sp, &op_close,
                  (struct ta_io){.fd = fd, .path = path, .ret = r, .bytes = -1, .off = -1});
    return TA_SPAN_LEAVE(sp, r);
}

#define MAX_HELD 16
/* The agent's fds within [first, last], sorted; their count. */
static int agent_fds_in(unsigned first, unsigned last, int *out)
{
    int all[MAX_HELD];
    int k = ta_agent_fds(all, MAX_HELD), n = 0;
    for (int i = 0; i < k; i++)
        if ((unsigned)all[i] >= first && (unsigned)all[i] <= last)
            out[n++] = all[i];
    for (int i = 1; i < n; i++) /* insertion sort: a handful of fds */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
        }
    return n;
}

static int do_close_range(unsigned first, unsigned last, int flags)
{
    int held[MAX_HELD];
    int n = first <= last ? agent_fds_in(first, last, held) : 0;
    if (LTTNG_FDS() && first <= last && !ta_in_forked_copy()) {
        if (n)
            warn_agent_fd("close_range", held[0]);
        return lttng_close_range(first, last, flags); /* skips the agent's too: EBADF */
    }
    if (n == 0)
        return real_close_range ? real_close_range(first, last, flags)
                                : (int)syscall(SYS_close_range, first, last, flags);
    warn_agent_fd("close_range", held[0]);
    /* close the gaps between the agent's fds (sorted, all within [first, last]) */
    int r = 0, err = 0;
    unsigned lo = first;
    bool done = false;
    for (int i = 0; i <= n && !done; i++) {
        unsigned hi;
        if (i < n) {
            if ((unsigned)held[i] < lo) /* a duplicate */
                continue;
            hi = (unsigned)held[i] - 1;
        } else {
            hi = last;
        }
        if ((i == n || (unsigned)held[i] > lo) && lo <= hi) {
            int q = real_close_range ? real_close_range(lo, hi, flags)
                                     : (int)syscall(SYS_close_range, lo, hi, flags);
            if (q < 0 && !err) {
                r = q;
                err = errno;
            }
        }
        if (i < n) {
            if ((unsigned)held[i] >= last)
                done = true;
            else
                lo = (unsigned)held[i] + 1;
        }
    }
    if (err)
        errno = err;
    return r;
}

static int close_range_as(const struct ta_op *op, unsigned first, unsigned last, int flags)
{
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_POSIX)) {
        int r0 = do_close_range(first, last, flags);
        if (TA_UPKEEP && r0 == 0 && !(flags & CLOSE_RANGE_CLOEXEC) && !ta_in_forked_copy())
            ta_fd_closed_range(first, last);
        return r0;
    }
    if (ta_in_forked_copy()) { /* vfork child: the table and the ring are the parent's */
        ta_leave(sp.t);
        return do_close_range(first, last, flags);
    }
    struct ta_fdent *e = ta_fd((int)first);
    uint32_t path = e && first == last ? e->path : 0;
    TA_SPAN_CALL(sp, int r, do_close_range(first, last, flags), r < 0);
    if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
        ta_fd_closed_range(first, last);
    ta_io_rec(&sp, op,
              (struct ta_io){.fd = (int)first, .path = path, .ret = r, .bytes = -1, .off = -1});
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    return close_range_as(&op_close_range, first, last, flags);
}

/* closefrom (glibc 2.34): glibc's own closes with its internal close_range, which the
 * agent does not see: the agent's output fds closed with the program's, and a later fd of
 * the program that took one of their numbers got the trace written into it. Done here as
 * glibc does it: close_range from lowfd up (the agent's fds skipped, the fd table told),
 * and where close_range fails (a kernel before 5.9, a seccomp filter), each fd listed in
 * /proc/self/fd; glibc aborts the program when that fails too, and so does this. */
static void close_quietly(int fd, bool upkeep)
{
    if (ta_is_agent_fd(fd))
        return;
    if (upkeep) /* forgotten first, as close() does: the number may be reused at once */
        ta_fd_closed(fd);
    if (LTTNG_FDS())
        ta_lttng_safe_close(fd, close_cb);
    else
        syscall(SYS_close, fd);
}

struct from_fd { unsigned lo; bool upkeep; };

static void close_from_fd(int fd, void *arg)
{
    const struct from_fd *from = arg;
    if ((unsigned)fd >= from->lo)
        close_quietly(fd, from->upkeep);
}

TA_EXPORT void closefrom(int lowfd)
{
    unsigned lo = lowfd < 0 ? 0 : (unsigned)lowfd;
    int saved = errno;
    if (close_range_as(&op_closefrom, lo, ~0U, 0) == 0)
        return;
    bool upkeep = TA_UPKEEP && !ta_in_forked_copy();
    for (int tries = 0; tries < 2; tries++) {
        int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
                               O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (dir < 0) {
            if (errno != EMFILE || tries)
                break;
            close_quietly((int)lo, upkeep); /* glibc's way out of EMFILE: one fd fewer */
            continue;
        }
        struct from_fd from = {lo, upkeep};
        long n = ta_proc_fds(dir, close_from_fd, &from);
        syscall(SYS_close, dir);
        if (n == 0) {
            errno = saved;
            return;
        }
        break;
    }
    abort(); /* as glibc: "closefrom failed to close a file descriptor" */
}

/* closedir closes the directory's fd inside libc, out of the agent's sight: after
 * fdopendir(fd), that fd's entry would stay, and the next fd with its number (a pipe, a
 * socket) would carry the directory's path. Not recorded: opendir is not either. */
TA_EXPORT int closedir(DIR *d)
{
    TA_REAL_OR(closedir, 1, (errno = ENOSYS, -1));
    __asm__("" : "+r"(d)); /* glibc says nonnull, and returns EINVAL for NULL */
    if (TA_UPKEEP && d) {
        int fd = dirfd(d);
        if (fd >= 0)
            ta_fd_closed(fd);
    }
    return ta_real(d);
}

/* opendir opens the directory's fd inside libc: the fd table learns its path, so that
 * openat(dirfd(d), ...) and fchdir(dirfd(d)) name absolute paths. Not recorded. */
TA_EXPORT DIR *opendir(const char *path)
{
    TA_REAL_OR(opendir, 1, (errno = ENOSYS, (DIR *)NULL));
    DIR *d = ta_real(path);
    if (TA_UPKEEP && d && atomic_load_explicit(&ta_active, memory_order_relaxed)) {
        int saved = errno, fd = dirfd(d);
        bool x;
        uint32_t id = ta_path_id(AT_FDCWD, path, false, &x);
        if (fd >= 0)
            ta_fd_opened(fd, id, O_RDONLY | O_DIRECTORY, x, -1);
        errno = saved;
    }
    return d;
}

/* chdir, fchdir: relative paths are made absolute against the cwd, which the agent follows
 * here, without a system call of its own (fdtab.c: lexically; getcwd only for an fchdir to
 * a directory fd it never saw opened). Not recorded. A vfork child's cwd is its own. */
TA_EXPORT int chdir(const char *path)
{
    TA_REAL_OR(chdir, 0, (int)syscall(SYS_chdir, path));
    int r = ta_real(path);
    if (TA_UPKEEP && r == 0)
        ta_cwd_chdir(path);
    return r;
}

TA_EXPORT int fchdir(int fd)
{
    TA_REAL_OR(fchdir, 0, (int)syscall(SYS_fchdir, fd));
    int r = ta_real(fd);
    if (TA_UPKEEP && r == 0)
        ta_cwd_fchdir(fd);
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* read, write and their vector, positioned and fortified forms                         */

TA_HOT TA_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    TA_REAL_OR(read, 0, syscall(SYS_read, fd, buf, n));
    XFER(op_read, fd, 0, 1, 0, 0, ta_real(fd, buf, n));
}

TA_HOT TA_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    TA_REAL_OR(write, 0, syscall(SYS_write, fd, buf, n));
    XFER(op_write, fd, 1, 1, 0, 0, ta_real(fd, buf, n));
}

TA_HOT TA_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    TA_REAL_OR(pread, 0, syscall(SYS_pread64, fd, buf, n, off));
    XFER(op_pread, fd, 0, 0, off, 0,
         DIRECT(sys_pread(fd, buf, n, off), ta_real(fd, buf, n, off)));
}

TA_HOT TA_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    TA_REAL_OR(pwrite, 0, syscall(SYS_pwrite64, fd, buf, n, off));
    XFER(op_pwrite, fd, 1, 0, off, 0,
         DIRECT(sys_pwrite(fd, buf, n, off), ta_real(fd, buf, n, off)));
}

TA_HOT TA_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    TA_REAL_OR(pread64, 0, syscall(SYS_pread64, fd, buf, n, off));
    XFER(op_pread64, fd, 0, 0, off, 0,
         DIRECT(sys_pread(fd, buf, n, off), ta_real(fd, buf, n, off)));
}

TA_HOT TA_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    TA_REAL_OR(pwrite64, 0, syscall(SYS_pwrite64, fd, buf, n, off));
    XFER(op_pwrite64, fd, 1, 0, off, 0,
         DIRECT(sys_pwrite(fd, buf, n, off), ta_real(fd, buf, n, off)));
}

TA_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    TA_REAL_OR(readv, 0, syscall(SYS_readv, fd, iov, cnt));
    XFER(op_readv, fd, 0, 1, 0, 0, ta_real(fd, iov, cnt));
}

TA_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    TA_REAL_OR(writev, 0, syscall(SYS_writev, fd, iov, cnt));
    XFER(op_writev, fd, 1, 1, 0, 0, ta_real(fd, iov, cnt));
}

/* preadv/pwritev take the offset as two longs (low, high) in the system call. */
#define LOHI(off) (long)(off), (long)((uint64_t)(off) >> 32)

TA_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    TA_REAL_OR(preadv, 0, syscall(SYS_preadv, fd, iov, cnt, LOHI(off)));
    XFER(op_preadv, fd, 0, 0, off, 0, ta_real(fd, iov, cnt, off));
}

TA_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    TA_REAL_OR(pwritev, 0, syscall(SYS_pwritev, fd, iov, cnt, LOHI(off)));
    XFER(op_pwritev, fd, 1, 0, off, 0, ta_real(fd, iov, cnt, off));
}

TA_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    TA_REAL_OR(preadv64, 0, syscall(SYS_preadv, fd, iov, cnt, LOHI(off)));
    XFER(op_preadv64, fd, 0, 0, off, 0, ta_real(fd, iov, cnt, off));
}

TA_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    TA_REAL_OR(pwritev64, 0, syscall(SYS_pwritev, fd, iov, cnt, LOHI(off)));
    XFER(op_pwritev64, fd, 1, 0, off, 0, ta_real(fd, iov, cnt, off));
}

/* The v2 forms: offset -1 means "at the current offset, and move it", like readv. */
TA_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    TA_REAL_OR(preadv2, 0, syscall(SYS_preadv2, fd, iov, cnt, LOHI(off), fl));
    XFER(op_preadv2, fd, 0, off == -1, off, 0, ta_real(fd, iov, cnt, off, fl));
}

TA_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    TA_REAL_OR(pwritev2, 0, syscall(SYS_pwritev2, fd, iov, cnt, LOHI(off), fl));
    XFER(op_pwritev2, fd, 1, off == -1, off, fl & RWF_APPEND,
         ta_real(fd, iov, cnt, off, fl));
}

TA_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int fl)
{
    TA_REAL_OR(preadv64v2, 0, syscall(SYS_preadv2, fd, iov, cnt, LOHI(off), fl));
    XFER(op_preadv64v2, fd, 0, off == -1, off, 0, ta_real(fd, iov, cnt, off, fl));
}

TA_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int fl)
{
    TA_REAL_OR(pwritev64v2, 0, syscall(SYS_pwritev2, fd, iov, cnt, LOHI(off), fl));
    XFER(op_pwritev64v2, fd, 1, off == -1, off, fl & RWF_APPEND,
         ta_real(fd, iov, cnt, off, fl));
}

/* Fortified reads: the real function checks the buffer and aborts on overflow; before it
 * is resolved, so does chk_read. */
static ssize_t chk_read(long nr, int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    if (n > buflen)
        __chk_fail();
    return syscall(nr, fd, buf, n, off);
}

TA_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    TA_REAL_OR(__read_chk, 0, chk_read(SYS_read, fd, buf, n, 0, buflen));
    XFER(op___read_chk, fd, 0, 1, 0, 0, ta_real(fd, buf, n, buflen));
}

TA_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    TA_REAL_OR(__pread_chk, 0, chk_read(SYS_pread64, fd, buf, n, off, buflen));
    XFER(op___pread_chk, fd, 0, 0, off, 0, ta_real(fd, buf, n, off, buflen));
}

TA_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    TA_REAL_OR(__pread64_chk, 0, chk_read(SYS_pread64, fd, buf, n, off, buflen));
    XFER(op___pread64_chk, fd, 0, 0, off, 0, ta_real(fd, buf, n, off, buflen));
}

/* ------------------------------------------------------------------------------------ */
/* lseek, sync, truncate                                                                */

TA_HOT TA_EXPORT off_t lseek(int fd, off_t off, int whence)
{
    TA_REAL_OR(lseek, 0, syscall(SYS_lseek, fd, off, whence));
    ON_FD(op_lseek, fd, off64_t, 1, -1,
          DIRECT(sys_lseek(fd, off, whence), ta_real(fd, off, whence)));
}

TA_HOT TA_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
    TA_REAL_OR(lseek64, 0, syscall(SYS_lseek, fd, off, whence));
    ON_FD(op_lseek64, fd, off64_t, 1, -1,
          DIRECT(sys_lseek(fd, off, whence), ta_real(fd, off, whence)));
}

TA_EXPORT int fsync(int fd)
{
    TA_REAL_OR(fsync, 0, (int)syscall(SYS_fsync, fd));
    ON_FD(op_fsync, fd, int, 0, -1, ta_real(fd));
}

TA_EXPORT int fdatasync(int fd)
{
    TA_REAL_OR(fdatasync, 0, (int)syscall(SYS_fdatasync, fd));
    ON_FD(op_fdatasync, fd, int, 0, -1, ta_real(fd));
}

TA_EXPORT int sync_file_range(int fd, off64_t off, off64_t n, unsigned int fl)
{
    TA_REAL_OR(sync_file_range, 0, (int)syscall(SYS_sync_file_range, fd, off, n, fl));
    ON_FD(op_sync_file_range, fd, int, 0, off, ta_real(fd, off, n, fl));
}

TA_EXPORT int ftruncate(int fd, off_t len)
{
    TA_REAL_OR(ftruncate, 0, (int)syscall(SYS_ftruncate, fd, len));
    ON_FD(op_ftruncate, fd, int, 0, -1, ta_real(fd, len));
}

TA_EXPORT int ftruncate64(int fd, off64_t len)
{
    TA_REAL_OR(ftruncate64, 0, (int)syscall(SYS_ftruncate, fd, len));
    ON_FD(op_ftruncate64, fd, int, 0, -1, ta_real(fd, len));
}

/* ------------------------------------------------------------------------------------ */
/* mmap, munmap: file maps only                                                         */

/* Live file maps, by start address: open addressing, lock-free. A slot's addr goes
 * 0 -> address (claimed by CAS) -> TOMB (unmapped, by CAS) -> address ...; lookups stop at
 * 0 and skip TOMB. */
#define NMAPS 1024
#define MAP_PROBES 32
#define TOMB ((uintptr_t)1)
struct fmap {
    _Atomic uintptr_t addr;
    uint32_t path;
    int32_t fd;
};
static struct fmap fmaps[NMAPS];
static _Atomic int fmaps_live;

static inline unsigned fmap_hash(uintptr_t a)
{
    return (unsigned)(((a >> 12) * 0x9E3779B97F4A7C15ull) >> 40) & (NMAPS - 1);
}

static void fmap_add(void *p, int fd, uint32_t path)
{
    uintptr_t a = (uintptr_t)p;
    unsigned h = fmap_hash(a);
    for (int i = 0; i < MAP_PROBES; i++) { /* a stale entry of the same address? */
        struct fmap *s = &fmaps[(h + i) & (NMAPS - 1)];
        uintptr_t cur = atomic_load_explicit(&s->addr, memory_order_acquire);
        if (cur == 0)
            break;
        if (cur == a) {
            s->path = path;
            s->fd = fd;
            return;
        }
    }
    for (int i = 0; i < MAP_PROBES; i++) {
        struct fmap *s = &fmaps[(h + i) & (NMAPS - 1)];
        uintptr_t cur = atomic_load_explicit(&s->addr, memory_order_relaxed);
        if (cur != 0 && cur != TOMB)
            continue;
        s->path = path;
        s->fd = fd;
        /* release: pairs with the acquire in fmap_take; the fields above are visible to a
         * thread that finds this address */
        if (atomic_compare_exchange_strong_explicit(&s->addr, &cur, a, memory_order_release,
                                                    memory_order_relaxed)) {
            atomic_fetch_add_explicit(&fmaps_live, 1, memory_order_relaxed);
            return;
        }
    }
    /* full around this address: the munmap will not be recorded */
}

/* Remove the map starting at p; its fd and path, or false when it is not a recorded map. */
static bool fmap_take(void *p, int *fd, uint32_t *path)
{
    uintptr_t a = (uintptr_t)p;
    unsigned h = fmap_hash(a);
    for (int i = 0; i < MAP_PROBES; i++) {
        struct fmap *s = &fmaps[(h + i) & (NMAPS - 1)];
        /* acquire: pairs with the release CAS in fmap_add */
        uintptr_t cur = atomic_load_explicit(&s->addr, memory_order_acquire);
        if (cur == 0)
            return false;
        if (cur != a)
            continue;
        *fd = s->fd;
        *path = s->path;
        if (atomic_compare_exchange_strong_explicit(&s->addr, &cur, TOMB, memory_order_relaxed,
                                                    memory_order_relaxed)) {
            atomic_fetch_sub_explicit(&fmaps_live, 1, memory_order_relaxed);
            return true;
        }
        return false;
    }
    return false;
}

#define MMAP(opv, addr, len, prot, flags, fdv, offv, CALL)                                  \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        struct ta_fdent *e_ = NULL;                                                       \
        if ((fdv) < 0 || ((flags) & MAP_ANONYMOUS) ||                                      \
            !TA_SPAN_ENTER_FD(sp_, TA_CAT_POSIX, fdv, e_))                                 \
            return CALL;                                                                  \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        TA_SPAN_CALL(sp_, void *r_, CALL, r_ == MAP_FAILED);                              \
        if (r_ != MAP_FAILED)                                                             \
            fmap_add(r_, fdv, path_);                                                      \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fdv, .path = path_,                     \
                                             .ret = (int64_t)(intptr_t)r_,                \
                                             .bytes = (int64_t)(len), .off = offv});        \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

TA_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    TA_REAL_OR(mmap, 0, (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off));
    MMAP(op_mmap, addr, len, prot, flags, fd, off, ta_real(addr, len, prot, flags, fd, off));
}

TA_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    TA_REAL_OR(mmap64, 0, (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off));
    MMAP(op_mmap64, addr, len, prot, flags, fd, off,
         ta_real(addr, len, prot, flags, fd, off));
}

/* mremap moves a map: a recorded file map's entry follows it (not recorded itself). */
TA_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    TA_REAL_OR(mremap, 1, (void *)syscall(SYS_mremap, old, oldlen, newlen, flags, want));
    void *r = ta_real(old, oldlen, newlen, flags, want);
    if (!TA_NOP && r != MAP_FAILED && r != old &&
        atomic_load_explicit(&fmaps_live, memory_order_relaxed) != 0) {
        int saved = errno, fd;
        uint32_t path;
        /* MREMAP_DONTUNMAP: the old map stays, and stays recorded */
        if (!(flags & MREMAP_DONTUNMAP) && fmap_take(old, &fd, &path))
            fmap_add(r, fd, path);
        errno = saved;
    }
    return r;
}

TA_EXPORT int munmap(void *addr, size_t len)
{
    TA_REAL_OR(munmap, 0, (int)syscall(SYS_munmap, addr, len));
    /* relaxed: a hint; a map being added by another thread cannot be this one */
    if (TA_NOP || atomic_load_explicit(&fmaps_live, memory_order_relaxed) == 0)
        return ta_real(addr, len);
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_POSIX))
        return ta_real(addr, len);
    int fd;
    uint32_t path;
    if (!fmap_take(addr, &fd, &path)) {
        ta_leave(sp.t);
        return ta_real(addr, len);
    }
    TA_SPAN_CALL(sp, int r, ta_real(addr, len), r < 0);
    if (r < 0) /* still mapped (munmap(addr, 0): EINVAL): its real munmap comes later */
        fmap_add(addr, fd, path);
    ta_io_rec(&sp, &op_munmap, (struct ta_io){.fd = fd, .path = path, .ret = r,
                                              .bytes = (int64_t)len, .off = -1});
    return TA_SPAN_LEAVE(sp, r);
}

/* ------------------------------------------------------------------------------------ */
/* stat and friends. On x86_64 the kernel's struct stat is glibc's struct stat and stat64,
 * so the bootstrap path is newfstatat/fstat whatever the version argument of __xstat. */

#define REAL_OR_STATAT(fn, dirfd, path, st, fl) \
    TA_REAL_OR(fn, 0, (int)syscall(SYS_newfstatat, dirfd, path, st, fl))
#define REAL_OR_FSTAT(fn, fd, st) TA_REAL_OR(fn, 0, (int)syscall(SYS_fstat, fd, st))

TA_HOT TA_EXPORT int stat(const char *path, struct stat *st)
{
    REAL_OR_STATAT(stat, AT_FDCWD, path, st, 0);
    ON_PATH(op_stat, AT_FDCWD, path, false,
            DIRECT(sys_fstatat(AT_FDCWD, path, st, 0), ta_real(path, st)));
}

TA_HOT TA_EXPORT int lstat(const char *path, struct stat *st)
{
    REAL_OR_STATAT(lstat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
    ON_PATH(op_lstat, AT_FDCWD, path, false,
            DIRECT(sys_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW), ta_real(path, st)));
}

TA_HOT TA_EXPORT int fstat(int fd, struct stat *st)
{
    REAL_OR_FSTAT(fstat, fd, st);
    ON_FD(op_fstat, fd, int, 0, -1, DIRECT(sys_fstat(fd, st), ta_real(fd, st)));
}

TA_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int fl)
{
    REAL_OR_STATAT(fstatat, dirfd, path, st, fl);
    ON_PATH(op_fstatat, dirfd, path, fl & AT_EMPTY_PATH,
            DIRECT(sys_fstatat(dirfd, path, st, fl), ta_real(dirfd, path, st, fl)));
}

TA_HOT TA_EXPORT int stat64(const char *path, struct stat64 *st)
{
    REAL_OR_STATAT(stat64, AT_FDCWD, path, st, 0);
    ON_PATH(op_stat64, AT_FDCWD, path, false,
            DIRECT(sys_fstatat(AT_FDCWD, path, st, 0), ta_real(path, st)));
}

TA_EXPORT int lstat64(const char *path, struct stat64 *st)
{
    REAL_OR_STATAT(lstat64, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
    ON_PATH(op_lstat64, AT_FDCWD, path, false,
            DIRECT(sys_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW), ta_real(path, st)));
}

TA_HOT TA_EXPORT int fstat64(int fd, struct stat64 *st)
{
    REAL_OR_FSTAT(fstat64, fd, st);
    ON_FD(op_fstat64, fd, int, 0, -1, DIRECT(sys_fstat(fd, st), ta_real(fd, st)));
}

TA_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int fl)
{
    REAL_OR_STATAT(fstatat64, dirfd, path, st, fl);
    ON_PATH(op_fstatat64, dirfd, path, fl & AT_EMPTY_PATH,
            DIRECT(sys_fstatat(dirfd, path, st, fl), ta_real(dirfd, path, st, fl)));
}

TA_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
    REAL_OR_STATAT(__xstat, AT_FDCWD, path, st, 0);
    ON_PATH(op___xstat, AT_FDCWD, path, false, ta_real(ver, path, st));
}

TA_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
    REAL_OR_STATAT(__lxstat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
    ON_PATH(op___lxstat, AT_FDCWD, path, false, ta_real(ver, path, st));
}

TA_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
    REAL_OR_FSTAT(__fxstat, fd, st);
    ON_FD(op___fxstat, fd, int, 0, -1, ta_real(ver, fd, st));
}

TA_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int fl)
{
    REAL_OR_STATAT(__fxstatat, dirfd, path, st, fl);
    ON_PATH(op___fxstatat, dirfd, path, fl & AT_EMPTY_PATH,
            ta_real(ver, dirfd, path, st, fl));
}

TA_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
    REAL_OR_STATAT(__xstat64, AT_FDCWD, path, st, 0);
    ON_PATH(op___xstat64, AT_FDCWD, path, false, ta_real(ver, path, st));
}

TA_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
    REAL_OR_STATAT(__lxstat64, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
    ON_PATH(op___lxstat64, AT_FDCWD, path, false, ta_real(ver, path, st));
}

TA_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
    REAL_OR_FSTAT(__fxstat64, fd, st);
    ON_FD(op___fxstat64, fd, int, 0, -1, ta_real(ver, fd, st));
}

TA_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int fl)
{
    REAL_OR_STATAT(__fxstatat64, dirfd, path, st, fl);
    ON_PATH(op___fxstatat64, dirfd, path, fl & AT_EMPTY_PATH,
            ta_real(ver, dirfd, path, st, fl));
}

TA_EXPORT int statx(int dirfd, const char *path, int fl, unsigned int mask, struct statx *st)
{
    TA_REAL_OR(statx, 0, (int)syscall(SYS_statx, dirfd, path, fl, mask, st));
    ON_PATH(op_statx, dirfd, path, fl & AT_EMPTY_PATH, ta_real(dirfd, path, fl, mask, st));
}

/* ------------------------------------------------------------------------------------ */
/* dup, dup2, dup3, fcntl(F_DUPFD): the new fd names the same file                      */

/* `fork_check`: dup2/dup3, which a vfork child calls on the parent's memory. */
#define DUP(opv, oldfd, fork_check, CALL)                                                 \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_POSIX)) {                                          \
            int r0_ = CALL;                                                               \
            if (TA_UPKEEP && r0_ >= 0 && !((fork_check) && ta_in_forked_copy()))          \
                ta_fd_dup(oldfd, r0_);                                                    \
            return r0_;                                                                   \
        }                                                                                 \
        if ((fork_check) && ta_in_forked_copy()) {                                        \
            ta_leave(sp_.t);                                                              \
            return CALL;                                                                  \
        }                                                                                 \
        struct ta_fdent *e_ = ta_fd(oldfd);                                               \
        bool x_ = e_ && e_->excluded;                                                     \
        uint32_t path_ = e_ ? e_->path : 0;                                               \
        TA_SPAN_CALL(sp_, int r_, CALL, r_ < 0);                                          \
        if (r_ >= 0)                                                                      \
            ta_fd_dup(oldfd, r_);                                                         \
        if (!x_)                                                                          \
            ta_io_rec(&sp_, &opv, (struct ta_io){.fd = oldfd, .path = path_, .ret = r_,   \
                                                 .bytes = -1, .off = -1});                \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

TA_EXPORT int dup(int fd)
{
    if (AGENT_FD(fd)) {
        errno = EBADF;
        return -1;
    }
    TA_REAL_OR(dup, 0, (int)syscall(SYS_dup, fd));
    DUP(op_dup, fd, 0, dupfd_fix(ta_real(fd), 0, 0));
}

TA_EXPORT int dup2(int fd, int fd2)
{
    int e;
    if ((AGENT_FD(fd) || AGENT_FD(fd2)) && (e = agent_fd_clash(fd, fd2))) {
        errno = e;
        return -1;
    }
    TA_REAL_OR(dup2, 0, (int)syscall(SYS_dup2, fd, fd2));
    DUP(op_dup2, fd, 1, ta_real(fd, fd2));
}

TA_EXPORT int dup3(int fd, int fd2, int fl)
{
    int e; /* flags or fd == fd2 are EINVAL before anything else: the real call says so */
    if ((AGENT_FD(fd) || AGENT_FD(fd2)) && !(fl & ~O_CLOEXEC) && fd != fd2 &&
        (e = agent_fd_clash(fd, fd2))) {
        errno = e;
        return -1;
    }
    TA_REAL_OR(dup3, 0, (int)syscall(SYS_dup3, fd, fd2, fl));
    DUP(op_dup3, fd, 1, ta_real(fd, fd2, fl));
}

/* fcntl is variadic: the third argument, when there is one, is an int or a pointer; it is
 * read as a pointer-sized word and passed on as such, as glibc itself does. */
#define FCNTL(fn, fd, cmd)                                                                \
    va_list ap;                                                                           \
    va_start(ap, cmd);                                                                    \
    void *arg = va_arg(ap, void *);                                                       \
    va_end(ap);                                                                           \
    if (AGENT_FD(fd)) { /* the program has no such fd */                                   \
        errno = EBADF;                                                                    \
        return -1;                                                                        \
    }                                                                                     \
    TA_REAL_OR(fn, 0, (int)syscall(SYS_fcntl, fd, cmd, arg));                        \
    if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) {                                       \
        int r = ta_real(fd, cmd, arg);                                                       \
        struct ta_fdent *e;                                                               \
        if (TA_UPKEEP && cmd == F_SETFL && r == 0 && (e = ta_fd(fd)))                     \
            ta_fd_set_append(e, ((long)arg & O_APPEND) != 0);                             \
        return r;                                                                         \
    }                                                                                     \
    DUP(op_##fn, fd, 0, dupfd_fix(ta_real(fd, cmd, arg), (long)arg, cmd == F_DUPFD_CLOEXEC));

TA_EXPORT int fcntl(int fd, int cmd, ...) { FCNTL(fcntl, fd, cmd) }
TA_EXPORT int fcntl64(int fd, int cmd, ...) { FCNTL(fcntl64, fd, cmd) }

/* ------------------------------------------------------------------------------------ */
/* sendfile, copy_file_range: one record on the source fd, str2 = the destination's path */

/* in_off: the caller's offset pointer for the source (NULL: the fd's offset, moved);
 * out_off likewise for the destination (always NULL for sendfile). The kernel moves the
 * pointed-to offsets by the bytes copied, so the start is read back after success. */
#define COPY(opv, in, in_off, out, out_off, CALL)                                         \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_POSIX))                                            \
            return CALL;                                                                  \
        struct ta_fdent *ei_ = ta_fd(in), *eo_ = ta_fd(out);                              \
        if ((ei_ && ei_->excluded) || (eo_ && eo_->excluded)) {                           \
            ta_leave(sp_.t);                                                              \
            return CALL;                                                                  \
        }                                                                                 \
        int64_t cur_in_ = ei_ ? ta_fd_off(ei_) : -1;                                      \
        int64_t cur_out_ = eo_ && !eo_->append ? ta_fd_off(eo_) : -1;                     \
        TA_SPAN_CALL(sp_, ssize_t r_, CALL, r_ < 0);                                      \
        int64_t start_ = -1;                                                              \
        if (r_ >= 0) {                                                                    \
            if (in_off)                                                                   \
                start_ = (int64_t)*(in_off) - r_;                                         \
            else if (cur_in_ >= 0) {                                                      \
                start_ = cur_in_;                                                         \
                ta_fd_set_off(ei_, cur_in_ + r_);                                         \
            }                                                                             \
            if (!(out_off) && eo_ && r_ > 0) {                                            \
                if (cur_out_ >= 0)                                                        \
                    ta_fd_set_off(eo_, cur_out_ + r_);                                    \
                else if (eo_->append)                                                     \
                    ta_fd_forget_off(eo_);                                                \
            }                                                                             \
        }                                                                                 \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = in, .path = ei_ ? ei_->path : 0,        \
                                             .str2 = eo_ ? eo_->path : 0, .ret = r_,      \
                                             .bytes = r_, .off = start_});                \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

static off64_t *const no_off = NULL;

TA_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    TA_REAL_OR(sendfile, 0, syscall(SYS_sendfile, out, in, off, n));
    COPY(op_sendfile, in, off, out, no_off, ta_real(out, in, off, n));
}

TA_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
    TA_REAL_OR(sendfile64, 0, syscall(SYS_sendfile, out, in, off, n));
    COPY(op_sendfile64, in, off, out, no_off, ta_real(out, in, off, n));
}

TA_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off,
                                  size_t n, unsigned int fl)
{
    TA_REAL_OR(copy_file_range, 0,
               syscall(SYS_copy_file_range, in, in_off, out, out_off, n, fl));
    COPY(op_copy_file_range, in, in_off, out, out_off,
         ta_real(in, in_off, out, out_off, n, fl));
}

/* ------------------------------------------------------------------------------------ */
/* Names: unlink, rename, mkdir, rmdir                                                  */

TA_HOT TA_EXPORT int unlink(const char *path)
{
    TA_REAL_OR(unlink, 0, (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0));
    ON_PATH(op_unlink, AT_FDCWD, path, false, ta_real(path));
}

TA_EXPORT int unlinkat(int dirfd, const char *path, int fl)
{
    TA_REAL_OR(unlinkat, 0, (int)syscall(SYS_unlinkat, dirfd, path, fl));
    ON_PATH(op_unlinkat, dirfd, path, false, ta_real(dirfd, path, fl));
}

TA_EXPORT int rmdir(const char *path)
{
    TA_REAL_OR(rmdir, 0, (int)syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR));
    ON_PATH(op_rmdir, AT_FDCWD, path, false, ta_real(path));
}

TA_EXPORT int mkdir(const char *path, mode_t mode)
{
    TA_REAL_OR(mkdir, 0, (int)syscall(SYS_mkdirat, AT_FDCWD, path, mode));
    ON_PATH(op_mkdir, AT_FDCWD, path, false, ta_real(path, mode));
}

TA_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
    TA_REAL_OR(mkdirat, 0, (int)syscall(SYS_mkdirat, dirfd, path, mode));
    ON_PATH(op_mkdirat, dirfd, path, false, ta_real(dirfd, path, mode));
}

TA_EXPORT int rename(const char *old, const char *new_)
{
    TA_REAL_OR(rename, 0, (int)syscall(SYS_renameat2, AT_FDCWD, old, AT_FDCWD, new_, 0));
    ON_PATHS(op_rename, AT_FDCWD, old, false, AT_FDCWD, new_, ta_real(old, new_));
}

TA_EXPORT int renameat(int d1, const char *old, int d2, const char *new_)
{
    TA_REAL_OR(renameat, 0, (int)syscall(SYS_renameat2, d1, old, d2, new_, 0));
    ON_PATHS(op_renameat, d1, old, false, d2, new_, ta_real(d1, old, d2, new_));
}

TA_EXPORT int renameat2(int d1, const char *old, int d2, const char *new_, unsigned int fl)
{
    TA_REAL_OR(renameat2, 0, (int)syscall(SYS_renameat2, d1, old, d2, new_, fl));
    ON_PATHS(op_renameat2, d1, old, false, d2, new_, ta_real(d1, old, d2, new_, fl));
}
