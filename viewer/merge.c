/* traceagent merge: one trace from the per-process trace files of a run, so that one file
 * opens the whole run (a pipeline, the ranks of a job) in Perfetto, chrome://tracing or
 * speedscope.
 *
 * Streamed: event lines are copied as they are, through two fixed buffers, so memory does
 * not grow with the traces' size (bench/NOTES.md has the figures). What is rewritten:
 *   - each process's `process_name` (the agent writes "exe (pid)"): the command and the
 *     rank, "python3 train.py (rank 3)", and a `process_sort_index` by start time;
 *   - `pid` and `tid` of a process whose pid another process of the run already has (two
 *     hosts, or pid reuse): both get + k * 2^22 (above any Linux pid_max), the same for all
 *     lines of that file, so its threads stay its own;
 *   - `ts` of the processes of a second host: each host's monotonic clock is put on the
 *     first host's by the wall-clock anchor (stats.json `process.clock`, or the trace's
 *     `process_start` event: the same instant read on both clocks). One host needs nothing:
 *     its processes share one monotonic clock.
 *   - `"sf":N` (stack frame ids of a trace written with stacks: the frame tables are per
 *     file and are not carried over; args.stack keeps the stack's text).
 * Output: strict JSON, array form, closed. An input cut short (a crash, a kill) is read to
 * its last whole line, with a note on stderr. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "merge.h"

#define PID_STRIDE (1LL << 22) /* above /proc/sys/kernel/pid_max's largest value */
#define RBUF (1 << 20)
#define WBUF (1 << 20)
/* A longer line is skipped (not an event the agent writes; e.g. a tail of zeros without a
 * newline): the read buffer grows up to this, not with the file. */
#define MAXLINE (16u << 20)

struct mproc {
    char *trace;   /* path */
    char *name;    /* the process_name to write */
    char host[256];
    long long pid, delta;   /* pid as written; delta added to pid and tid */
    long long ppid;
    long long first_real;   /* the start of the first image of this pid (exec chain) */
    int named;              /* writes the process_name (the last image of the chain) */
    long long mono, real;   /* anchor: the same instant, ns; real = 0 when unknown */
    long long shift;        /* ns added to ts */
    int rank;
    int order;
};

/* ---------------------------------------------------------------------------------- */
/* Output: one buffer, write(2) */

struct wout {
    int fd;
    char *buf;
    size_t len;
    int err;
};

static void w_flush(struct wout *w)
{
    size_t off = 0;
    while (off < w->len && !w->err) {
        ssize_t r = write(w->fd, w->buf + off, w->len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            w->err = errno ? errno : EIO;
        else
            off += (size_t)r;
    }
    w->len = 0;
}

static void w_put(struct wout *w, const char *s, size_t n)
{
    if (w->len + n > WBUF) {
        w_flush(w);
        if (n > WBUF) {
            size_t off = 0;
            while (off < n && !w->err) {
                ssize_t r = write(w->fd, s + off, n - off);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    w->err = errno ? errno : EIO;
                else
                    off += (size_t)r;
            }
            return;
        }
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void w_str(struct wout *w, const char *s) { w_put(w, s, strlen(s)); }

static void w_jstr(struct wout *w, const char *s)
{
    w_put(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            w_put(w, e, 2);
        } else if (*p < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", *p);
            w_put(w, e, 6);
        } else {
            w_put(w, (const char *)p, 1);
        }
    }
    w_put(w, "\"", 1);
}

static void w_ll(struct wout *w, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    w_put(w, b, (size_t)n);
}

/* ---------------------------------------------------------------------------------- */
/* Input: whole lines from a read(2) buffer */

struct rin {
    int fd;
    char *buf;
    size_t cap, start, end;
    int eof;
    int skipping;       /* inside a line over MAXLINE: dropped up to its '\n' */
    long long skipped;  /* such lines */
};

/* The next line (without its '\n') in *line, *len; 1: a line, 0: end, -1: a last line
 * without its '\n' (the file was cut short), given in *line too. */
static int r_line(struct rin *r, char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl && r->skipping) { /* the end of an overlong line: drop it */
            r->start = (size_t)(nl - r->buf) + 1;
            r->skipping = 0;
            r->skipped++;
            continue;
        }
        if (nl) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - *line);
            r->start = (size_t)(nl - r->buf) + 1;
            return 1;
        }
        if (r->skipping) { /* drop what is read of it so far */
            r->start = r->end = 0;
            if (r->eof) {
                r->skipping = 0;
                r->skipped++;
                return 0;
            }
        }
        if (r->eof) {
            if (r->end > r->start) {
                *line = r->buf + r->start;
                *len = r->end - r->start;
                r->start = r->end;
                return -1;
            }
            return 0;
        }
        /* keep the partial line, read more behind it */
        if (r->start) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == r->cap && r->cap >= MAXLINE) { /* overlong: skip it */
            r->skipping = 1;
            r->start = r->end = 0;
        } else if (r->end == r->cap) { /* a line longer than the buffer: grow (rare) */
            char *nb = realloc(r->buf, r->cap * 2);
            if (!nb) {
                r->eof = 1;
                continue;
            }
            r->buf = nb;
            r->cap *= 2;
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r->eof = 1;
        else
            r->end += (size_t)n;
    }
}

