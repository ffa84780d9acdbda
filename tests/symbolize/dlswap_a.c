/* dlswap.c's first library; dlswap_b.c is the same code under other names */
#include <unistd.h>
void lib_reader_A(int fd, int n)
{
    char b[64];
    for (int i = 0; i < n; i++)
        pread(fd, b, sizeof b, 0);
}
