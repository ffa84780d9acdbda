/* The cost of a thread that only wakes up (bench/NOTES.md, row 54): preloaded beside any
 * program, it starts one thread that sleeps SLEEP_US microseconds (default 4000) and wakes,
 * forever, doing nothing else (SLEEP_US=0: it never wakes). What the program loses to it is
 * what a tracer's drainer thread costs by waking alone, before any work of its own.
 *   gcc -O2 -shared -fPIC -pthread -o wakeup.so bench/wakeup.c
 *   SLEEP_US=4000 LD_PRELOAD=./wakeup.so python3 -c 'import numpy'   (against no preload) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
    (void)arg;
    const char *e = getenv("SLEEP_US");
    long us = e ? atol(e) : 4000;
    for (;;) {
        if (us > 0)
            usleep((useconds_t)us);
        else
            pause();
    }
    return NULL;
}

__attribute__((constructor)) static void start(void)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, sleeper, NULL);
    pthread_attr_destroy(&a);
}
