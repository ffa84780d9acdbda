/* An interposer of the kind a user may preload next to the agent (Darshan, an I/O
 * redirection library): counts pread, pwrite, lseek, stat and fstat, then calls the next
 * definition. tests/t35_io_direct.sh checks that it still gets every call with the agent
 * preloaded before it (the agent must not make those system calls itself then) or after it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

long shim_pread, shim_pwrite, shim_lseek, shim_stat, shim_fstat;

#define NEXT(fn)                                                                  \
    static __typeof__(fn) *next;                                                  \
    if (!next)                                                                    \
        next = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn)

ssize_t pread(int fd, void *b, size_t n, off_t off)
{
    NEXT(pread);
    shim_pread++;
    return next(fd, b, n, off);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
    NEXT(pwrite);
    shim_pwrite++;
    return next(fd, b, n, off);
}
off_t lseek(int fd, off_t off, int whence)
{
    NEXT(lseek);
    shim_lseek++;
    return next(fd, off, whence);
}
int stat(const char *path, struct stat *st)
{
    NEXT(stat);
    shim_stat++;
    return next(path, st);
}
int fstat(int fd, struct stat *st)
{
    NEXT(fstat);
    shim_fstat++;
    return next(fd, st);
}
