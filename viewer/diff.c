/* traceagent diff BASE NEW: per op, per marker and per call-path node, what changed
 * between two runs, and whether the change is real.
 *
 * BASE and NEW are each a run (a stats file, or an output directory: all its processes'
 * stats summed) or a directory of repeated runs (`traceagent run --repeat`: its run-NNN
 * subdirectories; warmup-NNN are left out).
 *
 * The rule (README "Comparing runs" says the same):
 *   - repeated runs on both sides (2 or more each): Welch's t-test on the per-run values
 *     (an op's or marker's per-run mean duration; a tree node's per-run total), and the
 *     change must be larger than the runs' own spread (the larger of the two sides'
 *     standard deviations of those per-run values): a change inside run-to-run noise is
 *     not flagged however many runs there are.
 *   - otherwise (a single run on a side): the Mann-Whitney U test on the two duration
 *     distributions, from the rows' histograms (ties by bucket, normal approximation with
 *     tie correction), and the median must move by at least --min-effect percent (5): with
 *     a million events the test finds a 1% shift "significant", which is not a regression
 *     worth a failed CI job. Tree nodes carry no distribution: with single runs they are
 *     shown, not tested.
 * Both at alpha = 0.01 (--alpha). A significant increase is a regression, a decrease an
 * improvement. The change shown (and compared with --fail-above) is what was tested: the
 * move of the per-run values' mean (repeated runs) or of the median (single runs); the ratio
 * is that of the means. --fail-above PCT: exit 1 when a regression's increase exceeds PCT
 * percent. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "diff.h"

/* ---------------------------------------------------------------------------------- */
/* Histograms */

int ta_hist_merge(struct ta_bk **h, size_t *nh, size_t *cap, const struct ta_bk *src, size_t n)
{
    if (!n)
        return 0;
    size_t need = *nh + n;
    struct ta_bk *out = malloc(need * sizeof *out);
    if (!out)
        return -1;
    size_t i = 0, j = 0, k = 0;
    const struct ta_bk *a = *h;
    while (i < *nh || j < n) {
        if (j >= n || (i < *nh && a[i].lo < src[j].lo))
            out[k++] = a[i++];
        else if (i >= *nh || src[j].lo < a[i].lo)
            out[k++] = src[j++];
        else {
            out[k] = a[i++];
            out[k++].n += src[j++].n;
        }
    }
    free(*h);
    *h = out;
    *nh = k;
    *cap = need;
    return 0;
}

/* the width of the bucket whose lower bound is lo (stats.c: exact below 128, then 128
 * buckets per power of two) */
static uint64_t bk_width(uint64_t lo)
{
    if (lo < 128)
        return 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(lo);
    return 1ull << (e - 7);
}

uint64_t ta_hist_pct(const struct ta_bk *h, size_t nh, double pct, uint64_t min, uint64_t max)
{
    uint64_t count = 0;
    for (size_t i = 0; i < nh; i++)
        count += h[i].n;
    if (!count)
        return 0;
    /* as stats.c: ceil(count * pct / 100), at least 1 */
    uint64_t rank = (uint64_t)ceil((double)count * pct / 100.0 - 1e-9);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < nh; i++) {
        seen += h[i].n;
        if (h[i].n && seen >= rank) {
            uint64_t v = h[i].lo + bk_width(h[i].lo) / 2;
            return v < min ? min : v > max ? max : v;
        }
    }
    return max;
}

/* ---------------------------------------------------------------------------------- */
/* Loading a run */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct ta_drow *ta_drun_find(const struct ta_drun *r, const char *key)
{
    if (!r->icap)
        return NULL;
    for (size_t i = hash_str(key) & (r->icap - 1);; i = (i + 1) & (r->icap - 1)) {
        size_t v = r->idx[i];
        if (!v)
            return NULL;
        if (strcmp(r->rows[v - 1].key, key) == 0)
            return &r->rows[v - 1];
    }
}

