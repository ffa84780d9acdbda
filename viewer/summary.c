/* Reading stats.json files and printing the run summary (see summary.h).
 *
 * Several files (one per process) are merged: counts, totals and bytes add up; the mean is
 * total / count; a p95 cannot be merged from per-process percentiles, so with more than one
 * process the table shows the largest per-process p95 and says so in its header.
 * A malformed file is reported on stderr by name and skipped; malformed rows inside an
 * otherwise good file are skipped and counted. */
#include "summary.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------------------ */
/* A string-keyed index: key -> position in an array owned by the caller. */

struct strmap {
    char **keys;
    size_t *pos;
    size_t cap, n;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Position stored for key, or SIZE_MAX. */
static size_t strmap_get(const struct strmap *m, const char *key)
{
    if (!m->cap)
        return SIZE_MAX;
    for (size_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return SIZE_MAX;
        if (strcmp(m->keys[i], key) == 0)
            return m->pos[i];
    }
}

static int strmap_put(struct strmap *m, const char *key, size_t pos)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        char **nk = calloc(ncap, sizeof *nk);
        size_t *np = calloc(ncap, sizeof *np);
        if (!nk || !np) {
            free(nk);
            free(np);
            return -1;
        }
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->keys[j])
                continue;
            size_t i = str_hash(m->keys[j]) & (ncap - 1);
            while (nk[i])
                i = (i + 1) & (ncap - 1);
            nk[i] = m->keys[j];
            np[i] = m->pos[j];
        }
        free(m->keys);
        free(m->pos);
        m->keys = nk;
        m->pos = np;
        m->cap = ncap;
    }
    char *k = strdup(key);
    if (!k)
        return -1;
    size_t i = str_hash(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->pos[i] = pos;
    m->n++;
    return 0;
}

static void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->pos);
    memset(m, 0, sizeof *m);
}

/* Grow an array of `size`-byte elements to hold one more; NULL when out of memory. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, nc * size);
        if (!p)
            return NULL;
        *arr = p;
        *cap = nc;
    }
    char *e = (char *)*arr + (*n)++ * size;
    memset(e, 0, size);
    return e;
}

/* ------------------------------------------------------------------------------------ */

struct agg_op {
    char *cat, *name;
    double count, total, p95, bytes;
    int has_bytes, instant, nproc;
};

struct agg_file {
    char *path;
    double reads, writes, bytes_read, bytes_written, read_ns, write_ns, other_ns;
};

/* A dataset of a library's file (stats.json `datasets`), merged by (file, dataset); the
 * file may be absent (null): "" here, "-" when printed. Shapes merged by text. */
struct agg_sel {
    char *shape;
    double count;
};
struct agg_ds {
    char *file, *dset;
    double reads, writes, bytes_read, bytes_written, total, count, p95;
    double read_ns, write_ns, read_p95, errors;
    struct agg_sel *sel;
    size_t nsel, capsel;
};

struct agg_counter {
    char *cat, *name;
    double count, min, max, last;
};

struct proc {
    char *path, *exe, *cmdline;
    double pid, duration_ns, events;
    int incomplete; /* "complete": false */
    char *signal;   /* its "signal", or NULL */
};

struct dropped {
    char *cause;
    double total;
};

struct ta_summary {
    struct agg_op *ops;
    size_t nops, capops;
    struct strmap opmap;
    struct agg_file *files;
    size_t nfiles, capfiles;
    struct strmap filemap;
    struct agg_ds *dsets;
    size_t ndsets, capdsets;
    struct strmap dsmap;
    struct agg_counter *counters;
    size_t ncounters, capcounters;
    struct strmap countermap;
    struct proc *procs;
    size_t nprocs, capprocs;
    struct dropped *drops;
    size_t ndrops, capdrops;
    char **written;
    size_t nwritten, capwritten;
    size_t bad_rows;
    double trace_bytes, left_out, min_dur; /* the "agent" sections, summed (min_dur: max) */
    size_t with_callsites; /* files with call sites (TRACEAGENT_STACKS): the report says where */
};

struct ta_summary *ta_summary_new(void) { return calloc(1, sizeof(struct ta_summary)); }

