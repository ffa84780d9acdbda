/* Corners of process life, one per mode (tests/t19_process_edges.sh): each prints what it
 * sees, which must be what it prints untraced.
 *   clone      a child made with clone(CLONE_VM) by hand does I/O (the first traced call of
 *              the process) and exits; the parent waits, then writes 3 bytes
 *   sysv       signal() as strict ISO C compiles it (__sysv_signal, past the agent's
 *              wrapper), then the disposition asked with sigaction, SIG_DFL set with it, and
 *              SIGINT raised: the program must die of it
 *   altstack   what sigaltstack says, then a SA_ONSTACK handler with a 256 KiB frame
 *   quick      100 writes, then quick_exit(3)
 *   nofile     RLIMIT_NOFILE 64, then fork: the child's first open gets fd 3
 *   exit2      a worker writes until main's atexit handler runs, then calls _exit(0) while
 *              the process is ending through main's return (and the agent flushing)
 * Build `sysv` with -std=c11 -D_POSIX_C_SOURCE=200809L (signal() is __sysv_signal there);
 * the rest with _GNU_SOURCE. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef _GNU_SOURCE
#include <sched.h>
#endif

static volatile int sink;

static void on_int(int s)
{
    static const char m[] = "handler ran\n";
    (void)s;
    if (write(1, m, sizeof m - 1) < 0)
        sink = 1;
}

#ifdef _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
static atomic_int ending;
static void on_exit_handler(void) { atomic_store(&ending, 1); }
static void *worker(void *a)
{
    (void)a;
    int fd = open("/dev/null", O_WRONLY);
    while (!atomic_load(&ending))
        if (write(fd, "y", 1) != 1)
            break;
    _exit(0);
}

static char stk[1 << 20];

static int child(void *a)
{
    (void)a;
    int fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < 5; i++)
        if (write(fd, "c", 1) != 1)
            syscall(SYS_exit, 1);
    close(fd);
    syscall(SYS_exit, 0);
    return 0;
}

static void big_frame(int s)
{
    volatile char big[256 * 1024];
    memset((char *)big, 1, sizeof big);
    sink = big[100] + s;
}
#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "sysv")) {
        signal(SIGINT, on_int);
        struct sigaction old;
        sigaction(SIGINT, NULL, &old);
        printf("asked: %s\n", old.sa_handler == on_int    ? "the handler"
                              : old.sa_handler == SIG_DFL ? "SIG_DFL"
                                                          : "other");
        fflush(stdout);
        struct sigaction d;
        memset(&d, 0, sizeof d);
        d.sa_handler = SIG_DFL;
        sigaction(SIGINT, &d, NULL);
        raise(SIGINT);
        puts("survived SIGINT");
        return 0;
    }
#ifdef _GNU_SOURCE
    if (!strcmp(mode, "clone")) {
        pid_t p = clone(child, stk + sizeof stk, CLONE_VM | SIGCHLD, 0);
        int st = -1;
        waitpid(p, &st, 0);
        int fd = open("/dev/null", O_WRONLY);
        for (int i = 0; i < 3; i++)
            if (write(fd, "P", 1) != 1)
                return 1;
        printf("child status %d\n", st);
    } else if (!strcmp(mode, "altstack")) {
        stack_t o;
        sigaltstack(NULL, &o);
        printf("altstack %s\n", (o.ss_flags & SS_DISABLE) ? "disabled" : "enabled");
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = big_frame;
        sa.sa_flags = SA_ONSTACK;
        sigaction(SIGUSR1, &sa, 0);
        raise(SIGUSR1);
        printf("handler ran %d\n", sink);
    } else if (!strcmp(mode, "quick")) {
        int fd = open("/dev/null", O_WRONLY);
        for (int i = 0; i < 100; i++)
            if (write(fd, "x", 1) != 1)
                return 1;
        quick_exit(3);
    } else if (!strcmp(mode, "exit2")) {
        atexit(on_exit_handler);
        pthread_t t;
        pthread_create(&t, NULL, worker, NULL);
        int fd = open("/dev/null", O_WRONLY);
        for (int i = 0; i < 100000; i++)
            if (write(fd, "x", 1) != 1)
                return 1;
        return 0;
    } else if (!strcmp(mode, "nofile")) {
        struct rlimit r = {64, 64};
        setrlimit(RLIMIT_NOFILE, &r);
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) {
            printf("child's first fd %d\n", open("/dev/null", O_RDONLY));
            return 0;
        }
        waitpid(p, 0, 0);
    } else {
        return 2;
    }
#endif
    return 0;
}
