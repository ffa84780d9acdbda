/* `traceagent waterfall PATH...`: an ASCII timeline of each process's and thread's top-level
 * spans (markers and calls not nested in another span) and GPU tracks, on one time axis,
 * fitting $COLUMNS (or 100, or --width); then a bar chart of where the time went: the ops
 * by self time (the stats' call trees: nested spans counted once). */
#include "waterfall.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "summary.h"

#define LABEL_W 22
#define LEGEND_N 26 /* letters A..Z; more names share '#' */

struct selfrow {
    const char *cat, *name;
    double self;
};

static void self_walk(const struct ta_node *n, size_t k, struct selfrow **v, size_t *nv,
                      size_t *cap)
{
    for (size_t i = 0; i < k; i++) {
        size_t j = 0;
        while (j < *nv && (strcmp((*v)[j].cat, n[i].cat) || strcmp((*v)[j].name, n[i].name)))
            j++;
        if (j == *nv) {
            if (*nv == *cap) {
                size_t nc = *cap ? *cap * 2 : 32;
                struct selfrow *p = realloc(*v, nc * sizeof *p);
                if (!p)
                    return;
                *v = p;
                *cap = nc;
            }
            (*v)[(*nv)++] = (struct selfrow){n[i].cat, n[i].name, 0};
        }
        (*v)[j].self += n[i].self;
        self_walk(n[i].kids, n[i].nkids, v, nv, cap);
    }
}

static int cmp_self(const void *a, const void *b)
{
    const struct selfrow *x = a, *y = b;
    return x->self != y->self ? (x->self < y->self ? 1 : -1) : strcmp(x->name, y->name);
}

static int cmp_proc_start(const void *a, const void *b)
{
    const struct ta_proc *x = *(struct ta_proc *const *)a, *y = *(struct ta_proc *const *)b;
    return x->first_ts != y->first_ts ? (x->first_ts < y->first_ts ? -1 : 1)
                                      : (x->pid < y->pid ? -1 : x->pid > y->pid);
}

/* a name's letter: the most time-consuming top-level names get A, B, ... */
struct legend {
    uint32_t id;
    double total;
    int marker;
};

static int cmp_legend(const void *a, const void *b)
{
    const struct legend *x = a, *y = b;
    return x->total != y->total ? (x->total < y->total ? 1 : -1) : (x->id < y->id ? -1 : 1);
}