void ta_summary_free(struct ta_summary *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nops; i++) {
        free(s->ops[i].cat);
        free(s->ops[i].name);
    }
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    for (size_t i = 0; i < s->ndsets; i++) {
        free(s->dsets[i].file);
        free(s->dsets[i].dset);
        for (size_t k = 0; k < s->dsets[i].nsel; k++)
            free(s->dsets[i].sel[k].shape);
        free(s->dsets[i].sel);
    }
    free(s->dsets);
    strmap_free(&s->dsmap);
    for (size_t i = 0; i < s->ncounters; i++) {
        free(s->counters[i].cat);
        free(s->counters[i].name);
    }
    for (size_t i = 0; i < s->nprocs; i++) {
        free(s->procs[i].path);
        free(s->procs[i].exe);
        free(s->procs[i].cmdline);
        free(s->procs[i].signal);
    }
    for (size_t i = 0; i < s->ndrops; i++)
        free(s->drops[i].cause);
    for (size_t i = 0; i < s->nwritten; i++)
        free(s->written[i]);
    free(s->ops);
    free(s->files);
    free(s->counters);
    free(s->procs);
    free(s->drops);
    free(s->written);
    strmap_free(&s->opmap);
    strmap_free(&s->filemap);
    strmap_free(&s->countermap);
    free(s);
}

void ta_summary_add_file(struct ta_summary *s, const char *path)
{
    for (size_t i = 0; i < s->nwritten; i++)
        if (strcmp(s->written[i], path) == 0)
            return;
    char **slot = grow((void **)&s->written, &s->nwritten, &s->capwritten, sizeof *slot);
    if (slot && !(*slot = strdup(path)))
        s->nwritten--;
}

/* ------------------------------------------------------------------------------------ */
/* Reading */

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) {
            if (ferror(f)) {
                snprintf(err, errlen, "read error");
                free(buf);
                buf = NULL;
            }
            break;
        }
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Number member, or `def` when absent or not a number. */
static double num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static char *op_key(const char *cat, const char *name)
{
    size_t a = strlen(cat), b = strlen(name);
    char *k = malloc(a + b + 2);
    if (k) {
        memcpy(k, cat, a);
        k[a] = '\x1f';
        memcpy(k + a + 1, name, b + 1);
    }
    return k;
}

static void add_op(struct ta_summary *s, const cJSON *row)
{
    const char *cat = str(row, "cat"), *name = str(row, "name");
    double count = num(row, "count", -1);
    if (!cat || !name || count < 0) {
        s->bad_rows++;
        return;
    }
    const char *kind = str(row, "kind");
    int instant = kind ? strcmp(kind, "span") != 0 : !cJSON_HasObjectItem(row, "total_ns");
    char *key = op_key(cat, name);
    if (!key)
        return;
    size_t i = strmap_get(&s->opmap, key);
    struct agg_op *o;
    if (i == SIZE_MAX) {
        o = grow((void **)&s->ops, &s->nops, &s->capops, sizeof *o);
        if (!o || strmap_put(&s->opmap, key, s->nops - 1) < 0 || !(o->cat = strdup(cat)) ||
            !(o->name = strdup(name))) {
            free(key);
            return;
        }
        o->instant = instant;
    } else {
        o = &s->ops[i];
    }
    free(key);
    o->nproc++;
    o->count += count;
    o->total += num(row, "total_ns", 0);
    double p95 = num(row, "p95_ns", 0);
    if (p95 > o->p95)
        o->p95 = p95;
    if (cJSON_HasObjectItem(row, "bytes")) {
        o->has_bytes = 1;
        o->bytes += num(row, "bytes", 0);
    }
}

static void add_file_row(struct ta_summary *s, const cJSON *row)
{
    const char *path = str(row, "path");
    if (!path) {
        s->bad_rows++;
        return;
    }
    size_t i = strmap_get(&s->filemap, path);
    struct agg_file *f;
    if (i == SIZE_MAX) {
        f = grow((void **)&s->files, &s->nfiles, &s->capfiles, sizeof *f);
        if (!f || strmap_put(&s->filemap, path, s->nfiles - 1) < 0 || !(f->path = strdup(path)))
            return;
    } else {
        f = &s->files[i];
    }
    f->reads += num(row, "reads", 0);
    f->writes += num(row, "writes", 0);
    f->bytes_read += num(row, "bytes_read", 0);
    f->bytes_written += num(row, "bytes_written", 0);
    f->read_ns += num(row, "read_ns", 0);
    f->write_ns += num(row, "write_ns", 0);
    f->other_ns += num(row, "other_ns", 0);
}

