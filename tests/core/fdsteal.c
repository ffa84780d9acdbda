/* For t23_fd_takeover.sh: a program that uses fd numbers the agent holds (1000 and up),
 * as it may without the agent. Each mode prints what its calls return; untraced and traced
 * runs must print the same.
 *   dup2 | dup3    dup2/dup3(2, N) for N in 1000..1003, writes a line through each, closes
 *   close          close(N) for N in 1000..1003: -1 EBADF (no such fd in the program)
 *   oldfd          dup(N), dup2(N, 50), fcntl(N, F_GETFD), with N 1000..1003: EBADF
 *   dupfd          fcntl(0, F_DUPFD, 1000), fcntl(0, F_DUPFD_CLOEXEC, 1000): 1000, 1001
 *   fill           dup(0) until the fd is 1010: the numbers from 990 come one after another
 *   vfork          a vfork child dup2()s stderr onto 1000, writes through it, fcntl(F_GETFD)
 *                  and closes it (its table is its own), then _exit()s
 *   storm DIR      a thread makes stat() calls while main dup2()s a file of its own onto
 *                  1000..1007, 50 times, closing them each time; the file stays empty
 * Every mode makes 200 stat() calls after its takeover, then prints "end". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *what, int fd, int r, int e)
{
    printf("%s %d: %d %s\n", what, fd, r, r < 0 ? strerror(e) : "ok");
}
/* errno read after the call */
#define SAY(what, fd, call)                                                               \
    do {                                                                                  \
        int r_ = (call);                                                                  \
        say(what, fd, r_, errno);                                                         \
    } while (0)

static void stats(int n)
{
    struct stat st;
    for (int i = 0; i < n; i++)
        stat("/", &st);
}

static volatile int stop;
static void *stater(void *a)
{
    (void)a;
    while (!stop)
        stats(10);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "dup2") || !strcmp(mode, "dup3")) {
        for (int fd = 1000; fd < 1004; fd++) {
            int r = mode[3] == '2' ? dup2(2, fd) : dup3(2, fd, O_CLOEXEC);
            SAY(mode, fd, r);
            char line[64];
            int n = snprintf(line, sizeof line, "through fd %d\n", fd);
            stats(50);
            if (write(fd, line, n) != n)
                printf("write %d failed\n", fd);
        }
        for (int fd = 1000; fd < 1004; fd++)
            SAY("close", fd, close(fd));
    } else if (!strcmp(mode, "close")) {
        for (int fd = 1000; fd < 1004; fd++)
            SAY("close", fd, close(fd));
    } else if (!strcmp(mode, "oldfd")) {
        for (int fd = 1000; fd < 1004; fd++) {
            SAY("dup", fd, dup(fd));
            SAY("dup2-from", fd, dup2(fd, 50));
            SAY("fcntl-getfd", fd, fcntl(fd, F_GETFD));
        }
    } else if (!strcmp(mode, "dupfd")) {
        int a = fcntl(0, F_DUPFD, 1000), b = fcntl(0, F_DUPFD_CLOEXEC, 1000);
        SAY("F_DUPFD", 1000, a);
        SAY("F_DUPFD_CLOEXEC", 1000, b);
        SAY("cloexec", b, fcntl(b, F_GETFD));
        stats(50);
        SAY("close", a, close(a));
        SAY("close", b, close(b));
    } else if (!strcmp(mode, "fill")) {
        int last = 2, gaps = 0, fd;
        while ((fd = dup(0)) >= 0 && fd <= 1010) {
            if (fd >= 990 && fd != last + 1)
                gaps++;
            last = fd;
        }
        printf("dup up to %d, %d gaps\n", last, gaps);
        stats(50);
        closefrom(3);
        SAY("close", 1000, close(1000));
    } else if (!strcmp(mode, "vfork")) {
        static int r[3];
        pid_t pid = vfork();
        if (pid == 0) {
            r[0] = dup2(2, 1000);
            if (write(1000, "child through fd 1000\n", 22) != 22)
                r[0] = -2;
            r[1] = fcntl(1000, F_GETFD);
            r[2] = close(1000);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        printf("vfork child: dup2 %d, F_GETFD %d, close %d\n", r[0], r[1], r[2]);
        SAY("close", 1000, close(1000));
    } else if (!strcmp(mode, "storm") && argc > 2) {
        char path[4096];
        snprintf(path, sizeof path, "%s/storm.txt", argv[2]);
        int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pthread_t t;
        pthread_create(&t, NULL, stater, NULL);
        int bad = 0;
        for (int round = 0; round < 50; round++) {
            for (int fd = 1000; fd < 1008; fd++)
                bad += dup2(f, fd) != fd;
            usleep(2000);
            for (int fd = 1000; fd < 1008; fd++)
                bad += close(fd) != 0;
        }
        stop = 1;
        pthread_join(t, NULL);
        close(f);
        printf("storm: %d failed calls\n", bad);
    } else {
        fprintf(stderr, "usage: fdsteal dup2|dup3|close|oldfd|dupfd|fill|storm DIR\n");
        return 2;
    }
    stats(200);
    printf("end\n");
    return 0;
}