static struct ta_drow *row_get(struct ta_drun *r, const char *key, const char *label, int kind)
{
    struct ta_drow *w = ta_drun_find(r, key);
    if (w)
        return w;
    if ((r->n + 1) * 2 > r->icap) {
        size_t nc = r->icap ? r->icap * 2 : 256;
        size_t *ni = calloc(nc, sizeof *ni);
        if (!ni)
            return NULL;
        for (size_t k = 0; k < r->n; k++) {
            size_t i = hash_str(r->rows[k].key) & (nc - 1);
            while (ni[i])
                i = (i + 1) & (nc - 1);
            ni[i] = k + 1;
        }
        free(r->idx);
        r->idx = ni;
        r->icap = nc;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 128;
        struct ta_drow *nr = realloc(r->rows, nc * sizeof *nr);
        if (!nr)
            return NULL;
        r->rows = nr;
        r->cap = nc;
    }
    w = &r->rows[r->n];
    memset(w, 0, sizeof *w);
    w->key = strdup(key);
    w->label = strdup(label);
    w->kind = kind;
    w->min_ns = UINT64_MAX;
    if (!w->key || !w->label) {
        free(w->key);
        free(w->label);
        return NULL;
    }
    size_t i = hash_str(key) & (r->icap - 1);
    while (r->idx[i])
        i = (i + 1) & (r->icap - 1);
    r->idx[i] = ++r->n;
    return w;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void add_ops(struct ta_drun *r, const cJSON *ops)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, ops)
    {
        if (strcmp(jstr(o, "kind"), "span") != 0)
            continue;
        const char *cat = jstr(o, "cat"), *name = jstr(o, "name");
        int kind = strcmp(cat, "marker") == 0 ? TA_ROW_MARKER : TA_ROW_OP;
        size_t kl = strlen(cat) + strlen(name) + 8;
        char *key = malloc(kl), *label = malloc(kl);
        if (!key || !label) {
            free(key);
            free(label);
            return;
        }
        snprintf(key, kl, "%d\t%s\t%s", kind, cat, name);
        snprintf(label, kl, "%s %s", cat, name);
        struct ta_drow *w = row_get(r, key, kind == TA_ROW_MARKER ? name : label, kind);
        free(key);
        free(label);
        if (!w)
            return;
        uint64_t c = (uint64_t)jnum(o, "count");
        w->count += c;
        w->total_ns += jnum(o, "total_ns");
        uint64_t mn = (uint64_t)jnum(o, "min_ns"), mx = (uint64_t)jnum(o, "max_ns");
        if (c && mn < w->min_ns)
            w->min_ns = mn;
        if (mx > w->max_ns)
            w->max_ns = mx;
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hist"), *b;
        int nb = cJSON_GetArraySize(h);
        if (nb <= 0)
            continue;
        struct ta_bk *tmp = malloc((size_t)nb * sizeof *tmp);
        size_t k = 0;
        if (!tmp)
            continue;
        cJSON_ArrayForEach(b, h)
        {
            if (cJSON_GetArraySize(b) != 2)
                continue;
            tmp[k].lo = (uint64_t)cJSON_GetArrayItem(b, 0)->valuedouble;
            tmp[k].n = (uint64_t)cJSON_GetArrayItem(b, 1)->valuedouble;
            if (k && tmp[k].lo <= tmp[k - 1].lo) /* not ascending: not ours */
                continue;
            k++;
        }
        ta_hist_merge(&w->h, &w->nh, &w->caph, tmp, k);
        free(tmp);
    }
}

