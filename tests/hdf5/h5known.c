/* Known HDF5 datasets, written then read back, for tests/t52_hdf5.sh: every call and its
 * bytes and selection are fixed here, so the test can demand exact counts from the trace.
 *
 *   h5known FILE
 *
 * Writes FILE (groups /g1 and /g2; contiguous and chunked, deflate and not, 1-D and 2-D,
 * int and double; an attribute on a dataset and one on a group), closes it, reopens it with
 * the sieve buffer off (so contiguous reads go to the file, not to HDF5's memory) and reads:
 * whole datasets, hyperslabs, a point selection, a read into a wider memory type, both
 * attributes, an iteration of /g1, and one failing H5Dopen2. Prints a checksum per read;
 * the test compares this output with and without the agent. The table in t52_hdf5.sh
 * lists what each call must record.
 */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N1 (1 << 20)   /* /g1/contig_i32: 1-D int, 4 MiB, contiguous */
#define R2 512         /* /g1/contig_f64_2d: 512 x 512 double, 2 MiB, contiguous */
#define C2 512
#define RC 256         /* /g2/chunk_i32_2d: 256 x 256 int, 64 x 64 chunks, no filter */
#define ND (1 << 16)   /* /g2/deflate_f64: 1-D double, 8192-element chunks, deflate */

#define CK(x) do { if ((x) < 0) { fprintf(stderr, "h5known: %s failed (line %d)\n", #x, __LINE__); exit(2); } } while (0)

static double sum_i(const int *p, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += p[i] * (double)(i % 7 + 1); return s; }
static double sum_l(const long long *p, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += p[i] * (double)(i % 7 + 1); return s; }
static double sum_d(const double *p, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += p[i] * (double)(i % 7 + 1); return s; }

static hid_t make(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                  const hsize_t *chunk, int deflate)
{
    hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CK(space); CK(dcpl);
    if (chunk) CK(H5Pset_chunk(dcpl, rank, chunk));
    if (deflate) CK(H5Pset_deflate(dcpl, 4));
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CK(d);
    H5Sclose(space); H5Pclose(dcpl);
    return d;
}

static herr_t visit(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    (void)g; (void)info;
    ++*(int *)op;
    printf("iterate: %s\n", name);
    return 0;
}

