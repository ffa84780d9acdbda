/* A counting exporter (t50_plugin.sh), loaded by the agent from TRACEAGENT_PLUGINS and
 * selected by TRACEAGENT_EXPORT's word "tpcount": counts the events it receives, per
 * category, those on named tracks and the tracks' names, and writes them at the end to
 * <output>/<exe>-<pid>.tpcount.json. Built against include/traceagent_plugin.h alone. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <traceagent_plugin.h>

static const struct ta_plugin_api *api;

#define MAX_CATS 32
static struct {
    const char *cat; /* the agent's string: valid to the end */
    unsigned long long n;
} cats[MAX_CATS];
static int ncats;
static unsigned long long total, on_tracks, with_scope;
#define MAX_TRACKS 16
static char track_names[MAX_TRACKS][64];
static int ntracks;

static int start(void)
{
    ncats = ntracks = 0;
    total = on_tracks = with_scope = 0;
    return 0;
}

static void event(const struct ta_event *ev)
{
    total++;
    if (ev->track)
        on_tracks++;
    if (ev->scope)
        with_scope++;
    const char *c = ev->cat ? ev->cat : "";
    for (int i = 0; i < ncats; i++)
        if (strcmp(cats[i].cat, c) == 0) {
            cats[i].n++;
            return;
        }
    if (ncats < MAX_CATS) {
        cats[ncats].cat = c;
        cats[ncats++].n = 1;
    }
}

static void track_name(uint32_t track, int tid, const char *name)
{
    (void)track, (void)tid;
    if (ntracks < MAX_TRACKS)
        snprintf(track_names[ntracks++], sizeof track_names[0], "%s", name);
}

static void finish(void)
{
    char path[4200], buf[4096];
    snprintf(path, sizeof path, "%s.tpcount.json", api->out_stem());
    int n = snprintf(buf, sizeof buf, "{\"events\": %llu, \"on_tracks\": %llu, \"with_scope\": %llu, \"cats\": {",
                     total, on_tracks, with_scope);
    for (int i = 0; i < ncats && n < (int)sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - n, "%s\"%s\": %llu", i ? ", " : "", cats[i].cat, cats[i].n);
    n += snprintf(buf + n, n < (int)sizeof buf ? sizeof buf - n : 0, "}, \"tracks\": [");
    for (int i = 0; i < ntracks && n < (int)sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - n, "%s\"%s\"", i ? ", " : "", track_names[i]);
    n += snprintf(buf + n, n < (int)sizeof buf ? sizeof buf - n : 0, "]}\n");
    if (n >= (int)sizeof buf)
        return;
    /* raw system calls: an exporter runs on the agent's side, and the agent records the
     * program's open and write */
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    syscall(SYS_write, fd, buf, (size_t)n);
    syscall(SYS_close, fd);
}

static void after_fork(void) { start(); }

static const struct ta_exporter exporter = {
    .size = sizeof(struct ta_exporter),
    .name = "tpcount",
    .signal_safe = 0,
    .start = start,
    .event = event,
    .finish = finish,
    .after_fork = after_fork,
    .track_name = track_name,
};

__attribute__((constructor)) static void tp_count_init(void)
{
    api = ta_plugin_get();
    if (api)
        api->add_exporter(&exporter);
}
