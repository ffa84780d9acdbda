/* The run loader (see load.h). */
#include "load.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void *grow1(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
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

static int ends_with(const char *s, const char *suf)
{
    size_t l = strlen(s), k = strlen(suf);
    return l > k && strcmp(s + l - k, suf) == 0;
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* ------------------------------------------------------------------------------------ */
/* Interned span names: the tracks keep an index, not a copy per span */

struct namemap {
    uint32_t *slot; /* index + 1, 0: empty */
    size_t cap;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int intern(struct ta_run *r, const char *s, uint32_t *out)
{
    struct namemap *m = r->namemap;
    if (!m && !(m = r->namemap = calloc(1, sizeof *m)))
        return -1;
    if ((r->nnames + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        uint32_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slot[i])
                continue;
            size_t j = hash(r->names[m->slot[i] - 1]) & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = m->slot[i];
        }
        free(m->slot);
        m->slot = ns;
        m->cap = nc;
    }
    size_t j = hash(s) & (m->cap - 1);
    for (; m->slot[j]; j = (j + 1) & (m->cap - 1))
        if (strcmp(r->names[m->slot[j] - 1], s) == 0) {
            *out = m->slot[j] - 1;
            return 0;
        }
    char **slot = grow1((void **)&r->names, &r->nnames, &r->capnames, sizeof *slot);
    if (!slot || !(*slot = strdup(s))) {
        if (slot)
            r->nnames--;
        return -1;
    }
    m->slot[j] = (uint32_t)r->nnames;
    *out = (uint32_t)(r->nnames - 1);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Stats */

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

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
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

static void dim3(const cJSON *row, const char *key, double out[3])
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(row, key);
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, i) : NULL;
        out[i] = cJSON_IsNumber(v) ? v->valuedouble : 0;
    }
}

