/* The summary printed by `traceagent run` and `traceagent report`: reads stats.json files
 * (schema traceagent-stats/1) with cJSON and prints tables like `nsys stats`. */
#ifndef TA_SUMMARY_H
#define TA_SUMMARY_H

#include <stdio.h>

struct ta_summary;

struct ta_summary *ta_summary_new(void);
void ta_summary_free(struct ta_summary *s);

/* Adds one stats file. Returns 0, or -1 after printing to stderr why the file is unusable
 * (the summary stays valid and other files can still be added). */
int ta_summary_add_stats(struct ta_summary *s, const char *path);
/* A file the run wrote that has no stats (a trace of a process that crashed, ...): only
 * listed at the end. */
void ta_summary_add_file(struct ta_summary *s, const char *path);

/* Prints the tables to `out`; `top` rows of the span table (0: all). */
void ta_summary_print(const struct ta_summary *s, FILE *out, int top);

/* Human units, into buf (returns buf): "812 ns", "3.21 µs", "12.0 ms", "1.50 s";
 * "12 B", "3.5 KiB", "1.20 MiB". */
char *ta_fmt_ns(char *buf, size_t n, double ns);
char *ta_fmt_bytes(char *buf, size_t n, double bytes);

/* viewer/stacks.c: `report --by-callsite` (per category, the call sites of stats.json's
 * `callsites`; `top` rows each, 0: all) and `tree` (each file's call-path tree, `maxdepth`
 * levels, 0: all). PATHs are stats files or output directories; 0, or 1 after saying on
 * stderr what could not be read. */
int ta_report_callsites(int npaths, char **paths, int top, FILE *out);
int ta_tree_print(int npaths, char **paths, int maxdepth, FILE *out);

#endif