/* ---------------------------------------------------------------------------------- */
/* What each process is: from its stats file, else from the trace's first lines */

static char *slurp(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *b = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max &&
        (b = malloc((size_t)st.st_size + 1))) {
        size_t len = 0;
        ssize_t r;
        while (len < (size_t)st.st_size &&
               (r = read(fd, b + len, (size_t)st.st_size - len)) > 0)
            len += (size_t)r;
        b[len] = 0;
    }
    close(fd);
    return b;
}

static long long jnum(const cJSON *o, const char *k, long long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : dflt;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The integer after `key` (e.g. "\"pid\":") in a line; 0 with *at = NULL when absent. */
static long long line_int(const char *l, size_t n, const char *key, const char **at,
                          const char **end)
{
    size_t kl = strlen(key);
    const char *p = memmem(l, n, key, kl);
    *at = p;
    if (!p)
        return 0;
    p += kl;
    char *e;
    long long v = strtoll(p, &e, 10);
    *end = e;
    return v;
}

/* The integer value of the first "key" in a JSON text, exactly (cJSON keeps numbers as
 * doubles: a realtime in ns since 1970 would lose its last 8 bits). 0 when absent. */
static long long raw_ll(const char *txt, size_t n, const char *key)
{
    char k[64];
    int kl = snprintf(k, sizeof k, "\"%s\"", key);
    const char *p = memmem(txt, n, k, (size_t)kl), *end = txt + n;
    if (!p)
        return 0;
    p += kl;
    while (p < end && (*p == ' ' || *p == ':'))
        p++;
    long long v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        int d = *p++ - '0';
        if (v > (LLONG_MAX - d) / 10)
            return 0; /* does not fit (a damaged file): no anchor rather than a wrapped one */
        v = v * 10 + d;
    }
    return v;
}

/* n, or less: the length of s's first n bytes cut back to a UTF-8 character's start, so
 * that a shortened name stays valid UTF-8 (and strict JSON). */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static void set_name(struct mproc *m, const char *cmd)
{
    char b[160];
    if (strlen(cmd) > 72)
        snprintf(b, sizeof b, "%.*s...", (int)utf8_cut(cmd, 69), cmd);
    else
        snprintf(b, sizeof b, "%.72s", cmd);
    char nm[224];
    if (m->rank >= 0)
        snprintf(nm, sizeof nm, "%s (rank %d)", b, m->rank);
    else
        snprintf(nm, sizeof nm, "%s", b);
    free(m->name);
    m->name = strdup(nm);
}

