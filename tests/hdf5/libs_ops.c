/* t53: the wrappers whose arguments are easy to get wrong, and threads. Usage: libs_ops F.h5
 *   a chunked dataset /c (10 ints, chunks of 5): H5Dwrite_chunk, H5DOwrite_chunk (the hl
 *   library's, which calls H5Dwrite_chunk), H5Dread_chunk, H5DOread_chunk, H5Dset_extent
 *   to 20; H5Literate, H5Ovisit, H5Ovisit2 over the file (callbacks count what they see);
 *   then 4 threads each open /c and read it whole 100 times. Prints what each call gave. */
#include <hdf5.h>
#include <hdf5_hl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static herr_t lcb(hid_t g, const char *name, const H5L_info_t *info, void *d)
{
    ++*(int *)d;
    return 0;
}
static herr_t ocb(hid_t o, const char *name, const H5O_info_t *info, void *d)
{
    ++*(int *)d;
    return 0;
}

static hid_t file;
static void *reader(void *arg)
{
    int v[20];
    long bad = 0;
    hid_t d = H5Dopen2(file, "/c", H5P_DEFAULT);
    for (int i = 0; i < 100; i++)
        bad += H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0;
    H5Dclose(d);
    return (void *)bad;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {10}, maxd[1] = {H5S_UNLIMITED}, ch[1] = {5}, off[1] = {0};
    hid_t sp = H5Screate_simple(1, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, ch);
    hid_t d = H5Dcreate2(file, "c", H5T_NATIVE_INT, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int buf[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, rb[5] = {0};
    uint32_t filters = 0;
    printf("H5Dwrite_chunk %d\n", (int)H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, 20, buf));
    off[0] = 5;
    printf("H5DOwrite_chunk %d\n", (int)H5DOwrite_chunk(d, H5P_DEFAULT, 0, off, 20, buf + 5));
    int r = (int)H5Dread_chunk(d, H5P_DEFAULT, off, &filters, rb);
    printf("H5Dread_chunk %d %d\n", r, rb[4]);
    off[0] = 0;
    r = (int)H5DOread_chunk(d, H5P_DEFAULT, off, &filters, rb);
    printf("H5DOread_chunk %d %d\n", r, rb[4]);
    hsize_t nd[1] = {20};
    printf("H5Dset_extent %d\n", (int)H5Dset_extent(d, nd));
    H5Dclose(d);
    H5Gclose(H5Gcreate2(file, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    int n = 0;
    hsize_t idx = 0;
    r = (int)H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &idx, lcb, &n);
    printf("H5Literate %d %d\n", r, n);
    n = 0;
    r = (int)H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, ocb, &n);
    printf("H5Ovisit %d %d\n", r, n);
    n = 0;
    r = (int)H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, ocb, &n, H5O_INFO_BASIC);
    printf("H5Ovisit2 %d %d\n", r, n);
    pthread_t t[4];
    long bad = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int i = 0; i < 4; i++) {
        void *b;
        pthread_join(t[i], &b);
        bad += (long)b;
    }
    printf("threads: %ld failed reads\n", bad);
    H5Fclose(file);
    /* T53_QUICK_EXIT (t53 under ASan): see libs_main.c */
    if (getenv("T53_QUICK_EXIT")) {
        fflush(NULL);
        _exit(0);
    }
    return 0;
}
