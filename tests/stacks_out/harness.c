/* Drives both exporters (exporters/trace_json.c, exporters/stats.c) with events that carry
 * call stacks, against a made-up stack table and symbolizer: the stand-ins of
 * ta_stack_ips, ta_stack_site, ta_stack_frame and ta_frame_lookup (agent/stackdb.c) answer from what stdin
 * declares, so that tests/t57_stacks.sh knows every frame, site and sum. The few core
 * symbols the exporters use are stubbed as in tests/stats/fields.c.
 *   stacks_harness OUTDIR MODE EVERY < script    writes OUTDIR/h.trace.json, h.stats.json
 * MODE: finish (a clean end), nofinish (the trace's events flushed, no finish: a process
 * that died without its end), signal (finish as after a fatal signal), off (no
 * TRACEAGENT_STACKS, events without stacks). Script lines, fields separated by tabs:
 *   F IP LIBRARY OFFSET FUNCTION FILE LINE   a frame ("-": none); IP in hex
 *   U IP                                      a frame nothing is known of (lookup -1)
 *   S ID SITE IP...                           stack ID: its frames leaf first, its site
 *   e CAT TID DEPTH TS DUR BYTES STACK        a pread64 (posix) or fwrite (stdio) span
 *   m TID DEPTH TS DUR NAME STACK             a marker range */
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
const char *ta_sig_name(int sig, char *buf, size_t n)
{
    snprintf(buf, n, "SIG%d", sig);
    return buf;
}
static const char *outdir;

static char **strs;
static uint32_t nstrs;
static uint32_t intern(const char *s)
{
    for (uint32_t i = 0; i < nstrs; i++)
        if (strcmp(strs[i], s) == 0)
            return i + 1;
    strs = realloc(strs, (nstrs + 1) * sizeof *strs);
    strs[nstrs++] = strdup(s);
    return nstrs;
}
const char *ta_str(uint32_t id) { return id && id <= nstrs ? strs[id - 1] : ""; }

int ta_out_open(const char *suffix, int *slot)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/h%s", outdir, suffix);
    return *slot = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}
void ta_out_close(int *slot)
{
    if (*slot >= 0)
        close(*slot);
    *slot = -1;
}
long ta_sys_write(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w <= 0)
            return -1;
        p += w;
        left -= (size_t)w;
    }
    return (long)n;
}
int ta_sys_close(int fd) { return close(fd); }
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
uint32_t ta_scope_parent(uint32_t scope, const struct ta_op **op, const char **name)
{
    (void)scope;
    *op = NULL;
    *name = NULL;
    return 0;
}

/* ---- the made-up stack table and symbolizer ---------------------------------------- */
#define MAX_FRAMES 4096
#define MAX_STACKS 16384
static struct frame {
    uint64_t ip;
    int known;
    struct ta_frame_info fi;
} frames[MAX_FRAMES];
static int nframes;
static struct {
    uint32_t n, site;
    uint64_t ips[64];
} stacks[MAX_STACKS];
uint64_t lookups; /* how many times the exporters asked */

const uint64_t *ta_stack_ips(uint32_t id, uint32_t *n)
{
    *n = 0;
    if (!id || id >= MAX_STACKS || !stacks[id].n)
        return NULL;
    *n = stacks[id].n;
    return stacks[id].ips;
}
uint32_t ta_stack_site(uint32_t id) { return id < MAX_STACKS ? stacks[id].site : 0; }
int ta_frame_lookup(uint64_t ip, struct ta_frame_info *out)
{
    lookups++;
    for (int i = 0; i < nframes; i++) {
        if (frames[i].ip != ip)
            continue;
        if (!frames[i].known)
            return -1;
        uint32_t size = out->size;
        struct ta_frame_info fi = frames[i].fi;
        fi.size = size;
        memcpy(out, &fi, size < sizeof fi ? size : sizeof fi);
        return 0;
    }
    return -1;
}

/* frame i of stack id: as ta_frame_lookup says of its address (one table here) */
int ta_stack_frame(uint32_t id, uint32_t i, struct ta_frame_info *out)
{
    if (!id || id >= MAX_STACKS || i >= stacks[id].n) {
        lookups++;
        return -1;
    }
    return ta_frame_lookup(stacks[id].ips[i], out);
}

