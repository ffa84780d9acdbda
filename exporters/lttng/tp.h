/* exporters/lttng/tp.h: the `traceagent` LTTng-UST provider (2.13 names). One tracepoint per
 * kind of event, with typed fields; every tracepoint takes one argument, a struct lt_ev the
 * exporter fills in (an LTTng tracepoint takes at most 10 arguments).
 *
 * The provider fires on the agent's drainer thread, some milliseconds after the call it
 * describes: the event's own time and thread are fields. `ts` is the call's start and `dur`
 * its length, CLOCK_MONOTONIC ns (the agent's clock, and the one LTTng-UST stamps events
 * with, so `ts` lines up with LTTng's timestamps of other events of the same host); `pid`
 * and `tid` are the process and thread that made the call (a named track's tid for device
 * work). A value the event does not carry is -1 for fd, bytes, offset, device and stream,
 * 0 for ret, errnum (errno: a field cannot be named so, errno is a macro) and correlation,
 * "-" for a string (never "": babeltrace2 2.0.4 shows an empty string as an earlier event's
 * value). Fields the event kind has no column for are in `args`, as a JSON object ("{}"
 * when none). */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER traceagent
#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./tp.h"

#if !defined(TA_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define TA_LTTNG_TP_H
#include <stdint.h>

#include <lttng/tracepoint.h>

#ifndef TA_LTTNG_EV_DEFINED
#define TA_LTTNG_EV_DEFINED
struct lt_ev {
    uint64_t ts, dur;
    int32_t pid, tid;
    uint32_t depth, track;
    const char *name, *cat, *args;
    /* files */
    const char *path, *path2;
    int64_t fd, bytes, offset, ret;
    int32_t err;
    uint8_t unfinished, failed, instant;
    /* a library's objects (HDF5) */
    const char *file, *dataset, *object, *selection;
    /* devices */
    int64_t device, stream;
    uint64_t correlation;
    uint32_t grid[3], block[3];
    /* counters, drops, identity */
    double value;
    uint64_t count, total, realtime;
    int32_t ppid;
    const char *host;
};
#endif

#define LT_HEAD                                                                          \
    lttng_ust_field_integer(uint64_t, ts, e->ts)                                        \
    lttng_ust_field_integer(uint64_t, dur, e->dur)                                      \
    lttng_ust_field_integer(int32_t, pid, e->pid)                                       \
    lttng_ust_field_integer(int32_t, tid, e->tid)                                       \
    lttng_ust_field_integer(uint32_t, depth, e->depth)

/* POSIX and stdio calls */
LTTNG_UST_TRACEPOINT_EVENT_CLASS(traceagent, file_span,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_string(name, e->name)
        lttng_ust_field_string(path, e->path)
        lttng_ust_field_string(path2, e->path2)
        lttng_ust_field_integer(int64_t, fd, e->fd)
        lttng_ust_field_integer(int64_t, bytes, e->bytes)
        lttng_ust_field_integer(int64_t, offset, e->offset)
        lttng_ust_field_integer(int64_t, ret, e->ret)
        lttng_ust_field_integer(int32_t, errnum, e->err)
        lttng_ust_field_integer(uint8_t, unfinished, e->unfinished)
        lttng_ust_field_string(args, e->args)))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(traceagent, file_span, traceagent, posix,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(traceagent, file_span, traceagent, stdio,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e))

/* HDF5 calls: `file` is the HDF5 file's name, `dataset` the dataset's path (DATASET role),
 * `object` another object's, `selection` the shape a read or write selected */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, hdf5,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_string(name, e->name)
        lttng_ust_field_string(file, e->file)
        lttng_ust_field_string(dataset, e->dataset)
        lttng_ust_field_string(object, e->object)
        lttng_ust_field_string(selection, e->selection)
        lttng_ust_field_integer(int64_t, bytes, e->bytes)
        lttng_ust_field_integer(int64_t, ret, e->ret)
        lttng_ust_field_integer(uint8_t, error, e->failed)
        lttng_ust_field_integer(uint8_t, unfinished, e->unfinished)
        lttng_ust_field_string(args, e->args)))

