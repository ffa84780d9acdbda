/* Drives both exporters (exporters/trace_json.c, exporters/stats.c) with hand-made events,
 * as the drainer and batch sources will hand them over: ops that declare their fields
 * (every field type, a continued payload), the built-in file ops that leave them NULL
 * (agent/fields.c), layers (an HDF5-like logical read over two preads, device work), a
 * named track, flows from launches to kernels, and kernels that complete before and
 * after the marker that launched them (scopes). The few core symbols the exporters use are
 * stubbed here, scopes with a small table. tests/t47_fields.sh checks what they wrote:
 *   stats_fields OUTDIR    writes OUTDIR/h.trace.json and OUTDIR/h.stats.json
 * and prints the facts the checks need (pid, durations) as JSON on stdout. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta.h"

/* ---- stubs of the core ------------------------------------------------------------- */
const char *ta_cat_names[TA_CAT_MAX] = {"posix", "stdio", "hdf5",  "cuda",
                                        "gpu",   "marker", "agent",
                                        "gpu" /* TA_CAT_N: a category a plug-in added */};
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

/* Scopes: id -> (parent, op, name), as agent/scope.c will intern them */
static struct {
    uint32_t parent;
    const struct ta_op *op;
    const char *name;
} scopes[16];
static uint32_t nscopes;
static uint32_t scope_new(uint32_t parent, const struct ta_op *op, const char *name)
{
    nscopes++;
    scopes[nscopes].parent = parent;
    scopes[nscopes].op = op;
    scopes[nscopes].name = name;
    return nscopes;
}
uint32_t ta_scope_parent(uint32_t scope, const struct ta_op **op, const char **name)
{
    if (!scope || scope > nscopes) {
        *op = NULL;
        *name = NULL;
        return 0;
    }
    *op = scopes[scope].op;
    *name = scopes[scope].name;
    return scopes[scope].parent;
}

/* ---- ops --------------------------------------------------------------------------- */
/* built-in file ops: no fields (the agent's set for their I/O kind) */
TA_OP_DEFINE(op_pread, "pread64", TA_CAT_POSIX, TA_IO_READ);
TA_OP_DEFINE(op_write, "write", TA_CAT_POSIX, TA_IO_WRITE);
TA_OP_DEFINE(op_rename, "rename", TA_CAT_POSIX, TA_IO_META);
TA_OP_DEFINE(op_copy, "copy_file_range", TA_CAT_POSIX, TA_IO_COPY);

static const struct ta_field range_fields[] = {
    {"unfinished", TA_FT_TRUE, TA_ROLE_UNFINISHED, 0, TA_F_UNFINISHED}};
static const struct ta_op op_range = {.name = "range", .cat = TA_CAT_MARKER,
                                      .shape = TA_SHAPE_SPAN, .name_from_str = 1,
                                      .nfields = 1, .fields = range_fields};

/* an HDF5-like read: the library's view of the same file */
static const struct ta_field h5_fields[] = {
    {"file", TA_FT_STR, TA_ROLE_FILE, TA_OFF_STR, 0},
    {"dataset", TA_FT_STR, TA_ROLE_DATASET, TA_OFF_STR2, 0},
    {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES},
};
static const struct ta_op op_h5read = {.name = "H5Dread", .cat = TA_CAT_HDF5, .io = TA_IO_READ,
                                       .layer = TA_LAYER_LOGICAL, .nfields = 3,
                                       .fields = h5_fields};

/* a launch, and the kernel it starts in a category a plug-in added (TA_CAT_N: "gpu") */
static const struct ta_field launch_fields[] = {
    {"correlation", TA_FT_U64, TA_ROLE_FLOW_OUT, TA_OFF_U64(0), 0}};
static const struct ta_op op_launch = {.name = "tpLaunch", .cat = TA_CAT_CUDA,
                                       .nfields = 1, .fields = launch_fields};
/* an instant that starts a flow with an id using all 64 bits */
static const struct ta_op op_signal = {.name = "tpSignal", .cat = TA_CAT_CUDA,
                                       .shape = TA_SHAPE_INSTANT, .nfields = 1,
                                       .fields = launch_fields};
/* every field type; the payload after the record holds grid, block, occupancy, module,
 * note; `missing` lies past every payload given */
