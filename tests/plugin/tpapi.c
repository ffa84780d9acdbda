/* The made-up API library (tpapi.h). TP_TAG names the copy. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tpapi.h"

#ifndef TP_TAG
#define TP_TAG "a"
#endif
#define MAGIC (0x7470000000000000ull | (unsigned char)TP_TAG[0])

struct tp_handle {
    uint64_t magic; /* this copy's: a handle of the other copy is refused */
    char name[256];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
#define QMAX 256
static struct { uint64_t id, usec; } q[QMAX];
static int qhead, qtail, busy;
static uint64_t next_id;
static tp_done_fn sub;
static void *sub_arg;
static int started;

static uint64_t mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (qhead == qtail)
            pthread_cond_wait(&cv, &mu);
        uint64_t id = q[qhead % QMAX].id, usec = q[qhead % QMAX].usec;
        busy = 1;
        qhead++;
        pthread_mutex_unlock(&mu);
        struct tp_done d = {id, 1, mono(), 0};
        struct timespec ts = {(time_t)(usec / 1000000), (long)(usec % 1000000) * 1000};
        nanosleep(&ts, NULL);
        d.end_ns = mono();
        pthread_mutex_lock(&mu);
        tp_done_fn fn = sub;
        void *a = sub_arg;
        pthread_mutex_unlock(&mu);
        if (fn)
            fn(&d, a);
        pthread_mutex_lock(&mu);
        busy = 0;
        pthread_cond_broadcast(&cv);
    }
    return NULL;
}

/* A forked child has no worker thread: it starts its own, with an empty queue */
static void child_reset(void)
{
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&cv, NULL);
    qhead = qtail = busy = started = 0;
}
__attribute__((constructor)) static void tp_init(void) { pthread_atfork(NULL, NULL, child_reset); }

const char *tpapi_tag(void) { return TP_TAG; }

tp_handle *tpapi_open(const char *name)
{
    tp_handle *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->magic = MAGIC;
    strncpy(h->name, name, sizeof h->name - 1);
    return h;
}

long tpapi_read(tp_handle *h, void *buf, long n)
{
    if (!h || h->magic != MAGIC || n < 0)
        return -1;
    memset(buf, TP_TAG[0], (size_t)n);
    return n;
}

uint64_t tpapi_submit(tp_handle *h, const struct tp_work *w)
{
    if (!h || h->magic != MAGIC || !w)
        return 0;
    pthread_mutex_lock(&mu);
    if (!started) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&th, &at, worker, NULL) == 0;
        pthread_attr_destroy(&at);
    }
    uint64_t id = 0;
    if (started && qtail - qhead < QMAX) {
        id = ++next_id;
        q[qtail % QMAX].id = id;
        q[qtail % QMAX].usec = w->usec;
        qtail++;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    return id;
}

int tpapi_close(tp_handle *h)
{
    if (!h || h->magic != MAGIC)
        return -1;
    h->magic = 0;
    free(h);
    return 0;
}

int tpapi_subscribe(tp_done_fn fn, void *arg)
{
    pthread_mutex_lock(&mu);
    sub = fn;
    sub_arg = arg;
    pthread_mutex_unlock(&mu);
    return 0;
}

void tpapi_flush(void)
{
    pthread_mutex_lock(&mu);
    while (qhead != qtail || busy)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}
