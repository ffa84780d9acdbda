/* tests/lttng/sample.c: a traced program for the LTTng tests: POSIX and stdio calls on a
 * file in DIR (argv[1]), a failed open, markers (a range, an instant, counters, some past
 * 2^64), and a forked child that writes its own file and exits; then argv[2] (default 0)
 * writes of one byte to /dev/null, back to back (to fill a small ring). */
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traceagent.h"

int main(int argc, char **argv)
{
    char path[4096], buf[4096];
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    snprintf(path, sizeof path, "%s/data.bin", dir);
    memset(buf, 'x', sizeof buf);
    traceagent_push("write phase");
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    for (int i = 0; i < 8; i++)
        if (write(fd, buf, 1000 + i) < 0)
            return 1;
    traceagent_pop();
    traceagent_push("read phase");
    for (int i = 0; i < 5; i++)
        if (pread(fd, buf, 512, 100 * i) < 0)
            return 1;
    close(fd);
    traceagent_pop();
    traceagent_instant("between");
    for (int i = 0; i < 3; i++)
        traceagent_count("queue depth", i * 1.5);
    /* doubles past 2^64 (trace.json once wrote -1e300 as -0) */
    traceagent_count("wide", -1e300);
    traceagent_count("wide", 3.5e19);
    traceagent_count("wide", 1.2345678901234567e+300);
    if (open("/nonexistent/file", O_RDONLY) >= 0)
        return 1;
    FILE *f = fopen(path, "r");
    if (!f || fread(buf, 1, 700, f) != 700)
        return 1;
    fclose(f);
    pid_t p = fork();
    if (p == 0) {
        char cpath[4096];
        snprintf(cpath, sizeof cpath, "%s/child.bin", dir);
        int c = open(cpath, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        for (int i = 0; i < 4; i++)
            if (write(c, buf, 300) < 0)
                _exit(1);
        close(c);
        traceagent_instant("child done");
        return 0;
    }
    int st;
    waitpid(p, &st, 0);
    int null = open("/dev/null", O_WRONLY), n = argc > 2 ? atoi(argv[2]) : 0;
    for (int i = 0; i < n; i++)
        if (write(null, buf, 1) != 1)
            return 1;
    close(null);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