static void add_nodes(struct ta_drun *r, const cJSON *nodes, const char *prefix, int depth)
{
    const cJSON *n;
    if (depth > 64)
        return;
    cJSON_ArrayForEach(n, nodes)
    {
        const char *cat = jstr(n, "cat"), *name = jstr(n, "name");
        size_t kl = strlen(prefix) + strlen(cat) + strlen(name) + 8;
        char *key = malloc(kl);
        if (!key)
            return;
        snprintf(key, kl, "%s%s%s:%s", prefix, *prefix ? " > " : "", cat, name);
        char *full = malloc(kl + 4);
        if (full) {
            snprintf(full, kl + 4, "2\t%s", key);
            struct ta_drow *w = row_get(r, full, key, TA_ROW_NODE);
            if (w) {
                w->count += (uint64_t)jnum(n, "count");
                w->total_ns += jnum(n, "total_ns");
                w->self_ns += jnum(n, "self_ns");
            }
            if (depth == 0)
                r->traced_ns += jnum(n, "total_ns");
            free(full);
        }
        add_nodes(r, cJSON_GetObjectItemCaseSensitive(n, "children"), key, depth + 1);
        free(key);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2 + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

static int add_stats(struct ta_drun *r, const char *path)
{
    char *txt = slurp(path);
    if (!txt) {
        fprintf(stderr, "traceagent: %s: %s\n", path, strerror(errno));
        return -1;
    }
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(root) ||
        strncmp(jstr(root, "schema"), "traceagent-stats/", 17) != 0) {
        fprintf(stderr, "traceagent: %s: not a traceagent stats file\n", path);
        cJSON_Delete(root);
        return -1;
    }
    add_ops(r, cJSON_GetObjectItemCaseSensitive(root, "ops"));
    add_nodes(r, cJSON_GetObjectItemCaseSensitive(root, "tree"), "", 0);
    cJSON_Delete(root);
    r->nstats++;
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t l = strlen(s), k = strlen(suf);
    return l > k && strcmp(s + l - k, suf) == 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir that pass keep(), sorted, as "dir/name". */
static size_t list_names(const char *dir, int (*keep)(const char *dir, const char *name),
                         char ***out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!keep(dir, e->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(*out, nc * sizeof *nn);
            if (!nn)
                break;
            *out = nn;
            cap = nc;
        }
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        if (!((*out)[n] = malloc(l)))
            break;
        snprintf((*out)[n], l, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(*out, n, sizeof **out, cmp_cstr);
    return n;
}

static int keep_stats(const char *dir, const char *name)
{
    (void)dir;
    return has_suffix(name, ".stats.json");
}

/* A subdirectory `run --repeat` wrote: exactly <prefix><digits> (run-000, warmup-001) and
 * holding stats files. A user's own `run-logs/` (or a run-000 without stats) beside a
 * single run's files does not make that directory a set of repeated runs. */
static int is_repeat_subdir(const char *dir, const char *name, const char *prefix)
{
    size_t k = strlen(prefix);
    if (strncmp(name, prefix, k) != 0 || !name[k])
        return 0;
    for (const char *c = name + k; *c; c++)
        if (*c < '0' || *c > '9')
            return 0;
    char p[PATH_MAX];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p || stat(p, &st) != 0 ||
        !S_ISDIR(st.st_mode))
        return 0;
    DIR *d = opendir(p);
    if (!d)
        return 0;
    struct dirent *e;
    int stats = 0;
    while (!stats && (e = readdir(d)))
        stats = has_suffix(e->d_name, ".stats.json");
    closedir(d);
    return stats;
}

static int keep_rundir(const char *dir, const char *name)
{
    return is_repeat_subdir(dir, name, "run-");
}

const char *ta_utf8_tail(const char *s, size_t l, size_t keep)
{
    const char *p = s + l - keep;
    while (*p && ((unsigned char)*p & 0xC0) == 0x80)
        p++;
    return p;
}

size_t ta_repeat_dirs(const char *dir, char ***out)
{
    return list_names(dir, keep_rundir, out);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

struct ta_drun *ta_drun_load(const char *path)
{
    struct ta_drun *r = calloc(1, sizeof *r);
    struct stat st;
    if (!r)
        return NULL;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "traceagent: %s: %s\n", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        char **v;
        size_t n = list_names(path, keep_stats, &v);
        for (size_t i = 0; i < n; i++)
            add_stats(r, v[i]);
        free_names(v, n);
        if (!n)
            fprintf(stderr, "traceagent: %s: no *.stats.json files\n", path);
    } else {
        add_stats(r, path);
    }
    if (!r->nstats) {
        ta_drun_free(r);
        return NULL;
    }
    return r;
}

void ta_drun_free(struct ta_drun *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->rows[i].key);
        free(r->rows[i].label);
        free(r->rows[i].h);
    }
    free(r->rows);
    free(r->idx);
    free(r);
}

/* ---------------------------------------------------------------------------------- */
/* Statistics */

/* Regularized incomplete beta I_x(a, b) by its continued fraction (Lentz). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-12)
            break;
    }
    return h;
}

static double betai(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x));
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

struct mstat {
    double mean, sd;
    int n;
};

static struct mstat msd(const double *x, int n)
{
    struct mstat m = {0, 0, n};
    if (n <= 0)
        return m;
    for (int i = 0; i < n; i++)
        m.mean += x[i];
    m.mean /= n;
    if (n > 1) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += (x[i] - m.mean) * (x[i] - m.mean);
        m.sd = sqrt(s / (n - 1));
    }
    return m;
}

/* Welch's t-test, two-sided p. */
static double welch_p(struct mstat a, struct mstat b)
{
    double va = a.sd * a.sd / a.n, vb = b.sd * b.sd / b.n;
    if (va + vb <= 0)
        return a.mean == b.mean ? 1.0 : 0.0;
    double t = (b.mean - a.mean) / sqrt(va + vb);
    double df = (va + vb) * (va + vb) /
                (va * va / (a.n - 1) + vb * vb / (b.n - 1));
    return betai(df / 2, 0.5, df / (df + t * t));
}

