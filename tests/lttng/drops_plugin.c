/* tests/lttng/drops_plugin.c: a plug-in that names 16 drop causes of 56 characters (with
 * the agent's own three: past the 16 the LTTng exporter once kept, longer than the 48
 * bytes it kept of each), each counted twice: 1 at the drainer's first poll of its batch
 * source, 2 more at the second, each reported in its own cycle (drainer.c polls the
 * sources before it reports drops). */
#include <stdio.h>

#include <traceagent_plugin.h>

static const struct ta_plugin_api *api;
static char causes[16][64];

static void poll(void (*emit)(const struct ta_event *ev), int final)
{
    static int calls;
    (void)emit, (void)final;
    if (++calls > 2)
        return;
    for (int i = 0; i < 16; i++)
        api->dropped(causes[i], (uint64_t)calls);
}

static const struct ta_source src = {
    .size = sizeof(struct ta_source), .name = "drops_plugin", .signal_safe = 1, .poll = poll};

__attribute__((constructor)) static void init(void)
{
    if (!(api = ta_plugin_get()))
        return;
    for (int i = 0; i < 16; i++)
        snprintf(causes[i], sizeof causes[i], "%02d_a_drop_cause_with_a_long_name_as_plug_ins_may_give_it", i);
    api->add_source(&src);
}