static void add_ds_row(struct ta_summary *s, const cJSON *row)
{
    const cJSON *fv = cJSON_GetObjectItemCaseSensitive(row, "file");
    const char *dset = str(row, "dataset"), *file = cJSON_IsNull(fv) ? "" : str(row, "file");
    if (!dset || !file) {
        s->bad_rows++;
        return;
    }
    char *key = op_key(file, dset);
    if (!key)
        return;
    size_t i = strmap_get(&s->dsmap, key);
    struct agg_ds *d;
    if (i == SIZE_MAX) {
        d = grow((void **)&s->dsets, &s->ndsets, &s->capdsets, sizeof *d);
        if (!d) {
            free(key);
            return;
        }
        /* the names first and the map last: out of memory, the row is taken back whole,
         * never left counted with a NULL name for the sort and the print to meet */
        if (!(d->file = strdup(file)) || !(d->dset = strdup(dset)) ||
            strmap_put(&s->dsmap, key, s->ndsets - 1) < 0) {
            free(d->file);
            free(d->dset);
            s->ndsets--;
            free(key);
            return;
        }
    } else {
        d = &s->dsets[i];
    }
    free(key);
    d->reads += num(row, "reads", 0);
    d->writes += num(row, "writes", 0);
    d->bytes_read += num(row, "bytes_read", 0);
    d->bytes_written += num(row, "bytes_written", 0);
    d->total += num(row, "total_ns", 0);
    d->count += num(row, "count", 0);
    d->read_ns += num(row, "read_ns", 0);
    d->write_ns += num(row, "write_ns", 0);
    d->errors += num(row, "errors", 0);
    double p95 = num(row, "p95_ns", 0);
    if (p95 > d->p95) /* as the span table: the largest per-process p95 */
        d->p95 = p95;
    p95 = num(row, "read_p95_ns", 0);
    if (p95 > d->read_p95)
        d->read_p95 = p95;
    const cJSON *sels = cJSON_GetObjectItemCaseSensitive(row, "selections"), *e;
    if (!cJSON_IsArray(sels))
        sels = NULL;
    cJSON_ArrayForEach(e, sels)
    {
        const char *shape = str(e, "shape");
        if (!shape)
            continue;
        size_t k = 0;
        while (k < d->nsel && strcmp(d->sel[k].shape, shape))
            k++;
        if (k == d->nsel) {
            struct agg_sel *a = grow((void **)&d->sel, &d->nsel, &d->capsel, sizeof *a);
            if (!a)
                continue;
            if (!(a->shape = strdup(shape))) {
                d->nsel--;
                continue;
            }
        }
        d->sel[k].count += num(e, "count", 0);
    }
}

static void add_counter(struct ta_summary *s, const cJSON *row)
{
    const char *cat = str(row, "cat"), *name = str(row, "name");
    if (!cat || !name) {
        s->bad_rows++;
        return;
    }
    char *key = op_key(cat, name);
    if (!key)
        return;
    size_t i = strmap_get(&s->countermap, key);
    struct agg_counter *c;
    double mn = num(row, "min", NAN), mx = num(row, "max", NAN);
    if (i == SIZE_MAX) {
        c = grow((void **)&s->counters, &s->ncounters, &s->capcounters, sizeof *c);
        if (!c || strmap_put(&s->countermap, key, s->ncounters - 1) < 0 ||
            !(c->cat = strdup(cat)) || !(c->name = strdup(name))) {
            free(key);
            return;
        }
        c->min = mn;
        c->max = mx;
    } else {
        c = &s->counters[i];
        if (mn < c->min || isnan(c->min))
            c->min = mn;
        if (mx > c->max || isnan(c->max))
            c->max = mx;
    }
    free(key);
    c->count += num(row, "count", 0);
    c->last = num(row, "last", NAN);
}

static void add_dropped(struct ta_summary *s, const char *cause, double n)
{
    for (size_t i = 0; i < s->ndrops; i++) {
        if (strcmp(s->drops[i].cause, cause) == 0) {
            s->drops[i].total += n;
            return;
        }
    }
    struct dropped *d = grow((void **)&s->drops, &s->ndrops, &s->capdrops, sizeof *d);
    if (d && !(d->cause = strdup(cause))) {
        s->ndrops--;
        return;
    }
    if (d)
        d->total = n;
}