static int proc_info(struct mproc *m)
{
    m->rank = -1;
    m->pid = -1;
    size_t l = strlen(m->trace);
    char cmd[1024] = "";
    /* the stats file beside it: rank, command, host, anchor */
    char *sp = malloc(l + 8);
    if (sp) {
        snprintf(sp, l + 8, "%.*s.stats.json", (int)(l - 11), m->trace);
        char *txt = slurp(sp, 256u << 20);
        free(sp);
        cJSON *root = txt ? cJSON_Parse(txt) : NULL;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "process");
        if (cJSON_IsObject(p)) {
            m->pid = jnum(p, "pid", -1);
            m->ppid = jnum(p, "ppid", 0);
            m->rank = (int)jnum(p, "rank", -1);
            const char *s = jstr(p, "cmdline");
            if (!s || !*s)
                s = jstr(p, "exe");
            if (s)
                snprintf(cmd, sizeof cmd, "%s", s);
            if ((s = jstr(p, "host")))
                snprintf(m->host, sizeof m->host, "%s", s);
            m->mono = raw_ll(txt, strlen(txt), "monotonic_ns");
            m->real = raw_ll(txt, strlen(txt), "realtime_ns");
        }
        cJSON_Delete(root);
        free(txt);
    }
    /* the trace's head: pid and, without stats, the process_start anchor */
    int fd = open(m->trace, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct rin r = {fd, malloc(64 << 10), 64 << 10, 0, 0, 0, 0, 0};
    if (!r.buf) {
        close(fd);
        return -1;
    }
    char *line;
    size_t n;
    for (int k = 0; k < 16 && r_line(&r, &line, &n) == 1; k++) {
        const char *at, *e;
        if (m->pid < 0) {
            long long v = line_int(line, n, "\"pid\":", &at, &e);
            if (at)
                m->pid = v;
        }
        if (!m->real && memmem(line, n, "\"name\":\"process_start\"", 22)) {
            while (n && (line[n - 1] == ',' || isspace((unsigned char)line[n - 1])))
                n--;
            cJSON *ev = cJSON_ParseWithLength(line, n);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(ev, "args");
            m->mono = raw_ll(line, n, "monotonic_ns");
            m->real = raw_ll(line, n, "realtime_ns");
            if (!m->ppid)
                m->ppid = jnum(a, "ppid", 0);
            const char *s = jstr(a, "host");
            if (s && !*m->host)
                snprintf(m->host, sizeof m->host, "%s", s);
            if (!*cmd && (s = jstr(a, "cmdline")))
                snprintf(cmd, sizeof cmd, "%s", s);
            cJSON_Delete(ev);
        }
    }
    free(r.buf);
    close(fd);
    if (!*cmd) { /* the file's name: <exe>-<pid>.trace.json */
        const char *b = strrchr(m->trace, '/');
        b = b ? b + 1 : m->trace;
        snprintf(cmd, sizeof cmd, "%.*s", (int)(strcspn(b, ".")), b);
        char *dash = strrchr(cmd, '-');
        if (dash)
            *dash = 0;
    }
    set_name(m, cmd);
    return m->pid < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Copying one process's events */

/* ts in the trace: microseconds with up to 3 decimals; as integer ns */
static const char *put_ts(struct wout *w, const char *p, const char *end, long long shift)
{
    long long us = 0, frac = 0;
    int nd = 0, neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    while (p < end && *p >= '0' && *p <= '9')
        us = us * 10 + (*p++ - '0');
    if (p < end && *p == '.') {
        p++;
        while (p < end && *p >= '0' && *p <= '9') {
            if (nd < 3) {
                frac = frac * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
    }
    while (nd++ < 3)
        frac *= 10;
    long long ns = us * 1000 + frac;
    if (neg)
        ns = -ns;
    ns += shift;
    if (ns < 0)
        ns = 0;
    char b[40];
    int n = snprintf(b, sizeof b, "%lld.%03lld", ns / 1000, ns % 1000);
    w_put(w, b, (size_t)n);
    return p;
}

/* Copies line l (n bytes, an event object) with pid/tid + delta, ts + shift, "sf" cut. */
static void put_event(struct wout *w, const char *l, size_t n, const struct mproc *m,
                      int strip_sf)
{
    const char *end = l + n, *p = l;
    if (m->delta) {
        static const char *const keys[] = {"\"pid\":", "\"tid\":"};
        for (int k = 0; k < 2; k++) {
            const char *at, *e;
            long long v = line_int(p, (size_t)(end - p), keys[k], &at, &e);
            if (!at)
                continue;
            at += 6;
            w_put(w, p, (size_t)(at - p));
            w_ll(w, v + m->delta);
            p = e;
        }
    }
    if (m->shift && !(n > 9 && memcmp(l, "{\"ph\":\"M\"", 9) == 0)) {
        const char *at = memmem(p, (size_t)(end - p), "\"ts\":", 5);
        if (at) {
            at += 5;
            w_put(w, p, (size_t)(at - p));
            p = put_ts(w, at, end, m->shift);
        }
    }
    if (strip_sf) {
        const char *at = memmem(p, (size_t)(end - p), ",\"sf\":", 6);
        if (at) {
            w_put(w, p, (size_t)(at - p));
            p = at + 6;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
        }
    }
    w_put(w, p, (size_t)(end - p));
}

static int is_process_name(const char *l, size_t n)
{
    return n > 40 && memcmp(l, "{\"ph\":\"M\"", 9) == 0 &&
           memmem(l, n < 64 ? n : 64, "\"name\":\"process_name\"", 21) != NULL;
}

/* Streams m's events into w. *first: no comma before the next event yet. */
/* *rbuf (*rcap bytes) is the caller's read buffer, kept across files: r_line may grow it
 * (realloc) for a long line, so the grown one is handed back, never freed here. */
static long long copy_events(struct wout *w, const struct mproc *m, int *first, FILE *log,
                             char **rbuf, size_t *rcap)
{
    int fd = open(m->trace, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(log, "traceagent merge: %s: %s\n", m->trace, strerror(errno));
        return -1;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    struct rin r = {fd, *rbuf, *rcap, 0, 0, 0, 0, 0};
    char *line;
    size_t n;
    int rc, closed = 0, strip_sf = 0, lineno = 0;
    long long events = 0, bad = 0;
    while ((rc = r_line(&r, &line, &n)) == 1) {
        lineno++;
        while (n && (line[n - 1] == ',' || line[n - 1] == ' ' || line[n - 1] == '\r' ||
                     line[n - 1] == '\t'))
            n--;
        if (lineno == 1 && n >= 16 && memcmp(line, "{\"traceEvents\":[", 16) == 0) {
            strip_sf = 1; /* the object form (written with stacks) */
            continue;
        }
        if (!n || (n == 1 && line[0] == '['))
            continue;
        if (line[0] == ']') { /* the end of the events (the object form's members follow) */
            closed = 1;
            break;
        }
        if (line[0] != '{' || line[n - 1] != '}') {
            bad++;
            continue;
        }
        if (is_process_name(line, n))
            continue;
        if (!*first)
            w_put(w, ",\n", 2);
        *first = 0;
        put_event(w, line, n, m, strip_sf);
        events++;
    }
    *rbuf = r.buf; /* grown for a long line: the old one is gone */
    *rcap = r.cap;
    close(fd);
    if (rc < 0)
        fprintf(log, "traceagent merge: %s: cut short: read to its last whole line "
                     "(%lld events)\n", m->trace, events);
    else if (!closed)
        fprintf(log, "traceagent merge: %s: has no closing ']' (the process did not end "
                     "cleanly?): %lld events taken\n", m->trace, events);
    if (bad)
        fprintf(log, "traceagent merge: %s: %lld lines that are not events left out\n",
                m->trace, bad);
    if (r.skipped)
        fprintf(log, "traceagent merge: %s: %lld lines over %u MiB left out\n", m->trace,
                r.skipped, MAXLINE >> 20);
    return events;
}

/* ---------------------------------------------------------------------------------- */

static int cmp_start(const void *a, const void *b)
{
    const struct mproc *x = a, *y = b;
    long long tx = x->real ? x->real : LLONG_MAX, ty = y->real ? y->real : LLONG_MAX;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t l = strlen(s), k = strlen(suf);
    return l > k && strcmp(s + l - k, suf) == 0;
}

/* Lines the processes up and writes the merged trace of `paths` to `out` ("-": stdout). */
static int merge_paths(char **paths, size_t np, const char *out, FILE *log)
{
    struct mproc *ps = calloc(np ? np : 1, sizeof *ps);
    if (!ps)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        ps[n].trace = paths[i];
        if (proc_info(&ps[n]) < 0) {
            fprintf(log, "traceagent merge: %s: no events (left out)\n", paths[i]);
            free(ps[n].name);
            ps[n].name = NULL;
            continue;
        }
        n++;
    }
    qsort(ps, n, sizeof *ps, cmp_start);
    /* clocks: the first host's is the timeline; another host's processes are moved by the
     * difference of the two hosts' (realtime - monotonic) at their first process's start */
    int hosts = 0, norder = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(ps[j].host, ps[i].host) != 0)
            j++;
        if (j == i)
            hosts++;
        if (!ps[0].real || !ps[i].real || !strcmp(ps[i].host, ps[0].host)) {
            ps[i].shift = 0;
        } else {
            const struct mproc *h = &ps[j]; /* this host's first process */
            ps[i].shift = (h->real - h->mono) - (ps[0].real - ps[0].mono);
        }
        /* An exec keeps the pid and the ppid: the image before it (a forked shell that
         * then ran `stage A`) and the one after are one process, named by the last. */
        ps[i].named = 1;
        size_t k = i;
        while (k-- > 0)
            if (ps[k].pid == ps[i].pid && ps[k].ppid == ps[i].ppid && ps[i].ppid &&
                !strcmp(ps[k].host, ps[i].host))
                break;
        if (k < i) {
            ps[i].delta = ps[k].delta;
            ps[i].order = ps[k].order;
            ps[k].named = 0;
            continue;
        }
        ps[i].order = norder++;
        /* pids: unique over the run (two hosts, or a pid reused) */
        for (int again = 1; again;) {
            again = 0;
            for (size_t q = 0; q < i; q++)
                if (ps[q].pid + ps[q].delta == ps[i].pid + ps[i].delta) {
                    ps[i].delta += PID_STRIDE;
                    again = 1;
                }
        }
    }
    int fd = 1;
    char *tmp = NULL;
    if (strcmp(out, "-") != 0) {
        size_t l = strlen(out) + 16;
        tmp = malloc(l);
        if (!tmp) {
            free(ps);
            return -1;
        }
        snprintf(tmp, l, "%s.tmp%d", out, (int)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(log, "traceagent merge: %s: %s\n", out, strerror(errno));
            free(tmp);
            free(ps);
            return -1;
        }
    }
    struct wout w = {fd, malloc(WBUF), 0, 0};
    char *rbuf = malloc(RBUF);
    if (!w.buf || !rbuf) {
        free(w.buf);
        free(rbuf);
        if (tmp) {
            close(fd);
            unlink(tmp);
            free(tmp);
        }
        free(ps);
        return -1;
    }
    w_str(&w, "[\n");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        long long pid = ps[i].pid + ps[i].delta;
        if (!ps[i].named)
            continue;
        if (!first)
            w_str(&w, ",\n");
        first = 0;
        w_str(&w, "{\"ph\":\"M\",\"cat\":\"agent\",\"name\":\"process_name\",\"pid\":");
        w_ll(&w, pid);
        w_str(&w, ",\"tid\":");
        w_ll(&w, pid);
        w_str(&w, ",\"ts\":0,\"args\":{\"name\":");
        w_jstr(&w, ps[i].name);
        w_str(&w, "}},\n{\"ph\":\"M\",\"cat\":\"agent\",\"name\":\"process_sort_index\",\"pid\":");
        w_ll(&w, pid);
        w_str(&w, ",\"tid\":");
        w_ll(&w, pid);
        w_str(&w, ",\"ts\":0,\"args\":{\"sort_index\":");
        w_ll(&w, ps[i].order);
        w_str(&w, "}}");
        if (hosts > 1 && *ps[i].host) {
            w_str(&w, ",\n{\"ph\":\"M\",\"cat\":\"agent\",\"name\":\"process_labels\",\"pid\":");
            w_ll(&w, pid);
            w_str(&w, ",\"tid\":");
            w_ll(&w, pid);
            w_str(&w, ",\"ts\":0,\"args\":{\"labels\":");
            w_jstr(&w, ps[i].host);
            w_str(&w, "}}");
        }
    }
    size_t rcap = RBUF;
    for (size_t i = 0; i < n; i++)
        copy_events(&w, &ps[i], &first, log, &rbuf, &rcap);
    w_str(&w, "\n]\n");
    w_flush(&w);
    int err = w.err;
    free(w.buf);
    free(rbuf);
    if (tmp) {
        if (close(fd) != 0 && !err)
            err = errno;
        if (!err && rename(tmp, out) != 0)
            err = errno;
        if (err)
            unlink(tmp);
        free(tmp);
    }
    for (size_t i = 0; i < n; i++)
        free(ps[i].name);
    free(ps);
    if (err) {
        fprintf(log, "traceagent merge: %s: %s\n", out, strerror(err));
        return -1;
    }
    return (int)n;
}

