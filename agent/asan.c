/* The sanitized build only (make test-asan, -fsanitize=address,undefined): where the
 * sanitizers write their reports. ASAN_OPTIONS=log_path cannot say it: ASan creates the
 * path's directories with mkdir() while it initialises, which binds to the agent's mkdir
 * (the agent comes before libc), whose instrumented code then runs before ASan has mapped
 * its shadow memory, and the process dies of SIGSEGV. Here, once ASan runs,
 * TA_SANITIZER_LOG=PREFIX sends ASan's reports to PREFIX.asan.<pid> and UBSan's (its own
 * runtime) to PREFIX.ubsan.<pid>, so that tests/run.sh --asan finds every report, also
 * from a program whose stderr a test discards. And a fork waits for the drainer to be up
 * (below). */
#include "ta.h"

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

void __sanitizer_set_report_path(const char *path);
extern _Atomic int ta_drainer_starting;

/* GCC 12's ASan does not lock its allocator around fork(): a thread inside malloc when
 * another forks leaves the child a lock nobody will release. The drainer mallocs only
 * under drain_owner (which fork's prepare handler takes), and while it starts: ASan's
 * thread set-up allocates before drainer_main runs. A fork then (the program's first
 * traced call starts the drainer; a fork follows at once) hung the child in t15. Wait for
 * it to be up (1 s at most); glibc's own malloc needs nothing of the kind. */
static void prefork_drainer_up(void)
{
    for (int i = 0; i < 20000 && atomic_load(&ta_drainer_starting); i++) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

__attribute__((constructor)) static void sanitizer_setup(void)
{
    pthread_atfork(prefork_drainer_up, NULL, NULL);

    const char *p = getenv("TA_SANITIZER_LOG");
    if (!p || !*p)
        return;
    ta_guard++; /* the mkdir calls below are not the program's */
    char buf[4096];
    ta_fmt(buf, sizeof buf, "%s.asan", p);
    __sanitizer_set_report_path(buf);
    void *h = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
    void (*set)(const char *) = h ? (void (*)(const char *))dlsym(h, "__sanitizer_set_report_path")
                                  : NULL;
    if (set) {
        ta_fmt(buf, sizeof buf, "%s.ubsan", p);
        set(buf);
    }
    ta_guard--;
}
#endif