int ta_summary_add_stats(struct ta_summary *s, const char *path)
{
    char err[256] = "";
    size_t len;
    char *text = read_file(path, &len, err, sizeof err);
    if (!text) {
        fprintf(stderr, "traceagent: %s: %s\n", path, err);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) {
        fprintf(stderr, "traceagent: %s: not valid JSON (a process still running, or cut "
                        "short?); skipped\n", path);
        return -1;
    }
    const char *schema = cJSON_IsObject(root) ? str(root, "schema") : NULL;
    if (!schema || strcmp(schema, "traceagent-stats/1") != 0) {
        fprintf(stderr, "traceagent: %s: not a traceagent stats file (schema %s%s%s); "
                        "skipped\n", path, schema ? "\"" : "", schema ? schema : "missing",
                schema ? "\"" : "");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(root, "ops");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    const cJSON *counters = cJSON_GetObjectItemCaseSensitive(root, "counters");
    const cJSON *dsets = cJSON_GetObjectItemCaseSensitive(root, "datasets");
    const cJSON *dropped = cJSON_GetObjectItemCaseSensitive(root, "dropped");
    const cJSON *process = cJSON_GetObjectItemCaseSensitive(root, "process");
    if (cJSON_GetObjectItemCaseSensitive(root, "callsites"))
        s->with_callsites++;
    if ((ops && !cJSON_IsArray(ops)) || (files && !cJSON_IsArray(files)) ||
        (counters && !cJSON_IsArray(counters)) || (dsets && !cJSON_IsArray(dsets)) ||
        (dropped && !cJSON_IsObject(dropped)) ||
        (process && !cJSON_IsObject(process))) {
        fprintf(stderr, "traceagent: %s: malformed stats (a section has the wrong type); "
                        "skipped\n", path);
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *row;
    cJSON_ArrayForEach(row, ops)
    {
        if (cJSON_IsObject(row))
            add_op(s, row);
        else
            s->bad_rows++;
    }
    cJSON_ArrayForEach(row, files)
    {
        if (cJSON_IsObject(row))
            add_file_row(s, row);
        else
            s->bad_rows++;
    }
    cJSON_ArrayForEach(row, dsets)
    {
        if (cJSON_IsObject(row))
            add_ds_row(s, row);
        else
            s->bad_rows++;
    }
    cJSON_ArrayForEach(row, counters)
    {
        if (cJSON_IsObject(row))
            add_counter(s, row);
        else
            s->bad_rows++;
    }
    cJSON_ArrayForEach(row, dropped)
    {
        if (row->string && cJSON_IsNumber(row))
            add_dropped(s, row->string, row->valuedouble);
    }
    struct proc *p = grow((void **)&s->procs, &s->nprocs, &s->capprocs, sizeof *p);
    if (p) {
        const char *exe = process ? str(process, "exe") : NULL;
        const char *cmd = process ? str(process, "cmdline") : NULL;
        p->path = strdup(path);
        p->exe = strdup(exe ? exe : "?");
        p->cmdline = cmd ? strdup(cmd) : NULL;
        p->pid = process ? num(process, "pid", -1) : -1;
        p->duration_ns = process ? num(process, "duration_ns", -1) : -1;
        p->events = num(root, "events", -1);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "complete");
        const char *sig = str(root, "signal");
        p->incomplete = cJSON_IsFalse(c);
        p->signal = p->incomplete && sig ? strdup(sig) : NULL;
    }
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(root, "agent");
    if (cJSON_IsObject(agent)) {
        s->trace_bytes += num(agent, "trace_bytes", 0);
        s->left_out += num(agent, "trace_spans_left_out", 0);
        if (num(agent, "min_duration_ns", 0) > s->min_dur)
            s->min_dur = num(agent, "min_duration_ns", 0);
    }
    cJSON_Delete(root);
    ta_summary_add_file(s, path);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Printing */

char *ta_fmt_ns(char *buf, size_t n, double ns)
{
    if (isnan(ns) || ns < 0)
        snprintf(buf, n, "-");
    else if (ns < 1e3)
        snprintf(buf, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, n, "%.*f \xc2\xb5s", ns < 1e4 ? 2 : ns < 1e5 ? 1 : 0, ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, n, "%.*f ms", ns < 1e7 ? 2 : ns < 1e8 ? 1 : 0, ns / 1e6);
    else
        snprintf(buf, n, "%.*f s", ns < 1e10 ? 2 : ns < 1e11 ? 1 : 0, ns / 1e9);
    return buf;
}

char *ta_fmt_bytes(char *buf, size_t n, double b)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    if (isnan(b) || b < 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f B", b);
    else
        snprintf(buf, n, "%.*f %s", b < 10 ? 2 : b < 100 ? 1 : 0, b, unit[u]);
    return buf;
}

/* Display width of a UTF-8 string (code points; good enough for names and units). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* s cut to at most w columns, into buf: the end is kept for paths ("…tail"), the start
 * for names ("head…"). Never cuts inside a UTF-8 sequence. */
static const char *fit(char *buf, size_t n, const char *s, size_t w, int keep_end)
{
    size_t sw = width(s);
    if (sw <= w || w < 2)
        return s;
    const char *ell = "\xe2\x80\xa6"; /* … */
    size_t keep = w - 1;              /* columns of s to keep */
    if (keep_end) {
        const char *p = s;
        for (size_t skip = sw - keep; *p && skip;) { /* skip (sw - keep) code points */
            p++;
            while (((unsigned char)*p & 0xc0) == 0x80)
                p++;
            skip--;
        }
        snprintf(buf, n, "%s%s", ell, p);
    } else {
        const char *p = s;
        for (size_t k = 0; *p && k < keep;) {
            p++;
            while (((unsigned char)*p & 0xc0) == 0x80)
                p++;
            k++;
        }
        snprintf(buf, n, "%.*s%s", (int)(p - s), s, ell);
    }
    return buf;
}

/* s padded to w columns: left-aligned (left != 0) or right-aligned. */
static void put_col(FILE *out, const char *s, size_t w, int left)
{
    size_t sw = width(s);
    if (!left)
        for (size_t i = sw; i < w; i++)
            fputc(' ', out);
    fputs(s, out);
    if (left)
        for (size_t i = sw; i < w; i++)
            fputc(' ', out);
}

static int cmp_op_total(const void *a, const void *b)
{
    const struct agg_op *x = *(struct agg_op *const *)a, *y = *(struct agg_op *const *)b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    int c = strcmp(x->cat, y->cat);
    return c ? c : strcmp(x->name, y->name);
}

static double file_time(const struct agg_file *f) { return f->read_ns + f->write_ns; }

static int cmp_file_time(const void *a, const void *b)
{
    const struct agg_file *x = *(struct agg_file *const *)a;
    const struct agg_file *y = *(struct agg_file *const *)b;
    double tx = file_time(x), ty = file_time(y);
    if (tx != ty)
        return tx < ty ? 1 : -1;
    double bx = x->bytes_read + x->bytes_written, by = y->bytes_read + y->bytes_written;
    if (bx != by)
        return bx < by ? 1 : -1;
    return strcmp(x->path, y->path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define NAME_MAX_W 48
#define PATH_MAX_W 56
#define FILE_ROWS 5 /* rows of the files and datasets sections */

static int ends_with(const char *s, const char *suffix)
{
    size_t l = strlen(s), k = strlen(suffix);
    return l > k && strcmp(s + l - k, suffix) == 0;
}

/* Traces of processes that left no stats.json beside them (killed by SIGKILL, or still
 * running): their stats paths are not among the stats read. */
static size_t count_no_stats(const struct ta_summary *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nwritten; i++) {
        const char *t = s->written[i];
        if (!ends_with(t, ".trace.json"))
            continue;
        size_t stem = strlen(t) - strlen(".trace.json");
        int found = 0;
        for (size_t j = 0; j < s->nprocs && !found; j++) {
            const char *p = s->procs[j].path;
            found = ends_with(p, ".stats.json") && strlen(p) == stem + strlen(".stats.json") &&
                    strncmp(p, t, stem) == 0;
        }
        n += !found;
    }
    return n;
}

/* "2 of 9 processes ended by SIGTERM (stats incomplete); 1 left no stats (killed by
 * SIGKILL?)": the process count never hides the processes whose numbers are partial or
 * missing. */
static void print_partial(const struct ta_summary *s, FILE *out, size_t total, size_t nostats)
{
    const char *sigs[16];
    size_t counts[16], nsig = 0, incomplete = 0;
    for (size_t i = 0; i < s->nprocs; i++) {
        if (!s->procs[i].incomplete)
            continue;
        incomplete++;
        const char *sig = s->procs[i].signal ? s->procs[i].signal : "a signal";
        size_t k = 0;
        while (k < nsig && strcmp(sigs[k], sig))
            k++;
        if (k == nsig && nsig < 16) {
            sigs[nsig] = sig;
            counts[nsig++] = 0;
        }
        if (k < nsig)
            counts[k]++;
    }
    if (!incomplete && !nostats)
        return;
    fprintf(out, "traceagent: ");
    if (incomplete) {
        fprintf(out, "%zu of %zu process%s ended by ", incomplete, total, total == 1 ? "" : "es");
        if (nsig == 1) {
            fprintf(out, "%s", sigs[0]);
        } else {
            fprintf(out, "a signal (");
            for (size_t k = 0; k < nsig; k++)
                fprintf(out, "%s%s: %zu", k ? ", " : "", sigs[k], counts[k]);
            fprintf(out, ")");
        }
        fprintf(out, " (stats incomplete)");
    }
    if (nostats && incomplete)
        fprintf(out, "; %zu left no stats (killed by SIGKILL, or still running?)", nostats);
    else if (nostats)
        fprintf(out, "%zu of %zu process%s left no stats (killed by SIGKILL, or still running?)",
                nostats, total, total == 1 ? "" : "es");
    fprintf(out, "\n");
}

static void print_procs(const struct ta_summary *s, FILE *out)
{
    char a[64], b[64];
    double events = 0;
    for (size_t i = 0; i < s->nprocs; i++)
        events += s->procs[i].events > 0 ? s->procs[i].events : 0;
    size_t nostats = count_no_stats(s), total = s->nprocs + nostats;
    fprintf(out, "traceagent: %zu process%s, %.0f events\n", total, total == 1 ? "" : "es",
            events);
    print_partial(s, out, total, nostats);
    size_t shown = s->nprocs < 10 ? s->nprocs : 8;
    for (size_t i = 0; i < shown; i++) {
        const struct proc *p = &s->procs[i];
        char cmd[128];
        fprintf(out, "  %s[%.0f]  %s  %s events  %s\n", p->exe, p->pid,
                ta_fmt_ns(a, sizeof a, p->duration_ns),
                p->events >= 0 ? (snprintf(b, sizeof b, "%.0f", p->events), b) : "?",
                p->cmdline ? fit(cmd, sizeof cmd, p->cmdline, 60, 0) : "");
    }
    if (shown < s->nprocs)
        fprintf(out, "  ... and %zu more\n", s->nprocs - shown);
}

static void print_ops(const struct ta_summary *s, FILE *out, int top)
{
    size_t nspan = 0;
    struct agg_op **v = malloc((s->nops ? s->nops : 1) * sizeof *v);
    if (!v)
        return;
    int any_bytes = 0;
    for (size_t i = 0; i < s->nops; i++)
        if (!s->ops[i].instant) {
            v[nspan++] = &s->ops[i];
        }
    qsort(v, nspan, sizeof *v, cmp_op_total);
    size_t rows = top > 0 && (size_t)top < nspan ? (size_t)top : nspan;
    fputc('\n', out);
    if (!nspan) {
        fprintf(out, "No spans recorded.\n");
    } else {
        size_t catw = 3, namew = 4;
        for (size_t i = 0; i < rows; i++) {
            size_t cw = width(v[i]->cat), nw = width(v[i]->name);
            catw = cw > catw ? cw : catw;
            namew = nw > namew ? nw : namew;
            any_bytes |= v[i]->has_bytes;
        }
        if (namew > NAME_MAX_W)
            namew = NAME_MAX_W;
        int multi = s->nprocs > 1;
        if (rows < nspan)
            fprintf(out, "Top %zu of %zu spans by total time", rows, nspan);
        else
            fprintf(out, "Spans by total time");
        if (multi)
            fprintf(out, " (%zu processes; p95* is the largest per-process p95)", s->nprocs);
        fprintf(out, ":\n");
        fputs("  ", out);
        put_col(out, "cat", catw, 1);
        fputs("  ", out);
        put_col(out, "name", namew, 1);
        fputs("  ", out);
        put_col(out, "count", 10, 0);
        put_col(out, "total", 11, 0);
        put_col(out, "time%", 7, 0);
        put_col(out, "mean", 11, 0);
        put_col(out, multi ? "p95*" : "p95", 11, 0);
        if (any_bytes)
            put_col(out, "bytes", 11, 0);
        fputc('\n', out);
        double all = 0;
        for (size_t i = 0; i < nspan; i++)
            all += v[i]->total;
        for (size_t i = 0; i < rows; i++) {
            const struct agg_op *o = v[i];
            char nb[256], t[64];
            fputs("  ", out);
            put_col(out, o->cat, catw, 1);
            fputs("  ", out);
            put_col(out, fit(nb, sizeof nb, o->name, namew, 0), namew, 1);
            fputs("  ", out);
            snprintf(t, sizeof t, "%.0f", o->count);
            put_col(out, t, 10, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->total), 11, 0);
            /* share of all span time: nested spans are counted in their parents too */
            snprintf(t, sizeof t, "%.1f", all > 0 ? 100 * o->total / all : 0.0);
            put_col(out, t, 7, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->count > 0 ? o->total / o->count : NAN), 11,
                    0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->p95), 11, 0);
            if (any_bytes && o->has_bytes)
                put_col(out, ta_fmt_bytes(t, sizeof t, o->bytes), 11, 0);
            fputc('\n', out);
        }
    }
    /* instants: one line */
    size_t ninst = 0;
    for (size_t i = 0; i < s->nops; i++)
        ninst += s->ops[i].instant;
    if (ninst) {
        fprintf(out, "Instant events:");
        size_t k = 0;
        for (size_t i = 0; i < s->nops && k < 10; i++) {
            if (!s->ops[i].instant)
                continue;
            char nb[64];
            fprintf(out, "%s %s/%s x%.0f", k ? "," : "", s->ops[i].cat,
                    fit(nb, sizeof nb, s->ops[i].name, 32, 0), s->ops[i].count);
            k++;
        }
        fprintf(out, "%s\n", ninst > k ? ", ..." : "");
    }
    free(v);
}

