/* traceagent merge: one trace (Chrome JSON, array form) from the per-process trace files
 * of a run. See merge.c. */
#ifndef TA_VIEWER_MERGE_H
#define TA_VIEWER_MERGE_H

#include <stddef.h>
#include <stdio.h>

/* `traceagent merge DIR... [-o run.json]`: the command line (argv after "merge"). */
int ta_merge_main(int argc, char **argv);

/* Merges the *.trace.json files of `dir` whose names are not in `skip` (the names that were
 * there before a run: `traceagent run` merges only what the run wrote) into `out`.
 * Notes go to `log` (NULL: stderr). Returns the number of processes merged, -1 on error. */
int ta_merge_dir(const char *dir, char *const *skip, size_t nskip, const char *out, FILE *log);

#endif
