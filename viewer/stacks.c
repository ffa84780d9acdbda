/* What the CLI prints of call stacks (TRACEAGENT_STACKS) and of the call-path tree, from
 * stats.json files (schema traceagent-stats/1):
 *   traceagent report --by-callsite PATH...   per category, the call sites by time
 * (`traceagent tree` is viewer/tree.c, on the run loader.)
 * PATH: a stats file or an output directory (its *.stats.json). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "summary.h"

/* ---- the stats files of the paths given -------------------------------------------- */

struct files {
    char **v;
    size_t n, cap;
};

static int files_add(struct files *f, const char *path)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        char **v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return -1;
        f->v = v;
        f->cap = cap;
    }
    return (f->v[f->n] = strdup(path)) ? (int)f->n++ : -1;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Paths: files as they are, directories' *.stats.json in name order. Problems go to
 * stderr; the number of them. */
static int files_collect(struct files *f, int n, char **paths, const char *cmd)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            fprintf(stderr, "traceagent %s: %s: %s\n", cmd, paths[i], strerror(errno));
            bad++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            files_add(f, paths[i]);
            continue;
        }
        DIR *d = opendir(paths[i]);
        if (!d) {
            fprintf(stderr, "traceagent %s: %s: %s\n", cmd, paths[i], strerror(errno));
            bad++;
            continue;
        }
        size_t first = f->n;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 11 && strcmp(e->d_name + l - 11, ".stats.json") == 0) {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s/%s", paths[i], e->d_name);
                files_add(f, p);
            }
        }
        closedir(d);
        if (f->n == first)
            fprintf(stderr, "traceagent %s: %s: no *.stats.json files\n", cmd, paths[i]);
        qsort(f->v + first, f->n - first, sizeof *f->v, cmp_cstr);
    }
    return bad;
}

static void files_free(struct files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
}

