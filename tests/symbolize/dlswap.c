/* Stacks in a library dlclose'd (t58): dlswap LIBA LIBB swap|close
 *   swap:  liba's reader called 100 times, then (its records drained) liba dlclose'd and
 *          libb dlopen'ed, which the loader maps where liba was; libb's reader called 7
 *          times. Prints "same" when libb's reader is at liba's reader's address.
 *   close: liba's reader called 100 times, liba dlclose'd before the end. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int fd = open("/etc/passwd", O_RDONLY);
    void *h = dlopen(argv[1], RTLD_NOW);
    if (fd < 0 || !h)
        return 3;
    void (*a)(int, int) = (void (*)(int, int))dlsym(h, "lib_reader_A");
    a(fd, 100);
    usleep(500000); /* the drainer sees these records (it sleeps 4 ms at most) */
    dlclose(h);
    if (!strcmp(argv[3], "swap")) {
        void *g = dlopen(argv[2], RTLD_NOW);
        if (!g)
            return 4;
        void (*b)(int, int) = (void (*)(int, int))dlsym(g, "lib_other_B");
        b(fd, 7);
        printf("%s\n", (void *)b == (void *)a ? "same" : "moved");
    }
    return 0;
}
