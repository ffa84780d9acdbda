/* A signal handler that preads, on a sigaltstack of argv[1] bytes (a guard page below), raised argv[2] times
 * (tests/t56: what the capture takes of a handler's stack). The stack is filled first; at
 * the end "used N" is the most of it the handlers touched (the kernel's signal frame
 * included). Exit 0 when every handler ran. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fd;
static volatile int ran;

static void handler(int s)
{
    char b[8];
    (void)s;
    if (pread(fd, b, sizeof b, 0) == (ssize_t)sizeof b)
        ran++;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    size_t sz = strtoul(argv[1], NULL, 0);
    int n = atoi(argv[2]);
    fd = open("/proc/self/exe", O_RDONLY);
    /* an inaccessible page right below the stack: a handler that needs more faults there */
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char *map = mmap(NULL, pg + sz, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fd < 0 || map == MAP_FAILED || mprotect(map, pg, PROT_NONE))
        return 2;
    unsigned char *mem = map + pg;
    memset(mem, 0xa5, sz);
    stack_t ss = {.ss_sp = mem, .ss_size = sz};
    if (sigaltstack(&ss, NULL))
        return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < n; i++)
        raise(SIGUSR1);
    size_t low = 0;
    while (low < sz && mem[low] == 0xa5)
        low++;
    printf("used %zu ran %d\n", sz - low, ran);
    return ran == n ? 0 : 1;
}
