/* libtraceagent-cupti.so: CUDA API calls, GPU work and NVTX ranges, into the agent.
 *
 * Loaded by the CUDA driver at cuInit (CUDA_INJECTION64_PATH, set by the agent: see
 * agent/plugin.c load_own), so only into processes that use CUDA; and by NVTX's loader
 * (NVTX_INJECTION64_PATH) at a program's first NVTX call. It finds the agent through
 * ta_plugin_get() and registers:
 *   - the family "cuda" (category "cuda"): CUPTI's runtime and driver API callbacks become
 *     spans on the calling thread's ring, named by the function (one op per domain, the
 *     name as the record's interned string: name_from_str), nested under the markers and
 *     I/O around them, with the correlation id, the return code and, at calls that launch
 *     GPU work, a flow to it;
 *   - the source "cupti": CUPTI's activity buffers, parsed on the drainer's thread, become
 *     `gpu` events on tracks "GPU <dev> stream <id>", each under the scope of the call that
 *     launched it;
 *   - the family "nvtx" (category "marker"): NVTX ranges and marks.
 * README.md (this folder) says what is recorded and why it is done this way. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cupti.h>
#include <nvtx3/nvToolsExt.h>

#include <traceagent_plugin.h>

#define EXPORT __attribute__((visibility("default")))

static const struct ta_plugin_api *ta;

/* libcupti, loaded at InitializeInjection (a CUDA process), not linked: NVTX loads this
 * object too, and a program that uses NVTX without CUDA must not get libcupti mapped
 * (../shared/CONTRACT.md). The name first (a copy already loaded, LD_LIBRARY_PATH, this
 * object's RUNPATH), then the build's own file. */
#ifndef TA_CUPTI_SONAME
#define TA_CUPTI_SONAME "libcupti.so"
#endif
#ifndef TA_CUPTI_PATH
#define TA_CUPTI_PATH TA_CUPTI_SONAME
#endif
#define CUPTI_FNS(X)                                                                       \
    X(cuptiSubscribe) X(cuptiEnableDomain) X(cuptiGetResultString)                         \
    X(cuptiActivityRegisterTimestampCallback) X(cuptiGetTimestamp)                         \
    X(cuptiActivityRegisterCallbacks) X(cuptiActivityEnable) X(cuptiActivityGetNextRecord) \
    X(cuptiActivityGetNumDroppedRecords) X(cuptiActivityFlushAll)
#define DECL(f) static __typeof__(&f) p_##f;
CUPTI_FNS(DECL)
#undef DECL