/* CUDA API calls and GPU activity (kernels, copies): by the roles DEVICE, STREAM,
 * CORRELATION, GRID, BLOCK, BYTES; `track` is the named track ("GPU 0 stream 7") */
LTTNG_UST_TRACEPOINT_EVENT_CLASS(traceagent, gpu_span,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_integer(uint32_t, track, e->track)
        lttng_ust_field_string(name, e->name)
        lttng_ust_field_integer(int64_t, device, e->device)
        lttng_ust_field_integer(int64_t, stream, e->stream)
        lttng_ust_field_integer(uint64_t, correlation, e->correlation)
        lttng_ust_field_array(uint32_t, grid, e->grid, 3)
        lttng_ust_field_array(uint32_t, block, e->block, 3)
        lttng_ust_field_integer(int64_t, bytes, e->bytes)
        lttng_ust_field_integer(int64_t, ret, e->ret)
        lttng_ust_field_integer(int32_t, errnum, e->err)
        lttng_ust_field_string(args, e->args)))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(traceagent, gpu_span, traceagent, cuda,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(traceagent, gpu_span, traceagent, gpu,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e))

/* Markers: a range (traceagent_push/pop) and an instant (traceagent_mark); `args`, as in
 * the counter event: a plug-in's op's other fields ("{}" for the agent's own markers) */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, range,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_string(text, e->name)
        lttng_ust_field_integer(uint8_t, unfinished, e->unfinished)
        lttng_ust_field_string(args, e->args)))
LTTNG_UST_TRACEPOINT_EVENT(traceagent, mark,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_string(text, e->name)
        lttng_ust_field_string(args, e->args)))

/* A counter's value (traceagent_counter, or any counter op) */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, counter,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_string(cat, e->cat)
        lttng_ust_field_string(name, e->name)
        lttng_ust_field_float(double, value, e->value)
        lttng_ust_field_string(args, e->args)))

/* Any other category (a plug-in's): its name, the event's name, its fields as JSON text;
 * `instant` 1 for an instant (dur 0) */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, span,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(LT_HEAD
        lttng_ust_field_integer(uint32_t, track, e->track)
        lttng_ust_field_string(cat, e->cat)
        lttng_ust_field_string(name, e->name)
        lttng_ust_field_integer(uint8_t, instant, e->instant)
        lttng_ust_field_string(args, e->args)))

/* Names: of a thread, of a named track (its tid is the one its events carry) */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, thread_name,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int32_t, pid, e->pid)
        lttng_ust_field_integer(int32_t, tid, e->tid)
        lttng_ust_field_string(name, e->name)))
LTTNG_UST_TRACEPOINT_EVENT(traceagent, track_name,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int32_t, pid, e->pid)
        lttng_ust_field_integer(uint32_t, track, e->track)
        lttng_ust_field_integer(int32_t, tid, e->tid)
        lttng_ust_field_string(name, e->name)))

/* The process: at the start of its recording (also a fork child's), with the wall-clock
 * anchor (realtime_ns at the monotonic ts), and at its end */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, process_start,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, ts, e->ts)
        lttng_ust_field_integer(uint64_t, realtime_ns, e->realtime)
        lttng_ust_field_integer(int32_t, pid, e->pid)
        lttng_ust_field_integer(int32_t, ppid, e->ppid)
        lttng_ust_field_string(exe, e->name)
        lttng_ust_field_string(host, e->host)))
LTTNG_UST_TRACEPOINT_EVENT(traceagent, process_end,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, ts, e->ts)
        lttng_ust_field_integer(int32_t, pid, e->pid)))

/* Events the agent lost, by cause: `count` since this cause's last drop event, `total`
 * so far */
LTTNG_UST_TRACEPOINT_EVENT(traceagent, dropped,
    LTTNG_UST_TP_ARGS(const struct lt_ev *, e),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, ts, e->ts)
        lttng_ust_field_integer(int32_t, pid, e->pid)
        lttng_ust_field_string(cause, e->name)
        lttng_ust_field_integer(uint64_t, count, e->count)
        lttng_ust_field_integer(uint64_t, total, e->total)))

#endif

#include <lttng/tracepoint-event.h>
