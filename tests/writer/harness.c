/* Drives the trace exporter (exporters/trace_json.c) alone with events given on stdin, at
 * time stamps and durations the script fixes, so that tests/t70_writer.sh can compare each
 * event line with the text a reference (tests/writer/gen.py, Python's own formatting)
 * says it must be, byte for byte. The few core symbols the exporter uses are stubbed as in
 * tests/stacks_out/harness.c.
 *   writer_harness OUTDIR MIN_NS MIN_MASK < script    writes OUTDIR/h.trace.json
 *   writer_harness OUTDIR bench N                     ns per event (bench/NOTES.md);
 *                                                     OUTDIR /dev/null: formatting only
 * Script lines, fields separated by tabs:
 *   e OP TID TS DUR FLAGS FD STR STR2 U0 U1 U2 ERR EXT
 * OP: an index of ops[] below; TS, DUR: ns; U0..U2: the record's three 64-bit words
 * (unsigned decimal); STR, STR2: the strings' bytes in hex ("-": none; "#N": the raw id N,
 * an id past the table); EXT: the continued payload in hex, or "-".
 *   c                                  a drainer cycle's end (the buffer written out) */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ta.h"

const char *ta_cat_names[TA_CAT_MAX] = {"posix", "stdio", "hdf5", "cuda",
                                        "gpu",   "marker", "agent"};
struct ta_proc ta_proc;
struct ta_config ta_cfg;
int ta_clock_tsc;
/* the trace writer makes its pages present ahead (agent/sys.c, tests/t73_populate.sh) */
bool ta_sandboxed;
void ta_sys_populate(void *p, size_t len) { (void)p; (void)len; }
void ta_sys_release(void *p, size_t len) { (void)p; (void)len; }
struct ta_agent_stats ta_agent_stats;
_Atomic uint64_t ta_threads_attached, ta_intern_full;
_Atomic int ta_end_signal;
static const char *outdir;

static char **strs;
static size_t *lens;
static uint32_t nstrs;
static uint32_t intern(const char *s, size_t n)
{
    for (uint32_t i = 0; i < nstrs; i++)
        if (lens[i] == n && memcmp(strs[i], s, n) == 0)
            return i + 1;
    strs = realloc(strs, (nstrs + 1) * sizeof *strs);
    lens = realloc(lens, (nstrs + 1) * sizeof *lens);
    strs[nstrs] = malloc(n + 1);
    memcpy(strs[nstrs], s, n);
    strs[nstrs][n] = 0;
    lens[nstrs++] = n;
    return nstrs;
}
const char *ta_str(uint32_t id) { return id && id <= nstrs ? strs[id - 1] : ""; }

int ta_out_open(const char *suffix, int *slot)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/h%s", outdir, suffix);
    if (strcmp(outdir, "/dev/null") == 0) /* bench: the formatting alone */
        snprintf(p, sizeof p, "/dev/null");
    return *slot = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}
void ta_out_close(int *slot)
{
    if (*slot >= 0)
        close(*slot);
    *slot = -1;
}
int ta_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r < 0 ? 0 : (size_t)r < n ? r : (int)n - 1;
}
void ta_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "traceagent(stub)[%d]: ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
const uint64_t *ta_stack_ips(uint32_t id, uint32_t *n)
{
    (void)id;
    *n = 0;
    return NULL;
}
int ta_stack_frame(uint32_t id, uint32_t i, struct ta_frame_info *out)
{
    (void)id, (void)i, (void)out;
    return -1;
}

/* ---- ops: the agent's own I/O field sets, markers, a counter, a device op with every
 * field type, one with more keys than the exporter keeps per op, and enough ops to evict
 * its per-op plans; gen.py knows the same table ------------------------------------- */
TA_OP_DEFINE(op_pread, "pread64", TA_CAT_POSIX, TA_IO_READ);
TA_OP_DEFINE(op_rename, "rename", TA_CAT_POSIX, TA_IO_META);
TA_OP_DEFINE(op_fwrite, "fwrite", TA_CAT_STDIO, TA_IO_WRITE);
static const struct ta_op op_range = {.name = "range", .cat = TA_CAT_MARKER,
                                      .shape = TA_SHAPE_SPAN, .name_from_str = 1};
static const struct ta_op op_mark = {.name = "mark", .cat = TA_CAT_MARKER,
                                     .shape = TA_SHAPE_INSTANT, .name_from_str = 1};
static const struct ta_op op_counter = {.name = "queue depth", .cat = TA_CAT_AGENT,
                                        .shape = TA_SHAPE_COUNTER};
