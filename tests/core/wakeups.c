/* How often an idle drainer wakes: the program records one range, then sleeps MS
 * milliseconds recording nothing, then prints the voluntary context switches of the
 * agent's thread ("traceagent") so far: one per sleep the drainer took (its futex waits
 * time out; nothing kicks it). Prints "wakeups N" (-1: no such thread). */
#define _GNU_SOURCE
#include <traceagent.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long drainer_switches(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long n = -1;
    while (d && (e = readdir(d))) {
        char p[300], comm[32] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (strcmp(comm, "traceagent\n"))
            continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/status", e->d_name);
        f = fopen(p, "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "voluntary_ctxt_switches:", 24))
                n = atol(line + 24);
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    long ms = argc > 1 ? atol(argv[1]) : 500;
    traceagent_push("start");
    traceagent_pop();
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts))
        ;
    printf("wakeups %ld\n", drainer_switches());
    return 0;
}
