#define _GNU_SOURCE
/* How processes end and begin again, for tests t24-t26: death by a signal, exec with the
 * environment changed under it, fork from a signal handler while the agent flushes, and
 * seccomp sandboxes. One program, one mode per argv[1]. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char *self;

static long vm_kib(void)
{
    char b[4096];
    FILE *f = fopen("/proc/self/status", "r");
    long v = -1;
    while (f && fgets(b, sizeof b, f))
        if (!strncmp(b, "VmSize:", 7))
            v = atol(b + 7);
    if (f)
        fclose(f);
    return v;
}

static void preads(int n)
{
    int fd = open(self, O_RDONLY); /* argv[0]: /proc/self/exe is gone once main has left */
    char b[64];
    for (int i = 0; i < n; i++)
        if (pread(fd, b, sizeof b, i % 4096) < 0)
            _exit(90);
    close(fd);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* forkflush: 300k preads, then a 200 us timer whose handler forks (the child leaves at
 * once; 100 forks in all) and a return from main, so that forks land in the agent's exit
 * flush. */
static volatile int slow;
static void on_alarm(int sig)
{
    (void)sig;
    int e = errno;
    static int forks;
    if (++forks == 100) { /* enough: a loaded machine must not spend all its time here */
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    }
    double t0 = now_s();
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    if (p > 0)
        waitpid(p, NULL, 0);
    if (now_s() - t0 > 2.0 && !slow) {
        slow = 1;
        write(2, "slow child\n", 11);
    }
    errno = e;
}

static void *env_churn(void *arg)
{
    char k[32];
    if (arg) /* the second thread only toggles what the agent looks up */
        for (;;) {
            setenv("TRACEAGENT_LOG", "warn", 1);
            unsetenv("TRACEAGENT_LOG");
        }
    for (unsigned i = 0;; i++) {
        setenv("TRACEAGENT_LOG", "warn", 1);
        unsetenv("TRACEAGENT_LOG");
        unsetenv("TRACEAGENT_OUTPUT");
        setenv("TRACEAGENT_OUTPUT", "/nonexistent-do-not-use", 1);
        snprintf(k, sizeof k, "CHURN_%u", i % 4000);
        setenv(k, "some value to grow the environment", 1);
    }
    return NULL;
}

static void *late_worker(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    preads(100);
    printf("worker\n");
    fflush(stdout);
    return NULL; /* the last thread of the program: glibc calls exit(0) */
}

static char **big_envp;

static void *exec_big(void *arg)
{
    (void)arg;
    char *argv[] = {self, "show", NULL};
    execve(self, argv, big_envp);
    _exit(98);
}

