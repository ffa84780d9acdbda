/* A library dlopen'ed by a relative name, then a chdir (t58): relopen DIR, run in the
 * directory that holds the library ./libdlswap_a.so; DIR holds another file of that name */
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int fd = open("/etc/passwd", O_RDONLY);
    void *h = dlopen("./libdlswap_a.so", RTLD_NOW);
    if (argc < 2 || fd < 0 || !h)
        return 2;
    void (*a)(int, int) = (void (*)(int, int))dlsym(h, "lib_reader_A");
    if (chdir(argv[1]))
        return 3;
    a(fd, 10);
    return 0;
}
