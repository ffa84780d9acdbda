/* For tests/t21_config_edges.sh: a program that loads the agent itself, so that it can be
 * run with secure execution (a setuid copy: AT_SECURE) where glibc would drop an
 * LD_PRELOAD path. dlopen runs the agent's constructor with AT_SECURE as the kernel set it.
 * Then it writes argv[2] through the agent's own open/write/close, and fails an execv
 * through it: all must pass through untouched. Prints "secure=N", "passthrough=1" and exits 0. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    printf("secure=%lu\n", getauxval(AT_SECURE));
    fflush(stdout);
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 2;
    }
    int (*op)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(h, "open");
    ssize_t (*wr)(int, const void *, size_t) = (ssize_t(*)(int, const void *, size_t))dlsym(h, "write");
    int (*cl)(int) = (int (*)(int))dlsym(h, "close");
    if (!op || !wr || !cl) {
        printf("dlsym failed\n");
        return 2;
    }
    int fd = op(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = fd >= 0 && wr(fd, "written\n", 8) == 8 && cl(fd) == 0;
    /* a failed exec goes on in this image: still nothing recorded */
    int (*ex)(const char *, char *const[]) = (int (*)(const char *, char *const[]))dlsym(h, "execv");
    ok = ok && ex && ex("/nonexistent/prog", argv) == -1;
    printf("passthrough=%d\n", ok);
    return ok ? 0 : 1;
}
