/* The program of the outside plug-in test: loads two extension modules RTLD_LOCAL (each
 * linked against its own copy of tpapi, as Python loads h5py's), calls each inside a
 * marker range, and leaves without waiting for the work it submitted (the plug-in's
 * before_final_drain hands it over). `fork`: a child calls again, in its own range.
 * Exits 3: the wrong-ABI run must leave the status as it is. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <traceagent.h>

typedef int (*ext_run_fn)(const char *label, int nwork, long usec, char *out, size_t cap);
static void *last;

static ext_run_fn load(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        exit(2);
    }
    last = h;
    ext_run_fn f = (ext_run_fn)dlsym(h, "ext_run");
    if (!f) {
        fprintf(stderr, "dlsym ext_run: %s\n", dlerror());
        exit(2);
    }
    return f;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [fork]\n", argv[0]);
        return 2;
    }
    int do_fork = argc > 2 && strcmp(argv[2], "fork") == 0;
    ext_run_fn run_a = load(argv[1], "ext_a.so");
    ext_run_fn run_b = load(argv[1], "ext_b.so");
    char out[512];
    int bad = 0;

    traceagent_push("phase A");
    bad |= run_a("A", 3, 20000, out, sizeof out) != 0;
    traceagent_pop();
    printf("%s\n", out);

    traceagent_push("phase B");
    bad |= run_b("B", 2, 30000, out, sizeof out) != 0;
    traceagent_pop();
    printf("%s\n", out);

    /* loaded again: nothing new for the plug-in to be told of */
    load(argv[1], "ext_a.so");
    /* a third copy, by a bare name that only ext_a's RUNPATH ($ORIGIN) finds */
    int (*bare)(const char *) = (int (*)(const char *))dlsym(last, "ext_dlopen_bare");
    printf("bare dlopen from ext_a: %s\n", bare && bare("libtpapi_c.so") ? "loaded" : "failed");
    fflush(stdout);

    if (do_fork) {
        pid_t pid = fork();
        if (pid == 0) {
            traceagent_push("child");
            int r = run_a("C", 1, 1000, out, sizeof out);
            traceagent_pop();
            printf("%s\n", out);
            exit(r ? 1 : 0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    printf("%s\n", bad ? "some calls failed" : "all calls reached their copy");
    return 3; /* no tpapi_flush: the work still queued is the plug-in's to hand over */
}
