/* Reading stats.json files and printing the run summary (see summary.h).
 *
 * Several files (one per process) are merged: counts, totals and bytes add up; the mean is
 * total / count; a p95 cannot be merged from per-process percentiles, so with more than one
 * process the table shows the largest per-process p95 and says so in its header.
 * A malformed file is reported on stderr by name and skipped; malformed rows inside an
 * otherwise good file are skipped and counted. */
#include "summary.h"
#include "load.h"

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
    double count, total, bytes, self;
    double min, max, median, p95, p99; /* with several processes and no hist: the largest */
    int has_bytes, instant, nproc;
    int all_hist; /* every row had a `hist`: percentiles from the merged buckets */
    struct ta_bucket *hist;
    size_t nhist;
};

struct agg_file {
    char *path;
    double reads, writes, bytes_read, bytes_written, read_ns, write_ns, other_ns;
    double syncs, sync_ns, meta_ns;
    int unsplit; /* a row without sync_ns/meta_ns (older stats): "other" shown whole */
};

struct agg_kernel {
    char *name;
    double count, total, min, max, p95, grid[3], block[3];
    int multi;
};

struct agg_phase {
    char *name;
    double count, total, kernel_ns, kernel_count, copy_ns, copy_bytes, busy_ns;
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
    char *path, *exe, *cmdline, *exec_from;
    int nostats; /* a trace and no stats (killed by SIGKILL, still running): from its trace */
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
    struct strmap writtenmap; /* written's paths */
    size_t bad_rows;
    double trace_bytes, left_out, min_dur; /* the "agent" sections, summed (min_dur: max) */
    size_t with_callsites; /* files with call sites (TRACEAGENT_STACKS): the report says where */
    struct agg_kernel *kernels;
    size_t nkernels, capkernels;
    struct agg_phase *phases;
    size_t nphases, capphases;
    struct ta_gpu gpu; /* summed; last_ns holds the sum of the active spans */
    double wall_ns, process_ns, traced_ns; /* traced: top-level spans (tree roots) */
    size_t nfolded, cut;
    const char *cut_example;
    size_t nostats;     /* processes with a trace and no stats */
    size_t nstatsprocs; /* rows of procs with stats (the others: nostats rows) */
    double trace_traced_ns; /* top-level spans of the processes without stats (traces) */
    struct { char *name; double count, total; } *tspans; /* those spans by name */
    size_t ntspans;
    char *dir; /* where the files are (the file list's "... N more in DIR") */
};

struct ta_summary *ta_summary_new(void) { return calloc(1, sizeof(struct ta_summary)); }

void ta_summary_free(struct ta_summary *s)
{
    if (s) {
        for (size_t k = 0; k < s->ntspans; k++)
            free(s->tspans[k].name);
        free(s->tspans);
        strmap_free(&s->writtenmap);
    }
    if (!s)
        return;
    for (size_t i = 0; i < s->nops; i++) {
        free(s->ops[i].cat);
        free(s->ops[i].name);
        free(s->ops[i].hist);
    }
    for (size_t i = 0; i < s->nkernels; i++)
        free(s->kernels[i].name);
    free(s->kernels);
    for (size_t i = 0; i < s->nphases; i++)
        free(s->phases[i].name);
    free(s->phases);
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
        free(s->procs[i].exec_from);
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
    free(s->dir);
    free(s);
}

void ta_summary_add_file(struct ta_summary *s, const char *path)
{
    /* by a hash: a linear search made 10,000 processes quadratic (bench/NOTES.md row 40) */
    if (strmap_get(&s->writtenmap, path) != SIZE_MAX)
        return;
    char **slot = grow((void **)&s->written, &s->nwritten, &s->capwritten, sizeof *slot);
    if (slot && !(*slot = strdup(path)))
        s->nwritten--;
    else if (slot)
        strmap_put(&s->writtenmap, path, s->nwritten - 1);
}

/* ------------------------------------------------------------------------------------ */
/* Reading */

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

static struct agg_op *op_get(struct ta_summary *s, const char *cat, const char *name,
                             int instant)
{
    char *key = op_key(cat, name);
    if (!key)
        return NULL;
    size_t i = strmap_get(&s->opmap, key);
    struct agg_op *o;
    if (i == SIZE_MAX) {
        o = grow((void **)&s->ops, &s->nops, &s->capops, sizeof *o);
        if (!o || strmap_put(&s->opmap, key, s->nops - 1) < 0 || !(o->cat = strdup(cat)) ||
            !(o->name = strdup(name))) {
            free(key);
            return NULL;
        }
        o->instant = instant;
        o->min = o->max = o->p95 = o->p99 = o->median = NAN;
        o->all_hist = 1;
    } else {
        o = &s->ops[i];
    }
    free(key);
    return o;
}

/* merges a row's histogram into o's (both ascending by lower bound) */
static void hist_merge(struct agg_op *o, const struct ta_bucket *h, size_t n)
{
    struct ta_bucket *m = malloc((o->nhist + n) * sizeof *m);
    if (!m) {
        o->all_hist = 0;
        return;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < o->nhist || j < n) {
        if (j >= n || (i < o->nhist && o->hist[i].lo < h[j].lo))
            m[k++] = o->hist[i++];
        else if (i >= o->nhist || h[j].lo < o->hist[i].lo)
            m[k++] = h[j++];
        else {
            m[k] = o->hist[i++];
            m[k++].n += h[j++].n;
        }
    }
    free(o->hist);
    o->hist = m;
    o->nhist = k;
}

static double fmax_nan(double a, double b) { return isnan(a) ? b : isnan(b) ? a : a > b ? a : b; }
static double fmin_nan(double a, double b) { return isnan(a) ? b : isnan(b) ? a : a < b ? a : b; }

static void add_op(struct ta_summary *s, const struct ta_oprow *r)
{
    struct agg_op *o = op_get(s, r->cat, r->name, !r->span);
    if (!o)
        return;
    o->nproc++;
    o->count += r->count;
    o->total += r->total;
    o->min = fmin_nan(o->min, r->min);
    o->max = fmax_nan(o->max, r->max);
    o->p95 = fmax_nan(o->p95, r->p95);
    o->p99 = fmax_nan(o->p99, r->p99);
    o->median = fmax_nan(o->median, r->median);
    if (r->has_bytes) {
        o->has_bytes = 1;
        o->bytes += r->bytes;
    }
    if (r->hist && o->all_hist)
        hist_merge(o, r->hist, r->nhist);
    else if (r->span && r->count > 0)
        o->all_hist = 0;
}