static int load_cupti(void)
{
    void *h = dlopen(TA_CUPTI_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen(TA_CUPTI_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ta->log(TA_LOG_WARN, "cupti: %s not found (%s): CUDA is not traced", TA_CUPTI_SONAME,
                dlerror());
        return -1;
    }
#define LOAD(f)                                                                            \
    if (!(*(void **)&p_##f = dlsym(h, #f))) {                                              \
        ta->log(TA_LOG_WARN, "cupti: %s has no %s: CUDA is not traced", TA_CUPTI_SONAME, #f); \
        return -1;                                                                         \
    }
    CUPTI_FNS(LOAD)
#undef LOAD
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Ops */

/* API spans: u64[0] correlation, i64[1] the CUDA return code, u64[2] the flow id (only at
 * calls that launch GPU work: TA_F_OFFSET is this module's "has a flow" bit), str the
 * function's name, str2 the failing code's name. */
#define F_FLOW TA_F_OFFSET
static const struct ta_field api_fields[] = {
    {"correlation", TA_FT_U64, TA_ROLE_CORRELATION, TA_OFF_U64(0), 0},
    {"ret", TA_FT_I64, TA_ROLE_RET, TA_OFF_U64(1), TA_F_RET},
    {"error", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0},
    {"flow", TA_FT_U64, TA_ROLE_FLOW_OUT, TA_OFF_U64(2), F_FLOW},
};
#define API_OP(n)                                                                          \
    {.name = n, .cat = TA_CAT_CUDA, .shape = TA_SHAPE_SPAN, .name_from_str = 1,               \
     .nfields = 4, .fields = api_fields}
static struct ta_op op_rt = API_OP("cuda runtime"), op_drv = API_OP("cuda driver");

/* The chattiest calls, counted instead of recorded: one counter per function at the end */
static const struct ta_field count_fields[] = {
    {"calls", TA_FT_F64, TA_ROLE_COUNTER, TA_OFF_U64(0), 0}};
#define COUNT_OP(n)                                                                        \
    {.name = n, .cat = TA_CAT_CUDA, .shape = TA_SHAPE_COUNTER, .name_from_str = 1,            \
     .nfields = 1, .fields = count_fields}
static struct ta_op op_rt_count = COUNT_OP("cuda runtime calls"),
                    op_drv_count = COUNT_OP("cuda driver calls");

static struct ta_op *const cuda_ops[] = {&op_rt, &op_drv, &op_rt_count, &op_drv_count, NULL};

/* GPU work: u64[0] correlation (also the flow's end), u32[2] device, u32[3] stream,
 * i64[2] bytes; kernels' launch configuration in the continued payload. */
struct kext {
    uint32_t grid[3], block[3], shared, regs;
};
#define F_PINNED TA_F_OFFSET
#define GPU_COMMON                                                                         \
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(2), 0},                                 \
        {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(3), 0},                             \
        {"correlation", TA_FT_U64, TA_ROLE_CORRELATION, TA_OFF_U64(0), 0},                   \
        {"flow", TA_FT_U64, TA_ROLE_FLOW_IN, TA_OFF_U64(0), 0}
static const struct ta_field kernel_fields[] = {
    GPU_COMMON,
    {"grid", TA_FT_DIM3, TA_ROLE_GRID, TA_OFF_EXT(offsetof(struct kext, grid)), 0},
    {"block", TA_FT_DIM3, TA_ROLE_BLOCK, TA_OFF_EXT(offsetof(struct kext, block)), 0},
    {"shared_bytes", TA_FT_U32, TA_ROLE_NONE, TA_OFF_EXT(offsetof(struct kext, shared)), 0},
    {"registers", TA_FT_U32, TA_ROLE_NONE, TA_OFF_EXT(offsetof(struct kext, regs)), 0},
};
static const struct ta_field copy_fields[] = {
    GPU_COMMON,
    {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(2), 0},
    {"pinned", TA_FT_TRUE, TA_ROLE_NONE, 0, F_PINNED},
    {"src", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR, 0},
    {"dst", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0},
};
static const struct ta_field memset_fields[] = {
    GPU_COMMON,
    {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(2), 0},
};
/* synchronisation: no flow (the call that waited is its own span) */
static const struct ta_field sync_fields[] = {
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(2), 0},
    {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(3), 0},
    {"correlation", TA_FT_U64, TA_ROLE_CORRELATION, TA_OFF_U64(0), 0},
};
#define GPU_OP(n, fromstr, f)                                                              \
    {.name = n, .cat = TA_CAT_GPU, .shape = TA_SHAPE_SPAN, .name_from_str = fromstr,          \
     .layer = TA_LAYER_DEVICE, .nfields = sizeof(f) / sizeof(f[0]), .fields = f}
static const struct ta_op op_kernel = GPU_OP("kernel", 1, kernel_fields);
static const struct ta_op op_copy[] = {
    GPU_OP("Memcpy HtoD", 0, copy_fields), GPU_OP("Memcpy DtoH", 0, copy_fields),
    GPU_OP("Memcpy DtoD", 0, copy_fields), GPU_OP("Memcpy HtoH", 0, copy_fields),
    GPU_OP("Memcpy PtoP", 0, copy_fields)};
enum { CP_HTOD, CP_DTOH, CP_DTOD, CP_HTOH, CP_PTOP };
static const struct ta_op op_memset = GPU_OP("Memset", 0, memset_fields);
static const struct ta_op op_sync[] = {
    GPU_OP("Sync unknown", 0, sync_fields), GPU_OP("Sync event", 0, sync_fields),
    GPU_OP("Sync stream wait event", 0, sync_fields), GPU_OP("Sync stream", 0, sync_fields),
    GPU_OP("Sync context", 0, sync_fields)};

/* NVTX ranges that start and end apart (nvtxRangeStart/End: any thread) */
static const struct ta_field nvtx_fields[] = {
    {"unfinished", TA_FT_TRUE, TA_ROLE_UNFINISHED, 0, TA_F_UNFINISHED}};
static struct ta_op op_nvtx_range = {.name = "range", .cat = TA_CAT_MARKER,
                                     .shape = TA_SHAPE_SPAN, .name_from_str = 1,
                                     .nfields = 1, .fields = nvtx_fields};
static struct ta_op *const nvtx_ops[] = {&op_nvtx_range, NULL};

/* ------------------------------------------------------------------------------------ */
/* State */

static _Atomic int disabled;   /* a forked child: never touch the parent's CUPTI state */
static int subscribed, activity_on;
static CUpti_SubscriberHandle subscriber;
static uint64_t clock_offset;  /* add to CUPTI's timestamps (0: the callback gives ours) */
/* The timestamp callback registered, yet records may carry CUPTI's own clock (CUDA 13.0's
 * bug, FIELD_NOTES): a record whose start is not near the host's clock is moved by
 * own_offset, measured at start and again at the first such record */
static int tscb_on, own_switched;
static uint64_t own_offset, start_ns, parse_now;
static _Atomic uint64_t last_flush_ns;

/* Per thread: the open runtime call (driver calls inside it are its own work) */
struct cu_tls {
    ta_thread_t *t;
    int rt_open;
    int in_errname; /* inside error_name's own call into CUDA: its callbacks are ignored */
    uint32_t rt_corr, rt_scope; /* the open runtime launch: its correlation id and scope */
};
/* initial-exec: a dlopened object's dynamic TLS is allocated (malloc) at each thread's
 * first touch, on the program's thread; 16 bytes of glibc's static TLS surplus instead */
static __thread struct cu_tls tls __attribute__((tls_model("initial-exec")));

/* Per callback id: its interned name, and its kind (0: not seen yet). The first call of a
 * function classifies it by name; later calls read two arrays. */
enum { K_PLAIN = 1, K_CHATTY, K_LAUNCH, K_RESET, K_NORET };
#define NCB 1024
static _Atomic uint32_t cb_name[2][NCB];
static _Atomic uint8_t cb_kind[2][NCB];
static _Atomic uint64_t cb_count[2][NCB];

/* correlation -> scope of the launch, for the activity side: one slot per id modulo the
 * size, the full id kept beside the scope so a slot another id took since reads as "not
 * found" (counted as cupti_no_scope) rather than as the wrong scope. Correlation ids are
 * spent by every API call (~14 per launch in torch) and records are parsed up to 100 ms
 * after their launch: 2^20 slots hold ~70k launches in flight. Two tables of 8 MiB,
 * mmapped at start (pages touched only as ids reach them; none in an NVTX-only process). */
#define CORR_SLOTS (1u << 20)
static _Atomic uint64_t *corr_scope, *corr_alias;

static void corr_put(uint32_t corr, uint32_t scope)
{
    if (corr_scope)
        atomic_store_explicit(&corr_scope[corr & (CORR_SLOTS - 1)],
                              (uint64_t)corr << 32 | scope, memory_order_release);
}
/* A driver call inside a runtime launch (cudaLaunchKernel -> cuLaunchKernel) may have a
 * correlation id of its own, and GPU records may carry it: it is aliased to the runtime
 * call's, whose span has the flow's start */
static void corr_alias_put(uint32_t corr, uint32_t outer)
{
    if (corr_alias)
        atomic_store_explicit(&corr_alias[corr & (CORR_SLOTS - 1)],
                              (uint64_t)corr << 32 | outer, memory_order_release);
}
static uint32_t corr_outer(uint32_t corr)
{
    if (!corr_alias)
        return 0;
    uint64_t v = atomic_load_explicit(&corr_alias[corr & (CORR_SLOTS - 1)], memory_order_acquire);
    return (uint32_t)(v >> 32) == corr && corr ? (uint32_t)v : 0;
}
static int corr_get(uint32_t corr, uint32_t *scope)
{
    if (!corr_scope)
        return 0;
    uint64_t v = atomic_load_explicit(&corr_scope[corr & (CORR_SLOTS - 1)], memory_order_acquire);
    if ((uint32_t)(v >> 32) != corr || !corr)
        return 0;
    *scope = (uint32_t)v;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* Host side: the API callbacks */

/* name is `stem` or `stem_v<N>...` */
static int is_fn(const char *name, const char *stem)
{
    size_t n = strlen(stem);
    return !strncmp(name, stem, n) && (!name[n] || (name[n] == '_' && name[n + 1] == 'v'));
}
static int has_prefix(const char *name, const char *p) { return !strncmp(name, p, strlen(p)); }

static const char *const chatty[] = {
    "cudaGetDevice", "cudaGetLastError", "cudaPeekAtLastError", "cudaGetDeviceCount",
    "cudaStreamIsCapturing", "cudaSetDevice", "cudaGetDeviceProperties",
    "cudaDeviceGetAttribute", "cudaPointerGetAttributes", "cudaStreamGetCaptureInfo",
    "cudaGetFuncBySymbol", "cudaFuncGetAttributes", "cuCtxGetCurrent", "cuCtxSetCurrent",
    "cuCtxGetDevice", "cuDevicePrimaryCtxGetState", "cuDeviceGet", "cuDeviceGetAttribute",
    "cuDeviceGetCount", "cuGetProcAddress", "cuPointerGetAttribute", "cuPointerGetAttributes",
    "cuStreamIsCapturing", "cuStreamGetCaptureInfo", "cuCtxGetStreamPriorityRange",
    "cuGetErrorString", "cuGetErrorName", "cuDriverGetVersion", "cudaDriverGetVersion",
    "cudaRuntimeGetVersion", "cuModuleGetFunction", "cuLibraryGetKernel",
    "cuKernelGetFunction", NULL};

__attribute__((noinline)) static int classify(const char *name)
{
    if (!name)
        return K_PLAIN;
    for (int i = 0; chatty[i]; i++)
        if (is_fn(name, chatty[i]))
            return K_CHATTY;
    if (is_fn(name, "cudaDeviceReset"))
        return K_RESET;
    /* the runtime calls whose return is not an error code (a string: cuda_runtime_api.h;
     * the driver's cuGetError* return a CUresult) */
    if (is_fn(name, "cudaGetErrorString") || is_fn(name, "cudaGetErrorName"))
        return K_NORET;
    /* a host function on a stream: no GPU record comes, so no flow */
    if (is_fn(name, "cudaLaunchHostFunc") || is_fn(name, "cuLaunchHostFunc"))
        return K_PLAIN;
    static const char *const launch[] = {"cudaLaunch", "cuLaunch", "cudaMemcpy", "cuMemcpy",
                                         "cudaMemset", "cuMemset", "cudaGraphLaunch",
                                         "cuGraphLaunch", NULL};
    for (int i = 0; launch[i]; i++)
        if (has_prefix(name, launch[i]))
            return K_LAUNCH;
    return K_PLAIN;
}

/* The name of a failing call's code, through the runtime or driver (resolved at start:
 * a cudart linked statically exports none: then the number). Cold: failing calls only.
 * The call into CUDA raises callbacks of its own (cudaGetErrorName is traced by CUPTI):
 * in_errname makes api_cb ignore them, so a callback never calls into CUDA from within
 * the error-name family, and the module's own call is not in the trace. */
static const char *(*rt_errname)(int);
static int (*drv_errname)(int, const char **);

__attribute__((noinline, cold)) static uint32_t error_name(int domain, int64_t code)
{
    const char *s = NULL;
    tls.in_errname = 1;
    if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) {
        if (rt_errname)
            s = rt_errname((int)code);
    } else if (drv_errname && drv_errname((int)code, &s) != 0) {
        s = NULL;
    }
    tls.in_errname = 0;
    char buf[48];
    if (!s) {
        snprintf(buf, sizeof buf, "%s %lld",
                 domain == CUPTI_CB_DOMAIN_RUNTIME_API ? "cudaError" : "CUresult",
                 (long long)code);
        s = buf;
    }
    return ta->intern(s, strlen(s));
}

static void flush(int forced);
static uint64_t measure_offset(void);

static void CUPTIAPI api_cb(void *ud, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                            const void *data)
{
    (void)ud;
    if (domain != CUPTI_CB_DOMAIN_RUNTIME_API && domain != CUPTI_CB_DOMAIN_DRIVER_API)
        return;
    if (atomic_load_explicit(&disabled, memory_order_relaxed) || tls.in_errname)
        return;
    const CUpti_CallbackData *cb = data;
    int rt = domain == CUPTI_CB_DOMAIN_RUNTIME_API, d = rt ? 0 : 1;
    unsigned id = cbid < NCB ? cbid : 0;
    int enter = cb->callbackSite == CUPTI_API_ENTER;
    if (rt)
        tls.rt_open += enter ? 1 : (tls.rt_open > 0 ? -1 : 0);
    int kind = atomic_load_explicit(&cb_kind[d][id], memory_order_acquire);
    if (__builtin_expect(!kind, 0)) { /* the first call of this function */
        const char *fn = cb->functionName ? cb->functionName : "?";
        atomic_store_explicit(&cb_name[d][id], ta->intern(fn, strlen(fn)), memory_order_relaxed);
        kind = classify(fn);
        atomic_store_explicit(&cb_kind[d][id], (uint8_t)kind, memory_order_release);
    }
    if (!rt && tls.rt_open) { /* the runtime call's own driver calls: not recorded */
        if (enter && kind == K_LAUNCH && tls.rt_corr && cb->correlationId != tls.rt_corr) {
            corr_put(cb->correlationId, tls.rt_scope);
            corr_alias_put(cb->correlationId, tls.rt_corr);
        }
        return;
    }
    if (kind == K_CHATTY) {
        if (enter)
            atomic_fetch_add_explicit(&cb_count[d][id], 1, memory_order_relaxed);
        return;
    }
    if (kind == K_RESET && !enter)
        flush(1); /* what the reset device ran, handed over now rather than at exit */

    if (enter) {
        *cb->correlationData = 0;
        if (rt)
            tls.rt_corr = 0;
        if (kind == K_LAUNCH) {
            uint32_t name = atomic_load_explicit(&cb_name[d][id], memory_order_relaxed);
            uint32_t sc = ta->scope(rt ? &op_rt : &op_drv, name);
            corr_put(cb->correlationId, sc);
            if (rt) {
                tls.rt_corr = cb->correlationId;
                tls.rt_scope = sc;
            }
        }
        ta_thread_t *t = ta->enter(TA_CAT_CUDA);
        if (!t)
            return;
        tls.t = t;
        *cb->correlationData = ta->now() | 1; /* nonzero: recorded, leave at the exit */
        return;
    }
    uint64_t t0 = *cb->correlationData;
    if (!t0)
        return;
    uint64_t t1 = ta->now();
    ta_thread_t *t = tls.t;
    uint32_t name = atomic_load_explicit(&cb_name[d][id], memory_order_relaxed);
    int64_t ret = 0;
    if (cb->functionReturnValue && kind != K_NORET)
        ret = *(const int *)cb->functionReturnValue; /* cudaError_t or CUresult: an enum */
    uint32_t err = ret ? error_name(domain, ret) : 0;
    struct ta_rec *r = ta->begin(t, 0);
    if (r) {
        r->op = rt ? &op_rt : &op_drv;
        r->t0 = t0 & ~1ull;
        r->t1 = t1;
        r->u.u64[0] = cb->correlationId;
        r->u.i64[1] = ret;
        r->u.u64[2] = kind == K_LAUNCH ? cb->correlationId : 0;
        r->str = name;
        r->str2 = err;
        r->fd = -1;
        r->err = 0;
        r->depth = ta->depth(t);
        r->flags = (kind == K_NORET ? 0 : TA_F_RET) | (kind == K_LAUNCH ? F_FLOW : 0);
        ta->commit(t, NULL, 0);
    }
    ta->leave(t);
}

/* ------------------------------------------------------------------------------------ */
/* Device side: CUPTI's activity buffers */

/* A buffer: this header, then the 8 MiB CUPTI fills (FIELD_NOTES: 1-10 MB is usual; CUDA
 * 13 asks for one per thread) */
#define BUF_BYTES (8u << 20)
#define BUF_HEAD 64
struct abuf {
    struct abuf *next;
    CUcontext ctx;
    uint32_t stream;
    size_t valid;
    uint64_t magic; /* ABUF_MAGIC while the buffer is ours */
};
#define ABUF_MAGIC 0x7461637570746962ull
/* Every buffer this module allocated, so that a buffer CUPTI completes to us but another
 * client requested (it holds CUPTI too) is recognised without reading memory before it:
 * ignored (not freed) and counted as cupti_foreign_buffer. NBUF_MAX buffers of 8 MiB at
 * most (2 GiB); past that, no buffer (CUPTI counts what it drops). */
#define NBUF_MAX 256
static _Atomic(struct abuf *) ours[NBUF_MAX];
static int buf_register(struct abuf *b)
{
    for (unsigned i = 0; i < NBUF_MAX; i++) {
        struct abuf *z = NULL;
        if (atomic_compare_exchange_strong(&ours[i], &z, b))
            return 0;
    }
    return -1;
}
static int buf_ours(const struct abuf *b)
{
    for (unsigned i = 0; i < NBUF_MAX; i++)
        if (atomic_load_explicit(&ours[i], memory_order_acquire) == b)
            return 1;
    return 0;
}
static void buf_unregister(struct abuf *b)
{
    for (unsigned i = 0; i < NBUF_MAX; i++) {
        struct abuf *x = b;
        if (atomic_compare_exchange_strong(&ours[i], &x, NULL))
            return;
    }
}
static _Atomic(struct abuf *) completed; /* pushed by CUPTI's threads, taken whole by poll */
/* CUDA 13 takes a buffer per thread that launches: up to 32 kept for reuse (256 MiB at
 * most, only as many as were in use at once) */
#define FREE_MAX 32
static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;
static struct abuf *free_list;
static int free_n;
static _Atomic uint64_t nbuf_alloc;

static void CUPTIAPI buf_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    struct abuf *b = NULL;
    pthread_mutex_lock(&free_mu);
    if ((b = free_list)) {
        free_list = b->next;
        free_n--;
    }
    pthread_mutex_unlock(&free_mu);
    if (!b) {
        void *p = NULL;
        if (posix_memalign(&p, BUF_HEAD, BUF_HEAD + BUF_BYTES) != 0)
            p = NULL;
        b = p;
        if (b && buf_register(b) < 0) {
            free(b);
            b = NULL;
        }
        if (b) {
            b->magic = ABUF_MAGIC;
            atomic_fetch_add_explicit(&nbuf_alloc, 1, memory_order_relaxed);
        }
    }
    *max_records = 0;
    if (!b) { /* CUPTI counts the records it could not keep (dropped records) */
        *buffer = NULL;
        *size = 0;
        if (ta)
            ta->dropped("cupti_no_buffer", 1);
        return;
    }
    *buffer = (uint8_t *)b + BUF_HEAD;
    *size = BUF_BYTES;
}

static void buf_free(struct abuf *b)
{
    pthread_mutex_lock(&free_mu);
    if (free_n < FREE_MAX) {
        b->next = free_list;
        free_list = b;
        free_n++;
        b = NULL;
    }
    pthread_mutex_unlock(&free_mu);
    if (b) {
        buf_unregister(b);
        b->magic = 0;
        free(b);
    }
}

static void CUPTIAPI buf_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                   size_t valid)
{
    (void)size;
    if (!buffer)
        return;
    struct abuf *b = (struct abuf *)(buffer - BUF_HEAD);
    if (!buf_ours(b) || b->magic != ABUF_MAGIC) {
        if (ta)
            ta->dropped("cupti_foreign_buffer", 1);
        return; /* another client's: not ours to parse or free */
    }
    if (atomic_load(&disabled)) /* a child's: the parent's state, kept out; left, not */
        return;                 /* freed: free_mu may have been held at the fork */
    size_t dropped = 0;
    if (p_cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS && dropped &&
        ta)
        ta->dropped("cupti", dropped);
    if (!valid) {
        buf_free(b);
        return;
    }
    b->ctx = ctx;
    b->stream = stream;
    b->valid = valid;
    struct abuf *head = atomic_load_explicit(&completed, memory_order_relaxed);
    do
        b->next = head;
    while (!atomic_compare_exchange_weak_explicit(&completed, &head, b, memory_order_release,
                                                  memory_order_relaxed));
}

