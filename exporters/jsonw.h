/* A small JSON writer over a fixed buffer that flushes whole lines to a file descriptor.
 * No malloc, no stdio, no locale: safe in the drainer and in a fatal-signal handler. */
#ifndef TA_JSONW_H
#define TA_JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ta_buf {
    char *p;
    size_t len, cap;
    int fd;        /* where ta_buf_flush writes; -1 = nowhere (output dropped) */
    int failed;    /* a write failed; further output is discarded */
    uint64_t written; /* bytes written to fd so far (the file's size: created new) */
    /* A file (ta_buf_file): the size it must stay within (RLIMIT_FSIZE, read at each
     * write; 0: none), of which `reserve` bytes are kept for the final flush;
     * `full`: the limit was reached, only the final flush writes. */
    uint64_t limit;
    size_t reserve;
    int full;
    int whole;          /* all or nothing (a JSON document): on failure the file is removed */
    const char *suffix; /* "<stem><suffix>" names the file in warnings */
};

#define TA_JSON_MAX_STR 4096 /* longer strings are cut (at a UTF-8 boundary) and marked */

void ta_buf_init(struct ta_buf *b, char *mem, size_t cap, int fd);

/* Inline, so that a literal's copy is a constant-size move, not a call. A single line never
 * outgrows the buffer (strings are capped at TA_JSON_MAX_STR and the buffer is written out
 * at line ends past half full); if it did, the line is cut rather than written in part. */
static inline void ta_buf_put(struct ta_buf *b, const char *s, size_t n)
{
    if (__builtin_expect(n > b->cap - b->len, 0))
        n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void ta_buf_char(struct ta_buf *b, char c)
{
    if (__builtin_expect(b->len < b->cap, 1))
        b->p[b->len++] = c;
}
void ta_buf_cstr(struct ta_buf *b, const char *s);  /* raw, no quoting */
#define ta_buf_lit(b, lit) ta_buf_put(b, "" lit, sizeof(lit) - 1) /* a string literal */
/* "quoted", escaped: \" \\ control characters as \u00XX, invalid UTF-8 as \ufffd */
void ta_buf_jstr(struct ta_buf *b, const char *s);
void ta_buf_jstrn(struct ta_buf *b, const char *s, size_t n);
void ta_buf_u64(struct ta_buf *b, uint64_t v);
void ta_buf_i64(struct ta_buf *b, int64_t v);
void ta_buf_us(struct ta_buf *b, uint64_t ns); /* ns as microseconds with 3 decimals */
void ta_buf_dbl(struct ta_buf *b, double v);   /* %.6g-like; NaN/inf as null */
/* b writes to the agent's file <stem><suffix>: RLIMIT_FSIZE is respected (the file never
 * grows past it: no SIGXFSZ), a failed write (ENOSPC) leaves the file at its last whole
 * line, or removed when `whole`; each says so in one warning. */
void ta_buf_file(struct ta_buf *b, const char *suffix, size_t reserve, int whole);
/* Write out what is buffered (whole lines only, when called at a line end). */
void ta_buf_flush(struct ta_buf *b);
/* The last flush of a file: may use the reserve. */
void ta_buf_flush_final(struct ta_buf *b);
/* Call at the end of each line: flushes when the buffer is more than half full. */
void ta_buf_line_end(struct ta_buf *b);

#endif
