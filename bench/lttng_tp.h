/* bench/lttng_tp.h: the LTTng-UST tracepoints of the peer benchmark (loop-lttng, built from
 * loop.c with -DBENCH_LTTNG when liblttng-ust is installed). One event per traced call, at
 * its end, with what the agent's record carries that LTTng can hold in fixed fields: the fd,
 * the return value, the offset (pread/fread), or the path (fopen/stat). LTTng stamps each
 * event with its own clock read: one per call, where the agent takes two (a span). Markers
 * are a begin and an end event. */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ta_bench
#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./lttng_tp.h"

#if !defined(TA_BENCH_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define TA_BENCH_LTTNG_TP_H
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(ta_bench, fd_call,
    LTTNG_UST_TP_ARGS(int, fd, long, ret, long, offset),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int, fd, fd)
                        lttng_ust_field_integer(long, ret, ret)
                        lttng_ust_field_integer(long, offset, offset)))
#define TA_FD_EVENT(name)                                                                 \
    LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(ta_bench, fd_call, ta_bench, name,                \
        LTTNG_UST_TP_ARGS(int, fd, long, ret, long, offset))
TA_FD_EVENT(pread)
TA_FD_EVENT(write)
TA_FD_EVENT(fread)
TA_FD_EVENT(fclose)

LTTNG_UST_TRACEPOINT_EVENT_CLASS(ta_bench, path_call,
    LTTNG_UST_TP_ARGS(const char *, path, long, ret),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_string(path, path)
                        lttng_ust_field_integer(long, ret, ret)))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(ta_bench, path_call, ta_bench, fopen,
    LTTNG_UST_TP_ARGS(const char *, path, long, ret))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(ta_bench, path_call, ta_bench, stat,
    LTTNG_UST_TP_ARGS(const char *, path, long, ret))

LTTNG_UST_TRACEPOINT_EVENT(ta_bench, range_begin,
    LTTNG_UST_TP_ARGS(const char *, name),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_string(name, name)))
LTTNG_UST_TRACEPOINT_EVENT(ta_bench, range_end,
    LTTNG_UST_TP_ARGS(void),
    LTTNG_UST_TP_FIELDS())

#endif

#include <lttng/tracepoint-event.h>
