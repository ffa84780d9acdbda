/* An exporter plug-in for t56_stacks_capture.sh ("stkexp", loaded from TRACEAGENT_PLUGINS):
 * one line per event to <stem>.stk: "cat name ext_len stack n ip..." (spaces in the name
 * as '_') where stack is
 * ev->stack and, when it is not 0, n and the ips are what api->stack_ips gives for it
 * (n = 0 otherwise). Built against include/traceagent_plugin.h alone. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <traceagent_plugin.h>

static const struct ta_plugin_api *api;
static int out = -1;

static int start(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s.stk", api->out_stem());
    /* raw: the agent records the program's open and write */
    out = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return 0;
}

static void event(const struct ta_event *ev)
{
    if (out < 0)
        return;
    char line[2048];
    uint32_t stack = ev->stack, n = 0;
    const uint64_t *ips = stack && api->stack_ips ? api->stack_ips(stack, &n) : NULL;
    if (!ips)
        n = 0;
    char name[256]; /* one word: a marker's text may have spaces */
    snprintf(name, sizeof name, "%s", ev->name && *ev->name ? ev->name : "-");
    for (char *c = name; *c; c++)
        if (*c == ' ' || *c == '\n')
            *c = '_';
    int o = snprintf(line, sizeof line, "%s %s %u %u %u", ev->cat ? ev->cat : "-", name,
                     ev->ext_len, stack, n);
    for (uint32_t i = 0; i < n && o < (int)sizeof line - 24; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, " %llx", (unsigned long long)ips[i]);
    line[o++] = '\n';
    syscall(SYS_write, out, line, (size_t)o);
}

static void finish(void)
{
    if (out >= 0)
        syscall(SYS_close, out);
    out = -1;
}

static const struct ta_exporter exporter = {
    .size = sizeof(struct ta_exporter),
    .name = "stkexp",
    .start = start,
    .event = event,
    .finish = finish,
};

__attribute__((constructor)) static void stkexp_init(void)
{
    api = ta_plugin_get();
    if (api)
        api->add_exporter(&exporter);
}
