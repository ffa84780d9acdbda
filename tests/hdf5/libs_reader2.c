/* t53: a reader linked against a second copy of libhdf5 (another soname, same code). The
 * program dlopens it RTLD_LOCAL, so its H5* calls reach the copy while the program's reach
 * the system's library: the same hid values exist in both, naming different files. */
#include <hdf5.h>
#include <stdio.h>

static hid_t f = -1, d = -1;

int reader2_open(const char *path)
{
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return -1;
    d = H5Dopen2(f, "/b/y", H5P_DEFAULT);
    printf("reader2: file id %lld, dataset id %lld\n", (long long)f, (long long)d);
    return d < 0 ? -1 : 0;
}

/* one element-wise read of the whole dataset (8 ints); the sum of what it read */
long reader2_read(void)
{
    int buf[8] = {0};
    if (H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return -1;
    long s = 0;
    for (int i = 0; i < 8; i++)
        s += buf[i];
    return s;
}

void reader2_close(void)
{
    H5Dclose(d);
    H5Fclose(f);
}
