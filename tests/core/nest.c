/* 8 threads, each: 100 x outer{ 3 x mid{ 2 x leaf } } with scoped ranges, plus an instant
 * and a counter; names carry the thread index so the test can check each track. */
#include <traceagent.h>
#include <pthread.h>
#include <stdio.h>

static void *worker(void *arg)
{
    long id = (long)arg;
    char outer[32];
    snprintf(outer, sizeof outer, "outer-%ld", id);
    for (int i = 0; i < 100; i++) {
        TRACEAGENT_SCOPE(outer);
        for (int j = 0; j < 3; j++) {
            TRACEAGENT_SCOPE("mid");
            for (int k = 0; k < 2; k++) {
                TRACEAGENT_SCOPE("leaf");
                volatile int x = 0;
                for (int s = 0; s < 200; s++)
                    x += s;
            }
        }
        traceagent_count("progress", i);
    }
    traceagent_instant("worker done");
    return NULL;
}

int main(void)
{
    pthread_t t[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    return 0;
}
