/* For t22_output_safety.sh: a program that writes no file of its own and makes many
 * traced calls.  outsafe N: N stat() calls, then prints "done N".  outsafe wait: stat()
 * calls until killed, after printing "ready" once the first 1000 are made.  outsafe lower:
 * 3000 stat() calls, a pause, RLIMIT_FSIZE lowered to 4 KiB (below what the trace holds
 * by then), 20 more calls and the exit at once (the exit's flush writes them, on the
 * program's thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct stat st;
    if (argc > 1 && !strcmp(argv[1], "wait")) {
        for (long i = 0;; i++) {
            stat("/", &st);
            if (i == 1000) {
                printf("ready\n");
                fflush(stdout);
            }
            if (i > 1000)
                usleep(100);
        }
    }
    if (argc > 1 && !strcmp(argv[1], "lower")) {
        for (int i = 0; i < 3000; i++)
            stat("/", &st);
        usleep(50000);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = 4096;
        setrlimit(RLIMIT_FSIZE, &rl);
        for (int i = 0; i < 20; i++)
            stat("/", &st);
        printf("lowered\n");
        return 0;
    }
    long n = argc > 1 ? atol(argv[1]) : 10;
    for (long i = 0; i < n; i++)
        stat("/", &st);
    printf("done %ld\n", n);
    return 0;
}
