/* bench/cli.sh's run: cligen PROCS N: PROCS processes (forked), each N marker spans
 * ("step", nested in one "run" span), so that the trace holds about PROCS * N events. A
 * short loop of arithmetic between spans keeps the agent's ring from filling (the run is
 * a trace to read, not a measure of the agent). */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <traceagent.h>

int main(int argc, char **argv)
{
    int procs = argc > 1 ? atoi(argv[1]) : 4;
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    for (int p = 1; p < procs; p++)
        if (fork() == 0)
            break;
    volatile unsigned long x = 0;
    traceagent_push("run");
    for (long i = 0; i < n; i++) {
        traceagent_push("step");
        for (int k = 0; k < 20; k++)
            x += (unsigned long)k * i;
        traceagent_pop();
    }
    traceagent_pop();
    while (wait(NULL) > 0)
        ;
    return 0;
}