static int load_node(struct ta_node *n, const cJSON *o, int depth)
{
    const char *cat = str(o, "cat"), *name = str(o, "name");
    n->cat = strdup(cat ? cat : "?");
    n->name = strdup(name ? name : "?");
    n->count = num(o, "count", 0);
    n->total = num(o, "total_ns", 0);
    n->self = num(o, "self_ns", n->total);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gpu");
    if (cJSON_IsObject(g)) {
        n->gpu_kernel_ns = num(g, "kernel_ns", 0);
        n->gpu_kernel_count = num(g, "kernel_count", 0);
        n->gpu_copy_ns = num(g, "copy_ns", 0);
        n->gpu_copy_bytes = num(g, "copy_bytes", 0);
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(o, "callsites"), *c;
    int ncs = cJSON_IsArray(cs) ? cJSON_GetArraySize(cs) : 0;
    if (ncs > 0 && (n->sites = calloc((size_t)ncs, sizeof *n->sites))) {
        cJSON_ArrayForEach(c, cs)
        {
            const char *site = str(c, "site");
            if (!site || !(n->sites[n->nsites].site = strdup(site)))
                continue;
            n->sites[n->nsites].count = num(c, "count", 0);
            n->sites[n->nsites++].total = num(c, "total_ns", 0);
        }
    }
    const cJSON *kids = cJSON_GetObjectItemCaseSensitive(o, "children"), *k;
    int nk = cJSON_IsArray(kids) && depth < 200 ? cJSON_GetArraySize(kids) : 0;
    if (nk > 0 && !(n->kids = calloc((size_t)nk, sizeof *n->kids)))
        return -1;
    cJSON_ArrayForEach(k, (nk > 0 ? kids : NULL))
    {
        if (cJSON_IsObject(k) && load_node(&n->kids[n->nkids++], k, depth + 1) < 0)
            return -1;
    }
    return 0;
}

static void free_node(struct ta_node *n)
{
    for (size_t i = 0; i < n->nkids; i++)
        free_node(&n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->nsites; i++)
        free(n->sites[i].site);
    free(n->sites);
    free(n->cat);
    free(n->name);
}

/* Rows of an array section: allocates *out for all, returns the count of objects read */
#define ROWS(sec, type, out, nout, ...)                                                   \
    do {                                                                                   \
        int nr_ = cJSON_IsArray(sec) ? cJSON_GetArraySize(sec) : 0;                        \
        const cJSON *row;                                                                  \
        if (nr_ > 0 && !((out) = calloc((size_t)nr_, sizeof(type))))                       \
            break;                                                                         \
        cJSON_ArrayForEach(row, (nr_ > 0 ? (sec) : NULL))                                    \
        {                                                                                  \
            if (!cJSON_IsObject(row)) {                                                    \
                run->bad_rows++;                                                           \
                continue;                                                                  \
            }                                                                              \
            type *r = &(out)[(nout)];                                                      \
            int ok_ = 1;                                                                   \
            __VA_ARGS__;                                                                   \
            if (ok_)                                                                       \
                (nout)++;                                                                  \
            else                                                                           \
                run->bad_rows++;                                                           \
        }                                                                                  \
    } while (0)

static int load_stats(struct ta_run *run, struct ta_proc *p, const char *path)
{
    char err[256] = "";
    size_t len;
    char *text = read_all(path, &len, err, sizeof err);
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
    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(root, "kernels");
    const cJSON *phases = cJSON_GetObjectItemCaseSensitive(root, "phases");
    const cJSON *gpu = cJSON_GetObjectItemCaseSensitive(root, "gpu");
    const cJSON *tree = cJSON_GetObjectItemCaseSensitive(root, "tree");
    const cJSON *threads = cJSON_GetObjectItemCaseSensitive(root, "threads");
    const cJSON *dropped = cJSON_GetObjectItemCaseSensitive(root, "dropped");
    const cJSON *process = cJSON_GetObjectItemCaseSensitive(root, "process");
    if ((ops && !cJSON_IsArray(ops)) || (files && !cJSON_IsArray(files)) ||
        (counters && !cJSON_IsArray(counters)) || (dsets && !cJSON_IsArray(dsets)) ||
        (dropped && !cJSON_IsObject(dropped)) || (process && !cJSON_IsObject(process))) {
        fprintf(stderr, "traceagent: %s: malformed stats (a section has the wrong type); "
                        "skipped\n", path);
        cJSON_Delete(root);
        return -1;
    }
    p->has_stats = 1;
    p->callsites = cJSON_GetObjectItemCaseSensitive(root, "callsites") != NULL;
    const char *exe = process ? str(process, "exe") : NULL;
    const char *cmd = process ? str(process, "cmdline") : NULL;
    p->exe = strdup(exe ? exe : "?");
    p->cmdline = xstrdup(cmd);
    p->pid = process ? num(process, "pid", -1) : -1;
    p->ppid = process ? num(process, "ppid", -1) : -1;
    p->start_ns = process ? num(process, "start_ns", -1) : -1;
    p->duration_ns = process ? num(process, "duration_ns", -1) : -1;
    const cJSON *clk = process ? cJSON_GetObjectItemCaseSensitive(process, "clock") : NULL;
    p->mono_start_ns = cJSON_IsObject(clk) ? num(clk, "monotonic_ns", -1) : -1;
    p->events = num(root, "events", -1);
    const char *sig = str(root, "signal");
    p->complete = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "complete"));
    p->signal = !p->complete && sig ? strdup(sig) : NULL;
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(root, "agent");
    if (cJSON_IsObject(agent)) {
        p->trace_bytes = num(agent, "trace_bytes", 0);
        p->left_out = num(agent, "trace_spans_left_out", 0);
        p->min_dur = num(agent, "min_duration_ns", 0);
    }

    ROWS(ops, struct ta_oprow, p->ops, p->nops, {
        const char *cat = str(row, "cat"), *name = str(row, "name");
        double count = num(row, "count", -1);
        if (!cat || !name || count < 0) {
            run->bad_rows++;
            continue;
        }
        const char *kind = str(row, "kind");
        r->span = kind ? strcmp(kind, "span") == 0 : cJSON_HasObjectItem(row, "total_ns");
        r->cat = strdup(cat);
        r->name = strdup(name);
        r->count = count;
        r->total = num(row, "total_ns", 0);
        r->min = num(row, "min_ns", NAN);
        r->max = num(row, "max_ns", NAN);
        r->mean = num(row, "mean_ns", count > 0 ? r->total / count : NAN);
        r->median = num(row, "median_ns", NAN);
        r->p95 = num(row, "p95_ns", NAN);
        r->p99 = num(row, "p99_ns", NAN);
        r->errors = num(row, "errors", 0);
        if ((r->has_bytes = cJSON_HasObjectItem(row, "bytes")))
            r->bytes = num(row, "bytes", 0);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(row, "hist"), *b;
        int nh = cJSON_IsArray(h) ? cJSON_GetArraySize(h) : 0;
        if (nh > 0 && (r->hist = calloc((size_t)nh, sizeof *r->hist))) {
            cJSON_ArrayForEach(b, h)
            {
                const cJSON *lo = cJSON_GetArrayItem(b, 0), *n = cJSON_GetArrayItem(b, 1);
                if (cJSON_IsNumber(lo) && cJSON_IsNumber(n))
                    r->hist[r->nhist++] = (struct ta_bucket){lo->valuedouble, n->valuedouble};
            }
        }
    });
    ROWS(files, struct ta_filerow, p->files, p->nfiles, {
        const char *fp = str(row, "path");
        if (!fp) {
            run->bad_rows++;
            continue;
        }
        r->path = strdup(fp);
        r->opens = num(row, "opens", 0);
        r->closes = num(row, "closes", 0);
        r->reads = num(row, "reads", 0);
        r->writes = num(row, "writes", 0);
        r->syncs = num(row, "syncs", 0);
        r->meta = num(row, "meta", 0);
        r->errors = num(row, "errors", 0);
        r->bytes_read = num(row, "bytes_read", 0);
        r->bytes_written = num(row, "bytes_written", 0);
        r->read_ns = num(row, "read_ns", 0);
        r->write_ns = num(row, "write_ns", 0);
        r->other_ns = num(row, "other_ns", 0);
        /* older stats (no split): unknown, unless nothing was synced or stat'ed */
        r->sync_ns = num(row, "sync_ns", r->syncs > 0 ? -1 : 0);
        r->meta_ns = num(row, "meta_ns", r->meta > 0 ? -1 : 0);
    });
    ROWS(dsets, struct ta_dsrow, p->dsets, p->ndsets, {
        const cJSON *fv = cJSON_GetObjectItemCaseSensitive(row, "file");
        const char *dset = str(row, "dataset"), *file = cJSON_IsNull(fv) ? "" : str(row, "file");
        if (!dset || !file) {
            run->bad_rows++;
            continue;
        }
        r->file = strdup(file);
        r->dset = strdup(dset);
        r->reads = num(row, "reads", 0);
        r->writes = num(row, "writes", 0);
        r->bytes_read = num(row, "bytes_read", 0);
        r->bytes_written = num(row, "bytes_written", 0);
        r->total = num(row, "total_ns", 0);
        r->count = num(row, "count", 0);
        r->read_ns = num(row, "read_ns", 0);
        r->write_ns = num(row, "write_ns", 0);
        r->errors = num(row, "errors", 0);
        r->p95 = num(row, "p95_ns", 0);
        r->read_p95 = num(row, "read_p95_ns", 0);
        const cJSON *sels = cJSON_GetObjectItemCaseSensitive(row, "selections"), *e;
        int ns = cJSON_IsArray(sels) ? cJSON_GetArraySize(sels) : 0;
        if (ns > 0 && (r->sel = calloc((size_t)ns, sizeof *r->sel))) {
            cJSON_ArrayForEach(e, sels)
            {
                const char *shape = str(e, "shape");
                if (!shape || !(r->sel[r->nsel].shape = strdup(shape)))
                    continue;
                r->sel[r->nsel++].count = num(e, "count", 0);
            }
        }
    });
    ROWS(kernels, struct ta_kernel, p->kernels, p->nkernels, {
        const char *kn = str(row, "name");
        if (!kn) {
            run->bad_rows++;
            continue;
        }
        r->name = strdup(kn);
        r->count = num(row, "count", 0);
        r->total = num(row, "total_ns", 0);
        r->mean = num(row, "mean_ns", NAN);
        r->median = num(row, "median_ns", NAN);
        r->min = num(row, "min_ns", NAN);
        r->max = num(row, "max_ns", NAN);
        r->p95 = num(row, "p95_ns", NAN);
        r->p99 = num(row, "p99_ns", NAN);
        dim3(row, "grid", r->grid);
        dim3(row, "block", r->block);
    });
    ROWS(phases, struct ta_phase, p->phases, p->nphases, {
        const char *pn = str(row, "name");
        if (!pn) {
            run->bad_rows++;
            continue;
        }
        r->name = strdup(pn);
        r->count = num(row, "count", 0);
        r->total = num(row, "total_ns", 0);
        r->gpu_kernel_count = num(row, "gpu_kernel_count", 0);
        r->gpu_kernel_ns = num(row, "gpu_kernel_ns", 0);
        r->gpu_copy_count = num(row, "gpu_copy_count", 0);
        r->gpu_copy_ns = num(row, "gpu_copy_ns", 0);
        r->gpu_copy_bytes = num(row, "gpu_copy_bytes", 0);
        r->gpu_busy_ns = num(row, "gpu_busy_ns", 0);
        r->gpu_idle_pct = num(row, "gpu_idle_pct", NAN);
    });
    ROWS(counters, struct ta_counter, p->counters, p->ncounters, {
        const char *cat = str(row, "cat"), *cn = str(row, "name");
        if (!cat || !cn) {
            run->bad_rows++;
            continue;
        }
        r->cat = strdup(cat);
        r->name = strdup(cn);
        r->count = num(row, "count", 0);
        r->min = num(row, "min", NAN);
        r->max = num(row, "max", NAN);
        r->last = num(row, "last", NAN);
    });
    ROWS(threads, struct ta_named, p->threads, p->nthreads, {
        const char *tn = str(row, "name");
        char b[32];
        snprintf(b, sizeof b, "%.0f", num(row, "tid", 0));
        r->name = strdup(tn ? tn : b);
        r->n = num(row, "events", 0);
    });
    if (cJSON_IsObject(gpu)) {
        struct ta_gpu *g = &p->gpu;
        g->present = 1;
        g->kernel_count = num(gpu, "kernel_count", 0);
        g->kernel_ns = num(gpu, "kernel_ns", 0);
        g->copy_count = num(gpu, "copy_count", 0);
        g->copy_ns = num(gpu, "copy_ns", 0);
        g->bytes_htod = num(gpu, "bytes_htod", 0);
        g->bytes_dtoh = num(gpu, "bytes_dtoh", 0);
        g->bytes_dtod = num(gpu, "bytes_dtod", 0);
        g->memset_count = num(gpu, "memset_count", 0);
        g->memset_ns = num(gpu, "memset_ns", 0);
        g->busy_ns = num(gpu, "busy_ns", 0);
        g->first_ns = num(gpu, "first_ns", 0);
        g->last_ns = num(gpu, "last_ns", 0);
        g->idle_pct = num(gpu, "idle_pct", NAN);
        g->records_dropped = num(gpu, "records_dropped", 0);
    }
    int nt = cJSON_IsArray(tree) ? cJSON_GetArraySize(tree) : 0;
    if (nt > 0 && (p->tree = calloc((size_t)nt, sizeof *p->tree))) {
        const cJSON *k;
        cJSON_ArrayForEach(k, tree)
        {
            if (cJSON_IsObject(k))
                load_node(&p->tree[p->ntree++], k, 0);
        }
    }
    const cJSON *d;
    cJSON_ArrayForEach(d, dropped)
    {
        if (!d->string || !cJSON_IsNumber(d))
            continue;
        struct ta_named *e = realloc(p->dropped, (p->ndropped + 1) * sizeof *e);
        if (!e)
            break;
        p->dropped = e;
        if ((e[p->ndropped].name = strdup(d->string)))
            e[p->ndropped++].n = d->valuedouble;
    }
    cJSON_Delete(root);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Traces, streamed (throughput and memory: bench/NOTES.md, the CLI's run loader row) */

/* The value after `"key":` in line (top-level keys come first in the agent's lines) */
static const char *after_key(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? p + strlen(key) : NULL;
}

/* A JSON string at p (just after its opening quote) into buf; escapes \" \\ \/ \n \t kept
 * simple, \uXXXX copied as text. Returns buf. */
static char *json_str(const char *p, char *buf, size_t n)
{
    size_t k = 0;
    for (; *p && *p != '"' && k + 1 < n; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            if (*p == 'u') {
                buf[k++] = '\\';
                c = 'u';
            }
            if (k + 1 < n)
                buf[k++] = c;
            continue;
        }
        buf[k++] = *p;
    }
    buf[k] = 0;
    return buf;
}