static const struct ta_field dev_fields[] = {
    {"correlation", TA_FT_U64, TA_ROLE_CORRELATION, TA_OFF_U64(1), 0},
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(0), 0},
    {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(1), 0},
    {"grid", TA_FT_DIM3, TA_ROLE_GRID, TA_OFF_EXT(0), 0},
    {"label", TA_FT_TEXT, TA_ROLE_NONE, TA_OFF_EXT(12), 0},
    {"pinned", TA_FT_TRUE, TA_ROLE_NONE, 0, TA_F_OFFSET},
    {"small", TA_FT_U16, TA_ROLE_NONE, TA_OFF_ERR, 0},
    {"signed", TA_FT_I32, TA_ROLE_NONE, TA_OFF_FD, TA_F_FD},
    {"flow", TA_FT_U64, TA_ROLE_FLOW_IN, TA_OFF_U64(1), TA_F_RET},
    {"key \"quoted\"\t", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(2), 0},
    {"a_key_longer_than_its_slot_in_the_plan", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(0), 0},
    {"path", TA_FT_STR, TA_ROLE_PATH, TA_OFF_STR, 0},
    {"second", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0},
    {"ratio", TA_FT_F64, TA_ROLE_NONE, TA_OFF_EXT(28), TA_F_BYTES},
};
static const struct ta_op op_dev = {.name = "kernel", .cat = TA_CAT_GPU, .shape = TA_SHAPE_SPAN,
                                    .nfields = sizeof dev_fields / sizeof dev_fields[0],
                                    .fields = dev_fields};
#define MANY_KEYS 20
static struct ta_field many_fields[MANY_KEYS];
static struct ta_op op_many = {.name = "many", .cat = TA_CAT_HDF5, .shape = TA_SHAPE_SPAN,
                               .nfields = MANY_KEYS, .fields = many_fields};
#define EXTRA_OPS 100
static struct ta_field extra_field[1] = {{"v", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(0), 0}};
static struct ta_op extra_ops[EXTRA_OPS];
static char extra_names[EXTRA_OPS][16];

static const struct ta_op *ops[8 + EXTRA_OPS] = {&op_pread, &op_rename, &op_fwrite, &op_range,
                                                 &op_mark,  &op_counter, &op_dev, &op_many};

static void ops_init(void)
{
    static char keys[MANY_KEYS][8];
    for (int i = 0; i < MANY_KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many_fields[i] = (struct ta_field){keys[i], TA_FT_I64, TA_ROLE_NONE,
                                           (uint16_t)TA_OFF_U64(i % 3), 0};
    }
    for (int i = 0; i < EXTRA_OPS; i++) {
        snprintf(extra_names[i], sizeof extra_names[i], "op%d", i);
        extra_ops[i] = (struct ta_op){.name = extra_names[i], .cat = TA_CAT_HDF5,
                                      .shape = TA_SHAPE_SPAN, .nfields = 1,
                                      .fields = extra_field};
        ops[8 + i] = &extra_ops[i];
    }
}

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = 0;
    for (; h[0] && h[1] && n < cap; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (unsigned char)v;
    }
    return n;
}

static uint32_t str_arg(const char *a)
{
    static unsigned char b[16384];
    if (strcmp(a, "-") == 0)
        return 0;
    if (a[0] == '#')
        return (uint32_t)strtoul(a + 1, NULL, 10);
    return intern((const char *)b, unhex(a, b, sizeof b));
}

/* WRITER_SHORTCUT=1: each record goes to the exporter's shortcut first, as the agent's
 * drainer does when the JSON trace is its only exporter (tests/t71_writer_fast.sh); the
 * events it took are counted and said on stdout at the end */
int ta_trace_json_rec(const struct ta_rec *r, int32_t tid, uint64_t ts_ns, uint64_t dur_ns);
static int shortcut;
static long shortcut_hits, events;

static void emit(const struct ta_rec *r, int tid, uint64_t ts, uint64_t dur,
                 const unsigned char *ext, uint32_t ext_len)
{
    const struct ta_op *op = r->op;
    events++;
    if (shortcut && ta_trace_json_rec(r, tid, ts, op->shape == TA_SHAPE_SPAN ? dur : 0)) {
        shortcut_hits++;
        return;
    }
    struct ta_event ev = {
        .size = sizeof ev,
        .rec = r,
        .op = op,
        .name = op->name_from_str ? ta_str(r->str) : op->name,
        .path = !op->name_from_str && r->str ? ta_str(r->str) : NULL,
        .ts_ns = ts,
        .dur_ns = op->shape == TA_SHAPE_SPAN ? dur : 0,
        .tid = tid,
        .cat = op->cat < TA_CAT_MAX ? ta_cat_names[op->cat] : "",
        .ext = ext,
        .ext_len = ext_len,
    };
    ta_exporter_trace_json.event(&ev);
}

