/* t53: a program that never uses HDF5: does any libhdf5 appear in its own mappings? */
#include <stdio.h>
#include <string.h>

int main(void)
{
    FILE *m = fopen("/proc/self/maps", "r");
    char line[4096];
    int n = 0;
    while (m && fgets(line, sizeof line, m))
        n += strstr(line, "libhdf5") != NULL;
    if (m)
        fclose(m);
    printf("hdf5 mappings: %d\n", n);
    return 0;
}