static cJSON *load(const char *path, const char *cmd)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "traceagent %s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "traceagent %s: %s: out of memory\n", cmd, path);
        return NULL;
    }
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    const cJSON *schema = j ? cJSON_GetObjectItemCaseSensitive(j, "schema") : NULL;
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, "traceagent-stats/1") != 0) {
        fprintf(stderr, "traceagent %s: %s: not a traceagent stats file\n", cmd, path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

/* Columns of display width w (UTF-8: µ counts one) */
static void col(FILE *out, const char *s, int w, int left)
{
    int sw = 0;
    for (const char *p = s; *p; p++)
        sw += ((unsigned char)*p & 0xc0) != 0x80;
    if (!left)
        for (int i = sw; i < w; i++)
            fputc(' ', out);
    fputs(s, out);
    if (left)
        for (int i = sw; i < w; i++)
            fputc(' ', out);
}

/* ---- report --by-callsite ---------------------------------------------------------- */

struct site {
    char *cat, *site;
    double count, total, bytes, stacks;
    int other; /* the "(other sites)" row: printed last */
};

static int cmp_site(const void *a, const void *b)
{
    const struct site *x = a, *y = b;
    int c = strcmp(x->cat, y->cat);
    if (c)
        return c;
    if (x->other != y->other)
        return x->other - y->other;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->site, y->site);
}

int ta_report_callsites(int npaths, char **paths, int top, FILE *out)
{
    struct files f = {0};
    int bad = files_collect(&f, npaths, paths, "report");
    struct site *s = NULL;
    size_t ns = 0, cap = 0;
    int nfiles = 0, with = 0;
    double every = 0;
    for (size_t i = 0; i < f.n; i++) {
        cJSON *j = load(f.v[i], "report");
        if (!j) {
            bad++;
            continue;
        }
        nfiles++;
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "callsites");
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(cs, "sites");
        if (cJSON_IsArray(rows))
            with++;
        if (num(cs, "stacks_every") > every)
            every = num(cs, "stacks_every");
        const cJSON *r;
        cJSON_ArrayForEach(r, rows) {
            const char *cat = str(r, "cat"), *site = str(r, "site");
            size_t k = 0;
            while (k < ns && (strcmp(s[k].cat, cat) || strcmp(s[k].site, site)))
                k++;
            if (k == ns) {
                if (ns == cap) {
                    cap = cap ? cap * 2 : 64;
                    struct site *v = realloc(s, cap * sizeof *v);
                    if (!v)
                        break;
                    s = v;
                }
                memset(&s[ns], 0, sizeof *s);
                s[ns].cat = strdup(cat);
                s[ns].site = strdup(site);
                s[ns].other = strcmp(site, "(other sites)") == 0;
                ns++;
            }
            s[k].count += num(r, "count");
            s[k].total += num(r, "total_ns");
            s[k].bytes += num(r, "bytes");
            s[k].stacks += num(r, "stacks");
        }
        cJSON_Delete(j);
    }
    if (nfiles && !with)
        fprintf(out, "No call stacks in %d stats file%s: run with TRACEAGENT_STACKS=posix,stdio "
                "(the categories whose calls you want attributed).\n", nfiles,
                nfiles == 1 ? "" : "s");
    if (ns)
        qsort(s, ns, sizeof *s, cmp_site);
    for (size_t i = 0; i < ns;) {
        size_t j = i;
        double cat_total = 0;
        while (j < ns && strcmp(s[j].cat, s[i].cat) == 0)
            cat_total += s[j++].total;
        fprintf(out, "\nCall sites: %s (%d process%s", s[i].cat, with, with == 1 ? "" : "es");
        if (every > 1)
            fprintf(out, "; one call in %.0f has a stack: counts are of those", every);
        fprintf(out, ")\n");
        col(out, "Count", 9, 0);
        col(out, "Total", 10, 0);
        col(out, "Mean", 10, 0);
        col(out, "Bytes", 11, 0);
        col(out, "Share", 8, 0);
        fputs("  Site\n", out);
        size_t shown = 0;
        double rest_c = 0, rest_t = 0, rest_b = 0;
        for (size_t k = i; k < j; k++) {
            if (top > 0 && shown >= (size_t)top && !s[k].other) {
                rest_c += s[k].count;
                rest_t += s[k].total;
                rest_b += s[k].bytes;
                continue;
            }
            if (s[k].other) { /* the files' own rest, with what --top left out */
                s[k].count += rest_c;
                s[k].total += rest_t;
                s[k].bytes += rest_b;
                rest_c = rest_t = rest_b = 0;
            }
            char b1[32], b2[32], b3[32], b4[32], b5[32];
            snprintf(b1, sizeof b1, "%.0f", s[k].count);
            ta_fmt_ns(b2, sizeof b2, s[k].total);
            ta_fmt_ns(b3, sizeof b3, s[k].count ? s[k].total / s[k].count : 0);
            ta_fmt_bytes(b4, sizeof b4, s[k].bytes);
            snprintf(b5, sizeof b5, "%.1f%%", cat_total > 0 ? 100 * s[k].total / cat_total : 0);
            col(out, b1, 9, 0);
            col(out, b2, 10, 0);
            col(out, b3, 10, 0);
            col(out, b4, 11, 0);
            col(out, b5, 8, 0);
            fprintf(out, "  %s\n", s[k].site);
            shown++;
        }
        if (rest_c) {
            char b1[32], b2[32], b3[32], b4[32], b5[32];
            snprintf(b1, sizeof b1, "%.0f", rest_c);
            ta_fmt_ns(b2, sizeof b2, rest_t);
            ta_fmt_ns(b3, sizeof b3, rest_t / rest_c);
            ta_fmt_bytes(b4, sizeof b4, rest_b);
            snprintf(b5, sizeof b5, "%.1f%%", cat_total > 0 ? 100 * rest_t / cat_total : 0);
            col(out, b1, 9, 0);
            col(out, b2, 10, 0);
            col(out, b3, 10, 0);
            col(out, b4, 11, 0);
            col(out, b5, 8, 0);
            fputs("  (other sites)\n", out);
        }
        i = j;
    }
    for (size_t k = 0; k < ns; k++) {
        free(s[k].cat);
        free(s[k].site);
    }
    free(s);
    files_free(&f);
    return nfiles == 0 ? 1 : bad ? 1 : 0;
}

/* ---- tree -------------------------------------------------------------------------- */
