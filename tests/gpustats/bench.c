/* The stats exporter's cost per GPU event, without the agent (tests/stats/unit.c's stubs,
 * included here with its main renamed): kernels, copies and memsets on two devices and
 * four streams (each device's two overlapping), named tracks, durations and gaps drawn at
 * random (some gaps under 1 us), one in ten handed over late (300 us earlier than its
 * turn), a marker range every 64 events.
 *
 *   gpustats_bench N OUT      N events; prints "G ns/gpu-event"; stats.json to OUT
 * bench/NOTES.md cites the figure. */
#define main unit_main
#include "../stats/unit.c"
#undef main

static const struct ta_field f_k[] = {
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(2), 0},
    {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(3), 0},
    {"correlation", TA_FT_U64, TA_ROLE_CORRELATION, TA_OFF_U64(0), 0},
    {"grid", TA_FT_DIM3, TA_ROLE_GRID, TA_OFF_EXT(0), 0},
    {"block", TA_FT_DIM3, TA_ROLE_BLOCK, TA_OFF_EXT(12), 0}};
static const struct ta_field f_c[] = {
    {"bytes", TA_FT_U64, TA_ROLE_BYTES, TA_OFF_U64(2), 0},
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(2), 0}};
static struct ta_op op_k = {"kernel", TA_CAT_GPU, 0, TA_SHAPE_SPAN, 1, TA_LAYER_DEVICE, 5,
                            {0}, f_k, {0}};
static struct ta_op op_c = {"Memcpy HtoD", TA_CAT_GPU, 0, TA_SHAPE_SPAN, 0, TA_LAYER_DEVICE, 2,
                            {0}, f_c, {0}};
static struct ta_op op_m = {"Memset", TA_CAT_GPU, 0, TA_SHAPE_SPAN, 0, TA_LAYER_DEVICE, 2,
                            {0}, f_c, {0}};

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[1]);
    out_path = argv[2];
    ta_proc.start_mono_ns = ta_mono_ns();
    ta_cfg.log_level = TA_LOG_WARN;
    ta_exporter_stats.start();
    const struct ta_op *range = get_op(TA_CAT_MARKER, "range", 0, TA_SHAPE_SPAN);
    const char *names[8];
    for (int i = 0; i < 8; i++) {
        char b[32];
        snprintf(b, sizeof b, "kernel_%d", i);
        names[i] = ta_str(intern(b));
    }
    const char *mk = ta_str(intern("step"));
    uint32_t ext[8] = {128, 1, 1, 256, 1, 1, 0, 0};
    struct ta_rec rec;
    memset(&rec, 0, sizeof rec);
    struct ta_event ev = {.rec = &rec, .ext = (const unsigned char *)ext, .ext_len = 32};
    uint64_t x = 88172645463325252ull, t[4] = {1000000, 1000000, 1000000, 1000000};
    long gpu = 0;
    uint64_t c0 = ta_mono_ns();
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i % 64 == 63) { /* a marker range over the last stretch */
            ev.op = rec.op = range;
            ev.name = mk;
            ev.track = 0;
            ev.tid = 7;
            rec.depth = 0;
            ev.ts_ns = t[0] > 200000 ? t[0] - 200000 : 0;
            ev.dur_ns = 150000;
            ta_exporter_stats.event(&ev);
            continue;
        }
        /* a device at random, its stream that is free first: streams overlap, and their
         * records arrive roughly in order of start, as a GPU's do */
        int dv = (int)(x & 1), s = 2 * dv + (t[2 * dv + 1] < t[2 * dv]), k = (int)(x >> 8 & 15);
        ev.op = rec.op = k < 12 ? &op_k : k < 15 ? &op_c : &op_m;
        ev.name = k < 12 ? names[x >> 20 & 7] : ev.op->name;
        ev.track = (uint32_t)s + 1;
        ev.tid = 1 << 22 | s;
        rec.u.gpu.device = (uint32_t)s >> 1;
        rec.u.u64[2] = 4096;
        ext[0] = (x >> 30 & 1) ? 128 : 256;
        uint64_t d = 2000 + (x >> 32) % 30000, gap = (x >> 48) % 3000;
        ev.ts_ns = t[s] + gap;
        ev.dur_ns = d;
        t[s] += gap + d;
        if ((x >> 56) % 10 == 0 && ev.ts_ns > 400000) /* late: an earlier start */
            ev.ts_ns -= 300000;
        ta_exporter_stats.event(&ev);
        gpu++;
    }
    uint64_t c1 = ta_mono_ns();
    printf("%.1f ns/gpu-event (%ld GPU events, %ld markers)\n", (double)(c1 - c0) / (double)n,
           gpu, n - gpu);
    ta_exporter_stats.finish();
    return 0;
}
