/* GPU work through the plug-in interface, under the agent, for tests/t64_gpustats.sh: the
 * program is its own plug-in (as a CUPTI module would be) with
 *   - a family "gpusyn": the host's launch calls (cudaLaunchKernel, cudaMemcpyAsync,
 *     cudaMemsetAsync) recorded on the calling thread's ring, inside real marker ranges;
 *   - a family "devsyn" (a category that is not "gpu": statistics must go by the fields'
 *     roles and the op's layer) with the device ops of the GPU event contract: a kernel op
 *     named from its string (device, stream, correlation, grid, block, shared_bytes,
 *     registers, flow), Memcpy HtoD/DtoH/DtoD, Memset, a Sync;
 *   - a batch source that hands the device work over late, shuffled, in several polls (some
 *     while the launching markers are still open, the rest after, the last ones only at the
 *     final poll), on named tracks "GPU <dev> stream <id>", with the launch's scope.
 *
 *   gpuevents none LIST    markers and launches, no device work at all
 *   gpuevents many LIST    70,000 one-us kernels 2 us apart on one stream, every 100th
 *                          handed over after all the others: more busy intervals than
 *                          stats keep apart (prints "base T0": kernel i starts at
 *                          T0 + 3000 i)
 *   gpuevents idle LIST    80,000 kernels of 3 us, one every 10 us (70% idle), in order,
 *                          inside a marker "run" that ends after them (LIST has them)
 *   gpuevents gaps LIST    1,000 kernels of 1 us 0.9 us apart (47% idle) in 40 launch
 *                          configs, in "run" (LIST too)
 *   gpuevents graph LIST   10 kernels of 3 us 10 us apart, then 10 graph launches of 5 us
 *                          20 us apart, in "run" (LIST too)
 *   gpuevents full LIST    the scenario t64 checks: two kernel names in several launch
 *                          configs, copies three ways, memsets, a sync, two devices, nested
 *                          markers ("batch" inside "infer" inside "epoch", "write" inside "write"), work that runs
 *                          past the end of its marker, one launch outside any marker
 * LIST gets one line per device event: kind op name dev stream t0 dur gx gy gz bx by bz
 * bytes path (the markers open at its launch, "/"-joined, "-" for none). Prints "ok N" when
 * all N were handed over. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <traceagent.h>
#include <traceagent_plugin.h>

static const struct ta_plugin_api *api;
static int cat_host = -1, cat_dev = -1;

#define N(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
#define F_CORR {"correlation", TA_FT_U64, TA_ROLE_CORRELATION, TA_OFF_U64(0), 0}
#define F_DEV {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(2), 0}
#define F_STREAM {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(3), 0}
#define F_BYTES {"bytes", TA_FT_U64, TA_ROLE_BYTES, TA_OFF_U64(2), 0}
#define F_FIN {"flow", TA_FT_U64, TA_ROLE_FLOW_IN, TA_OFF_U64(0), 0}
static const struct ta_field f_api[] = {F_CORR, {"flow", TA_FT_U64, TA_ROLE_FLOW_OUT,
                                                 TA_OFF_U64(0), 0}};
static const struct ta_field f_kernel[] = {
    F_DEV, F_STREAM, F_CORR,
    {"grid", TA_FT_DIM3, TA_ROLE_GRID, TA_OFF_EXT(0), 0},
    {"block", TA_FT_DIM3, TA_ROLE_BLOCK, TA_OFF_EXT(12), 0},
    {"shared_bytes", TA_FT_U32, TA_ROLE_NONE, TA_OFF_EXT(24), 0},
    {"registers", TA_FT_U32, TA_ROLE_NONE, TA_OFF_EXT(28), 0},
    F_FIN};
static const struct ta_field f_copy[] = {F_BYTES, F_DEV, F_STREAM, F_CORR, F_FIN};
static const struct ta_field f_sync[] = {F_DEV, F_STREAM};

#define HOST(var, name)                                                                     \
    static struct ta_op var = {name, 0, TA_IO_NONE, TA_SHAPE_SPAN, 0, TA_LAYER_NONE,        \
                               N(f_api), {0}, f_api, {0}}
HOST(op_launch, "cudaLaunchKernel");
HOST(op_cpy, "cudaMemcpyAsync");
HOST(op_set, "cudaMemsetAsync");
#define DEV(var, name, fromstr, f)                                                          \
    static struct ta_op var = {name, 0, TA_IO_NONE, TA_SHAPE_SPAN, fromstr,               \
                               TA_LAYER_DEVICE, N(f), {0}, f, {0}}
DEV(op_kernel, "kernel", 1, f_kernel);
DEV(op_htod, "Memcpy HtoD", 0, f_copy);
DEV(op_dtoh, "Memcpy DtoH", 0, f_copy);
DEV(op_dtod, "Memcpy DtoD", 0, f_copy);
DEV(op_memset, "Memset", 0, f_copy);
DEV(op_sync, "Sync device", 0, f_sync);
DEV(op_graph, "Graph", 0, f_sync);
static struct ta_op *const host_ops[] = {&op_launch, &op_cpy, &op_set, NULL};
static struct ta_op *const dev_ops[] = {&op_kernel, &op_htod, &op_dtoh, &op_dtod,
                                        &op_memset, &op_sync, &op_graph, NULL};
static const struct ta_family fam_host = {.size = sizeof fam_host, .name = "gpusyn",
                                          .ops = host_ops};
static const struct ta_family fam_dev = {.size = sizeof fam_dev, .name = "devsyn",
                                         .ops = dev_ops};

/* ------------------------------------------------------------------------------------ */
/* Device work: queued at launch, handed over by the source when released */

