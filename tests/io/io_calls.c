/* Every POSIX and stdio call the agent intercepts, a known number of times with known sizes,
 * on files in the directory argv[1]; argv[2] is a small library (io_local.c) that is loaded
 * with dlopen(RTLD_LOCAL) and calls pread.
 *
 * For each call that the agent must trace it prints one ledger line on stdout:
 *   L <call> <fd> <path> <ret> <bytes> <offset> <errno>
 * <call> is the name in the source (the checker maps it to the symbol that the build really
 * calls: pread64 with -D_FILE_OFFSET_BITS=64, __pread_chk with _FORTIFY_SOURCE, ...); <path>
 * is relative to argv[1] ("." for argv[1] itself); "none" means the trace must not show that field, "-" that it is
 * not checked. ret, bytes, errno are what the call really returned; offsets are where the
 * program knows the transfer started. Calls that must NOT be traced (anonymous mmap, fcntl
 * F_GETFL, ...) print nothing. The output is the same with and without the agent: the
 * program checks its own results and exits 1 on any surprise. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Called by their own names (glibc exports them; the headers declare them only for
 * fortified builds, or no longer). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __xstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

#define NONE LONG_MIN
#define ANY (LONG_MIN + 1)
#define BADFD 900 /* not open; below the agent's own fds (>= 1000) */

static const char *D;
static char P[16][4096];
/* sizes the compiler cannot see: fortified builds then call the _chk variants */
static volatile size_t V1000 = 1000, V512 = 512, V50 = 50, V5 = 5, V4 = 4, V64 = 64,
                       V100 = 100, V10 = 10, V1 = 1, V3 = 3;

static void num(long v)
{
    if (v == NONE)
        printf(" none");
    else if (v == ANY)
        printf(" -");
    else
        printf(" %ld", v);
}

/* One ledger line. rel: a path under D, NULL = "none", "-" = not checked. */
static void L(const char *call, long fd, const char *rel, long ret, long bytes, long off,
              int err)
{
    printf("L %s", call);
    num(fd);
    printf(" %s", rel ? rel : "none");
    num(ret);
    num(bytes);
    num(off);
    printf(" %d\n", err);
}

static void die(const char *what)
{
    fprintf(stderr, "io_calls: unexpected result: %s (errno %d)\n", what, errno);
    exit(1);
}
#define EXPECT(cond) do { if (!(cond)) die(#cond); } while (0)

static const char *path(int i, const char *rel)
{
    snprintf(P[i], sizeof P[i], "%s/%s", D, rel);
    return P[i];
}