/* self time per op from a process's tree (each node's self, by its (cat, name)) */
static void add_tree_self(struct ta_summary *s, const struct ta_node *n, size_t k, int top)
{
    for (size_t i = 0; i < k; i++) {
        struct agg_op *o = op_get(s, n[i].cat, n[i].name, 0);
        if (o)
            o->self += n[i].self;
        if (top)
            s->traced_ns += n[i].total;
        add_tree_self(s, n[i].kids, n[i].nkids, 0);
    }
}

static void add_file_row(struct ta_summary *s, const struct ta_filerow *r)
{
    size_t i = strmap_get(&s->filemap, r->path);
    struct agg_file *f;
    if (i == SIZE_MAX) {
        f = grow((void **)&s->files, &s->nfiles, &s->capfiles, sizeof *f);
        if (!f || strmap_put(&s->filemap, r->path, s->nfiles - 1) < 0 ||
            !(f->path = strdup(r->path)))
            return;
    } else {
        f = &s->files[i];
    }
    f->reads += r->reads;
    f->writes += r->writes;
    f->bytes_read += r->bytes_read;
    f->bytes_written += r->bytes_written;
    f->read_ns += r->read_ns;
    f->write_ns += r->write_ns;
    f->other_ns += r->other_ns;
    f->syncs += r->syncs;
    if (r->sync_ns < 0 || r->meta_ns < 0)
        f->unsplit = 1;
    else {
        f->sync_ns += r->sync_ns;
        f->meta_ns += r->meta_ns;
    }
}

