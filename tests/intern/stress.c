/* The string table (agent/intern.c) under concurrency, alone: T threads intern the same N
 * strings, each in its own order, while the table grows through its levels and the
 * drainer's ta_intern_prefault runs beside them. Prints one line per check for
 * tests/t72_intern.sh: every string got one id in all threads, the id reads back as the
 * string, distinct strings have distinct ids, and a second pass (every string now old,
 * most in levels older than the newest) finds each at its id. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ta.h"

void *ta_sys_mmap(size_t len)
{
    void *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
void ta_sys_populate(void *p, size_t len) { madvise(p, len, 23 /* MADV_POPULATE_WRITE */); }

#define T 4
static int n;
static char (*strs)[64];
static uint32_t *ids[T];
static atomic_int done;

static void *worker(void *arg)
{
    int k = (int)(long)arg;
    /* each thread its own order: stride k+1 coprime with n (n is prime) */
    for (long j = 0; j < n; j++) {
        long i = (j * (2 * k + 1) + k * 7919L) % n;
        ids[k][i] = ta_intern(strs[i], strlen(strs[i]));
    }
    atomic_fetch_add(&done, 1);
    return NULL;
}

static void *prefaulter(void *arg)
{
    (void)arg;
    while (atomic_load(&done) < T)
        ta_intern_prefault();
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 60013;
    strs = calloc((size_t)n, sizeof *strs);
    for (int i = 0; i < n; i++)
        snprintf(strs[i], sizeof strs[i], "/data/shard-%05d/part-%d.h5", i / 7, i % 7);
    ta_intern_init();
    pthread_t th[T + 1];
    for (int k = 0; k < T; k++) {
        ids[k] = calloc((size_t)n, sizeof *ids[k]);
        pthread_create(&th[k], NULL, worker, (void *)(long)k);
    }
    pthread_create(&th[T], NULL, prefaulter, NULL);
    for (int k = 0; k <= T; k++)
        pthread_join(th[k], NULL);
    long zero = 0, differ = 0, wrong = 0, dup = 0, again = 0;
    char *seen = calloc(1u << 26, 1); /* ids are arena offsets / 8: bounded by the arena */
    for (int i = 0; i < n; i++) {
        uint32_t id = ids[0][i];
        if (!id) {
            zero++;
            continue;
        }
        for (int k = 1; k < T; k++)
            differ += ids[k][i] != id;
        wrong += strcmp(ta_str(id), strs[i]) != 0;
        if (id < (1u << 26)) {
            dup += seen[id];
            seen[id] = 1;
        }
    }
    for (int i = 0; i < n; i++)
        again += ta_intern(strs[i], strlen(strs[i])) != ids[0][i];
    printf("%s - %d strings from %d threads: none lost (id 0): %ld\n", zero ? "not ok" : "ok", n, T, zero);
    printf("%s - every thread got the same id for a string: %ld differ\n", differ ? "not ok" : "ok", differ);
    printf("%s - each id reads back as its string: %ld wrong\n", wrong ? "not ok" : "ok", wrong);
    printf("%s - distinct strings have distinct ids: %ld shared\n", dup ? "not ok" : "ok", dup);
    printf("%s - a second pass finds every string at its id: %ld not\n", again ? "not ok" : "ok", again);
    printf("%s - no string lost to a full table: %llu\n", ta_intern_full ? "not ok" : "ok",
           (unsigned long long)ta_intern_full);
    return 0;
}
