/* A run of known content for the report and waterfall tests (t65, t66):
 *   known DIR            the parent: marker "setup" (sleeps 30 ms); writes DIR/a.bin with
 *                        8 writes of 4096 bytes, 1 fsync, a stat; marker "work" holding 4
 *                        markers "step" (each sleeps 10 ms and preads 4096 bytes of a.bin);
 *                        stdio: fopen DIR/s.txt, 3 fprintf, 2 fflush, fclose; a dup and an
 *                        fdopen of a.bin's fd (neither is an open of the file); then forks
 *                        a child that execs `known DIR child`, waits, and ends with marker
 *                        "teardown" (sleeps 20 ms).
 *   known DIR child      the exec'd child: 3 markers "child_work" (each sleeps 15 ms and
 *                        writes 100 bytes to DIR/c.bin).
 * The fork's image before the exec leaves its own stats (0 events): the report folds it
 * into its successor. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <traceagent.h>

static void nap(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char path[4096];
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    if (argc > 2 && strcmp(argv[2], "child") == 0) {
        snprintf(path, sizeof path, "%s/c.bin", argv[1]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        for (int i = 0; i < 3; i++) {
            traceagent_push("child_work");
            nap(15);
            if (write(fd, buf, 100) != 100)
                return 1;
            traceagent_pop();
        }
        close(fd);
        return 0;
    }
    traceagent_push("setup");
    nap(30);
    traceagent_pop();
    snprintf(path, sizeof path, "%s/a.bin", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 8; i++)
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            return 1;
    fsync(fd);
    struct stat st;
    stat(path, &st);
    traceagent_push("work");
    for (int i = 0; i < 4; i++) {
        traceagent_push("step");
        nap(10);
        if (pread(fd, buf, sizeof buf, (off_t)i * 4096) != (ssize_t)sizeof buf)
            return 1;
        traceagent_pop();
    }
    traceagent_pop();
    snprintf(path, sizeof path, "%s/s.txt", argv[1]);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 3; i++) {
        fprintf(f, "line %d\n", i);
        if (i < 2)
            fflush(f);
    }
    fclose(f);
    int d = dup(fd);
    FILE *g = fdopen(d, "r");
    if (g)
        fclose(g);
    close(fd);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[0], argv[0], argv[1], "child", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    traceagent_push("teardown");
    nap(20);
    traceagent_pop();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