int ta_waterfall_print(int npaths, char **paths, int width, int top, FILE *out)
{
    struct ta_load_opts opts = {.traces = 1};
    struct ta_run *run = ta_run_load(npaths, paths, &opts);
    if (!run)
        return 2;
    if (width <= 0) {
        const char *c = getenv("COLUMNS");
        width = c && atoi(c) > 0 ? atoi(c) : 100;
    }
    if (width < LABEL_W + 12)
        width = LABEL_W + 12;
    if (width > 1000) /* a row per track of this many cells: wider is a typo, not a terminal */
        width = 1000;
    int cols = width - LABEL_W - 2; /* "label |cells|" */
    double t0 = -1, t1 = -1;
    struct ta_proc **pv = calloc(run->nprocs + 1, sizeof *pv);
    size_t np = 0, capped = 0, cut = 0;
    for (size_t i = 0; pv && i < run->nprocs; i++) {
        struct ta_proc *p = &run->procs[i];
        if (!p->trace_read || p->first_ts < 0)
            continue;
        pv[np++] = p;
        if (t0 < 0 || p->first_ts < t0)
            t0 = p->first_ts;
        if (p->last_ts > t1)
            t1 = p->last_ts;
        cut += p->trace_cut;
        for (size_t k = 0; k < p->ntracks; k++)
            capped += p->tracks[k].capped;
    }
    if (!np) {
        fprintf(stderr, "traceagent waterfall: no trace with events in the given paths\n");
        free(pv);
        ta_run_free(run);
        return 1;
    }
    ta_run_fold_exec(run);
    if (np > 1)
        qsort(pv, np, sizeof *pv, cmp_proc_start);
    /* legend: names by their top-level time */
    struct legend *lg = calloc(run->nnames + 1, sizeof *lg);
    for (size_t i = 0; lg && i < run->nnames; i++)
        lg[i].id = (uint32_t)i;
    for (size_t i = 0; lg && i < np; i++)
        for (size_t k = 0; k < pv[i]->ntracks; k++)
            for (size_t j = 0; j < pv[i]->tracks[k].nspans; j++) {
                const struct ta_span *s = &pv[i]->tracks[k].spans[j];
                lg[s->name].total += s->dur * s->busy;
                lg[s->name].marker |= s->marker;
            }
    char *letter = calloc(run->nnames + 1, 1);
    if (lg && letter) {
        if (run->nnames > 1)
            qsort(lg, run->nnames, sizeof *lg, cmp_legend);
        for (size_t i = 0; i < run->nnames; i++)
            letter[lg[i].id] = i < LEGEND_N ? (char)('A' + i) : '#';
    }
    double span_us = t1 > t0 ? t1 - t0 : 1, per = span_us / cols;
    char a[32], b[32];
    size_t nshown = 0; /* an image replaced by exec has no spans: no row */
    for (size_t i = 0; i < np; i++)
        nshown += !pv[i]->folded;
    ta_run_repeat_note(run, out); /* the runs one after the other, warm-ups left out */
    fprintf(out, "Waterfall: %zu process%s over %s; one column = %s\n", nshown,
            nshown == 1 ? "" : "es", ta_fmt_ns(a, sizeof a, span_us * 1e3),
            ta_fmt_ns(b, sizeof b, per * 1e3));
    /* time axis: ticks at 0, 1/4, 1/2, 3/4 and the end */
    char *axis = malloc((size_t)cols * 4 + 1);
    double *cov = malloc((size_t)cols * sizeof *cov), *tot = malloc((size_t)cols * sizeof *tot);
    char *cell = malloc((size_t)cols + 1);
    if (!axis || !cov || !cell || !tot) {
        free(axis);
        free(cov);
        free(tot);
        free(cell);
        free(pv);
        free(lg);
        free(letter);
        ta_run_free(run);
        return 2;
    }
    /* Labels are placed by display column ("µ" is two bytes, one column): each column
     * holds one code point (up to 4 bytes); a label that would touch or overlap the one
     * before it, or run past the last column, is left out (narrow widths). */
    char (*colv)[4] = calloc((size_t)cols, sizeof *colv);
    if (!colv) {
        free(axis);
        free(cov);
        free(tot);
        free(cell);
        free(pv);
        free(lg);
        free(letter);
        ta_run_free(run);
        return 2;
    }
    for (int k = 0; k < cols; k++)
        colv[k][0] = ' ';
    /* the ends first, then the middle, then the quarters: the ones kept at narrow widths */
    static const int order[5] = {0, 4, 2, 1, 3};
    char *used = calloc((size_t)cols + 2, 1); /* used[col + 1]: a label's column */
    for (int o = 0; used && o < 5; o++) {
        int q = order[o];
        int c = q * (cols - 1) / 4;
        char t[32];
        ta_fmt_ns(t, sizeof t, q * span_us / 4 * 1e3);
        int len = (int)strlen(t), w = 0;
        for (int k = 0; k < len; k++)
            w += ((unsigned char)t[k] & 0xc0) != 0x80;
        int at = q == 4 ? c - w + 1 : q == 0 ? 0 : c - w / 2;
        if (at < 0)
            at = 0;
        if (at + w > cols)
            continue;
        int clash = 0; /* a column of another label in [at - 1, at + w]: one space apart */
        for (int col = at - 1; col <= at + w && !clash; col++)
            clash = col >= 0 && col < cols && used[col + 1];
        if (clash)
            continue;
        for (int k = 0, col = at; k < len; col++) {
            int n = 1;
            while (k + n < len && ((unsigned char)t[k + n] & 0xc0) == 0x80 && n < 4)
                n++;
            memset(colv[col], 0, 4);
            memcpy(colv[col], t + k, (size_t)n);
            used[col + 1] = 1;
            k += n;
        }
    }
    free(used);
    {
        size_t k = 0;
        for (int col = 0; col < cols; col++)
            for (int j = 0; j < 4 && colv[col][j]; j++)
                axis[k++] = colv[col][j];
        axis[k] = 0;
    }
    free(colv);
    fprintf(out, "%-*s %s\n", LABEL_W, "", axis);
    for (size_t i = 0; i < np; i++) {
        const struct ta_proc *p = pv[i];
        for (size_t k = 0; k < p->ntracks; k++) {
            const struct ta_track *t = &p->tracks[k];
            if (!t->nspans && !t->instants)
                continue;
            memset(cell, '.', (size_t)cols);
            cell[cols] = 0;
            for (int c = 0; c < cols; c++)
                cov[c] = 0;
            /* each column: the name that covers most of it; a column only merged spans
             * touch shows one when they were busy for 5% of it */
            for (int c = 0; c < cols; c++)
                tot[c] = 0;
            for (size_t j = 0; j < t->nspans; j++) {
                const struct ta_span *s = &t->spans[j];
                double s0 = (s->ts - t0) / per, s1 = (s->ts + s->dur - t0) / per;
                int c0 = (int)floor(s0), c1 = (int)floor(s1);
                if (c0 < 0)
                    c0 = 0;
                if (c1 >= cols)
                    c1 = cols - 1;
                for (int c = c0; c <= c1; c++) {
                    double lo = s0 > c ? s0 : c, hi = s1 < c + 1 ? s1 : c + 1;
                    double f = (hi - lo) * s->busy;
                    if (s->busy >= 1 && f <= 0)
                        f = 1e-12; /* an instant-short span still marks its column */
                    if (f <= 0)
                        continue;
                    tot[c] += s->busy >= 1 ? 1 : f;
                    if (f > cov[c]) {
                        cov[c] = f;
                        cell[c] = letter ? letter[s->name] : '#';
                    }
                }
            }
            for (int c = 0; c < cols; c++)
                if (tot[c] < 0.05)
                    cell[c] = '.';
            /* the process's life: spaces outside it */
            double ps = p->mono_start_ns > 0 ? p->mono_start_ns / 1e3 : p->first_ts;
            for (int c = 0; c < cols; c++) {
                double cs = t0 + c * per, ce = cs + per;
                if ((ce < ps || cs > p->last_ts) && cell[c] == '.')
                    cell[c] = ' ';
            }
            char label[128], name[64];
            snprintf(name, sizeof name, "%s", t->name ? t->name : "thread");
            if (k == 0 || p->ntracks == 1)
                snprintf(label, sizeof label, "%s[%.0f]", p->exe ? p->exe : "?", p->pid);
            else
                snprintf(label, sizeof label, "  %s %.0f", name, t->tid);
            if ((int)strlen(label) > LABEL_W)
                label[LABEL_W] = 0;
            fprintf(out, "%-*s|%s|\n", LABEL_W, label, cell);
        }
    }
    if (lg && letter) {
        fprintf(out, "Legend (top-level spans by time; '.' nothing traced, ' ' not running):\n");
        size_t shown = 0, named = 0;
        for (size_t i = 0; i < run->nnames; i++)
            named += lg[i].total > 0;
        for (size_t i = 0; i < named && i < LEGEND_N; i++) {
            char t[32], nm[64];
            snprintf(nm, sizeof nm, "%s", run->names[lg[i].id]);
            fprintf(out, "  %c %-28s %10s%s\n", 'A' + (int)i, nm,
                    ta_fmt_ns(t, sizeof t, lg[i].total * 1e3), lg[i].marker ? "  (marker)" : "");
            shown++;
        }
        if (named > shown)
            fprintf(out, "  # ... %zu more names\n", named - shown);
    }
    if (capped)
        fprintf(out, "Note: threads with more than %d top-level spans had neighbours merged "
                     "(%zu times; memory stays bounded, the columns are the same)\n",
                TA_MAX_SPANS_PER_TRACK, capped);
    if (cut)
        fprintf(out, "Note: %zu trace%s cut short: read to %s last whole line\n", cut,
                cut == 1 ? " was" : "s were", cut == 1 ? "its" : "their");

    /* where the time went: self time per op over the run's trees */
    struct selfrow *sv = NULL;
    size_t nsv = 0, capsv = 0;
    double all = 0;
    for (size_t i = 0; i < run->nprocs; i++)
        self_walk(run->procs[i].tree, run->procs[i].ntree, &sv, &nsv, &capsv);
    for (size_t i = 0; i < nsv; i++)
        all += sv[i].self;
    if (nsv && all > 0) {
        if (nsv > 1)
            qsort(sv, nsv, sizeof *sv, cmp_self);
        size_t rows = top > 0 && (size_t)top < nsv ? (size_t)top : nsv;
        int barw = width - 2 - 30 - 10 - 8 - 3;
        if (barw < 10)
            barw = 10;
        fprintf(out, "\nWhere the time went (self time: nested spans counted once; %% of %s):\n",
                ta_fmt_ns(a, sizeof a, all));
        for (size_t i = 0; i < rows; i++) {
            char nm[128], t[32];
            snprintf(nm, sizeof nm, "%s:%s", sv[i].cat, sv[i].name);
            if (strlen(nm) > 30)
                strcpy(nm + 27, "...");
            int n = (int)lround(barw * sv[i].self / sv[0].self);
            if (n < 1 && sv[i].self > 0)
                n = 1; /* every op that took time has a bar */
            fprintf(out, "  %-30s %10s %6.1f%% ", nm, ta_fmt_ns(t, sizeof t, sv[i].self),
                    100 * sv[i].self / all);
            for (int k = 0; k < n; k++)
                fputs("\xe2\x96\x88", out); /* █ */
            fputc('\n', out);
        }
        if (rows < nsv)
            fprintf(out, "  ... %zu more\n", nsv - rows);
    }
    free(sv);
    free(axis);
    free(cov);
    free(tot);
    free(cell);
    free(pv);
    free(lg);
    free(letter);
    int rc = run->bad_files ? 1 : 0;
    ta_run_free(run);
    return rc;
}
