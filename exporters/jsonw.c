/* JSON writing without malloc or stdio; see jsonw.h. */
#include "jsonw.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../agent/ta.h"

void ta_buf_init(struct ta_buf *b, char *mem, size_t cap, int fd)
{
    b->p = mem;
    b->len = 0;
    b->cap = cap;
    b->fd = fd;
    b->failed = 0;
    b->written = 0;
    b->limit = 0;
    b->reserve = 0;
    b->full = 0;
    b->whole = 0;
    b->suffix = NULL;
}

/* RLIMIT_FSIZE now; 0 when there is none */
static uint64_t fsize_limit(void)
{
    struct rlimit rl;
    if (syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return rl.rlim_cur ? (uint64_t)rl.rlim_cur : 1; /* 0: not one byte may be written */
}

void ta_buf_file(struct ta_buf *b, const char *suffix, size_t reserve, int whole)
{
    b->suffix = suffix;
    b->reserve = reserve;
    b->whole = whole; /* the limit is read before each write (flush) */
}

/* One warning per process for a file that stops short (the first; the others at info). */
static int warned;

static void stopped(struct ta_buf *b, int err)
{
    char path[sizeof ta_proc.stem + 32];
    ta_fmt(path, sizeof path, "%s%s", ta_proc.stem, b->suffix ? b->suffix : "");
    int lvl = warned++ ? TA_LOG_INFO : TA_LOG_WARN;
    if (b->whole || !b->written) {
        /* a JSON document cut short is of no use to anyone, nor is an empty file: none
         * rather than half */
        syscall(SYS_ftruncate, b->fd, 0);
        syscall(SYS_unlinkat, AT_FDCWD, path, 0);
        b->written = 0;
        b->failed = 1;
    }
    const char *end = !b->written ? "not written" : "it ends at its last whole line";
    if (err == EFBIG)
        ta_log(lvl, "%s: the file size limit (ulimit -f, %llu bytes) is reached: %s; the "
               "program runs on", path, (unsigned long long)b->limit, end);
    else
        ta_log(lvl, "%s: write failed (errno %d%s): %s; nothing more is written to it", path,
               err, err == ENOSPC || err == EDQUOT ? ", the disk is full" : "", end);
}

/* Up to n bytes from p (n within the limit); what was written. */
static size_t write_some(int fd, const char *p, size_t n, int *err)
{
    size_t done = 0;
    while (done < n) {
        long r = syscall(SYS_write, fd, p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *err = r < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)r;
    }
    return done;
}

/* The length of the whole lines in p[0, n) */
static size_t whole_lines(const char *p, size_t n)
{
    while (n && p[n - 1] != '\n')
        n--;
    return n;
}

static void flush(struct ta_buf *b, int final)
{
    size_t n = b->len;
    b->len = 0;
    if (!n || b->fd < 0 || b->failed || (b->full && !final))
        return;
    int err = 0;
    /* read at each write: the program may lower it (setrlimit, prlimit), and a write from
     * its own thread (the exit, a fatal signal) that starts past it kills it with SIGXFSZ;
     * one system call beside each write(2) of up to half a MiB */
    if (b->suffix)
        b->limit = fsize_limit();
    if (b->limit) {
        /* never the write that passes the limit: it would kill the program (SIGXFSZ) */
        uint64_t room = b->limit > b->written ? b->limit - b->written : 0;
        if (!final)
            room = room > b->reserve ? room - b->reserve : 0;
        if (n > room) {
            n = b->whole ? 0 : whole_lines(b->p, (size_t)room);
            err = EFBIG;
        }
    }
    size_t done = write_some(b->fd, b->p, n, &err);
    if (done < n) {
        /* a short write (disk full): back to the last whole line */
        size_t keep = whole_lines(b->p, done);
        if (keep < done) {
            /* and the offset with it: a later write (the close, within the reserve, after
             * the size limit) must not leave a gap of zero bytes */
            syscall(SYS_ftruncate, b->fd, (long)(b->written + keep));
            syscall(SYS_lseek, b->fd, (long)(b->written + keep), SEEK_SET);
        }
        done = keep;
    }
    b->written += done;
    if (!err)
        return;
    if (err == EFBIG && !b->whole && !final) {
        b->full = 1; /* the final flush may still close the file within the reserve */
    } else {
        b->failed = 1;
    }
    stopped(b, err);
}

void ta_buf_flush(struct ta_buf *b) { flush(b, 0); }
void ta_buf_flush_final(struct ta_buf *b) { flush(b, 1); }

void ta_buf_line_end(struct ta_buf *b)
{
    if (b->len > b->cap / 2)
        ta_buf_flush(b);
}

void ta_buf_cstr(struct ta_buf *b, const char *s) { ta_buf_put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* Bytes that go out as they are: printable ASCII but the quote and the backslash. */
static const uint8_t plain[256] = {
    [0x20 ... 0x21] = 1, /* 0x22 is the quote */
    [0x23 ... 0x5b] = 1, /* 0x5c is the backslash */
    [0x5d ... 0x7e] = 1,
};

void ta_buf_jstrn(struct ta_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    int cut = 0;
    if (n > TA_JSON_MAX_STR) {
        n = TA_JSON_MAX_STR;
        cut = 1;
    }
    ta_buf_char(b, '"');
    size_t i = 0;
    while (i < n) {
        /* the common case, a path or a name in plain ASCII: one copy per run */
        size_t j = i;
        while (j < n && plain[s[j]])
            j++;
        if (j > i) {
            ta_buf_put(b, (const char *)s + i, j - i);
            i = j;
            if (i == n)
                break;
        }
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ta_buf_put(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            switch (c) {
            case '\n': ta_buf_put(b, "\\n", 2); break;
            case '\t': ta_buf_put(b, "\\t", 2); break;
            case '\r': ta_buf_put(b, "\\r", 2); break;
            default: ta_buf_put(b, e, 6);
            }
            i++;
        } else {
            size_t k = utf8_valid(s + i, n - i);
            if (k) {
                ta_buf_put(b, (const char *)s + i, k);
                i += k;
            } else {
                ta_buf_put(b, "\\ufffd", 6);
                i++;
            }
        }
    }
    if (cut)
        ta_buf_put(b, "...", 3);
    ta_buf_char(b, '"');
}

void ta_buf_jstr(struct ta_buf *b, const char *s)
{
    if (!s) {
        ta_buf_put(b, "null", 4);
        return;
    }
    ta_buf_jstrn(b, s, strlen(s));
}

const char ta_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930"
    "31323334353637383940414243444546474849505152535455565758596061"
    "62636465666768697071727374757677787980818283848586878889909192"
    "93949596979899";

void ta_buf_u64(struct ta_buf *b, uint64_t v)
{
    if (ta_likely(b->cap - b->len >= TA_NUM_MAX)) {
        b->len = (size_t)(ta_fmt_u64(b->p + b->len, v) - b->p);
        return;
    }
    char tmp[TA_NUM_MAX];
    ta_buf_put(b, tmp, (size_t)(ta_fmt_u64(tmp, v) - tmp));
}

void ta_buf_i64(struct ta_buf *b, int64_t v)
{
    if (v < 0) {
        ta_buf_char(b, '-');
        ta_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        ta_buf_u64(b, (uint64_t)v);
    }
}

void ta_buf_us(struct ta_buf *b, uint64_t ns)
{
    if (ta_likely(b->cap - b->len >= TA_NUM_MAX + 4)) {
        b->len = (size_t)(ta_fmt_us(b->p + b->len, ns) - b->p);
        return;
    }
    char tmp[TA_NUM_MAX + 4];
    ta_buf_put(b, tmp, (size_t)(ta_fmt_us(tmp, ns) - tmp));
}

/* v >= 2^64, finite: d.dddddddddddddddde+N, 17 significant digits (what %.17g gives, which
 * this does without snprintf: exporters may run in a fatal-signal handler). Scaled in long
 * double (a 64-bit mantissa on x86-64: a few roundings stay below the double's last place);
 * a counter of -1e300 was once written as -0 (the cast to uint64_t overflowed). */
static void ta_buf_big(struct ta_buf *b, double v)
{
    long double x = v;
    int e = 16;
    while (x >= 1e117L) {
        x /= 1e100L;
        e += 100;
    }
    while (x >= 1e27L) {
        x /= 1e10L;
        e += 10;
    }
    while (x >= 1e17L) {
        x /= 10;
        e++;
    }
    uint64_t u = (uint64_t)(x + 0.5L);
    if (u >= 100000000000000000ull) {
        u /= 10;
        e++;
    }
    char d[17];
    for (int i = 16; i >= 0; i--) {
        d[i] = (char)('0' + u % 10);
        u /= 10;
    }
    int n = 17;
    while (n > 1 && d[n - 1] == '0')
        n--;
    ta_buf_char(b, d[0]);
    if (n > 1) {
        ta_buf_char(b, '.');
        ta_buf_put(b, d + 1, (size_t)(n - 1));
    }
    ta_buf_put(b, "e+", 2);
    ta_buf_u64(b, (uint64_t)e);
}

void ta_buf_dbl(struct ta_buf *b, double v)
{
    if (v != v || v - v != 0) { /* NaN, inf */
        ta_buf_put(b, "null", 4);
        return;
    }
    if (v > -9e15 && v < 9e15 && v == (double)(int64_t)v) {
        ta_buf_i64(b, (int64_t)v);
        return;
    }
    /* fixed point with up to 6 significant decimals after the point */
    if (v < 0) {
        ta_buf_char(b, '-');
        v = -v;
    }
    if (v >= 18446744073709551616.0) { /* past uint64_t (2^64): 17 digits and exponent */
        ta_buf_big(b, v);
        return;
    }
    if (v >= 9e15) { /* large: integer part is enough (such doubles are integers) */
        ta_buf_u64(b, (uint64_t)v);
        return;
    }
    uint64_t ip = (uint64_t)v;
    double f = v - (double)ip;
    uint64_t fp = (uint64_t)(f * 1e6 + 0.5);
    if (fp >= 1000000) {
        ip++;
        fp -= 1000000;
    }
    ta_buf_u64(b, ip);
    if (fp) {
        char d[7];
        d[0] = '.';
        for (int i = 6; i >= 1; i--) {
            d[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        int n = 7;
        while (n > 1 && d[n - 1] == '0')
            n--;
        ta_buf_put(b, d, n);
    }
}
