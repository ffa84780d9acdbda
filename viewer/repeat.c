/* traceagent run --repeat N --warmup W [--] cmd: the command W + N times, each run's files
 * in a subdirectory of the output directory (warmup-000..., then run-000...), then each op's
 * and marker's statistics over the N measured runs (warm-ups left out):
 *   - per-run means (total / count within the run, all its processes summed), their mean
 *     and standard deviation (n - 1): the spread a change must beat (`traceagent diff`);
 *   - count and total per run (mean over the runs);
 *   - pooled percentiles (p50, p95, p99) from the runs' histograms summed.
 * On stderr (a table) and in OUT/repeat.json. Each run is `traceagent run -q` of this same
 * binary with TRACEAGENT_OUTPUT set to its subdirectory: one run is exactly what a plain
 * `traceagent run` does, its merged trace included. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"

int ta_repeat_arg(const char *flag, const char *val, long *out)
{
    char *end;
    if (!val || !*val) {
        fprintf(stderr, "traceagent run: %s needs a number\n", flag);
        return -1;
    }
    long n = strtol(val, &end, 10);
    if (*end || n < 0 || n > 100000 || (n == 0 && flag[2] == 'r')) {
        fprintf(stderr, "traceagent run: %s %s: expected a number%s\n", flag, val,
                flag[2] == 'r' ? " of runs (1 or more)" : " of warm-up runs");
        return -1;
    }
    *out = n;
    return 0;
}

static int mkdirs(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0700) != 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One run: this binary's `run -q` with the output directory `sub`; its exit status as a
 * shell gives it. */
static int one_run(const char *sub, int merge, char **cmd)
{
    size_t nc = 0;
    while (cmd[nc])
        nc++;
    char **av = calloc(nc + 6, sizeof *av);
    if (!av)
        return 2;
    size_t k = 0;
    av[k++] = "traceagent";
    av[k++] = "run";
    av[k++] = "-q";
    if (!merge)
        av[k++] = "--no-merge";
    av[k++] = "--";
    for (size_t i = 0; i < nc; i++)
        av[k++] = cmd[i];
    av[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        free(av);
        return 2;
    }
    if (pid == 0) {
        setenv("TRACEAGENT_OUTPUT", sub, 1);
        execv("/proc/self/exe", av);
        fprintf(stderr, "traceagent: cannot run myself (/proc/self/exe): %s\n", strerror(errno));
        _exit(2);
    }
    free(av);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 2;
}

struct rrow {
    const char *key, *label;
    int kind, nruns;
    double *means, *totals, *counts;
    double mean, sd, count, total;
    uint64_t p50, p95, p99, min, max;
};

static int cmp_rrow(const void *a, const void *b)
{
    const struct rrow *x = a, *y = b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->key, y->key);
}

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void jarr(FILE *f, const char *k, const double *v, int n)
{
    fprintf(f, "\"%s\": [", k);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.17g", i ? ", " : "", v[i]);
    fprintf(f, "]");
}

static const char *fmt_ns(char *b, size_t n, double v)
{
    if (v < 1e3)
        snprintf(b, n, "%.0fns", v);
    else if (v < 1e6)
        snprintf(b, n, "%.1fus", v / 1e3);
    else if (v < 1e9)
        snprintf(b, n, "%.2fms", v / 1e6);
    else
        snprintf(b, n, "%.2fs", v / 1e9);
    return b;
}

