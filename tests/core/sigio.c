/* A signal handler that does traced I/O, firing often while the main thread records: the
 * records the handler makes mid-record must be dropped and counted, never written over a
 * half-written one. Main thread: N markers, or with `pread` as second argument N preads of
 * one byte of /dev/zero (a handler then often records while the main thread is inside its
 * traced call, between the wrapper's look at the ring and its record). Prints:
 * main_events handler_calls.
 * With `first` as second argument the timer starts before the program's first traced call
 * (which starts the agent's drainer thread), then N writes to /dev/null; prints the
 * handler's calls and how many of them ran on a thread other than the main one (a
 * process-directed signal may go to any thread that does not block it). */
#include <traceagent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static volatile long handler_calls, elsewhere;
static int devnull = -1;

static void on_alarm(int sig)
{
    (void)sig;
    if (devnull < 0) { /* `first`: before the program's own open */
        handler_calls++;
        if (syscall(SYS_gettid) != getpid())
            elsewhere++;
        return;
    }
    if (syscall(SYS_gettid) != getpid())
        elsewhere++;
    if (write(devnull, "x", 1) == 1) /* Python's wakeup fd does just this */
        handler_calls++;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    int io = argc > 2 && strcmp(argv[2], "pread") == 0;
    int first = argc > 2 && strcmp(argv[2], "first") == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 20}, {0, 20}};
    if (first) {
        setitimer(ITIMER_REAL, &it, NULL);
        int fd = open("/dev/null", O_WRONLY); /* the first traced call */
        for (long i = 0; i < n; i++)
            if (write(fd, "x", 1) != 1)
                return 1;
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        printf("%ld %ld\n", handler_calls, elsewhere);
        return 0;
    }
    devnull = open("/dev/null", O_WRONLY);
    int zero = open("/dev/zero", O_RDONLY);
    char b;
    setitimer(ITIMER_REAL, &it, NULL);
    for (long i = 0; i < n; i++) {
        if (io) {
            if (pread(zero, &b, 1, 0) != 1)
                return 1;
            continue;
        }
        traceagent_push("work");
        traceagent_pop();
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("%ld %ld\n", n, handler_calls);
    return 0;
}
