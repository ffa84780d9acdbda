/* tests/t35_io_direct.sh: the calls the agent makes itself (pread, pwrite, lseek, stat; see
 * "Direct calls" in agent/posix.c) must behave as glibc's.
 *
 *   direct chain FILE N    N x (pread, pwrite, lseek, stat, fstat) on FILE; prints what an
 *                          interposer preloaded with the agent (tests/io/shim.c) counted
 *   direct cancel FILE     a thread calls pread on FILE in a loop, whose only cancellation
 *                          point is pread; the main thread cancels it and joins it. Prints
 *                          the preads the thread completed. alarm(10): a pread loop that no
 *                          longer acts on cancellation hangs, and the test fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long counted(const char *name)
{
    long *c = dlsym(RTLD_DEFAULT, name);
    return c ? *c : -1;
}

static volatile long done;
static int cfd;

static void *reader(void *arg)
{
    (void)arg;
    char b[16];
    for (;;) {
        if (pread(cfd, b, sizeof b, 0) != (ssize_t)sizeof b)
            abort();
        done++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *file = argv[2];
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[64];
    memset(buf, 'x', sizeof buf);
    if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
        return 3;
    if (strcmp(argv[1], "chain") == 0) {
        int n = argc > 3 ? atoi(argv[3]) : 100;
        struct stat st;
        for (int i = 0; i < n; i++) {
            if (pread(fd, buf, 8, i % 32) != 8 || pwrite(fd, buf, 4, 60) != 4 ||
                lseek(fd, i, SEEK_SET) != i || stat(file, &st) != 0 || st.st_size != 64 ||
                fstat(fd, &st) != 0 || st.st_size != 64)
                return 4;
        }
        printf("shim pread=%ld pwrite=%ld lseek=%ld stat=%ld fstat=%ld\n",
               counted("shim_pread"), counted("shim_pwrite"), counted("shim_lseek"),
               counted("shim_stat"), counted("shim_fstat"));
    } else if (strcmp(argv[1], "cancel") == 0) {
        alarm(10);
        cfd = fd;
        pthread_t th;
        if (pthread_create(&th, NULL, reader, NULL) != 0)
            return 5;
        while (done < 1000) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        void *res;
        if (pthread_cancel(th) != 0 || pthread_join(th, &res) != 0 || res != PTHREAD_CANCELED)
            return 6;
        printf("%ld\n", done);
    } else {
        return 2;
    }
    close(fd);
    return 0;
}
