/* The agent's own field sets: what the built-in file-layer ops (POSIX, stdio), which leave
 * `fields` NULL, carry in their records. The order is the order of trace.json's args, so
 * the trace reads the same as when the exporters knew these members by name. */
#include "fields.h"

/* fd, path, the second string (named by the I/O kind), bytes, offset, ret, errno,
 * unfinished: the record's io arm is {ret, bytes, offset}. */
#define IO_FIELDS(key2, role2)                                                     \
    {                                                                              \
        {"fd", TA_FT_I32, TA_ROLE_FD, TA_OFF_FD, TA_F_FD},                         \
        {"path", TA_FT_STR, TA_ROLE_PATH, TA_OFF_STR, 0},                          \
        {key2, TA_FT_STR, role2, TA_OFF_STR2, 0},                                  \
        {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES},            \
        {"offset", TA_FT_I64, TA_ROLE_OFFSET, TA_OFF_U64(2), TA_F_OFFSET},         \
        {"ret", TA_FT_I64, TA_ROLE_RET, TA_OFF_U64(0), TA_F_RET},                  \
        {"errno", TA_FT_U16, TA_ROLE_ERRNO, TA_OFF_ERR, TA_F_ERR},                 \
        {"unfinished", TA_FT_TRUE, TA_ROLE_UNFINISHED, 0, TA_F_UNFINISHED},        \
    }

static const struct ta_field io_fields[] = IO_FIELDS("detail", TA_ROLE_NONE);
static const struct ta_field meta_fields[] = IO_FIELDS("path2", TA_ROLE_PATH2);
static const struct ta_field copy_fields[] = IO_FIELDS("path_out", TA_ROLE_PATH_OUT);
static const struct ta_field counter_fields[] = {
    {"value", TA_FT_F64, TA_ROLE_COUNTER, TA_OFF_U64(0), 0}};

#define N(a) (unsigned)(sizeof a / sizeof a[0])

const struct ta_field *ta_op_fields(const struct ta_op *op, unsigned *n)
{
    if (op->fields) {
        *n = op->nfields;
        return op->fields;
    }
    if (op->shape == TA_SHAPE_COUNTER) {
        *n = N(counter_fields);
        return counter_fields;
    }
    if (op->name_from_str) { /* its string is its name, not a path */
        *n = 0;
        return NULL;
    }
    switch (op->io) {
    case TA_IO_META: *n = N(meta_fields); return meta_fields;
    case TA_IO_COPY: *n = N(copy_fields); return copy_fields;
    default: *n = N(io_fields); return io_fields;
    }
}
