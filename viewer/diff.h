/* traceagent diff and run --repeat: runs read from stats files, compared with statistics.
 * See diff.c (the loader and the tests) and repeat.c. */
#ifndef TA_VIEWER_DIFF_H
#define TA_VIEWER_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One bucket of a duration histogram (stats.json ops rows' "hist"). */
struct ta_bk {
    uint64_t lo, n;
};

enum { TA_ROW_OP = 0, TA_ROW_MARKER = 1, TA_ROW_NODE = 2 };

/* One op, marker or call-path node of one run, summed over the run's processes. */
struct ta_drow {
    char *key; /* kind, cat and name (the node's path for tree nodes) */
    char *label;
    int kind;
    uint64_t count;
    double total_ns, self_ns;
    uint64_t min_ns, max_ns;
    struct ta_bk *h;
    size_t nh, caph;
};

struct ta_drun {
    struct ta_drow *rows;
    size_t n, cap;
    size_t *idx; /* open addressing over rows, by key */
    size_t icap;
    int nstats;
    double traced_ns; /* the top-level tree nodes' total: the run's traced time */
};

/* Loads one run: a stats file, or a directory's *.stats.json (all its processes). NULL
 * with a message on stderr when nothing could be read. */
struct ta_drun *ta_drun_load(const char *path);
void ta_drun_free(struct ta_drun *r);
struct ta_drow *ta_drun_find(const struct ta_drun *r, const char *key);

/* Adds the buckets of src to *h (both ascending). */
int ta_hist_merge(struct ta_bk **h, size_t *nh, size_t *cap, const struct ta_bk *src, size_t n);
/* The value of percentile pct (0..100) of a histogram, as in stats.c: the bucket holding
 * rank ceil(count * pct / 100), its midpoint, clamped to [min, max]. */
uint64_t ta_hist_pct(const struct ta_bk *h, size_t nh, double pct, uint64_t min, uint64_t max);

/* The sorted run directories (run-NNN) of a directory of repeated runs; 0 when it is not
 * one. Caller frees each and the array. */
size_t ta_repeat_dirs(const char *dir, char ***out);
/* The last `keep` bytes or fewer of s (strlen l > keep), starting at a UTF-8 character's
 * first byte: a name shortened to "...tail" stays valid UTF-8. */
const char *ta_utf8_tail(const char *s, size_t l, size_t keep);

int ta_diff_main(int argc, char **argv);
void ta_diff_usage(FILE *out);

/* run --repeat N --warmup W (repeat.c) */
int ta_repeat_arg(const char *flag, const char *val, long *out);
int ta_repeat_run(long repeat, long warmup, int quiet, int merge, int top, const char *dir,
                  char **cmd);

#endif
