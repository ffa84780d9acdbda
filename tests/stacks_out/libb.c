/* read_b, in a shared library the program links (tests/t57_stacks.sh): its preads must be
 * attributed to read_b, in this library, not to the program that called it. */
#define _GNU_SOURCE
#include <unistd.h>

__attribute__((noinline)) long read_b(int fd, char *buf, long off)
{
    long n = pread(fd, buf, 1000, off); /* READ_B_CALL */
    return n;
}