/* --- parsing (the drainer's thread only: no locks below) --- */

/* (device, stream) -> track */
#define NTRACKS 256
static struct {
    uint32_t dev, stream, track;
} tracks[NTRACKS];
static uint32_t track_of(uint32_t dev, uint32_t stream)
{
    unsigned h = (dev * 31u + stream * 2654435761u) % NTRACKS;
    for (unsigned i = 0; i < NTRACKS; i++, h = (h + 1) % NTRACKS) {
        if (tracks[h].track && tracks[h].dev == dev && tracks[h].stream == stream)
            return tracks[h].track;
        if (!tracks[h].track) {
            char name[64];
            if (stream == CUPTI_SYNCHRONIZATION_INVALID_VALUE) /* a context's sync */
                snprintf(name, sizeof name, "GPU %u sync", dev);
            else
                snprintf(name, sizeof name, "GPU %u stream %u", dev, stream);
            uint32_t t = ta->track_new(name);
            if (t) {
                tracks[h].dev = dev;
                tracks[h].stream = stream;
                tracks[h].track = t;
            }
            return t;
        }
    }
    return 0;
}

/* context id -> device, for the records that name only the context (synchronisation) */
#define NCTX 64
static uint32_t ctx_id[NCTX], ctx_dev[NCTX], nctx;
static void ctx_seen(uint32_t ctx, uint32_t dev)
{
    for (uint32_t i = 0; i < nctx; i++)
        if (ctx_id[i] == ctx)
            return;
    if (nctx < NCTX) {
        ctx_id[nctx] = ctx;
        ctx_dev[nctx++] = dev;
    }
}
static uint32_t ctx_device(uint32_t ctx)
{
    for (uint32_t i = 0; i < nctx; i++)
        if (ctx_id[i] == ctx)
            return ctx_dev[i];
    return 0;
}