#define MAXW 1024
struct work {
    struct ta_rec r;
    unsigned char ext[32];
    uint32_t track, scope;
    char path[64];
};
static struct work q[MAXW];
static int nq;
static int order[MAXW];   /* emission order: a shuffle */
static int released;      /* q[order[0..released-1]] may be handed over */
static int emitted;       /* handed over so far (in `order`) */
static int final_from;    /* order[final_from..] only at the final poll */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

#define MANY 70000
static int many_n = MANY, many_late = 1; /* kernels; every 100th handed over last */
static uint64_t many_period = 3000, many_dur = 1000, many_graphs; /* graphs after them */
static int many_cfgs; /* kernel i in launch config i % 40 */
static uint64_t many_base;
static int many_next = -1; /* the next of the many kernels to hand over; -1: none */
static struct ta_rec many_rec;
static unsigned char many_ext[32];
static uint32_t many_track;

/* kernel k of the many: in order, but every 100th after all the others (many_late); in
 * "gaps", each kernel i in config i % 40 (grid i % 40 + 1); then many_graphs graph
 * launches of 5 us, 20 us apart */
static void many_emit(void (*emit)(const struct ta_event *), int n)
{
    for (; many_next >= 0 && n > 0; n--) {
        int j = many_next++;
        int N = many_n;
        struct ta_rec r = many_rec;
        unsigned char ext[32];
        memcpy(ext, many_ext, sizeof ext);
        if (j >= N) { /* a graph launch */
            r.op = &op_graph;
            r.str = 0;
            r.t0 = many_base + many_period * (uint64_t)N + 20000u * (uint64_t)(j - N);
            r.t1 = r.t0 + 5000;
        } else {
            int k = !many_late ? j
                    : j < N - N / 100 ? j / 99 * 100 + j % 99 + (j % 99 >= 50)
                                      : (j - (N - N / 100)) * 100 + 50;
            r.t0 = many_base + many_period * (uint64_t)k;
            r.t1 = r.t0 + many_dur;
            if (many_cfgs) {
                uint32_t gx = (uint32_t)(k % 40 + 1);
                memcpy(ext, &gx, 4);
            }
        }
        if (many_next == N + (int)many_graphs)
            many_next = -1;
        struct ta_event ev = {.size = sizeof ev, .rec = &r, .track = many_track,
                              .ext = ext, .ext_len = sizeof ext};
        emit(&ev);
    }
}

static void src_poll(void (*emit)(const struct ta_event *), int final)
{
    pthread_mutex_lock(&mu);
    many_emit(emit, final ? many_n + (int)many_graphs : 5000);
    int upto = final ? released : released < final_from ? released : final_from;
    for (int k = 0; emitted < upto && k < 40; k++) { /* a few per poll: several polls */
        struct work *w = &q[order[emitted++]];
        struct ta_event ev = {.size = sizeof ev, .rec = &w->r, .track = w->track,
                              .scope = w->scope, .ext = w->ext, .ext_len = sizeof w->ext};
        emit(&ev);
    }
    if (final) /* everything left */
        while (emitted < released) {
            struct work *w = &q[order[emitted++]];
            struct ta_event ev = {.size = sizeof ev, .rec = &w->r, .track = w->track,
                                  .scope = w->scope, .ext = w->ext, .ext_len = sizeof w->ext};
            emit(&ev);
        }
    pthread_mutex_unlock(&mu);
}

