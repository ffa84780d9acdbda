/* For tests/t21_config_edges.sh: something of every kind a configuration key acts on.
 * 200 marker ranges "r", a file written and read at argv[1], and a forked child that makes
 * one range and exits. Prints "done". */
#include <traceagent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    for (int i = 0; i < 200; i++) {
        TRACEAGENT_SCOPE("r");
        volatile int x = 0;
        for (int s = 0; s < 100; s++)
            x += s;
    }
    if (argc > 1) {
        char buf[64] = "data";
        int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, buf, 4) != 4 || pread(fd, buf, 4, 0) != 4)
            return 1;
        close(fd);
    }
    pid_t p = fork();
    if (p == 0) {
        traceagent_push("child");
        traceagent_pop();
        _exit(0);
    }
    int st = 0;
    if (p < 0 || waitpid(p, &st, 0) != p || st != 0)
        return 1;
    puts("done");
    return 0;
}