/* kernel name (CUPTI's pointer, stable per function) -> interned demangled name */
#define NKNAMES 4096
static struct {
    const char *p;
    uint32_t id;
} knames[NKNAMES];
static char *(*cxa_demangle)(const char *, char *, size_t *, int *);
static int demangle_tried;

static uint32_t kernel_name(const char *mangled)
{
    if (!mangled)
        mangled = "(unknown kernel)";
    unsigned h = (unsigned)(((uintptr_t)mangled >> 4) * 2654435761u) % NKNAMES;
    for (unsigned i = 0; i < 16; i++, h = (h + 1) % NKNAMES) {
        if (knames[h].p == mangled)
            return knames[h].id;
        if (!knames[h].p)
            break;
    }
    if (!demangle_tried) {
        demangle_tried = 1;
        *(void **)&cxa_demangle = dlsym(RTLD_DEFAULT, "__cxa_demangle");
        if (!cxa_demangle) { /* a C program: libstdc++ is not there; load it here, once */
            void *h2 = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
            if (h2)
                *(void **)&cxa_demangle = dlsym(h2, "__cxa_demangle");
        }
    }
    uint32_t id = 0;
    if (cxa_demangle && mangled[0] == '_' && mangled[1] == 'Z') {
        int st = -1;
        char *d = cxa_demangle(mangled, NULL, NULL, &st);
        if (d && st == 0)
            id = ta->intern(d, strlen(d));
        free(d);
    }
    if (!id)
        id = ta->intern(mangled, strlen(mangled));
    if (!knames[h].p || knames[h].p == mangled) {
        knames[h].p = mangled;
        knames[h].id = id;
    }
    return id;
}

