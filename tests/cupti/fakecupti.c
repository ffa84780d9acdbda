/* t63: a fake libcupti.so.13, standing in for CUPTI where there is no GPU. It implements
 * the cupti* entry points libtraceagent-cupti.so calls, keeps what the module registers
 * (the API callback, the buffer callbacks, the timestamp callback) and lets the replay
 * program (replay.c) drive them as CUPTI would: API callbacks at enter and exit, buffers
 * requested from the module, filled with CUPTI's own record structs and completed, in any
 * order, with a dropped-record count.
 *
 * What the module did to it goes to $FAKECUPTI_LOG, one line per call of interest
 * ("subscribe", "enable <kind>", "flush <flag> pid <pid>", "child <fn>" when a forked child
 * calls CUPTI), written with raw system calls (the agent records the program's write()).
 * FAKECUPTI_BUSY=1: cuptiSubscribe answers as when another client holds CUPTI.
 * FAKECUPTI_NO_TSCB=1: the timestamp callback is refused (the module measures an offset).
 * FAKECUPTI_TSCB_IGNORED=1: the callback is accepted but records carry CUPTI's own clock
 * (the CUDA 13.0 bug of FIELD_NOTES). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cupti.h>

#include "fakecupti.h"

#define API __attribute__((visibility("default")))

static CUpti_CallbackFunc api_cb;
static void *api_ud;
static int domains[8];
static CUpti_BuffersCallbackRequestFunc req_cb;
static CUpti_BuffersCallbackCompleteFunc done_cb;
static CUpti_TimestampCallbackFunc ts_cb;
static pid_t owner;
static size_t dropped_next;

static void logf_(const char *fmt, ...)
{
    const char *p = getenv("FAKECUPTI_LOG");
    if (!p)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    int fd = (int)syscall(SYS_open, p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        syscall(SYS_write, fd, line, (size_t)n);
        syscall(SYS_close, fd);
    }
}

/* A call in a process other than the one that subscribed: a forked child using the
 * parent's state */
static void who(const char *fn)
{
    if (owner && (pid_t)syscall(SYS_getpid) != owner)
        logf_("child %s pid %d", fn, (int)syscall(SYS_getpid));
}

