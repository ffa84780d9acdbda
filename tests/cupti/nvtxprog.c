/* t62: NVTX v3 (header-only, as every library that uses it) into the agent through the
 * CUPTI module's InitializeInjectionNvtx2: a pushed range with a mark and a domain range
 * named by a registered string inside, a range started here and ended by a thread that
 * names itself. No CUDA: libcupti must not be mapped (it says how many mappings it saw). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nvtx3/nvToolsExt.h>

static nvtxRangeId_t started;

static void *worker(void *arg)
{
    (void)arg;
    nvtxNameOsThreadA((uint32_t)syscall(SYS_gettid), "nvtx worker");
    usleep(2000);
    nvtxRangeEnd(started); /* started on the main thread */
    return NULL;
}

int main(void)
{
    nvtxRangePushA("outer");
    nvtxMarkA("a mark");
    started = nvtxRangeStartA("started");
    nvtxDomainHandle_t d = nvtxDomainCreateA("mydomain");
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = nvtxDomainRegisterStringA(d, "registered name");
    nvtxDomainRangePushEx(d, &a);
    usleep(1000);
    nvtxDomainRangePop(d);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    nvtxRangePop();
    /* NVTX loaded the CUPTI module: libcupti must not come with it in a program without CUDA */
    int cupti = 0;
    char line[512];
    FILE *m = fopen("/proc/self/maps", "r");
    while (m && fgets(line, sizeof line, m))
        cupti += strstr(line, "libcupti") != NULL;
    if (m)
        fclose(m);
    printf("nvtx done, libcupti mapped %d\n", cupti);
    return 0;
}
