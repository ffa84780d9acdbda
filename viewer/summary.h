/* The summary printed by `traceagent run` and `traceagent report`: reads stats.json files
 * (schema traceagent-stats/1) with cJSON and prints tables like `nsys stats`. */
#ifndef TA_SUMMARY_H
#define TA_SUMMARY_H

#include <stdio.h>

struct ta_summary;

struct ta_summary *ta_summary_new(void);
void ta_summary_free(struct ta_summary *s);

struct ta_run;
/* Adds a loaded run (viewer/load.h): folds exec'd-away images into their successors
 * (ta_run_fold_exec) and merges every process's sections. */
void ta_summary_add_run(struct ta_summary *s, struct ta_run *run);
/* A file the run wrote: listed at the end (bounded). */
void ta_summary_add_file(struct ta_summary *s, const char *path);

/* The output directory the files came from: the bounded file list names it. */
void ta_summary_set_dir(struct ta_summary *s, const char *dir);

enum ta_format { TA_FMT_TABLE, TA_FMT_CSV, TA_FMT_JSON, TA_FMT_MARKDOWN };
/* Prints the report to `out`; `top` rows of each list (0: all), in `fmt`. */
void ta_summary_print(struct ta_summary *s, FILE *out, int top);
/* Process rows the report lists (with or without stats): 0 when it shows nothing. */
size_t ta_summary_nprocs(const struct ta_summary *s);
void ta_summary_print_fmt(struct ta_summary *s, FILE *out, int top, enum ta_format fmt);

/* Human units, into buf (returns buf): "812 ns", "3.21 µs", "12.0 ms", "1.50 s";
 * "12 B", "3.5 KiB", "1.20 MiB". */
char *ta_fmt_ns(char *buf, size_t n, double ns);
char *ta_fmt_bytes(char *buf, size_t n, double bytes);

/* viewer/stacks.c: `report --by-callsite` (per category, the call sites of stats.json's
 * `callsites`; `top` rows each, 0: all). PATHs are stats files or output directories; 0,
 * or 1 after saying on stderr what could not be read. */
int ta_report_callsites(int npaths, char **paths, int top, FILE *out);

#endif