/* Mann-Whitney U on two histograms (same bucket grid), ties by bucket: two-sided p of the
 * normal approximation with tie correction and continuity correction. */
static double mwu_p(const struct ta_bk *a, size_t na, const struct ta_bk *b, size_t nb)
{
    double n1 = 0, n2 = 0, r1 = 0, ties = 0, rank = 0;
    for (size_t i = 0; i < na; i++)
        n1 += (double)a[i].n;
    for (size_t j = 0; j < nb; j++)
        n2 += (double)b[j].n;
    if (n1 < 1 || n2 < 1)
        return 1;
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        uint64_t lo = j >= nb || (i < na && a[i].lo <= b[j].lo) ? a[i].lo : b[j].lo;
        double ca = 0, cb = 0;
        if (i < na && a[i].lo == lo)
            ca = (double)a[i++].n;
        if (j < nb && b[j].lo == lo)
            cb = (double)b[j++].n;
        double t = ca + cb;
        r1 += ca * (rank + (t + 1) / 2);
        rank += t;
        ties += t * t * t - t;
    }
    double n = n1 + n2;
    double u = r1 - n1 * (n1 + 1) / 2, mu = n1 * n2 / 2;
    double var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)));
    if (var <= 0)
        return 1;
    double z = (fabs(u - mu) - 0.5) / sqrt(var);
    if (z < 0)
        z = 0;
    return erfc(z / sqrt(2.0));
}

/* ---------------------------------------------------------------------------------- */
/* The comparison */

enum { V_SAME, V_REGRESSION, V_IMPROVEMENT, V_NEW, V_GONE, V_UNTESTED };
static const char *const vname[] = {"same", "regression", "improvement", "new", "gone",
                                    "untested"};

struct side {
    struct ta_drun **runs;
    size_t n;
    const char *path;
};

struct dres {
    const char *key, *label;
    int kind;
    double count[2], mean[2], p95[2], total[2], median[2], spread[2];
    int present[2];
    double ratio, change_pct, p;
    double share_pct; /* a new op's or marker's total: % of NEW's traced time per run */
    int verdict, sig;
    const char *test;
};

struct opts {
    double alpha, min_effect, fail_above;
    int json, top, fail_set;
};

static int load_side(struct side *s, const char *path)
{
    s->path = path;
    char **dirs;
    size_t nd = ta_repeat_dirs(path, &dirs);
    if (nd) {
        s->runs = calloc(nd, sizeof *s->runs);
        for (size_t i = 0; s->runs && i < nd; i++)
            if ((s->runs[s->n] = ta_drun_load(dirs[i])))
                s->n++;
        free_names(dirs, nd);
    } else {
        s->runs = calloc(1, sizeof *s->runs);
        if (s->runs && (s->runs[0] = ta_drun_load(path)))
            s->n = 1;
    }
    return s->n ? 0 : -1;
}

/* Pooled and per-run figures of one key on one side. */
static void side_stats(const struct side *s, const char *key, struct dres *d, int k,
                       double *vals, int *nvals, struct ta_bk **ph, size_t *pnh)
{
    double cnt = 0, tot = 0;
    uint64_t mn = UINT64_MAX, mx = 0;
    size_t cap = 0;
    *nvals = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct ta_drow *w = ta_drun_find(s->runs[i], key);
        if (!w) {
            if (d->kind == TA_ROW_NODE)
                vals[(*nvals)++] = 0; /* a node absent from a run took no time there */
            continue;
        }
        d->present[k] = 1;
        d->kind = w->kind;
        d->label = w->label;
        cnt += (double)w->count;
        tot += w->total_ns;
        if (w->min_ns < mn)
            mn = w->min_ns;
        if (w->max_ns > mx)
            mx = w->max_ns;
        ta_hist_merge(ph, pnh, &cap, w->h, w->nh);
        if (w->kind == TA_ROW_NODE)
            vals[(*nvals)++] = w->total_ns;
        else if (w->count)
            vals[(*nvals)++] = w->total_ns / (double)w->count;
    }
    d->count[k] = cnt / (double)s->n;
    d->total[k] = tot / (double)s->n;
    d->mean[k] = cnt ? tot / cnt : 0;
    d->p95[k] = *pnh ? (double)ta_hist_pct(*ph, *pnh, 95, mn, mx) : 0;
    d->median[k] = *pnh ? (double)ta_hist_pct(*ph, *pnh, 50, mn, mx) : 0;
}

