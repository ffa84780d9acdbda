/* Drives exporters/stats.c alone, without the agent: the few core symbols it uses are
 * stubbed here. Events come on stdin, one per line, fields separated by tabs:
 *   t TID                                     following events are on thread TID
 *   s CAT OP DEPTH DUR [NAME]                 a span (NAME: the marker's text)
 *   f CAT OP IO DEPTH DUR PATH BYTES          a span on a file; IO one of o c r w s y m p
 *                                             BYTES -1: not a transfer; ERR adds TA_F_ERR
 *   i NAME                                    an instant marker
 *   c NAME VALUE                              a counter sample
 *   d CAUSE TOTAL                             the running total of drops for CAUSE
 *   n TID NAME                                a thread's name
 *   fork                                      the exporter's after_fork()
 * Then finish() writes the stats to argv[1].
 *   stats_unit bench N OUT: N synthetic events (a loop of markers and reads), prints ns/event.
 */
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
/* no scopes here (tests/stats/fields.c has some) */
uint32_t ta_scope_parent(uint32_t scope, const struct ta_op **op, const char **name)
{
    (void)scope;
    *op = NULL;
    *name = NULL;
    return 0;
}
struct ta_proc ta_proc;
struct ta_config ta_cfg;
int ta_clock_tsc;
struct ta_agent_stats ta_agent_stats;
_Atomic uint64_t ta_threads_attached, ta_intern_full;
_Atomic int ta_end_signal; /* core.c: the signal ending the process (0: none) */
const char *ta_sig_name(int sig, char *buf, size_t n)
{
    snprintf(buf, n, "SIG%d", sig);
    return buf;
}
static const char *out_path;

/* interning: the same text gives the same pointer */
static char **strs;
static size_t nstrs;
static uint32_t intern(const char *s)
{
    for (size_t i = 0; i < nstrs; i++)
        if (strcmp(strs[i], s) == 0)
            return (uint32_t)i + 1;
    strs = realloc(strs, (nstrs + 1) * sizeof *strs);
    strs[nstrs++] = strdup(s);
    return (uint32_t)nstrs;
}
const char *ta_str(uint32_t id) { return id && id <= nstrs ? strs[id - 1] : ""; }