static const char *mem_kind(unsigned k)
{
    static const char *const names[] = {"unknown", "pageable", "pinned", "device", "array",
                                        "managed", "device_static", "managed_static"};
    return k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

static uint64_t n_bad_time;

/* One event: times from CUPTI (on the agent's clock, or shifted by the measured offset);
 * the launch's scope by correlation; the flow's id is the correlation found. */
static void emit_gpu(void (*emit)(const struct ta_event *), struct ta_rec *r, uint64_t start,
                     uint64_t end, uint32_t dev, uint32_t stream, uint32_t corr, uint32_t corr2,
                     const void *ext, uint32_t ext_len)
{
    uint32_t scope = 0;
    int found = corr_get(corr, &scope);
    if (!found && corr2 && (found = corr_get(corr2, &scope)))
        corr = corr2;
    /* GPU work whose launch is not in the table (taken by a later id, or never seen): the
     * event is kept, at the top level, and the loss counted (synchronisations have no
     * launch) */
    if (!found && subscribed && !(r->op >= op_sync && r->op < op_sync + 5))
        ta->dropped("cupti_no_scope", 1);
    uint32_t outer = corr_outer(corr);
    if (outer)
        corr = outer; /* a runtime launch's own driver call: the runtime call's flow */
    if (!start || end < start) {
        n_bad_time++;
        ta->dropped("cupti_bad_timestamp", 1);
        return;
    }
    uint64_t off = clock_offset;
    /* 1 s either side of the run so far: CUPTI's own clock (CLOCK_REALTIME) is decades
     * away from CLOCK_MONOTONIC */
    if (tscb_on && (start + 1000000000ull < start_ns || start > parse_now + 1000000000ull)) {
        if (!own_switched) {
            own_switched = 1;
            uint64_t o = measure_offset();
            if (o)
                own_offset = o;
            ta->log(TA_LOG_INFO, "cupti: records on CUPTI's own clock despite the timestamp "
                    "callback: moved by %lld ns", (long long)own_offset);
        }
        off = own_offset;
    }
    r->t0 = start + off;
    r->t1 = end + off;
    r->flags |= TA_F_NS;
    r->fd = -1;
    r->u.u64[0] = corr;
    r->u.u32[2] = dev;
    r->u.u32[3] = stream;
    struct ta_event ev = {.size = sizeof ev, .rec = r, .track = track_of(dev, stream),
                          .scope = scope, .ext = ext, .ext_len = ext_len};
    emit(&ev);
}

static void parse(struct abuf *b, void (*emit)(const struct ta_event *))
{
    CUpti_Activity *rec = NULL;
    uint8_t *base = (uint8_t *)b + BUF_HEAD;
    parse_now = ta->now_ns();
    while (p_cuptiActivityGetNextRecord(base, b->valid, &rec) == CUPTI_SUCCESS) {
        struct ta_rec r;
        memset(&r, 0, sizeof r);
        switch (rec->kind) {
        case CUPTI_ACTIVITY_KIND_KERNEL:
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
            const CUpti_ActivityKernel10 *k = (const void *)rec;
            struct kext x = {{(uint32_t)k->gridX, (uint32_t)k->gridY, (uint32_t)k->gridZ},
                             {(uint32_t)k->blockX, (uint32_t)k->blockY, (uint32_t)k->blockZ},
                             (uint32_t)(k->staticSharedMemory + k->dynamicSharedMemory),
                             k->registersPerThread};
            ctx_seen(k->contextId, k->deviceId);
            r.op = &op_kernel;
            r.str = kernel_name(k->name);
            emit_gpu(emit, &r, k->start, k->end, k->deviceId, k->streamId, k->correlationId, 0,
                     &x, sizeof x);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY: {
            const CUpti_ActivityMemcpy6 *m = (const void *)rec;
            int c = m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOD   ? CP_HTOD
                    : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_DTOH ? CP_DTOH
                    : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOH ? CP_HTOH
                    : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_PTOP ? CP_PTOP
                    : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOA ? CP_HTOD
                    : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_ATOH ? CP_DTOH
                                                                     : CP_DTOD;
            ctx_seen(m->contextId, m->deviceId);
            r.op = &op_copy[c];
            r.u.i64[2] = (int64_t)m->bytes;
            const char *src = mem_kind(m->srcKind), *dst = mem_kind(m->dstKind);
            r.str = ta->intern(src, strlen(src));
            r.str2 = ta->intern(dst, strlen(dst));
            if (m->srcKind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED ||
                m->dstKind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED)
                r.flags = F_PINNED;
            emit_gpu(emit, &r, m->start, m->end, m->deviceId, m->streamId, m->correlationId,
                     m->runtimeCorrelationId, NULL, 0);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY2: {
            const CUpti_ActivityMemcpyPtoP4 *m = (const void *)rec;
            r.op = &op_copy[CP_PTOP];
            r.u.i64[2] = (int64_t)m->bytes;
            emit_gpu(emit, &r, m->start, m->end, m->deviceId, m->streamId, m->correlationId, 0,
                     NULL, 0);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMSET: {
            const CUpti_ActivityMemset4 *m = (const void *)rec;
            ctx_seen(m->contextId, m->deviceId);
            r.op = &op_memset;
            r.u.i64[2] = (int64_t)m->bytes;
            emit_gpu(emit, &r, m->start, m->end, m->deviceId, m->streamId, m->correlationId, 0,
                     NULL, 0);
            break;
        }
        case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
            const CUpti_ActivitySynchronization2 *s = (const void *)rec;
            unsigned t = (unsigned)s->type;
            r.op = &op_sync[t < 5 ? t : 0];
            emit_gpu(emit, &r, s->start, s->end, ctx_device(s->contextId), s->streamId,
                     s->correlationId, 0, NULL, 0);
            break;
        }
        default:
            break;
        }
    }
}

static void src_poll(void (*emit)(const struct ta_event *), int final)
{
    if (atomic_load(&disabled))
        return;
    if (activity_on && !final) { /* records reach buffers only at a flush or when full */
        uint64_t now = ta->now_ns(), last = atomic_load(&last_flush_ns);
        if (now - last >= 100000000ull) {
            atomic_store(&last_flush_ns, now);
            p_cuptiActivityFlushAll(0);
        }
    }
    struct abuf *b = atomic_exchange_explicit(&completed, NULL, memory_order_acquire);
    struct abuf *rev = NULL; /* in the order they completed */
    while (b) {
        struct abuf *n = b->next;
        b->next = rev;
        rev = b;
        b = n;
    }
    while (rev) {
        struct abuf *n = rev->next;
        parse(rev, emit);
        buf_free(rev);
        rev = n;
    }
    if (final) { /* the chatty calls: one counter each, their number of calls */
        for (int d = 0; d < 2; d++)
            for (unsigned i = 0; i < NCB; i++) {
                uint64_t c = atomic_exchange_explicit(&cb_count[d][i], 0, memory_order_relaxed);
                if (!c)
                    continue;
                uint32_t nm = atomic_load_explicit(&cb_name[d][i], memory_order_relaxed);
                struct ta_rec r;
                memset(&r, 0, sizeof r);
                r.op = d ? &op_drv_count : &op_rt_count;
                r.t0 = r.t1 = ta->now_ns();
                r.flags = TA_F_NS;
                r.fd = -1;
                r.u.counter = (double)c;
                r.str = nm;
                struct ta_event ev = {.size = sizeof ev, .rec = &r};
                emit(&ev);
            }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Flushes, fork, exit */

static void flush(int forced)
{
    if (activity_on && !atomic_load(&disabled))
        p_cuptiActivityFlushAll(forced ? CUPTI_ACTIVITY_FLAG_FLUSH_FORCED : 0);
}

static void fam_before_final_drain(void) { flush(1); }
/* Not forced: a forced flush hands back the records of work still running too, with no
 * times yet (they would be lost as cupti_bad_timestamp); those come at a later flush */
static void fam_before_fork(void) { flush(0); }

/* The child has the parent's CUPTI state but not its threads: calling CUPTI there can hang
 * (HPCToolkit issue #195). Nothing more is recorded or flushed here; the buffers it holds
 * are the parent's (left, not freed: another thread of the parent may have been in them). */
static void fam_after_fork_child(void)
{
    atomic_store(&disabled, 1);
    atomic_store(&completed, NULL);
}

static const struct ta_family cuda_family = {
    .size = sizeof(struct ta_family),
    .name = "cuda",
    .cat = "cuda",
    .ops = cuda_ops,
    .before_fork = fam_before_fork,
    .after_fork_child = fam_after_fork_child,
    .before_final_drain = fam_before_final_drain,
};
static const struct ta_source cupti_source = {
    .size = sizeof(struct ta_source),
    .name = "cupti",
    .poll = src_poll,
    .after_fork_child = fam_after_fork_child,
};

static uint64_t CUPTIAPI host_clock(void) { return ta->now_ns(); }

static const char *cupti_err(CUptiResult r)
{
    const char *s = NULL;
    if (p_cuptiGetResultString(r, &s) != CUPTI_SUCCESS || !s)
        s = "unknown CUPTI error";
    return s;
}

/* CUPTI's clock -> the host's: the narrowest of 5 brackets host, CUPTI, host, the offset
 * at its middle (0 if CUPTI gives no time) */
static uint64_t measure_offset(void)
{
    uint64_t best = UINT64_MAX, off = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t c = 0, h0 = ta->now_ns();
        if (p_cuptiGetTimestamp(&c) != CUPTI_SUCCESS || !c)
            break;
        uint64_t h1 = ta->now_ns();
        if (h1 - h0 < best) {
            best = h1 - h0;
            off = (h0 + (h1 - h0) / 2) - c;
        }
    }
    return off;
}

/* Is category `cat` recorded in this process (TRACEAGENT_TRACE)? */
static int traced(int cat)
{
    ta_thread_t *t = ta->enter(cat);
    if (t)
        ta->leave(t);
    return t != NULL;
}

static _Atomic int started;

static void start_cupti(void)
{
    if (atomic_exchange(&started, 1))
        return;
    /* a process that inherited CUDA_INJECTION64_PATH but records neither category: CUPTI
     * is not even loaded (no subscriber slot taken from another tool) */
    if (!traced(TA_CAT_CUDA) && !traced(TA_CAT_GPU))
        return;
    if (load_cupti() < 0)
        return;
    for (int i = 0; i < 2; i++) {
        void *m = mmap(NULL, CORR_SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != MAP_FAILED)
            *(i ? &corr_alias : &corr_scope) = m;
    }
    /* the callbacks even where only `gpu` is traced: the launches' scopes and flows */
    int want_gpu = traced(TA_CAT_GPU);
    /* the error-name functions now, not in a callback (cudart and libcuda are loaded: the
     * driver is in cuInit, called by the runtime) */
    *(void **)&rt_errname = dlsym(RTLD_DEFAULT, "cudaGetErrorName");
    *(void **)&drv_errname = dlsym(RTLD_DEFAULT, "cuGetErrorName");
    CUptiResult r = p_cuptiSubscribe(&subscriber, api_cb, NULL);
    if (r == CUPTI_SUCCESS) {
        subscribed = 1;
        CUptiResult r1 = p_cuptiEnableDomain(1, subscriber, CUPTI_CB_DOMAIN_RUNTIME_API);
        CUptiResult r2 = p_cuptiEnableDomain(1, subscriber, CUPTI_CB_DOMAIN_DRIVER_API);
        if (r1 != CUPTI_SUCCESS || r2 != CUPTI_SUCCESS)
            ta->log(TA_LOG_WARN, "cupti: enabling the API callbacks failed (%s): CUDA calls "
                    "are not traced", cupti_err(r1 != CUPTI_SUCCESS ? r1 : r2));
        ta->add_family(&cuda_family);
    } else {
        /* No activity either: CUPTI's activity buffers are per process, and registering
         * ours would take the other client's records (or hand us its buffers) */
        const char *why = cupti_err(r);
        if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
            ta->log(TA_LOG_WARN, "cupti: another CUPTI client holds the callbacks "
                    "(torch.profiler, nsys, ncu, compute-sanitizer?): %s; GPU activity is not "
                    "recorded and CUDA API calls are not traced, everything else is traced",
                    why);
        else
            ta->log(TA_LOG_WARN, "cupti: cuptiSubscribe failed (%s): GPU activity is not "
                    "recorded and CUDA API calls are not traced, everything else is traced",
                    why);
        return;
    }
    if (!want_gpu)
        return;
    /* the host's clock for the records, registered before any kind is enabled; where CUPTI
     * refuses, its own clock shifted by the offset measured now */
    start_ns = ta->now_ns();
    own_offset = measure_offset();
    if (p_cuptiActivityRegisterTimestampCallback(host_clock) != CUPTI_SUCCESS) {
        clock_offset = own_offset;
        ta->log(TA_LOG_INFO, "cupti: no timestamp callback: CUPTI's clock + %lld ns",
                (long long)clock_offset);
    } else {
        tscb_on = 1;
    }
    r = p_cuptiActivityRegisterCallbacks(buf_requested, buf_completed);
    if (r != CUPTI_SUCCESS) {
        ta->log(TA_LOG_WARN, "cupti: activity buffers refused (%s): GPU work is not traced",
                cupti_err(r));
        return;
    }
    static const CUpti_ActivityKind kinds[] = {
        CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
        CUPTI_ACTIVITY_KIND_MEMSET, CUPTI_ACTIVITY_KIND_MEMCPY2,
        CUPTI_ACTIVITY_KIND_SYNCHRONIZATION};
    /* Not GRAPH_TRACE: enabled, CUPTI may give a graph launch as one graph-level record
     * instead of its kernels (nsys --cuda-graph-trace=graph); without it a graph's kernels
     * come as kernel records, each with the graph launch's correlation (its flow) */
    int on = 0;
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        r = p_cuptiActivityEnable(kinds[i]);
        if (r == CUPTI_SUCCESS)
            on++;
        else if (i == 0)
            ta->log(TA_LOG_WARN, "cupti: kernel activity refused (%s)", cupti_err(r));
        else
            ta->log(TA_LOG_DEBUG, "cupti: activity kind %d refused (%s)", (int)kinds[i],
                    cupti_err(r));
    }
    if (on) {
        activity_on = 1;
        atomic_store(&last_flush_ns, ta->now_ns());
        ta->add_source(&cupti_source);
    }
}

/* The driver calls this at cuInit when CUDA_INJECTION64_PATH names this object. 1: done. */
EXPORT int InitializeInjection(void)
{
    if (!ta)
        ta = ta_plugin_get();
    if (!ta || atomic_load(&disabled))
        return 1; /* no agent in this process (one line said why, if it was another ABI) */
    start_cupti();
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* NVTX: NVTX v3 is compiled into each library that uses it; at its first call it loads
 * NVTX_INJECTION64_PATH (the agent sets it to this object) and calls
 * InitializeInjectionNvtx2, which fills its function table with ours. Ranges pushed and
 * popped, and marks, go through the agent's marker entry points (include/traceagent.h:
 * found by name, as a program's markers are); ranges started and ended apart are spans of
 * the family "nvtx" (category "marker") on the thread that ends them. */

static void (*m_push)(const char *), (*m_pop)(void), (*m_mark)(const char *);

/* The text of an event's message, in buf when it must be converted */
static const char *nvtx_msg(const nvtxEventAttributes_t *a, char *buf, size_t cap)
{
    if (!a)
        return "";
    switch (a->messageType) {
    case NVTX_MESSAGE_TYPE_ASCII:
        return a->message.ascii ? a->message.ascii : "";
    case NVTX_MESSAGE_TYPE_REGISTERED: /* our handles are the strings themselves */
        return a->message.registered ? (const char *)a->message.registered : "";
    case NVTX_MESSAGE_TYPE_UNICODE: {
        size_t i = 0;
        const wchar_t *w = a->message.unicode;
        for (; w && w[i] && i + 1 < cap; i++)
            buf[i] = w[i] < 128 ? (char)w[i] : '?';
        buf[i] = 0;
        return buf;
    }
    default:
        return "";
    }
}
static const char *wide(const wchar_t *w, char *buf, size_t cap)
{
    size_t i = 0;
    for (; w && w[i] && i + 1 < cap; i++)
        buf[i] = w[i] < 128 ? (char)w[i] : '?';
    buf[i] = 0;
    return buf;
}

static void NVTX_API nv_markA(const char *m) { m_mark(m ? m : ""); }
static void NVTX_API nv_markEx(const nvtxEventAttributes_t *a)
{
    char b[256];
    m_mark(nvtx_msg(a, b, sizeof b));
}
static int NVTX_API nv_pushA(const char *m)
{
    m_push(m ? m : "");
    return 0;
}
static int NVTX_API nv_pushW(const wchar_t *m)
{
    char b[256];
    m_push(wide(m, b, sizeof b));
    return 0;
}
static int NVTX_API nv_pushEx(const nvtxEventAttributes_t *a)
{
    char b[256];
    m_push(nvtx_msg(a, b, sizeof b));
    return 0;
}
static int NVTX_API nv_pop(void)
{
    m_pop();
    return 0;
}

/* Started ranges: id -> (start, name), one slot per id modulo the size */
#define NSTART 1024
static struct {
    _Atomic uint64_t id;
    uint64_t t0;
    uint32_t str;
} started_r[NSTART];
static _Atomic uint64_t next_range = 1;

static nvtxRangeId_t range_start(const char *m)
{
    uint64_t id = atomic_fetch_add_explicit(&next_range, 1, memory_order_relaxed);
    unsigned s = (unsigned)(id % NSTART);
    started_r[s].str = ta->intern(m, strlen(m));
    started_r[s].t0 = ta->now();
    atomic_store_explicit(&started_r[s].id, id, memory_order_release);
    return id;
}
static nvtxRangeId_t NVTX_API nv_startA(const char *m) { return range_start(m ? m : ""); }
static nvtxRangeId_t NVTX_API nv_startEx(const nvtxEventAttributes_t *a)
{
    char b[256];
    return range_start(nvtx_msg(a, b, sizeof b));
}
static void NVTX_API nv_end(nvtxRangeId_t id)
{
    uint64_t t1 = ta->now();
    unsigned s = (unsigned)(id % NSTART);
    if (atomic_load_explicit(&started_r[s].id, memory_order_acquire) != id)
        return; /* unknown, or 1024 starts later: lost */
    uint64_t t0 = started_r[s].t0;
    uint32_t str = started_r[s].str;
    ta_thread_t *t = ta->enter(TA_CAT_MARKER);
    if (!t)
        return;
    struct ta_rec *r = ta->begin(t, 0);
    if (r) {
        memset(r, 0, sizeof *r);
        r->op = &op_nvtx_range;
        r->t0 = t0;
        r->t1 = t1;
        r->str = str;
        r->fd = -1;
        r->depth = ta->depth(t);
        ta->commit(t, NULL, 0);
    }
    ta->leave(t);
}

/* A thread's name: the agent reads the OS thread name (at attach and at the thread's end),
 * so the calling thread is renamed through the agent's prctl; other threads' names are
 * left (NVTX gives a tid, and Linux names only the calling thread without /proc). */
static void NVTX_API nv_name_threadA(uint32_t tid, const char *name)
{
    if (name && tid == (uint32_t)syscall(SYS_gettid)) {
        static int (*pr)(int, ...);
        if (!pr)
            *(void **)&pr = dlsym(RTLD_DEFAULT, "prctl");
        if (pr)
            pr(PR_SET_NAME, name, 0, 0, 0);
    }
}
static void NVTX_API nv_name_threadW(uint32_t tid, const wchar_t *name)
{
    char b[64];
    nv_name_threadA(tid, wide(name, b, sizeof b));
}

/* Domains: the same, whatever the domain; a registered string is our interned copy */
static void NVTX_API nv_dmark(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    (void)d;
    nv_markEx(a);
}
static nvtxRangeId_t NVTX_API nv_dstart(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    (void)d;
    return nv_startEx(a);
}
static void NVTX_API nv_dend(nvtxDomainHandle_t d, nvtxRangeId_t id)
{
    (void)d;
    nv_end(id);
}
static int NVTX_API nv_dpush(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    (void)d;
    return nv_pushEx(a);
}
static int NVTX_API nv_dpop(nvtxDomainHandle_t d)
{
    (void)d;
    return nv_pop();
}
static nvtxStringHandle_t NVTX_API nv_dregA(nvtxDomainHandle_t d, const char *s)
{
    (void)d;
    uint32_t id = ta->intern(s ? s : "", s ? strlen(s) : 0);
    return (nvtxStringHandle_t)(void *)(uintptr_t)ta->str(id);
}
static nvtxDomainHandle_t NVTX_API nv_dcreateA(const char *name)
{
    uint32_t id = ta->intern(name ? name : "", name ? strlen(name) : 0);
    return (nvtxDomainHandle_t)(void *)(uintptr_t)ta->str(id); /* any non-NULL handle */
}

static const struct ta_family nvtx_family = {
    .size = sizeof(struct ta_family), .name = "nvtx", .cat = "marker", .ops = nvtx_ops};

static void set(NvtxFunctionTable tab, unsigned size, unsigned id, NvtxFunctionPointer f)
{
    if (tab && id < size && tab[id])
        *tab[id] = f;
}

EXPORT int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get)
{
    if (!ta)
        ta = ta_plugin_get();
    if (!ta || !get || atomic_load(&disabled))
        return 0; /* NVTX goes on with its no-op functions */
    *(void **)&m_push = dlsym(RTLD_DEFAULT, "traceagent_range_push");
    *(void **)&m_pop = dlsym(RTLD_DEFAULT, "traceagent_range_pop");
    *(void **)&m_mark = dlsym(RTLD_DEFAULT, "traceagent_mark");
    const NvtxExportTableCallbacks *cbs = get(NVTX_ETID_CALLBACKS);
    if (!m_push || !m_pop || !m_mark || !cbs || !cbs->GetModuleFunctionTable)
        return 0;
    static _Atomic int once;
    if (!atomic_exchange(&once, 1))
        ta->add_family(&nvtx_family);
    NvtxFunctionTable tab = NULL;
    unsigned n = 0;
    if (cbs->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &tab, &n)) {
#define F(x) ((NvtxFunctionPointer)(void *)(x))
        set(tab, n, NVTX_CBID_CORE_MarkEx, F(nv_markEx));
        set(tab, n, NVTX_CBID_CORE_MarkA, F(nv_markA));
        set(tab, n, NVTX_CBID_CORE_RangeStartEx, F(nv_startEx));
        set(tab, n, NVTX_CBID_CORE_RangeStartA, F(nv_startA));
        set(tab, n, NVTX_CBID_CORE_RangeEnd, F(nv_end));
        set(tab, n, NVTX_CBID_CORE_RangePushEx, F(nv_pushEx));
        set(tab, n, NVTX_CBID_CORE_RangePushA, F(nv_pushA));
        set(tab, n, NVTX_CBID_CORE_RangePushW, F(nv_pushW));
        set(tab, n, NVTX_CBID_CORE_RangePop, F(nv_pop));
        set(tab, n, NVTX_CBID_CORE_NameOsThreadA, F(nv_name_threadA));
        set(tab, n, NVTX_CBID_CORE_NameOsThreadW, F(nv_name_threadW));
    }
    tab = NULL;
    n = 0;
    if (cbs->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &tab, &n)) {
        set(tab, n, NVTX_CBID_CORE2_DomainMarkEx, F(nv_dmark));
        set(tab, n, NVTX_CBID_CORE2_DomainRangeStartEx, F(nv_dstart));
        set(tab, n, NVTX_CBID_CORE2_DomainRangeEnd, F(nv_dend));
        set(tab, n, NVTX_CBID_CORE2_DomainRangePushEx, F(nv_dpush));
        set(tab, n, NVTX_CBID_CORE2_DomainRangePop, F(nv_dpop));
        set(tab, n, NVTX_CBID_CORE2_DomainRegisterStringA, F(nv_dregA));
        set(tab, n, NVTX_CBID_CORE2_DomainCreateA, F(nv_dcreateA));
#undef F
    }
    return 1;
}