/* A hyperslab of the dataset's file space: H5Dread/H5Dwrite on it */
static hid_t slab(hid_t d, int rank, const hsize_t *start, const hsize_t *count, hid_t *mem)
{
    hid_t fs = H5Dget_space(d);
    CK(fs);
    CK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
    *mem = H5Screate_simple(rank, count, NULL);
    return fs;
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: h5known FILE\n"); return 2; }
    const char *path = argv[1];
    int *ib = malloc(sizeof(int) * N1);
    double *db = malloc(sizeof(double) * R2 * C2);
    long long *lb = malloc(sizeof(long long) * RC * RC);
    if (!ib || !db || !lb) return 2;

    /* ---- write ---- */
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CK(f);
    hid_t g1 = H5Gcreate2(f, "g1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g2 = H5Gcreate2(f, "/g2", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CK(g1); CK(g2);

    hsize_t d1[1] = {N1};
    hid_t d = make(g1, "contig_i32", H5T_STD_I32LE, 1, d1, NULL, 0);
    for (int i = 0; i < N1; i++) ib[i] = i * 3 - 7;
    CK(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ib));  /* all, 4 MiB */
    hsize_t one[1] = {4};
    hid_t as = H5Screate_simple(1, one, NULL);
    hid_t a = H5Acreate2(d, "scale", H5T_IEEE_F64LE, as, H5P_DEFAULT, H5P_DEFAULT);
    CK(a);
    double scale[4] = {0.5, 1.5, 2.5, 3.5};
    CK(H5Awrite(a, H5T_NATIVE_DOUBLE, scale));                          /* 32 bytes */
    H5Aclose(a); H5Sclose(as);
    H5Dclose(d);

    hsize_t d2[2] = {R2, C2};
    d = make(g1, "contig_f64_2d", H5T_IEEE_F64LE, 2, d2, NULL, 0);
    for (int i = 0; i < R2 * C2; i++) db[i] = i * 0.25;
    for (int h = 0; h < 2; h++) {                                       /* 2 x [256,512] */
        hsize_t st[2] = {(hsize_t)h * R2 / 2, 0}, ct[2] = {R2 / 2, C2};
        hid_t mem, fs = slab(d, 2, st, ct, &mem);
        CK(H5Dwrite(d, H5T_NATIVE_DOUBLE, mem, fs, H5P_DEFAULT, db + (size_t)h * R2 / 2 * C2));
        H5Sclose(mem); H5Sclose(fs);
    }
    H5Dclose(d);

    hsize_t dc[2] = {RC, RC}, cc[2] = {64, 64};
    d = make(g2, "chunk_i32_2d", H5T_STD_I32LE, 2, dc, cc, 0);
    for (int i = 0; i < RC * RC; i++) ib[i] = i ^ 0x5a5a;
    CK(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ib));  /* all, 256 KiB */
    H5Dclose(d);

    hsize_t dd[1] = {ND}, cd[1] = {8192};
    d = make(g2, "deflate_f64", H5T_IEEE_F64LE, 1, dd, cd, 1);
    for (int i = 0; i < ND; i++) db[i] = (i % 100) * 1.0;
    CK(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, db)); /* all, 512 KiB */
    H5Dclose(d);

    hsize_t three[1] = {3};
    as = H5Screate_simple(1, three, NULL);
    a = H5Acreate2(g1, "version", H5T_STD_I32LE, as, H5P_DEFAULT, H5P_DEFAULT);
    CK(a);
    int version[3] = {1, 10, 8};
    CK(H5Awrite(a, H5T_NATIVE_INT, version));                           /* 12 bytes */
    H5Aclose(a); H5Sclose(as);
    H5Gclose(g1); H5Gclose(g2);
    CK(H5Fclose(f));

    /* ---- read, with no sieve buffer: contiguous data comes from the file each time ---- */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    CK(H5Pset_sieve_buf_size(fapl, 0));
    f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    CK(f);
    H5Pclose(fapl);
    g1 = H5Gopen2(f, "/g1", H5P_DEFAULT);
    CK(g1);
    int n = 0;
    CK(H5Literate(g1, H5_INDEX_NAME, H5_ITER_INC, NULL, visit, &n));
    printf("g1 holds %d links\n", n);
    a = H5Aopen(g1, "version", H5P_DEFAULT);
    CK(a);
    memset(version, 0, sizeof version);
    CK(H5Aread(a, H5T_NATIVE_INT, version));                            /* 12 bytes */
    printf("version %d.%d.%d\n", version[0], version[1], version[2]);
    H5Aclose(a);

    d = H5Dopen2(g1, "contig_i32", H5P_DEFAULT);
    CK(d);
    CK(H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ib));   /* all, 4 MiB */
    printf("contig_i32 all %.1f\n", sum_i(ib, N1));
    {
        hsize_t st[1] = {1000}, ct[1] = {5000};
        hid_t mem, fs = slab(d, 1, st, ct, &mem);
        CK(H5Dread(d, H5T_NATIVE_INT, mem, fs, H5P_DEFAULT, ib));       /* [5000], 20000 */
        printf("contig_i32 [5000] %.1f\n", sum_i(ib, 5000));
        H5Sclose(mem); H5Sclose(fs);
    }
    a = H5Aopen(d, "scale", H5P_DEFAULT);
    CK(a);
    memset(scale, 0, sizeof scale);
    CK(H5Aread(a, H5T_NATIVE_DOUBLE, scale));                           /* 32 bytes */
    printf("scale %.1f %.1f %.1f %.1f\n", scale[0], scale[1], scale[2], scale[3]);
    H5Aclose(a);
    H5Dclose(d);

    d = H5Dopen2(f, "/g1/contig_f64_2d", H5P_DEFAULT);
    CK(d);
    {
        hsize_t st[2] = {10, 20}, ct[2] = {100, 200};
        hid_t mem, fs = slab(d, 2, st, ct, &mem);
        CK(H5Dread(d, H5T_NATIVE_DOUBLE, mem, fs, H5P_DEFAULT, db));    /* [100,200], 160000 */
        printf("contig_f64_2d [100,200] %.2f\n", sum_d(db, 100 * 200));
        H5Sclose(mem); H5Sclose(fs);
        hsize_t st2[2] = {300, 0}, ct2[2] = {1, C2};
        fs = slab(d, 2, st2, ct2, &mem);
        CK(H5Dread(d, H5T_NATIVE_DOUBLE, mem, fs, H5P_DEFAULT, db));    /* [1,512], 4096 */
        printf("contig_f64_2d [1,512] %.2f\n", sum_d(db, C2));
        H5Sclose(mem); H5Sclose(fs);
    }
    H5Dclose(d);
    H5Gclose(g1);

    g2 = H5Gopen2(f, "g2", H5P_DEFAULT);
    CK(g2);
    d = H5Dopen2(g2, "chunk_i32_2d", H5P_DEFAULT);
    CK(d);
    CK(H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ib));   /* all, 256 KiB */
    printf("chunk_i32_2d all %.1f\n", sum_i(ib, RC * RC));
    {
        /* a select-all file space reads as "all"; a 64-bit memory type doubles the bytes */
        hid_t fs = H5Dget_space(d);
        CK(H5Sselect_all(fs));
        CK(H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, fs, H5P_DEFAULT, lb)); /* all, 512 KiB */
        printf("chunk_i32_2d all as i64 %.1f\n", sum_l(lb, RC * RC));
        H5Sclose(fs);
        hsize_t st[2] = {32, 64}, ct[2] = {64, 128};
        hid_t mem;
        fs = slab(d, 2, st, ct, &mem);
        CK(H5Dread(d, H5T_NATIVE_LLONG, mem, fs, H5P_DEFAULT, lb));     /* [64,128], 65536 */
        printf("chunk_i32_2d [64,128] as i64 %.1f\n", sum_l(lb, 64 * 128));
        H5Sclose(mem); H5Sclose(fs);
    }
    H5Dclose(d);

    d = H5Dopen2(g2, "deflate_f64", H5P_DEFAULT);
    CK(d);
    CK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, db)); /* all, 512 KiB */
    printf("deflate_f64 all %.1f\n", sum_d(db, ND));
    {
        hsize_t pts[10];
        for (int i = 0; i < 10; i++) pts[i] = (hsize_t)i * 6000 + 3;
        hid_t fs = H5Dget_space(d);
        CK(H5Sselect_elements(fs, H5S_SELECT_SET, 10, pts));
        hsize_t ten[1] = {10};
        hid_t mem = H5Screate_simple(1, ten, NULL);
        CK(H5Dread(d, H5T_NATIVE_DOUBLE, mem, fs, H5P_DEFAULT, db));    /* points:10, 80 */
        printf("deflate_f64 points:10 %.1f\n", sum_d(db, 10));
        H5Sclose(mem); H5Sclose(fs);
    }
    H5Dclose(d);

    /* one failing call: recorded with `error` */
    H5E_BEGIN_TRY {
        hid_t bad = H5Dopen2(g2, "no_such_dataset", H5P_DEFAULT);
        printf("open of a missing dataset: %s\n", bad < 0 ? "failed" : "succeeded");
    } H5E_END_TRY;
    H5Gclose(g2);
    CK(H5Fclose(f));
    free(ib); free(db); free(lb);
    printf("done\n");
    return 0;
}
