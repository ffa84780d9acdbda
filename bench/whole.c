/* The whole-program workloads of issue #20 in C (bench/whole.sh):
 *   whole files DIR N   the data-loader pattern: for N distinct files in DIR, open/write
 *                       4 KiB/close, stat, open/read/close (7 calls a file), then unlink
 *                       them all (not in ns=, but in the process's wall time)
 *   whole pread FILE N  N preads of 4 KiB at offset 0 of FILE, one thread
 * Prints one line: n=N ns=<wall of the loop> ns_per=... maxrss_kb=<peak RSS after it>
 * start_ns=<CLOCK_MONOTONIC as the loop starts>; files adds a second line, unlink_ns=<the
 * unlink loop> end_ns=<CLOCK_MONOTONIC at main's end> (bench/whole_phases.py splits a
 * process's wall time with them).
 * WHOLE_IDLE_THREAD=1 starts a thread that only sleeps, =unshare one that first takes a
 * file table of its own (unshare(CLONE_FILES)): what a second thread in the process costs
 * the calls of the first (bench/NOTES.md, row 59).
 * On tmpfs (/dev/shm) the calls cost what the kernel's page cache costs, so the agent's
 * per-file share shows. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *idle(void *arg)
{
    if (arg)
        unshare(CLONE_FILES);
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: whole files DIR N | whole pread FILE N\n");
        return 2;
    }
    const char *dir = argv[2];
    long n = atol(argv[3]);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    char path[4096];
    struct rusage ru;
    const char *idle_env = getenv("WHOLE_IDLE_THREAD");
    if (idle_env && *idle_env) {
        pthread_t th;
        pthread_create(&th, NULL, idle, strcmp(idle_env, "unshare") == 0 ? (void *)1 : NULL);
    }
    long long t0 = now_ns();
    if (strcmp(argv[1], "pread") == 0) {
        int fd = open(dir, O_RDONLY);
        if (fd < 0) {
            perror(dir);
            return 1;
        }
        for (long i = 0; i < n; i++)
            if (pread(fd, buf, sizeof buf, 0) < 0) {
                perror("pread");
                return 1;
            }
        long long t1 = now_ns();
        close(fd);
        getrusage(RUSAGE_SELF, &ru);
        printf("n=%ld ns=%lld ns_per=%.1f maxrss_kb=%ld start_ns=%lld\n", n, t1 - t0,
               (double)(t1 - t0) / (n ? n : 1), ru.ru_maxrss, t0);
        return 0;
    }
    if (strcmp(argv[1], "files") != 0) {
        fprintf(stderr, "whole: unknown mode %s\n", argv[1]);
        return 2;
    }
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/file-%06ld.bin", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            perror(path);
            return 1;
        }
        close(fd);
        struct stat st;
        if (stat(path, &st) != 0 || st.st_size != (off_t)sizeof buf) {
            perror(path);
            return 1;
        }
        fd = open(path, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            perror(path);
            return 1;
        }
        close(fd);
    }
    long long t1 = now_ns();
    getrusage(RUSAGE_SELF, &ru);
    printf("n=%ld ns=%lld ns_per=%.0f maxrss_kb=%ld start_ns=%lld\n", n, t1 - t0,
           (double)(t1 - t0) / (n ? n : 1), ru.ru_maxrss, t0);
    if (!getenv("WHOLE_KEEP"))
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/file-%06ld.bin", dir, i);
            unlink(path);
        }
    long long t2 = now_ns();
    printf("unlink_ns=%lld end_ns=%lld\n", t2 - t1, t2);
    return 0;
}
