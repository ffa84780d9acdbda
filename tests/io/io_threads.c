/* 8 threads x 100,000 preads on one file (argv[1]), each of 64 bytes at a known offset.
 * Prints the number of calls made that the agent must trace (or count as dropped). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define CALLS 100000

static int fd;
static long bad[THREADS];

static void *run(void *arg)
{
    long id = (long)arg;
    char buf[64];
    for (int i = 0; i < CALLS; i++) {
        off_t off = (off_t)((i + id) % 64) * 64;
        if (pread(fd, buf, sizeof buf, off) != 64 || buf[0] != (char)(off / 64))
            bad[id]++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char page[4096];
    for (int i = 0; i < 4096; i++)
        page[i] = (char)(i / 64);
    fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);           /* traced: 1 */
    if (fd < 0 || pwrite(fd, page, sizeof page, 0) != sizeof page)  /* traced: 1 */
        return 1;
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, run, (void *)t);
    long nbad = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        nbad += bad[t];
    }
    close(fd);                                                        /* traced: 1 */
    if (nbad) {
        fprintf(stderr, "io_threads: %ld preads went wrong\n", nbad);
        return 1;
    }
    printf("%d\n", THREADS * CALLS + 3);
    return 0;
}