static const struct ta_field kernel_fields[] = {
    {"correlation", TA_FT_U64, TA_ROLE_FLOW_IN, TA_OFF_U64(0), 0},
    {"device", TA_FT_U32, TA_ROLE_DEVICE, TA_OFF_U32(2), 0},
    {"stream", TA_FT_U32, TA_ROLE_STREAM, TA_OFF_U32(3), 0},
    {"delta", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(2), 0},
    {"regs", TA_FT_U16, TA_ROLE_NONE, TA_OFF_ERR, 0},
    {"smem", TA_FT_I32, TA_ROLE_NONE, TA_OFF_FD, 0},
    {"grid", TA_FT_DIM3, TA_ROLE_GRID, TA_OFF_EXT(0), 0},
    {"block", TA_FT_DIM3, TA_ROLE_BLOCK, TA_OFF_EXT(12), 0},
    {"occupancy", TA_FT_F64, TA_ROLE_NONE, TA_OFF_EXT(24), 0},
    {"module", TA_FT_STR, TA_ROLE_NONE, TA_OFF_EXT(32), 0},
    {"src", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0},
    {"late", TA_FT_TRUE, TA_ROLE_NONE, 0, TA_F_RET},
    {"note", TA_FT_TEXT, TA_ROLE_NONE, TA_OFF_EXT(36), 0},
    {"missing", TA_FT_U64, TA_ROLE_NONE, TA_OFF_EXT(200), 0},
};
static const struct ta_op op_kernel = {.name = "kernel", .cat = TA_CAT_N, .name_from_str = 1,
                                       .layer = TA_LAYER_DEVICE,
                                       .nfields = sizeof kernel_fields / sizeof kernel_fields[0],
                                       .fields = kernel_fields};
/* device work naming a file: adds nothing to the files */
static const struct ta_field dev_fields[] = {
    {"path", TA_FT_STR, TA_ROLE_PATH, TA_OFF_STR, 0},
    {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES},
};
static const struct ta_op op_devread = {.name = "tpMemcpyHtoD", .cat = TA_CAT_N, .io = TA_IO_READ,
                                        .layer = TA_LAYER_DEVICE, .nfields = 2,
                                        .fields = dev_fields};
/* a plug-in's counter with an integer value */
static const struct ta_field ctr_fields[] = {
    {"value", TA_FT_U32, TA_ROLE_COUNTER, TA_OFF_U32(0), 0}};
static const struct ta_op op_ctr = {.name = "tpQueue", .cat = TA_CAT_N, .shape = TA_SHAPE_COUNTER,
                                    .nfields = 1, .fields = ctr_fields};

/* ---- events ------------------------------------------------------------------------ */
#define MAIN_TID 100
#define OTHER_TID 101
#define TRACK 1
#define TRACK_TID 2000001

static void emit(const struct ta_rec *rec, const char *cat, int tid, uint32_t track,
                 uint32_t scope, uint64_t ts, uint64_t dur, const void *ext, uint32_t ext_len)
{
    const struct ta_op *op = rec->op;
    struct ta_event ev = {
        .rec = rec,
        .op = op,
        .name = op->name_from_str ? ta_str(rec->str) : op->name,
        .path = !op->name_from_str && rec->str ? ta_str(rec->str) : NULL,
        .str2 = rec->str2 ? ta_str(rec->str2) : NULL,
        .ts_ns = ts,
        .dur_ns = dur,
        .tid = tid,
        .track = track,
        .scope = scope,
        .ext_len = ext_len,
        .ext = ext,
        .cat = cat,
    };
    ta_exporter_trace_json.event(&ev);
    ta_exporter_stats.event(&ev);
}

static struct ta_rec rec0(const struct ta_op *op, uint8_t depth)
{
    struct ta_rec r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.fd = -1;
    r.depth = depth;
    return r;
}

static void file_op(const struct ta_op *op, int tid, uint8_t depth, uint64_t ts, uint64_t dur,
                    const char *path, const char *path2, int64_t bytes, int64_t off, int err)
{
    struct ta_rec r = rec0(op, depth);
    r.fd = 3;
    r.flags = TA_F_FD | TA_F_RET;
    r.str = intern(path);
    r.str2 = path2 ? intern(path2) : 0;
    if (err) {
        r.flags |= TA_F_ERR;
        r.err = (uint16_t)err;
        r.u.io.ret = -1;
    } else {
        r.u.io.ret = bytes >= 0 ? bytes : 0;
    }
    if (bytes >= 0) {
        r.flags |= TA_F_BYTES;
        r.u.io.bytes = bytes;
    }
    if (off >= 0) {
        r.flags |= TA_F_OFFSET;
        r.u.io.offset = off;
    }
    emit(&r, NULL, tid, 0, 0, ts, dur, NULL, 0);
}

static void range(int tid, uint8_t depth, const char *name, uint64_t ts, uint64_t dur)
{
    struct ta_rec r = rec0(&op_range, depth);
    r.str = intern(name);
    emit(&r, "marker", tid, 0, 0, ts, dur, NULL, 0);
}

static void launch(uint8_t depth, uint64_t corr, uint64_t ts, uint64_t dur)
{
    struct ta_rec r = rec0(&op_launch, depth);
    r.u.u64[0] = corr;
    emit(&r, "cuda", MAIN_TID, 0, 0, ts, dur, NULL, 0);
}

struct kext {
    uint32_t grid[3], block[3];
    double occupancy;
    uint32_t module;
    char note[12];
};
_Static_assert(offsetof(struct kext, occupancy) == 24 && offsetof(struct kext, module) == 32 &&
               offsetof(struct kext, note) == 36, "the payload's layout");