static void print_counters(const struct ta_summary *s, FILE *out)
{
    if (!s->ncounters)
        return;
    fprintf(out, "\nCounters:\n");
    for (size_t i = 0; i < s->ncounters && i < 20; i++) {
        const struct agg_counter *c = &s->counters[i];
        char nb[128];
        fprintf(out, "  %-8s %-32s %8.0f samples  min %.6g  max %.6g  last %.6g\n", c->cat,
                fit(nb, sizeof nb, c->name, 32, 0), c->count, c->min, c->max, c->last);
    }
}

/* The I/O columns the files and datasets sections share: their header, and a row's */
static void put_io_head(FILE *out)
{
    put_col(out, "reads", 9, 0);
    put_col(out, "read", 11, 0);
    put_col(out, "writes", 9, 0);
    put_col(out, "written", 11, 0);
    put_col(out, "read time", 11, 0);
    put_col(out, "write time", 12, 0);
}

static void put_io_row(FILE *out, double reads, double bytes_read, double writes,
                       double bytes_written, double read_ns, double write_ns)
{
    char t[64];
    snprintf(t, sizeof t, "%.0f", reads);
    put_col(out, t, 9, 0);
    put_col(out, ta_fmt_bytes(t, sizeof t, bytes_read), 11, 0);
    snprintf(t, sizeof t, "%.0f", writes);
    put_col(out, t, 9, 0);
    put_col(out, ta_fmt_bytes(t, sizeof t, bytes_written), 11, 0);
    put_col(out, ta_fmt_ns(t, sizeof t, read_ns), 11, 0);
    put_col(out, ta_fmt_ns(t, sizeof t, write_ns), 12, 0);
}