static const char *opt(const char *s) { return strcmp(s, "-") == 0 ? NULL : strdup(s); }

/* ---- events ------------------------------------------------------------------------ */
TA_OP_DEFINE(op_pread, "pread64", TA_CAT_POSIX, TA_IO_READ);
TA_OP_DEFINE(op_fwrite, "fwrite", TA_CAT_STDIO, TA_IO_WRITE);
static const struct ta_field range_fields[] = {
    {"unfinished", TA_FT_TRUE, TA_ROLE_UNFINISHED, 0, TA_F_UNFINISHED}};
static const struct ta_op op_range = {.name = "range", .cat = TA_CAT_MARKER,
                                      .shape = TA_SHAPE_SPAN, .name_from_str = 1,
                                      .nfields = 1, .fields = range_fields};

static void emit(const struct ta_rec *rec, const char *cat, int tid, uint64_t ts, uint64_t dur,
                 uint32_t stack)
{
    const struct ta_op *op = rec->op;
    struct ta_event ev = {
        .size = sizeof ev,
        .rec = rec,
        .op = op,
        .name = op->name_from_str ? ta_str(rec->str) : op->name,
        .path = !op->name_from_str && rec->str ? ta_str(rec->str) : NULL,
        .ts_ns = ts,
        .dur_ns = dur,
        .tid = tid,
        .cat = cat,
        .stack = stack,
    };
    ta_exporter_trace_json.event(&ev);
    ta_exporter_stats.event(&ev);
}