static void add_ds_row(struct ta_summary *s, const struct ta_dsrow *r)
{
    char *key = op_key(r->file, r->dset);
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
        if (!(d->file = strdup(r->file)) || !(d->dset = strdup(r->dset)) ||
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
    d->reads += r->reads;
    d->writes += r->writes;
    d->bytes_read += r->bytes_read;
    d->bytes_written += r->bytes_written;
    d->total += r->total;
    d->count += r->count;
    d->read_ns += r->read_ns;
    d->write_ns += r->write_ns;
    d->errors += r->errors;
    if (r->p95 > d->p95) /* as the span table: the largest per-process p95 */
        d->p95 = r->p95;
    if (r->read_p95 > d->read_p95)
        d->read_p95 = r->read_p95;
    for (size_t j = 0; j < r->nsel; j++) {
        const char *shape = r->sel[j].shape;
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
        d->sel[k].count += r->sel[j].count;
    }
}

static void add_counter(struct ta_summary *s, const struct ta_counter *r)
{
    char *key = op_key(r->cat, r->name);
    if (!key)
        return;
    size_t i = strmap_get(&s->countermap, key);
    struct agg_counter *c;
    if (i == SIZE_MAX) {
        c = grow((void **)&s->counters, &s->ncounters, &s->capcounters, sizeof *c);
        if (!c || strmap_put(&s->countermap, key, s->ncounters - 1) < 0 ||
            !(c->cat = strdup(r->cat)) || !(c->name = strdup(r->name))) {
            free(key);
            return;
        }
        c->min = r->min;
        c->max = r->max;
    } else {
        c = &s->counters[i];
        if (r->min < c->min || isnan(c->min))
            c->min = r->min;
        if (r->max > c->max || isnan(c->max))
            c->max = r->max;
    }
    free(key);
    c->count += r->count;
    c->last = r->last;
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

static void add_kernel(struct ta_summary *s, const struct ta_kernel *r)
{
    for (size_t i = 0; i < s->nkernels; i++) {
        struct agg_kernel *k = &s->kernels[i];
        if (strcmp(k->name, r->name) == 0) {
            k->count += r->count;
            k->total += r->total;
            k->min = fmin_nan(k->min, r->min);
            k->max = fmax_nan(k->max, r->max);
            k->p95 = fmax_nan(k->p95, r->p95);
            k->multi = 1;
            return;
        }
    }
    struct agg_kernel *k = grow((void **)&s->kernels, &s->nkernels, &s->capkernels, sizeof *k);
    if (!k || !(k->name = strdup(r->name))) {
        if (k)
            s->nkernels--;
        return;
    }
    k->count = r->count;
    k->total = r->total;
    k->min = r->min;
    k->max = r->max;
    k->p95 = r->p95;
    memcpy(k->grid, r->grid, sizeof k->grid);
    memcpy(k->block, r->block, sizeof k->block);
}

static void add_phase(struct ta_summary *s, const struct ta_phase *r)
{
    struct agg_phase *p = NULL;
    for (size_t i = 0; i < s->nphases && !p; i++)
        if (strcmp(s->phases[i].name, r->name) == 0)
            p = &s->phases[i];
    if (!p) {
        p = grow((void **)&s->phases, &s->nphases, &s->capphases, sizeof *p);
        if (!p || !(p->name = strdup(r->name))) {
            if (p)
                s->nphases--;
            return;
        }
    }
    p->count += r->count;
    p->total += r->total;
    p->kernel_ns += r->gpu_kernel_ns;
    p->kernel_count += r->gpu_kernel_count;
    p->copy_ns += r->gpu_copy_ns;
    p->copy_bytes += r->gpu_copy_bytes;
    p->busy_ns += r->gpu_busy_ns;
}

static void add_proc(struct ta_summary *s, const struct ta_proc *tp)
{
    if (tp->stats_path)
        ta_summary_add_file(s, tp->stats_path);
    if (tp->trace_path)
        ta_summary_add_file(s, tp->trace_path);
    if (tp->trace_cut) {
        s->cut++;
        if (!s->cut_example)
            s->cut_example = tp->trace_path;
    }
    if (!tp->has_stats) {
        struct proc *p;
        if (tp->folded || !tp->trace_read ||
            !(p = grow((void **)&s->procs, &s->nprocs, &s->capprocs, sizeof *p)))
            return;
        p->nostats = 1;
        p->path = tp->trace_path ? strdup(tp->trace_path) : NULL;
        p->exe = strdup(tp->exe ? tp->exe : "?");
        p->cmdline = tp->cmdline ? strdup(tp->cmdline) : NULL;
        p->pid = tp->pid;
        p->duration_ns = tp->duration_ns;
        p->events = tp->trace_lines;
        /* its trace's top-level spans count as traced (merged spans: their busy share) */
        for (size_t k = 0; k < tp->ntracks; k++)
            for (size_t j = 0; j < tp->tracks[k].nspans; j++)
                s->trace_traced_ns +=
                    tp->tracks[k].spans[j].dur * 1e3 * tp->tracks[k].spans[j].busy;
        return;
    }
    if (tp->callsites)
        s->with_callsites++;
    for (size_t i = 0; i < tp->nops; i++)
        add_op(s, &tp->ops[i]);
    add_tree_self(s, tp->tree, tp->ntree, 1);
    for (size_t i = 0; i < tp->nfiles; i++)
        add_file_row(s, &tp->files[i]);
    for (size_t i = 0; i < tp->ndsets; i++)
        add_ds_row(s, &tp->dsets[i]);
    for (size_t i = 0; i < tp->ncounters; i++)
        add_counter(s, &tp->counters[i]);
    for (size_t i = 0; i < tp->ndropped; i++)
        add_dropped(s, tp->dropped[i].name, tp->dropped[i].n);
    for (size_t i = 0; i < tp->nkernels; i++)
        add_kernel(s, &tp->kernels[i]);
    for (size_t i = 0; i < tp->nphases; i++)
        add_phase(s, &tp->phases[i]);
    if (tp->gpu.present) {
        struct ta_gpu *g = &s->gpu;
        g->present = 1;
        g->kernel_count += tp->gpu.kernel_count;
        g->kernel_ns += tp->gpu.kernel_ns;
        g->copy_count += tp->gpu.copy_count;
        g->copy_ns += tp->gpu.copy_ns;
        g->bytes_htod += tp->gpu.bytes_htod;
        g->bytes_dtoh += tp->gpu.bytes_dtoh;
        g->bytes_dtod += tp->gpu.bytes_dtod;
        g->memset_count += tp->gpu.memset_count;
        g->memset_ns += tp->gpu.memset_ns;
        g->busy_ns += tp->gpu.busy_ns;
        g->records_dropped += tp->gpu.records_dropped;
        g->last_ns += tp->gpu.last_ns - tp->gpu.first_ns; /* the active spans, summed */
    }
    s->trace_bytes += tp->trace_bytes;
    s->left_out += tp->left_out;
    if (tp->min_dur > s->min_dur)
        s->min_dur = tp->min_dur;
    if (tp->folded)
        return; /* its row is its successor's */
    struct proc *p = grow((void **)&s->procs, &s->nprocs, &s->capprocs, sizeof *p);
    if (p) {
        s->nstatsprocs++;
        p->path = strdup(tp->stats_path);
        p->exe = strdup(tp->exe ? tp->exe : "?");
        p->cmdline = tp->cmdline ? strdup(tp->cmdline) : NULL;
        p->exec_from = tp->exec_from ? strdup(tp->exec_from) : NULL;
        p->pid = tp->pid;
        p->duration_ns = tp->duration_ns;
        p->events = tp->events;
        p->incomplete = !tp->complete;
        p->signal = tp->signal ? strdup(tp->signal) : NULL;
    }
}

void ta_summary_add_run(struct ta_summary *s, struct ta_run *run)
{
    s->nfolded += ta_run_fold_exec(run);
    for (size_t i = 0; i < run->nprocs; i++)
        add_proc(s, &run->procs[i]);
    /* A process without stats counts with its trace's span (first to last event, as its
     * row shows it): the process time is the sum of the rows listed. */
    for (size_t i = 0; i < run->nprocs; i++) {
        const struct ta_proc *p = &run->procs[i];
        s->process_ns += p->duration_ns > 0 && !p->folded ? p->duration_ns : 0;
        s->nostats += !p->has_stats && !p->folded;
    }
    /* No stats at all (--export json, SIGKILL): the traces' top-level spans by name are
     * what there is to show of the ops. */
    double *cnt = NULL, *tot = NULL;
    if (!s->nstatsprocs && s->nostats && run->nnames) {
        cnt = calloc(run->nnames, sizeof *cnt);
        tot = calloc(run->nnames, sizeof *tot);
    }
    for (size_t i = 0; cnt && tot && i < run->nprocs; i++) {
        const struct ta_proc *p = &run->procs[i];
        if (p->has_stats || p->folded)
            continue;
        for (size_t k = 0; k < p->ntracks; k++)
            for (size_t j = 0; j < p->tracks[k].nspans; j++) {
                const struct ta_span *sp = &p->tracks[k].spans[j];
                if (sp->name < run->nnames) {
                    cnt[sp->name]++;
                    tot[sp->name] += sp->dur * 1e3 * sp->busy;
                }
            }
    }
    for (size_t n = 0; cnt && tot && n < run->nnames; n++) {
        if (!cnt[n])
            continue;
        void *nv = realloc(s->tspans, (s->ntspans + 1) * sizeof *s->tspans);
        if (!nv)
            break;
        s->tspans = nv;
        s->tspans[s->ntspans].name = strdup(run->names[n]);
        s->tspans[s->ntspans].count = cnt[n];
        s->tspans[s->ntspans++].total = tot[n];
    }
    free(cnt);
    free(tot);
    s->wall_ns = ta_run_wall_ns(run, NULL);
    s->bad_rows += run->bad_rows;
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define NAME_MAX_W 48
#define PATH_MAX_W 56
#define FILE_ROWS 5 /* rows of the files and datasets sections */

/* Traces of processes that left no stats.json beside them (killed by SIGKILL, or still
 * running): their stats paths are not among the stats read. */
static size_t count_no_stats(const struct ta_summary *s) { return s->nostats; }

size_t ta_summary_nprocs(const struct ta_summary *s) { return s->nprocs; }

static int cmp_tspan(const void *a, const void *b)
{
    const struct ta_summary *z = NULL;
    const __typeof__(*z->tspans) *x = a, *y = b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->name, y->name);
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

static int cmp_proc_time(const void *a, const void *b)
{
    const struct proc *x = a, *y = b;
    if (x->duration_ns != y->duration_ns)
        return x->duration_ns < y->duration_ns ? 1 : -1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The executables: count, summed duration and events, by summed duration */
struct exe_tot {
    const char *exe;
    double n, ns, events;
};

static size_t exe_totals(const struct ta_summary *s, struct exe_tot **out)
{
    struct exe_tot *v = calloc(s->nprocs + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < s->nprocs; i++) {
        const struct proc *p = &s->procs[i];
        size_t k = 0;
        while (k < n && strcmp(v[k].exe, p->exe))
            k++;
        if (k == n)
            v[n++].exe = p->exe;
        v[k].n++;
        v[k].ns += p->duration_ns > 0 ? p->duration_ns : 0;
        v[k].events += p->events > 0 ? p->events : 0;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: few executables */
        for (size_t j = i; j > 0 && v[j].ns > v[j - 1].ns; j--) {
            struct exe_tot t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    return n;
}

static void print_procs(struct ta_summary *s, FILE *out, int top)
{
    char a[64], b[64], c[64];
    double events = 0;
    for (size_t i = 0; i < s->nprocs; i++)
        events += s->procs[i].events > 0 && (!s->procs[i].nostats || !s->nstatsprocs)
                      ? s->procs[i].events
                      : 0; /* only traces: their events */
    size_t nostats = count_no_stats(s), total = s->nstatsprocs + nostats;
    fprintf(out, "traceagent: %zu process%s, %.0f events", total, total == 1 ? "" : "es",
            events);
    if (s->nfolded)
        fprintf(out, " (%zu image%s replaced by exec folded into %s successor%s)", s->nfolded,
                s->nfolded == 1 ? "" : "s", s->nfolded == 1 ? "its" : "their",
                s->nfolded == 1 ? "" : "s");
    fprintf(out, "\n");
    print_partial(s, out, total, nostats);
    if (s->wall_ns > 0) {
        fprintf(out, "Wall time %s (first process start to last end); process time %s (sum "
                     "over processes of their duration)\n",
                ta_fmt_ns(a, sizeof a, s->wall_ns), ta_fmt_ns(b, sizeof b, s->process_ns));
        fprintf(out, "Traced: %s in top-level spans = %.1f%% of the process time (nested "
                     "spans counted once; threads add up, so it can pass 100%%)\n",
                ta_fmt_ns(c, sizeof c, s->traced_ns + s->trace_traced_ns),
                s->process_ns > 0 ? 100 * (s->traced_ns + s->trace_traced_ns) / s->process_ns
                                  : 0.0);
    }
    if (s->nprocs > 1)
        qsort(s->procs, s->nprocs, sizeof *s->procs, cmp_proc_time);
    size_t lim = top > 0 ? (size_t)top : s->nprocs;
    size_t shown = s->nprocs <= lim ? s->nprocs : lim;
    if (s->nprocs > 1)
        fprintf(out, "Processes by time:\n");
    for (size_t i = 0; i < shown; i++) {
        const struct proc *p = &s->procs[i];
        char cmd[128];
        fprintf(out, "  %s[%.0f]  %s  %s events  %s", p->exe, p->pid,
                ta_fmt_ns(a, sizeof a, p->duration_ns),
                p->events >= 0 ? (snprintf(b, sizeof b, "%.0f", p->events), b) : "?",
                p->cmdline ? fit(cmd, sizeof cmd, p->cmdline, 60, 0) : "");
        if (p->exec_from)
            fprintf(out, "  (exec'd from %s)", p->exec_from);
        if (p->nostats)
            fprintf(out, "  (no stats: its trace's events and span)");
        fputc('\n', out);
    }
    if (shown < s->nprocs)
        fprintf(out, "  ... %zu more\n", s->nprocs - shown);
    struct exe_tot *v;
    size_t n = exe_totals(s, &v);
    if (n > 1 || (n == 1 && v[0].n > 1)) {
        fprintf(out, "Per executable:");
        size_t k;
        for (k = 0; k < n && (top <= 0 || k < (size_t)top); k++)
            fprintf(out, "%s %s x%.0f %s", k ? "," : "", v[k].exe, v[k].n,
                    ta_fmt_ns(a, sizeof a, v[k].ns));
        if (k < n)
            fprintf(out, ", ... %zu more", n - k);
        fputc('\n', out);
    }
    free(v);
}

/* nearest rank from the merged buckets, each its midpoint, clamped to [min, max]: as the
 * agent computes a process's percentiles (exporters/stats.c) */
static double hist_pct(const struct agg_op *o, double pct)
{
    double rank = ceil(o->count * pct / 100), seen = 0;
    if (rank < 1)
        rank = 1;
    for (size_t i = 0; i < o->nhist; i++) {
        seen += o->hist[i].n;
        if (seen >= rank) {
            double lo = o->hist[i].lo, w = 1;
            if (lo >= 128)
                w = ldexp(1, ilogb(lo) - 7);
            double v = lo < 128 ? lo : lo + floor(w / 2);
            return v < o->min ? o->min : v > o->max ? o->max : v;
        }
    }
    return o->max;
}

/* an op's percentile: exact-ish (one process, or merged hist), else the largest
 * per-process value; *star set then */
static double op_pct(const struct agg_op *o, double pct, double maxval, int *star)
{
    if (o->nproc <= 1)
        return maxval;
    if (o->all_hist && o->nhist)
        return hist_pct(o, pct);
    *star = 1;
    return maxval;
}

static void print_ops(const struct ta_summary *s, FILE *out, int top)
{
    char nb_tmp[64];
    size_t nspan = 0;
    struct agg_op **v = malloc((s->nops ? s->nops : 1) * sizeof *v);
    if (!v)
        return;
    int any_bytes = 0;
    for (size_t i = 0; i < s->nops; i++)
        if (!s->ops[i].instant && s->ops[i].count > 0)
            v[nspan++] = &s->ops[i];
    if (nspan > 1)
        qsort(v, nspan, sizeof *v, cmp_op_total);
    size_t rows = top > 0 && (size_t)top < nspan ? (size_t)top : nspan;
    fputc('\n', out);
    if (!nspan) {
        fprintf(out, "No spans recorded.\n");
    } else {
        size_t catw = 3, namew = 4;
        int star = 0;
        for (size_t i = 0; i < rows; i++) {
            size_t cw = width(v[i]->cat), nw = width(v[i]->name);
            catw = cw > catw ? cw : catw;
            namew = nw > namew ? nw : namew;
            any_bytes |= v[i]->has_bytes;
            op_pct(v[i], 95, v[i]->p95, &star);
        }
        if (namew > NAME_MAX_W)
            namew = NAME_MAX_W;
        if (rows < nspan)
            fprintf(out, "Top %zu of %zu spans by total time", rows, nspan);
        else
            fprintf(out, "Spans by total time");
        if (s->nstatsprocs > 1)
            fprintf(out, " (%zu processes%s)", s->nstatsprocs,
                    star ? "; p95* is the largest per-process p95" : "");
        fprintf(out, ":\n");
        fputs("  ", out);
        put_col(out, "cat", catw, 1);
        fputs("  ", out);
        put_col(out, "name", namew, 1);
        fputs("  ", out);
        put_col(out, "count", 10, 0);
        put_col(out, "total", 11, 0);
        put_col(out, "self%", 7, 0);
        put_col(out, "min", 10, 0);
        put_col(out, star ? "median*" : "median", 10, 0);
        put_col(out, "mean", 10, 0);
        put_col(out, star ? "p95*" : "p95", 10, 0);
        put_col(out, star ? "p99*" : "p99", 10, 0);
        put_col(out, "max", 10, 0);
        if (any_bytes)
            put_col(out, "bytes", 11, 0);
        fputc('\n', out);
        for (size_t i = 0; i < rows; i++) {
            const struct agg_op *o = v[i];
            char nb[256], t[64];
            int st = 0;
            fputs("  ", out);
            put_col(out, o->cat, catw, 1);
            fputs("  ", out);
            put_col(out, fit(nb, sizeof nb, o->name, namew, 0), namew, 1);
            fputs("  ", out);
            snprintf(t, sizeof t, "%.0f", o->count);
            put_col(out, t, 10, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->total), 11, 0);
            /* self time (the tree's: nested spans counted once) over all traced time */
            snprintf(t, sizeof t, "%.1f", s->traced_ns > 0 ? 100 * o->self / s->traced_ns : 0.0);
            put_col(out, t, 7, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->min), 10, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, op_pct(o, 50, o->median, &st)), 10, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->count > 0 ? o->total / o->count : NAN), 10,
                    0);
            put_col(out, ta_fmt_ns(t, sizeof t, op_pct(o, 95, o->p95, &st)), 10, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, op_pct(o, 99, o->p99, &st)), 10, 0);
            put_col(out, ta_fmt_ns(t, sizeof t, o->max), 10, 0);
            if (any_bytes && o->has_bytes)
                put_col(out, ta_fmt_bytes(t, sizeof t, o->bytes), 11, 0);
            fputc('\n', out);
        }
        if (rows < nspan)
            fprintf(out, "  ... %zu more\n", nspan - rows);
        fprintf(out, "  (self%%: time in the op itself, its nested spans left out, as a share of "
                     "the %s traced in top-level spans)\n",
                ta_fmt_ns(nb_tmp, sizeof nb_tmp, s->traced_ns));
        if (star)
            fprintf(out, "  (*: no duration histograms in the stats: the largest per-process "
                         "value, not the run's)\n");
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

static double file_total(const struct agg_file *f) { return f->read_ns + f->write_ns + f->other_ns; }

static int cmp_file_all(const void *a, const void *b)
{
    const struct agg_file *x = *(struct agg_file *const *)a;
    const struct agg_file *y = *(struct agg_file *const *)b;
    double tx = file_total(x), ty = file_total(y);
    if (tx != ty)
        return tx < ty ? 1 : -1;
    return strcmp(x->path, y->path);
}

static void print_files(const struct ta_summary *s, FILE *out)
{
    if (!s->nfiles)
        return;
    struct agg_file **v = malloc(s->nfiles * sizeof *v);
    if (!v)
        return;
    int unsplit = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        v[i] = &s->files[i];
        unsplit |= s->files[i].unsplit;
    }
    if (s->nfiles > 1)
        qsort(v, s->nfiles, sizeof *v, cmp_file_all);
    size_t rows = s->nfiles < FILE_ROWS ? s->nfiles : FILE_ROWS;
    size_t pw = 4;
    for (size_t i = 0; i < rows; i++) {
        size_t w = width(v[i]->path);
        pw = w > pw ? w : pw;
    }
    if (pw > PATH_MAX_W)
        pw = PATH_MAX_W;
    fprintf(out, "\nFiles by I/O time (read + write + sync + metadata + other; top %zu of %zu):\n  ",
            rows, s->nfiles);
    put_col(out, "path", pw, 1);
    put_io_head(out);
    put_col(out, "sync time", 11, 0);
    put_col(out, unsplit ? "other time" : "meta time", 11, 0);
    put_col(out, "bandwidth", 12, 0);
    fputc('\n', out);
    for (size_t i = 0; i < rows; i++) {
        const struct agg_file *f = v[i];
        char pb[512], t[64];
        fputs("  ", out);
        put_col(out, fit(pb, sizeof pb, f->path, pw, 1), pw, 1);
        put_io_row(out, f->reads, f->bytes_read, f->writes, f->bytes_written, f->read_ns,
                   f->write_ns);
        put_col(out, unsplit ? "-" : ta_fmt_ns(t, sizeof t, f->sync_ns), 11, 0);
        put_col(out, ta_fmt_ns(t, sizeof t, unsplit ? f->other_ns : f->meta_ns), 11, 0);
        double io = f->read_ns + f->write_ns, by = f->bytes_read + f->bytes_written;
        if (io > 0 && by > 0) {
            ta_fmt_bytes(t, sizeof t, by / (io / 1e9));
            strcat(t, "/s");
        } else {
            snprintf(t, sizeof t, "-");
        }
        put_col(out, t, 12, 0);
        fputc('\n', out);
    }
    if (rows < s->nfiles)
        fprintf(out, "  ... %zu more\n", s->nfiles - rows);
    fprintf(out, "  (bandwidth: bytes over read + write time%s)\n",
            unsplit ? "; these stats do not split sync and metadata time: other time is open, "
                      "close, seek, sync and metadata" : "");
    free(v);
}

static int cmp_kernel(const void *a, const void *b)
{
    const struct agg_kernel *x = a, *y = b;
    return x->total != y->total ? (x->total < y->total ? 1 : -1) : strcmp(x->name, y->name);
}

static int cmp_phase(const void *a, const void *b)
{
    const struct agg_phase *x = a, *y = b;
    return x->total != y->total ? (x->total < y->total ? 1 : -1) : strcmp(x->name, y->name);
}

static void print_gpu(struct ta_summary *s, FILE *out, int top)
{
    char a[64], b[64], c[64], d[64], e[64];
    if (s->gpu.present) {
        const struct ta_gpu *g = &s->gpu;
        fprintf(out, "\nGPU: %.0f kernels %s, %.0f copies %s (HtoD %s, DtoH %s), busy %s = "
                     "%.1f%% of its active span\n",
                g->kernel_count, ta_fmt_ns(a, sizeof a, g->kernel_ns), g->copy_count,
                ta_fmt_ns(b, sizeof b, g->copy_ns), ta_fmt_bytes(c, sizeof c, g->bytes_htod),
                ta_fmt_bytes(d, sizeof d, g->bytes_dtoh),
                ta_fmt_ns(e, sizeof e, g->busy_ns),
                g->last_ns > 0 ? 100 * g->busy_ns / g->last_ns : 0.0);
    }
    if (s->nkernels) {
        if (s->nkernels > 1)
            qsort(s->kernels, s->nkernels, sizeof *s->kernels, cmp_kernel);
        size_t rows = top > 0 && (size_t)top < s->nkernels ? (size_t)top : s->nkernels;
        fprintf(out, "\nKernels by total time:\n  %-40s %8s %11s %10s %10s %10s  %s\n", "name",
                "count", "total", "mean", "p95", "max", "grid/block");
        for (size_t i = 0; i < rows; i++) {
            const struct agg_kernel *k = &s->kernels[i];
            char nb[128], t1[32], t2[32], t3[32], t4[32];
            fprintf(out, "  %-40s %8.0f %11s %10s %10s%s %10s  [%.0f,%.0f,%.0f]/[%.0f,%.0f,%.0f]\n",
                    fit(nb, sizeof nb, k->name, 40, 0), k->count,
                    ta_fmt_ns(t1, sizeof t1, k->total),
                    ta_fmt_ns(t2, sizeof t2, k->count ? k->total / k->count : NAN),
                    ta_fmt_ns(t3, sizeof t3, k->p95), k->multi ? "*" : " ",
                    ta_fmt_ns(t4, sizeof t4, k->max), k->grid[0], k->grid[1], k->grid[2],
                    k->block[0], k->block[1], k->block[2]);
        }
        if (rows < s->nkernels)
            fprintf(out, "  ... %zu more\n", s->nkernels - rows);
    }
    if (s->nphases) {
        if (s->nphases > 1)
            qsort(s->phases, s->nphases, sizeof *s->phases, cmp_phase);
        size_t rows = top > 0 && (size_t)top < s->nphases ? (size_t)top : s->nphases;
        fprintf(out, "\nMarkers with the GPU work they launched:\n  %-32s %8s %11s %11s %8s "
                     "%11s %11s %9s\n", "marker", "count", "total", "kernels", "n", "copies",
                "GPU busy", "GPU idle");
        for (size_t i = 0; i < rows; i++) {
            const struct agg_phase *p = &s->phases[i];
            char nb[128], t1[32], t2[32], t3[32], t4[32];
            fprintf(out, "  %-32s %8.0f %11s %11s %8.0f %11s %11s %8.1f%%\n",
                    fit(nb, sizeof nb, p->name, 32, 0), p->count,
                    ta_fmt_ns(t1, sizeof t1, p->total), ta_fmt_ns(t2, sizeof t2, p->kernel_ns),
                    p->kernel_count, ta_fmt_ns(t3, sizeof t3, p->copy_ns),
                    ta_fmt_ns(t4, sizeof t4, p->busy_ns),
                    p->total > 0 ? 100 * (1 - p->busy_ns / p->total) : 0.0);
        }
        if (rows < s->nphases)
            fprintf(out, "  ... %zu more\n", s->nphases - rows);
        fprintf(out, "  (GPU idle: the share of the marker's wall time with no GPU activity)\n");
    }
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
    if (s->ndsets > 1)
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
    int multi = s->nstatsprocs > 1;
    int errs = 0; /* failed calls shown only when some dataset had any */
    for (size_t i = 0; i < s->ndsets; i++)
        errs |= s->dsets[i].errors > 0;
    fprintf(out, "\nDatasets by read+write time (top %zu of %zu", rows, s->ndsets);
    if (multi)
        fprintf(out, "; %zu processes, read p95* is the largest per-process read p95",
                s->nstatsprocs);
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

void ta_summary_set_dir(struct ta_summary *s, const char *dir)
{
    free(s->dir);
    s->dir = dir ? strdup(dir) : NULL;
}

#define LIST_FILES 6 /* the file list at the end: a 148-process run lists 6 and the rest's count */

void ta_summary_print(struct ta_summary *s, FILE *out, int top)
{
    if (s->nstatsprocs) {
        print_procs(s, out, top);
        print_ops(s, out, top);
        print_counters(s, out);
        print_files(s, out);
        print_datasets(s, out);
        print_gpu(s, out, top);
        print_dropped(s, out);
        print_trace_volume(s, out);
        if (s->cut)
            fprintf(out, "\nNote: %zu trace%s cut short (e.g. %s): read to %s last whole line.\n",
                    s->cut, s->cut == 1 ? " was" : "s were", s->cut_example,
                    s->cut == 1 ? "its" : "their");
        if (s->with_callsites)
            fprintf(out, "\nCall stacks were recorded (%zu process%s): `traceagent report "
                         "--by-callsite` lists the code that made the calls, `traceagent tree` "
                         "the call paths with their call sites.\n", s->with_callsites,
                    s->with_callsites == 1 ? "" : "es");
        if (s->bad_rows)
            fprintf(out, "\n(%zu malformed rows were skipped)\n", s->bad_rows);
    } else if (s->nprocs) {
        /* Only traces (--export json, or every process killed by SIGKILL): the processes
         * and their top-level spans, as the traces give them. */
        print_procs(s, out, top);
        if (s->ntspans) {
            char a[64], b[64];
            if (s->ntspans > 1)
                qsort(s->tspans, s->ntspans, sizeof *s->tspans, cmp_tspan);
            fprintf(out, "\nTop-level spans from the traces (no statistics: no nested spans, "
                         "no percentiles):\n");
            fprintf(out, "  %-30s %10s %12s %12s\n", "Name", "Count", "Total", "Mean");
            size_t lim = top > 0 && (size_t)top < s->ntspans ? (size_t)top : s->ntspans;
            for (size_t i = 0; i < lim; i++) {
                char nb[128];
                fprintf(out, "  %-30s %10.0f %12s %12s\n",
                        fit(nb, sizeof nb, s->tspans[i].name, 30, 0), s->tspans[i].count,
                        ta_fmt_ns(a, sizeof a, s->tspans[i].total),
                        ta_fmt_ns(b, sizeof b, s->tspans[i].total / s->tspans[i].count));
            }
            if (lim < s->ntspans)
                fprintf(out, "  ... %zu more\n", s->ntspans - lim);
        }
        fprintf(out, "\nNo statistics were written: %zu process%s left a trace and no "
                     "stats.json (run with --export json only, the stats export off, or "
                     "killed by SIGKILL?); the numbers above come from the traces.\n",
                s->nostats, s->nostats == 1 ? "" : "es");
        if (s->cut)
            fprintf(out, "\nNote: %zu trace%s cut short (e.g. %s): read to %s last whole line.\n",
                    s->cut, s->cut == 1 ? " was" : "s were", s->cut_example,
                    s->cut == 1 ? "its" : "their");
    } else {
        fprintf(out, "traceagent: no statistics were written (stats export off, or the "
                     "program was killed by SIGKILL)\n");
    }
    if (s->nwritten) {
        char **v = malloc(s->nwritten * sizeof *v);
        if (v) {
            memcpy(v, s->written, s->nwritten * sizeof *v);
            if (s->nwritten > 1)
                qsort(v, s->nwritten, sizeof *v, cmp_str);
            size_t shown = s->nwritten <= LIST_FILES + 1 ? s->nwritten : LIST_FILES;
            fprintf(out, "\nFiles:\n");
            for (size_t i = 0; i < shown; i++)
                fprintf(out, "  %s\n", v[i]);
            if (shown < s->nwritten)
                fprintf(out, "  ... %zu more in %s\n", s->nwritten - shown,
                        s->dir ? s->dir : "the same directories");
            free(v);
        }
    }
    if (s->nprocs)
        fprintf(out, "More: traceagent report|tree|waterfall %s\n", s->dir ? s->dir : "PATH");
}

/* ------------------------------------------------------------------------------------ */
/* --format json|csv|markdown: the same numbers, as one JSON document (raw ns and bytes),
 * or its lists as CSV sections / markdown tables */

static void jnum(cJSON *o, const char *k, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

static cJSON *build_json(struct ta_summary *s, int top)
{
    cJSON *root = cJSON_CreateObject();
    size_t nostats = count_no_stats(s);
    jnum(root, "processes_count", (double)(s->nstatsprocs + nostats));
    jnum(root, "wall_ns", s->wall_ns);
    jnum(root, "process_ns", s->process_ns);
    jnum(root, "traced_ns", s->traced_ns + s->trace_traced_ns);
    jnum(root, "traced_pct",
         s->process_ns > 0 ? 100 * (s->traced_ns + s->trace_traced_ns) / s->process_ns : 0);
    jnum(root, "traces_cut", (double)s->cut);
    if (s->nprocs > 1)
        qsort(s->procs, s->nprocs, sizeof *s->procs, cmp_proc_time);
    size_t lim = top > 0 && (size_t)top < s->nprocs ? (size_t)top : s->nprocs;
    cJSON *a = cJSON_AddArrayToObject(root, "processes");
    for (size_t i = 0; i < lim; i++) {
        const struct proc *p = &s->procs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "exe", p->exe);
        jnum(o, "pid", p->pid);
        jnum(o, "duration_ns", p->duration_ns);
        jnum(o, "events", p->events);
        cJSON_AddStringToObject(o, "exec_from", p->exec_from ? p->exec_from : "");
        cJSON_AddBoolToObject(o, "stats", !p->nostats);
        cJSON_AddStringToObject(o, "cmdline", p->cmdline ? p->cmdline : "");
        cJSON_AddItemToArray(a, o);
    }
    jnum(root, "processes_more", (double)(s->nprocs - lim));
    struct exe_tot *ev;
    size_t ne = exe_totals(s, &ev);
    a = cJSON_AddArrayToObject(root, "executables");
    for (size_t i = 0; i < ne; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "exe", ev[i].exe);
        jnum(o, "processes", ev[i].n);
        jnum(o, "duration_ns", ev[i].ns);
        jnum(o, "events", ev[i].events);
        cJSON_AddItemToArray(a, o);
    }
    free(ev);
    struct agg_op **v = malloc((s->nops ? s->nops : 1) * sizeof *v);
    size_t nspan = 0;
    for (size_t i = 0; v && i < s->nops; i++)
        if (!s->ops[i].instant && s->ops[i].count > 0)
            v[nspan++] = &s->ops[i];
    if (v)
        if (nspan > 1)
            qsort(v, nspan, sizeof *v, cmp_op_total);
    lim = top > 0 && (size_t)top < nspan ? (size_t)top : nspan;
    a = cJSON_AddArrayToObject(root, "ops");
    for (size_t i = 0; i < lim; i++) {
        const struct agg_op *o = v[i];
        int st = 0;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "cat", o->cat);
        cJSON_AddStringToObject(j, "name", o->name);
        jnum(j, "count", o->count);
        jnum(j, "total_ns", o->total);
        jnum(j, "self_ns", o->self);
        jnum(j, "self_pct", s->traced_ns > 0 ? 100 * o->self / s->traced_ns : 0);
        jnum(j, "min_ns", o->min);
        jnum(j, "median_ns", op_pct(o, 50, o->median, &st));
        jnum(j, "mean_ns", o->count > 0 ? o->total / o->count : NAN);
        jnum(j, "p95_ns", op_pct(o, 95, o->p95, &st));
        jnum(j, "p99_ns", op_pct(o, 99, o->p99, &st));
        jnum(j, "max_ns", o->max);
        jnum(j, "bytes", o->has_bytes ? o->bytes : NAN);
        cJSON_AddBoolToObject(j, "pct_max_over_processes", st);
        cJSON_AddItemToArray(a, j);
    }
    jnum(root, "ops_more", (double)(nspan - lim));
    free(v);
    struct agg_file **fv = malloc((s->nfiles ? s->nfiles : 1) * sizeof *fv);
    for (size_t i = 0; fv && i < s->nfiles; i++)
        fv[i] = &s->files[i];
    if (fv)
        if (s->nfiles > 1)
            qsort(fv, s->nfiles, sizeof *fv, cmp_file_all);
    lim = s->nfiles < FILE_ROWS ? s->nfiles : FILE_ROWS;
    a = cJSON_AddArrayToObject(root, "files");
    for (size_t i = 0; fv && i < lim; i++) {
        const struct agg_file *f = fv[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "path", f->path);
        jnum(j, "reads", f->reads);
        jnum(j, "bytes_read", f->bytes_read);
        jnum(j, "writes", f->writes);
        jnum(j, "bytes_written", f->bytes_written);
        jnum(j, "read_ns", f->read_ns);
        jnum(j, "write_ns", f->write_ns);
        jnum(j, "sync_ns", f->unsplit ? NAN : f->sync_ns);
        jnum(j, "meta_ns", f->unsplit ? NAN : f->meta_ns);
        jnum(j, "other_ns", f->other_ns);
        double io = f->read_ns + f->write_ns;
        jnum(j, "bandwidth_Bps", io > 0 ? (f->bytes_read + f->bytes_written) / (io / 1e9) : NAN);
        cJSON_AddItemToArray(a, j);
    }
    jnum(root, "files_more", (double)(s->nfiles - lim));
    free(fv);
    if (s->nkernels) {
        if (s->nkernels > 1)
            qsort(s->kernels, s->nkernels, sizeof *s->kernels, cmp_kernel);
        a = cJSON_AddArrayToObject(root, "kernels");
        for (size_t i = 0; i < s->nkernels && (top <= 0 || i < (size_t)top); i++) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "name", s->kernels[i].name);
            jnum(j, "count", s->kernels[i].count);
            jnum(j, "total_ns", s->kernels[i].total);
            jnum(j, "p95_ns", s->kernels[i].p95);
            jnum(j, "max_ns", s->kernels[i].max);
            cJSON_AddItemToArray(a, j);
        }
    }
    if (s->nphases) {
        if (s->nphases > 1)
            qsort(s->phases, s->nphases, sizeof *s->phases, cmp_phase);
        a = cJSON_AddArrayToObject(root, "phases");
        for (size_t i = 0; i < s->nphases && (top <= 0 || i < (size_t)top); i++) {
            const struct agg_phase *p = &s->phases[i];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "name", p->name);
            jnum(j, "count", p->count);
            jnum(j, "total_ns", p->total);
            jnum(j, "gpu_kernel_ns", p->kernel_ns);
            jnum(j, "gpu_copy_ns", p->copy_ns);
            jnum(j, "gpu_busy_ns", p->busy_ns);
            jnum(j, "gpu_idle_pct", p->total > 0 ? 100 * (1 - p->busy_ns / p->total) : NAN);
            cJSON_AddItemToArray(a, j);
        }
    }
    if (s->ndsets) { /* as the table: FILE_ROWS rows by read+write time */
        struct agg_ds **dv = malloc(s->ndsets * sizeof *dv);
        for (size_t i = 0; dv && i < s->ndsets; i++)
            dv[i] = &s->dsets[i];
        if (dv && s->ndsets > 1)
            qsort(dv, s->ndsets, sizeof *dv, cmp_ds_time);
        a = cJSON_AddArrayToObject(root, "datasets");
        for (size_t i = 0; dv && i < s->ndsets && i < FILE_ROWS; i++) {
            const struct agg_ds *d = dv[i];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "file", d->file);
            cJSON_AddStringToObject(j, "dataset", d->dset);
            jnum(j, "reads", d->reads);
            jnum(j, "bytes_read", d->bytes_read);
            jnum(j, "writes", d->writes);
            jnum(j, "bytes_written", d->bytes_written);
            jnum(j, "read_ns", d->read_ns);
            jnum(j, "write_ns", d->write_ns);
            jnum(j, "mean_ns", d->count > 0 ? d->total / d->count : NAN);
            jnum(j, "read_p95_ns", d->reads > 0 ? d->read_p95 : NAN);
            jnum(j, "errors", d->errors);
            cJSON_AddStringToObject(j, "selection", top_shape(d));
            cJSON_AddItemToArray(a, j);
        }
        free(dv);
    }
    if (s->ncounters) {
        a = cJSON_AddArrayToObject(root, "counters");
        for (size_t i = 0; i < s->ncounters && i < 20; i++) {
            const struct agg_counter *c = &s->counters[i];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "cat", c->cat);
            cJSON_AddStringToObject(j, "name", c->name);
            jnum(j, "samples", c->count);
            jnum(j, "min", c->min);
            jnum(j, "max", c->max);
            jnum(j, "last", c->last);
            cJSON_AddItemToArray(a, j);
        }
    }
    if (s->gpu.present) {
        cJSON *g = cJSON_AddObjectToObject(root, "gpu");
        jnum(g, "kernel_count", s->gpu.kernel_count);
        jnum(g, "kernel_ns", s->gpu.kernel_ns);
        jnum(g, "copy_count", s->gpu.copy_count);
        jnum(g, "copy_ns", s->gpu.copy_ns);
        jnum(g, "bytes_htod", s->gpu.bytes_htod);
        jnum(g, "bytes_dtoh", s->gpu.bytes_dtoh);
        jnum(g, "busy_ns", s->gpu.busy_ns);
        jnum(g, "busy_pct", s->gpu.last_ns > 0 ? 100 * s->gpu.busy_ns / s->gpu.last_ns : NAN);
    }
    double dropped = 0;
    for (size_t i = 0; i < s->ndrops; i++)
        dropped += s->drops[i].total;
    jnum(root, "dropped", dropped);
    return root;
}

