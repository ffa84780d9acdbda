/* Call stacks (t56, bench stacks): preads from known functions at a known depth.
 *   deep FILE N DEPTH [maps]
 * reads N times with pread from leaf_read, called through DEPTH frames of recurse(); with
 * "maps", prints whether libunwind is mapped (/proc/self/maps) at the end. Prints the
 * address ranges of its functions ("fn NAME LO HI") for the test to check frames. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd;
static char buf[64];

__attribute__((noinline)) long leaf_read(long i)
{
    long r = pread(fd, buf, sizeof buf, (i * 64) % 4096);
    __asm__ volatile("" ::: "memory"); /* the call is not a tail call */
    return r;
}

__attribute__((noinline)) long recurse(int d, long i)
{
    long r = d > 0 ? recurse(d - 1, i) : leaf_read(i);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) void recurse_end(void) {}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return 1;
    long n = atol(argv[2]);
    int depth = atoi(argv[3]);
    long total = 0;
    for (long i = 0; i < n; i++)
        total += recurse(depth, i);
    close(fd);
    printf("read %ld\n", total);
    printf("fn leaf_read %lx %lx\n", (unsigned long)(void *)leaf_read,
           (unsigned long)(void *)recurse);
    printf("fn recurse %lx %lx\n", (unsigned long)(void *)recurse,
           (unsigned long)(void *)recurse_end);
    printf("fn main %lx %lx\n", (unsigned long)(void *)main, (unsigned long)(void *)main + 400);
    if (argc > 4 && !strcmp(argv[4], "maps")) {
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512];
        int unw = 0;
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "libunwind"))
                unw = 1;
        if (f)
            fclose(f);
        printf("libunwind mapped %d\n", unw);
    }
    return 0;
}
