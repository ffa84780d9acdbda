/* The agent's own files: the fds it holds (kept high, close-on-exec, protected from the
 * program's close()/dup2() and followed when the program takes their number), the names of
 * this process's files under the output directory, and the checks that keep them safe in a
 * shared directory. Below the exporters, which create their files here. */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ta.h"

/* ------------------------------------------------------------------------------------ */
/* The agent's own file descriptors: kept high, close-on-exec, and protected from the
 * program's close()/dup2() by the I/O wrappers (ta_is_agent_fd). */

#define MAX_AGENT_FDS 16
static _Atomic int agent_fds[MAX_AGENT_FDS];
/* Bit fd % 64 of every fd ever registered: most fds the program closes are told apart from
 * the agent's with one load, not 16 (close() paid ~100 instructions for the loop, bench/
 * NOTES.md row 46). Bits are only set: clearing one when its fd goes would race
 * with another fd of the same bit coming; a stale bit costs only the loop. */
static _Atomic uint64_t agent_fd_bits;

bool ta_is_agent_fd(int fd)
{
    if (fd < 0 ||
        !((atomic_load_explicit(&agent_fd_bits, memory_order_relaxed) >> (fd & 63)) & 1))
        return false;
    for (int i = 0; i < MAX_AGENT_FDS; i++)
        if (atomic_load_explicit(&agent_fds[i], memory_order_relaxed) == fd + 1)
            return true;
    return false;
}

int ta_agent_fds(int *out, int max)
{
    int n = 0;
    for (int i = 0; i < MAX_AGENT_FDS && n < max; i++) {
        int v = atomic_load_explicit(&agent_fds[i], memory_order_relaxed);
        if (v)
            out[n++] = v - 1;
    }
    return n;
}

void ta_agent_fd_add(int fd)
{
    /* before the fd is listed: whoever finds it listed finds its bit set */
    atomic_fetch_or(&agent_fd_bits, 1ull << (fd & 63));
    for (int i = 0; i < MAX_AGENT_FDS; i++) {
        int z = 0;
        if (atomic_compare_exchange_strong(&agent_fds[i], &z, fd + 1))
            return;
    }
}

void ta_agent_fd_del(int fd)
{
    for (int i = 0; i < MAX_AGENT_FDS; i++) {
        int v = fd + 1;
        if (atomic_compare_exchange_strong(&agent_fds[i], &v, 0))
            return;
    }
}

/* The places that hold an agent fd by number (an exporter's ta_buf.fd): a file moved to
 * another number (ta_agent_fd_move) is followed there. */
#define MAX_WATCHED 8
static int *_Atomic watched[MAX_WATCHED];

static void watch(int *slot)
{
    for (int i = 0; i < MAX_WATCHED; i++) {
        int *z = NULL;
        if (atomic_compare_exchange_strong(&watched[i], &z, slot))
            return;
    }
}

static void unwatch(int *slot)
{
    for (int i = 0; i < MAX_WATCHED; i++) {
        int *v = slot;
        if (atomic_compare_exchange_strong(&watched[i], &v, NULL))
            return;
    }
}

/* A copy of fd at 1000 and up, or under a lower fd limit as high as it allows (a program
 * that set RLIMIT_NOFILE to 64 still gets 3, 4, ... from its opens); -1 if none is free. */
static int dup_high(int fd)
{
    int high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 1000);
    if (high < 0) {
        struct rlimit rl;
        if (syscall(SYS_getrlimit, RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 8 &&
            rl.rlim_cur <= 1000)
            for (long want = (long)rl.rlim_cur - 1; want > fd && high < 0; want--)
                high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, want);
    }
    return high;
}

/* fd becomes the agent's: moved high, out of the way of programs that dup2() onto low
 * numbers, registered, and followed in *slot. The fd. */
static int keep_high(int fd, int *slot)
{
    int high = dup_high(fd);
    if (high >= 0) {
        ta_sys_close(fd);
        fd = high;
    }
    ta_agent_fd_add(fd);
    *slot = fd;
    watch(slot);
    return fd;
}

/* An fd that a library the agent loads opened for itself (libunwind's memory-check pipe,
 * posix.c pipe2): moved high and registered like the agent's files, so that the program's
 * opens still start at 3 and its close/dup2 of low numbers never reach it. The new number,
 * or fd as it was when no high one is free (then left unregistered: the program's). The
 * library holds the number itself, so a move (ta_agent_fd_move) cannot be followed there. */
int ta_agent_fd_adopt(int fd)
{
    int high = dup_high(fd);
    if (high < 0)
        return fd;
    ta_sys_close(fd);
    ta_agent_fd_add(high);
    return high;
}

/* The program asks for fd number `fd` (dup2/dup3 onto it, or the number F_DUPFD would give
 * it without the agent), which holds one of the agent's files: the file moves to another
 * number, every place that holds it follows, and `fd` is closed, free for the program, as
 * it would be without the agent. With no other number free, the agent lets go of that
 * file (its output stops there). The caller holds the drain (no write is in flight). */
int ta_agent_fd_move(int fd)
{
    if (!ta_is_agent_fd(fd))
        return 0;
    int nfd = dup_high(fd);
    if (nfd >= 0)
        ta_agent_fd_add(nfd);
    for (int i = 0; i < MAX_WATCHED; i++) {
        int *w = atomic_load(&watched[i]);
        if (w && *w == fd)
            *w = nfd;
    }
    ta_agent_fd_del(fd);
    ta_sys_close(fd);
    if (nfd < 0)
        ta_warn("the program took fd %d, the agent's, and no other fd is free: that output "
                "stops here", fd);
    else
        ta_debug("the program takes fd %d: the agent's file moved to fd %d", fd, nfd);
    return nfd < 0 ? -1 : 0;
}

