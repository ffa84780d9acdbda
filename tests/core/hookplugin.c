/* A plug-in for t44: a family "hookfam" (a category of its own) whose hooks each write one
 * line to stderr, and an exported hook_call() that records one span of op "hook_call"
 * through the interface, so the test sees the hooks' order and the category switch. */
#include <string.h>
#include <unistd.h>
#include <traceagent_plugin.h>

static const struct ta_plugin_api *ta;
static struct ta_op op_call = {.name = "hook_call", .shape = TA_SHAPE_SPAN};
static struct ta_op *ops[] = {&op_call, NULL};

static void say(const char *s)
{
    char b[128];
    size_t n = strlen(s);
    memcpy(b, "hook: ", 6);
    memcpy(b + 6, s, n);
    b[6 + n] = '\n';
    write(2, b, 7 + n);
}
static void h_init(void) { say("init"); }
static void h_before_fork(void) { say("before_fork"); }
static void h_after_fork_child(void) { say("after_fork_child"); }
static void h_before_final_drain(void) { say("before_final_drain"); }
static void h_at_exit(void) { say("at_exit"); }

static const struct ta_family fam = {
    .size = sizeof fam, .name = "hookfam", .ops = ops, .init = h_init,
    .before_fork = h_before_fork, .after_fork_child = h_after_fork_child,
    .before_final_drain = h_before_final_drain, .at_exit = h_at_exit};

__attribute__((visibility("default"))) void hook_call(void)
{
    ta_thread_t *t = ta ? ta->enter(op_call.cat) : NULL;
    if (!t)
        return;
    uint64_t t0 = ta->now();
    struct ta_rec *r = ta->begin(t, 0);
    if (r) {
        memset(r, 0, sizeof *r);
        r->op = &op_call;
        r->t0 = t0;
        r->t1 = ta->now();
        r->fd = -1;
        r->depth = ta->depth(t);
        ta->commit(t, NULL, 0);
    }
    ta->leave(t);
}

__attribute__((constructor)) static void init(void)
{
    if ((ta = ta_plugin_get())) {
        ta->add_family(&fam);
        /* preloaded, this runs before the agent's constructor: the interface works then */
        ta->dropped("hook_early", 2);
    }
}
