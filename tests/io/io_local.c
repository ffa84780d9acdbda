/* Loaded by io_calls with dlopen(RTLD_LOCAL): its pread must still reach the agent. */
#define _GNU_SOURCE
#include <unistd.h>

ssize_t io_local_pread(int fd, void *buf, size_t n, off_t off)
{
    return pread(fd, buf, n, off);
}
