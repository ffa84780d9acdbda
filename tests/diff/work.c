/* t68's program with a planted regression: work N STEP_US [FIXED_US]: N times a marker
 * "step" around a sleep of STEP_US (the knob: 30% more is the planted regression) and a
 * marker "fixed" around a sleep of FIXED_US (default 500) that never changes. Sleeps,
 * not busy loops: on a loaded 2-core machine a sleep's duration moves far less than a
 * loop's CPU time. */
#include <stdlib.h>
#include <time.h>

#include <traceagent.h>

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0)
        ;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    long step = argc > 2 ? atol(argv[2]) : 1000, fixed = argc > 3 ? atol(argv[3]) : 500;
    for (int i = 0; i < n; i++) {
        traceagent_push("step");
        sleep_us(step);
        traceagent_pop();
        traceagent_push("fixed");
        sleep_us(fixed);
        traceagent_pop();
    }
    return 0;
}
