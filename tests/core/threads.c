/* N short threads, one after the other, each recording one range. Prints peak RSS (kB). */
#include <traceagent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *worker(void *arg)
{
    (void)arg;
    traceagent_push("short");
    traceagent_pop();
    return NULL;
}

int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL))
            return 1;
        pthread_join(t, NULL);
    }
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            printf("%ld\n", strtol(line + 6, NULL, 10));
    return 0;
}