/* stacks_harness OUTDIR bench N: ns per event through both exporters, the same pread
 * events without a stack and with one of 64 stacks of 12 frames (bench/NOTES.md) */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static int bench(long n)
{
    ta_cfg.stacks_mask = 1u << TA_CAT_POSIX;
    ta_cfg.min_duration_ns = 0;
    for (int i = 0; i < 64 * 12 + 1; i++) {
        frames[nframes].ip = 0x400000 + (uint64_t)i * 16;
        frames[nframes].known = 1;
        frames[nframes].fi.function = "some_function_name";
        frames[nframes].fi.library = "/usr/lib/x86_64-linux-gnu/libsomething.so.1";
        frames[nframes].fi.file = "/src/project/file.c";
        frames[nframes++].fi.line = 100 + i;
    }
    for (uint32_t id = 1; id <= 64; id++) {
        stacks[id].n = 12;
        for (int k = 0; k < 12; k++)
            stacks[id].ips[k] = 0x400000 + (uint64_t)((id - 1) * 12 + k) * 16;
    }
    if (ta_exporter_trace_json.start() || ta_exporter_stats.start())
        return 1;
    struct ta_rec r;
    memset(&r, 0, sizeof r);
    r.op = &op_pread;
    r.fd = 3;
    r.flags = TA_F_FD | TA_F_RET | TA_F_BYTES;
    r.str = intern("/data/in.bin");
    r.u.io.bytes = r.u.io.ret = 4096;
    double best[2] = {1e30, 1e30};
    /* STACKS_BENCH_ONLY=0 or 1: that kind alone (for perf stat's instruction counts) */
    const char *only = getenv("STACKS_BENCH_ONLY");
    for (int round = 0; round < 5; round++) {
        for (int with = 0; with < 2; with++) {
            if (only && *only - '0' != with)
                continue;
            double t0 = now_ns();
            for (long i = 0; i < n; i++) {
                emit(&r, "posix", 7, (uint64_t)i * 1000, 500, with ? (uint32_t)(i & 63) + 1 : 0);
                if ((i & 1023) == 0)
                    ta_exporter_trace_json.cycle_end();
            }
            double ns = (now_ns() - t0) / n;
            if (ns < best[with])
                best[with] = ns;
        }
    }
    ta_exporter_trace_json.finish();
    ta_exporter_stats.finish();
    printf("trace+stats per pread event: %.1f ns without a stack, %.1f ns with one "
           "(64 stacks of 12 frames; best of 5 x %ld)\n", best[0], best[1], n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[2], "bench") == 0) {
        outdir = argv[1];
        strcpy(ta_proc.stem, "h");
        return bench(atol(argv[3]));
    }
    if (argc != 4)
        return 2;
    outdir = argv[1];
    const char *mode = argv[2];
    int off = strcmp(mode, "off") == 0;
    ta_proc.pid = 4242;
    ta_proc.ppid = 1;
    strcpy(ta_proc.exe, "stacks_harness");
    strcpy(ta_proc.host, "unit-host");
    strcpy(ta_proc.cmdline, "stacks_harness");
    ta_proc.start_mono_ns = 1000;
    ta_proc.start_real_ns = 1700000000000000000ull;
    strcpy(ta_proc.stem, "h");
    ta_cfg.log_level = TA_LOG_WARN;
    ta_cfg.stacks_mask = off ? 0 : (1u << TA_CAT_POSIX | 1u << TA_CAT_STDIO);
    ta_cfg.stacks_every = (uint32_t)atoi(argv[3]);
    if (ta_exporter_trace_json.start() || ta_exporter_stats.start())
        return 1;
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *f[80];
        int nf = 0;
        for (char *p = strtok(line, "\t"); p && nf < 80; p = strtok(NULL, "\t"))
            f[nf++] = p;
        if (!nf)
            continue;
        if (strcmp(f[0], "F") == 0 && nf == 7 && nframes < MAX_FRAMES) {
            struct frame *fr = &frames[nframes++];
            fr->ip = strtoull(f[1], NULL, 16);
            fr->known = 1;
            fr->fi.library = opt(f[2]);
            fr->fi.offset = strtoull(f[3], NULL, 16);
            fr->fi.function = opt(f[4]);
            fr->fi.file = opt(f[5]);
            fr->fi.line = (uint32_t)atoi(f[6]);
        } else if (strcmp(f[0], "U") == 0 && nf == 2 && nframes < MAX_FRAMES) {
            frames[nframes++].ip = strtoull(f[1], NULL, 16);
        } else if (strcmp(f[0], "S") == 0 && nf >= 4) {
            uint32_t id = (uint32_t)atoi(f[1]);
            if (id >= MAX_STACKS)
                return 3;
            stacks[id].site = (uint32_t)atoi(f[2]);
            for (int k = 3; k < nf && k - 3 < 64; k++)
                stacks[id].ips[stacks[id].n++] = strtoull(f[k], NULL, 16);
        } else if (strcmp(f[0], "e") == 0 && nf == 8) {
            int posix = strcmp(f[1], "posix") == 0;
            struct ta_rec r;
            memset(&r, 0, sizeof r);
            r.op = posix ? &op_pread : &op_fwrite;
            r.depth = (uint8_t)atoi(f[3]);
            r.fd = 3;
            r.flags = TA_F_FD | TA_F_RET | TA_F_BYTES;
            r.str = intern(posix ? "/data/in.bin" : "/data/out.txt");
            r.u.io.bytes = atoll(f[6]);
            r.u.io.ret = r.u.io.bytes;
            emit(&r, posix ? "posix" : "stdio", atoi(f[2]), strtoull(f[4], NULL, 10),
                 strtoull(f[5], NULL, 10), off ? 0 : (uint32_t)atoi(f[7]));
        } else if (strcmp(f[0], "m") == 0 && nf == 7) {
            struct ta_rec r;
            memset(&r, 0, sizeof r);
            r.op = &op_range;
            r.depth = (uint8_t)atoi(f[2]);
            r.str = intern(f[5]);
            emit(&r, "marker", atoi(f[1]), strtoull(f[3], NULL, 10), strtoull(f[4], NULL, 10),
                 off ? 0 : (uint32_t)atoi(f[6]));
        } else {
            fprintf(stderr, "stacks_harness: bad line: %s\n", f[0]);
            return 3;
        }
    }
    if (strcmp(mode, "nofinish") == 0) {
        ta_exporter_trace_json.cycle_end(); /* flushed, as each drainer cycle does */
        printf("{\"lookups\": %llu}\n", (unsigned long long)lookups);
        fflush(stdout);
        _exit(0); /* no finish: the end never came */
    }
    if (strcmp(mode, "signal") == 0)
        ta_end_signal = 9;
    ta_exporter_trace_json.finish();
    ta_exporter_stats.finish();
    printf("{\"lookups\": %llu}\n", (unsigned long long)lookups);
    return 0;
}
