/* exporters/lttng/front.c: libtraceagent-lttng.so, what the agent loads for
 * TRACEAGENT_EXPORT=lttng (agent/plugin.c, load_own). It links nothing but libdl: it sets
 * liblttng-ust's environment, then loads the exporter and its provider
 * (libtraceagent-lttng-ust.so, beside it), whose liblttng-ust reads that environment once,
 * in its constructor (lttng_ust_getenv_init): a setting made from the exporter itself would
 * come too late.
 *
 *  - LTTNG_UST_ALLOW_BLOCKING=1: a channel created with --blocking-timeout then makes the
 *    drainer wait for LTTng's consumer instead of LTTng discarding events; the agent's
 *    rings absorb the wait (TRACEAGENT_ON_FULL says what a full ring does). Without such a
 *    channel it changes nothing.
 *  - LTTNG_UST_WITHOUT_BADDR_STATEDUMP=1, LTTNG_UST_WITHOUT_PROCNAME_STATEDUMP=1: when a
 *    session daemon with an active session registers the process, liblttng-ust reads the
 *    ELF headers of every loaded object (build ids, for the `ip` context of its own
 *    statedump events) and the thread names, while the program's start-up waits for the
 *    registration; the traceagent events fire on the drainer's thread (an ip there names
 *    the drainer) and carry their threads' names themselves (bench/NOTES.md: what it cost).
 *    The PROCNAME one does nothing with lttng-ust 2.13.5: liblttng-ust-common's list of the
 *    variables lttng_ust_getenv reads lacks it; set for the versions that read it.
 *  - LTTNG_UST_REGISTER_TIMEOUT is left as it is: the start-up, and each fork child
 *    (liblttng-ust's after-fork hook runs its constructor again), waits (3 s at most) for
 *    a session daemon that answers, until it has registered the process, so that a session
 *    records the program's first events; with no daemon it does not wait. Set it to 0 to
 *    never wait, and lose the events of the first milliseconds (README, NOTES row 34).
 *
 * A variable the user set is left alone. Those set here are taken out of the environment
 * again once liblttng-ust has read them (2.13.5 keeps getenv's pointers, for good, a fork
 * child included; glibc never frees a string setenv made): the program and its children see
 * the environment they had. An lttng-ust that reads the environment again in the fork
 * child's constructor gives the child its defaults (README says so). This runs in the agent's constructor, before the program's main,
 * on its only thread: setenv races with no getenv. */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <traceagent_plugin.h>

__attribute__((constructor)) static void front_init(void)
{
    const struct ta_plugin_api *ta = ta_plugin_get();
    if (!ta)
        return;
    char path[PATH_MAX];
    Dl_info di;
    const char *slash;
    if (!dladdr((void *)front_init, &di) || !di.dli_fname ||
        !(slash = strrchr(di.dli_fname, '/')) ||
        (size_t)(slash - di.dli_fname) + sizeof "/libtraceagent-lttng-ust.so" > sizeof path) {
        ta->log(TA_LOG_WARN, "lttng export: cannot tell where libtraceagent-lttng.so is; off");
        return;
    }
    memcpy(path, di.dli_fname, (size_t)(slash - di.dli_fname));
    strcpy(path + (slash - di.dli_fname), "/libtraceagent-lttng-ust.so");
    static const char *const env[][2] = {{"LTTNG_UST_ALLOW_BLOCKING", "1"},
                                         {"LTTNG_UST_WITHOUT_BADDR_STATEDUMP", "1"},
                                         {"LTTNG_UST_WITHOUT_PROCNAME_STATEDUMP", "1"}};
    int set[3];
    for (int i = 0; i < 3; i++)
        if ((set[i] = !getenv(env[i][0])))
            setenv(env[i][0], env[i][1], 0);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    for (int i = 0; i < 3; i++)
        if (set[i])
            unsetenv(env[i][0]);
    if (!h) {
        const char *e = dlerror();
        ta->log(TA_LOG_WARN, "lttng export: cannot load %s (%s): is liblttng-ust installed? "
                "going on without LTTng", path, e ? e : "?");
    }
}