static char wbuf[16384];

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: io_calls DIR LIB\n");
        return 2;
    }
    D = argv[1];
    for (size_t i = 0; i < sizeof wbuf; i++)
        wbuf[i] = (char)('a' + i % 26);
    const char *A = path(0, "a.dat"), *B = path(1, "b.dat"), *C = path(2, "c.dat");
    const char *S = path(3, "s.txt"), *MISS = path(4, "missing");
    char buf[4096];
    long r;
    int e;

    /* --- open, write, lseek, read: sequential offsets ---------------------------------- */
    int fd = open(A, O_CREAT | O_RDWR | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    L("open", fd, "a.dat", fd, NONE, NONE, 0);
    for (int i = 0; i < 4; i++) {
        r = write(fd, wbuf + i * 1000, 1000);
        EXPECT(r == 1000);
        L("write", fd, "a.dat", r, 1000, i * 1000, 0);
    }
    r = lseek(fd, 0, SEEK_SET);
    EXPECT(r == 0);
    L("lseek", fd, "a.dat", 0, NONE, 0, 0);
    for (int i = 0; i < 5; i++) { /* the fifth is at the end: 0 bytes at offset 4000 */
        size_t n = V1000;
        r = read(fd, buf, n);
        EXPECT(r == (i < 4 ? 1000 : 0));
        EXPECT(i == 4 || !memcmp(buf, wbuf + i * 1000, 1000));
        L("read", fd, "a.dat", r, r, i * 1000, 0);
    }

    /* --- positioned: pread at 4096 reports 4096, and does not move the offset ---------- */
    r = pwrite(fd, wbuf, 512, 4096);
    EXPECT(r == 512);
    L("pwrite", fd, "a.dat", r, 512, 4096, 0);
    {
        size_t n = V512;
        r = pread(fd, buf, n, 4096);
        EXPECT(r == 512 && !memcmp(buf, wbuf, 512));
        L("pread", fd, "a.dat", r, 512, 4096, 0);
        n = V50;
        r = pread(fd, buf, n, 100);
        EXPECT(r == 50 && !memcmp(buf, wbuf + 100, 50));
        L("pread", fd, "a.dat", r, 50, 100, 0);
        n = V1000;
        r = read(fd, buf, n); /* still at 4000: 608 bytes up to the end (4608) */
        EXPECT(r == 608);
        L("read", fd, "a.dat", r, 608, 4000, 0);
    }
    r = pwrite64(fd, wbuf, 100, 4608);
    EXPECT(r == 100);
    L("pwrite64", fd, "a.dat", r, 100, 4608, 0);
    {
        size_t n = V100;
        r = pread64(fd, buf, n, 4608);
        EXPECT(r == 100);
        L("pread64", fd, "a.dat", r, 100, 4608, 0);
    }
    r = lseek64(fd, 0, SEEK_SET);
    EXPECT(r == 0);
    L("lseek64", fd, "a.dat", 0, NONE, 0, 0);

    /* --- vectors --------------------------------------------------------------------------- */
    char v1[100], v2[200];
    struct iovec iov[2] = {{v1, sizeof v1}, {v2, sizeof v2}};
    r = readv(fd, iov, 2);
    EXPECT(r == 300);
    L("readv", fd, "a.dat", r, 300, 0, 0);
    struct iovec wiov[2] = {{wbuf, 10}, {wbuf + 10, 20}};
    r = writev(fd, wiov, 2); /* at 300 */
    EXPECT(r == 30);
    L("writev", fd, "a.dat", r, 30, 300, 0);
    struct iovec riov[2] = {{v1, 64}, {v2, 64}};
    r = preadv(fd, riov, 2, 1024);
    EXPECT(r == 128);
    L("preadv", fd, "a.dat", r, 128, 1024, 0);
    r = pwritev(fd, wiov, 1, 2048);
    EXPECT(r == 10);
    L("pwritev", fd, "a.dat", r, 10, 2048, 0);
    r = preadv64(fd, riov, 1, 64);
    EXPECT(r == 64);
    L("preadv64", fd, "a.dat", r, 64, 64, 0);
    r = pwritev64(fd, wiov, 1, 64);
    EXPECT(r == 10);
    L("pwritev64", fd, "a.dat", r, 10, 64, 0);
    r = preadv2(fd, riov, 1, 0, 0);
    EXPECT(r == 64);
    L("preadv2", fd, "a.dat", r, 64, 0, 0);
    r = preadv2(fd, riov, 1, -1, 0); /* -1: at the current offset (330), and moves it */
    EXPECT(r == 64);
    L("preadv2", fd, "a.dat", r, 64, 330, 0);
    r = pwritev2(fd, wiov, 1, 4000, 0);
    EXPECT(r == 10);
    L("pwritev2", fd, "a.dat", r, 10, 4000, 0);
    r = preadv64v2(fd, riov, 1, 128, 0);
    EXPECT(r == 64);
    L("preadv64v2", fd, "a.dat", r, 64, 128, 0);
    r = pwritev64v2(fd, wiov, 1, -1, 0); /* at 394 */
    EXPECT(r == 10);
    L("pwritev64v2", fd, "a.dat", r, 10, 394, 0);
    {
        size_t n = V10;
        r = read(fd, buf, n); /* at 404 */
        EXPECT(r == 10);
        L("read", fd, "a.dat", r, 10, 404, 0);
    }

    /* --- sync, truncate, stat ---------------------------------------------------------- */
    r = fsync(fd);
    L("fsync", fd, "a.dat", r, NONE, NONE, 0);
    r = fdatasync(fd);
    L("fdatasync", fd, "a.dat", r, NONE, NONE, 0);
    r = sync_file_range(fd, 4096, 512, SYNC_FILE_RANGE_WRITE);
    EXPECT(r == 0);
    L("sync_file_range", fd, "a.dat", r, NONE, 4096, 0);
    r = ftruncate(fd, 8192);
    EXPECT(r == 0);
    L("ftruncate", fd, "a.dat", 0, NONE, NONE, 0);
    r = ftruncate64(fd, 8192);
    EXPECT(r == 0);
    L("ftruncate64", fd, "a.dat", 0, NONE, NONE, 0);
    struct stat st;
    struct stat64 st64;
    r = fstat(fd, &st);
    EXPECT(r == 0 && st.st_size == 8192);
    L("fstat", fd, "a.dat", 0, NONE, NONE, 0);
    r = fstat64(fd, &st64);
    EXPECT(r == 0 && st64.st_size == 8192);
    L("fstat64", fd, "a.dat", 0, NONE, NONE, 0);
    r = stat(A, &st);
    EXPECT(r == 0 && st.st_size == 8192);
    L("stat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = stat(MISS, &st);
    e = errno;
    EXPECT(r == -1 && e == ENOENT);
    L("stat", NONE, "missing", -1, NONE, NONE, e);
    r = lstat(A, &st);
    EXPECT(r == 0);
    L("lstat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = stat64(A, &st64);
    EXPECT(r == 0);
    L("stat64", NONE, "a.dat", 0, NONE, NONE, 0);
    r = lstat64(A, &st64);
    EXPECT(r == 0);
    L("lstat64", NONE, "a.dat", 0, NONE, NONE, 0);
    /* one buffer, rewritten with other paths: the agent keeps each thread's recent paths by
     * pointer and must see the new text, for short paths (a copy in its cache) and long
     * ones (compared with its string table) alike, also when they differ only at the end */
    static const char *const again[] = {
        "missing", "missing2", "missing", "a.dat",
        "missing-and-long-enough-not-to-fit-a-cache-line-of-the-agent-1",
        "missing-and-long-enough-not-to-fit-a-cache-line-of-the-agent-2",
        "missing-and-long-enough-not-to-fit-a-cache-line-of-the-agent-2", "missing"};
    char pb[4096];
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        snprintf(pb, sizeof pb, "%s/%s", D, again[i]);
        r = stat(pb, &st);
        e = r < 0 ? errno : 0;
        EXPECT(r == (strcmp(again[i], "a.dat") == 0 ? 0 : -1));
        L("stat", NONE, again[i], r, NONE, NONE, e);
    }
    int dfd = open(D, O_RDONLY | O_DIRECTORY);
    EXPECT(dfd >= 0);
    L("open", dfd, ".", dfd, NONE, NONE, 0);
    r = fstatat(dfd, "a.dat", &st, 0); /* joined with the directory's path */
    EXPECT(r == 0 && st.st_size == 8192);
    L("fstatat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = fstatat(fd, "", &st, AT_EMPTY_PATH); /* the fd itself */
    EXPECT(r == 0 && st.st_size == 8192);
    L("fstatat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = fstatat64(AT_FDCWD, A, &st64, 0);
    EXPECT(r == 0);
    L("fstatat64", NONE, "a.dat", 0, NONE, NONE, 0);
    struct statx sx;
    r = statx(dfd, "a.dat", 0, STATX_SIZE, &sx);
    EXPECT(r == 0 && sx.stx_size == 8192);
    L("statx", NONE, "a.dat", 0, NONE, NONE, 0);
    r = __xstat(1, A, &st);
    EXPECT(r == 0);
    L("__xstat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = __lxstat(1, A, &st);
    EXPECT(r == 0);
    L("__lxstat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = __fxstat(1, fd, &st);
    EXPECT(r == 0 && st.st_size == 8192);
    L("__fxstat", fd, "a.dat", 0, NONE, NONE, 0);
    r = __fxstatat(1, dfd, "a.dat", &st, 0);
    EXPECT(r == 0);
    L("__fxstatat", NONE, "a.dat", 0, NONE, NONE, 0);
    r = __xstat64(1, A, &st64);
    EXPECT(r == 0);
    L("__xstat64", NONE, "a.dat", 0, NONE, NONE, 0);
    r = __lxstat64(1, A, &st64);
    EXPECT(r == 0);
    L("__lxstat64", NONE, "a.dat", 0, NONE, NONE, 0);
    r = __fxstat64(1, fd, &st64);
    EXPECT(r == 0);
    L("__fxstat64", fd, "a.dat", 0, NONE, NONE, 0);
    r = __fxstatat64(1, AT_FDCWD, A, &st64, 0);
    EXPECT(r == 0);
    L("__fxstatat64", NONE, "a.dat", 0, NONE, NONE, 0);

    /* --- dups: the new fd keeps the path; shared offsets are not reported ------------- */
    int fd2 = dup(fd);
    EXPECT(fd2 >= 0);
    L("dup", fd, "a.dat", fd2, NONE, NONE, 0);
    {
        size_t n = V10;
        r = read(fd2, buf, n);
        EXPECT(r == 10);
        L("read", fd2, "a.dat", r, 10, NONE, 0);
    }
    r = fstat(fd2, &st);
    L("fstat", fd2, "a.dat", 0, NONE, NONE, 0);
    r = dup2(fd, 50);
    EXPECT(r == 50);
    L("dup2", fd, "a.dat", 50, NONE, NONE, 0);
    r = dup3(fd, 51, O_CLOEXEC);
    EXPECT(r == 51);
    L("dup3", fd, "a.dat", 51, NONE, NONE, 0);
    int fd60 = fcntl(fd, F_DUPFD, 60);
    EXPECT(fd60 >= 60);
    L("fcntl", fd, "a.dat", fd60, NONE, NONE, 0);
    int fd70 = fcntl(fd, F_DUPFD_CLOEXEC, 70);
    EXPECT(fd70 >= 70);
    L("fcntl", fd, "a.dat", fd70, NONE, NONE, 0);
    r = fcntl(fd, F_GETFL); /* not a dup: not traced */
    EXPECT((r & O_ACCMODE) == O_RDWR);
    r = fcntl(fd70, F_GETFD);
    EXPECT(r == FD_CLOEXEC);
    r = fcntl(fd, F_SETFD, FD_CLOEXEC);
    EXPECT(r == 0);
    {
        size_t n = V10;
        r = read(50, buf, n);
        EXPECT(r == 10);
        L("read", 50, "a.dat", r, 10, NONE, 0);
    }
    int dups[] = {fd2, 50, 51, fd60, fd70};
    for (int i = 0; i < 5; i++) {
        r = close(dups[i]);
        EXPECT(r == 0);
        L("close", dups[i], "a.dat", 0, NONE, NONE, 0);
    }
    /* the last of the group: its offset is the agent's again after an lseek */
    r = lseek(fd, 0, SEEK_END);
    EXPECT(r == 8192);
    L("lseek", fd, "a.dat", 8192, NONE, 8192, 0);
    r = write(fd, wbuf, 100);
    EXPECT(r == 100);
    L("write", fd, "a.dat", 100, 100, 8192, 0);

    /* --- file maps: anonymous ones are not traced -------------------------------------- */
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);
    EXPECT(m != MAP_FAILED && !memcmp(m, wbuf, 512));
    L("mmap", fd, "a.dat", ANY, 4096, 4096, 0);
    void *anon = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(anon != MAP_FAILED);
    r = munmap(anon, 8192);
    EXPECT(r == 0);
    r = munmap(m, 4096);
    EXPECT(r == 0);
    L("munmap", fd, "a.dat", 0, 4096, NONE, 0);
    m = mmap64(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(m != MAP_FAILED);
    L("mmap64", fd, "a.dat", ANY, 4096, 0, 0);
    r = munmap(m, 4096);
    L("munmap", fd, "a.dat", 0, 4096, NONE, 0);
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, BADFD, 0);
    e = errno;
    EXPECT(m == MAP_FAILED && e == EBADF);
    L("mmap", BADFD, NULL, -1, NONE, 0, e);

    /* --- O_APPEND: write offsets are unknown ------------------------------------------- */
    int fb = open(B, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    EXPECT(fb >= 0);
    L("open", fb, "b.dat", fb, NONE, NONE, 0);
    for (int i = 0; i < 2; i++) {
        r = write(fb, wbuf, 10);
        EXPECT(r == 10);
        L("write", fb, "b.dat", 10, 10, NONE, 0);
    }
    r = lseek(fb, 0, SEEK_CUR);
    EXPECT(r == 20);
    L("lseek", fb, "b.dat", 20, NONE, 20, 0);
    r = pwrite(fb, wbuf, 5, 0); /* Linux appends anyway */
    EXPECT(r == 5);
    L("pwrite", fb, "b.dat", 5, 5, NONE, 0);
    r = close(fb);
    L("close", fb, "b.dat", 0, NONE, NONE, 0);

    /* --- creat, openat, the fortify _2 forms, failures --------------------------------- */
    int fc = creat(C, 0644);
    EXPECT(fc >= 0);
    L("creat", fc, "c.dat", fc, NONE, NONE, 0);
    r = write(fc, wbuf, 200);
    L("write", fc, "c.dat", 200, 200, 0, 0);
    r = close(fc);
    L("close", fc, "c.dat", 0, NONE, NONE, 0);
    fc = creat64(C, 0644);
    EXPECT(fc >= 0);
    L("creat64", fc, "c.dat", fc, NONE, NONE, 0);
    r = close(fc);
    L("close", fc, "c.dat", 0, NONE, NONE, 0);
    int o = openat(dfd, "a.dat", O_RDONLY);
    EXPECT(o >= 0);
    L("openat", o, "a.dat", o, NONE, NONE, 0);
    {
        size_t n = V100;
        r = read(o, buf, n);
        EXPECT(r == 100 && !memcmp(buf, wbuf, 64));
        L("read", o, "a.dat", 100, 100, 0, 0);
    }
    close(o);
    L("close", o, "a.dat", 0, NONE, NONE, 0);
    o = openat64(AT_FDCWD, A, O_RDONLY);
    L("openat64", o, "a.dat", o, NONE, NONE, 0);
    close(o);
    L("close", o, "a.dat", 0, NONE, NONE, 0);
    o = open64(A, O_RDONLY);
    L("open64", o, "a.dat", o, NONE, NONE, 0);
    close(o);
    L("close", o, "a.dat", 0, NONE, NONE, 0);
    o = __open_2(A, O_RDONLY);
    L("__open_2", o, "a.dat", o, NONE, NONE, 0);
    close(o);
    L("close", o, "a.dat", 0, NONE, NONE, 0);
    o = __open64_2(A, O_RDONLY);
    L("__open64_2", o, "a.dat", o, NONE, NONE, 0);
    close(o);
    L("close", o, "a.dat", 0, NONE, NONE, 0);
    o = __openat_2(dfd, "a.dat", O_RDONLY);
    L("__openat_2", o, "a.dat", o, NONE, NONE, 0);
    close(o);
    L("close", o, "a.dat", 0, NONE, NONE, 0);
    o = __openat64_2(dfd, "c.dat", O_RDONLY);
    L("__openat64_2", o, "c.dat", o, NONE, NONE, 0);
    close(o);
    L("close", o, "c.dat", 0, NONE, NONE, 0);
    r = open(MISS, O_RDONLY);
    e = errno;
    EXPECT(r == -1 && e == ENOENT);
    L("open", NONE, "missing", -1, NONE, NONE, e);
    {
        size_t n = V10;
        r = read(BADFD, buf, n);
        e = errno;
        EXPECT(r == -1 && e == EBADF);
        L("read", BADFD, NULL, -1, NONE, NONE, e);
    }
    r = close(BADFD);
    e = errno;
    EXPECT(r == -1 && e == EBADF);
    L("close", BADFD, NULL, -1, NONE, NONE, e);

    /* --- sendfile, copy_file_range: one record on the source --------------------------- */
    fc = open(C, O_WRONLY | O_TRUNC);
    L("open", fc, "c.dat", fc, NONE, NONE, 0);
    r = lseek(fd, 0, SEEK_SET);
    L("lseek", fd, "a.dat", 0, NONE, 0, 0);
    errno = EINTR; /* a call that succeeds leaves errno as it was, traced or not */
    r = sendfile(fc, fd, NULL, 100); /* from fd's offset 0; moves it to 100 */
    EXPECT(r == 100 && errno == EINTR);
    L("sendfile", fd, "a.dat", 100, 100, 0, 0);
    {
        size_t n = V10;
        r = read(fd, buf, n);
        EXPECT(r == 10 && !memcmp(buf, wbuf + 100, 10));
        L("read", fd, "a.dat", 10, 10, 100, 0);
    }
    off_t so = 1000;
    r = sendfile(fc, fd, &so, 50); /* from 1000; fd's offset stays 110 */
    EXPECT(r == 50 && so == 1050);
    L("sendfile", fd, "a.dat", 50, 50, 1000, 0);
    off64_t so64 = 2000;
    r = sendfile64(fc, fd, &so64, 50);
    EXPECT(r == 50);
    L("sendfile64", fd, "a.dat", 50, 50, 2000, 0);
    off64_t ci = 3000;
    r = copy_file_range(fd, &ci, fc, NULL, 64, 0);
    EXPECT(r == 64 && ci == 3064);
    L("copy_file_range", fd, "a.dat", 64, 64, 3000, 0);
    r = write(fc, wbuf, 6); /* c.dat's offset moved by the copies: 100+50+50+64 */
    L("write", fc, "c.dat", 6, 6, 264, 0);
    {
        size_t n = V10;
        r = read(fd, buf, n);
        EXPECT(r == 10);
        L("read", fd, "a.dat", 10, 10, 110, 0);
    }
    close(fc);
    L("close", fc, "c.dat", 0, NONE, NONE, 0);

    /* --- names ------------------------------------------------------------------------ */
    const char *C2 = path(5, "c2.dat"), *SUB = path(6, "sub");
    r = rename(C, C2);
    EXPECT(r == 0);
    L("rename", NONE, "c.dat", 0, NONE, NONE, 0);
    r = renameat(dfd, "c2.dat", dfd, "c3.dat");
    EXPECT(r == 0);
    L("renameat", NONE, "c2.dat", 0, NONE, NONE, 0);
    r = renameat2(dfd, "c3.dat", AT_FDCWD, C, RENAME_NOREPLACE);
    EXPECT(r == 0);
    L("renameat2", NONE, "c3.dat", 0, NONE, NONE, 0);
    r = mkdir(SUB, 0755);
    EXPECT(r == 0);
    L("mkdir", NONE, "sub", 0, NONE, NONE, 0);
    r = mkdir(SUB, 0755);
    e = errno;
    EXPECT(r == -1 && e == EEXIST);
    L("mkdir", NONE, "sub", -1, NONE, NONE, e);
    r = mkdirat(dfd, "sub2", 0755);
    EXPECT(r == 0);
    L("mkdirat", NONE, "sub2", 0, NONE, NONE, 0);
    r = rmdir(SUB);
    EXPECT(r == 0);
    L("rmdir", NONE, "sub", 0, NONE, NONE, 0);
    r = unlinkat(dfd, "sub2", AT_REMOVEDIR);
    EXPECT(r == 0);
    L("unlinkat", NONE, "sub2", 0, NONE, NONE, 0);
    r = unlink(C);
    EXPECT(r == 0);
    L("unlink", NONE, "c.dat", 0, NONE, NONE, 0);
    r = unlink(C);
    e = errno;
    EXPECT(r == -1 && e == ENOENT);
    L("unlink", NONE, "c.dat", -1, NONE, NONE, e);
    r = unlinkat(dfd, "b.dat", 0);
    EXPECT(r == 0);
    L("unlinkat", NONE, "b.dat", 0, NONE, NONE, 0);

    /* --- close_range --------------------------------------------------------------------- */
    int k1 = open(A, O_RDONLY), k2 = open(A, O_RDONLY);
    EXPECT(k1 >= 0 && k2 > k1);
    L("open", k1, "a.dat", k1, NONE, NONE, 0);
    L("open", k2, "a.dat", k2, NONE, NONE, 0);
    if (k2 == k1 + 1) {
        r = close_range(k1, k2, 0);
        EXPECT(r == 0);
        L("close_range", k1, "-", 0, NONE, NONE, 0);
    } else { /* something else holds the fd between: never close what is not ours */
        fprintf(stderr, "io_calls: fd %d was taken between two opens\n", k1 + 1);
        r = close_range(k1, k1, 0);
        L("close_range", k1, "-", 0, NONE, NONE, 0);
        r = close_range(k2, k2, 0);
        L("close_range", k2, "-", 0, NONE, NONE, 0);
    }
    EXPECT(fcntl(k1, F_GETFD) == -1 && fcntl(k2, F_GETFD) == -1);
    {
        size_t n = V10;
        r = read(k1, buf, n); /* closed: no stale path on the fd */
        e = errno;
        EXPECT(r == -1 && e == EBADF);
        L("read", k1, NULL, -1, NONE, NONE, e);
    }

    /* --- the library loaded RTLD_LOCAL: its pread is traced ---------------------------- */
    void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "io_calls: dlopen %s: %s\n", argv[2], dlerror());
        return 1;
    }
    ssize_t (*lib_pread)(int, void *, size_t, off_t) =
        (ssize_t (*)(int, void *, size_t, off_t))dlsym(h, "io_local_pread");
    EXPECT(lib_pread);
    r = lib_pread(fd, buf, 256, 512);
    EXPECT(r == 256 && !memcmp(buf, wbuf + 512, 256));
    L("pread@lib", fd, "a.dat", 256, 256, 512, 0);

    /* --- stdio ------------------------------------------------------------------------- */
    FILE *fp = fopen(S, "w+");
    EXPECT(fp);
    int sf = fileno(fp);
    L("fopen", sf, "s.txt", NONE, NONE, NONE, 0);
    const char *line = "abcdefghi\nabcdefghi\n"; /* two lines of 10 bytes */
    r = (long)fwrite(line, V10, V3 - 1, fp); /* 2 items of 10 */
    EXPECT(r == 2);
    L("fwrite", sf, "s.txt", 2, 20, 0, 0);
    r = (long)fwrite_unlocked(line, V1, V10, fp);
    EXPECT(r == 10);
    L("fwrite_unlocked", sf, "s.txt", 10, 10, 20, 0);
    r = fputs("hello\n", fp);
    EXPECT(r >= 0);
    L("fputs", sf, "s.txt", r, 6, 30, 0);
    r = fputs_unlocked("world\n", fp);
    EXPECT(r >= 0);
    L("fputs_unlocked", sf, "s.txt", r, 6, 36, 0);
    r = fflush(fp);
    L("fflush", sf, "s.txt", 0, NONE, NONE, 0);
    r = fflush_unlocked(fp);
    L("fflush_unlocked", sf, "s.txt", 0, NONE, NONE, 0);
    r = fseek(fp, 0, SEEK_SET);
    EXPECT(r == 0);
    L("fseek", sf, "s.txt", 0, NONE, 0, 0);
    r = (long)fread(buf, V1, V5, fp);
    EXPECT(r == 5 && !memcmp(buf, "abcde", 5));
    L("fread", sf, "s.txt", 5, 5, 0, 0);
    r = (long)fread(buf, V1, V5, fp);
    EXPECT(r == 5 && !memcmp(buf, "fghi\n", 5));
    L("fread", sf, "s.txt", 5, 5, 5, 0);
    r = fseek(fp, 20, SEEK_SET);
    L("fseek", sf, "s.txt", 0, NONE, 20, 0);
    r = (long)fread(buf, V4, V1, fp); /* after fseek: at 20 */
    EXPECT(r == 1 && !memcmp(buf, "abcd", 4));
    L("fread", sf, "s.txt", 1, 4, 20, 0);
    r = (long)fread_unlocked(buf, V1, V4, fp);
    EXPECT(r == 4 && !memcmp(buf, "efgh", 4));
    L("fread_unlocked", sf, "s.txt", 4, 4, 24, 0);
    r = fseek(fp, -12, SEEK_END); /* 42 - 12 = 30 */
    EXPECT(r == 0);
    L("fseek", sf, "s.txt", 0, NONE, 30, 0);
    {
        int n = (int)V64;
        char *g = fgets(buf, n, fp);
        EXPECT(g && !strcmp(buf, "hello\n"));
        L("fgets", sf, "s.txt", NONE, 6, 30, 0);
        g = fgets_unlocked(buf, n, fp);
        EXPECT(g && !strcmp(buf, "world\n"));
        L("fgets_unlocked", sf, "s.txt", NONE, 6, 36, 0);
        g = fgets(buf, n, fp); /* end of file: NULL, not an error */
        EXPECT(!g);
        L("fgets", sf, "s.txt", NONE, 0, 42, 0);
    }
    r = ftell(fp);
    EXPECT(r == 42);
    L("ftell", sf, "s.txt", 42, NONE, 42, 0);
    r = fseeko(fp, 10, SEEK_SET);
    L("fseeko", sf, "s.txt", 0, NONE, 10, 0);
    r = ftello(fp);
    EXPECT(r == 10);
    L("ftello", sf, "s.txt", 10, NONE, 10, 0);
    {
        char *ln = NULL;
        size_t cap = 0;
        r = getline(&ln, &cap, fp);
        EXPECT(r == 10);
        L("getline", sf, "s.txt", 10, 10, 10, 0);
        r = getdelim(&ln, &cap, 'l', fp); /* "abcdefghi\nhel" */
        EXPECT(r == 13);
        L("getdelim", sf, "s.txt", 13, 13, 20, 0);
        free(ln);
    }
    rewind(fp);
    L("rewind", sf, "s.txt", NONE, NONE, 0, 0);
    r = fseeko64(fp, 30, SEEK_SET);
    L("fseeko64", sf, "s.txt", 0, NONE, 30, 0);
    fpos_t pos;
    EXPECT(fgetpos(fp, &pos) == 0); /* not traced */
    r = fseek(fp, 5, SEEK_CUR);
    L("fseek", sf, "s.txt", 0, NONE, 35, 0);
    r = fsetpos(fp, &pos);
    EXPECT(r == 0);
    L("fsetpos", sf, "s.txt", 0, NONE, 30, 0);
    r = ftello64(fp);
    EXPECT(r == 30);
    L("ftello64", sf, "s.txt", 30, NONE, 30, 0);
    r = (long)fread(buf, V1, V1000, fp); /* short: 12 bytes, end of file, no error */
    EXPECT(r == 12);
    L("fread", sf, "s.txt", 12, 12, 30, 0);
    r = fclose(fp);
    EXPECT(r == 0);
    L("fclose", sf, "s.txt", 0, NONE, NONE, 0);

    fp = fopen(MISS, "r");
    e = errno;
    EXPECT(!fp && e == ENOENT);
    L("fopen", NONE, "missing", NONE, NONE, NONE, e);

    fp = fopen64(S, "r");
    EXPECT(fp);
    sf = fileno(fp);
    L("fopen64", sf, "s.txt", NONE, NONE, NONE, 0);
    r = (long)fread(buf, V10, V1, fp);
    L("fread", sf, "s.txt", 1, 10, 0, 0);
    fp = freopen(A, "r", fp); /* same fd number again */
    EXPECT(fp && fileno(fp) == sf);
    L("freopen", sf, "a.dat", NONE, NONE, NONE, 0);
    r = (long)fread(buf, V1, V100, fp);
    EXPECT(r == 100 && !memcmp(buf, wbuf, 64));
    L("fread", sf, "a.dat", 100, 100, 0, 0);
    fp = freopen64(S, "r", fp);
    EXPECT(fp);
    sf = fileno(fp);
    L("freopen64", sf, "s.txt", NONE, NONE, NONE, 0);
    fclose(fp);
    L("fclose", sf, "s.txt", 0, NONE, NONE, 0);

    /* fdopen: the stream starts where the fd is */
    o = open(S, O_RDONLY);
    L("open", o, "s.txt", o, NONE, NONE, 0);
    r = lseek(o, 10, SEEK_SET);
    L("lseek", o, "s.txt", 10, NONE, 10, 0);
    fp = fdopen(o, "r");
    EXPECT(fp);
    L("fdopen", o, "s.txt", NONE, NONE, NONE, 0);
    r = (long)fread(buf, V1, V10, fp);
    EXPECT(r == 10 && !memcmp(buf, "abcdefghi\n", 10));
    L("fread", o, "s.txt", 10, 10, 10, 0);
    fclose(fp);
    L("fclose", o, "s.txt", 0, NONE, NONE, 0);

    /* "a": writes at the end, offsets unknown; ftell knows again but appends do not */
    fp = fopen(S, "a");
    EXPECT(fp);
    sf = fileno(fp);
    L("fopen", sf, "s.txt", NONE, NONE, NONE, 0);
    r = (long)fwrite("12345", V5, V1, fp);
    L("fwrite", sf, "s.txt", 1, 5, NONE, 0);
    r = ftell(fp);
    EXPECT(r == 47);
    L("ftell", sf, "s.txt", 47, NONE, 47, 0);
    r = (long)fwrite("6789", V4, V1, fp);
    L("fwrite", sf, "s.txt", 1, 4, NONE, 0);
    fclose(fp);
    L("fclose", sf, "s.txt", 0, NONE, NONE, 0);

    r = close(dfd);
    L("close", dfd, ".", 0, NONE, NONE, 0);
    r = close(fd);
    EXPECT(r == 0);
    L("close", fd, "a.dat", 0, NONE, NONE, 0);
    r = stat(S, &st);
    EXPECT(r == 0 && st.st_size == 51);
    L("stat", NONE, "s.txt", 0, NONE, NONE, 0);
    /* like a daemon or a subprocess child: close every fd above 2 (the agent's stay open) */
    r = close_range(3, ~0U, 0);
    EXPECT(r == 0);
    L("close_range", 3, NULL, 0, NONE, NONE, 0);
    printf("done\n");
    return 0;
}
