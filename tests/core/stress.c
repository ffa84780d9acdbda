/* Ring stress: T threads each push N ranges; prints the number sent. */
#include <traceagent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int n;
static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        traceagent_push("r");
        traceagent_pop();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = atoi(argv[1]);
    n = atoi(argv[2]);
    pthread_t t[256];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("%lld\n", (long long)threads * n);
    return 0;
}
