/* t53: what changes under a cached name or size without a wrapped call seeing it.
 * 1. H5close() closes every id, and the library then hands out the same ids again: a
 *    dataset of E1.h5 and one of E2.h5, each opened by H5Oopen_by_idx (not wrapped: names
 *    looked up at the read), get the same id; the second read must name E2's dataset.
 * 2. H5Dclose of an id opened by a call not wrapped, and never read, names its dataset.
 * 3. H5Tset_precision grows a memory type from 2 to 8 bytes between two writes.
 * Prints the two dataset ids ("ids: X Y"). Usage: libs_era E1.h5 E2.h5 E3.h5 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void make(const char *path, const char *name, hsize_t n)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_NATIVE_INT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
}

static hid_t first_object(const char *path, hid_t *f)
{
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    return H5Oopen_by_idx(*f, "/", H5_INDEX_NAME, H5_ITER_INC, 0, H5P_DEFAULT);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    static int buf[100];
    make(argv[1], "/alpha", 10);
    make(argv[2], "/beta", 100);
    H5close();
    hid_t f, d1 = first_object(argv[1], &f);
    if (H5Dread(d1, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return 1;
    H5close(); /* closes d1 and f: no wrapper of a close sees it */
    hid_t d2 = first_object(argv[2], &f);
    if (H5Dread(d2, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return 1;
    H5Dclose(d2);
    hid_t d3 = H5Oopen_by_idx(f, "/", H5_INDEX_NAME, H5_ITER_INC, 0, H5P_DEFAULT);
    H5Dclose(d3); /* never read: no entry */
    H5Fclose(f);
    printf("ids: %lld %lld\n", (long long)d1, (long long)d2);

    static long long wide[10];
    hsize_t n = 10;
    f = H5Fcreate(argv[3], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "/p", H5T_NATIVE_LLONG, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_NATIVE_SHORT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide);
    H5Tset_precision(t, 64); /* now 8 bytes */
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide);
    printf("type size: %zu\n", H5Tget_size(t));
    H5Tclose(t);
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
    if (getenv("T53_QUICK_EXIT")) { /* as in libs_sel.c */
        fflush(NULL);
        _exit(0);
    }
    return 0;
}