/* Names under the current stem are tried in order: <exe>-<pid>, then .1, .2, ... A name
 * is never reused; `stem_used` says whether a file of this process was created under the
 * current stem already (then the stem stays, and a taken name fails). */
#define STEM_TRIES 65536
static int stem_n, stem_used;
static void set_stem(int n);
static int taken(const char *path);

int ta_out_open(const char *suffix, int *slot)
{
    char path[sizeof ta_proc.stem + 32];
    int fd = -1, e = 0;
    for (;;) {
        ta_fmt(path, sizeof path, "%s%s", ta_proc.stem, suffix);
        /* created new: never through a symlink, never over anything already there (a
         * planted file or link in a shared directory); readable by the owner only */
        fd = ta_sys_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        e = fd < 0 ? errno : 0;
        if (fd >= 0 || e != EEXIST || stem_used || stem_n + 1 >= STEM_TRIES)
            break;
        /* taken since the stem was chosen: the next free stem, nothing of ours is under
         * this one yet */
        int n = stem_n + 1;
        char t[sizeof ta_proc.stem + 32], s[sizeof ta_proc.stem + 32];
        do {
            set_stem(n++);
            ta_fmt(t, sizeof t, "%s.trace.json", ta_proc.stem);
            ta_fmt(s, sizeof s, "%s.stats.json", ta_proc.stem);
        } while ((taken(t) > 0 || taken(s) > 0) && n < STEM_TRIES);
    }
    if (fd < 0) {
        if (e == EEXIST)
            ta_warn("cannot write %s: a file of that name is there already (not overwritten); "
                    "this process is traced without that file", path);
        else
            ta_warn("cannot write %s: errno %d; this process is traced without that file",
                    path, e);
        return -e;
    }
    stem_used = 1;
    return keep_high(fd, slot);
}

void ta_out_close(int *slot)
{
    int fd = *slot;
    unwatch(slot);
    *slot = -1;
    if (fd < 0)
        return;
    ta_agent_fd_del(fd);
    ta_sys_close(fd);
}

/* A file the agent reads (an object's symbols, agent/elfsym.c): opened read-only and
 * close-on-exec, then kept high and followed like an output file (ta_agent_fd_move), so
 * that the program never finds a low number taken, nor closes or reuses the agent's.
 * Non-blocking: a FIFO where a file was expected must not hang the drainer. Closed with
 * ta_out_close(slot). The fd, or -errno. */
int ta_ro_open(const char *path, int *slot)
{
    int fd = ta_sys_open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return -errno;
    return keep_high(fd, slot);
}

/* Is anything there under this name (a file, a directory, a symlink, dangling or not)?
 * 1 yes, 0 no; -1 cannot tell (a name too long, a directory not searchable): the open
 * will say why, no other suffix would do better. */
static int taken(const char *path)
{
    struct stat st;
    if (syscall(SYS_newfstatat, AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    return errno == ENOENT ? 0 : -1;
}

static void set_stem(int n)
{
    stem_n = n;
    stem_used = 0;
    if (n)
        ta_fmt(ta_proc.stem, sizeof ta_proc.stem, "%s/%s-%d.%d", ta_cfg.output, ta_proc.exe,
               ta_proc.pid, n);
    else
        ta_fmt(ta_proc.stem, sizeof ta_proc.stem, "%s/%s-%d", ta_cfg.output, ta_proc.exe,
               ta_proc.pid);
}

/* <output>/<exe>-<pid>, or <exe>-<pid>.N when that name is taken (exec of the same program
 * in the same pid, a pid reused across runs into one directory, or names planted there).
 * The files are then created with O_EXCL (ta_out_open): a name taken meanwhile moves the
 * stem on, never onto a name in use. */
void ta_choose_stem(void)
{
    for (int n = 0; n < STEM_TRIES; n++) {
        char t[sizeof ta_proc.stem + 32], s[sizeof ta_proc.stem + 32];
        set_stem(n);
        ta_fmt(t, sizeof t, "%s.trace.json", ta_proc.stem);
        ta_fmt(s, sizeof s, "%s.stats.json", ta_proc.stem);
        if (taken(t) <= 0 && taken(s) <= 0)
            return;
    }
    /* all taken: ta_out_open's O_EXCL fails on this one and says so */
}

/* The output directory is used only where nobody else can plant names in it: owned by this
 * user or root, and not writable by all users unless sticky (as /tmp); a symbolic link to
 * it only when owned by this user or root. 0, or -1 after one warning. */
int ta_check_output_dir(const char *dir)
{
    struct stat ln, st;
    unsigned me = (unsigned)syscall(SYS_geteuid);
    const char *why = NULL;
    if (syscall(SYS_newfstatat, AT_FDCWD, dir, &ln, AT_SYMLINK_NOFOLLOW) != 0 ||
        syscall(SYS_newfstatat, AT_FDCWD, dir, &st, 0) != 0)
        why = "cannot stat it";
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (S_ISLNK(ln.st_mode) && ln.st_uid != me && ln.st_uid != 0)
        why = "it is a symbolic link owned by another user";
    else if (st.st_uid != me && st.st_uid != 0)
        why = "it is owned by another user";
    else if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
        why = "it is writable by all users and not sticky";
    if (!why)
        return 0;
    ta_warn("output directory %s refused (%s): this process is not traced", dir, why);
    return -1;
}

