/* Families for t51_dlopen.sh's deadlock check, after a reviewer's reproduction.
 * DL_SLOW: wants the library the program loads first; its `loaded` sleeps 300 ms, then
 *   dlsym (the loader's lock), while
 * DL_LATE: is dlopened by another thread of the program: its constructor registers a
 *   family (add_family) with glibc's loader lock held by that thread.
 * The agent must not hold a lock of its own across the first while the second waits.
 * A family's failed dlsym must not leave the program a dlerror() either. */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include <traceagent_plugin.h>

static const char *const wants[] = {DL_WANTS, NULL};
static struct ta_op *ops[] = {NULL};
/* how many objects this family was told of (the program reads it: `told` mode) */
__attribute__((visibility("default"))) volatile int dl_fam_told;

static void loaded(const char *path, void *h)
{
    dl_fam_told++;
#ifdef DL_SLOW
    usleep(300000);
#endif
    void *s = dlsym(h, "dl_plug_tag");
    dlsym(h, "dl_fam_not_there"); /* a failed lookup: its dlerror is not the program's */
#ifdef DL_QUIET
    (void)s;
#else
    fprintf(stderr, "%s: told of %s (%s)\n", DL_NAME, path, s ? "found" : "no symbol");
#endif
}
static struct ta_family fam = {.size = sizeof fam, .name = DL_NAME, .ops = ops,
                               .wants = wants, .loaded = loaded};
__attribute__((constructor)) static void init(void)
{
    const struct ta_plugin_api *ta = ta_plugin_get();
    if (ta)
        ta->add_family(&fam);
}
