/* A plug-in for t21: an exporter named "probe" that leaves <stem>.probe at the end, so the
 * test can see that TRACEAGENT_PLUGINS (environment, config file, flag) loaded it. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <traceagent_plugin.h>

static const struct ta_plugin_api *ta;
static unsigned long events;

static void ev(const struct ta_event *e) { (void)e; events++; }
static void finish(void)
{
    char path[4200];
    strcpy(path, ta->out_stem());
    strcat(path, ".probe");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        write(fd, "probe\n", 6);
        close(fd);
    }
}
static const struct ta_exporter probe = {
    .size = sizeof probe, .name = "probe", .event = ev, .finish = finish};

__attribute__((constructor)) static void init(void)
{
    if ((ta = ta_plugin_get()))
        ta->add_exporter(&probe);
}
