/* User markers: the entry points behind include/traceagent.h and python/traceagent.py.
 * A range is pushed on the calling thread's stack (time and interned text) and written as
 * one complete span when popped; I/O and other calls made inside nest under it (depth). */
#include "ta.h"

#define MARKER_OP(name_, shape_, ...) \
    {.name = name_, .cat = TA_CAT_MARKER, .io = TA_IO_NONE, .shape = shape_, .name_from_str = 1, \
     .layer = TA_LAYER_NONE, __VA_ARGS__}
static const struct ta_field unfinished[] = {
    {"unfinished", TA_FT_TRUE, TA_ROLE_UNFINISHED, 0, TA_F_UNFINISHED}};
static const struct ta_field counter_value[] = {
    {"value", TA_FT_F64, TA_ROLE_COUNTER, TA_OFF_U64(0), 0}};
const struct ta_op ta_op_range = MARKER_OP("range", TA_SHAPE_SPAN, .nfields = 1, .fields = unfinished);
static const struct ta_op op_mark __attribute__((unused)) = MARKER_OP("mark", TA_SHAPE_INSTANT);
static const struct ta_op op_counter __attribute__((unused)) =
    MARKER_OP("counter", TA_SHAPE_COUNTER, .nfields = 1, .fields = counter_value);

TA_EXPORT void traceagent_range_push(const char *name)
{
#if !TA_NOP
    struct ta_thread *t = ta_enter(TA_CAT_MARKER);
    if (!t)
        return;
    /* the depth taken by ta_enter stays until the pop */
    uint16_t n = t->nmarks++;
    if (ta_likely(n < TA_MARK_STACK)) {
        struct ta_mark *m = &t->marks[n];
        m->str = ta_intern_cached(t, name ? name : "");
        m->depth = (uint8_t)(t->depth - 1);
        m->t0 = ta_now(); /* last, so the interning is not inside the range */
    }
#else
    (void)name;
#endif
}

TA_EXPORT void traceagent_range_pop(void)
{
#if !TA_NOP
    /* not where a push is not recorded either (ta_enter): the agent's own work, and a
     * strict seccomp sandbox's thread left unrecorded, whose clock faults (core.c, prctl) */
    if (ta_unlikely(ta_guard))
        return;
    uint64_t now = ta_now_end();
    struct ta_thread *t = ta_self;
    if (!t || !t->nmarks)
        return; /* unbalanced pop, or the push was not recorded */
    uint16_t n = --t->nmarks;
    t->depth--;
    if (ta_unlikely(n >= TA_MARK_STACK))
        return; /* deeper than the stack: counted in depth only */
    const struct ta_mark *m = &t->marks[n];
    struct ta_rec *r = ta_rec_begin(t);
    if (r) {
        ta_rec_span(r, &ta_op_range, m->t0, now, m->depth);
        r->str = m->str;
        ta_rec_commit(t);
    }
#endif
}

#if !TA_NOP
static void point(const struct ta_op *op, const char *name, double value)
{
    struct ta_thread *t = ta_enter(TA_CAT_MARKER);
    if (!t)
        return;
    uint32_t s = ta_intern_cached(t, name ? name : "");
    uint64_t now = ta_now();
    struct ta_rec *r = ta_rec_begin(t);
    if (r) {
        ta_rec_span(r, op, now, now, (uint8_t)(t->depth - 1));
        r->str = s;
        r->u.counter = value;
        ta_rec_commit(t);
    }
    ta_leave(t);
}
#endif

TA_EXPORT void traceagent_mark(const char *name)
{
#if !TA_NOP
    point(&op_mark, name, 0);
#else
    (void)name;
#endif
}

TA_EXPORT void traceagent_counter(const char *name, double value)
{
#if !TA_NOP
    point(&op_counter, name, value);
#else
    (void)name;
    (void)value;
#endif
}

/* Ranges still open when a thread or the process ends are written as unfinished spans,
 * ending now. Called on the owning thread (thread exit, final flush). */
void ta_close_open_ranges(struct ta_thread *t)
{
    uint64_t now = ta_now_end();
    unsigned n = t->nmarks < TA_MARK_STACK ? t->nmarks : TA_MARK_STACK;
    while (n--) {
        struct ta_rec *r = ta_rec_begin(t);
        if (!r)
            break;
        ta_rec_span(r, &ta_op_range, t->marks[n].t0, now, t->marks[n].depth);
        r->str = t->marks[n].str;
        r->flags = TA_F_UNFINISHED;
        ta_rec_commit(t);
    }
    t->depth = 0;
    t->nmarks = 0;
}
