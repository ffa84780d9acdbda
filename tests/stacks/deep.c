/* Call stacks (tests/t56_stacks_capture.sh): preads from known functions at a known depth.
 *
 *   deep FILE N DEPTH [maps]
 *
 * reads N times with pread from leaf_read, called through DEPTH + 1 frames of recurse()
 * from main; then a few stdio calls (fopen, fread, fclose) and markers (a range and an
 * instant) from main, which a test with TRACEAGENT_STACKS=posix expects without stacks.
 * With "maps" it prints "libunwind mapped 0|1" from /proc/self/maps at its end, and the
 * agent's mappings ("agent LO HI", hex) for the test to check that no frame lies there
 * (and ASan's runtime's, "asan LO HI": under make test-asan its pread interceptor, preloaded
 * before the agent, is the innermost caller),
 * and main's address ("main ADDR"), from which the test takes the load bias off the
 * frames to compare them with what `nm` gives. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <traceagent.h>

static int fd;
static char buf[64];

__attribute__((noinline)) long leaf_read(long i)
{
    long r = pread(fd, buf, sizeof buf, (i * 64) % 4096);
    __asm__ volatile("" ::: "memory"); /* not a tail call: the frame stays */
    return r;
}

__attribute__((noinline)) long recurse(int d, long i)
{
    long r = d > 0 ? recurse(d - 1, i) : leaf_read(i);
    __asm__ volatile("" ::: "memory");
    return r;
}

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
    traceagent_push("reads");
    for (long i = 0; i < n; i++)
        total += recurse(depth, i);
    traceagent_pop();
    close(fd);
    traceagent_instant("reads done");
    FILE *f = fopen(argv[1], "r");
    if (f) {
        total += (long)fread(buf, 1, sizeof buf, f);
        fclose(f);
    }
    printf("read %ld\n", total);
    if (argc > 4 && !strcmp(argv[4], "maps")) {
        /* raw reads of the maps: the check must not add events of its own */
        int m = open("/proc/self/maps", O_RDONLY);
        static char maps[1 << 20];
        size_t len = 0;
        ssize_t r;
        while (m >= 0 && len < sizeof maps - 1 &&
               (r = syscall(0 /* SYS_read */, m, maps + len, sizeof maps - 1 - len)) > 0)
            len += (size_t)r;
        maps[len] = 0;
        printf("libunwind mapped %d\n", strstr(maps, "libunwind") != NULL);
        printf("main %lx\n", (unsigned long)(void *)main);
        for (char *l = strtok(maps, "\n"); l; l = strtok(NULL, "\n"))
            if (strstr(l, "libtraceagent") || strstr(l, "libasan")) {
                unsigned long lo, hi;
                if (sscanf(l, "%lx-%lx", &lo, &hi) == 2)
                    printf("%s %lx %lx\n", strstr(l, "libasan") ? "asan" : "agent", lo, hi);
            }
    }
    return 0;
}
