/* `traceagent tree PATH...`: the call-path tree of the stats' `tree` sections, with count,
 * total, self, a bar (total over the traced time of the top-level spans), the GPU time
 * launched under a node when the stats have it, and a node's top call sites beneath it
 * (runs with TRACEAGENT_STACKS). Merged over threads (the agent's tree already is) and
 * processes by default: nodes with the same (cat, name) path add up; --per-process prints
 * each process's tree apart. */
#include "tree.h"

#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "summary.h"

#define BAR 20

struct mnode {
    const char *cat, *name; /* the loader's strings */
    double count, total, self, gpu_ns, gpu_count;
    struct ta_site *sites; /* merged by site text (shares the loader's strings) */
    size_t nsites;
    struct mnode *kids;
    size_t nkids, cap;
};

static void merge_sites(struct mnode *m, const struct ta_node *n)
{
    for (size_t i = 0; i < n->nsites; i++) {
        size_t k = 0;
        while (k < m->nsites && strcmp(m->sites[k].site, n->sites[i].site))
            k++;
        if (k == m->nsites) {
            struct ta_site *p = realloc(m->sites, (m->nsites + 1) * sizeof *p);
            if (!p)
                return;
            m->sites = p;
            p[m->nsites++] = (struct ta_site){n->sites[i].site, 0, 0};
        }
        m->sites[k].count += n->sites[i].count;
        m->sites[k].total += n->sites[i].total;
    }
}

static void merge(struct mnode *parent, const struct ta_node *n, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        struct mnode *m = NULL;
        for (size_t j = 0; j < parent->nkids && !m; j++)
            if (!strcmp(parent->kids[j].cat, n[i].cat) && !strcmp(parent->kids[j].name, n[i].name))
                m = &parent->kids[j];
        if (!m) {
            if (parent->nkids == parent->cap) {
                size_t nc = parent->cap ? parent->cap * 2 : 4;
                struct mnode *p = realloc(parent->kids, nc * sizeof *p);
                if (!p)
                    return;
                parent->kids = p;
                parent->cap = nc;
            }
            m = &parent->kids[parent->nkids++];
            memset(m, 0, sizeof *m);
            m->cat = n[i].cat;
            m->name = n[i].name;
        }
        m->count += n[i].count;
        m->total += n[i].total;
        m->self += n[i].self;
        m->gpu_ns += n[i].gpu_kernel_ns + n[i].gpu_copy_ns;
        m->gpu_count += n[i].gpu_kernel_count;
        merge_sites(m, &n[i]);
        merge(m, n[i].kids, n[i].nkids);
    }
}

static void mfree(struct mnode *m)
{
    for (size_t i = 0; i < m->nkids; i++)
        mfree(&m->kids[i]);
    free(m->kids);
    free(m->sites);
}

static int cmp_mnode(const void *a, const void *b)
{
    const struct mnode *x = a, *y = b;
    return x->total != y->total ? (x->total < y->total ? 1 : -1) : strcmp(x->name, y->name);
}

static int cmp_site(const void *a, const void *b)
{
    const struct ta_site *x = a, *y = b;
    return x->total != y->total ? (x->total < y->total ? 1 : -1) : strcmp(x->site, y->site);
}

static double gpu_any(const struct mnode *m)
{
    double g = m->gpu_ns;
    for (size_t i = 0; i < m->nkids; i++)
        g += gpu_any(&m->kids[i]);
    return g;
}

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

static void print_nodes(struct mnode *m, int depth, int maxdepth, double scale, int gpu,
                        FILE *out)
{
    if (m->nkids > 1)
        qsort(m->kids, m->nkids, sizeof *m->kids, cmp_mnode);
    for (size_t i = 0; i < m->nkids; i++) {
        struct mnode *n = &m->kids[i];
        char b1[32], b2[32], b3[32], bar[BAR * 3 + 1];
        snprintf(b1, sizeof b1, "%.0f", n->count);
        ta_fmt_ns(b2, sizeof b2, n->total);
        ta_fmt_ns(b3, sizeof b3, n->self);
        int w = scale > 0 ? (int)(BAR * n->total / scale + 0.5) : 0;
        if (w > BAR)
            w = BAR;
        if (!w && n->total > 0)
            w = 1;
        size_t k = 0;
        for (int j = 0; j < w; j++) {
            memcpy(bar + k, "\xe2\x96\x88", 3); /* █ */
            k += 3;
        }
        bar[k] = 0;
        col(out, b1, 9, 0);
        col(out, b2, 10, 0);
        col(out, b3, 10, 0);
        fputs("  ", out);
        col(out, bar, BAR, 1);
        if (gpu) {
            char g[32];
            col(out, n->gpu_ns > 0 ? ta_fmt_ns(g, sizeof g, n->gpu_ns) : "", 11, 0);
        }
        fprintf(out, "  %*s%s:%s\n", 2 * depth, "", n->cat, n->name);
        if (n->nsites > 1)
            qsort(n->sites, n->nsites, sizeof *n->sites, cmp_site);
        for (size_t j = 0; j < n->nsites; j++) {
            ta_fmt_ns(b2, sizeof b2, n->sites[j].total);
            fprintf(out, "%*s  %*s  <- %s: %.0f calls, %s\n", 9 + 10 + 10 + 2 + BAR + (gpu ? 11 : 0),
                    "", 2 * depth, "", n->sites[j].site, n->sites[j].count, b2);
        }
        if (maxdepth <= 0 || depth + 1 < maxdepth)
            print_nodes(n, depth + 1, maxdepth, scale, gpu, out);
    }
}