static struct ta_track *track_of(struct ta_proc *p, double tid, size_t *capt)
{
    for (size_t i = p->ntracks; i-- > 0;)
        if (p->tracks[i].tid == tid)
            return &p->tracks[i];
    struct ta_track *t = grow1((void **)&p->tracks, &p->ntracks, capt, sizeof *t);
    if (t)
        t->tid = tid;
    return t;
}

/* A span into its track's top-level list. The agent writes a thread's spans as they end:
 * a parent comes after its children, so the children at the tail that it covers are
 * popped; a span inside the last kept one is nested and dropped. */
static void add_span(struct ta_run *run, struct ta_track *t, const char *name, double ts,
                     double dur, int marker)
{
    double end = ts + dur;
    while (t->nspans) {
        struct ta_span *l = &t->spans[t->nspans - 1];
        if (l->ts >= ts && l->ts + l->dur <= end)
            t->nspans--; /* a child of this one */
        else
            break;
    }
    if (t->nspans) {
        struct ta_span *l = &t->spans[t->nspans - 1];
        if (l->ts <= ts && l->ts + l->dur >= end)
            return; /* nested in it */
    }
    if (t->nspans >= TA_MAX_SPANS_PER_TRACK) {
        /* memory stays bounded: neighbours merged in pairs (half the resolution, far
         * finer than a terminal's columns still), the busy share kept */
        size_t k = 0;
        for (size_t j = 0; j + 1 < t->nspans; j += 2) {
            struct ta_span a = t->spans[j], b = t->spans[j + 1];
            double e = b.ts + b.dur > a.ts + a.dur ? b.ts + b.dur : a.ts + a.dur;
            double ext = e - a.ts;
            struct ta_span m = {a.ts, ext, 1, a.dur * a.busy >= b.dur * b.busy ? a.name : b.name,
                                (uint8_t)(a.marker | b.marker)};
            m.busy = ext > 0 ? (float)((a.dur * a.busy + b.dur * b.busy) / ext) : 1;
            t->spans[k++] = m;
        }
        if (t->nspans % 2)
            t->spans[k++] = t->spans[t->nspans - 1];
        t->nspans = k;
        t->capped++;
    }
    uint32_t id;
    if (intern(run, name, &id) < 0)
        return;
    struct ta_span *s = grow1((void **)&t->spans, &t->nspans, &t->cap, sizeof *s);
    if (s)
        *s = (struct ta_span){ts, dur, 1, id, (uint8_t)marker};
}

