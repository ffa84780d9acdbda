/* t63: the review's edge cases (issue 16), each one mode of this program, driven through the
 * fake libcupti as replay.c is: usage: edges MODULE MODE. It prints what it fed.
 *   wrap     a launch in marker "A", then 2^16 + 10 API calls later one in "B" (the same
 *            slot of a 2^16 table), then both kernels parsed
 *   fork     a kernel still running at fork (its record incomplete in a held buffer),
 *            finished after the fork
 *   errstr   cudaGetErrorString (returns a pointer, not a cudaError_t)
 *   errname  a failing call whose error name the module asks cudaGetErrorName for (this
 *            program's own, which reports its calls to CUPTI's callbacks, as the runtime's)
 *   foreign  a buffer of another CUPTI client completed to the module
 *   sync     a context's synchronisation (no stream)
 *   hostfunc cudaLaunchHostFunc (no GPU work, no flow)
 *   off      (any mode, run with TRACEAGENT_TRACE without cuda and gpu)
 *   zero     with the timestamp callback registered, a kernel with no timestamps and one
 *            stamped with CUPTI's own clock (FAKECUPTI_TSCB_IGNORED=1) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cupti.h>

#include "../../include/traceagent.h"
#include "fakecupti.h"

static const CUpti_CallbackDomain RT = CUPTI_CB_DOMAIN_RUNTIME_API;
#define LAUNCH CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000

static void call(uint32_t corr, const char *name, CUpti_CallbackId id, int ret)
{
    uint64_t cd = 0;
    fake_api(RT, id, name, CUPTI_API_ENTER, corr, 0, &cd);
    fake_api(RT, id, name, CUPTI_API_EXIT, corr, ret, &cd);
}
static CUpti_ActivityKernel10 *kern(struct fake_buf *b, uint32_t corr, uint64_t s, uint64_t e,
                                    const char *nm)
{
    CUpti_ActivityKernel10 *k = fake_add(b, CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    if (!k) {
        fprintf(stderr, "buffer full\n");
        exit(3);
    }
    k->start = s;
    k->end = e;
    k->streamId = 7;
    k->contextId = 1;
    k->correlationId = corr;
    k->gridX = k->gridY = k->gridZ = 1;
    k->blockX = k->blockY = k->blockZ = 1;
    k->name = nm;
    return k;
}

/* The runtime's cudaGetErrorName, as CUPTI sees it: its own enter and exit callbacks */
static int errname_calls;
__attribute__((visibility("default"))) const char *cudaGetErrorName(cudaError_t code)
{
    static const char *const nm = "cudaErrorMemoryAllocation";
    if (++errname_calls > 100) { /* the module called it from its own callback, again */
        printf("recursion\n");
        fflush(stdout);
        _exit(5);
    }
    uint64_t cd = 0;
    const char *ret = nm;
    CUpti_CallbackData cb;
    memset(&cb, 0, sizeof cb);
    cb.functionName = "cudaGetErrorName";
    cb.correlationData = &cd;
    cb.correlationId = 900 + (uint32_t)errname_calls;
    cb.callbackSite = CUPTI_API_ENTER;
    fake_cb_raw(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetErrorName_v6050, &cb);
    cb.callbackSite = CUPTI_API_EXIT;
    cb.functionReturnValue = &ret;
    fake_cb_raw(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetErrorName_v6050, &cb);
    return code == cudaErrorMemoryAllocation ? nm : "cudaErrorUnknown";
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    int (*init)(void) = h ? (int (*)(void))dlsym(h, "InitializeInjection") : NULL;
    if (!init)
        return 2;
    init();
    const char *mode = argv[2];
    if (!strcmp(mode, "wrap")) {
        traceagent_push("A");
        call(5, "cudaLaunchKernel", LAUNCH, 0);
        traceagent_pop();
        /* the calls in between, each an id: chatty ones, counted */
        for (uint32_t c = 6; c < 5 + 65536 + 10; c++)
            call(c, "cudaGetDevice", CUPTI_RUNTIME_TRACE_CBID_cudaGetDevice_v3020, 0);
        traceagent_push("B");
        call(5 + 65536 + 10, "cudaLaunchKernel", LAUNCH, 0);
        call(5 + 65536, "cudaLaunchKernel", LAUNCH, 0); /* A's slot in a 2^16 table */
        traceagent_pop();
        struct fake_buf *b = fake_request();
        uint64_t T = fake_now() + 1000;
        kern(b, 5, T, T + 5000, "kA");
        kern(b, 5 + 65536, T + 6000, T + 8000, "kB");
        kern(b, 5 + 65536 + 10, T + 9000, T + 9500, "kB");
        kern(b, 3, T + 9600, T + 9700, "kNone"); /* no launch seen: counted */
        fake_complete(b, 0);
    } else if (!strcmp(mode, "fork")) {
        traceagent_push("train");
        call(100, "cudaLaunchKernel", LAUNCH, 0);
        traceagent_pop();
        struct fake_buf *b = fake_request();
        CUpti_ActivityKernel10 *k = kern(b, 100, 0, 0, "k");
        fake_hold(b);
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        waitpid(p, NULL, 0);
        /* CUPTI fills the record when the kernel ends, after the fork: if its buffer was
         * handed back already (a forced flush), the record stays without times */
        if (fake_is_held(b)) {
            k->start = fake_now();
            k->end = k->start + 5000;
        }
    } else if (!strcmp(mode, "errstr")) {
        static const char *msg = "no error";
        const char *ret = msg;
        uint64_t cd = 0;
        CUpti_CallbackData cb;
        memset(&cb, 0, sizeof cb);
        cb.functionName = "cudaGetErrorString";
        cb.correlationData = &cd;
        cb.correlationId = 77;
        cb.callbackSite = CUPTI_API_ENTER;
        fake_cb_raw(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetErrorString_v3020, &cb);
        cb.callbackSite = CUPTI_API_EXIT;
        cb.functionReturnValue = &ret;
        fake_cb_raw(RT, CUPTI_RUNTIME_TRACE_CBID_cudaGetErrorString_v3020, &cb);
    } else if (!strcmp(mode, "errname")) {
        call(50, "cudaMalloc", CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, 2);
        printf("cudaGetErrorName calls %d\n", errname_calls);
    } else if (!strcmp(mode, "foreign")) {
        printf("buffers registered %d\n", fake_buffers_registered());
        fake_complete_foreign();
    } else if (!strcmp(mode, "sync")) {
        call(9, "cudaDeviceSynchronize", CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020, 0);
        struct fake_buf *b = fake_request();
        uint64_t T = fake_now() + 1000;
        kern(b, 8, T, T + 1000, "k"); /* its context's device: 0 */
        CUpti_ActivitySynchronization2 *sy = fake_add(b, CUPTI_ACTIVITY_KIND_SYNCHRONIZATION);
        sy->type = CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE;
        sy->start = T;
        sy->end = T + 5000;
        sy->contextId = 1;
        sy->streamId = CUPTI_SYNCHRONIZATION_INVALID_VALUE;
        sy->correlationId = 9;
        fake_complete(b, 0);
    } else if (!strcmp(mode, "hostfunc")) {
        call(60, "cudaLaunchHostFunc", CUPTI_RUNTIME_TRACE_CBID_cudaLaunchHostFunc_v10000, 0);
    } else if (!strcmp(mode, "zero")) {
        call(100, "cudaLaunchKernel", LAUNCH, 0);
        call(101, "cudaLaunchKernel", LAUNCH, 0);
        struct fake_buf *b = fake_request();
        kern(b, 100, 0, 0, "kzero");
        uint64_t T = fake_now() + 1000; /* CUPTI's clock: CLOCK_REALTIME here */
        kern(b, 101, T, T + 5000, "kown");
        fake_complete(b, 0);
    }
    struct timespec ts = {0, 150000000};
    nanosleep(&ts, NULL);
    printf("done\n");
    return 0;
}
