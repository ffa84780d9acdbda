/* The data-loader pattern of issue #20: for N distinct files in DIR, open/write 4 KiB/close,
 * stat, open/read/close (7 calls a file), then unlink them all (untimed). Prints one line:
 * files=N ns=<wall of the timed part> ns_per_file=... maxrss_kb=<peak RSS at the end>.
 *   smallfiles DIR N
 * On tmpfs (/dev/shm) the calls cost what the kernel's page cache costs, so the agent's
 * per-file share shows (bench/run.sh, the `files` piece). */
#include <fcntl.h>
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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: smallfiles DIR N\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = atoi(argv[2]);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    char path[4096];
    long long t0 = now_ns();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/file-%06d.bin", dir, i);
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
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("files=%d ns=%lld ns_per_file=%.0f maxrss_kb=%ld\n", n, t1 - t0,
           (double)(t1 - t0) / (n ? n : 1), ru.ru_maxrss);
    if (!getenv("SMALLFILES_KEEP"))
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/file-%06d.bin", dir, i);
            unlink(path);
        }
    return 0;
}