static void load_trace(struct ta_run *run, struct ta_proc *p, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "traceagent: %s: %s\n", path, strerror(errno));
        run->bad_files++;
        return;
    }
    p->trace_read = 1;
    p->first_ts = -1;
    size_t capt = p->ntracks;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int last_closed = 0, last_whole = 1;
    char name[512];
    double line_pid = -1;
    while ((len = getline(&line, &cap, f)) > 0) {
        int whole = line[len - 1] == '\n';
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = 0;
        if (!len)
            continue;
        last_whole = whole;
        last_closed = strcmp(line, "]") == 0;
        if (line[0] != '{')
            continue;
        if (!whole || (line[len - 1] != '}' && !(line[len - 1] == ',' && line[len - 2] == '}')))
            continue; /* the cut line */
        p->trace_lines++;
        if (line_pid < 0) { /* the pid when the file has no process_start (cut, edited) */
            const char *lp = after_key(line, "\"pid\":");
            if (lp)
                line_pid = strtod(lp, NULL);
        }
        const char *ph = after_key(line, "\"ph\":\"");
        const char *nm = after_key(line, "\"name\":\"");
        const char *ts = after_key(line, "\"ts\":");
        const char *tid = after_key(line, "\"tid\":");
        if (!ph || !nm)
            continue;
        json_str(nm, name, sizeof name);
        double t = ts ? strtod(ts, NULL) : 0;
        if (*ph == 'M') {
            const char *an = after_key(line, "\"args\":{\"name\":\"");
            char v[256];
            if (!an)
                continue;
            json_str(an, v, sizeof v);
            if (strcmp(name, "thread_name") == 0 && tid) {
                struct ta_track *tr = track_of(p, strtod(tid, NULL), &capt);
                if (tr && !tr->name)
                    tr->name = strdup(v);
            } else if (strcmp(name, "process_name") == 0 && !p->exe) {
                char *sp = strrchr(v, ' ');
                if (sp && sp[1] == '(')
                    *sp = 0;
                p->exe = strdup(v);
            }
            continue;
        }
        if (*ph == 'i' && strcmp(name, "process_start") == 0) {
            const char *pid = after_key(line, "\"pid\":");
            const char *rt = after_key(line, "\"realtime_ns\":");
            const char *mo = after_key(line, "\"monotonic_ns\":");
            const char *cl = after_key(line, "\"cmdline\":\"");
            if (pid && p->pid < 0)
                p->pid = strtod(pid, NULL);
            if (rt && p->start_ns < 0)
                p->start_ns = strtod(rt, NULL);
            if (mo && p->mono_start_ns < 0)
                p->mono_start_ns = strtod(mo, NULL);
            if (cl && !p->cmdline) {
                char v[1024];
                p->cmdline = strdup(json_str(cl, v, sizeof v));
            }
        }
        if (*ph == 'M' || !ts)
            continue;
        double dur = 0;
        if (*ph == 'X') {
            const char *d = after_key(line, "\"dur\":");
            dur = d ? strtod(d, NULL) : 0;
        }
        if (p->first_ts < 0 || t < p->first_ts)
            p->first_ts = t;
        if (t + dur > p->last_ts)
            p->last_ts = t + dur;
        if (!tid)
            continue;
        if (*ph == 'X') {
            const char *cat = after_key(line, "\"cat\":\"");
            struct ta_track *tr = track_of(p, strtod(tid, NULL), &capt);
            if (tr)
                add_span(run, tr, name, t, dur, cat && strncmp(cat, "marker\"", 7) == 0);
        } else if (*ph == 'i' && strncmp(name, "process_", 8) != 0) {
            struct ta_track *tr = track_of(p, strtod(tid, NULL), &capt);
            if (tr)
                tr->instants++;
        }
    }
    free(line);
    if (ferror(f)) {
        fprintf(stderr, "traceagent: %s: read error\n", path);
        run->bad_files++;
    }
    fclose(f);
    p->trace_cut = !last_closed || !last_whole;
    if (p->pid < 0 && line_pid >= 0)
        p->pid = line_pid;
    if (p->first_ts < 0)
        p->first_ts = p->last_ts = -1;
}

