/* The agent's own system calls. Everything the agent does for itself goes through raw
 * syscalls, never through a function the agent intercepts: its output must never be traced,
 * and a wrapper must never re-enter the agent. */
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ta.h"

long ta_sys_write(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    size_t done = 0;
    while (done < n) {
        long r = syscall(SYS_write, fd, p + done, n - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)r;
    }
    return (long)done;
}

long ta_sys_read(int fd, void *buf, size_t n)
{
    long r;
    do
        r = syscall(SYS_read, fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r;
}

int ta_sys_open(const char *path, int flags, int mode)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int ta_sys_close(int fd) { return (int)syscall(SYS_close, fd); }

void *ta_sys_mmap(size_t len)
{
    long p = syscall(SYS_mmap, 0, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return (p < 0 && p > -4096) || p == -1 ? NULL : (void *)p;
}

void ta_sys_munmap(void *p, size_t len) { syscall(SYS_munmap, p, len); }

/* The kernel's page size (madvise works in whole pages of it: 4 KiB here, 16 or 64 KiB on
 * some arm64 kernels), from the auxiliary vector: no system call. */
static uintptr_t page_mask(void)
{
    static uintptr_t mask;
    if (!mask) {
        unsigned long ps = getauxval(AT_PAGESZ);
        mask = (ps && !(ps & (ps - 1)) ? ps : 4096) - 1;
    }
    return mask;
}

void ta_sys_populate(void *p, size_t len)
{
    /* madvise takes whole pages (EINVAL otherwise): those holding [p, p + len), all of
     * them writable since the object is */
    uintptr_t m = page_mask();
    uintptr_t from = (uintptr_t)p & ~m;
    uintptr_t to = ((uintptr_t)p + len + m) & ~m;
    syscall(SYS_madvise, from, to - from, 23 /* MADV_POPULATE_WRITE, Linux 5.14 */);
}

void ta_sys_release(void *p, size_t len)
{
    /* only the pages wholly inside [p, p + len): a page shared with other data (the
     * first of .bss holds the end of .data, which MADV_DONTNEED would reset to the file's) */
    uintptr_t m = page_mask();
    uintptr_t from = ((uintptr_t)p + m) & ~m;
    uintptr_t to = ((uintptr_t)p + len) & ~m;
    if (to > from)
        syscall(SYS_madvise, from, to - from, MADV_DONTNEED);
}

int ta_gettid(void) { return (int)syscall(SYS_gettid); }

int ta_sys_mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    /* usually the directory is there already, or only its last part is missing; what the
     * agent creates is its owner's only (0700): never a directory others can plant in */
    if (syscall(SYS_mkdirat, AT_FDCWD, tmp, 0700) == 0 || errno == EEXIST)
        return 0;
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (syscall(SYS_mkdirat, AT_FDCWD, tmp, 0700) < 0 && errno != EEXIST)
                return -errno;
            tmp[i] = c;
        }
    }
    return 0;
}
