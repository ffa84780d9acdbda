/* A plug-in for t46: a batch source alone (no family, no thread of the program records).
 * It counts its polls; an exporter of its own writes them to <stem>.extsrc at the end. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <traceagent_plugin.h>

static const struct ta_plugin_api *ta;
static unsigned long polls, finals;

static void poll_(void (*emit)(const struct ta_event *), int final)
{
    (void)emit;
    if (final)
        finals++;
    else
        polls++;
}
static void ev(const struct ta_event *e) { (void)e; }
static void finish(void)
{
    char path[4200], buf[64];
    snprintf(path, sizeof path, "%s.extsrc", ta->out_stem());
    int n = snprintf(buf, sizeof buf, "polls %lu\nfinals %lu\n", polls, finals);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        if (write(fd, buf, (size_t)n) != n)
            n = -1;
        close(fd);
    }
}
static const struct ta_source src = {.size = sizeof src, .name = "pollcount", .poll = poll_};
static const struct ta_exporter exp = {
    .size = sizeof exp, .name = "pollcount", .event = ev, .finish = finish};

__attribute__((constructor)) static void init(void)
{
    if ((ta = ta_plugin_get())) {
        ta->add_source(&src);
        ta->add_exporter(&exp);
    }
}