static void print_files(const struct ta_summary *s, FILE *out)
{
    if (!s->nfiles)
        return;
    struct agg_file **v = malloc(s->nfiles * sizeof *v);
    if (!v)
        return;
    for (size_t i = 0; i < s->nfiles; i++)
        v[i] = &s->files[i];
    qsort(v, s->nfiles, sizeof *v, cmp_file_time);
    size_t rows = s->nfiles < FILE_ROWS ? s->nfiles : FILE_ROWS;
    size_t pw = 4;
    for (size_t i = 0; i < rows; i++) {
        size_t w = width(v[i]->path);
        pw = w > pw ? w : pw;
    }
    if (pw > PATH_MAX_W)
        pw = PATH_MAX_W;
    fprintf(out, "\nFiles by I/O time (top %zu of %zu):\n  ", rows, s->nfiles);
    put_col(out, "path", pw, 1);
    put_io_head(out);
    fputc('\n', out);
    for (size_t i = 0; i < rows; i++) {
        const struct agg_file *f = v[i];
        char pb[512];
        fputs("  ", out);
        put_col(out, fit(pb, sizeof pb, f->path, pw, 1), pw, 1);
        put_io_row(out, f->reads, f->bytes_read, f->writes, f->bytes_written, f->read_ns,
                   f->write_ns);
        fputc('\n', out);
    }
    free(v);
}