static void kernel(const char *name, uint64_t corr, uint32_t scope, uint64_t ts, uint64_t dur)
{
    struct ta_rec r = rec0(&op_kernel, 0);
    r.str = intern(name);
    r.str2 = intern("kernel.cu");
    r.u.u64[0] = corr;
    r.u.u32[2] = 0;  /* device */
    r.u.u32[3] = 7;  /* stream */
    r.u.i64[2] = -5; /* delta */
    r.err = 32;      /* regs */
    r.fd = -3;       /* smem */
    r.flags = TA_F_NS | TA_F_RET | TA_F_EXT;
    struct kext x = {{128, 2, 1}, {256, 1, 1}, 0.75, intern("mod.cubin"), "hello\0junk"};
    emit(&r, NULL, TRACK_TID, TRACK, scope, ts, dur, &x, sizeof x);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    outdir = argv[1];
    ta_proc.pid = 4242;
    ta_proc.ppid = 1;
    strcpy(ta_proc.exe, "stats_fields");
    strcpy(ta_proc.host, "unit-host");
    strcpy(ta_proc.cmdline, "stats_fields");
    ta_proc.start_mono_ns = 1000;
    ta_proc.start_real_ns = 1700000000000000000ull;
    strcpy(ta_proc.stem, "h");
    ta_cfg.log_level = TA_LOG_WARN;
    if (ta_exporter_trace_json.start() || ta_exporter_stats.start())
        return 1;
    ta_exporter_trace_json.thread_name(MAIN_TID, "main-like");
    ta_exporter_stats.thread_name(MAIN_TID, "main-like");
    ta_exporter_trace_json.thread_name(OTHER_TID, "worker");
    ta_exporter_stats.thread_name(OTHER_TID, "worker");
    /* the drainer names a track once, before its first event */
    ta_exporter_trace_json.track_name(TRACK, TRACK_TID, "GPU 0 stream 7");

    /* load > H5Dread (8 KiB, logical) > 2 x pread64 (4 KiB each, file) */
    file_op(&op_pread, MAIN_TID, 2, 10000, 1000, "/data/f.h5", NULL, 4096, 0, 0);
    file_op(&op_pread, MAIN_TID, 2, 12000, 1000, "/data/f.h5", NULL, 4096, 4096, 0);
    {
        struct ta_rec r = rec0(&op_h5read, 1);
        r.str = intern("/data/f.h5");
        r.str2 = intern("/grp/dset");
        r.flags = TA_F_BYTES;
        r.u.io.bytes = 8192;
        emit(&r, "hdf5", MAIN_TID, 0, 0, 9000, 5000, NULL, 0);
    }
    range(MAIN_TID, 0, "load", 8000, 7000);

    /* step > 2 x tpLaunch; kernel A completes before step, kernel B after it */
    const char *step = ta_str(intern("step"));
    uint32_t s_step = scope_new(0, &op_range, step);
    uint32_t s_launch = scope_new(s_step, &op_launch, NULL);
    launch(1, 7, 21000, 500);
    launch(1, 8, 22000, 500);
    kernel("vecAdd", 7, s_launch, 21600, 3000);
    range(MAIN_TID, 0, "step", 20000, 4000);
    kernel("vecAdd", 8, s_launch, 24700, 2000);
    /* a kernel whose launching path never completes (nothing recorded it) */
    uint32_t s_epoch = scope_new(0, &op_range, ta_str(intern("epoch")));
    uint32_t s_never = scope_new(s_epoch, &op_range, ta_str(intern("never")));
    kernel("vecAdd", 0, s_never, 27000, 400);
    /* and one with no scope at all */
    kernel("vecAdd", 0, 0, 28000, 100);
    /* device work naming a file */
    {
        struct ta_rec r = rec0(&op_devread, 0);
        r.str = intern("/data/devfile");
        r.flags = TA_F_BYTES | TA_F_NS;
        r.u.io.bytes = 100;
        emit(&r, NULL, TRACK_TID, TRACK, 0, 29000, 50, NULL, 0);
    }
    /* a plug-in counter, in no thread of its own */
    {
        struct ta_rec r = rec0(&op_ctr, 0);
        r.u.u32[0] = 12;
        emit(&r, NULL, MAIN_TID, 0, 0, 29500, 0, NULL, 0);
    }
    {
        struct ta_rec r = rec0(&op_signal, 0);
        r.u.u64[0] = 0xfedcba9876543210ull;
        emit(&r, "cuda", OTHER_TID, 0, 0, 29800, 0, NULL, 0);
    }
    /* the other thread: a failed write, a rename, a copy */
    file_op(&op_write, OTHER_TID, 0, 30000, 700, "/data/out", NULL, -1, -1, 28);
    file_op(&op_rename, OTHER_TID, 0, 31000, 300, "/data/a", "/data/b", -1, -1, 0);
    file_op(&op_copy, OTHER_TID, 0, 32000, 900, "/data/src", "/data/dst", 1000, -1, 0);

    ta_exporter_trace_json.cycle_end();
    ta_exporter_trace_json.finish();
    ta_exporter_stats.finish();
    printf("{\"pid\": %d, \"track_tid\": %d, \"h5_ns\": 5000, \"kA\": [21600, 3000], "
           "\"kB\": [24700, 2000], \"kC\": 400}\n",
           ta_proc.pid, TRACK_TID);
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
