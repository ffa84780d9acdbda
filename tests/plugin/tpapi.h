/* tpapi: a made-up API library for the outside plug-in test (t50_plugin.sh). Built twice
 * (libtpapi_a.so, libtpapi_b.so: same symbols, other sonames and tags), as two copies of
 * libhdf5 can be loaded at once. A handle works only with the copy that made it. */
#ifndef TPAPI_H
#define TPAPI_H
#include <stdint.h>

typedef struct tp_handle tp_handle;

/* Work for the library's own thread: completes later, reported by tpapi_subscribe's
 * callback on that thread. */
struct tp_work {
    uint32_t grid[3], block[3];
    uint64_t usec;  /* how long it runs */
    char note[96];
};
struct tp_done {
    uint64_t id;    /* what tpapi_submit returned */
    uint32_t queue;
    uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
};
typedef void (*tp_done_fn)(const struct tp_done *d, void *arg);

const char *tpapi_tag(void);              /* "a" or "b": which copy answers */
tp_handle *tpapi_open(const char *name);  /* NULL on error */
long tpapi_read(tp_handle *h, void *buf, long n); /* bytes: n copies of the tag's letter; -1 */
uint64_t tpapi_submit(tp_handle *h, const struct tp_work *w); /* work id (> 0), 0 on error */
int tpapi_close(tp_handle *h);
int tpapi_subscribe(tp_done_fn fn, void *arg); /* one subscriber */
void tpapi_flush(void);                   /* wait until every submitted work completed */
#endif
