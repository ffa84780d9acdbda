/* t56: libunwind's own fds must not be the program's. fdreuse DATA DIR N
 *
 * Prints "first FD" (the fd of the program's first open, DATA: 3 without the agent), preads
 * DATA N times (stacks are taken), closes every fd from 3 to 1023 as a daemon does, then
 * opens DIR/f0..f3 (3, 4, ... again), writes a known pattern in each, rewinds them, preads
 * each N times more from a new thread (stacks taken with the new files on the numbers libunwind once had),
 * and reads them back: "files good" when each holds exactly its pattern, else "files bad ...".
 * Last, "lowpipes K": the pipes among the program's fds below 1000 (it opened none). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NF 4
#define LEN 4096

/* preads from a new thread (its first walks: libunwind checks addresses through its pipe,
 * a byte read from one end and written to the other) */
__attribute__((noinline)) static int again(int fd, int n, int depth)
{
    char b[64];
    if (depth > 0) {
        int r = again(fd, n, depth - 1);
        __asm__ volatile("" ::: "memory");
        return r;
    }
    for (int i = 0; i < n; i++)
        if (pread(fd, b, sizeof b, 0) < 0)
            return -1;
    return 0;
}

static int fds[NF], reps, failed;

static void *worker(void *arg)
{
    (void)arg;
    for (int k = 0; k < NF; k++)
        if (again(fds[k], reps, k + 1) < 0)
            failed = 1;
    return NULL;
}

static void fill(unsigned char *b, int k)
{
    for (int i = 0; i < LEN; i++)
        b[i] = (unsigned char)(k * 37 + i * 11);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int n = atoi(argv[3]);
    int fd = open(argv[1], O_RDONLY);
    printf("first %d\n", fd);
    char b[64];
    for (int i = 0; i < n; i++)
        if (pread(fd, b, sizeof b, 0) < 0)
            return 1;
    for (int i = 3; i < 1024; i++)
        close(i);
    unsigned char want[LEN], got[LEN + 1];
    for (int k = 0; k < NF; k++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/f%d", argv[2], k);
        fds[k] = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fds[k] < 0)
            return 1;
    }
    for (int k = 0; k < NF; k++) {
        fill(want, k);
        if (write(fds[k], want, LEN) != LEN || lseek(fds[k], 0, SEEK_SET) != 0)
            return 1;
    }
    reps = n;
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) || pthread_join(th, NULL) || failed)
        return 1;
    int bad = 0;
    for (int k = 0; k < NF; k++) {
        fill(want, k);
        ssize_t r = pread(fds[k], got, sizeof got, 0);
        if (r != LEN || memcmp(got, want, LEN)) {
            printf("files bad: f%d fd %d holds %zd bytes%s\n", k, fds[k], r,
                   r == LEN ? ", not its pattern" : "");
            bad = 1;
        }
        close(fds[k]);
    }
    if (!bad)
        printf("files good (fds %d..%d)\n", fds[0], fds[NF - 1]);
    int low = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[300], l[256];
        int v = atoi(e->d_name);
        if (e->d_name[0] == '.' || v >= 1000)
            continue;
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(p, l, sizeof l - 1);
        l[k > 0 ? k : 0] = 0;
        if (!strncmp(l, "pipe:", 5) && v > 2)
            low++;
    }
    printf("lowpipes %d\n", low);
    return 0;
}
