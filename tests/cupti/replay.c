/* t63: the replay. Loads libtraceagent-cupti.so as the CUDA driver does (dlopen, then
 * InitializeInjection), then plays through the fake libcupti (fakecupti.c) what CUPTI would
 * deliver for a small CUDA program: API callbacks under marker ranges (copies both ways,
 * kernels on two streams, a memset, a driver launch, a runtime launch with its own driver
 * call inside, chatty calls, a failing call), then activity records in CUPTI's structs
 * (overlapping kernels, records spread over three buffers completed out of order, one of
 * them only at the final forced flush, a dropped-record count).
 *
 * usage: replay MODULE FEED.json [fork | bench N]
 * FEED.json gets what was fed (the test computes what the trace and stats must show from
 * it). `fork`: a child is forked after the API calls and exits normally (it must neither
 * call CUPTI nor hang). `bench N`: N launches and N chatty calls, their cost per call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cupti.h>

#include "../../include/traceagent.h"
#include "fakecupti.h"

static const CUpti_CallbackDomain RT = CUPTI_CB_DOMAIN_RUNTIME_API, DRV = CUPTI_CB_DOMAIN_DRIVER_API;

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static void spin(uint64_t ns)
{
    uint64_t t = mono();
    while (mono() - t < ns)
        ;
}

static void inner_driver(void)
{
    uint64_t cd = 0;
    fake_api(DRV, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, "cuLaunchKernel", CUPTI_API_ENTER, 1103, 0, &cd);
    spin(5000);
    fake_api(DRV, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, "cuLaunchKernel", CUPTI_API_EXIT, 1103, 0, &cd);
}

/* inside cudaLaunchKernel 104: a driver launch with an id of its own, which the kernel's
 * record carries */
static void inner_driver_own_id(void)
{
    uint64_t cd = 0;
    fake_api(DRV, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, "cuLaunchKernel", CUPTI_API_ENTER, 1104, 0, &cd);
    fake_api(DRV, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, "cuLaunchKernel", CUPTI_API_EXIT, 1104, 0, &cd);
}

static void call(CUpti_CallbackDomain d, CUpti_CallbackId cbid, const char *name, uint32_t corr,
                 int ret, void (*inner)(void))
{
    uint64_t cd = 0;
    fake_api(d, cbid, name, CUPTI_API_ENTER, corr, 0, &cd);
    if (inner)
        inner();
    spin(20000);
    fake_api(d, cbid, name, CUPTI_API_EXIT, corr, ret, &cd);
}

/* What the GPU did, in the feed and in the buffers */
struct act {
    const char *kind; /* kernel, memcpy, memset */
    uint32_t corr, stream, buf; /* corr: the launching runtime call's; the record's below */
    uint64_t start, end; /* from T */
    const char *mangled, *name;
    uint32_t grid, block, shared, regs;
    uint64_t bytes;
    int copy_kind, pinned;
    const char *phase;
};
static const struct act acts[] = {
    {"memcpy", 101, 7, 1, 0, 400000, NULL, "Memcpy HtoD", 0, 0, 0, 0, 4u << 20,
     CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, 1, "load"},
    {"memcpy", 102, 8, 2, 50000, 250000, NULL, "Memcpy HtoD", 0, 0, 0, 0, 1u << 20,
     CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, 0, "load"},
    {"kernel", 103, 7, 1, 500000, 800000, "_Z6vecAddPKfS0_Pfi",
     "vecAdd(float const*, float const*, float*, int)", 256, 256, 1024, 32, 0, 0, 0, "compute"},
    {"kernel", 104, 8, 2, 600000, 900000, "_Z5scalePff", "scale(float*, float)", 128, 128, 0,
     16, 0, 0, 0, "compute"},
    {"kernel", 105, 7, 0, 800000, 1000000, "_Z6vecAddPKfS0_Pfi",
     "vecAdd(float const*, float const*, float*, int)", 256, 256, 1024, 32, 0, 0, 0, "compute"},
    {"memset", 106, 8, 0, 950000, 1000000, NULL, "Memset", 0, 0, 0, 0, 2u << 20, 0, 0,
     "compute"},
    {"kernel", 107, 8, 2, 1000000, 1100000, "relu_kernel", "relu_kernel", 64, 512, 0, 8, 0, 0,
     0, "compute"},
    {"memcpy", 108, 7, 0, 1100000, 1500000, NULL, "Memcpy DtoH", 0, 0, 0, 0, 4u << 20,
     CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, 1, NULL},
};
#define NACT (sizeof acts / sizeof acts[0])
#define DROPPED 3

