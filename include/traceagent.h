/* traceagent markers: name the phases of your program in the trace.
 *
 *   #include <traceagent.h>
 *   traceagent_push("load shard");  ...  traceagent_pop();
 *   { TRACEAGENT_SCOPE("convert"); ... }          // popped at the end of the block (C, GCC/Clang)
 *   traceagent_mark("epoch done");                  // an instant
 *   traceagent_counter("queue depth", 12);          // a counter track
 *
 * Header-only. A program built with it needs no library to link or to run: the functions
 * below find the agent at run time (weak references, resolved by the dynamic linker when
 * libtraceagent.so is preloaded) and cost one predictable branch when it is not there.
 * Ranges are per thread and must be popped on the thread that pushed them. Names are copied
 * by the agent: a temporary buffer is fine. */
#ifndef TRACEAGENT_H
#define TRACEAGENT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Defined by libtraceagent.so; absent (NULL) when the agent is not loaded. */
extern void traceagent_range_push(const char *name) __attribute__((weak));
extern void traceagent_range_pop(void) __attribute__((weak));
extern void traceagent_mark(const char *name) __attribute__((weak));
extern void traceagent_counter(const char *name, double value) __attribute__((weak));

/* 1 when the agent is loaded in this process. */
static inline int traceagent_present(void) { return traceagent_range_push != 0; }

static inline void traceagent_push(const char *name)
{
    if (traceagent_range_push)
        traceagent_range_push(name);
}

static inline void traceagent_pop(void)
{
    if (traceagent_range_pop)
        traceagent_range_pop();
}

static inline void traceagent_instant(const char *name)
{
    if (traceagent_mark)
        traceagent_mark(name);
}

static inline void traceagent_count(const char *name, double value)
{
    if (traceagent_counter)
        traceagent_counter(name, value);
}

/* A range that ends with the enclosing block (cleanup attribute; C with GCC or Clang). */
static inline void traceagent__scope_end(int *unused)
{
    (void)unused;
    traceagent_pop();
}
#define TRACEAGENT__CAT2(a, b) a##b
#define TRACEAGENT__CAT(a, b) TRACEAGENT__CAT2(a, b)
#define TRACEAGENT_SCOPE(name)                                                         \
    int TRACEAGENT__CAT(traceagent__scope_, __LINE__)                                  \
        __attribute__((cleanup(traceagent__scope_end), unused)) = (traceagent_push(name), 0)

#ifdef __cplusplus
}
#endif

#endif
