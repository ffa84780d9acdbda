/* viewer/waterfall.c: `traceagent waterfall` (see there). */
#ifndef TA_WATERFALL_H
#define TA_WATERFALL_H
#include <stdio.h>
/* width: columns (0: $COLUMNS, else 100); top: bars (0: all). 0, 1 when a file could not
 * be read or no trace had events, 2 out of memory. */
int ta_waterfall_print(int npaths, char **paths, int width, int top, FILE *out);
#endif
