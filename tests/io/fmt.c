/* Formatted stdio output: fprintf (or __fprintf_chk when fortified) and vfprintf, mixed
 * with fwrite, so offsets must follow the stream's position through all of them. */
#include <stdarg.h>
#include <stdio.h>

static int vlog(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(f, fmt, ap);
    va_end(ap);
    return r;
}

int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "w");
    int a = fprintf(f, "line %d\n", 1);              /* 7 bytes */
    int b = fprintf(f, "%s=%05d\n", "value", 42);     /* 12 bytes */
    int c = vlog(f, "v%c\n", 'x');                   /* 3 bytes */
    size_t d = fwrite("0123456789", 1, 10, f);       /* 10 bytes at offset 22 */
    fclose(f);
    printf("%d %d %d %zu\n", a, b, c, d);
    return 0;
}
