/* Dataset events through the plug-in interface, under the agent, for tests/t55_datasets.sh:
 * a family "h5syn" (the program registers it itself, as a plug-in loaded some other way
 * does: include/traceagent_plugin.h) whose ops are named and shaped as the HDF5 family's
 * (the event contract of issue #15: file, dataset or object, ret, bytes, selection, error),
 * recorded with times given in ns (TA_F_NS), so that every duration is known.
 *   datasets_prog none   FILE   two preads of FILE, no dataset event
 *   datasets_prog layers FILE   one H5Dread of "/layered" (8192 bytes) over two preads of
 *                               4096 of FILE: its time is real (at least 200 us)
 *   datasets_prog full   FILE   that read, then the events t55 checks row by row, on a
 *                               made-up clock after it
 * FILE is a real file of at least 8192 bytes: the preads read it; it is also the HDF5 file
 * the events name. Prints "ok <ns of the /layered read>" when every event was recorded. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <traceagent_plugin.h>

static const struct ta_plugin_api *api;
static int cat = -1;

#define F_FILE {"file", TA_FT_STR, TA_ROLE_FILE, TA_OFF_STR, 0}
#define F_DSET {"dataset", TA_FT_STR, TA_ROLE_DATASET, TA_OFF_STR2, 0}
#define F_OBJ {"object", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0}
#define F_RET {"ret", TA_FT_I64, TA_ROLE_RET, TA_OFF_U64(0), 0}
#define F_BYTES {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES}
#define F_SEL {"selection", TA_FT_STR, TA_ROLE_SHAPE, TA_OFF_U32(4), 0}
#define F_ERR {"error", TA_FT_TRUE, TA_ROLE_ERRNO, 0, TA_F_ERR}
static const struct ta_field f_rw[] = {F_FILE, F_DSET, F_RET, F_BYTES, F_SEL, F_ERR};
static const struct ta_field f_dopen[] = {F_FILE, F_DSET, F_RET, F_ERR};
static const struct ta_field f_gopen[] = {F_FILE, F_OBJ, F_RET, F_ERR};

#define N(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
#define OP(var, name, io, f)                                                                 \
    static struct ta_op var = {name, 0, io, TA_SHAPE_SPAN, 0, TA_LAYER_LOGICAL, N(f), {0}, f, \
                               {0}}
OP(op_read, "H5Dread", TA_IO_READ, f_rw);
OP(op_write, "H5Dwrite", TA_IO_WRITE, f_rw);
OP(op_dopen, "H5Dopen2", TA_IO_OPEN, f_dopen);
OP(op_gopen, "H5Gopen2", TA_IO_OPEN, f_gopen);
OP(op_dclose, "H5Dclose", TA_IO_CLOSE, f_dopen);
OP(op_extent, "H5Dset_extent", TA_IO_META, f_dopen);
static struct ta_op *const ops[] = {&op_read,   &op_write,  &op_dopen, &op_gopen,
                                    &op_dclose, &op_extent, NULL};
static const struct ta_family fam = {.size = sizeof fam, .name = "h5syn", .ops = ops};

static uint64_t clock_ns; /* the made-up events' times, one after another */
static int recorded;
static uint64_t layered_ns;

static uint32_t in(const char *s) { return s ? api->intern(s, strlen(s)) : 0; }

/* One span of `dur` ns. bytes < 0: none; err: failed (ret -1); preads: how many 4096-byte
 * preads of fd to make inside it (recorded by the posix family beneath this span). */