/* The statistics over the runs in dirs[0..n). */
static int report(const char *dir, char **dirs, size_t n, long warmup, int quiet, int top)
{
    struct ta_drun **runs = calloc(n, sizeof *runs);
    if (!runs)
        return -1;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if ((runs[nr] = ta_drun_load(dirs[i])))
            nr++;
    /* keys: ops and markers of any run */
    struct rrow *rows = NULL;
    size_t nrows = 0, cap = 0;
    for (size_t i = 0; i < nr; i++)
        for (size_t k = 0; k < runs[i]->n; k++) {
            const struct ta_drow *w = &runs[i]->rows[k];
            if (w->kind == TA_ROW_NODE)
                continue;
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = ta_drun_find(runs[j], w->key) != NULL;
            if (seen)
                continue;
            if (nrows == cap) {
                cap = cap ? cap * 2 : 64;
                struct rrow *nrw = realloc(rows, cap * sizeof *nrw);
                if (!nrw)
                    break;
                rows = nrw;
            }
            struct rrow *r = &rows[nrows++];
            memset(r, 0, sizeof *r);
            r->key = w->key;
            r->label = w->kind == TA_ROW_MARKER ? w->label : w->label;
            r->kind = w->kind;
        }
    for (size_t q = 0; q < nrows; q++) {
        struct rrow *r = &rows[q];
        r->means = calloc(nr + 1, sizeof *r->means);
        r->totals = calloc(nr + 1, sizeof *r->totals);
        r->counts = calloc(nr + 1, sizeof *r->counts);
        struct ta_bk *h = NULL;
        size_t nh = 0, hc = 0;
        r->min = UINT64_MAX;
        double cnt = 0, tot = 0;
        for (size_t i = 0; i < nr && r->means && r->totals && r->counts; i++) {
            const struct ta_drow *w = ta_drun_find(runs[i], r->key);
            if (!w || !w->count)
                continue;
            r->means[r->nruns] = w->total_ns / (double)w->count;
            r->totals[r->nruns] = w->total_ns;
            r->counts[r->nruns] = (double)w->count;
            r->nruns++;
            cnt += (double)w->count;
            tot += w->total_ns;
            if (w->min_ns < r->min)
                r->min = w->min_ns;
            if (w->max_ns > r->max)
                r->max = w->max_ns;
            ta_hist_merge(&h, &nh, &hc, w->h, w->nh);
        }
        for (int i = 0; i < r->nruns; i++)
            r->mean += r->means[i];
        if (r->nruns)
            r->mean /= r->nruns;
        if (r->nruns > 1) {
            double s = 0;
            for (int i = 0; i < r->nruns; i++)
                s += (r->means[i] - r->mean) * (r->means[i] - r->mean);
            r->sd = sqrt(s / (r->nruns - 1));
        }
        r->count = nr ? cnt / (double)nr : 0;
        r->total = nr ? tot / (double)nr : 0;
        if (r->min == UINT64_MAX)
            r->min = 0;
        r->p50 = ta_hist_pct(h, nh, 50, r->min, r->max);
        r->p95 = ta_hist_pct(h, nh, 95, r->min, r->max);
        r->p99 = ta_hist_pct(h, nh, 99, r->min, r->max);
        free(h);
    }
    if (nrows)
        qsort(rows, nrows, sizeof *rows, cmp_rrow);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/repeat.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"schema\": \"traceagent-repeat/1\", \"runs\": %zu, \"warmups\": %ld,\n"
                   " \"run_dirs\": [", nr, warmup);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "%s", i ? ", " : "");
            jstr(f, dirs[i]);
        }
        fprintf(f, "],\n \"ops\": [");
        for (size_t q = 0; q < nrows; q++) {
            const struct rrow *r = &rows[q];
            const char *tab1 = strchr(r->key, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
            fprintf(f, "%s\n  {\"kind\": \"%s\", \"cat\": ", q ? "," : "",
                    r->kind == TA_ROW_MARKER ? "marker" : "op");
            if (tab1 && tab2) {
                char cat[64];
                snprintf(cat, sizeof cat, "%.*s", (int)(tab2 - tab1 - 1), tab1 + 1);
                jstr(f, cat);
                fprintf(f, ", \"name\": ");
                jstr(f, tab2 + 1);
            } else {
                jstr(f, "");
                fprintf(f, ", \"name\": ");
                jstr(f, r->key);
            }
            fprintf(f, ", \"runs\": %d, \"mean_ns\": %.17g, \"stddev_ns\": %.17g, "
                       "\"count_per_run\": %.17g, \"total_ns_per_run\": %.17g, "
                       "\"p50_ns\": %llu, \"p95_ns\": %llu, \"p99_ns\": %llu, \"min_ns\": %llu, "
                       "\"max_ns\": %llu,\n   ",
                    r->nruns, r->mean, r->sd, r->count, r->total, (unsigned long long)r->p50,
                    (unsigned long long)r->p95, (unsigned long long)r->p99,
                    (unsigned long long)r->min, (unsigned long long)r->max);
            jarr(f, "run_means_ns", r->means, r->nruns);
            fprintf(f, ", ");
            jarr(f, "run_totals_ns", r->totals, r->nruns);
            fprintf(f, ", ");
            jarr(f, "run_counts", r->counts, r->nruns);
            fprintf(f, "}");
        }
        fprintf(f, "\n]}\n");
        if (fclose(f) != 0)
            fprintf(stderr, "traceagent: %s: %s\n", path, strerror(errno));
    } else {
        fprintf(stderr, "traceagent: %s: %s\n", path, strerror(errno));
    }

    if (!quiet) {
        fprintf(stderr, "\ntraceagent: %zu measured run%s (%ld warm-up%s left out): per-run "
                        "mean +- stddev over the runs, pooled percentiles\n",
                nr, nr == 1 ? "" : "s", warmup, warmup == 1 ? "" : "s");
        fprintf(stderr, "%-6s %-36s %5s %10s %10s %10s %7s %10s %10s %10s  %s\n", "kind", "name",
                "runs", "count/run", "mean", "stddev", "cv", "p50", "p95", "p99",
                "per-run means");
        size_t shown = top > 0 && (size_t)top < nrows ? (size_t)top : nrows;
        for (size_t q = 0; q < shown; q++) {
            const struct rrow *r = &rows[q];
            char a[24], b[24], c[24], d[24], e[24], cv[16], nm[40];
            size_t l = strlen(r->label);
            if (l > 36)
                snprintf(nm, sizeof nm, "...%s", ta_utf8_tail(r->label, l, 33));
            else
                snprintf(nm, sizeof nm, "%s", r->label);
            snprintf(cv, sizeof cv, "%.1f%%", r->mean > 0 ? 100 * r->sd / r->mean : 0);
            fprintf(stderr, "%-6s %-36s %5d %10.1f %10s %10s %7s %10s %10s %10s ",
                    r->kind == TA_ROW_MARKER ? "marker" : "op", nm, r->nruns, r->count,
                    fmt_ns(a, sizeof a, r->mean), fmt_ns(b, sizeof b, r->sd), cv,
                    fmt_ns(c, sizeof c, (double)r->p50), fmt_ns(d, sizeof d, (double)r->p95),
                    fmt_ns(e, sizeof e, (double)r->p99));
            for (int i = 0; i < r->nruns && i < 5; i++)
                fprintf(stderr, " %s", fmt_ns(a, sizeof a, r->means[i]));
            fprintf(stderr, "%s\n", r->nruns > 5 ? " ... (repeat.json)" : "");
        }
        if (shown < nrows)
            fprintf(stderr, "... %zu more (--top 0 shows all)\n", nrows - shown);
        fprintf(stderr, "\nFiles:\n  %s (these statistics)\n  %s/run-NNN/, warmup-NNN/ "
                        "(each run's files)\n", path, dir);
    }
    for (size_t q = 0; q < nrows; q++) {
        free(rows[q].means);
        free(rows[q].totals);
        free(rows[q].counts);
    }
    free(rows);
    for (size_t i = 0; i < nr; i++)
        ta_drun_free(runs[i]);
    free(runs);
    return 0;
}