API CUptiResult cuptiSubscribe(CUpti_SubscriberHandle *s, CUpti_CallbackFunc cb, void *ud)
{
    who(__func__);
    const char *busy = getenv("FAKECUPTI_BUSY");
    if (busy && *busy == '1') {
        logf_("subscribe busy");
        return CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
    }
    owner = (pid_t)syscall(SYS_getpid);
    api_cb = cb;
    api_ud = ud;
    *s = (CUpti_SubscriberHandle)(void *)&api_cb;
    logf_("subscribe");
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiEnableDomain(uint32_t enable, CUpti_SubscriberHandle s, CUpti_CallbackDomain d)
{
    who(__func__);
    (void)s;
    if ((unsigned)d < 8)
        domains[d] = (int)enable;
    logf_("domain %d %u", (int)d, enable);
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetResultString(CUptiResult r, const char **str)
{
    *str = r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
               ? "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"
               : r == CUPTI_SUCCESS ? "CUPTI_SUCCESS" : "CUPTI_ERROR_UNKNOWN";
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityRegisterTimestampCallback(CUpti_TimestampCallbackFunc f)
{
    who(__func__);
    const char *no = getenv("FAKECUPTI_NO_TSCB");
    if (no && *no == '1') {
        logf_("tscb refused");
        return CUPTI_ERROR_NOT_SUPPORTED;
    }
    ts_cb = f;
    logf_("tscb");
    return CUPTI_SUCCESS;
}

/* CUPTI's own clock, when no callback: CLOCK_REALTIME (FIELD_NOTES) */
API CUptiResult cuptiGetTimestamp(uint64_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityRegisterCallbacks(CUpti_BuffersCallbackRequestFunc rq,
                                               CUpti_BuffersCallbackCompleteFunc dn)
{
    who(__func__);
    req_cb = rq;
    done_cb = dn;
    logf_("buffers");
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityEnable(CUpti_ActivityKind k)
{
    who(__func__);
    logf_("enable %d", (int)k);
    return CUPTI_SUCCESS;
}

static size_t rec_size(CUpti_ActivityKind k)
{
    switch (k) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: return sizeof(CUpti_ActivityKernel10);
    case CUPTI_ACTIVITY_KIND_MEMCPY: return sizeof(CUpti_ActivityMemcpy6);
    case CUPTI_ACTIVITY_KIND_MEMCPY2: return sizeof(CUpti_ActivityMemcpyPtoP4);
    case CUPTI_ACTIVITY_KIND_MEMSET: return sizeof(CUpti_ActivityMemset4);
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: return sizeof(CUpti_ActivitySynchronization2);
    case CUPTI_ACTIVITY_KIND_GRAPH_TRACE: return sizeof(CUpti_ActivityGraphTrace2);
    default: return 0;
    }
}

API CUptiResult cuptiActivityGetNextRecord(uint8_t *buf, size_t valid, CUpti_Activity **rec)
{
    uint8_t *p = *rec ? (uint8_t *)*rec + ((rec_size((*rec)->kind) + 7) & ~(size_t)7) : buf;
    if (p + sizeof(CUpti_Activity) > buf + valid)
        return CUPTI_ERROR_MAX_LIMIT_REACHED;
    size_t n = rec_size(((CUpti_Activity *)(void *)p)->kind);
    if (!n || p + n > buf + valid)
        return CUPTI_ERROR_INVALID_KIND;
    *rec = (CUpti_Activity *)(void *)p;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityGetNumDroppedRecords(CUcontext ctx, uint32_t stream, size_t *n)
{
    (void)ctx;
    (void)stream;
    *n = dropped_next;
    dropped_next = 0;
    return CUPTI_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* The replay program's side */

#define NHELD 8
static struct fake_buf *held[NHELD];

API CUptiResult cuptiActivityFlushAll(uint32_t flag)
{
    who(__func__);
    logf_("flush %u pid %d", flag, (int)syscall(SYS_getpid));
    if (flag & CUPTI_ACTIVITY_FLAG_FLUSH_FORCED)
        for (int i = 0; i < NHELD; i++)
            if (held[i]) {
                struct fake_buf *b = held[i];
                held[i] = NULL;
                fake_complete(b, 0);
            }
    return CUPTI_SUCCESS;
}

API uint64_t fake_now(void)
{
    uint64_t t = 0;
    const char *ign = getenv("FAKECUPTI_TSCB_IGNORED");
    if (ts_cb && !(ign && *ign == '1'))
        return ts_cb();
    cuptiGetTimestamp(&t);
    return t;
}

API int fake_ready(void) { return api_cb != NULL && domains[CUPTI_CB_DOMAIN_RUNTIME_API]; }
API int fake_activity_ready(void) { return req_cb && done_cb; }

API void fake_api(CUpti_CallbackDomain d, CUpti_CallbackId cbid, const char *name, int site,
                  uint32_t corr, int ret, uint64_t *corr_data)
{
    if (!api_cb || !domains[d])
        return;
    CUpti_CallbackData cb;
    memset(&cb, 0, sizeof cb);
    cb.callbackSite = (CUpti_ApiCallbackSite)site;
    cb.functionName = name;
    cb.functionReturnValue = site == CUPTI_API_EXIT ? &ret : NULL;
    cb.correlationData = corr_data;
    cb.correlationId = corr;
    if (site == CUPTI_API_EXIT && !strcmp(name, "cudaDeviceReset"))
        logf_("reset exit");
    api_cb(api_ud, d, cbid, &cb);
}

API struct fake_buf *fake_request(void)
{
    struct fake_buf *b = calloc(1, sizeof *b);
    size_t max = 0;
    req_cb(&b->p, &b->size, &max);
    return b;
}

API void *fake_add(struct fake_buf *b, CUpti_ActivityKind k)
{
    size_t n = rec_size(k), at = b->used;
    if (!b->p || at + n > b->size)
        return NULL;
    memset(b->p + at, 0, n);
    ((CUpti_Activity *)(void *)(b->p + at))->kind = k;
    b->used = at + ((n + 7) & ~(size_t)7);
    return b->p + at;
}

API void fake_complete(struct fake_buf *b, size_t dropped)
{
    dropped_next = dropped;
    done_cb(NULL, 0, b->p, b->size, b->used);
    free(b);
}

API void fake_hold(struct fake_buf *b)
{
    for (int i = 0; i < NHELD; i++)
        if (!held[i]) {
            held[i] = b;
            return;
        }
}

/* A raw API callback, whatever the function's return type (cudaGetErrorString's is a
 * pointer) */
API void fake_cb_raw(CUpti_CallbackDomain d, CUpti_CallbackId cbid, CUpti_CallbackData *cb)
{
    if (api_cb && domains[d])
        api_cb(api_ud, d, cbid, cb);
}
/* A buffer another CUPTI client requested, completed through the callbacks registered now */
API void fake_complete_foreign(void)
{
    if (!done_cb)
        return;
    uint8_t *p = malloc(1 << 20);
    memset(p, 0, 1 << 20);
    done_cb(NULL, 0, p, 1 << 20, 0);
    free(p);
}
API int fake_buffers_registered(void) { return done_cb != NULL; }
API int fake_is_held(const struct fake_buf *b)
{
    for (int i = 0; i < NHELD; i++)
        if (held[i] == b)
            return 1;
    return 0;
}