static void compare(const struct side *b, const struct side *n, const char *key, int kind,
                    const struct opts *o, struct dres *d)
{
    memset(d, 0, sizeof *d);
    d->key = key;
    d->kind = kind;
    size_t mx = b->n > n->n ? b->n : n->n;
    double *vb = calloc(mx + 1, sizeof *vb), *vn = calloc(mx + 1, sizeof *vn);
    struct ta_bk *hb = NULL, *hn = NULL;
    size_t nhb = 0, nhn = 0;
    int nb = 0, nn = 0;
    if (!vb || !vn)
        goto out;
    side_stats(b, key, d, 0, vb, &nb, &hb, &nhb);
    side_stats(n, key, d, 1, vn, &nn, &hn, &nhn);
    int node = d->kind == TA_ROW_NODE;
    double base = node ? d->total[0] : d->mean[0], now = node ? d->total[1] : d->mean[1];
    d->ratio = base > 0 ? now / base : 0;
    d->change_pct = base > 0 ? 100.0 * (now - base) / base : 0;
    d->p = 1;
    if (!d->present[0]) {
        d->verdict = V_NEW;
        double traced = 0;
        for (size_t i = 0; i < n->n; i++)
            traced += n->runs[i]->traced_ns;
        traced /= n->n ? (double)n->n : 1;
        d->share_pct = traced > 0 ? 100.0 * d->total[1] / traced : 0;
        goto out;
    }
    if (!d->present[1]) {
        d->verdict = V_GONE;
        goto out;
    }
    if (b->n >= 2 && n->n >= 2 && nb >= 2 && nn >= 2) {
        struct mstat sb = msd(vb, nb), sn = msd(vn, nn);
        d->test = "welch";
        d->spread[0] = sb.sd;
        d->spread[1] = sn.sd;
        d->p = welch_p(sb, sn);
        double spread = sb.sd > sn.sd ? sb.sd : sn.sd;
        d->change_pct = sb.mean > 0 ? 100.0 * (sn.mean - sb.mean) / sb.mean : 0;
        d->ratio = sb.mean > 0 ? sn.mean / sb.mean : 0;
        d->sig = d->p < o->alpha && fabs(sn.mean - sb.mean) > spread;
    } else if (nhb && nhn) {
        d->test = "mann-whitney";
        d->p = mwu_p(hb, nhb, hn, nhn);
        double eff = d->median[0] > 0 ? 100.0 * (d->median[1] - d->median[0]) / d->median[0] : 0;
        d->sig = d->p < o->alpha && fabs(eff) >= o->min_effect;
        d->change_pct = eff; /* the size of the change: the median's move, what was tested */
    } else {
        d->verdict = V_UNTESTED;
        goto out;
    }
    d->verdict = !d->sig ? V_SAME : d->change_pct > 0 ? V_REGRESSION : V_IMPROVEMENT;
out:
    free(vb);
    free(vn);
    free(hb);
    free(hn);
}

static int cmp_res(const void *x, const void *y)
{
    const struct dres *a = x, *b = y;
    if (a->sig != b->sig)
        return a->sig ? -1 : 1;
    if (a->sig) {
        double ea = fabs(a->change_pct), eb = fabs(b->change_pct);
        if (ea != eb)
            return ea < eb ? 1 : -1;
    } else {
        double ta = fabs(a->total[1] - a->total[0]), tb = fabs(b->total[1] - b->total[0]);
        if (ta != tb)
            return ta < tb ? 1 : -1;
    }
    return strcmp(a->key, b->key);
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

static const char *fmt_count(char *b, size_t n, double v)
{
    if (v == floor(v))
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "%.1f", v);
    return b;
}

static const char *const kname[] = {"op", "marker", "node"};

