/* An "extension module" linked against one copy of tpapi, dlopened RTLD_LOCAL by the
 * program (as Python loads h5py's): its calls bind to the preloaded plug-in's wrappers,
 * which must reach this copy. */
#include <stdio.h>
#include <string.h>

#include "tpapi.h"

/* Open, read three times, submit `nwork` works of `usec`, close; `out`: what was reached */
int ext_run(const char *label, int nwork, long usec, char *out, size_t cap)
{
    char name[200];
    snprintf(name, sizeof name, "/tp/%s/a-dataset-name-long-enough-to-need-more-than-one-record-%s",
             label, tpapi_tag());
    tp_handle *h = tpapi_open(name);
    if (!h) {
        snprintf(out, cap, "%s: open failed", label);
        return -1;
    }
    char buf[4096];
    long total = 0, r;
    int bad = 0;
    for (int i = 1; i <= 3; i++) {
        memset(buf, 0, sizeof buf);
        r = tpapi_read(h, buf, 1000 * i);
        if (r < 0 || buf[0] != tpapi_tag()[0])
            bad++;
        total += r > 0 ? r : 0;
    }
    struct tp_work w = {{4, 2, 1}, {128, 1, 1}, (uint64_t)usec, ""};
    snprintf(w.note, sizeof w.note, "work from %s: a note long enough that the payload goes past one "
             "slot", label);
    int ok = 0;
    for (int i = 0; i < nwork; i++)
        ok += tpapi_submit(h, &w) != 0;
    int c = tpapi_close(h);
    snprintf(out, cap, "%s: tag=%s data=%c bytes=%ld bad_reads=%d submitted=%d close=%d", label,
             tpapi_tag(), buf[0] ? buf[0] : '?', total, bad, ok, c);
    return bad || c ? -1 : 0;
}

#include <dlfcn.h>
/* dlopen a bare name that only this object's RUNPATH ($ORIGIN) finds: the agent's dlopen
 * wrapper must keep the caller's search path. 1 when loaded. */
int ext_dlopen_bare(const char *name)
{
    return dlopen(name, RTLD_NOW | RTLD_LOCAL) != NULL;
}