static int cmp_ds_time(const void *a, const void *b)
{
    const struct agg_ds *x = *(struct agg_ds *const *)a, *y = *(struct agg_ds *const *)b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    int c = strcmp(x->dset, y->dset);
    return c ? c : strcmp(x->file, y->file);
}

/* The most frequent selection shape of d ("-": none), ties to the first in text order */
static const char *top_shape(const struct agg_ds *d)
{
    const struct agg_sel *best = NULL;
    for (size_t k = 0; k < d->nsel; k++) {
        const struct agg_sel *e = &d->sel[k];
        if (!best || e->count > best->count ||
            (e->count == best->count && strcmp(e->shape, best->shape) < 0))
            best = e;
    }
    return best ? best->shape : "-";
}

/* A library's datasets (HDF5), after the files: as many rows as the files section */
static void print_datasets(const struct ta_summary *s, FILE *out)
{
    if (!s->ndsets)
        return;
    struct agg_ds **v = malloc(s->ndsets * sizeof *v);
    if (!v)
        return;
    for (size_t i = 0; i < s->ndsets; i++)
        v[i] = &s->dsets[i];
    qsort(v, s->ndsets, sizeof *v, cmp_ds_time);
    size_t rows = s->ndsets < FILE_ROWS ? s->ndsets : FILE_ROWS;
    size_t fw = 4, dw = 7, sw = 24; /* the selection: cut to this */
    for (size_t i = 0; i < rows; i++) {
        size_t w = width(*v[i]->file ? v[i]->file : "-");
        fw = w > fw ? w : fw;
        w = width(v[i]->dset);
        dw = w > dw ? w : dw;
    }
    fw = fw > PATH_MAX_W ? PATH_MAX_W : fw;
    dw = dw > NAME_MAX_W ? NAME_MAX_W : dw;
    int multi = s->nprocs > 1;
    int errs = 0; /* failed calls shown only when some dataset had any */
    for (size_t i = 0; i < s->ndsets; i++)
        errs |= s->dsets[i].errors > 0;
    fprintf(out, "\nDatasets by read+write time (top %zu of %zu", rows, s->ndsets);
    if (multi)
        fprintf(out, "; %zu processes, read p95* is the largest per-process read p95",
                s->nprocs);
    fprintf(out, "):\n  ");
    put_col(out, "file", fw, 1);
    fputs("  ", out);
    put_col(out, "dataset", dw, 1);
    put_io_head(out);
    put_col(out, "mean", 11, 0);
    /* the reads' p95 alone: which dataset's reads are slow, writes apart */
    put_col(out, multi ? "read p95*" : "read p95", 11, 0);
    if (errs)
        put_col(out, "errors", 8, 0);
    fputs("  selection\n", out);
    for (size_t i = 0; i < rows; i++) {
        const struct agg_ds *d = v[i];
        char pb[512], nb[512], sb[128], t[64];
        fputs("  ", out);
        put_col(out, fit(pb, sizeof pb, *d->file ? d->file : "-", fw, 1), fw, 1);
        fputs("  ", out);
        put_col(out, fit(nb, sizeof nb, d->dset, dw, 1), dw, 1);
        put_io_row(out, d->reads, d->bytes_read, d->writes, d->bytes_written, d->read_ns,
                   d->write_ns);
        put_col(out, ta_fmt_ns(t, sizeof t, d->count > 0 ? d->total / d->count : NAN), 11, 0);
        put_col(out, ta_fmt_ns(t, sizeof t, d->reads > 0 ? d->read_p95 : NAN), 11, 0);
        if (errs) {
            snprintf(t, sizeof t, "%.0f", d->errors);
            put_col(out, t, 8, 0);
        }
        fputs("  ", out);
        fputs(fit(sb, sizeof sb, top_shape(d), sw, 0), out); /* last: no padding */
        fputc('\n', out);
    }
    free(v);
}

