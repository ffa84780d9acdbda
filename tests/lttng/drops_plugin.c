/* tests/lttng/drops_plugin.c: a plug-in for t59's drops run. It names 16 drop causes of 56
 * characters (with the agent's own three: past the 16 the LTTng exporter once kept, longer
 * than the 48 bytes it kept of each), each counted twice: 1 at the drainer's first poll of
 * its batch source, 2 more at the second, each reported in its own cycle (drainer.c polls
 * the sources before it reports drops). At the first poll its source also hands over, in
 * its category "ltx": a span whose text field is 12000 bytes (past the LTTng exporter's
 * 8 KiB of args), a span whose text has invalid UTF-8, and a counter with a field more. */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <traceagent_plugin.h>

static const struct ta_plugin_api *api;
static char causes[16][64];

static const struct ta_field f_text[] = {
    {"n", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(0), 0},
    {"text", TA_FT_TEXT, TA_ROLE_NONE, TA_OFF_EXT(0), 0},
    {"after", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(1), 0}};
static const struct ta_field f_counter[] = {
    {"value", TA_FT_F64, TA_ROLE_COUNTER, TA_OFF_U64(0), 0},
    {"unit_code", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(1), 0}};
static struct ta_op op_text = {"ltx_text", 0, TA_IO_NONE, TA_SHAPE_SPAN, 0, TA_LAYER_LOGICAL,
                               3, {0}, f_text, {0}};
static struct ta_op op_counter = {"ltx_level", 0, TA_IO_NONE, TA_SHAPE_COUNTER, 0,
                                  TA_LAYER_LOGICAL, 2, {0}, f_counter, {0}};
static struct ta_op *const ops[] = {&op_text, &op_counter, NULL};
static const struct ta_family fam = {.size = sizeof(struct ta_family), .name = "ltx", .ops = ops};

static void one(void (*emit)(const struct ta_event *ev), struct ta_op *op, uint64_t a, uint64_t b,
                const char *text, size_t len)
{
    struct ta_rec r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.u.u64[0] = a;
    r.u.u64[1] = b;
    r.fd = -1;
    r.flags = TA_F_NS;
    r.t0 = api->now_ns();
    r.t1 = r.t0 + (op->shape == TA_SHAPE_SPAN ? 1000 : 0);
    struct ta_event ev;
    memset(&ev, 0, sizeof ev);
    ev.size = sizeof ev;
    ev.rec = &r;
    ev.op = op;
    ev.name = op->name;
    ev.ts_ns = r.t0;
    ev.dur_ns = r.t1 - r.t0;
    ev.tid = (int32_t)syscall(SYS_gettid);
    ev.ext = (const unsigned char *)text;
    ev.ext_len = text ? (uint32_t)len : 0;
    emit(&ev);
}

static void poll(void (*emit)(const struct ta_event *ev), int final)
{
    static int calls;
    static char big[12001];
    (void)final;
    if (++calls > 2)
        return;
    if (calls == 1) {
        memset(big, 'a', sizeof big - 1);
        one(emit, &op_text, 1, 2, big, sizeof big);
        static const char bad[] = "ok \xff bad \xc3( end";
        one(emit, &op_text, 3, 4, bad, sizeof bad);
        double v = -2.5;
        uint64_t u;
        memcpy(&u, &v, 8);
        one(emit, &op_counter, u, 7, NULL, 0);
    }
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
    api->add_family(&fam);
    api->add_source(&src);
}
