/* What the trace's times must agree with, whichever clock the agent reads (TSC or
 * CLOCK_MONOTONIC):
 *   - the program's own CLOCK_MONOTONIC: each "step" range lies between the stamps the
 *     program took just before its push and just after its pop; the steps span ~0.3 s so
 *     that the TSC-to-ns calibration is checked well past its first segment;
 *   - causality across CPUs: two threads pinned to different CPUs hand a token back and
 *     forth; each records a "hop" range and passes the token after its pop, so every hop
 *     starts after the one before it ended, on the other CPU;
 *   - a forked child: its "child" range starts after the parent's "before_fork" ended.
 * Writes "step a_ns c_ns" per step to the file argv[1], after the work. */
#define _GNU_SOURCE
#include <traceagent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEPS 300
#define HOPS 2000

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _Atomic int token;

static void pin(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return; /* one CPU: the hops still alternate, on one CPU */
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static void *hopper(void *arg)
{
    int me = (int)(intptr_t)arg;
    pin(me);
    for (int i = me; i < HOPS; i += 2) {
        while (atomic_load_explicit(&token, memory_order_acquire) != i)
            ;
        traceagent_push("hop");
        traceagent_pop();
        atomic_store_explicit(&token, i + 1, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static uint64_t a[STEPS], c[STEPS];
    for (int i = 0; i < STEPS; i++) {
        a[i] = mono();
        traceagent_push("step");
        traceagent_pop();
        c[i] = mono();
        usleep(1000);
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hopper, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);

    traceagent_push("before_fork");
    traceagent_pop();
    pid_t pid = fork();
    if (pid == 0) {
        traceagent_push("child");
        traceagent_pop();
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    FILE *f = fopen(argv[1], "w");
    for (int i = 0; i < STEPS; i++)
        fprintf(f, "step %llu %llu\n", (unsigned long long)a[i], (unsigned long long)c[i]);
    fclose(f);
    return 0;
}
