/* bench/lttng_tp.c: the probes of bench/lttng_tp.h, linked into loop-lttng. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "lttng_tp.h"
