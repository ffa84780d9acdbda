/* Unit test of ta_fmt and ta_log (agent/log.c, linked in with stubs): every buffer size
 * around the text's length, against the C library's snprintf. A text longer than its
 * buffer once looped forever (PUT(*s++) did not advance s when full; %c skipped its
 * va_arg): run under `timeout`. Prints one "ok"/"not ok" line per check. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta.h"

struct ta_config ta_cfg;
static char logged[8192];
static size_t nlogged;
long ta_sys_write(int fd, const void *buf, size_t n)
{
    (void)fd;
    if (nlogged + n <= sizeof logged) {
        memcpy(logged + nlogged, buf, n);
        nlogged += n;
    }
    return (long)n;
}

static int fails;
static void check(int cond, const char *what)
{
    printf("%s - %s\n", cond ? "ok" : "not ok", what);
    fails += !cond;
}

/* One format at every buffer size 0 .. len+3, with a canary past the end. */
static int same(const char *what, const char *fmt, ...)
{
    char want[20000], got[20000];
    va_list ap;
    va_start(ap, fmt);
    int wl = vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    int bad = 0;
    for (size_t n = 0; n <= (size_t)wl + 3 && !bad; n++) {
        memset(got, 'Z', sizeof got);
        va_start(ap, fmt);
        /* ta_fmt has no va_list form: the formats here take at most 4 arguments */
        void *a[4];
        for (int i = 0; i < 4; i++)
            a[i] = va_arg(ap, void *);
        va_end(ap);
        int r = ta_fmt(got, n, fmt, a[0], a[1], a[2], a[3]);
        if (r != wl) {
            printf("# %s: n=%zu returned %d, want %d\n", what, n, r, wl);
            bad = 1;
        } else if (n && (strncmp(got, want, n - 1) || got[n - 1 < (size_t)wl ? n - 1 : (size_t)wl])) {
            printf("# %s: n=%zu text differs\n", what, n);
            bad = 1;
        } else if (got[n] != 'Z' || (n == 0 && got[0] != 'Z')) {
            printf("# %s: n=%zu wrote past the buffer\n", what, n);
            bad = 1;
        }
    }
    check(!bad, what);
    return bad;
}

int main(void)
{
    static char big[9000];
    memset(big, 'x', sizeof big - 1);
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + i % 26);
    same("plain text at every size", "hello, world");
    same("%s at every size (the old hang)", "%s", "a string of some length");
    same("%s then more text", "<%s>%s|", "abcdefghij", "klm");
    same("%c past the end consumes its argument", "%c%c%c%c", 'a', 'b', 'c', 'd');
    same("%c then %s past the end", "%c%c%s", 'x', 'y', "after the chars");
    same("numbers", "%d %u %x %ld", -12345, 678u, 0xbeefu, -9876543210l);
    same("%lld %llu %zu", "%lld %llu %zu", -1ll << 62, ~0ull, (size_t)123456789);
    same("%% and %s", "100%% of %s", "it");
    /* around a 1 KiB and a 4 KiB buffer, as the agent's are */
    char s[5000];
    int bad = 0;
    for (size_t len = 1000; len <= 1050 && !bad; len++) {
        memcpy(s, big, len);
        s[len] = 0;
        char out[1024];
        memset(out, 0, sizeof out);
        int r = ta_fmt(out, sizeof out, "%s", s);
        bad = r != (int)len || strlen(out) != (len < 1024 ? len : 1023) || strncmp(out, s, strlen(out));
    }
    check(!bad, "strings of 1000-1050 bytes into 1024");
    bad = 0;
    for (size_t len = 4080; len <= 4110 && !bad; len++) {
        memcpy(s, big, len);
        s[len] = 0;
        char out[4096];
        int r = ta_fmt(out, sizeof out, "%s/%s", s, "traceagent-out");
        size_t want = len + 15;
        bad = r != (int)want || strlen(out) != (want < 4096 ? want : 4095);
    }
    check(!bad, "cwd-like strings of 4080-4110 bytes + a name into 4096");
    char one[1];
    check(ta_fmt(one, 1, "%s", big) == (int)strlen(big) && one[0] == 0, "a 9 KB string into 1 byte");
    check(ta_fmt(NULL, 0, "%s%c", big, 'q') == (int)strlen(big) + 1, "size 0, NULL buffer");
    const char *lone = "abc%"; /* not a literal: gcc would warn */
    check(ta_fmt(s, sizeof s, lone) == 3 && !strcmp(s, "abc"), "a lone % at the end");

    /* ta_log: one line, cut at its 1 KiB buffer, marked, newline-terminated */
    ta_cfg.log_level = TA_LOG_WARN;
    for (size_t len = 900; len <= 1100; len += 7) {
        memcpy(s, big, len);
        s[len] = 0;
        nlogged = 0;
        ta_log(TA_LOG_WARN, "TRACEAGENT_TRACE=%s: %s", s, "bad");
        if (nlogged == 0 || nlogged > 1024 || logged[nlogged - 1] != '\n' ||
            memchr(logged, '\n', nlogged) != logged + nlogged - 1) {
            printf("# ta_log at %zu: %zu bytes\n", len, nlogged);
            bad = 1;
        }
    }
    check(!bad, "ta_log of 900-1100 byte values: one line of at most 1 KiB");
    memcpy(s, big, 2000);
    s[2000] = 0;
    nlogged = 0;
    ta_log(TA_LOG_WARN, "%s", s);
    check(nlogged > 1000 && nlogged <= 1024 && !memcmp(logged + nlogged - 4, "...\n", 4), "a cut log line ends with ...");
    nlogged = 0;
    ta_log(TA_LOG_INFO, "%s", "quiet");
    check(nlogged == 0, "below the level: nothing written");
    return fails != 0;
}