/* A trace not read (its process has stats): whether it ends as the agent ends one ("]"
 * on the last line); only its last bytes are read. */
static int trace_cut_tail(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char buf[64];
    size_t n = 0;
    if (fseek(f, -(long)sizeof buf, SEEK_END) != 0)
        rewind(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
        n--;
    return n > 0 && buf[n - 1] != ']';
}

/* ------------------------------------------------------------------------------------ */
/* Files */

struct flist {
    char **v;
    size_t n, cap;
};

/* No duplicate check here (it made a 10,000-process directory quadratic, bench/NOTES.md
 * row 40): ta_run_load_files sorts the list and skips repeats. */
static void flist_add(struct flist *l, const char *path)
{
    char **s = grow1((void **)&l->v, &l->n, &l->cap, sizeof *s);
    if (s && !(*s = strdup(path)))
        l->n--;
}

/* "run-007", "warmup-000": a subdirectory `run --repeat` made (kind: "run-"/"warmup-") */
static int numbered(const char *name, const char *kind)
{
    size_t k = strlen(kind);
    if (strncmp(name, kind, k) != 0 || !name[k])
        return 0;
    for (name += k; *name; name++)
        if (*name < '0' || *name > '9')
            return 0;
    return 1;
}

/* A `run --repeat` output directory: run-NNN/ subdirectories (and warmup-NNN/, repeat.json).
 * Counts them; 1 when it is one. */
static int repeat_dir(const char *dir, size_t *runs, size_t *warmups)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    *runs = *warmups = 0;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        int r = numbered(e->d_name, "run-"), w = numbered(e->d_name, "warmup-");
        if (!r && !w)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        *runs += r;
        *warmups += w;
    }
    closedir(d);
    char rj[PATH_MAX];
    snprintf(rj, sizeof rj, "%s/repeat.json", dir);
    return *runs > 0 && (*warmups > 0 || access(rj, F_OK) == 0);
}

