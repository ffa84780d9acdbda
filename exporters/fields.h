/* Reading an event's fields (include/traceagent_plugin.h: struct ta_field), for the
 * exporters: they loop over an op's fields and never read a union arm or test a category.
 * Drainer-side only (not the hot path). */
#ifndef TA_FIELDS_H
#define TA_FIELDS_H

#include <string.h>

#include "ta.h"

/* op->fields, or for an op that leaves them NULL the agent's own set: for a file-layer op
 * (POSIX, stdio) the fields of its I/O kind, in the order trace.json has always written
 * them (fd, path, the second string, bytes, offset, ret, errno, unfinished); for a
 * counter its value; none for an op named by its string (a marker). agent/fields.c. */
const struct ta_field *ta_op_fields(const struct ta_op *op, unsigned *n);

/* Bytes a value of type t takes (a TEXT: at least one; TRUE: none). */
static inline unsigned ta_field_size(unsigned t)
{
    switch (t) {
    case TA_FT_I64: case TA_FT_U64: case TA_FT_F64: return 8;
    case TA_FT_I32: case TA_FT_U32: case TA_FT_STR: return 4;
    case TA_FT_U16: return 2;
    case TA_FT_DIM3: return 12;
    case TA_FT_TEXT: return 1;
    default: return 0;
    }
}

/* Where the field's value lies, or NULL when the event does not carry it: its flag bits
 * are not all set, it lies past the continued payload, or (a STR) its id is 0. The
 * pointer may be unaligned: read it with memcpy. */
static inline const unsigned char *ta_field_at(const struct ta_event *ev, const struct ta_field *f)
{
    const struct ta_rec *r = ev->rec;
    if (!r || (r->flags & f->flag) != f->flag)
        return NULL;
    unsigned size = ta_field_size(f->type);
    const unsigned char *p;
    if (f->offset >= 64) {
        uint32_t n = f->offset - 64u;
        if (!ev->ext || n + size > ev->ext_len)
            return NULL;
        p = ev->ext + n;
    } else {
        if (f->offset + size > 64 || f->type == TA_FT_TEXT)
            return NULL; /* TEXT lives in the continued payload only */
        p = (const unsigned char *)r + f->offset;
    }
    if (f->type == TA_FT_STR) {
        uint32_t id;
        memcpy(&id, p, 4);
        if (!id)
            return NULL;
    }
    return p;
}

/* An integer field's value (a double's, truncated) in *v: 0 when absent or not a number. */
static inline int ta_field_i64(const struct ta_event *ev, const struct ta_field *f, int64_t *v)
{
    const unsigned char *p = ta_field_at(ev, f);
    if (!p)
        return 0;
    switch (f->type) {
    case TA_FT_I64: memcpy(v, p, 8); return 1;
    case TA_FT_U64: { uint64_t x; memcpy(&x, p, 8); *v = x > INT64_MAX ? INT64_MAX : (int64_t)x; return 1; }
    case TA_FT_I32: { int32_t x; memcpy(&x, p, 4); *v = x; return 1; }
    case TA_FT_U32: { uint32_t x; memcpy(&x, p, 4); *v = x; return 1; }
    case TA_FT_U16: { uint16_t x; memcpy(&x, p, 2); *v = x; return 1; }
    case TA_FT_F64: { double x; memcpy(&x, p, 8); *v = x == x ? (int64_t)x : 0; return 1; }
    default: return 0;
    }
}

/* A numeric field's value as a double in *v: 0 when absent or not a number. */
static inline int ta_field_f64(const struct ta_event *ev, const struct ta_field *f, double *v)
{
    if (f->type == TA_FT_F64) {
        const unsigned char *p = ta_field_at(ev, f);
        if (!p)
            return 0;
        memcpy(v, p, 8);
        return 1;
    }
    int64_t x;
    if (f->type == TA_FT_U64) { /* beyond INT64_MAX too */
        const unsigned char *p = ta_field_at(ev, f);
        uint64_t u;
        if (!p)
            return 0;
        memcpy(&u, p, 8);
        *v = (double)u;
        return 1;
    }
    if (!ta_field_i64(ev, f, &x))
        return 0;
    *v = (double)x;
    return 1;
}

/* A STR field's text (interned: one pointer per text for the life of the process), or
 * NULL when absent. */
static inline const char *ta_field_str(const struct ta_event *ev, const struct ta_field *f)
{
    if (f->type != TA_FT_STR)
        return NULL;
    const unsigned char *p = ta_field_at(ev, f);
    uint32_t id;
    if (!p)
        return NULL;
    memcpy(&id, p, 4);
    return ta_str(id);
}

#endif
