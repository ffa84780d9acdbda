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
 *  - LTTNG_UST_REGISTER_TIMEOUT: liblttng-ust's constructor waits (3 s at most, by default)
 *    for a session daemon that answers to register the process, so that events from the
 *    start are recorded; with no daemon it does not wait. Left as it is.
 *
 * A variable the user set is left alone. Those set here are taken out of the environment
 * again once liblttng-ust has read them: the program and its children see the
 * environment they had. This runs in the agent's constructor, before the program's main,
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
    int set_blocking = !getenv("LTTNG_UST_ALLOW_BLOCKING");
    if (set_blocking)
        setenv("LTTNG_UST_ALLOW_BLOCKING", "1", 0);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (set_blocking)
        unsetenv("LTTNG_UST_ALLOW_BLOCKING");
    if (!h) {
        const char *e = dlerror();
        ta->log(TA_LOG_WARN, "lttng export: cannot load %s (%s): is liblttng-ust installed? "
                "going on without LTTng", path, e ? e : "?");
    }
}