static int walk(struct flist *l, const char *dir, int depth, int skip_warmups)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (skip_warmups && numbered(e->d_name, "warmup-")))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 16)
                walk(l, path, depth + 1, 0);
        } else if (ends_with(e->d_name, ".stats.json") || ends_with(e->d_name, ".trace.json")) {
            flist_add(l, path);
        }
    }
    closedir(d);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct stem { /* "dir/cat-12" of "dir/cat-12.stats.json" (not NUL-ended: len) */
    const char *s;
    size_t len, proc;
};

static int cmp_stem(const void *a, const void *b)
{
    const struct stem *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

struct ta_run *ta_run_load_files(size_t nfiles, char **files, const struct ta_load_opts *opts)
{
    struct ta_run *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    char **v = malloc((nfiles ? nfiles : 1) * sizeof *v);
    if (!v) {
        free(run);
        return NULL;
    }
    memcpy(v, files, nfiles * sizeof *v);
    qsort(v, nfiles, sizeof *v, cmp_str);
    { /* a file named twice (a directory and a file in it) is read once */
        size_t k = 0;
        for (size_t i = 0; i < nfiles; i++)
            if (!k || strcmp(v[k - 1], v[i]) != 0)
                v[k++] = v[i];
        nfiles = k;
    }
    size_t capp = 0;
    struct stem *stems = NULL; /* the stats files' stems, sorted: a trace finds its process */
    size_t nstems = 0;
    /* stats files first (a process is its stats), then the traces: their process by stem */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && run->nprocs && (stems = malloc(run->nprocs * sizeof *stems))) {
            for (size_t j = 0; j < run->nprocs; j++) {
                const char *sp = run->procs[j].stats_path;
                if (sp)
                    stems[nstems++] = (struct stem){sp, strlen(sp) - 11, j};
            }
            qsort(stems, nstems, sizeof *stems, cmp_stem);
        }
        for (size_t i = 0; i < nfiles; i++) {
            const char *f = v[i];
            int is_stats = ends_with(f, ".stats.json");
            if (pass == 0 && is_stats) {
                struct ta_proc *p = grow1((void **)&run->procs, &run->nprocs, &capp, sizeof *p);
                if (!p)
                    break;
                p->pid = p->ppid = p->start_ns = p->duration_ns = p->mono_start_ns = -1;
                p->first_ts = p->last_ts = -1;
                p->events = -1;
                run->nfiles_read++;
                if (load_stats(run, p, f) < 0) {
                    run->bad_files++;
                    free(p->exe);
                    free(p->cmdline);
                    free(p->signal);
                    run->nprocs--;
                    continue;
                }
                p->stats_path = strdup(f);
            } else if (pass == 1 && !is_stats) {
                size_t stem = strlen(f) - strlen(".trace.json");
                struct ta_proc *p = NULL;
                struct stem key = {f, stem, 0}, *hit = NULL;
                if (stems)
                    hit = bsearch(&key, stems, nstems, sizeof *stems, cmp_stem);
                if (hit)
                    p = &run->procs[hit->proc];
                if (!p) {
                    p = grow1((void **)&run->procs, &run->nprocs, &capp, sizeof *p);
                    if (!p)
                        break;
                    p->pid = p->ppid = p->start_ns = p->duration_ns = p->mono_start_ns = -1;
                    p->first_ts = p->last_ts = -1;
                    p->events = -1;
                    p->complete = 0;
                }
                p->trace_path = strdup(f);
                run->nfiles_read++;
                if (p->has_stats && !(opts && opts->traces))
                    p->trace_cut = trace_cut_tail(f);
                if (!p->has_stats || (opts && opts->traces)) {
                    load_trace(run, p, f);
                    if (!p->has_stats && p->first_ts >= 0) {
                        if (!p->exe)
                            p->exe = strdup("?");
                        p->events = p->trace_lines;
                        if (p->mono_start_ns >= 0)
                            p->duration_ns = p->last_ts * 1e3 - p->mono_start_ns;
                        else
                            p->duration_ns = (p->last_ts - p->first_ts) * 1e3;
                    }
                }
                if (!p->exe)
                    p->exe = strdup("?");
            }
        }
    }
    free(stems);
    free(v);
    return run;
}