static void jnum_out(FILE *f, const char *k, double v, int comma)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 9e15)
        fprintf(f, "\"%s\": %.0f%s", k, v, comma ? ", " : "");
    else if (isfinite(v))
        fprintf(f, "\"%s\": %.6g%s", k, v, comma ? ", " : "");
    else
        fprintf(f, "\"%s\": null%s", k, comma ? ", " : "");
}

static void jstr_out(FILE *f, const char *s)
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

static void print_json(FILE *f, const struct side *b, const struct side *n,
                       const struct dres *r, size_t nr, const struct opts *o)
{
    fprintf(f, "{\"schema\": \"traceagent-diff/1\", \"base\": ");
    jstr_out(f, b->path);
    fprintf(f, ", \"new\": ");
    jstr_out(f, n->path);
    fprintf(f, ", \"base_runs\": %zu, \"new_runs\": %zu, \"alpha\": %g, \"min_effect_pct\": %g,\n"
               " \"rows\": [", b->n, n->n, o->alpha, o->min_effect);
    for (size_t i = 0; i < nr; i++) {
        const struct dres *d = &r[i];
        fprintf(f, "%s\n  {\"kind\": \"%s\", \"name\": ", i ? "," : "", kname[d->kind]);
        jstr_out(f, d->label ? d->label : d->key);
        fprintf(f, ", \"verdict\": \"%s\", \"significant\": %s, \"test\": %s%s%s, ",
                vname[d->verdict], d->sig ? "true" : "false", d->test ? "\"" : "",
                d->test ? d->test : "null", d->test ? "\"" : "");
        jnum_out(f, "p", d->p, 1);
        jnum_out(f, "change_pct", d->change_pct, 1);
        if (d->verdict == V_NEW && d->kind != TA_ROW_NODE) /* what --fail-above tests */
            jnum_out(f, "traced_share_pct", d->share_pct, 1);
        jnum_out(f, "ratio", d->ratio, 1);
        fprintf(f, "\n   ");
        static const char *const side[] = {"base", "new"};
        for (int k = 0; k < 2; k++) {
            fprintf(f, "\"%s\": {", side[k]);
            jnum_out(f, "count", d->count[k], 1);
            jnum_out(f, "mean_ns", d->mean[k], 1);
            jnum_out(f, "median_ns", d->median[k], 1);
            jnum_out(f, "p95_ns", d->p95[k], 1);
            jnum_out(f, "total_ns", d->total[k], 1);
            jnum_out(f, "spread_ns", d->spread[k], 0);
            fprintf(f, "}%s", k ? "}" : ", ");
        }
    }
    fprintf(f, "\n]}\n");
}

static void print_table(FILE *f, const struct side *b, const struct side *n,
                        const struct dres *r, size_t nr, const struct opts *o)
{
    size_t nsig = 0;
    for (size_t i = 0; i < nr; i++)
        nsig += r[i].sig;
    fprintf(f, "traceagent diff: %s (%zu run%s) -> %s (%zu run%s): %zu significant change%s\n",
            b->path, b->n, b->n == 1 ? "" : "s", n->path, n->n, n->n == 1 ? "" : "s", nsig,
            nsig == 1 ? "" : "s");
    fprintf(f, "(%s; alpha %g%s)\n",
            b->n >= 2 && n->n >= 2
                ? "Welch's t-test on per-run values, change > the runs' spread"
                : "Mann-Whitney U on the duration histograms, median moved",
            o->alpha, b->n >= 2 && n->n >= 2 ? "" : " and >= --min-effect");
    if (b->n >= 2 && n->n >= 2)
        fprintf(f, "(count and total are per run)\n");
    else
        fprintf(f, "(min effect %g%%)\n", o->min_effect);
    fprintf(f, "\n%-12s %-6s %-34s %9s %9s %9s %9s %9s %9s %9s %8s %6s %8s %7s\n", "verdict",
            "kind", "name", "count", "->", "mean", "->", "p95", "->", "total", "->", "ratio",
            "change", "p");
    size_t shown = nr;
    if (o->top > 0 && (size_t)o->top < nr)
        shown = (size_t)o->top;
    for (size_t i = 0; i < shown; i++) {
        const struct dres *d = &r[i];
        char c0[24], c1[24], m0[24], m1[24], p0[24], p1[24], t0[24], t1[24], ch[24], pv[24];
        const char *name = d->label ? d->label : d->key;
        char nm[40];
        size_t l = strlen(name);
        if (l > 34)
            snprintf(nm, sizeof nm, "...%s", ta_utf8_tail(name, l, 31));
        else
            snprintf(nm, sizeof nm, "%s", name);
        if (d->verdict == V_NEW || d->verdict == V_GONE || !d->present[0])
            snprintf(ch, sizeof ch, "-");
        else
            snprintf(ch, sizeof ch, "%+.1f%%", d->change_pct);
        if (d->test)
            snprintf(pv, sizeof pv, d->p < 1e-4 ? "%.0e" : "%.4f", d->p);
        else
            snprintf(pv, sizeof pv, "-");
        int h0 = d->present[0], h1 = d->present[1], nd = d->kind == TA_ROW_NODE;
        char ra[24];
        if (h0 && h1 && d->ratio > 0)
            snprintf(ra, sizeof ra, "x%.2f", d->ratio);
        else
            snprintf(ra, sizeof ra, "-");
        fprintf(f, "%-12s %-6s %-34s %9s %9s %9s %9s %9s %9s %9s %8s %6s %8s %7s\n",
                vname[d->verdict], kname[d->kind], nm, fmt_count(c0, sizeof c0, d->count[0]),
                fmt_count(c1, sizeof c1, d->count[1]),
                h0 ? fmt_ns(m0, sizeof m0, d->mean[0]) : "-",
                h1 ? fmt_ns(m1, sizeof m1, d->mean[1]) : "-",
                h0 && !nd ? fmt_ns(p0, sizeof p0, d->p95[0]) : "-",
                h1 && !nd ? fmt_ns(p1, sizeof p1, d->p95[1]) : "-",
                fmt_ns(t0, sizeof t0, d->total[0]), fmt_ns(t1, sizeof t1, d->total[1]), ra, ch,
                pv);
    }
    if (shown < nr)
        fprintf(f, "... %zu more (--top 0 shows all)\n", nr - shown);
}

