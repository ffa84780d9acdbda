/* t53: the program linked with the system's libhdf5, reading file A through it, and file B
 * through reader2.so (linked against a copy of libhdf5 under another soname, dlopened
 * RTLD_LOCAL).
 *   libs_main make A.h5 B.h5: creates A (/a/x: 16 ints) and B (/b/y: 8 ints)
 *   libs_main read A.h5 B.h5 READER2.so: reads A, B, A, B, A (three reads of A, two of B)
 *   in turns; each copy's first file and dataset: the same ids in both */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void make(const char *path, const char *grp, const char *name, int n, int base)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t s = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(g, name, H5T_NATIVE_INT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int buf[64];
    for (int i = 0; i < n; i++)
        buf[i] = base + i;
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    H5Sclose(s);
    H5Gclose(g);
    H5Fclose(f);
}

static int count_copy(struct dl_phdr_info *info, size_t size, void *data)
{
    const char *b = strrchr(info->dlpi_name, '/');
    b = b ? b + 1 : info->dlpi_name;
    if (!strncmp(b, "libhdf5_serial.so", 17) || !strncmp(b, "libhdf5_sercpy.so", 17))
        ++*(int *)data;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "make")) {
        make(argv[2], "a", "x", 16, 0);   /* sum 120 */
        make(argv[3], "b", "y", 8, 1000); /* sum 8028 */
        if (getenv("T53_QUICK_EXIT"))
            _exit(0);
        return 0;
    }
    if (argc < 5 || strcmp(argv[1], "read"))
        return 2;
    argv++;
    void *h = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    int ncopies = 0;
    dl_iterate_phdr(count_copy, &ncopies);
    printf("copies loaded: %d\n", ncopies);
    int (*r2open)(const char *) = (int (*)(const char *))dlsym(h, "reader2_open");
    long (*r2read)(void) = (long (*)(void))dlsym(h, "reader2_read");
    void (*r2close)(void) = (void (*)(void))dlsym(h, "reader2_close");
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/a/x", H5P_DEFAULT);
    printf("main: file id %lld, dataset id %lld\n", (long long)f, (long long)d);
    if (r2open(argv[2]) < 0)
        return 1;
    for (int i = 0; i < 5; i++) {
        if (i % 2 == 0) {
            int buf[16];
            long s = 0;
            if (H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
                return 1;
            for (int k = 0; k < 16; k++)
                s += buf[k];
            printf("A %ld\n", s);
        } else {
            printf("B %ld\n", r2read());
        }
    }
    r2close();
    H5Dclose(d);
    H5Fclose(f);
    /* T53_QUICK_EXIT (t53 under ASan): past the exit handlers, where libasan and libhdf5's
     * dependencies (p11-kit through libcurl) deadlock with or without the agent */
    if (getenv("T53_QUICK_EXIT")) {
        fflush(NULL);
        _exit(0);
    }
    return 0;
}