/* The trace files of dir not named in skip, sorted, appended to *paths. */
static int list_dir(const char *dir, char *const *skip, size_t nskip, char ***paths,
                    size_t *np, size_t *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    size_t from = *np;
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, ".trace.json"))
            continue;
        int old = 0;
        for (size_t k = 0; k < nskip && !old; k++)
            old = strcmp(skip[k], e->d_name) == 0;
        if (old)
            continue;
        if (*np == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            char **nn = realloc(*paths, nc * sizeof *nn);
            if (!nn)
                break;
            *paths = nn;
            *cap = nc;
        }
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(l);
        if (!p)
            break;
        snprintf(p, l, "%s/%s", dir, e->d_name);
        (*paths)[(*np)++] = p;
    }
    closedir(d);
    qsort(*paths + from, *np - from, sizeof **paths, cmp_path);
    return 0;
}

int ta_merge_dir(const char *dir, char *const *skip, size_t nskip, const char *out, FILE *log)
{
    char **paths = NULL;
    size_t np = 0, cap = 0;
    if (!log)
        log = stderr;
    if (list_dir(dir, skip, nskip, &paths, &np, &cap) < 0)
        return -1;
    int rc = np ? merge_paths(paths, np, out, log) : 0;
    for (size_t i = 0; i < np; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

static void merge_usage(FILE *f)
{
    fprintf(f,
        "usage: traceagent merge [-o OUT] PATH...\n"
        "  One trace (Chrome JSON, array form) of every process of a run: the\n"
        "  *.trace.json files of each output directory PATH (or trace files named\n"
        "  alone), each process named by its command and MPI/Slurm rank, ordered by\n"
        "  start time, clocks of other hosts lined up by the wall-clock anchor.\n"
        "  -o OUT   the file to write (default: PATH/run.json for one directory;\n"
        "           '-' for stdout)\n");
}

int ta_merge_main(int argc, char **argv)
{
    const char *out = NULL;
    char **paths = NULL;
    size_t np = 0, cap = 0;
    int rc = 0, ndirs = 0, endopt = 0;
    const char *lastdir = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!endopt && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            merge_usage(stdout);
            goto done;
        }
        if (!endopt && (!strcmp(a, "-o") || !strcmp(a, "--output"))) {
            if (i + 1 >= argc || !*argv[i + 1]) {
                fprintf(stderr, "traceagent merge: %s needs a file name\n", a);
                rc = 2;
                goto done;
            }
            out = argv[++i];
            continue;
        }
        if (!endopt && !strncmp(a, "--output=", 9)) {
            out = a + 9;
            continue;
        }
        if (!endopt && !strcmp(a, "--")) {
            endopt = 1;
            continue;
        }
        if (!endopt && a[0] == '-' && a[1]) {
            fprintf(stderr, "traceagent merge: unknown option %s\n", a);
            merge_usage(stderr);
            rc = 2;
            goto done;
        }
        struct stat st;
        if (stat(a, &st) != 0) {
            fprintf(stderr, "traceagent merge: %s: %s\n", a, strerror(errno));
            rc = 2;
            goto done;
        }
        if (S_ISDIR(st.st_mode)) {
            list_dir(a, NULL, 0, &paths, &np, &cap);
            ndirs++;
            lastdir = a;
        } else {
            if (!has_suffix(a, ".trace.json")) {
                fprintf(stderr, "traceagent merge: %s: not a *.trace.json file\n", a);
                rc = 2;
                goto done;
            }
            if (np == cap) {
                size_t nc = cap ? cap * 2 : 64;
                char **nn = realloc(paths, nc * sizeof *nn);
                if (!nn) {
                    rc = 2;
                    goto done;
                }
                paths = nn;
                cap = nc;
            }
            paths[np++] = strdup(a);
        }
    }
    char def[PATH_MAX];
    if (!np && !ndirs) {
        fprintf(stderr, "traceagent merge: no run given (an output directory, or trace files)\n");
        merge_usage(stderr);
        rc = 2;
        goto done;
    }
    if (!out) {
        if (ndirs != 1 || !lastdir) {
            fprintf(stderr, "traceagent merge: say where with -o FILE\n");
            merge_usage(stderr);
            rc = 2;
            goto done;
        }
        snprintf(def, sizeof def, "%s/run.json", lastdir);
        out = def;
    }
    if (!np) {
        fprintf(stderr, "traceagent merge: no *.trace.json files\n");
        rc = 1;
        goto done;
    }
    int n = merge_paths(paths, np, out, stderr);
    if (n < 0)
        rc = 1;
    else if (strcmp(out, "-") != 0)
        fprintf(stderr, "traceagent merge: %s: %d trace file%s\n", out, n, n == 1 ? "" : "s");
done:
    for (size_t i = 0; i < np; i++)
        free(paths[i]);
    free(paths);
    return rc;
}
