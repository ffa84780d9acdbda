/* I/O from three known functions, each a known number of times with known bytes
 * (tests/t57_stacks.sh): read_a (here) preads 4096 bytes A times, read_b (libb.so) preads
 * 1000 bytes B times, write_c (here) fwrites 512 bytes then fflushes, C times. The files
 * are opened and closed in main. Prints "ok A B C" when every call moved what it should.
 *   stacks_app IN OUT A B C */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long read_b(int fd, char *buf, long off);

__attribute__((noinline)) long read_a(int fd, char *buf, long off)
{
    long n = pread(fd, buf, 4096, off); /* READ_A_CALL */
    return n;
}

__attribute__((noinline)) int write_c(FILE *f, const char *buf)
{
    size_t n = fwrite(buf, 1, 512, f); /* WRITE_C_FWRITE */
    int r = fflush(f);                 /* WRITE_C_FFLUSH */
    return n == 512 && r == 0;
}

int main(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    int a = atoi(argv[3]), b = atoi(argv[4]), c = atoi(argv[5]), bad = 0;
    int fd = open(argv[1], O_RDONLY);
    FILE *out = fopen(argv[2], "w");
    if (fd < 0 || !out)
        return 3;
    static char buf[8192];
    for (int i = 0; i < a; i++)
        bad += read_a(fd, buf, (long)i * 8) != 4096;
    for (int i = 0; i < b; i++)
        bad += read_b(fd, buf, (long)i * 8) != 1000;
    memset(buf, 'x', 512);
    for (int i = 0; i < c; i++)
        bad += !write_c(out, buf);
    fclose(out);
    close(fd);
    if (bad)
        return 4;
    printf("ok %d %d %d\n", a, b, c);
    return 0;
}
