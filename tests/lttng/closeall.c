/* tests/lttng/closeall.c: a program that closes fds it does not own, as daemons and
 * subprocess children do, with the LTTng exporter loaded (liblttng-ust's sockets, pipes
 * and shared memory among them). argv[1]: a directory; argv[2]: "loop" (close(fd) for fd
 * 3..999), "range" (close_range(3, ~0U, 0)), "from" (closefrom(3)) or "dup2" (dup2 of
 * /dev/null onto every fd >= 3 open before main that is a socket, a pipe or a memfd:
 * liblttng-ust's). It then writes DIR/after.txt and exits 0; "dup2" prints how many fds
 * it replaced. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/before.txt", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f || fputs("before\n", f) < 0 || fclose(f))
        return 1;
    if (!strcmp(argv[2], "loop")) {
        for (int fd = 3; fd < 1000; fd++)
            close(fd);
    } else if (!strcmp(argv[2], "range")) {
        if (close_range(3, ~0U, 0))
            return 1;
    } else if (!strcmp(argv[2], "from")) {
        closefrom(3);
    } else if (!strcmp(argv[2], "dup2")) {
        int null = open("/dev/null", O_RDWR), fds[64], n = 0;
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        while (d && (e = readdir(d)) && n < 64) {
            char l[64], t[256];
            int fd = atoi(e->d_name);
            snprintf(l, sizeof l, "/proc/self/fd/%d", fd);
            ssize_t k = readlink(l, t, sizeof t - 1);
            t[k > 0 ? k : 0] = 0;
            if (fd > 2 && fd != null && fd != dirfd(d) &&
                (!strncmp(t, "socket:", 7) || !strncmp(t, "pipe:", 5) || strstr(t, "memfd:") ||
                 strstr(t, "/dev/shm")))
                fds[n++] = fd;
        }
        if (d)
            closedir(d);
        for (int i = 0; i < n; i++)
            dup2(null, fds[i]);
        printf("%d\n", n);
    } else {
        return 2;
    }
    snprintf(path, sizeof path, "%s/after.txt", argv[1]);
    f = fopen(path, "w");
    if (!f || fputs("after\n", f) < 0 || fclose(f))
        return 1;
    return 0;
}
