/* bench/minwrap.c: the least a preloaded tracing wrapper can do, as a yardstick for the
 * agent (`make bench` preloads it as the "minwrap" configuration; bench/README.md).
 *
 * pread, fopen, fread and fclose (the table's calls), and open, read, write, close, stat and
 * unlink (the `files` workload of bench/whole.sh), each wrapped as the agent wraps them,
 * minus everything but
 * the recording itself: the start stamp as the agent takes it (`lfence; rdtsc`), the call to
 * libc's function (found with RTLD_NEXT), the end stamp (`rdtsc`) and one 64-byte record
 * into a 1 MiB ring in the library's own memory, a thread-local head. No check, no fd or
 * path, no errno, no drainer: nothing ever reads the ring (it wraps around), so nothing
 * takes its lines away from the calling core. What it costs over the bare call is what a
 * wrapper in a library of its own costs on this machine before it does any bookkeeping:
 * its code is reached through the program's PLT and left through a return after the call,
 * on a page of its own. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

struct rec {
    uint64_t w[8];
} __attribute__((aligned(64)));
#define SLOTS (1u << 14)
static struct rec ring[SLOTS] __attribute__((aligned(4096)));
static __thread uint64_t head __attribute__((tls_model("initial-exec")));

static ssize_t (*r_pread)(int, void *, size_t, off_t);
static FILE *(*r_fopen)(const char *, const char *);
static size_t (*r_fread)(void *, size_t, size_t, FILE *);
static int (*r_fclose)(FILE *);
static int (*r_open)(const char *, int, ...);
static ssize_t (*r_read)(int, void *, size_t);
static ssize_t (*r_write)(int, const void *, size_t);
static int (*r_close)(int);
static int (*r_stat)(const char *, struct stat *);
static int (*r_unlink)(const char *);

__attribute__((constructor)) static void init(void)
{
    r_pread = (ssize_t(*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
    r_fopen = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    r_fread = (size_t(*)(void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fread");
    r_fclose = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    r_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    r_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    r_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    r_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    r_stat = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "stat");
    r_unlink = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
}

static inline uint64_t stamp_start(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return (uint64_t)hi << 32 | lo;
}

static inline uint64_t stamp_end(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return (uint64_t)hi << 32 | lo;
}

static inline void record(uintptr_t op, uint64_t t0, uint64_t t1, int64_t ret, int64_t arg)
{
    struct rec *r = &ring[head++ & (SLOTS - 1)];
    r->w[0] = op;
    r->w[1] = t0;
    r->w[2] = t1;
    r->w[3] = (uint64_t)ret;
    r->w[4] = (uint64_t)arg;
    r->w[5] = 0;
    r->w[6] = 0;
    r->w[7] = 0;
    __asm__ volatile("" ::"r"(r) : "memory"); /* the stores stay: nothing reads them */
}

__attribute__((visibility("default"))) ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    uint64_t t0 = stamp_start();
    ssize_t r = r_pread(fd, buf, n, off);
    record(1, t0, stamp_end(), r, fd);
    return r;
}

/* fopen, fread and fclose on one page, as the agent has them (agent/stdio.c, TA_PAGE) */
__attribute__((visibility("default"), aligned(4096))) FILE *fopen(const char *path,
                                                                  const char *mode)
{
    uint64_t t0 = stamp_start();
    FILE *f = r_fopen(path, mode);
    record(2, t0, stamp_end(), (int64_t)(uintptr_t)f, 0);
    return f;
}

__attribute__((visibility("default"))) size_t fread(void *p, size_t size, size_t n, FILE *fp)
{
    uint64_t t0 = stamp_start();
    size_t r = r_fread(p, size, n, fp);
    record(3, t0, stamp_end(), (int64_t)r, (int64_t)(uintptr_t)fp);
    return r;
}

__attribute__((visibility("default"))) int fclose(FILE *fp)
{
    uint64_t t0 = stamp_start();
    int r = r_fclose(fp);
    record(4, t0, stamp_end(), r, (int64_t)(uintptr_t)fp);
    return r;
}

/* The `files` workload's calls (bench/whole.c). No path is looked at: a tracer that keeps a
 * row a file pays that on top. */
__attribute__((visibility("default"))) int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    uint64_t t0 = stamp_start();
    int r = r_open(path, flags, mode);
    record(5, t0, stamp_end(), r, flags);
    return r;
}

__attribute__((visibility("default"))) ssize_t read(int fd, void *buf, size_t n)
{
    uint64_t t0 = stamp_start();
    ssize_t r = r_read(fd, buf, n);
    record(6, t0, stamp_end(), r, fd);
    return r;
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void *buf, size_t n)
{
    uint64_t t0 = stamp_start();
    ssize_t r = r_write(fd, buf, n);
    record(7, t0, stamp_end(), r, fd);
    return r;
}

__attribute__((visibility("default"))) int close(int fd)
{
    uint64_t t0 = stamp_start();
    int r = r_close(fd);
    record(8, t0, stamp_end(), r, fd);
    return r;
}

__attribute__((visibility("default"))) int stat(const char *path, struct stat *st)
{
    uint64_t t0 = stamp_start();
    int r = r_stat(path, st);
    record(9, t0, stamp_end(), r, 0);
    return r;
}

__attribute__((visibility("default"))) int unlink(const char *path)
{
    uint64_t t0 = stamp_start();
    int r = r_unlink(path);
    record(10, t0, stamp_end(), r, 0);
    return r;
}
