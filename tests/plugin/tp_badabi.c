/* A plug-in built for another major ABI (2.0): the agent must refuse it with one line on
 * stderr, and the program must run on as without it (t50_plugin.sh). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include <traceagent_plugin.h>

__attribute__((constructor)) static void tp_badabi_init(void)
{
    ta_plugin_api_fn f = (ta_plugin_api_fn)dlsym(RTLD_DEFAULT, "traceagent_plugin_api");
    const struct ta_plugin_api *api = f ? f((2u << 16) | 0) : NULL;
    if (api) /* accepted: what a version 2 plug-in would do with it is undefined */
        fprintf(stderr, "tp_badabi: the agent accepted ABI 2.0\n");
}