static const struct ta_source src = {.size = sizeof src, .name = "gpusyn", .poll = src_poll};

__attribute__((constructor)) static void init(void)
{
    if (!(api = ta_plugin_get()))
        return;
    cat_host = api->add_family(&fam_host);
    cat_dev = api->add_family(&fam_dev);
    api->add_source(&src);
}

/* ------------------------------------------------------------------------------------ */
/* The program */

static char path[64] = "-"; /* the markers open now */
static uint64_t corr = 1;
static uint32_t tracks[2][16];

static void push(const char *name)
{
    traceagent_push(name);
    if (!strcmp(path, "-"))
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", name);
}

static void pop(void)
{
    traceagent_pop();
    char *s = strrchr(path, '/');
    if (s)
        *s = 0;
    else
        strcpy(path, "-");
}

static uint32_t track(uint32_t dev, uint32_t stream)
{
    if (!tracks[dev][stream]) {
        char name[64];
        snprintf(name, sizeof name, "GPU %u stream %u", dev, stream);
        tracks[dev][stream] = api->track_new(name);
    }
    return tracks[dev][stream];
}

/* A launch call on this thread (a span of the host family) with its scope, and the device
 * work it makes: op, name (kernels), device, stream, start, duration, grid, block, bytes */
static void launch(struct ta_op *hop, struct ta_op *dop, const char *name, uint32_t dev,
                   uint32_t stream, uint64_t t0, uint64_t dur, const uint32_t gr[3],
                   const uint32_t bl[3], uint64_t bytes)
{
    ta_thread_t *t = api->enter(cat_host);
    uint32_t scope = api->scope(hop, 0);
    uint64_t h0 = api->now_ns();
    if (t) {
        struct ta_rec *r = api->begin(t, 0);
        if (r) {
            memset(r, 0, sizeof *r);
            r->op = hop;
            r->t0 = h0;
            r->t1 = h0 + 700;
            r->u.u64[0] = corr;
            r->depth = api->depth(t);
            r->flags = TA_F_NS;
            api->commit(t, NULL, 0);
        }
        api->leave(t);
    }
    if (!dop || nq == MAXW)
        return;
    struct work *w = &q[nq++];
    memset(w, 0, sizeof *w);
    w->r.op = dop;
    w->r.flags = TA_F_NS;
    w->r.t0 = t0;
    w->r.t1 = t0 + dur;
    w->r.u.gpu.correlation = corr++;
    w->r.u.gpu.device = dev;
    w->r.u.gpu.stream = stream;
    w->r.u.u64[2] = bytes;
    if (name)
        w->r.str = api->intern(name, strlen(name));
    if (gr)
        memcpy(w->ext, gr, 12);
    if (bl)
        memcpy(w->ext + 12, bl, 12);
    uint32_t shared = 4096, regs = 32;
    memcpy(w->ext + 24, &shared, 4);
    memcpy(w->ext + 28, &regs, 4);
    w->track = track(dev, stream);
    w->scope = scope;
    snprintf(w->path, sizeof w->path, "%s", path);
}

static uint32_t rnd = 12345;
static uint32_t next_rand(void)
{
    rnd = rnd * 1103515245u + 12345u;
    return rnd >> 8;
}

