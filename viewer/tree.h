/* viewer/tree.c: `traceagent tree` (see there). */
#ifndef TA_TREE_H
#define TA_TREE_H
#include <stdio.h>
/* PATHs: stats files or output directories; maxdepth levels (0: all); merged over the
 * processes, or one tree per process. 0, or 1 after saying on stderr what could not be
 * read (or when no stats were found). */
int ta_tree_print(int npaths, char **paths, int maxdepth, int per_process, FILE *out);
#endif
