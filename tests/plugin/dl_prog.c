/* dlopen as the program does it, for t51_dlopen.sh: each mode prints one line that must be
 * the same traced and untraced.
 *   bare NAME          dlopen(NAME) from the executable (its RUNPATH: $ORIGIN/../lib)
 *   path PATH          dlopen(PATH) from the executable ("$ORIGIN/../lib/libdlplug.so")
 *   via CALLER NAME    CALLER (a library with a RUNPATH) dlopens NAME
 *   noload CALLER NAME CALLER dlopens NAME; then dlopen(NAME, RTLD_NOLOAD) from here
 *   dlerror FN LIB...  dlopen each LIB (RTLD_GLOBAL), dlerror() after each; then the last
 *                      one's FN(label, 1, 1000, out, cap) ("-": none), dlerror() after it
 *   threads LIB1 LIB2  LIB1 from this thread, LIB2 from another 100 ms later (deadlock)
 *   told FAM LIB       (traced, FAM a family plug-in that wants LIB) dlopen LIB, then no
 *                      dlopen and no wrapped call: how long until FAM was told of it
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void say(const char *what, void *h)
{
    if (!h) {
        const char *e = dlerror();
        printf("%s: failed (%s)\n", what, e ? e : "no dlerror");
        return;
    }
    const char *(*tag)(void) = (const char *(*)(void))dlsym(h, "dl_plug_tag");
    printf("%s: loaded, tag %s\n", what, tag ? tag() : "?");
}

static void *caller(const char *path)
{
    void *c = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!c)
        printf("caller %s: failed (%s)\n", path, dlerror());
    return c;
}

static const char *second;
static void *thr(void *a)
{
    (void)a;
    usleep(100000);
    void *h = dlopen(second, RTLD_NOW);
    printf("thread: %s\n", h ? "loaded" : dlerror());
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *mode = argv[1];
    if (!strcmp(mode, "bare") || !strcmp(mode, "path")) {
        say(mode, dlopen(argv[2], RTLD_NOW | RTLD_LOCAL));
    } else if (!strcmp(mode, "via") && argc > 3) {
        void *c = caller(argv[2]);
        void *(*open_fn)(const char *) = c ? (void *(*)(const char *))dlsym(c, "dl_caller_open") : NULL;
        if (open_fn)
            say("via", open_fn(argv[3]));
    } else if (!strcmp(mode, "noload") && argc > 3) {
        void *c = caller(argv[2]);
        void *(*open_fn)(const char *) = c ? (void *(*)(const char *))dlsym(c, "dl_caller_open") : NULL;
        if (open_fn) {
            say("via", open_fn(argv[3]));
            say("noload", dlopen(argv[3], RTLD_NOW | RTLD_NOLOAD));
        }
    } else if (!strcmp(mode, "dlerror") && argc > 3) {
        void *h = NULL;
        for (int i = 3; i < argc; i++) {
            h = dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL);
            const char *e = h ? dlerror() : "the dlopen failed";
            printf("dlerror after dlopen of %s: %s\n", strrchr(argv[i], '/') + 1, e ? e : "none");
        }
        int (*run)(const char *, int, long, char *, size_t) =
            h ? (int (*)(const char *, int, long, char *, size_t))dlsym(h, argv[2]) : NULL;
        if (run) {
            char out[512];
            run("E", 1, 1000, out, sizeof out);
            const char *e = dlerror();
            printf("%s\ndlerror after the calls: %s\n", out, e ? e : "none");
        }
    } else if (!strcmp(mode, "told") && argc > 3) {
        write(1, "start\n", 6); /* a call the agent records: its drainer runs */
        void *fam = dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD);
        volatile int *told = fam ? (volatile int *)dlsym(fam, "dl_fam_told") : NULL;
        if (!told) {
            printf("told: the family is not loaded\n");
            return 1;
        }
        int before = *told;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!dlopen(argv[3], RTLD_NOW | RTLD_LOCAL))
            return 1;
        int ms = 0;
        for (; ms < 2000 && *told == before; ms++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("told: %s after %.0f ms\n", *told > before ? "told" : "not told",
               (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    } else if (!strcmp(mode, "threads") && argc > 3) {
        second = argv[3];
        pthread_t t;
        pthread_create(&t, NULL, thr, NULL);
        void *h = dlopen(argv[2], RTLD_NOW);
        printf("main: %s\n", h ? "loaded" : dlerror());
        pthread_join(t, NULL);
        printf("done\n");
    } else {
        return 2;
    }
    return 0;
}