struct ta_run *ta_run_load(int npaths, char **paths, const struct ta_load_opts *opts)
{
    struct flist l = {0};
    size_t bad = 0, repruns = 0, repwarm = 0;
    const char *repdir = NULL;
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            fprintf(stderr, "traceagent: %s: %s\n", paths[i], strerror(errno));
            bad++;
        } else if (S_ISDIR(st.st_mode)) {
            size_t before = l.n, runs, warmups;
            /* a `run --repeat` directory: its measured runs, the warm-ups left out (they
             * are not the program's steady state); the report says so (ta_run_repeat_note) */
            int rep = repeat_dir(paths[i], &runs, &warmups);
            if (rep && !repdir) {
                repdir = paths[i];
                repruns = runs;
                repwarm = warmups;
            }
            if (walk(&l, paths[i], 0, rep) < 0) {
                fprintf(stderr, "traceagent: %s: cannot read the directory\n", paths[i]);
                bad++;
            } else if (l.n == before) {
                fprintf(stderr, "traceagent: %s: no *.stats.json or *.trace.json files\n",
                        paths[i]);
            }
        } else {
            flist_add(&l, paths[i]);
            /* the trace beside a stats file: the same process */
            size_t n = strlen(paths[i]);
            if (ends_with(paths[i], ".stats.json")) {
                char tr[PATH_MAX];
                snprintf(tr, sizeof tr, "%.*s.trace.json", (int)(n - 11), paths[i]);
                if (access(tr, R_OK) == 0)
                    flist_add(&l, tr);
            }
        }
    }
    struct ta_run *run = ta_run_load_files(l.n, l.v, opts);
    if (run) {
        run->bad_files += bad;
        if (repdir) {
            run->repeat_dir = strdup(repdir);
            run->repeat_runs = repruns;
            run->repeat_warmups = repwarm;
        }
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    return run;
}

void ta_run_repeat_note(const struct ta_run *run, FILE *out)
{
    if (!run || !run->repeat_dir)
        return;
    fprintf(out, "traceagent: %s holds %zu repeated run%s (%zu warm-up%s left out): the "
                 "numbers below add up the %zu measured runs; per-run statistics: "
                 "`traceagent diff` or %s/repeat.json\n",
            run->repeat_dir, run->repeat_runs, run->repeat_runs == 1 ? "" : "s",
            run->repeat_warmups, run->repeat_warmups == 1 ? "" : "s", run->repeat_runs,
            run->repeat_dir);
}

void ta_run_free(struct ta_run *run)
{
    if (!run)
        return;
    free(run->repeat_dir);
    for (size_t i = 0; i < run->nprocs; i++) {
        struct ta_proc *p = &run->procs[i];
        free(p->stats_path);
        free(p->trace_path);
        free(p->signal);
        free(p->exe);
        free(p->cmdline);
        free(p->exec_from);
        for (size_t k = 0; k < p->nops; k++) {
            free(p->ops[k].cat);
            free(p->ops[k].name);
            free(p->ops[k].hist);
        }
        free(p->ops);
        for (size_t k = 0; k < p->nfiles; k++)
            free(p->files[k].path);
        free(p->files);
        for (size_t k = 0; k < p->ndsets; k++) {
            free(p->dsets[k].file);
            free(p->dsets[k].dset);
            for (size_t j = 0; j < p->dsets[k].nsel; j++)
                free(p->dsets[k].sel[j].shape);
            free(p->dsets[k].sel);
        }
        free(p->dsets);
        for (size_t k = 0; k < p->nkernels; k++)
            free(p->kernels[k].name);
        free(p->kernels);
        for (size_t k = 0; k < p->nphases; k++)
            free(p->phases[k].name);
        free(p->phases);
        for (size_t k = 0; k < p->ntree; k++)
            free_node(&p->tree[k]);
        free(p->tree);
        for (size_t k = 0; k < p->ncounters; k++) {
            free(p->counters[k].cat);
            free(p->counters[k].name);
        }
        free(p->counters);
        for (size_t k = 0; k < p->ndropped; k++)
            free(p->dropped[k].name);
        free(p->dropped);
        for (size_t k = 0; k < p->nthreads; k++)
            free(p->threads[k].name);
        free(p->threads);
        for (size_t k = 0; k < p->ntracks; k++) {
            free(p->tracks[k].name);
            free(p->tracks[k].spans);
        }
        free(p->tracks);
    }
    free(run->procs);
    for (size_t i = 0; i < run->nnames; i++)
        free(run->names[i]);
    free(run->names);
    if (run->namemap)
        free(((struct namemap *)run->namemap)->slot);
    free(run->namemap);
    free(run);
}