static void print_tree(struct mnode *root, const char *title, int sites, int maxdepth,
                       FILE *out)
{
    double sum = 0;
    for (size_t i = 0; i < root->nkids; i++)
        sum += root->kids[i].total;
    int gpu = gpu_any(root) > 0;
    char t[32];
    fprintf(out, "%s; bars: total over the %s in top-level spans\n", title,
            ta_fmt_ns(t, sizeof t, sum));
    col(out, "Count", 9, 0);
    col(out, "Total", 10, 0);
    col(out, "Self", 10, 0);
    fputs("  ", out);
    col(out, "", BAR, 1);
    if (gpu)
        col(out, "GPU", 11, 0);
    fputs("  Call path", out);
    if (sites)
        fputs(" (<- its top call sites)", out);
    fputc('\n', out);
    if (!root->nkids)
        fputs("  (no spans)\n", out);
    print_nodes(root, 0, maxdepth, sum, gpu, out);
}

int ta_tree_print(int npaths, char **paths, int maxdepth, int per_process, FILE *out)
{
    struct ta_run *run = ta_run_load(npaths, paths, NULL);
    if (!run)
        return 2;
    size_t nstats = 0, nthreads = 0;
    int sites = 0;
    ta_run_repeat_note(run, out);
    for (size_t i = 0; i < run->nprocs; i++) {
        nstats += run->procs[i].has_stats;
        nthreads += run->procs[i].nthreads;
        sites |= run->procs[i].callsites;
    }
    if (per_process) {
        size_t k = 0;
        for (size_t i = 0; i < run->nprocs; i++) {
            const struct ta_proc *p = &run->procs[i];
            if (!p->has_stats)
                continue;
            struct mnode root = {0};
            merge(&root, p->tree, p->ntree);
            char title[1024];
            snprintf(title, sizeof title, "%sCall tree: %s (pid %.0f) %s", k++ ? "\n" : "",
                     p->exe, p->pid, p->stats_path);
            print_tree(&root, title, p->callsites, maxdepth, out);
            mfree(&root);
        }
    } else if (nstats) {
        struct mnode root = {0};
        for (size_t i = 0; i < run->nprocs; i++)
            merge(&root, run->procs[i].tree, run->procs[i].ntree);
        char title[256];
        if (nstats == 1) {
            const struct ta_proc *p = run->procs;
            while (!p->has_stats)
                p++;
            snprintf(title, sizeof title, "Call tree: %s (pid %.0f), %zu thread%s", p->exe,
                     p->pid, nthreads, nthreads == 1 ? "" : "s");
        } else {
            snprintf(title, sizeof title, "Call tree: merged over %zu processes and %zu "
                     "threads (--per-process: one tree each)", nstats, nthreads);
        }
        print_tree(&root, title, sites, maxdepth, out);
        mfree(&root);
    }
    size_t shown = 0; /* no stats anywhere: the processes the traces give, and why no tree */
    if (!nstats) {
        for (size_t i = 0; i < run->nprocs; i++) {
            const struct ta_proc *p = &run->procs[i];
            if (!p->trace_read || p->first_ts < 0)
                continue;
            double top = 0;
            for (size_t k = 0; k < p->ntracks; k++)
                for (size_t j = 0; j < p->tracks[k].nspans; j++)
                    top += p->tracks[k].spans[j].dur * 1e3 * p->tracks[k].spans[j].busy;
            char a[64], b[64];
            if (!shown++)
                fputs("Processes (from their traces):\n", out);
            fprintf(out, "  %s[%.0f]  %s, %s in top-level spans  (no stats: from its trace)\n",
                    p->exe, p->pid,
                    ta_fmt_ns(a, sizeof a, p->duration_ns), ta_fmt_ns(b, sizeof b, top));
        }
        if (shown)
            fprintf(out, "No call tree: %zu process%s left a trace and no stats.json (run with "
                         "--export json only, the stats export off, or killed by SIGKILL?); "
                         "the tree is built from the stats. `traceagent report` / `waterfall` "
                         "show what the traces hold.\n", shown, shown == 1 ? "" : "es");
    }
    int rc = (nstats == 0 && !shown) || run->bad_files ? 1 : 0;
    ta_run_free(run);
    return rc;
}
