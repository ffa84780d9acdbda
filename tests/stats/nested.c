/* Known work for the stats and CLI tests:
 *   nested [N [PATH [EXIT [THREADS [FORK]]]]]
 * Each of THREADS threads (default 1: the main thread) runs N ranges "outer", each holding
 * 3 ranges "inner" that spin for varied, known lengths (2..40 us); an instant "hundred"
 * every 100 outer ranges and a counter "progress". PATH ("-": none): 10 writes of 1000
 * bytes, then reads of 4096 until the end. FORK=1: the process first runs 10 ranges
 * "parent_before", then forks; the child runs 5 ranges "child_only" and exits 0; the
 * parent waits and goes on. Exits with EXIT (default 0). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <traceagent.h>

static int n = 1000;

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void spin(unsigned long long ns)
{
    unsigned long long end = now_ns() + ns;
    while (now_ns() < end)
        ;
}

static void *work(void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        TRACEAGENT_SCOPE("outer");
        for (int j = 0; j < 3; j++) {
            traceagent_push("inner");
            spin(2000 + (unsigned long long)((i * 7919 + j * 104729) % 97) * 400);
            traceagent_pop();
        }
        if (i % 100 == 0)
            traceagent_instant("hundred");
        traceagent_count("progress", i);
    }
    return NULL;
}

static void ranges(const char *name, int k)
{
    for (int i = 0; i < k; i++) {
        traceagent_push(name);
        spin(1000);
        traceagent_pop();
    }
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 1000;
    const char *path = argc > 2 && strcmp(argv[2], "-") ? argv[2] : NULL;
    int code = argc > 3 ? atoi(argv[3]) : 0;
    int nthreads = argc > 4 ? atoi(argv[4]) : 1;
    int do_fork = argc > 5 ? atoi(argv[5]) : 0;

    if (do_fork) {
        ranges("parent_before", 10);
        pid_t pid = fork();
        if (pid == 0) {
            ranges("child_only", 5);
            exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    if (nthreads <= 1) {
        work(NULL);
    } else {
        pthread_t th[64];
        if (nthreads > 64)
            nthreads = 64;
        for (int t = 0; t < nthreads; t++)
            pthread_create(&th[t], NULL, work, NULL);
        for (int t = 0; t < nthreads; t++)
            pthread_join(th[t], NULL);
    }
    if (path) {
        char buf[4096] = {0};
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        for (int k = 0; k < 10; k++)
            if (write(fd, buf, 1000) != 1000)
                return 1;
        close(fd);
        fd = open(path, O_RDONLY);
        while (read(fd, buf, 4096) > 0)
            ;
        close(fd);
    }
    return code;
}