static void ev(struct ta_op *op, const char *file, const char *obj, const char *shape,
               int64_t bytes, int err, uint64_t dur, int fd, int preads)
{
    ta_thread_t *t = api->enter(cat);
    if (!t)
        return;
    uint8_t depth = api->depth(t);
    char buf[4096];
    uint64_t t0 = clock_ns, t1 = clock_ns + dur;
    if (preads) { /* real time around the file reads, so that the trace nests them */
        t0 = api->now_ns();
        for (int i = 0; i < preads; i++)
            if (pread(fd, buf, sizeof buf, (off_t)i * 4096) != 4096)
                fprintf(stderr, "short pread\n");
        t1 = api->now_ns();
        if (t1 < t0 + dur)
            t1 = t0 + dur; /* at least dur: the longest row in the report */
        layered_ns = t1 - t0;
    }
    struct ta_rec *r = api->begin(t, 0);
    if (r) {
        memset(r, 0, sizeof *r);
        r->op = op;
        r->t0 = t0;
        r->t1 = t1;
        r->depth = depth;
        r->fd = -1;
        r->flags = TA_F_NS | TA_F_RET;
        r->str = in(file);
        r->str2 = in(obj);
        r->u.u32[4] = in(shape);
        r->u.io.ret = err ? -1 : 0;
        if (err)
            r->flags |= TA_F_ERR;
        else if (bytes >= 0) {
            r->u.io.bytes = bytes;
            r->flags |= TA_F_BYTES;
        }
        api->commit(t, NULL, 0);
        recorded++;
    }
    api->leave(t);
    clock_ns = (t1 > clock_ns ? t1 : clock_ns) + 1000;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *mode = argv[1], *A = argv[2];
    api = ta_plugin_get();
    if (!api || (cat = api->add_family(&fam)) < 0) {
        printf("no agent\n");
        return 1;
    }
    int fd = open(A, O_RDONLY);
    if (fd < 0) {
        perror(A);
        return 1;
    }
    clock_ns = api->now_ns();
    if (strcmp(mode, "none") == 0) {
        char buf[4096];
        for (int i = 0; i < 2; i++)
            if (pread(fd, buf, sizeof buf, (off_t)i * 4096) != 4096)
                fprintf(stderr, "short pread\n");
        close(fd);
        printf("ok\n");
        return 0;
    }
    /* the logical read over the file reads beneath it */
    ev(&op_read, A, "/layered", "all", 8192, 0, 200000, fd, 2);
    int want = 1;
    if (strcmp(mode, "full") == 0) {
        const char *B = "/data/b.h5";
        char shape[32];
        ev(&op_dopen, A, "/grp/x", NULL, -1, 0, 100, -1, 0);
        ev(&op_read, A, "/grp/x", "all", 8192, 0, 40000, -1, 0);
        for (int i = 0; i < 3; i++)
            ev(&op_read, A, "/grp/x", "[64,1024]", 65536, 0, 1000, -1, 0);
        ev(&op_read, A, "/grp/x", "[2,2]", 32, 0, 200, -1, 0);
        ev(&op_read, A, "/grp/x", "[2,2]", 32, 0, 300, -1, 0);
        for (int k = 1; k <= 9; k++) { /* 11 shapes in all on this dataset */
            snprintf(shape, sizeof shape, "[%d,1]", k);
            ev(&op_read, A, "/grp/x", shape, 8 * k, 0, (uint64_t)(10 * k), -1, 0);
        }
        /* a META and a CLOSE op on the dataset: neither is an open, a read or a write */
        ev(&op_extent, A, "/grp/x", NULL, -1, 0, 150, -1, 0);
        ev(&op_dclose, A, "/grp/x", NULL, -1, 0, 120, -1, 0);
        /* the same dataset name in another file: its own row */
        ev(&op_write, B, "/grp/x", "[10]", 80, 0, 3000, -1, 0);
        ev(&op_write, B, "/grp/x", "[10]", 80, 0, 3000, -1, 0);
        ev(&op_read, B, "/grp/x", "all", 80, 0, 1000, -1, 0);
        /* a failed read: counted, an error, no bytes */
        ev(&op_read, A, "/y", "all", -1, 1, 500, -1, 0);
        /* a read with no DATASET field, and a group's open (its path under `object`): no
         * row; a dataset read with no FILE: a row with file null */
        ev(&op_read, A, NULL, "all", 16, 0, 70000, -1, 0);
        ev(&op_gopen, A, "/grp", NULL, -1, 0, 60000, -1, 0);
        ev(&op_read, NULL, "/nofile", "all", 8, 0, 50, -1, 0);
        for (int k = 1; k <= 3; k++) { /* 8 rows: more than the report shows */
            snprintf(shape, sizeof shape, "/d%d", k);
            ev(&op_read, A, shape, "all", 4, 0, 5, -1, 0);
        }
        /* 40 shapes: the first 32 are counted apart, the rest only as a number, even one
         * seen more often than those listed */
        for (int k = 1; k <= 40; k++) {
            snprintf(shape, sizeof shape, "[%d]", k);
            ev(&op_read, A, "/many", shape, 1, 0, 1, -1, 0);
        }
        for (int k = 0; k < 4; k++)
            ev(&op_read, A, "/many", "[40]", 1, 0, 1, -1, 0);
        want += 2 + 3 + 2 + 9 + 2 + 3 + 1 + 3 + 3 + 44;
    }
    close(fd);
    if (recorded == want)
        printf("ok %llu\n", (unsigned long long)layered_ns);
    else
        printf("recorded %d of %d\n", recorded, want);
    return 0;
}
