/* An HDF5 shard pipeline: write N shards of one dataset, then read each back in row
 * chunks through hyperslabs and reduce them, with traceagent markers around the phases.
 * Under the agent each H5Dwrite/H5Dread shows with its file, dataset, bytes and selection,
 * and the pwrite/pread calls HDF5 made nested beneath it.
 *
 *   hdf5_pipeline DIR [shards] [rows]
 *
 * Build: gcc -I include -I/usr/include/hdf5/serial samples/hdf5_pipeline.c \
 *            -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5   (or h5cc -shlib: plain
 *        h5cc links libhdf5 statically, and the agent traces only a shared libhdf5)
 * Each shard is DIR/shard-NNN.h5 holding /samples/features (rows x 256 float, chunked by
 * 64 rows, deflate) and /samples/labels (rows int, contiguous).
 */
#include <traceagent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define COLS 256
#define CHUNK_ROWS 64

#define CK(x) do { if ((x) < 0) { fprintf(stderr, "hdf5_pipeline: %s failed\n", #x); exit(1); } } while (0)

static void shard_path(char *buf, size_t n, const char *dir, int i)
{
    snprintf(buf, n, "%s/shard-%03d.h5", dir, i);
}

static void write_shard(const char *dir, int i, int rows, float *feat, int *lab)
{
    char path[4096];
    shard_path(path, sizeof path, dir, i);
    for (int r = 0; r < rows; r++) {
        lab[r] = (r + i) % 10;
        for (int c = 0; c < COLS; c++)
            feat[(size_t)r * COLS + c] = (float)((r * 31 + c * 7 + i) % 1000) / 1000.0f;
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CK(f);
    hid_t g = H5Gcreate2(f, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CK(g);
    hsize_t dims[2] = {(hsize_t)rows, COLS}, chunk[2] = {CHUNK_ROWS, COLS};
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CK(H5Pset_chunk(dcpl, 2, chunk));
    CK(H5Pset_deflate(dcpl, 1));
    hid_t d = H5Dcreate2(g, "features", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CK(d);
    CK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, feat));
    H5Dclose(d); H5Sclose(sp); H5Pclose(dcpl);
    hsize_t ldims[1] = {(hsize_t)rows};
    sp = H5Screate_simple(1, ldims, NULL);
    d = H5Dcreate2(g, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CK(d);
    CK(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab));
    H5Dclose(d); H5Sclose(sp);
    H5Gclose(g);
    CK(H5Fclose(f));
}

/* Read the shard back CHUNK_ROWS rows at a time (a hyperslab each) and sum features by label */
static void read_shard(const char *dir, int i, int rows, double *by_label)
{
    char path[4096];
    shard_path(path, sizeof path, dir, i);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CK(f);
    hid_t df = H5Dopen2(f, "/samples/features", H5P_DEFAULT);
    hid_t dl = H5Dopen2(f, "/samples/labels", H5P_DEFAULT);
    CK(df); CK(dl);
    static float feat[CHUNK_ROWS * COLS];
    static int lab[CHUNK_ROWS];
    for (int r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
        hsize_t n = (hsize_t)(rows - r0 < CHUNK_ROWS ? rows - r0 : CHUNK_ROWS);
        hsize_t st[2] = {(hsize_t)r0, 0}, ct[2] = {n, COLS};
        hid_t fs = H5Dget_space(df), ms = H5Screate_simple(2, ct, NULL);
        CK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL));
        CK(H5Dread(df, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, feat));
        H5Sclose(fs); H5Sclose(ms);
        fs = H5Dget_space(dl); ms = H5Screate_simple(1, &n, NULL);
        CK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, &n, NULL));
        CK(H5Dread(dl, H5T_NATIVE_INT, ms, fs, H5P_DEFAULT, lab));
        H5Sclose(fs); H5Sclose(ms);
        TRACEAGENT_SCOPE("reduce");
        for (hsize_t r = 0; r < n; r++)
            for (int c = 0; c < COLS; c++)
                by_label[lab[r]] += feat[r * COLS + c];
    }
    H5Dclose(df); H5Dclose(dl);
    CK(H5Fclose(f));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [shards] [rows]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int shards = argc > 2 ? atoi(argv[2]) : 4;
    int rows = argc > 3 ? atoi(argv[3]) : 1024;
    if (shards < 1 || rows < 1) return 2;
    mkdir(dir, 0755);
    float *feat = malloc(sizeof(float) * (size_t)rows * COLS);
    int *lab = malloc(sizeof(int) * (size_t)rows);
    if (!feat || !lab) return 1;

    traceagent_push("write shards");
    for (int i = 0; i < shards; i++)
        write_shard(dir, i, rows, feat, lab);
    traceagent_pop();

    double by_label[10] = {0};
    traceagent_push("read shards");
    for (int i = 0; i < shards; i++) {
        TRACEAGENT_SCOPE("read shard");
        read_shard(dir, i, rows, by_label);
    }
    traceagent_pop();

    double total = 0;
    for (int k = 0; k < 10; k++)
        total += by_label[k];
    printf("hdf5_pipeline: %d shards x %d rows read back, feature sum %.3f\n", shards, rows, total);
    free(feat);
    free(lab);
    return 0;
}
