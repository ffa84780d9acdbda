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
    if (__builtin_expect(n > b->cap - b->len, 0)) {
        /* apart, so that the common copy keeps a literal's constant size (not a call) */
        memcpy(b->p + b->len, s, b->cap - b->len);
        b->len = b->cap;
        return;
    }
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

/* Unchecked number formatting at p, for writers that have made sure of the room
 * (TA_NUM_MAX bytes); each returns the end. Digits come two at a time from one table and,
 * past 8 digits, in independent 8-digit groups (32-bit arithmetic), not one long chain of
 * divisions: timestamps are most of what the drainer formats (bench/NOTES.md, row 42).
 * The text is what printf's %llu / %lld gives. */
#define TA_NUM_MAX 24
extern const char ta_digit_pairs[201];
/* "000." to "999.": entry v at 4 * v, so that "ddd" and the decimal point of a time stamp
 * are one 4-byte move, and its last three digits another (its fourth byte is written over
 * by what follows) */
extern const char ta_digit_triples[4001];

static inline char *ta_fmt_2(char *p, unsigned v) /* 00..99 */
{
    memcpy(p, ta_digit_pairs + 2 * v, 2);
    return p + 2;
}

static inline char *ta_fmt_3(char *p, unsigned v) /* 000..999 */
{
    p[0] = (char)('0' + v / 100);
    return ta_fmt_2(p + 1, v % 100);
}

static inline void ta_fmt_8(char *p, uint32_t v) /* 00000000..99999999 */
{
    uint32_t a = v / 10000, b = v % 10000;
    ta_fmt_2(p, a / 100);
    ta_fmt_2(p + 2, a % 100);
    ta_fmt_2(p + 4, b / 100);
    ta_fmt_2(p + 6, b % 100);
}

static inline unsigned ta_u64_digits(uint64_t v)
{
    static const uint64_t pow10[20] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
        10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};
    uint64_t w = v | 1; /* the same count: 0 has one digit, and v | 1 crosses no power of 10 */
    unsigned t = (unsigned)(64 - __builtin_clzll(w)) * 1233 >> 12;
    return t + 1 - (w < pow10[t]);
}

static inline char *ta_fmt_u64(char *p, uint64_t v)
{
    if (v < 100) {
        if (v < 10) {
            *p = (char)('0' + v);
            return p + 1;
        }
        return ta_fmt_2(p, (unsigned)v);
    }
    char *end = p + ta_u64_digits(v), *q = end;
    while (v >= 100000000) {
        q -= 8;
        ta_fmt_8(q, (uint32_t)(v % 100000000));
        v /= 100000000;
    }
    uint32_t w = (uint32_t)v;
    while (w >= 100) {
        q -= 2;
        ta_fmt_2(q, w % 100);
        w /= 100;
    }
    if (w >= 10)
        ta_fmt_2(q - 2, w);
    else
        q[-1] = (char)('0' + w);
    return end;
}

static inline char *ta_fmt_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return ta_fmt_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return ta_fmt_u64(p, (uint64_t)v);
}

/* ns as microseconds with 3 decimals (ta_buf_us) */
static inline char *ta_fmt_us(char *p, uint64_t ns)
{
    p = ta_fmt_u64(p, ns / 1000);
    *p = '.';
    return ta_fmt_3(p + 1, (unsigned)(ns % 1000));
}

#endif