static void csv_field(FILE *out, const cJSON *v)
{
    if (cJSON_IsNumber(v))
        fprintf(out, "%.17g", v->valuedouble);
    else if (cJSON_IsString(v)) {
        fputc('"', out);
        for (const char *c = v->valuestring; *c; c++) {
            if (*c == '"')
                fputc('"', out);
            fputc(*c, out);
        }
        fputc('"', out);
    } else if (cJSON_IsBool(v))
        fputs(cJSON_IsTrue(v) ? "true" : "false", out);
}

void ta_summary_print_fmt(struct ta_summary *s, FILE *out, int top, enum ta_format fmt)
{
    if (fmt == TA_FMT_TABLE) {
        ta_summary_print(s, out, top);
        return;
    }
    cJSON *root = build_json(s, top);
    if (!root)
        return;
    if (fmt == TA_FMT_JSON) {
        char *t = cJSON_Print(root);
        if (t)
            fprintf(out, "%s\n", t);
        free(t);
        cJSON_Delete(root);
        return;
    }
    /* csv: one section per list, "# name" then its header; markdown: a table per list */
    const cJSON *it;
    if (fmt == TA_FMT_MARKDOWN)
        fprintf(out, "**Run**: wall time %.3f s, process time %.3f s, traced %.3f s (%.1f%%)\n",
                s->wall_ns / 1e9, s->process_ns / 1e9, s->traced_ns / 1e9,
                s->process_ns > 0 ? 100 * s->traced_ns / s->process_ns : 0.0);
    cJSON_ArrayForEach(it, root)
    {
        if (!cJSON_IsArray(it) || !cJSON_GetArraySize(it))
            continue;
        const cJSON *first = cJSON_GetArrayItem(it, 0), *k, *row;
        if (fmt == TA_FMT_CSV) {
            fprintf(out, "# %s\n", it->string);
            int c = 0;
            cJSON_ArrayForEach(k, first) fprintf(out, "%s%s", c++ ? "," : "", k->string);
            fputc('\n', out);
            cJSON_ArrayForEach(row, it)
            {
                c = 0;
                cJSON_ArrayForEach(k, row)
                {
                    if (c++)
                        fputc(',', out);
                    csv_field(out, k);
                }
                fputc('\n', out);
            }
        } else {
            fprintf(out, "\n### %s\n\n|", it->string);
            cJSON_ArrayForEach(k, first) fprintf(out, " %s |", k->string);
            fputs("\n|", out);
            cJSON_ArrayForEach(k, first) fputs(cJSON_IsNumber(k) ? " ---: |" : " --- |", out);
            fputc('\n', out);
            cJSON_ArrayForEach(row, it)
            {
                fputc('|', out);
                cJSON_ArrayForEach(k, row)
                {
                    char t[64];
                    const char *n = k->string;
                    size_t l = strlen(n);
                    if (cJSON_IsNumber(k) && l > 3 && strcmp(n + l - 3, "_ns") == 0)
                        fprintf(out, " %s |", ta_fmt_ns(t, sizeof t, k->valuedouble));
                    else if (cJSON_IsNumber(k) && strncmp(n, "bytes", 5) == 0)
                        fprintf(out, " %s |", ta_fmt_bytes(t, sizeof t, k->valuedouble));
                    else if (cJSON_IsNumber(k))
                        fprintf(out, " %.6g |", k->valuedouble);
                    else if (cJSON_IsString(k)) {
                        fputc(' ', out);
                        for (const char *c = k->valuestring; *c; c++)
                            fputs(*c == '|' ? "\\|" : (char[2]){*c, 0}, out);
                        fputs(" |", out);
                    } else
                        fputs(" - |", out);
                }
                fputc('\n', out);
            }
        }
    }
    cJSON_Delete(root);
}
