/* Logging that is safe inside a wrapper and a signal handler: a fixed buffer, one write(2),
 * errno saved and restored, a "traceagent[pid]:" prefix, gated by TRACEAGENT_LOG. */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "ta.h"

/* As snprintf: writes at most n bytes (NUL included), returns the length the whole text
 * has. PUT evaluates its argument exactly once, room or not: `PUT(*s++)` must advance `s`
 * (a text longer than its buffer once looped forever there), `PUT(va_arg(...))` must
 * consume its argument. */
int ta_vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
    size_t o = 0;
#define PUT(c) do { char c_ = (char)(c); if (o + 1 < n) buf[o] = c_; o++; } while (0)
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            PUT(*f);
            continue;
        }
        if (!*++f) /* a lone '%' at the end */
            break;
        int lng = 0, sz = 0;
        while (*f == 'l') { lng++; f++; }
        if (*f == 'z') { sz = 1; f++; }
        char tmp[24];
        int k = 0;
        unsigned long long u = 0;
        int neg = 0, base = 10;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            while (*s) PUT(*s++);
            continue;
        }
        case 'c': PUT((char)va_arg(ap, int)); continue;
        case '%': PUT('%'); continue;
        case 'd': {
            long long v = lng ? (lng > 1 ? va_arg(ap, long long) : va_arg(ap, long)) : va_arg(ap, int);
            if (v < 0) { neg = 1; u = 0ull - (unsigned long long)v; } else u = (unsigned long long)v;
            break;
        }
        case 'u': case 'x':
            u = sz ? va_arg(ap, size_t) : lng ? (lng > 1 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned long)) : va_arg(ap, unsigned);
            base = *f == 'x' ? 16 : 10;
            break;
        case 'p': u = (uintptr_t)va_arg(ap, void *); base = 16; PUT('0'); PUT('x'); break;
        default: PUT('?'); continue;
        }
        do { tmp[k++] = "0123456789abcdef"[u % base]; u /= base; } while (u);
        if (neg) PUT('-');
        while (k) PUT(tmp[--k]);
    }
    if (n) buf[o < n ? o : n - 1] = 0;
#undef PUT
    return (int)o;
}

int ta_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = ta_vfmt(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

void ta_log(int level, const char *fmt, ...)
{
    if (level > ta_cfg.log_level)
        return;
    int saved = errno;
    static const char *const lv[] = {"error", "warning", "info", "debug"};
    char buf[1024];
    int o = ta_fmt(buf, sizeof buf, "traceagent[%d]: %s: ", (int)getpid(), lv[level]);
    va_list ap;
    va_start(ap, fmt);
    if (o < (int)sizeof buf)
        o += ta_vfmt(buf + o, sizeof buf - o, fmt, ap);
    va_end(ap);
    if (o > (int)sizeof buf - 2) { /* cut: say so */
        o = sizeof buf - 2;
        memcpy(buf + o - 3, "...", 3);
    }
    buf[o++] = '\n';
    ta_sys_write(2, buf, o);
    errno = saved;
}
