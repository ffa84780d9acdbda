/* A known workload for tests/t70_writer.sh: preads of known sizes and offsets on many
 * files (more than the trace writer keeps templates and strings for), a failing pread, a
 * marker whose name needs escaping, and a forked child that reads too. Every call it makes
 * is printed on stdout, one line each, tab-separated, for the test to compare with the
 * trace: pid name path bytes offset ret errno (the bytes and offset asked for). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traceagent.h"

static char buf[65536];

static void rd(int fd, const char *path, size_t n, off_t off)
{
    errno = 0;
    ssize_t r = pread(fd, buf, n, off);
    printf("%d\tpread\t%s\t%zu\t%lld\t%zd\t%d\n", (int)getpid(), path, n, (long long)off, r,
           r < 0 ? errno : 0);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *dir = argv[1];
    int nfiles = atoi(argv[2]);
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    char path[4096];
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/f%04d \"q\".bin", dir, i);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            return 3;
        rd(fd, path, 1, 0);
        rd(fd, path, 4096, 4096 * (i % 3));
        rd(fd, path, 65536, 999);
        close(fd);
    }
    rd(1000, "", 10, 0); /* EBADF */
    traceagent_push("phase \"one\"\t\\");
    traceagent_pop();
    fflush(stdout); /* not twice: the child would inherit what is buffered */
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(path, sizeof path, "%s/f%04d \"q\".bin", dir, 0);
        int fd = open(path, O_RDONLY);
        for (int k = 0; k < 50; k++)
            rd(fd, path, 100, k);
        close(fd);
        fflush(stdout);
        _exit(0);
    }
    fflush(stdout);
    int st;
    waitpid(pid, &st, 0);
    return 0;
}