/* writer_harness OUTDIR bench N: ns per pread event with a path, and per marker */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU: less noise from other jobs */
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static int bench(long n)
{
    if (ta_exporter_trace_json.start())
        return 1;
    struct ta_rec r;
    memset(&r, 0, sizeof r);
    r.op = &op_pread;
    r.fd = 3;
    r.flags = TA_F_FD | TA_F_RET | TA_F_BYTES | TA_F_OFFSET;
    r.str = intern("/data/train/shard-00017.bin", 27);
    r.u.io.bytes = r.u.io.ret = 4096;
    struct ta_rec m;
    memset(&m, 0, sizeof m);
    m.op = &op_range;
    m.str = intern("step", 4);
    double best[2] = {1e30, 1e30};
    uint64_t ts = 43000000000000ull;
    /* WRITER_BENCH_ONLY=0 (pread) or 1 (marker): that kind alone (callgrind's counts) */
    const char *only = getenv("WRITER_BENCH_ONLY");
    for (int round = 0; round < 5; round++) {
        for (int k = 0; k < 2; k++) {
            if (only && *only - '0' != k)
                continue;
            double t0 = now_ns();
            for (long i = 0; i < n; i++) {
                ts += 1357;
                r.u.io.offset = i * 4096;
                emit(k ? &m : &r, 4242, ts, 1234 + (i & 255), NULL, 0);
                if ((i & 1023) == 0)
                    ta_exporter_trace_json.cycle_end();
            }
            double ns = (now_ns() - t0) / n;
            if (ns < best[k])
                best[k] = ns;
        }
    }
    ta_exporter_trace_json.finish();
    printf("trace per event (exporter alone, CPU, writes to %s): pread with a path %.1f ns, "
           "marker %.1f ns (best of 5 x %ld)\n", outdir, best[0], best[1], n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    outdir = argv[1];
    ops_init();
    ta_proc.pid = 4242;
    ta_proc.ppid = 1;
    strcpy(ta_proc.exe, "writer_harness");
    strcpy(ta_proc.host, "unit-host");
    strcpy(ta_proc.cmdline, "writer_harness");
    ta_proc.start_mono_ns = 1000;
    ta_proc.start_real_ns = 1700000000000000000ull;
    strcpy(ta_proc.stem, "h");
    ta_cfg.log_level = TA_LOG_WARN;
    shortcut = getenv("WRITER_SHORTCUT") && strcmp(getenv("WRITER_SHORTCUT"), "1") == 0;
    if (strcmp(argv[2], "bench") == 0)
        return bench(atol(argv[3]));
    ta_cfg.min_duration_ns = strtoull(argv[2], NULL, 10);
    ta_cfg.min_duration_mask = (uint32_t)strtoul(argv[3], NULL, 0);
    if (ta_exporter_trace_json.start())
        return 1;
    static char line[65536];
    static unsigned char ext[TA_EXT_MAX];
    long lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        char *f[16];
        int nf = 0;
        for (char *p = strtok(line, "\t"); p && nf < 16; p = strtok(NULL, "\t"))
            f[nf++] = p;
        if (nf == 1 && strcmp(f[0], "c") == 0) {
            ta_exporter_trace_json.cycle_end();
            continue;
        }
        if (nf != 14 || strcmp(f[0], "e") != 0) {
            fprintf(stderr, "writer_harness: bad line %ld\n", lineno);
            return 3;
        }
        unsigned opi = (unsigned)atoi(f[1]);
        if (opi >= sizeof ops / sizeof ops[0])
            return 3;
        struct ta_rec r;
        memset(&r, 0, sizeof r);
        r.op = ops[opi];
        r.flags = (uint8_t)strtoul(f[5], NULL, 10);
        r.fd = (int32_t)strtol(f[6], NULL, 10);
        r.str = str_arg(f[7]);
        r.str2 = str_arg(f[8]);
        for (int k = 0; k < 3; k++)
            r.u.u64[k] = strtoull(f[9 + k], NULL, 10);
        r.err = (uint16_t)strtoul(f[12], NULL, 10);
        uint32_t ext_len = strcmp(f[13], "-") == 0 ? 0 : (uint32_t)unhex(f[13], ext, sizeof ext);
        emit(&r, atoi(f[2]), strtoull(f[3], NULL, 10), strtoull(f[4], NULL, 10),
             ext_len ? ext : NULL, ext_len);
    }
    ta_exporter_trace_json.finish();
    if (shortcut)
        printf("shortcut %ld of %ld events\n", shortcut_hits, events);
    return 0;
}