static double proc_end(const struct ta_proc *p)
{
    return p->start_ns >= 0 && p->duration_ns >= 0 ? p->start_ns + p->duration_ns : -1;
}

/* The run's clock: the monotonic one when every process has it (exact in a double, where
 * realtime ns since 1970 are not: 2^53 ns is 104 days), else realtime. */
static int use_mono(const struct ta_run *run)
{
    for (size_t i = 0; i < run->nprocs; i++)
        if (run->procs[i].mono_start_ns < 0 && run->procs[i].start_ns >= 0)
            return 0;
    return 1;
}

size_t ta_run_fold_exec(struct ta_run *run)
{
    size_t n = 0;
    for (size_t i = 0; i < run->nprocs; i++) {
        struct ta_proc *a = &run->procs[i];
        if (a->folded || a->pid < 0 || a->start_ns < 0)
            continue;
        /* its successor: the same pid, the earliest start at or after a's end
         * (1 ms of slack: the end is taken in the destructor, just before the exec) */
        struct ta_proc *b = NULL;
        for (size_t j = 0; j < run->nprocs; j++) {
            struct ta_proc *c = &run->procs[j];
            if (c == a || c->pid != a->pid || c->start_ns < 0 || c->start_ns < a->start_ns ||
                c->start_ns + 1e6 < proc_end(a))
                continue;
            if (!b || c->start_ns < b->start_ns)
                b = c;
        }
        if (!b)
            continue;
        a->folded = 1;
        n++;
    }
    /* then each surviving image takes its predecessors' start, events and names, oldest
     * first */
    for (size_t i = 0; i < run->nprocs; i++) {
        struct ta_proc *b = &run->procs[i];
        if (b->folded)
            continue;
        char chain[512] = "";
        double first = b->start_ns, first_mono = b->mono_start_ns, events = 0;
        for (;;) {
            struct ta_proc *pred = NULL;
            for (size_t j = 0; j < run->nprocs; j++) {
                struct ta_proc *c = &run->procs[j];
                if (c->folded && c->pid == b->pid && c->start_ns >= 0 && c->start_ns < first &&
                    (!pred || c->start_ns > pred->start_ns))
                    pred = c;
            }
            if (!pred)
                break;
            char t[512];
            snprintf(t, sizeof t, "%s%s%s", pred->exe, *chain ? " -> " : "", chain);
            snprintf(chain, sizeof chain, "%s", t);
            first = pred->start_ns;
            first_mono = pred->mono_start_ns;
            events += pred->events > 0 ? pred->events : 0;
        }
        if (*chain) {
            double end = proc_end(b);
            b->exec_from = strdup(chain);
            if (b->mono_start_ns >= 0 && first_mono >= 0 && b->duration_ns >= 0) {
                b->duration_ns += b->mono_start_ns - first_mono; /* exact in a double */
                b->mono_start_ns = first_mono;
            } else if (end >= 0) {
                b->duration_ns = end - first;
            }
            b->start_ns = first;
            if (b->events >= 0)
                b->events += events;
        }
    }
    return n;
}

double ta_run_wall_ns(const struct ta_run *run, double *first)
{
    double lo = -1, hi = -1;
    int mono = use_mono(run);
    for (size_t i = 0; i < run->nprocs; i++) {
        const struct ta_proc *p = &run->procs[i];
        double st = mono ? p->mono_start_ns : p->start_ns;
        double e = st >= 0 && p->duration_ns >= 0 ? st + p->duration_ns : -1;
        if (st < 0 || e < 0)
            continue;
        if (lo < 0 || st < lo)
            lo = st;
        if (e > hi)
            hi = e;
    }
    if (first)
        *first = lo;
    return lo >= 0 ? hi - lo : 0;
}
