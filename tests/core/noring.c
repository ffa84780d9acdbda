/* Threads whose ring cannot be mapped: the main thread makes MAIN preads (it gets its ring
 * and the drainer starts), then lowers RLIMIT_AS to what is mapped now plus 768 KiB (room
 * for a small thread stack, not for a 1 MiB ring) and runs NTHR threads one after the
 * other, each making PER preads. The limit is lifted again before exit (the agent writes
 * its files then). Prints: calls made, threads that ran. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>

#define MAIN 5
#define NTHR 4
#define PER 100
static int fd;

static void *worker(void *arg)
{
    char c;
    long *made = arg;
    for (int i = 0; i < PER; i++)
        if (pread(fd, &c, 1, 0) == 1)
            (*made)++;
    return NULL;
}

static long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmSize:", 7))
            v = strtol(line + 7, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

int main(void)
{
    char c;
    long made = 0;
    int ran = 0;
    fd = open("/dev/zero", O_RDONLY);
    for (int i = 0; i < MAIN; i++)
        if (pread(fd, &c, 1, 0) == 1)
            made++;
    struct timespec ts = {0, 200 * 1000 * 1000}; /* the drainer's first cycles */
    nanosleep(&ts, NULL);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    long kb = vm_size_kb();
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)(kb + 768) * 1024;
    if (setrlimit(RLIMIT_AS, &lim)) {
        perror("setrlimit");
        return 2;
    }
    for (int i = 0; i < NTHR; i++) {
        pthread_t t;
        long n = 0;
        if (pthread_create(&t, &a, worker, &n))
            continue;
        pthread_join(t, NULL);
        made += n;
        ran++;
    }
    setrlimit(RLIMIT_AS, &old);
    printf("%ld %d\n", made, ran);
    return 0;
}