void ta_diff_usage(FILE *out)
{
    fprintf(out,
        "diff BASE NEW: per op, marker and call-path node: count, mean, p95, total of both,\n"
        "the change and a verdict (regression, improvement, same, new, gone). BASE and NEW:\n"
        "a stats file, an output directory (one run), or a directory of repeated runs\n"
        "(run --repeat: its run-NNN subdirectories). Significant: with 2+ runs on both\n"
        "sides, Welch's t-test on the per-run means (nodes: totals) at alpha AND a change\n"
        "larger than the runs' standard deviation; otherwise the Mann-Whitney U test on\n"
        "the duration histograms at alpha AND the median moved by >= --min-effect\n"
        "(tree nodes, which have no histogram, are then shown untested).\n"
        "  --fail-above PCT           exit 1 when a significant regression exceeds PCT %%,\n"
        "                             or a new op or marker takes more than PCT %% of\n"
        "                             NEW's traced time (per run)\n"
        "  --format table|json        (default table)\n"
        "  --top N                    rows shown (default 20; 0: all)\n"
        "  --alpha A                  significance level (default 0.01)\n"
        "  --min-effect PCT           single runs: smallest median move flagged (default 5)\n"
        "  Exit: 0, 1 (--fail-above passed), 2 (usage, unreadable input).\n");
}

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    if (!v) {
        fprintf(stderr, "traceagent diff: %s needs a value\n", flag);
        return -1;
    }
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "traceagent diff: %s %s: expected a number in [%g, %g]\n", flag, v, lo,
                hi);
        return -1;
    }
    *out = d;
    return 0;
}

static void side_free(struct side *s)
{
    for (size_t i = 0; i < s->n; i++)
        ta_drun_free(s->runs[i]);
    free(s->runs);
}