static int fsig(const char *m)
{
    return !strcmp(m, "term") ? SIGTERM : !strcmp(m, "segv") ? SIGSEGV
         : !strcmp(m, "abort") ? SIGABRT : !strcmp(m, "bus") ? SIGBUS : 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    self = argv[0];
    if (!strcmp(mode, "forkflush")) {
        struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
        sigaction(SIGALRM, &sa, NULL);
        preads(300000);
        /* armed last: the forks land in the exit flush, not in the loop above */
        struct itimerval it = {{0, 200}, {0, 200}};
        setitimer(ITIMER_REAL, &it, NULL);
        return 0;
    }
    if (!strcmp(mode, "show")) { /* the new image: what reached it */
        int n = 0;
        for (char **e = environ; e && *e; e++) {
            if (!strncmp(*e, "LD_PRELOAD=", 11) || !strncmp(*e, "TRACEAGENT_", 11))
                printf("%s\n", *e);
            n++;
        }
        printf("entries %d\n", n);
        preads(10);
        return 0;
    }
    if (!strcmp(mode, "race")) { /* execve with an explicit envp while threads setenv */
        pthread_t t[2];
        preads(10);
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, env_churn, i ? &t : NULL);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        char *args[] = {self, "show", NULL};
        char *envp[] = {"X=1", NULL};
        execve(self, args, envp);
        return 97;
    }
    if (!strcmp(mode, "smallstack")) { /* execve from a 64 KiB thread with a big envp */
        int n = 20000;
        big_envp = calloc(n + 1, sizeof *big_envp);
        for (int i = 0; i < n; i++) {
            big_envp[i] = malloc(16);
            snprintf(big_envp[i], 16, "V%d=x", i);
        }
        preads(10);
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 64 * 1024);
        pthread_t t;
        pthread_create(&t, &a, exec_big, NULL);
        pthread_join(t, NULL);
        return 96;
    }
    if (!strcmp(mode, "execveat")) {
        char *args[] = {self, "show", NULL};
        preads(10);
        execveat(AT_FDCWD, self, args, environ, 0);
        return 95;
    }
    if (!strcmp(mode, "execveat-env")) {
        char *args[] = {self, "show", NULL};
        char *envp[] = {"X=1", NULL};
        preads(10);
        execveat(AT_FDCWD, self, args, envp, 0);
        return 95;
    }
    if (!strcmp(mode, "clearenv")) {
        char *args[] = {self, "show", NULL};
        preads(10);
        clearenv();
        setenv("ONLY", "this", 1);
        execv(self, args);
        return 94;
    }
    if (!strcmp(mode, "dropenv")) { /* an envp whose LD_PRELOAD names another library */
        char *args[] = {self, "show", NULL};
        char *envp[] = {"LD_PRELOAD=", "X=1", NULL};
        preads(10);
        execve(self, args, envp);
        return 93;
    }
    if (fsig(mode)) { /* death by a signal after some recorded calls */
        preads(1000);
        switch (fsig(mode)) {
        case SIGTERM:
            kill(getpid(), SIGTERM);
            pause();
            break;
        case SIGSEGV:
            *(volatile int *)(uintptr_t)8 = 1;
            break;
        case SIGABRT:
            abort();
        case SIGBUS: {
            char path[] = "/tmp/ta-bus-XXXXXX";
            int fd = mkstemp(path);
            unlink(path);
            char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            p[4096] = 1; /* beyond the end of an empty file */
            break;
        }
        }
        return 92;
    }
    if (!strcmp(mode, "vforkenv")) { /* vfork, then execve with an envp the agent extends */
        preads(10);
        long before = 0;
        for (int i = 0; i <= 20; i++) {
            if (i == 1) { /* measured from here: the drainer has started and allocated */
                struct timespec ts = {0, 300 * 1000000};
                nanosleep(&ts, NULL);
                before = vm_kib();
            }
            char *args[] = {self, "quiet", NULL};
            char *envp[] = {"X=1", NULL};
            pid_t p = vfork();
            if (p == 0) {
                execve(self, args, envp);
                _exit(1);
            }
            int st;
            if (p < 0 || waitpid(p, &st, 0) != p || st != 0)
                return 87;
        }
        printf("vm grew %ld KiB\n", vm_kib() - before);
        return 0;
    }
    if (!strcmp(mode, "quiet"))
        return environ && getenv("LD_PRELOAD") ? 0 : 1;
    if (!strcmp(mode, "pexit")) { /* main leaves by pthread_exit, a worker goes on */
        preads(100);
        pthread_t t;
        pthread_create(&t, NULL, late_worker, NULL);
        pthread_exit(NULL);
    }
    if (!strcmp(mode, "sec-errno")) { /* a filter that makes getpid fail with EPERM */
        preads(100);
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof f / sizeof f[0], f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
            return 91;
        if (syscall(SYS_getpid) != -1)
            return 90;
        preads(100);
        printf("sandboxed\n");
        return 0;
    }
    if (!strcmp(mode, "sec-strict")) { /* strict mode: read, write, exit, sigreturn only */
        preads(100);
        fflush(stdout);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
            return 89;
        char b[8];
        for (int i = 0; i < 100; i++)
            if (write(1, "", 0) < 0 || read(0, b, 0) < 0)
                syscall(SYS_exit, 88);
        write(1, "strict\n", 7);
        syscall(SYS_exit, 0);
    }
    return 2;
}