int ta_repeat_run(long repeat, long warmup, int quiet, int merge, int top, const char *dir,
                  char **cmd)
{
    if (repeat < 1)
        repeat = 1;
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/run-000", dir);
    int taken = stat(p, &st) == 0;
    snprintf(p, sizeof p, "%s/warmup-000", dir);
    taken |= stat(p, &st) == 0;
    if (taken) {
        fprintf(stderr, "traceagent run: %s already holds repeated runs: choose another "
                        "output directory (-o)\n", dir);
        return 2;
    }
    if (mkdirs(dir) != 0) {
        fprintf(stderr, "traceagent run: %s: %s\n", dir, strerror(errno));
        return 2;
    }
    char **dirs = calloc((size_t)repeat, sizeof *dirs);
    if (!dirs)
        return 2;
    int rc = 0;
    for (long k = 0; k < warmup + repeat; k++) {
        int warm = k < warmup;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s-%03ld", dir, warm ? "warmup" : "run",
                 warm ? k : k - warmup);
        if (mkdirs(sub) != 0) {
            fprintf(stderr, "traceagent run: %s: %s\n", sub, strerror(errno));
            rc = 2;
            break;
        }
        double t0 = now_s();
        int r = one_run(sub, merge, cmd);
        if (!quiet)
            fprintf(stderr, "traceagent: %s %ld/%ld (%s): exit %d, %.3f s\n",
                    warm ? "warm-up" : "run", warm ? k + 1 : k - warmup + 1,
                    warm ? warmup : repeat, sub, r, now_s() - t0);
        if (r == 126 || r == 127) { /* the command cannot run: the same next time */
            rc = r;
            break;
        }
        if (r)
            rc = r;
        if (!warm)
            dirs[k - warmup] = strdup(sub);
    }
    size_t n = 0;
    while (n < (size_t)repeat && dirs[n])
        n++;
    if (n)
        report(dir, dirs, n, warmup, quiet, top);
    for (size_t i = 0; i < (size_t)repeat; i++)
        free(dirs[i]);
    free(dirs);
    return rc;
}