int ta_diff_main(int argc, char **argv)
{
    struct opts o = {0.01, 5.0, 0, 0, 20, 0};
    const char *paths[2];
    int np = 0, endopt = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        char flag[32] = "";
        const char *val = NULL;
        if (!endopt && a[0] == '-' && a[1] == '-' && a[2]) {
            snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
            val = eq ? eq + 1 : NULL;
        }
        if (!endopt && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            ta_diff_usage(stdout);
            return 0;
        }
        if (!endopt && !strcmp(a, "--")) {
            endopt = 1;
            continue;
        }
        if (*flag) {
            int needs = strcmp(flag, "--fail-above") == 0 || strcmp(flag, "--format") == 0 ||
                        strcmp(flag, "--top") == 0 || strcmp(flag, "--alpha") == 0 ||
                        strcmp(flag, "--min-effect") == 0;
            if (!needs) {
                fprintf(stderr, "traceagent diff: unknown option %s\n", a);
                ta_diff_usage(stderr);
                return 2;
            }
            if (!val)
                val = i + 1 < argc ? argv[++i] : NULL;
            double d;
            if (!strcmp(flag, "--format")) {
                if (val && !strcmp(val, "json"))
                    o.json = 1;
                else if (val && !strcmp(val, "table"))
                    o.json = 0;
                else {
                    fprintf(stderr, "traceagent diff: --format %s: table or json\n",
                            val ? val : "");
                    return 2;
                }
            } else if (!strcmp(flag, "--fail-above")) {
                if (parse_num(flag, val, 0, 1e9, &o.fail_above) < 0)
                    return 2;
                o.fail_set = 1;
            } else if (!strcmp(flag, "--top")) {
                if (parse_num(flag, val, 0, 1e6, &d) < 0)
                    return 2;
                o.top = (int)d;
            } else if (!strcmp(flag, "--alpha")) {
                if (parse_num(flag, val, 1e-12, 0.5, &o.alpha) < 0)
                    return 2;
            } else if (parse_num(flag, val, 0, 1e6, &o.min_effect) < 0) {
                return 2;
            }
            continue;
        }
        if (!endopt && a[0] == '-' && a[1]) {
            fprintf(stderr, "traceagent diff: unknown option %s\n", a);
            return 2;
        }
        if (np == 2) {
            fprintf(stderr, "traceagent diff: two runs: BASE NEW (%s is one too many)\n", a);
            return 2;
        }
        paths[np++] = a;
    }
    if (np != 2) {
        fprintf(stderr, "traceagent diff: needs BASE and NEW\n");
        ta_diff_usage(stderr);
        return 2;
    }
    struct side b = {0}, n = {0};
    if (load_side(&b, paths[0]) < 0 || load_side(&n, paths[1]) < 0) {
        side_free(&b);
        side_free(&n);
        return 2;
    }
    /* every key of either side */
    struct ta_drun *keys = calloc(1, sizeof *keys);
    for (int s = 0; keys && s < 2; s++) {
        const struct side *sd = s ? &n : &b;
        for (size_t i = 0; i < sd->n; i++)
            for (size_t k = 0; k < sd->runs[i]->n; k++)
                row_get(keys, sd->runs[i]->rows[k].key, sd->runs[i]->rows[k].label,
                        sd->runs[i]->rows[k].kind);
    }
    size_t nr = keys ? keys->n : 0;
    struct dres *res = calloc(nr ? nr : 1, sizeof *res);
    int rc = 0;
    if (!res || !keys) {
        rc = 2;
    } else {
        for (size_t i = 0; i < nr; i++)
            compare(&b, &n, keys->rows[i].key, keys->rows[i].kind, &o, &res[i]);
        qsort(res, nr, sizeof *res, cmp_res);
        if (o.json)
            print_json(stdout, &b, &n, res, nr, &o);
        else
            print_table(stdout, &b, &n, res, nr, &o);
        if (o.fail_set) {
            for (size_t i = 0; i < nr; i++)
                if (res[i].verdict == V_REGRESSION && res[i].change_pct > o.fail_above) {
                    if (!rc)
                        fprintf(stderr, "traceagent diff: %s %s: +%.1f%% > --fail-above %g%%\n",
                                kname[res[i].kind], res[i].label ? res[i].label : res[i].key,
                                res[i].change_pct, o.fail_above);
                    rc = 1;
                } else if (res[i].verdict == V_NEW && res[i].kind != TA_ROW_NODE &&
                           res[i].share_pct > o.fail_above) {
                    /* A new op or marker has no base to change from: its cost is measured
                     * against the run's traced time. Not a tree node: a renamed marker
                     * gives every path below it a new key, and the time behind a new
                     * path is in an op or marker row of its own. */
                    if (!rc)
                        fprintf(stderr, "traceagent diff: %s %s: new, %.1f%% of the traced "
                                        "time > --fail-above %g%%\n",
                                kname[res[i].kind], res[i].label ? res[i].label : res[i].key,
                                res[i].share_pct, o.fail_above);
                    rc = 1;
                }
        }
    }
    fflush(stdout);
    free(res);
    ta_drun_free(keys);
    side_free(&b);
    side_free(&n);
    return rc;
}