static struct fake_buf *bufs[3];
static void *complete_b0(void *arg)
{
    (void)arg;
    fake_complete(bufs[0], DROPPED); /* from another thread, as CUPTI's worker does */
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: replay MODULE FEED.json [fork]\n");
        return 2;
    }
    int do_fork = argc > 3 && !strcmp(argv[3], "fork");
    uint64_t mono0 = mono();
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "replay: %s\n", dlerror());
        return 2;
    }
    int (*init)(void) = (int (*)(void))dlsym(h, "InitializeInjection");
    if (!init || init() != 1) {
        fprintf(stderr, "replay: InitializeInjection missing or failed\n");
        return 2;
    }
    printf("subscribed %d activity %d\n", fake_ready(), fake_activity_ready());
    if (argc > 4 && !strcmp(argv[3], "bench")) { /* cost of one API call's callbacks */
        long n = atol(argv[4]);
        for (int round = 0; round < 3; round++) {
        uint64_t cd = 0, t0 = mono();
        for (long i = 0; i < n; i++) {
            fake_api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, "cudaLaunchKernel",
                     CUPTI_API_ENTER, (uint32_t)(10000 + i), 0, &cd);
            fake_api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, "cudaLaunchKernel",
                     CUPTI_API_EXIT, (uint32_t)(10000 + i), 0, &cd);
        }
        uint64_t t1 = mono();
        for (long i = 0; i < n; i++) {
            fake_api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetDevice_v3020, "cudaGetDevice",
                     CUPTI_API_ENTER, (uint32_t)(10000 + i), 0, &cd);
            fake_api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetDevice_v3020, "cudaGetDevice",
                     CUPTI_API_EXIT, (uint32_t)(10000 + i), 0, &cd);
        }
        uint64_t t2 = mono();
        printf("launch_ns %.1f chatty_ns %.1f\n", (double)(t1 - t0) / n, (double)(t2 - t1) / n);
        }
        return 0;
    }

    traceagent_push("load");
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020, "cudaMemcpyAsync", 101, 0, NULL);
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020, "cudaMemcpyAsync", 102, 0, NULL);
    traceagent_pop();
    traceagent_push("compute");
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, "cudaLaunchKernel", 103, 0, inner_driver);
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, "cudaLaunchKernel", 104, 0, inner_driver_own_id);
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, "cudaLaunchKernel", 105, 0, NULL);
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMemsetAsync_v3020, "cudaMemsetAsync", 106, 0, NULL);
    call(DRV, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, "cuLaunchKernel", 107, 0, NULL);
    for (int i = 0; i < 50; i++)
        call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetDevice_v3020, "cudaGetDevice", 2000 + i, 0, NULL);
    for (int i = 0; i < 20; i++)
        call(DRV, CUPTI_DRIVER_TRACE_CBID_cuCtxGetCurrent, "cuCtxGetCurrent", 3000 + i, 0, NULL);
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, "cudaMalloc", 109, 2, NULL);
    traceagent_pop();
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020, "cudaMemcpyAsync", 108, 0, NULL);
    call(RT, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceReset_v3020, "cudaDeviceReset", 110, 0, NULL);

    if (do_fork) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            traceagent_push("child work");
            spin(100000);
            traceagent_pop();
            exit(0); /* the agent's exit path, with the parent's CUPTI state */
        }
        int st = 0;
        waitpid(pid, &st, 0);
        printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }

    /* the GPU's work, on CUPTI's clock, after the launches */
    uint64_t T = fake_now() + 1000000;
    int have_bufs = fake_activity_ready();
    for (int i = 0; have_bufs && i < 3; i++)
        bufs[i] = fake_request();
    for (unsigned i = 0; have_bufs && i < NACT; i++) {
        const struct act *a = &acts[i];
        struct fake_buf *b = bufs[a->buf];
        if (!strcmp(a->kind, "kernel")) {
            CUpti_ActivityKernel10 *k = fake_add(b, CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
            k->start = T + a->start;
            k->end = T + a->end;
            k->deviceId = 0;
            k->contextId = 1;
            k->streamId = a->stream;
            k->gridX = (int32_t)a->grid;
            k->gridY = k->gridZ = 1;
            k->blockX = (int32_t)a->block;
            k->blockY = k->blockZ = 1;
            k->staticSharedMemory = (int32_t)a->shared;
            k->registersPerThread = (uint16_t)a->regs;
            k->correlationId = a->corr == 104 ? 1104 : a->corr; /* its driver call's id */
            k->name = a->mangled;
        } else if (!strcmp(a->kind, "memcpy")) {
            CUpti_ActivityMemcpy6 *m = fake_add(b, CUPTI_ACTIVITY_KIND_MEMCPY);
            m->copyKind = (uint8_t)a->copy_kind;
            m->srcKind = a->copy_kind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOD
                             ? (a->pinned ? CUPTI_ACTIVITY_MEMORY_KIND_PINNED : CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE)
                             : CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
            m->dstKind = a->copy_kind == CUPTI_ACTIVITY_MEMCPY_KIND_DTOH
                             ? (a->pinned ? CUPTI_ACTIVITY_MEMORY_KIND_PINNED : CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE)
                             : CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
            m->bytes = a->bytes;
            m->start = T + a->start;
            m->end = T + a->end;
            m->contextId = 1;
            m->streamId = a->stream;
            m->correlationId = a->corr;
        } else {
            CUpti_ActivityMemset4 *m = fake_add(b, CUPTI_ACTIVITY_KIND_MEMSET);
            m->bytes = a->bytes;
            m->start = T + a->start;
            m->end = T + a->end;
            m->contextId = 1;
            m->streamId = a->stream;
            m->correlationId = a->corr;
        }
    }
    if (have_bufs) {
        fake_complete(bufs[2], 0); /* the last one first */
        pthread_t th;
        pthread_create(&th, NULL, complete_b0, NULL);
        pthread_join(th, NULL);
        fake_hold(bufs[1]); /* until the forced flush at exit */
    }
    struct timespec ts = {0, 300 * 1000000L}; /* the drainer's periodic flush runs meanwhile */
    nanosleep(&ts, NULL);

    FILE *f = fopen(argv[2], "w");
    if (!f)
        return 2;
    fprintf(f, "{\"T\": %llu, \"mono0\": %llu, \"mono1\": %llu, \"dropped\": %d, \"acts\": [",
            (unsigned long long)T, (unsigned long long)mono0, (unsigned long long)mono(), DROPPED);
    for (unsigned i = 0; i < NACT; i++) {
        const struct act *a = &acts[i];
        fprintf(f, "%s\n {\"kind\": \"%s\", \"corr\": %u, \"stream\": %u, \"start\": %llu, "
                "\"end\": %llu, \"name\": \"%s\", \"grid\": %u, \"block\": %u, \"shared\": %u, "
                "\"regs\": %u, \"bytes\": %llu, \"pinned\": %d, \"phase\": %s%s%s}",
                i ? "," : "", a->kind, a->corr, a->stream, (unsigned long long)(T + a->start),
                (unsigned long long)(T + a->end), a->name, a->grid, a->block, a->shared, a->regs,
                (unsigned long long)a->bytes, a->pinned, a->phase ? "\"" : "",
                a->phase ? a->phase : "null", a->phase ? "\"" : "");
    }
    fprintf(f, "],\n \"api\": [[101, \"cudaMemcpyAsync\"], [102, \"cudaMemcpyAsync\"], "
               "[103, \"cudaLaunchKernel\"], [104, \"cudaLaunchKernel\"], [105, \"cudaLaunchKernel\"], "
               "[106, \"cudaMemsetAsync\"], [107, \"cuLaunchKernel\"], [108, \"cudaMemcpyAsync\"], [110, \"cudaDeviceReset\"]],\n"
               " \"failing\": [109, \"cudaMalloc\", 2], \"skipped_driver\": 1103,\n"
               " \"chatty\": {\"cudaGetDevice\": 50, \"cuCtxGetCurrent\": 20}}\n");
    fclose(f);
    printf("done\n");
    return 0;
}