/* hand over what is queued now, shuffled; hold back `hold` of them for the final poll */
static void release(int hold)
{
    pthread_mutex_lock(&mu);
    int from = released;
    for (int i = from; i < nq; i++)
        order[i] = i;
    for (int i = nq - 1; i > from; i--) { /* Fisher-Yates over the new ones */
        int j = from + (int)(next_rand() % (uint32_t)(i - from + 1));
        int x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    released = nq;
    final_from = nq - hold;
    pthread_mutex_unlock(&mu);
}

static void wait_emitted(int n)
{
    for (int i = 0; i < 2000; i++) { /* at most 2 s: the drainer polls every few ms */
        pthread_mutex_lock(&mu);
        int e = emitted;
        pthread_mutex_unlock(&mu);
        if (e >= n)
            return;
        usleep(1000);
    }
}

static const uint32_t g128[3] = {128, 1, 1}, g256[3] = {256, 1, 1}, g64[3] = {64, 1, 1},
                      g32x2[3] = {32, 2, 1}, b256[3] = {256, 1, 1}, b128[3] = {128, 1, 1};

static void full(void)
{
    push("epoch");
    /* load: four 4 MiB host-to-device copies one after another on stream 7 */
    push("load");
    uint64_t c = api->now_ns() + 50000;
    for (int i = 0; i < 4; i++) {
        launch(&op_cpy, &op_htod, NULL, 0, 7, c, 200000 + 1000u * i, NULL, NULL, 4u << 20);
        c += 200000 + 1000u * i + 2000; /* 2 us apart: not merged */
    }
    usleep(3000);
    pop();
    push("infer");
    for (int b = 0; b < 3; b++) {
        push("batch");
        uint64_t s7 = api->now_ns() + 20000, s8 = s7 + 1500000; /* stream 8: runs late */
        for (int i = 0; i < 40; i++) {
            uint64_t d = 20000 + (uint64_t)((i * 7919 + b * 101) % 15000);
            const uint32_t *gr = i % 3 == 2 ? g256 : g128;
            launch(&op_launch, &op_kernel, "gemm_kernel", 0, 7, s7, d, gr, b256, 0);
            s7 += d + (i % 4 == 0 ? 1500 : i % 4 == 1 ? 500 : 0); /* gaps: 1.5 us, 0.5, none */
            uint64_t r = 3000 + (uint64_t)((i * 131 + b) % 2000);
            launch(&op_launch, &op_kernel, "relu_kernel", 0, 8, s8, r, i == 7 ? g32x2 : g64,
                   b128, 0);
            s8 += r + 200; /* 0.2 us apart: one busy interval */
        }
        launch(&op_set, &op_memset, NULL, 0, 7, s7 + 5000, 4000, NULL, NULL, 1u << 20);
        usleep(2000);
        pop();
        /* device 1: a device-to-device copy and ten gemms, launched in "infer" */
        uint64_t s1 = api->now_ns() + 10000;
        launch(&op_cpy, &op_dtod, NULL, 1, 3, s1, 30000, NULL, NULL, 8u << 20);
        s1 += 31000;
        for (int i = 0; i < 10; i++) {
            uint64_t d = 25000 + (uint64_t)((i * 977 + b) % 9000);
            launch(&op_launch, &op_kernel, "gemm_kernel", 1, 3, s1, d, g128, b256, 0);
            s1 += d + 3000;
        }
        if (b == 0) { /* handed over while "infer" is still open: nodes before their spans */
            release(0);
            wait_emitted(nq);
        }
    }
    pop();
    push("write");
    uint64_t w = api->now_ns() + 30000;
    launch(&op_cpy, &op_dtoh, NULL, 0, 7, w, 150000, NULL, NULL, 2u << 20);
    launch(&op_cpy, &op_dtoh, NULL, 0, 8, w + 100000, 150000, NULL, NULL, 2u << 20);
    push("write"); /* "write" inside "write": its work counts once for the name */
    launch(&op_cpy, &op_htod, NULL, 0, 8, w + 300000, 10000, NULL, NULL, 4096);
    pop();
    usleep(1000);
    pop();
    pop();
    /* outside any marker: a kernel at the top of the tree, and a sync (not busy) */
    uint64_t o = api->now_ns() + 10000;
    launch(&op_launch, &op_kernel, "relu_kernel", 0, 7, o, 4000, g64, b128, 0);
    launch(&op_launch, &op_sync, NULL, 0, 7, o + 5000, 50000, NULL, NULL, 0);
    api->dropped("cupti_records", 5); /* the module's count of records CUPTI dropped */
    api->dropped("test_other", 2);    /* not a GPU cause */
    release(20);
}

int main(int argc, char **argv)
{
    if (!api || cat_host < 0 || cat_dev < 0 || argc < 3) {
        printf("not ok - the agent's plug-in interface (ta_plugin_get, add_family)\n");
        return 1;
    }
    if (!strcmp(argv[1], "full")) {
        full();
    } else if (!strcmp(argv[1], "many") || !strcmp(argv[1], "idle") ||
               !strcmp(argv[1], "gaps") || !strcmp(argv[1], "graph")) {
        if (!strcmp(argv[1], "idle")) /* 80,000 kernels of 3 us, one every 10 us */
            many_n = 80000, many_late = 0, many_period = 10000, many_dur = 3000;
        if (!strcmp(argv[1], "gaps")) /* 1,000 of 1 us, 0.9 us apart, in 40 configs */
            many_n = 1000, many_late = 0, many_period = 1900, many_dur = 1000, many_cfgs = 1;
        if (!strcmp(argv[1], "graph")) /* 10 kernels of 3 us 10 us apart, 10 graphs */
            many_n = 10, many_late = 0, many_period = 10000, many_dur = 3000,
            many_graphs = 10;
        if (!many_late)
            push("run");
        many_base = api->now_ns() + 1000000;
        many_rec = (struct ta_rec){.op = &op_kernel, .flags = TA_F_NS,
                                   .str = api->intern("tiny_kernel", 11)};
        many_rec.u.gpu.stream = 1;
        memcpy(many_ext, g64, 12);
        memcpy(many_ext + 12, b128, 12);
        many_track = track(0, 1);
        printf("base %llu\n", (unsigned long long)many_base);
        pthread_mutex_lock(&mu);
        many_next = 0;
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < 3000; i++) { /* handed over as the drainer polls */
            pthread_mutex_lock(&mu);
            int left = many_next >= 0;
            pthread_mutex_unlock(&mu);
            if (!left)
                break;
            usleep(1000);
        }
        if (!many_late) { /* "run" ends after the last work */
            uint64_t end = many_base + many_period * (uint64_t)many_n +
                           20000u * many_graphs + 10000;
            while (api->now_ns() < end)
                usleep(1000);
            pop();
        }
    } else { /* markers and launches of no device work */
        push("epoch");
        push("infer");
        launch(&op_launch, NULL, NULL, 0, 7, 0, 0, NULL, NULL, 0);
        usleep(1000);
        pop();
        pop();
    }
    FILE *f = fopen(argv[2], "w");
    if (!f)
        return 1;
    static const char *kinds[] = {"K", "C", "C", "C", "M", "S"};
    struct ta_op *ops[] = {&op_kernel, &op_htod, &op_dtoh, &op_dtod, &op_memset, &op_sync};
    for (int i = 0; i < nq; i++) {
        const struct work *w = &q[i];
        int k = 0;
        while (ops[k] != w->r.op)
            k++;
        uint32_t gr[3], bl[3];
        memcpy(gr, w->ext, 12);
        memcpy(bl, w->ext + 12, 12);
        const char *name = w->r.str ? api->str(w->r.str) : w->r.op->name;
        fprintf(f, "%s\t%s\t%s\t%u\t%u\t%llu\t%llu\t%u\t%u\t%u\t%u\t%u\t%u\t%llu\t%s\n", kinds[k],
                w->r.op->name, name, w->r.u.gpu.device, w->r.u.gpu.stream,
                (unsigned long long)w->r.t0, (unsigned long long)(w->r.t1 - w->r.t0), gr[0],
                gr[1], gr[2], bl[0], bl[1], bl[2], (unsigned long long)w->r.u.u64[2], w->path);
    }
    for (int j = 0; !many_late && j < many_n + (int)many_graphs; j++) {
        uint64_t t0 = j >= many_n ? many_base + many_period * (uint64_t)many_n +
                                        20000u * (uint64_t)(j - many_n)
                                  : many_base + many_period * (uint64_t)j;
        uint64_t d = j >= many_n ? 5000 : many_dur;
        uint32_t gx = many_cfgs ? (uint32_t)(j % 40 + 1) : 64;
        if (j >= many_n)
            fprintf(f, "G\tGraph\tGraph\t0\t1\t%llu\t%llu\t0\t0\t0\t0\t0\t0\t0\trun\n",
                    (unsigned long long)t0, (unsigned long long)d);
        else
            fprintf(f, "K\tkernel\ttiny_kernel\t0\t1\t%llu\t%llu\t%u\t1\t1\t128\t1\t1\t0\trun\n",
                    (unsigned long long)t0, (unsigned long long)d, gx);
    }
    fclose(f);
    printf("ok %d\n", nq);
    return 0;
}