int ta_out_open(const char *suffix, int *slot)
{
    (void)suffix;
    return *slot = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
void ta_out_close(int *slot)
{
    close(*slot);
    *slot = -1;
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

/* ops, made on demand: one descriptor per (cat, name, io, shape) */
static struct ta_op *ops[256];
static int nops;
static const struct ta_op *get_op(int cat, const char *name, int io, int shape)
{
    for (int i = 0; i < nops; i++)
        if (ops[i]->cat == cat && strcmp(ops[i]->name, name) == 0 && ops[i]->io == io &&
            ops[i]->shape == shape)
            return ops[i];
    struct ta_op *o = calloc(1, sizeof *o);
    o->name = strdup(name);
    o->cat = (uint8_t)cat;
    o->io = (uint8_t)io;
    o->shape = (uint8_t)shape;
    o->name_from_str = cat == TA_CAT_MARKER;
    return ops[nops++] = o;
}
static int cat_of(const char *s)
{
    for (int i = 0; i < TA_CAT_N; i++)
        if (strcmp(ta_cat_names[i], s) == 0)
            return i;
    fprintf(stderr, "bad cat %s\n", s);
    exit(2);
}
static int io_of(char c)
{
    switch (c) {
    case 'o': return TA_IO_OPEN;
    case 'c': return TA_IO_CLOSE;
    case 'r': return TA_IO_READ;
    case 'w': return TA_IO_WRITE;
    case 's': return TA_IO_SEEK;
    case 'y': return TA_IO_SYNC;
    case 'm': return TA_IO_META;
    case 'p': return TA_IO_MAP;
    }
    return TA_IO_NONE;
}

static int32_t cur_tid = 1;
static uint64_t now_ns = 1000000;

static void emit(const struct ta_op *op, const char *name, const char *path, int depth,
                 uint64_t dur, int64_t bytes, int err, double counter)
{
    struct ta_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.op = op;
    rec.depth = (uint8_t)depth;
    rec.fd = -1;
    if (bytes >= 0) {
        rec.flags |= TA_F_BYTES;
        rec.u.io.bytes = bytes;
    }
    if (err) {
        rec.flags |= TA_F_ERR;
        rec.err = 5;
    }
    if (op->shape == TA_SHAPE_COUNTER)
        rec.u.counter = counter;
    if (path && !op->name_from_str)
        rec.str = intern(path); /* the PATH field, which stats read as the drainer gives it */
    struct ta_event ev = {
        .rec = &rec,
        .op = op,
        .name = name ? ta_str(intern(name)) : op->name,
        .path = path ? ta_str(intern(path)) : NULL,
        .ts_ns = now_ns,
        .dur_ns = dur,
        .tid = cur_tid,
    };
    now_ns += dur + 1;
    ta_exporter_stats.event(&ev);
}

static void bench(long n)
{
    const struct ta_op *range = get_op(TA_CAT_MARKER, "range", 0, TA_SHAPE_SPAN);
    const struct ta_op *rd = get_op(TA_CAT_POSIX, "read", TA_IO_READ, TA_SHAPE_SPAN);
    const struct ta_op *wr = get_op(TA_CAT_POSIX, "write", TA_IO_WRITE, TA_SHAPE_SPAN);
    const char *outer = ta_str(intern("outer")), *inner = ta_str(intern("inner"));
    const char *path = ta_str(intern("/data/file.bin")), *path2 = ta_str(intern("/tmp/x"));
    uint32_t ipath = intern(path), ipath2 = intern(path2);
    uint32_t iouter = intern(outer), iinner = intern(inner);
    struct ta_rec rec;
    memset(&rec, 0, sizeof rec);
    struct ta_event ev = {.rec = &rec, .tid = 7};
    uint64_t x = 88172645463325252ull;
    uint64_t t0 = ta_mono_ns();
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(i % 8); /* 4 reads, 2 writes at depth 2 in inner, then inner, outer */
        rec.flags = 0;
        if (k < 6) {
            ev.op = rec.op = k < 4 ? rd : wr;
            ev.name = ev.op->name;
            ev.path = k < 4 ? path : path2;
            rec.str = k < 4 ? ipath : ipath2; /* the PATH field */
            rec.depth = 2;
            rec.flags = TA_F_BYTES;
            rec.u.io.bytes = (int64_t)(x & 65535);
        } else {
            ev.op = rec.op = range;
            ev.name = k == 6 ? inner : outer;
            ev.path = NULL;
            rec.str = k == 6 ? iinner : iouter; /* a marker's text */
            rec.depth = (uint8_t)(k == 6 ? 1 : 0);
        }
        ev.dur_ns = 100 + (x >> 40) % 100000;
        ev.ts_ns += 10;
        ta_exporter_stats.event(&ev);
    }
    uint64_t t1 = ta_mono_ns();
    printf("%.1f ns/event\n", (double)(t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    ta_proc.pid = getpid();
    ta_proc.ppid = getppid();
    strcpy(ta_proc.exe, "stats_unit");
    strcpy(ta_proc.host, "unit-host");
    static char *args[] = {"stats_unit", "arg \"quoted\"", NULL};
    ta_proc.argc = 2;
    ta_proc.argv = args;
    strcpy(ta_proc.cmdline, "stats_unit arg \"quoted\"");
    ta_proc.start_mono_ns = ta_mono_ns();
    ta_proc.start_real_ns = 1700000000123456789ull; /* 2023-11-14T22:13:20.123456Z */
    strcpy(ta_proc.stem, "stub");
    ta_cfg.log_level = TA_LOG_WARN;

    if (argc == 4 && strcmp(argv[1], "bench") == 0) {
        out_path = argv[3];
        ta_exporter_stats.start();
        bench(atol(argv[2]));
        uint64_t t0 = ta_mono_ns();
        ta_exporter_stats.finish();
        printf("finish: %.3f ms\n", (double)(ta_mono_ns() - t0) / 1e6);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: stats_unit OUT < events | stats_unit bench N OUT\n");
        return 2;
    }
    out_path = argv[1];
    ta_exporter_stats.start();
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *f[10] = {0};
        int nf = 0;
        for (char *p = line; nf < 10;) {
            f[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = 0;
            p = tab + 1;
        }
        if (!f[0][0])
            continue;
        if (strcmp(f[0], "t") == 0 && nf >= 2) {
            cur_tid = atoi(f[1]);
        } else if (strcmp(f[0], "s") == 0 && nf >= 5) {
            int cat = cat_of(f[1]);
            emit(get_op(cat, f[2], TA_IO_NONE, TA_SHAPE_SPAN), nf > 5 ? f[5] : NULL, NULL,
                 atoi(f[3]), strtoull(f[4], NULL, 10), -1, 0, 0);
        } else if (strcmp(f[0], "f") == 0 && nf >= 8) {
            emit(get_op(cat_of(f[1]), f[2], io_of(f[3][0]), TA_SHAPE_SPAN), NULL, f[6],
                 atoi(f[4]), strtoull(f[5], NULL, 10), strtoll(f[7], NULL, 10),
                 nf > 8 && strcmp(f[8], "ERR") == 0, 0);
        } else if (strcmp(f[0], "i") == 0 && nf >= 2) {
            emit(get_op(TA_CAT_MARKER, "mark", 0, TA_SHAPE_INSTANT), f[1], NULL, 0, 0, -1, 0, 0);
        } else if (strcmp(f[0], "c") == 0 && nf >= 3) {
            emit(get_op(TA_CAT_MARKER, "counter", 0, TA_SHAPE_COUNTER), f[1], NULL, 0, 0, -1,
                 0, strtod(f[2], NULL));
        } else if (strcmp(f[0], "d") == 0 && nf >= 3) {
            ta_exporter_stats.dropped(f[1], strtoull(f[2], NULL, 10));
        } else if (strcmp(f[0], "n") == 0 && nf >= 3) {
            ta_exporter_stats.thread_name(atoi(f[1]), f[2]);
        } else if (strcmp(f[0], "fork") == 0) {
            ta_exporter_stats.after_fork();
        } else {
            fprintf(stderr, "stats_unit: bad line: %s\n", f[0]);
            return 2;
        }
    }
    ta_exporter_stats.finish();
    return 0;
}

/* no call stacks here (tests/stacks_out/harness.c has some) */
const uint64_t *ta_stack_ips(uint32_t id, uint32_t *n)
{
    (void)id;
    *n = 0;
    return NULL;
}
uint32_t ta_stack_site(uint32_t id) { return (void)id, 0; }
int ta_frame_lookup(uint64_t ip, struct ta_frame_info *out) { return (void)ip, (void)out, -1; }
int ta_stack_frame(uint32_t id, uint32_t i, struct ta_frame_info *out) { return (void)id, (void)i, (void)out, -1; }
