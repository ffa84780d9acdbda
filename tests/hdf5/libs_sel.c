/* t53: one dataset (/m: 100 x 10 ints), read three times through the SAME memory and file
 * space ids, re-selected with H5Sselect_hyperslab between the reads: [2,10], [7,10], [7,3].
 * A cache of the last read's bytes and shape that missed the re-selection would repeat the
 * first. Then H5Fopen of a missing file: its return value printed. Usage: libs_sel F.h5 MISSING */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    hsize_t dims[2] = {100, 10};
    hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "m", H5T_NATIVE_INT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    static int buf[1000];
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    hid_t ms = H5Screate_simple(2, dims, NULL);
    hid_t fs = H5Dget_space(d);
    hsize_t start[2] = {0, 0};
    hsize_t counts[3][2] = {{2, 10}, {7, 10}, {7, 3}};
    for (int i = 0; i < 3; i++) {
        H5Sselect_hyperslab(ms, H5S_SELECT_SET, start, NULL, counts[i], NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, counts[i], NULL);
        if (H5Dread(d, H5T_NATIVE_INT, ms, fs, H5P_DEFAULT, buf) < 0)
            return 1;
    }
    H5Dclose(d);
    H5Fclose(f);
    hid_t bad = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
    printf("missing: %lld\n", (long long)bad);
    /* T53_QUICK_EXIT (t53 under ASan): past the exit handlers, where libasan and libhdf5's
     * dependencies (p11-kit through libcurl) deadlock with or without the agent */
    if (getenv("T53_QUICK_EXIT")) {
        fflush(NULL);
        _exit(0);
    }
    return 0;
}