static void print_dropped(const struct ta_summary *s, FILE *out)
{
    double total = 0;
    for (size_t i = 0; i < s->ndrops; i++)
        total += s->drops[i].total;
    if (total <= 0)
        return;
    fprintf(out, "\n!!! WARNING: %.0f events were DROPPED (", total);
    for (size_t i = 0, k = 0; i < s->ndrops; i++) {
        if (s->drops[i].total <= 0)
            continue;
        fprintf(out, "%s%s: %.0f", k++ ? ", " : "", s->drops[i].cause, s->drops[i].total);
    }
    fprintf(out, "): the numbers above are incomplete.\n"
                 "!!! Raise the per-thread buffer (--buffer-kb / TRACEAGENT_BUFFER_KB) or trace "
                 "less (--trace, --exclude).\n");
}

/* One line when the trace is large or short spans were left out of it: how to get more or
 * less (TRACEAGENT_MIN_DURATION_NS; a browser holds about 2 GB of JSON). */
#define LARGE_TRACE (100.0 * 1024 * 1024)
static void print_trace_volume(const struct ta_summary *s, FILE *out)
{
    char b[32], d[32];
    if (s->left_out <= 0 && s->trace_bytes <= LARGE_TRACE)
        return;
    fprintf(out, "\nTrace: %s", ta_fmt_bytes(b, sizeof b, s->trace_bytes));
    if (s->left_out > 0)
        fprintf(out, "; %.0f spans shorter than %s left out (counted above): "
                     "--min-duration 0 writes all", s->left_out,
                ta_fmt_ns(d, sizeof d, s->min_dur));
    if (s->trace_bytes > LARGE_TRACE)
        fprintf(out, "; large: a higher --min-duration (ns), --trace or --exclude writes less");
    fprintf(out, " (TRACEAGENT_MIN_DURATION_NS).\n");
}

void ta_summary_print(const struct ta_summary *s, FILE *out, int top)
{
    if (s->nprocs) {
        print_procs(s, out);
        print_ops(s, out, top);
        print_counters(s, out);
        print_files(s, out);
        print_datasets(s, out);
        print_dropped(s, out);
        print_trace_volume(s, out);
        if (s->with_callsites)
            fprintf(out, "\nCall stacks were recorded (%zu process%s): `traceagent report "
                         "--by-callsite` lists the code that made the calls, `traceagent tree` "
                         "the call paths with their call sites.\n", s->with_callsites,
                    s->with_callsites == 1 ? "" : "es");
        if (s->bad_rows)
            fprintf(out, "\n(%zu malformed rows were skipped)\n", s->bad_rows);
    } else {
        size_t nostats = count_no_stats(s);
        if (nostats)
            fprintf(out, "traceagent: no statistics were written: %zu process%s left a trace "
                         "and no stats (stats export off, or killed by SIGKILL?)\n",
                    nostats, nostats == 1 ? "" : "es");
        else
            fprintf(out, "traceagent: no statistics were written (stats export off, or the "
                         "program was killed by SIGKILL)\n");
    }
    if (s->nwritten) {
        char **v = malloc(s->nwritten * sizeof *v);
        if (v) {
            memcpy(v, s->written, s->nwritten * sizeof *v);
            qsort(v, s->nwritten, sizeof *v, cmp_str);
            fprintf(out, "\nFiles:\n");
            for (size_t i = 0; i < s->nwritten; i++)
                fprintf(out, "  %s\n", v[i]);
            free(v);
        }
    }
}
