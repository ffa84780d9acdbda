/* The stats exporter: aggregates every event in the drainer and writes
 * `<stem>.stats.json` at the process's clean end.
 *
 * Runs only in the drainer thread (one caller at a time, never from a signal handler), so
 * it may malloc; it writes only through ta_out_open/ta_sys_write. The per-event path does
 * no malloc in steady state: rows are found by pointer (op descriptors and interned strings
 * are stable, the same text gives the same pointer), with a one-entry cache in front of
 * each hash table.
 *
 * Output layout (schema "traceagent-stats/1"; times in ns, sizes in bytes):
 * {
 *   "schema": "traceagent-stats/1",
 *   "process": {"pid", "ppid", "exe", "argv": [...], "cmdline", "host",
 *               ["rank", "ranks" (MPI/Slurm: OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK,
 *                 SLURM_PROCID, MV2_COMM_WORLD_RANK and their sizes; absent when none)],
 *               "start_ns" (wall clock, ns since the epoch), "start" (ISO-8601 UTC),
 *               "duration_ns" (start to the writing of this file),
 *               "clock": {"monotonic_ns", "realtime_ns"}  (the same instant on both clocks:
 *                         the anchor that lines up processes and hosts)},
 *   "events": N (events received, all kinds),
 *   "threads": [{"tid", "name", "events"}, ...],
 *   "ops": [ one row per (cat, name), by total_ns descending:
 *     spans:    {"cat", "name", "kind": "span", "count", "total_ns", "mean_ns", "median_ns",
 *                "min_ns", "max_ns", "stddev_ns", "p95_ns", "p99_ns", "errors"
 *                [, "bytes"  (sum of bytes actually transferred, when the op moves data)],
 *                "hist": [[lower_ns, count], ...] (the duration histogram's non-empty
 *                        buckets, ascending; below 128 ns lower_ns is the value itself)}
 *     instants: {"cat", "name", "kind": "instant", "count"} ],
 *   "counters": [{"cat", "name", "count", "min", "max", "last"}, ...],
 *   "files": [ one row per path, by time descending:
 *     {"path", "opens", "closes", "reads", "writes", "seeks", "syncs", "meta", "maps",
 *      "errors", "bytes_read", "bytes_written", "read_ns", "write_ns", "other_ns",
 *      ["sync_ns", "meta_ns" (the parts of other_ns in syncs and metadata calls; when > 0)],
 *      "read_sizes": [[lower_bound, count], ...], "write_sizes": [[lower_bound, count], ...]
 *      [, "logical": {"reads", "writes", "bytes_read", "bytes_written", "read_ns",
 *                     "write_ns"}  (a library's own reads and writes of the file: LOGICAL
 *                     layer ops, keyed by their FILE field, else PATH; only when any)]} ],
 *   "datasets": [ one row per (file, dataset) named by events whose op has a DATASET field,
 *     by total_ns descending, then dataset, then file (only when any row exists):
 *     {"file" (the FILE field's text; null when the event had none), "dataset", "reads",
 *      "writes", "bytes_read", "bytes_written", "read_ns", "write_ns",
 *      "opens" (ops of io OPEN naming it: H5Dopen2, H5Dcreate2, H5Oopen), "errors" (ERRNO present, any op),
 *      "count" (reads + writes), "total_ns", "mean_ns", "median_ns", "p95_ns", "max_ns"
 *      (over the reads and writes: the histogram and percentiles of `ops` rows),
 *      "read_mean_ns", "read_p95_ns", "write_mean_ns", "write_p95_ns" (the same over the
 *      reads alone, and the writes alone, each from its own histogram; 0 when none),
 *      "selections": [{"shape", "count", "bytes"}, ...]  (the SHAPE field of reads and
 *                    writes: the 8 most frequent of the first 32 distinct shapes, then
 *                    by text),
 *      "selections_other": N  (calls whose shape is not among those listed)} ],
 *   "layers": {"file"|"logical"|"device": {"count", "total_ns", "bytes_read",
 *              "bytes_written"}}  (spans per op layer; only layers that had any, and
 *              only when one had any),
 *   "kernels": [ GPU kernels (device ops with a GRID field), one row per name, by total_ns
 *     descending: {"name", "count", "total_ns", "mean_ns", "median_ns", "min_ns", "max_ns",
 *     "stddev_ns", "p95_ns", "p99_ns", "grid", "block" (the most frequent config),
 *     "configs" [, "configs_capped": true (more than 32 seen)], "device_ids"} ]  (only
 *     when any; stats_gpu.c, with what follows),
 *   "gpu": {"kernel_count", "kernel_ns", "copy_count", "copy_ns", "bytes_htod",
 *           "bytes_dtoh", "bytes_dtod", "memset_count", "memset_ns" [, "graph_count",
 *           "graph_ns"], "busy_ns" [, "busy_approx_ns"], "first_ns", "last_ns", "idle_pct",
 *           "records_dropped"},
 *   "phases": [ per marker name, when GPU work exists: {"name", "count", "total_ns",
 *     "gpu_kernel_count", "gpu_kernel_ns", "gpu_copy_count", "gpu_copy_ns",
 *     "gpu_copy_bytes", "gpu_memset_ns" (launched under it), "gpu_busy_ns" (any work
 *     during its ranges) [, "ranges_approx_ns"], "gpu_idle_pct"} ],
 *   "callsites": {"stacks_every": N, "sites": [ by category, then total_ns descending,
 *     20 per category and then one "(other sites)" row summing the rest (only when some
 *     span had a call stack, TRACEAGENT_STACKS):
 *     {"cat", "site" ("read_a (app.c:12)": the frame ta_stack_site names), "function",
 *      "library", "file" (null when unknown), "line" (0), "count", "total_ns", "bytes",
 *      "stacks" (distinct stacks with this site), "example" (the frames of its most
 *      frequent stack, from the site outwards, 16 at most)} ]},
 *   "tree": [ top-level nodes:
 *     {"cat", "name", "count", "total_ns", "self_ns"
 *      [, "device_ns", "device_count"  (late work, a GPU kernel, launched at this node)]
 *      [, "gpu": {"kernel_ns", "kernel_count", "copy_ns", "copy_bytes"}  (GPU work launched
 *         at this node or beneath it)]
 *      [, "callsites": [{"site", "count", "total_ns"}, ...]  (its spans with a stack: the
 *         top 3 sites by time)],
 *      "children": [nodes...]} ],
 *   "dropped": {"<cause>": N, ...},
 *   "agent": {"events", "drainer_cpu_ns", "trace_bytes", "trace_spans_left_out",
 *             "min_duration_ns", "threads", "strings_lost", "buffer_kb", "clock"}
 *            (what measuring cost: records drained, CPU time spent draining them; spans
 *            shorter than min_duration_ns counted here but not written to the trace)
 * }
 *
 * Percentiles (median = p50, p95, p99) use the nearest-rank definition: the value of rank
 * ceil(p * count) in ascending order. They come from a log-linear histogram: values below
 * 128 ns are exact, above that each power of two is cut into 128 buckets and the bucket's
 * midpoint is reported (clamped to [min, max]): at most 0.4% from the exact value.
 * count, total, min, max and mean are exact; stddev is the population standard deviation
 * (from exact integer sums).
 *
 * Access-size histograms (read_sizes/write_sizes) count calls that transferred bytes, in
 * log2 buckets named by their lower bound: 0 (nothing moved), 1, 2, 4, ... where bucket
 * `b` holds sizes in [b, 2b). Only non-empty buckets are listed, in ascending order.
 *
 * The tree is rebuilt from each record's depth. Records of one thread arrive in order of
 * completion (children before their parent), so each thread keeps, per depth d, the
 * aggregated nodes completed at d whose parent has not arrived yet (`pend[d]`). A span at
 * depth d adopts pend[d + 1] as its children and then joins pend[d] (or, at depth 0, the
 * global tree). Siblings are aggregated by (cat, name). Leftovers whose parent never came
 * (a dropped record) are attached to the next ancestor that does arrive, or to the top at
 * the end. self_ns = total_ns - sum of the children's total_ns (at least 0).
 *
 * Events on a named track (ev->track: a batch source's, GPU work) belong to no thread:
 * they get their ops row, and no thread row and no place in the depth tree. Their time
 * goes to the node of the call path that launched them (ev->scope): the path is walked
 * from the root, nodes created with count 0 where the spans have not completed yet; a
 * span that completes later merges into the same node, by (op, name).
 *
 * What is counted comes from the op's fields (ta_op_fields), by role: BYTES, ERRNO, PATH,
 * PATH_OUT, FILE, DATASET, SHAPE, COUNTER; the kind of file operation from op->io; the
 * layer from op->layer: FILE (or none) feeds `files`, LOGICAL their `logical` part, DEVICE
 * neither. An op with a DATASET field feeds `datasets`, whatever its layer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "jsonw.h"
#include "stats_gpu.h"
#include "stats_util.h"

/* ------------------------------------------------------------------------------------ */
/* State */

struct op_row {
    const struct ta_op *op;
    const char *name;
    const char *cat;
    /* the op's fields, and which of them stats count (-1: none) */
    const struct ta_field *f;
    int8_t i_bytes, i_err, i_path, i_out, i_file, i_dset, i_shape;
    uint64_t count, total, min, max, bytes, errors;
    unsigned __int128 sumsq; /* exact: 2^40 ns squared times 2^40 events still fits */
    bool has_bytes;
    uint8_t shape;
    struct hist h;
};

struct counter_row {
    const struct ta_op *op;
    const char *name;
    uint64_t count;
    double min, max, last;
};

#define SZ_BUCKETS 65 /* 0, then [2^(k-1), 2^k) for k = 1..64 */

/* The size classes of one direction of a file's transfers. A file is mostly read or
 * written in one or two sizes (a whole small file, then the 0 of its end), so two classes
 * are kept in the row, and all 65 counts in an array of their own once a third class
 * appears: two 65-count arrays in every row were 1,040 of its 1,208 bytes, most of the
 * memory per distinct file (bench/NOTES.md, row 44). */
#define SZ_INLINE 2
struct sz_hist {
    uint64_t c[SZ_INLINE]; /* the count of class b[i] - 1 */
    uint8_t b[SZ_INLINE];  /* class + 1, 0: unused; filled in order, never emptied */
    uint64_t *all;         /* SZ_BUCKETS counts (then c and b are unused), or NULL */
};

/* A library's own reads and writes of a file (LOGICAL layer): only HDF5's files have one,
 * so it is a separate allocation, made at the first such call. */
struct file_logical {
    uint64_t reads, writes, bytes_read, bytes_written, read_ns, write_ns;
};

struct file_row {
    const char *path;
    uint64_t opens, closes, reads, writes, seeks, syncs, meta, maps, errors;
    uint64_t bytes_read, bytes_written, read_ns, write_ns, other_ns;
    uint64_t sync_ns, meta_ns; /* the parts of other_ns spent in syncs and metadata calls */
    struct sz_hist rsz, wsz;
    struct file_logical *lg;
};

/* A library's dataset (HDF5): the events whose op has a DATASET field, keyed by the
 * interned pointers of (FILE, DATASET); the FILE may be absent (NULL: written as null).
 * Selection shapes are interned pointers too: up to SEL_SLOTS distinct ones are counted
 * apart, so that the 8 written are the most frequent of those; shapes past SEL_SLOTS only
 * add to sel_more. */
#define SEL_OUT 8
#define SEL_SLOTS 32
struct ds_way {
    uint64_t min, max;
    struct hist h;
};
struct ds_row {
    const char *file, *dset;
    uint64_t reads, writes, bytes_read, bytes_written, read_ns, write_ns, opens, errors;
    uint64_t count, total, min, max; /* over reads and writes */
    struct hist h;
    struct ds_way rd, wr; /* each way apart: a slow read is not hidden by fast writes */
    struct {
        const char *shape;
        uint64_t count, bytes;
    } sel[SEL_SLOTS];
    uint32_t nsel, last_sel;
    uint64_t sel_more; /* calls whose shape found no slot */
};

/* Time and bytes per layer (enum ta_layer): a library's logical reads and the file reads
 * beneath them are each counted once, at their own layer. */
static const char *const layer_names[] = {NULL, "file", "logical", "device"};
#define NLAYERS 4
struct layer_row {
    uint64_t count, total, bytes_read, bytes_written;
};

/* A call-path node. Children are a singly linked list; a node with many children also
 * gets a hash index over them (`idx`, open addressing on (op, name)). */
struct tnode {
    const struct ta_op *op;
    const char *name;
    uint64_t count, total;
    uint64_t device_ns, device_count; /* late work launched here (a scope's last node) */
    struct gpu_node *gpu;             /* GPU work launched here (stats_gpu.c); NULL none */
    struct tnode *child, *next, *last_hit;
    struct tnode **idx;
    uint32_t nchild, idx_cap;
    /* the spans of this node that had a call stack, by stack id (TRACEAGENT_STACKS); their
     * sites are worked out when written */
    struct node_stack {
        uint32_t stack;
        uint64_t count, total;
    } *stk;
    uint32_t nstk, capstk;
    uint32_t *stk_idx; /* past NODE_STK_LINEAR stacks: 1 + index in stk, by stack id */
    uint32_t stk_idx_cap;
};
#define NODE_STK_LINEAR 8

#define TREE_IDX_MIN 8 /* index a node's children once it has more than this many */
#define MAX_DEPTH 256  /* rec->depth is a uint8_t */

struct thr {
    int32_t tid;
    int32_t maxd; /* highest depth whose pend[] may hold nodes; -1 none */
    uint64_t events;
    char name[64];
    /* sentinel parents of nodes waiting, by depth, 0..pcap-1: grown as deep as this
     * thread nests, so that 100,000 short threads do not cost 2 KiB each */
    struct tnode **pend;
    int32_t pcap;
};

/* The spans of one category that had one call stack (TRACEAGENT_STACKS): summed here by
 * (category, stack id), grouped by call site only when written (`callsites`). */
struct stack_row {
    const char *cat;
    uint32_t stack;
    uint64_t count, total, bytes;
};

#define MAX_CAUSES TA_DROP_CAUSES_MAX
static struct {
    struct pmap ops, counters, files, threads, datasets, stacks;
    struct slab rows; /* files rows and their logical parts */
    struct stack_row *last_stack;
    struct op_row *last_op;
    struct file_row *last_file;
    struct ds_row *last_ds;
    struct thr *last_thr;
    struct tnode root;          /* the global tree's root: children are depth-0 spans */
    struct layer_row layers[NLAYERS];
    struct tnode *free_nodes;   /* recycled nodes (linked by `next`) */
    uint64_t events;
    struct {
        char cause[32];
        uint64_t total;
    } dropped[MAX_CAUSES];
    int ndropped;
    bool oom_warned;
} st;

static void oom(void)
{
    if (!st.oom_warned) {
        st.oom_warned = true;
        ta_warn("stats: out of memory, statistics will be incomplete");
    }
}

/* ------------------------------------------------------------------------------------ */
/* Tree */

static struct tnode *node_new(const struct ta_op *op, const char *name)
{
    struct tnode *n = st.free_nodes;
    if (n)
        st.free_nodes = n->next;
    else if (!(n = malloc(sizeof *n)))
        return NULL;
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = name;
    return n;
}

static void node_release(struct tnode *n) /* n's children must be released already */
{
    free(n->idx);
    n->idx = NULL;
    free(n->stk);
    n->stk = NULL;
    free(n->stk_idx);
    n->stk_idx = NULL;
    if (n->gpu) { /* nodes on GPU paths only: no call for the others */
        free(n->gpu);
        n->gpu = NULL;
    }
    n->next = st.free_nodes;
    st.free_nodes = n;
}

static void idx_insert(struct tnode **idx, uint32_t cap, struct tnode *c)
{
    size_t i = pmap_hash(c->op, c->name) & (cap - 1);
    while (idx[i])
        i = (i + 1) & (cap - 1);
    idx[i] = c;
}

static void idx_build(struct tnode *p)
{
    uint32_t cap = 16;
    while (cap < p->nchild * 2)
        cap *= 2;
    struct tnode **idx = calloc(cap, sizeof *idx);
    if (!idx)
        return; /* lookups fall back to the list */
    for (struct tnode *c = p->child; c; c = c->next)
        idx_insert(idx, cap, c);
    free(p->idx);
    p->idx = idx;
    p->idx_cap = cap;
}

/* The child of p for (op, name), created when missing; NULL when out of memory. */
static struct tnode *child_get(struct tnode *p, const struct ta_op *op, const char *name)
{
    struct tnode *c = p->last_hit;
    if (c && c->op == op && c->name == name)
        return c;
    if (p->idx) {
        for (size_t i = pmap_hash(op, name) & (p->idx_cap - 1);; i = (i + 1) & (p->idx_cap - 1)) {
            c = p->idx[i];
            if (!c)
                break;
            if (c->op == op && c->name == name)
                return p->last_hit = c;
        }
    } else {
        for (c = p->child; c; c = c->next)
            if (c->op == op && c->name == name)
                return p->last_hit = c;
    }
    if (!(c = node_new(op, name))) {
        oom();
        return NULL;
    }
    c->next = p->child;
    p->child = c;
    p->nchild++;
    if (p->idx && p->nchild * 2 <= p->idx_cap)
        idx_insert(p->idx, p->idx_cap, c);
    else if (p->nchild > TREE_IDX_MIN)
        idx_build(p);
    return p->last_hit = c;
}

static inline uint32_t stk_hash(uint32_t stack) { return stack * 2654435761u; }

static void stk_idx_insert(struct tnode *n, uint32_t k)
{
    uint32_t i = stk_hash(n->stk[k].stack) & (n->stk_idx_cap - 1);
    while (n->stk_idx[i])
        i = (i + 1) & (n->stk_idx_cap - 1);
    n->stk_idx[i] = k + 1;
}

/* count spans of total ns with stack id `stack` at node n: a few stacks are searched, more
 * are indexed (a node reached by thousands of distinct stacks costs no scan per span) */
static void node_stack_add(struct tnode *n, uint32_t stack, uint64_t count, uint64_t total)
{
    struct node_stack *e = n->nstk ? &n->stk[n->nstk - 1] : NULL; /* loops repeat */
    if (!e || e->stack != stack) {
        e = NULL;
        if (n->stk_idx) {
            for (uint32_t i = stk_hash(stack) & (n->stk_idx_cap - 1), k;
                 (k = n->stk_idx[i]); i = (i + 1) & (n->stk_idx_cap - 1))
                if (n->stk[k - 1].stack == stack) {
                    e = &n->stk[k - 1];
                    break;
                }
        } else {
            for (uint32_t i = 0; i < n->nstk && !e; i++)
                if (n->stk[i].stack == stack)
                    e = &n->stk[i];
        }
    }
    if (e) {
        e->count += count;
        e->total += total;
        return;
    }
    if (n->nstk == n->capstk) {
        uint32_t cap = n->capstk ? n->capstk * 2 : 4;
        struct node_stack *v = realloc(n->stk, cap * sizeof *v);
        if (!v) {
            oom();
            return;
        }
        n->stk = v;
        n->capstk = cap;
    }
    n->stk[n->nstk++] = (struct node_stack){stack, count, total};
    if (n->nstk <= NODE_STK_LINEAR)
        return;
    if (n->stk_idx && n->nstk * 2 <= n->stk_idx_cap) {
        stk_idx_insert(n, n->nstk - 1);
        return;
    }
    uint32_t cap = 32;
    while (cap < n->nstk * 4)
        cap *= 2;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx) { /* searched one by one, then */
        free(n->stk_idx);
        n->stk_idx = NULL;
        return;
    }
    free(n->stk_idx);
    n->stk_idx = idx;
    n->stk_idx_cap = cap;
    for (uint32_t k = 0; k < n->nstk; k++)
        stk_idx_insert(n, k);
}

static void node_stack_merge(struct tnode *dst, const struct tnode *src)
{
    for (uint32_t i = 0; i < src->nstk; i++)
        node_stack_add(dst, src->stk[i].stack, src->stk[i].count, src->stk[i].total);
}

/* Release n's descendants to the free list. */
static void tree_drop_children(struct tnode *n)
{
    struct tnode *c = n->child, *next;
    for (; c; c = next) {
        next = c->next;
        tree_drop_children(c);
        node_release(c);
    }
    free(n->idx);
    n->child = NULL;
    n->idx = NULL;
    n->nchild = n->idx_cap = 0;
    n->last_hit = NULL;
}

/* Move all of src's children under dst, aggregating by (op, name); src ends childless. */
static void tree_merge(struct tnode *dst, struct tnode *src)
{
    if (!src->child)
        return;
    if (!dst->child) { /* common case: adopt the whole list */
        free(dst->idx);
        dst->child = src->child;
        dst->nchild = src->nchild;
        dst->idx = src->idx;
        dst->idx_cap = src->idx_cap;
        dst->last_hit = src->last_hit;
        src->child = NULL;
        src->nchild = 0;
        src->idx = NULL;
        src->idx_cap = 0;
        src->last_hit = NULL;
        return;
    }
    struct tnode *c = src->child, *next;
    for (; c; c = next) {
        next = c->next;
        struct tnode *m = child_get(dst, c->op, c->name);
        if (m) {
            m->count += c->count;
            m->total += c->total;
            m->device_ns += c->device_ns;
            m->device_count += c->device_count;
            if (c->gpu)
                gpu_node_merge(&m->gpu, c->gpu);
            if (c->nstk)
                node_stack_merge(m, c);
            tree_merge(m, c);
        } else {
            tree_drop_children(c); /* out of memory: lose this subtree */
        }
        node_release(c);
    }
    free(src->idx);
    src->child = NULL;
    src->nchild = 0;
    src->idx = NULL;
    src->idx_cap = 0;
    src->last_hit = NULL;
}


static struct thr *thr_get(int32_t tid)
{
    struct thr *t = st.last_thr;
    if (t && t->tid == tid)
        return t;
    /* tid 0 would be the empty key of nothing: pmap keys are pointers, any value works */
    bool fresh;
    if (!(t = pmap_get_or_new(&st.threads, (void *)(intptr_t)tid, NULL, sizeof *t, &fresh))) {
        oom();
        return NULL;
    }
    if (fresh) {
        t->tid = tid;
        t->maxd = -1;
    }
    return st.last_thr = t;
}

static struct tnode *pend_get(struct thr *t, int d)
{
    if (d >= t->pcap) {
        int cap = t->pcap ? t->pcap : 4;
        while (cap <= d)
            cap *= 2;
        struct tnode **p = realloc(t->pend, (size_t)cap * sizeof *p);
        if (!p) {
            oom();
            return NULL;
        }
        memset(p + t->pcap, 0, (size_t)(cap - t->pcap) * sizeof *p);
        t->pend = p;
        t->pcap = cap;
    }
    if (!t->pend[d] && !(t->pend[d] = node_new(NULL, NULL)))
        oom();
    return t->pend[d];
}

/* the node the span was counted in (NULL: out of memory) */
static struct tnode *tree_span(struct thr *t, const struct ta_op *op, const char *name, int d,
                               uint64_t dur)
{
    /* Nodes deeper than d + 1 lost their parent (a dropped record): they ran inside this
     * span, so they become its children. */
    for (int k = t->maxd; k > d + 1; k--) {
        if (t->pend[k] && t->pend[k]->child) {
            struct tnode *p = pend_get(t, d + 1);
            if (p)
                tree_merge(p, t->pend[k]);
        }
    }
    struct tnode *parent = d == 0 ? &st.root : pend_get(t, d);
    if (!parent)
        return NULL;
    struct tnode *n = child_get(parent, op, name);
    if (!n)
        return NULL;
    n->count++;
    n->total += dur;
    if (d + 1 <= t->maxd && t->pend[d + 1])
        tree_merge(n, t->pend[d + 1]);
    t->maxd = d == 0 || d < t->pcap ? d : t->pcap - 1; /* pend[1..maxd] exist */
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Per-event path */

static const char *cat_name(const struct ta_op *op);

static struct op_row *op_get(const struct ta_op *op, const char *name, const char *cat)
{
    bool fresh;
    struct op_row *r = pmap_get_or_new(&st.ops, op, name, sizeof *r, &fresh);
    if (!r) {
        oom();
        return NULL;
    }
    if (!fresh)
        return r;
    r->op = op;
    r->name = name;
    r->cat = cat ? cat : cat_name(op);
    r->min = UINT64_MAX;
    r->shape = op->shape;
    unsigned nf;
    r->f = ta_op_fields(op, &nf);
    r->i_bytes = r->i_err = r->i_path = r->i_out = r->i_file = r->i_dset = r->i_shape = -1;
    for (unsigned i = nf < 128 ? nf : 128; i-- > 0;) { /* the first of each role */
        switch (r->f[i].role) {
        case TA_ROLE_BYTES: r->i_bytes = (int8_t)i; break;
        case TA_ROLE_ERRNO: r->i_err = (int8_t)i; break;
        case TA_ROLE_PATH: r->i_path = (int8_t)i; break;
        case TA_ROLE_PATH_OUT: r->i_out = (int8_t)i; break;
        case TA_ROLE_FILE: r->i_file = (int8_t)i; break;
        case TA_ROLE_DATASET: r->i_dset = (int8_t)i; break;
        case TA_ROLE_SHAPE: r->i_shape = (int8_t)i; break;
        default: break;
        }
    }
    return r;
}

static struct file_row *file_get(const char *path)
{
    struct file_row *f = st.last_file;
    if (f && f->path == path)
        return f;
    if (!pmap_reserve(&st.files)) {
        oom();
        return NULL;
    }
    struct pslot *s = pmap_slot(&st.files, path, NULL);
    if (!(f = s->v)) {
        if (!(f = slab_zalloc(&st.rows, sizeof *f))) {
            oom();
            return NULL;
        }
        f->path = path;
        s->a = path;
        s->b = NULL;
        s->v = f;
        st.files.n++;
    }
    return st.last_file = f;
}

static inline unsigned size_bucket(uint64_t n)
{
    return n ? 64u - (unsigned)__builtin_clzll(n) : 0; /* 1 -> 1, 2..3 -> 2, 4..7 -> 3 */
}

static void sz_add(struct sz_hist *h, unsigned b)
{
    if (h->all) {
        h->all[b]++;
        return;
    }
    for (unsigned i = 0; i < SZ_INLINE; i++) {
        if (h->b[i] == b + 1) {
            h->c[i]++;
            return;
        }
        if (!h->b[i]) {
            h->b[i] = (uint8_t)(b + 1);
            h->c[i] = 1;
            return;
        }
    }
    uint64_t *all = calloc(SZ_BUCKETS, sizeof *all);
    if (!all) {
        oom();
        return;
    }
    for (unsigned i = 0; i < SZ_INLINE; i++)
        all[h->b[i] - 1] = h->c[i];
    all[b]++;
    h->all = all;
}

/* A read or a write of file f: count, time, bytes and their size class */
static void file_read(struct file_row *f, uint64_t ns, int has_bytes, uint64_t bytes)
{
    f->reads++;
    f->read_ns += ns;
    if (has_bytes) {
        f->bytes_read += bytes;
        sz_add(&f->rsz, size_bucket(bytes));
    }
}

static void file_write(struct file_row *f, uint64_t ns, int has_bytes, uint64_t bytes)
{
    f->writes++;
    f->write_ns += ns;
    if (has_bytes) {
        f->bytes_written += bytes;
        sz_add(&f->wsz, size_bucket(bytes));
    }
}

/* A string field's text by index (-1: none), or NULL when absent or empty. */
static const char *role_str(const struct ta_event *ev, const struct op_row *r, int i)
{
    if (i < 0)
        return NULL;
    const struct ta_field *f = &r->f[i];
    /* the drainer resolved the record's first string already: the path of a file op */
    const char *s = f->offset == TA_OFF_STR && f->role == TA_ROLE_PATH && !ev->op->name_from_str
                        ? ev->path
                        : ta_field_str(ev, f);
    return s && *s ? s : NULL;
}

/* An event of the file layer: its PATH's row, and for a copy its PATH_OUT's */
static void file_event(const struct ta_event *ev, const struct op_row *r, int has_bytes,
                       uint64_t bytes, int err)
{
    /* a copy from a source without a path (a memfd, a socket, an fd the agent did not see
     * opened) still writes its destination */
    const char *path = role_str(ev, r, r->i_path);
    const char *out = ev->op->io == TA_IO_COPY ? role_str(ev, r, r->i_out) : NULL;
    if (!path && !out)
        return;
    struct file_row *f = path ? file_get(path) : NULL;
    if (f && err)
        f->errors++;
    switch (ev->op->io) {
    case TA_IO_COPY: /* a read of the source (here), a write of the destination */
        if (f)
            file_read(f, ev->dur_ns, has_bytes, bytes);
        if (out && (f = file_get(out)))
            file_write(f, ev->dur_ns, has_bytes, bytes);
        return;
    default: break;
    }
    if (!f)
        return;
    switch (ev->op->io) {
    case TA_IO_READ: file_read(f, ev->dur_ns, has_bytes, bytes); return;
    case TA_IO_WRITE: file_write(f, ev->dur_ns, has_bytes, bytes); return;
    case TA_IO_OPEN: f->opens++; break;
    case TA_IO_CLOSE: f->closes++; break;
    case TA_IO_SEEK: f->seeks++; break;
    case TA_IO_SYNC: f->syncs++; f->sync_ns += ev->dur_ns; break;
    case TA_IO_META: f->meta++; f->meta_ns += ev->dur_ns; break;
    case TA_IO_MAP: f->maps++; break;
    default: break;
    }
    f->other_ns += ev->dur_ns;
}

/* A library's read or write (LOGICAL layer): kept apart in the row of its FILE (else its
 * PATH), never in the file's own bytes, which the calls beneath it count. */
static void logical_event(const struct ta_event *ev, const struct op_row *r, int has_bytes,
                          uint64_t bytes)
{
    int io = ev->op->io;
    if (io != TA_IO_READ && io != TA_IO_WRITE)
        return;
    const char *key = role_str(ev, r, r->i_file);
    if (!key && !(key = role_str(ev, r, r->i_path)))
        return;
    struct file_row *f = file_get(key);
    if (!f)
        return;
    if (!f->lg && !(f->lg = slab_zalloc(&st.rows, sizeof *f->lg))) {
        oom();
        return;
    }
    struct file_logical *lg = f->lg;
    if (io == TA_IO_READ) {
        lg->reads++;
        lg->read_ns += ev->dur_ns;
        lg->bytes_read += has_bytes ? bytes : 0;
    } else {
        lg->writes++;
        lg->write_ns += ev->dur_ns;
        lg->bytes_written += has_bytes ? bytes : 0;
    }
}

static struct ds_row *ds_get(const char *file, const char *dset)
{
    struct ds_row *d = st.last_ds;
    if (d && d->dset == dset && d->file == file)
        return d;
    bool fresh;
    if (!(d = pmap_get_or_new(&st.datasets, file, dset, sizeof *d, &fresh))) {
        oom();
        return NULL;
    }
    if (fresh) {
        d->file = file;
        d->dset = dset;
        d->min = d->rd.min = d->wr.min = UINT64_MAX;
    }
    return st.last_ds = d;
}

/* A selection's shape seen by a read or write of d: its slot, found by pointer. */
static void ds_shape(struct ds_row *d, const char *shape, uint64_t bytes)
{
    uint32_t i = d->last_sel;
    if (i >= d->nsel || d->sel[i].shape != shape) {
        for (i = 0; i < d->nsel && d->sel[i].shape != shape; i++)
            ;
        if (i == d->nsel) {
            if (i == SEL_SLOTS) {
                d->sel_more++;
                return;
            }
            d->sel[i].shape = shape;
            d->nsel++;
        }
        d->last_sel = i;
    }
    d->sel[i].count++;
    d->sel[i].bytes += bytes;
}

/* An event naming a dataset (its DATASET field present): the row of (FILE, DATASET) */
static void dataset_event(const struct ta_event *ev, const struct op_row *r, int has_bytes,
                          uint64_t bytes, int err)
{
    const char *dset = role_str(ev, r, r->i_dset);
    if (!dset)
        return;
    struct ds_row *d = ds_get(role_str(ev, r, r->i_file), dset);
    if (!d)
        return;
    uint64_t ns = ev->dur_ns;
    d->errors += (uint64_t)err;
    struct ds_way *way;
    switch (ev->op->io) {
    case TA_IO_READ:
        d->reads++;
        d->read_ns += ns;
        d->bytes_read += has_bytes ? bytes : 0;
        way = &d->rd;
        break;
    case TA_IO_WRITE:
        d->writes++;
        d->write_ns += ns;
        d->bytes_written += has_bytes ? bytes : 0;
        way = &d->wr;
        break;
    case TA_IO_OPEN: d->opens++; return;
    default: return;
    }
    if (ns < way->min)
        way->min = ns;
    if (ns > way->max)
        way->max = ns;
    hist_add(&way->h, ns);
    d->count++;
    d->total += ns;
    if (ns < d->min)
        d->min = ns;
    if (ns > d->max)
        d->max = ns;
    hist_add(&d->h, ns);
    const char *shape = role_str(ev, r, r->i_shape);
    if (shape)
        ds_shape(d, shape, has_bytes ? bytes : 0);
}

/* Late work (a kernel) for the call path that launched it: the scope's path, root first,
 * down the global tree, whose nodes the spans of that path create or merge into by (op,
 * name) when they complete, before or after this. The node is found once per scope id
 * (stats_gpu.c keeps it): nodes of the global tree are never released. */
static void scope_event(uint32_t scope, uint64_t dur, const struct gpu_work *w)
{
    static struct {
        const struct ta_op *op;
        const char *name;
    } path[MAX_DEPTH];
    struct gpu_scope *gs = gpu_scope(scope);
    struct tnode *node = gs ? gs->leaf : NULL;
    if (!node) {
        int n = 0;
        for (uint32_t id = scope; id && n < MAX_DEPTH;) {
            const struct ta_op *op = NULL;
            const char *name = NULL;
            uint32_t parent = ta_scope_parent(id, &op, &name);
            if (!op)
                break; /* not a scope the agent knows */
            path[n].op = op;
            path[n].name = name ? name : op->name;
            n++;
            id = parent;
        }
        if (!n)
            return;
        node = &st.root;
        while (node && n-- > 0)
            node = child_get(node, path[n].op, path[n].name);
        if (gs)
            gs->leaf = node;
    }
    if (node) {
        node->device_ns += dur;
        node->device_count++;
        if (w->kind)
            gpu_node_work(&node->gpu, w, dur);
    }
}

static void counter_event(const struct ta_event *ev, double v)
{
    bool fresh;
    struct counter_row *c = pmap_get_or_new(&st.counters, ev->op, ev->name, sizeof *c, &fresh);
    if (!c) {
        oom();
        return;
    }
    if (fresh) {
        c->op = ev->op;
        c->name = ev->name;
        c->min = c->max = v;
    }
    c->count++;
    if (v < c->min)
        c->min = v;
    if (v > c->max)
        c->max = v;
    c->last = v;
}

static double counter_value(const struct ta_event *ev)
{
    unsigned nf;
    const struct ta_field *f = ta_op_fields(ev->op, &nf);
    double v;
    for (unsigned i = 0; i < nf; i++)
        if (f[i].role == TA_ROLE_COUNTER && ta_field_f64(ev, &f[i], &v))
            return v;
    return 0;
}

/* A span or an instant with a call stack: its (category, stack)'s row, and its tree
 * node's (n; NULL for an instant) */
__attribute__((noinline)) static void stack_event(const char *cat, uint32_t stack,
                                                  uint64_t dur, uint64_t bytes,
                                                  struct tnode *n)
{
    if (n)
        node_stack_add(n, stack, 1, dur);
    struct stack_row *k = st.last_stack;
    const void *key = (const void *)(uintptr_t)stack;
    if (!k || k->stack != stack || k->cat != cat) {
        bool fresh;
        if (!(k = pmap_get_or_new(&st.stacks, cat, key, sizeof *k, &fresh))) {
            oom();
            return;
        }
        if (fresh) {
            k->cat = cat;
            k->stack = stack;
        }
        st.last_stack = k;
    }
    k->count++;
    k->total += dur;
    k->bytes += bytes;
}

static void stats_event(const struct ta_event *ev)
{
    const struct ta_op *op = ev->op;
    const char *name = ev->name ? ev->name : op->name;
    st.events++;
    /* an event on a named track (a GPU stream) belongs to no thread of the program */
    struct thr *t = ev->track ? NULL : thr_get(ev->tid);
    if (t)
        t->events++;

    if (op->shape == TA_SHAPE_COUNTER) {
        counter_event(ev, counter_value(ev));
        return;
    }
    struct op_row *r = st.last_op;
    if (!r || r->op != op || r->name != name) {
        if (!(r = op_get(op, name, ev->cat)))
            return;
        st.last_op = r;
    }
    r->count++;
    if (op->shape != TA_SHAPE_SPAN) {
        /* an instant with a stack counts at its site (its bytes, no time) */
        if (ta_unlikely(ev->stack)) {
            int64_t b = 0;
            uint64_t bytes = r->i_bytes >= 0 && ta_field_i64(ev, &r->f[r->i_bytes], &b) && b > 0
                                 ? (uint64_t)b : 0;
            stack_event(r->cat, ev->stack, 0, bytes, NULL);
        }
        return;
    }

    uint64_t d = ev->dur_ns;
    r->total += d;
    r->sumsq += (unsigned __int128)d * d;
    if (d < r->min)
        r->min = d;
    if (d > r->max)
        r->max = d;
    hist_add(&r->h, d);
    int64_t b = 0;
    int has_bytes = 0, err = 0;
    if (r->i_bytes >= 0 && ta_field_i64(ev, &r->f[r->i_bytes], &b)) {
        r->has_bytes = true;
        if (b > 0)
            r->bytes += (uint64_t)b;
        has_bytes = b >= 0;
    }
    if (r->i_err >= 0 && ta_field_at(ev, &r->f[r->i_err])) {
        r->errors++;
        err = 1;
    }
    uint64_t bytes = has_bytes ? (uint64_t)b : 0;
    unsigned layer = op->layer < NLAYERS ? op->layer : TA_LAYER_NONE;
    if (layer != TA_LAYER_NONE) {
        struct layer_row *l = &st.layers[layer];
        l->count++;
        l->total += d;
        if (op->io == TA_IO_READ || op->io == TA_IO_COPY)
            l->bytes_read += bytes;
        if (op->io == TA_IO_WRITE || op->io == TA_IO_COPY)
            l->bytes_written += bytes;
    }
    /* an op that names no layer counts as the file layer if it names a file */
    if (layer == TA_LAYER_FILE || layer == TA_LAYER_NONE)
        file_event(ev, r, has_bytes, bytes, err);
    else if (layer == TA_LAYER_LOGICAL)
        logical_event(ev, r, has_bytes, bytes);
    /* device work adds nothing to the files */
    if (r->i_dset >= 0)
        dataset_event(ev, r, has_bytes, bytes, err);
    /* GPU work, by its fields (stats_gpu.c); markers: the phases' ranges */
    struct gpu_work gw = {0};
    if (layer == TA_LAYER_DEVICE)
        gpu_event(ev, &gw);
    else if (t && op->cat == TA_CAT_MARKER)
        gpu_marker(ev);
    struct tnode *n = NULL;
    if (t)
        n = tree_span(t, op, name, ev->rec ? ev->rec->depth : 0, d);
    else if (ev->scope)
        scope_event(ev->scope, d, &gw);
    if (ta_unlikely(ev->stack)) /* the one test an event without a stack pays */
        stack_event(r->cat, ev->stack, d, bytes, n);
}

static void stats_thread_name(int tid, const char *name)
{
    struct thr *t = thr_get(tid);
    if (t && name) {
        strncpy(t->name, name, sizeof t->name - 1);
        t->name[sizeof t->name - 1] = 0;
    }
}

static void stats_dropped(const char *cause, uint64_t total)
{
    if (!cause)
        cause = "unknown";
    gpu_dropped(cause, total);
    for (int i = 0; i < st.ndropped; i++) {
        if (strncmp(st.dropped[i].cause, cause, sizeof st.dropped[i].cause - 1) == 0) {
            st.dropped[i].total = total;
            return;
        }
    }
    if (st.ndropped < MAX_CAUSES) {
        strncpy(st.dropped[st.ndropped].cause, cause, sizeof st.dropped[0].cause - 1);
        st.dropped[st.ndropped].total = total;
        st.ndropped++;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Writing */

static struct ta_buf *ob;

/* Flush between items: the file is written whole at the end, so lines need not be whole;
 * this only keeps any single item from overflowing the buffer. */
static void out_maybe_flush(void)
{
    if (ob->len > ob->cap / 2)
        ta_buf_flush(ob);
}

static void out_key(const char *k)
{
    ta_buf_jstr(ob, k);
    ta_buf_put(ob, ": ", 2);
}

static void out_kv_u64(const char *k, uint64_t v, bool comma)
{
    out_key(k);
    ta_buf_u64(ob, v);
    if (comma)
        ta_buf_put(ob, ", ", 2);
}

static void out_kv_str(const char *k, const char *v, bool comma)
{
    out_key(k);
    ta_buf_jstr(ob, v);
    if (comma)
        ta_buf_put(ob, ", ", 2);
}

static void out_indent(int n)
{
    static const char sp[] = "                                                                ";
    if (n > 64)
        n = 64;
    ta_buf_put(ob, sp, (size_t)n);
}

/* A double as JSON with full precision, independent of the program's locale. */
static void out_double(double v)
{
    if (v == (double)(int64_t)v && v > -9e15 && v < 9e15) {
        ta_buf_i64(ob, (int64_t)v);
        return;
    }
    if (v != v || v - v != 0) { /* NaN, inf */
        ta_buf_put(ob, "null", 4);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    if (n <= 0 || n >= (int)sizeof tmp) {
        ta_buf_put(ob, "null", 4);
        return;
    }
    for (int i = 0; i < n; i++) /* a locale's decimal comma */
        if (!(tmp[i] >= '0' && tmp[i] <= '9') && tmp[i] != '-' && tmp[i] != '+' &&
            tmp[i] != 'e' && tmp[i] != 'E')
            tmp[i] = '.';
    ta_buf_put(ob, tmp, (size_t)n);
}

/* Rounded to 3 decimals (ns), as a JSON number. */
static void out_ns3(long double v)
{
    if (v < 0)
        v = 0;
    uint64_t m = (uint64_t)(v * 1000 + 0.5L);
    ta_buf_u64(ob, m / 1000);
    if (m % 1000) {
        char d[4] = {'.', (char)('0' + m % 1000 / 100), (char)('0' + m % 100 / 10),
                     (char)('0' + m % 10)};
        int n = 4;
        while (d[n - 1] == '0')
            n--;
        ta_buf_put(ob, d, (size_t)n);
    }
}

/* Categories added by plug-ins have their names there too */
static const char *cat_name(const struct ta_op *op)
{
    return op && op->cat < TA_CAT_MAX && ta_cat_names[op->cat] ? ta_cat_names[op->cat] : "";
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static void out_iso8601(uint64_t real_ns)
{
    uint64_t secs = real_ns / 1000000000ull;
    int64_t days = (int64_t)(secs / 86400);
    unsigned sod = (unsigned)(secs % 86400);
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    char tmp[48];
    snprintf(tmp, sizeof tmp, "\"%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ\"", (long long)y, mo, d,
             sod / 3600, sod / 60 % 60, sod % 60, (unsigned)(real_ns % 1000000000ull / 1000));
    ta_buf_cstr(ob, tmp);
}

/* The process's rank in an MPI or Slurm job (-1: none), from the launchers' usual
 * variables, read once at start (stats_start): `traceagent merge` names processes by it. */
static long st_rank = -1, st_ranks = -1;

static long env_num(const char *var)
{
    const char *v = getenv(var);
    char *end;
    if (!v || !*v)
        return -1;
    long n = strtol(v, &end, 10);
    return *end || n < 0 ? -1 : n;
}

static void read_rank(void)
{
    static const char *const vars[][2] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, {"PMI_RANK", "PMI_SIZE"},
        {"PMIX_RANK", "PMI_SIZE"}, {"SLURM_PROCID", "SLURM_NTASKS"},
        {"MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"}};
    st_rank = st_ranks = -1;
    for (size_t i = 0; i < sizeof vars / sizeof *vars && st_rank < 0; i++)
        if ((st_rank = env_num(vars[i][0])) >= 0)
            st_ranks = env_num(vars[i][1]);
}

static void write_process(uint64_t now_mono)
{
    ta_buf_cstr(ob, "  \"process\": {");
    out_kv_u64("pid", (uint64_t)ta_proc.pid, true);
    out_kv_u64("ppid", (uint64_t)ta_proc.ppid, true);
    out_kv_str("exe", ta_proc.exe, true);
    out_key("argv");
    ta_buf_char(ob, '[');
    for (int i = 0; ta_proc.argv && i < ta_proc.argc && ta_proc.argv[i]; i++) {
        if (i)
            ta_buf_put(ob, ", ", 2);
        ta_buf_jstr(ob, ta_proc.argv[i]);
        out_maybe_flush();
    }
    ta_buf_put(ob, "], ", 3);
    out_kv_str("cmdline", ta_proc.cmdline, true);
    out_kv_str("host", ta_proc.host, false);
    if (st_rank >= 0) {
        ta_buf_put(ob, ", ", 2);
        out_kv_u64("rank", (uint64_t)st_rank, st_ranks > 0);
        if (st_ranks > 0)
            out_kv_u64("ranks", (uint64_t)st_ranks, false);
    }
    ta_buf_cstr(ob, ",\n    ");
    out_kv_u64("start_ns", ta_proc.start_real_ns, true);
    out_key("start");
    out_iso8601(ta_proc.start_real_ns);
    ta_buf_put(ob, ", ", 2);
    out_kv_u64("duration_ns",
               now_mono > ta_proc.start_mono_ns ? now_mono - ta_proc.start_mono_ns : 0, true);
    ta_buf_cstr(ob, "\"clock\": {");
    out_kv_u64("monotonic_ns", ta_proc.start_mono_ns, true);
    out_kv_u64("realtime_ns", ta_proc.start_real_ns, false);
    ta_buf_cstr(ob, "}},\n");
}

static int cmp_tid(const void *a, const void *b)
{
    const struct thr *x = *(struct thr *const *)a, *y = *(struct thr *const *)b;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

/* The values of a map in an array (caller frees); NULL with *n = 0 when empty. */
static void **map_values(const struct pmap *m, size_t *n)
{
    *n = 0;
    if (!m->n)
        return NULL;
    void **v = st_zalloc(m->n * sizeof *v); /* populated: 20,000 files, 40 faults (row 52) */
    if (!v) {
        oom();
        return NULL;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->s[i].v)
            v[(*n)++] = m->s[i].v;
    return v;
}

static void values_free(void *v, size_t n) { st_free(v, n * sizeof(void *)); }

static void write_threads(void)
{
    size_t n;
    struct thr **v = (struct thr **)map_values(&st.threads, &n);
    if (v)
        qsort(v, n, sizeof *v, cmp_tid);
    ta_buf_cstr(ob, "  \"threads\": [");
    for (size_t i = 0; i < n; i++) {
        ta_buf_cstr(ob, i ? ",\n    {" : "\n    {");
        out_kv_u64("tid", (uint64_t)(uint32_t)v[i]->tid, true);
        out_kv_str("name", v[i]->name, true);
        out_kv_u64("events", v[i]->events, false);
        ta_buf_char(ob, '}');
        out_maybe_flush();
    }
    ta_buf_cstr(ob, n ? "\n  ],\n" : "],\n");
    values_free(v, n);
}

/* The order of rows and tree nodes: most time first, then most calls, then by name. */
#define RANK_CMP(x, y)                                                                    \
    do {                                                                                  \
        if ((x)->total != (y)->total)                                                     \
            return (x)->total < (y)->total ? 1 : -1;                                      \
        if ((x)->count != (y)->count)                                                     \
            return (x)->count < (y)->count ? 1 : -1;                                      \
        int c_ = strcmp(cat_name((x)->op), cat_name((y)->op));                            \
        return c_ ? c_ : strcmp((x)->name, (y)->name);                                    \
    } while (0)

static int cmp_op(const void *a, const void *b)
{
    RANK_CMP(*(struct op_row *const *)a, *(struct op_row *const *)b);
}

/* `, "hist": [[lower_ns, count], ...]`: the row's non-empty buckets in ascending order, so
 * that `traceagent diff` can test two distributions and `run --repeat` pool percentiles. */
static void write_hist(const struct hist *h)
{
    bool first = true;
    ta_buf_cstr(ob, ", \"hist\": [");
    for (unsigned b = 0; b < H_BLOCKS; b++) {
        const uint64_t *p = h->blk[b];
        if (!p)
            continue;
        for (unsigned i = 0; i < H_SUB; i++) {
            if (!p[i])
                continue;
            uint64_t lo, w;
            hist_bucket(b, i, &lo, &w);
            ta_buf_cstr(ob, first ? "[" : ", [");
            ta_buf_u64(ob, lo);
            ta_buf_put(ob, ", ", 2);
            ta_buf_u64(ob, p[i]);
            ta_buf_char(ob, ']');
            first = false;
        }
        out_maybe_flush();
    }
    ta_buf_char(ob, ']');
}

static void write_ops(void)
{
    size_t n;
    struct op_row **v = (struct op_row **)map_values(&st.ops, &n);
    if (v)
        qsort(v, n, sizeof *v, cmp_op);
    ta_buf_cstr(ob, "  \"ops\": [");
    for (size_t i = 0; i < n; i++) {
        struct op_row *r = v[i];
        ta_buf_cstr(ob, i ? ",\n    {" : "\n    {");
        out_kv_str("cat", r->cat, true);
        out_kv_str("name", r->name, true);
        if (r->shape != TA_SHAPE_SPAN) {
            out_kv_str("kind", "instant", true);
            out_kv_u64("count", r->count, false);
        } else {
            out_kv_str("kind", "span", true);
            out_kv_u64("count", r->count, true);
            out_kv_u64("total_ns", r->total, true);
            long double mean = (long double)r->total / r->count;
            long double var = ((long double)r->sumsq - (long double)r->total * mean) / r->count;
            long double sd = var > 0 ? __builtin_sqrt((double)var) : 0; /* an instruction: no libm */
            out_key("mean_ns");
            out_ns3(mean);
            ta_buf_put(ob, ", ", 2);
            out_kv_u64("median_ns", hist_pct(&r->h, r->count, 50, r->min, r->max), true);
            out_kv_u64("min_ns", r->min, true);
            out_kv_u64("max_ns", r->max, true);
            out_key("stddev_ns");
            out_ns3(sd);
            ta_buf_put(ob, ", ", 2);
            out_kv_u64("p95_ns", hist_pct(&r->h, r->count, 95, r->min, r->max), true);
            out_kv_u64("p99_ns", hist_pct(&r->h, r->count, 99, r->min, r->max), true);
            out_kv_u64("errors", r->errors, r->has_bytes);
            if (r->has_bytes)
                out_kv_u64("bytes", r->bytes, false);
            write_hist(&r->h);
        }
        ta_buf_char(ob, '}');
        out_maybe_flush();
    }
    ta_buf_cstr(ob, n ? "\n  ],\n" : "],\n");
    values_free(v, n);
}

static int cmp_counter(const void *a, const void *b)
{
    const struct counter_row *x = *(struct counter_row *const *)a;
    const struct counter_row *y = *(struct counter_row *const *)b;
    int c = strcmp(cat_name(x->op), cat_name(y->op));
    return c ? c : strcmp(x->name, y->name);
}

static void write_counters(void)
{
    size_t n;
    struct counter_row **v = (struct counter_row **)map_values(&st.counters, &n);
    if (v)
        qsort(v, n, sizeof *v, cmp_counter);
    ta_buf_cstr(ob, "  \"counters\": [");
    for (size_t i = 0; i < n; i++) {
        struct counter_row *c = v[i];
        ta_buf_cstr(ob, i ? ",\n    {" : "\n    {");
        out_kv_str("cat", cat_name(c->op), true);
        out_kv_str("name", c->name, true);
        out_kv_u64("count", c->count, true);
        out_key("min");
        out_double(c->min);
        ta_buf_put(ob, ", ", 2);
        out_key("max");
        out_double(c->max);
        ta_buf_put(ob, ", ", 2);
        out_key("last");
        out_double(c->last);
        ta_buf_char(ob, '}');
        out_maybe_flush();
    }
    ta_buf_cstr(ob, n ? "\n  ],\n" : "],\n");
    values_free(v, n);
}

static uint64_t file_time(const struct file_row *f)
{
    return f->read_ns + f->write_ns + f->other_ns;
}

/* The files are sorted by (time, row) pairs: a comparison that read the rows themselves
 * missed the cache twice for each of its n log n calls once the rows outgrew it. */
struct file_key {
    uint64_t t;
    const struct file_row *f;
};

/* x before y: more time first, then by path */
static inline bool file_before(const struct file_key *x, const struct file_key *y)
{
    if (x->t != y->t)
        return x->t > y->t;
    return strcmp(x->f->path, y->f->path) < 0;
}

/* Merge sort of k[0..n) by file_before, stable, with tmp of n / 2 entries (the left half
 * of each merge is moved there and merged back): for the runs of equal times that
 * sort_files leaves, by path. */
static void sort_by_path(struct file_key *k, size_t n, struct file_key *tmp)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_by_path(k, h, tmp);
    sort_by_path(k + h, n - h, tmp);
    if (!file_before(&k[h], &k[h - 1]))
        return; /* in order already */
    memcpy(tmp, k, h * sizeof *k);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        k[o++] = file_before(&k[j], &tmp[i]) ? k[j++] : tmp[i++];
    while (i < h)
        k[o++] = tmp[i++];
}

/* k[0..n) in file_before's order, with tmp of n entries: a radix sort of the times, 11 bits
 * a pass (3 passes up to 2^33 ns, 8.6 s a file), then the runs of equal times by path.
 * A merge sort's n log n comparisons of times in no order, each a branch the CPU cannot
 * guess, took 3.6-10 ms of the exit at 20,000 files (bench/NOTES.md, row 59). One thread
 * writes stats.json: the counts are static, out of the stack. */
#define RADIX_BITS 11
static void sort_files(struct file_key *k, size_t n, struct file_key *tmp)
{
    static size_t at[1u << RADIX_BITS];
    const uint64_t mask = (1u << RADIX_BITS) - 1;
    if (n < 2)
        return;
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = k[i].t > max ? k[i].t : max;
    /* ascending in max - t: the most time first, in at most 6 passes */
    struct file_key *src = k, *dst = tmp;
    for (unsigned sh = 0; sh < 64 && max >> sh; sh += RADIX_BITS) {
        memset(at, 0, sizeof at);
        for (size_t i = 0; i < n; i++)
            at[((max - src[i].t) >> sh) & mask]++;
        if (at[((max - src[0].t) >> sh) & mask] == n)
            continue; /* one digit for all: the order stands */
        for (size_t d = 0, sum = 0; d <= mask; d++) {
            size_t c = at[d];
            at[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[at[((max - src[i].t) >> sh) & mask]++] = src[i];
        struct file_key *x = src;
        src = dst;
        dst = x;
    }
    if (src != k)
        memcpy(k, src, n * sizeof *k);
    /* Times repeat (20,000 files of ~10 us each: 19,400 in 1,300 runs of equal times), and
     * the comparisons by path miss the cache on each row and each path: asked for first,
     * a run's rows, then their paths */
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && k[j].t == k[i].t; j++)
            __builtin_prefetch(k[j].f);
        if (j - i < 2)
            continue;
        __builtin_prefetch(k[i].f);
        for (size_t m = i; m < j; m++)
            __builtin_prefetch(k[m].f->path);
        sort_by_path(k + i, j - i, tmp);
    }
}

/* "key": as out_key writes it, for a literal key that needs no escaping: the files rows
 * are the bulk of a stats.json that names many files, and out_key escaped each key anew
 * (3,000 of the 7,600 instructions a row cost, bench/NOTES.md row 45) */
#define FILE_KEY(k) ta_buf_lit(ob, "\"" k "\": ")
#define FILE_KV(k, v)                                                                     \
    do {                                                                                  \
        FILE_KEY(k);                                                                      \
        file_u64(v);                                                                      \
        ta_buf_lit(ob, ", ");                                                             \
    } while (0)

/* A count of a files row: most are 0 or a few (seeks, syncs, maps, errors), one digit */
static inline void file_u64(uint64_t v)
{
    if (v < 10)
        ta_buf_char(ob, (char)('0' + v));
    else
        ta_buf_u64(ob, v);
}

static void write_size(bool first, unsigned b, uint64_t c)
{
    if (!first)
        ta_buf_lit(ob, ", ");
    ta_buf_char(ob, '[');
    file_u64(b ? 1ull << (b - 1) : 0);
    ta_buf_lit(ob, ", ");
    file_u64(c);
    ta_buf_char(ob, ']');
}

/* [[lower bound, count], ...] of the classes used, in ascending order */
static void write_sizes(const struct sz_hist *h)
{
    ta_buf_char(ob, '[');
    if (h->all) {
        bool first = true;
        for (unsigned b = 0; b < SZ_BUCKETS; b++)
            if (h->all[b]) {
                write_size(first, b, h->all[b]);
                first = false;
            }
    } else if (h->b[0]) { /* the classes in the row, in the order they came */
        unsigned i0 = h->b[1] && h->b[1] < h->b[0];
        write_size(true, h->b[i0] - 1u, h->c[i0]);
        if (h->b[1])
            write_size(false, h->b[!i0] - 1u, h->c[!i0]);
    }
    ta_buf_char(ob, ']');
}
_Static_assert(SZ_INLINE == 2, "write_sizes orders two inline classes");

/* A row's counts at a cursor: keys as literals of known length, numbers unchecked (the
 * room for them made first). The checked way (a room test per piece, ta_buf_u64 per number)
 * was ~60% of the ~2,000 instructions a row; at 20,000 files the rows take ~15 ms of the
 * program's exit (bench/NOTES.md, row 53). */
#define ROW_KV(p, k, v)                                                                    \
    do {                                                                                   \
        memcpy(p, "\"" k "\": ", sizeof(k) + 3);                                            \
        p = ta_fmt_u64(p + sizeof(k) + 3, v);                                              \
        memcpy(p, ", ", 2);                                                                \
        p += 2;                                                                            \
    } while (0)
#define ROW_ROOM 1024 /* 16 keys of at most 13 bytes + 4, numbers of at most 20 bytes + 2 */

static char *file_counts(const struct file_row *f)
{
    /* Rows end with out_maybe_flush, so a row starts with half the buffer free at least:
     * this flush does not happen in practice, and would do no harm (stats.json is written
     * whole or not at all, so a flush need not fall at a line's end). */
    if (ob->cap - ob->len < ROW_ROOM)
        ta_buf_flush(ob);
    char *p = ob->p + ob->len;
    ROW_KV(p, "opens", f->opens);
    ROW_KV(p, "closes", f->closes);
    ROW_KV(p, "reads", f->reads);
    ROW_KV(p, "writes", f->writes);
    ROW_KV(p, "seeks", f->seeks);
    ROW_KV(p, "syncs", f->syncs);
    ROW_KV(p, "meta", f->meta);
    ROW_KV(p, "maps", f->maps);
    ROW_KV(p, "errors", f->errors);
    ROW_KV(p, "bytes_read", f->bytes_read);
    ROW_KV(p, "bytes_written", f->bytes_written);
    ROW_KV(p, "read_ns", f->read_ns);
    ROW_KV(p, "write_ns", f->write_ns);
    ROW_KV(p, "other_ns", f->other_ns);
    if (f->sync_ns) /* new keys only when they have content (the report's sync column) */
        ROW_KV(p, "sync_ns", f->sync_ns);
    if (f->meta_ns)
        ROW_KV(p, "meta_ns", f->meta_ns);
    return p;
}

#define PF_AHEAD 8 /* rows asked for ahead of the one written */
static void write_file_row(const struct file_row *f, bool first)
{
    ta_buf_cstr(ob, first ? "\n    {" : ",\n    {");
    FILE_KEY("path");
    ta_buf_jstr(ob, f->path);
    ta_buf_lit(ob, ", ");
    char *q = file_counts(f);
    ob->len = (size_t)(q - ob->p);
    FILE_KEY("read_sizes");
    write_sizes(&f->rsz);
    ta_buf_lit(ob, ", ");
    FILE_KEY("write_sizes");
    write_sizes(&f->wsz);
    const struct file_logical *lg = f->lg;
    if (lg && (lg->reads || lg->writes)) {
        ta_buf_lit(ob, ", \"logical\": {");
        FILE_KV("reads", lg->reads);
        FILE_KV("writes", lg->writes);
        FILE_KV("bytes_read", lg->bytes_read);
        FILE_KV("bytes_written", lg->bytes_written);
        FILE_KV("read_ns", lg->read_ns);
        FILE_KEY("write_ns");
        file_u64(lg->write_ns);
        ta_buf_char(ob, '}');
    }
    ta_buf_char(ob, '}');
    out_maybe_flush();
}

/* The rows by time, from (time, row) keys taken straight from the map's slots: with the
 * sort's tmp, 32 bytes a file at the exit's peak (was 40: the rows' pointers apart; 24 with
 * a merge sort's tmp of n / 2 keys, but that sort took the most of the exit: row 59). */
static void write_files(void)
{
    const struct pmap *m = &st.files;
    size_t n = m->n, nk = 2 * n;
    ta_buf_cstr(ob, "  \"files\": [");
    /* populated at once: 20,000 files make 640 KiB of keys (row 52) */
    struct file_key *k = n ? st_zalloc(nk * sizeof *k) : NULL;
    if (!k) {
        if (n) { /* out of memory: unsorted rather than none */
            oom();
            for (size_t i = 0, j = 0; i < m->cap; i++)
                if (m->s[i].v)
                    write_file_row(m->s[i].v, j++ == 0);
        }
        ta_buf_cstr(ob, n ? "\n  ],\n" : "],\n");
        return;
    }
    size_t j = 0;
    for (size_t i = 0; i < m->cap && j < n; i++)
        if (m->s[i].v)
            k[j++].f = m->s[i].v;
    n = j;
    for (size_t i = 0; i < n; i++) {
        if (i + PF_AHEAD < n) /* the map's order: rows in no order in memory */
            __builtin_prefetch((const char *)k[i + PF_AHEAD].f + offsetof(struct file_row, read_ns));
        k[i].t = file_time(k[i].f);
    }
    sort_files(k, n, k + n);
    for (size_t i = 0; i < n; i++) {
        /* in time order, each row and its path are elsewhere in memory: a cache and a TLB
         * miss each, ~half of writing the rows, unless asked for ahead (row 56) */
        if (i + PF_AHEAD < n)
            for (size_t b = 0; b < sizeof *k[i].f; b += 64)
                __builtin_prefetch((const char *)k[i + PF_AHEAD].f + b);
        if (i + PF_AHEAD / 2 < n)
            __builtin_prefetch(k[i + PF_AHEAD / 2].f->path);
        write_file_row(k[i].f, i == 0);
    }
    ta_buf_cstr(ob, "\n  ],\n");
    st_free(k, nk * sizeof *k);
}

/* Rows by total_ns descending, then by dataset, then file (an absent file first) */
static int cmp_ds(const void *a, const void *b)
{
    const struct ds_row *x = *(struct ds_row *const *)a, *y = *(struct ds_row *const *)b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    int c = strcmp(x->dset, y->dset);
    if (c || x->file == y->file)
        return c;
    return !x->file ? -1 : !y->file ? 1 : strcmp(x->file, y->file);
}

/* the row whose shapes cmp_sel orders (qsort has no context argument; one thread writes) */
static const struct ds_row *cmp_sel_row;

static int cmp_sel(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b; /* indices into cmp_sel_row->sel */
    const struct ds_row *d = cmp_sel_row;
    if (d->sel[*x].count != d->sel[*y].count)
        return d->sel[*x].count < d->sel[*y].count ? 1 : -1;
    return strcmp(d->sel[*x].shape, d->sel[*y].shape);
}

/* Only when some event named a dataset: a run without one keeps the sections it had. */
static void write_datasets(void)
{
    size_t n;
    struct ds_row **v = (struct ds_row **)map_values(&st.datasets, &n);
    if (!v)
        return;
    qsort(v, n, sizeof *v, cmp_ds);
    ta_buf_cstr(ob, "  \"datasets\": [");
    for (size_t i = 0; i < n; i++) {
        struct ds_row *d = v[i];
        ta_buf_cstr(ob, i ? ",\n    {" : "\n    {");
        out_key("file");
        if (d->file)
            ta_buf_jstr(ob, d->file);
        else
            ta_buf_put(ob, "null", 4);
        ta_buf_put(ob, ", ", 2);
        out_kv_str("dataset", d->dset, true);
        out_kv_u64("reads", d->reads, true);
        out_kv_u64("writes", d->writes, true);
        out_kv_u64("bytes_read", d->bytes_read, true);
        out_kv_u64("bytes_written", d->bytes_written, true);
        out_kv_u64("read_ns", d->read_ns, true);
        out_kv_u64("write_ns", d->write_ns, true);
        out_kv_u64("opens", d->opens, true);
        out_kv_u64("errors", d->errors, true);
        out_kv_u64("count", d->count, true);
        out_kv_u64("total_ns", d->total, true);
        out_key("mean_ns");
        out_ns3(d->count ? (long double)d->total / d->count : 0);
        ta_buf_put(ob, ", ", 2);
        uint64_t mn = d->count ? d->min : 0;
        out_kv_u64("median_ns", d->count ? hist_pct(&d->h, d->count, 50, mn, d->max) : 0, true);
        out_kv_u64("p95_ns", d->count ? hist_pct(&d->h, d->count, 95, mn, d->max) : 0, true);
        out_kv_u64("max_ns", d->max, true);
        out_key("read_mean_ns");
        out_ns3(d->reads ? (long double)d->read_ns / d->reads : 0);
        ta_buf_put(ob, ", ", 2);
        out_kv_u64("read_p95_ns",
                   d->reads ? hist_pct(&d->rd.h, d->reads, 95, d->rd.min, d->rd.max) : 0, true);
        out_key("write_mean_ns");
        out_ns3(d->writes ? (long double)d->write_ns / d->writes : 0);
        ta_buf_put(ob, ", ", 2);
        out_kv_u64("write_p95_ns",
                   d->writes ? hist_pct(&d->wr.h, d->writes, 95, d->wr.min, d->wr.max) : 0,
                   true);
        /* the most frequent shapes first; the rest, and those past the slots, as a count */
        uint32_t idx[SEL_SLOTS];
        for (uint32_t k = 0; k < d->nsel; k++)
            idx[k] = k;
        cmp_sel_row = d;
        qsort(idx, d->nsel, sizeof idx[0], cmp_sel);
        uint64_t other = d->sel_more;
        out_key("selections");
        ta_buf_char(ob, '[');
        for (uint32_t k = 0; k < d->nsel; k++) {
            if (k >= SEL_OUT) {
                other += d->sel[idx[k]].count;
                continue;
            }
            ta_buf_cstr(ob, k ? ", {" : "{");
            out_kv_str("shape", d->sel[idx[k]].shape, true);
            out_kv_u64("count", d->sel[idx[k]].count, true);
            out_kv_u64("bytes", d->sel[idx[k]].bytes, false);
            ta_buf_char(ob, '}');
        }
        ta_buf_put(ob, "], ", 3);
        out_kv_u64("selections_other", other, false);
        ta_buf_char(ob, '}');
        out_maybe_flush();
    }
    ta_buf_cstr(ob, "\n  ],\n");
    values_free(v, n);
}

/* Only when some op had a layer: an empty run keeps the sections it always had. */
static void write_layers(void)
{
    bool any = false;
    for (unsigned i = 1; i < NLAYERS; i++)
        any |= st.layers[i].count != 0;
    if (!any)
        return;
    ta_buf_cstr(ob, "  \"layers\": {");
    bool first = true;
    for (unsigned i = 1; i < NLAYERS; i++) {
        const struct layer_row *l = &st.layers[i];
        if (!l->count)
            continue;
        ta_buf_cstr(ob, first ? "\n    " : ",\n    ");
        first = false;
        out_key(layer_names[i]);
        ta_buf_char(ob, '{');
        out_kv_u64("count", l->count, true);
        out_kv_u64("total_ns", l->total, true);
        out_kv_u64("bytes_read", l->bytes_read, true);
        out_kv_u64("bytes_written", l->bytes_written, false);
        ta_buf_char(ob, '}');
    }
    ta_buf_cstr(ob, first ? "},\n" : "\n  },\n");
}

/* ------------------------------------------------------------------------------------ */
/* Call sites (TRACEAGENT_STACKS): a stack's site is the frame ta_stack_site names, the
 * first outside the runtimes, the code that made the call. Sites are worked out here,
 * once per stack id, from ta_stack_frame: the frames as resolved when the stack was
 * interned (a library dlclose'd since keeps its names). */

#define SITES_TOP 20     /* rows per category; the rest summed in "(other sites)" */
#define EXAMPLE_FRAMES 16
#define NODE_SITES 3     /* call sites under a tree node */

struct site_info {
    char *label; /* "read_a (app.c:12)"; NULL: not worked out yet */
    const char *function, *library, *file;
    uint32_t line, at; /* at: the site's index in the stack's frames */
};
static struct site_info *sinfo; /* by stack id; kept across a fork (ids are too) */
static uint32_t capsinfo;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Frame k of stack id as text: "function (file:line)", "function", "libname+0xOFF" or
 * "0xADDR" */
static void frame_label(char *buf, size_t n, uint32_t id, uint32_t k, uint64_t ip,
                        struct ta_frame_info *fi)
{
    memset(fi, 0, sizeof *fi);
    fi->size = sizeof *fi;
    if (ta_stack_frame(id, k, fi) < 0) {
        memset(fi, 0, sizeof *fi);
        snprintf(buf, n, "0x%llx", (unsigned long long)ip);
    } else if (!fi->function) {
        snprintf(buf, n, "%s+0x%llx", fi->library ? base_name(fi->library) : "?",
                 (unsigned long long)fi->offset);
    } else if (fi->file && fi->line) {
        snprintf(buf, n, "%s (%s:%u)", fi->function, base_name(fi->file), (unsigned)fi->line);
    } else if (fi->file) {
        snprintf(buf, n, "%s (%s)", fi->function, base_name(fi->file));
    } else {
        snprintf(buf, n, "%s", fi->function);
    }
}

static const struct site_info *site_of(uint32_t id)
{
    static const struct site_info unknown = {.label = "(unknown)"};
    if (id >= capsinfo) {
        uint32_t cap = capsinfo ? capsinfo : 256;
        while (cap <= id)
            cap *= 2;
        struct site_info *v = realloc(sinfo, cap * sizeof *v);
        if (!v) {
            oom();
            return &unknown;
        }
        memset(v + capsinfo, 0, (cap - capsinfo) * sizeof *v);
        sinfo = v;
        capsinfo = cap;
    }
    struct site_info *si = &sinfo[id];
    if (si->label)
        return si;
    uint32_t n = 0;
    const uint64_t *ips = ta_stack_ips(id, &n);
    if (!ips || !n)
        return &unknown;
    uint32_t at = ta_stack_site(id);
    if (at >= n)
        at = 0;
    char buf[512];
    struct ta_frame_info fi;
    frame_label(buf, sizeof buf, id, at, ips[at], &fi);
    if (!(si->label = strdup(buf))) {
        oom();
        return &unknown;
    }
    si->function = fi.function;
    si->library = fi.library;
    si->file = fi.file;
    si->line = fi.line;
    si->at = at;
    return si;
}

struct site_row {
    const char *cat, *label;
    const struct site_info *si;
    uint64_t count, total, bytes, stacks;
    uint32_t example; /* its most frequent stack */
    uint64_t example_count;
};

static int cmp_stack_site(const void *a, const void *b)
{
    const struct stack_row *x = *(struct stack_row *const *)a, *y = *(struct stack_row *const *)b;
    int c = strcmp(x->cat, y->cat);
    if (c)
        return c;
    c = strcmp(site_of(x->stack)->label, site_of(y->stack)->label);
    if (c)
        return c;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* by category, then most time first, most calls, the site's text */
static int cmp_site(const void *a, const void *b)
{
    const struct site_row *x = a, *y = b;
    int c = strcmp(x->cat, y->cat);
    if (c)
        return c;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->label, y->label);
}

static void out_kv_strn(const char *k, const char *v, bool comma)
{
    if (v) {
        out_kv_str(k, v, comma);
        return;
    }
    out_key(k);
    ta_buf_cstr(ob, comma ? "null, " : "null");
}

static void write_site(const struct site_row *r, bool other)
{
    ta_buf_cstr(ob, "\n    {");
    out_kv_str("cat", r->cat, true);
    out_kv_str("site", other ? "(other sites)" : r->label, true);
    out_kv_strn("function", other ? NULL : r->si->function, true);
    out_kv_strn("library", other ? NULL : r->si->library, true);
    out_kv_strn("file", other ? NULL : r->si->file, true);
    out_kv_u64("line", other ? 0 : r->si->line, true);
    out_kv_u64("count", r->count, true);
    out_kv_u64("total_ns", r->total, true);
    out_kv_u64("bytes", r->bytes, true);
    out_kv_u64("stacks", r->stacks, true);
    out_key("example");
    ta_buf_char(ob, '[');
    uint32_t n = 0;
    const uint64_t *ips = other ? NULL : ta_stack_ips(r->example, &n);
    for (uint32_t k = ips ? r->si->at : n, w = 0; k < n && w < EXAMPLE_FRAMES; k++, w++) {
        char buf[512];
        struct ta_frame_info fi;
        frame_label(buf, sizeof buf, r->example, k, ips[k], &fi);
        if (w)
            ta_buf_put(ob, ", ", 2);
        ta_buf_jstr(ob, buf);
    }
    ta_buf_cstr(ob, "]}");
    out_maybe_flush();
}

/* Only when some span had a stack: a run without keeps the sections it had. */
static void write_callsites(void)
{
    size_t n;
    struct stack_row **v = (struct stack_row **)map_values(&st.stacks, &n);
    if (!v)
        return;
    qsort(v, n, sizeof *v, cmp_stack_site);
    struct site_row *sites = calloc(n, sizeof *sites);
    if (!sites) {
        oom();
        values_free(v, n);
        return;
    }
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        const struct stack_row *k = v[i];
        const struct site_info *si = site_of(k->stack);
        struct site_row *r = &sites[ns ? ns - 1 : 0];
        if (!ns || strcmp(r->cat, k->cat) || strcmp(r->label, si->label)) {
            r = &sites[ns++];
            r->cat = k->cat;
            r->label = si->label;
            r->si = si;
        }
        r->count += k->count;
        r->total += k->total;
        r->bytes += k->bytes;
        r->stacks++;
        if (k->count > r->example_count) {
            r->example_count = k->count;
            r->example = k->stack;
            r->si = si; /* the same text; `at` of this stack */
        }
    }
    qsort(sites, ns, sizeof *sites, cmp_site);
    uint32_t every = ta_cfg.stacks_every ? ta_cfg.stacks_every : 1;
    ta_buf_cstr(ob, "  \"callsites\": {");
    out_kv_u64("stacks_every", every, true);
    out_key("sites");
    ta_buf_char(ob, '[');
    bool first = true;
    for (size_t i = 0; i < ns;) {
        size_t j = i;
        while (j < ns && strcmp(sites[j].cat, sites[i].cat) == 0)
            j++;
        struct site_row other = {.cat = sites[i].cat};
        for (size_t k = i; k < j; k++) {
            if (k - i < SITES_TOP) {
                if (!first)
                    ta_buf_char(ob, ',');
                first = false;
                write_site(&sites[k], false);
            } else {
                other.count += sites[k].count;
                other.total += sites[k].total;
                other.bytes += sites[k].bytes;
                other.stacks += sites[k].stacks;
            }
        }
        if (j - i > SITES_TOP) {
            ta_buf_char(ob, ',');
            write_site(&other, true);
        }
        i = j;
    }
    ta_buf_cstr(ob, "\n  ]},\n");
    free(sites);
    values_free(v, n);
}

/* A tree node's top call sites: its stacks grouped by site, most time first */
static void write_node_sites(const struct tnode *c)
{
    struct site_row *r = calloc(c->nstk, sizeof *r);
    if (!r) {
        oom();
        return;
    }
    uint32_t nr = 0;
    for (uint32_t i = 0; i < c->nstk; i++) {
        const struct site_info *si = site_of(c->stk[i].stack);
        uint32_t k = 0;
        while (k < nr && strcmp(r[k].label, si->label))
            k++;
        if (k == nr) {
            r[nr].cat = "";
            r[nr++].label = si->label;
        }
        r[k].count += c->stk[i].count;
        r[k].total += c->stk[i].total;
    }
    qsort(r, nr, sizeof *r, cmp_site);
    out_key("callsites");
    ta_buf_char(ob, '[');
    for (uint32_t k = 0; k < nr && k < NODE_SITES; k++) {
        ta_buf_cstr(ob, k ? ", {" : "{");
        out_kv_str("site", r[k].label, true);
        out_kv_u64("count", r[k].count, true);
        out_kv_u64("total_ns", r[k].total, false);
        ta_buf_char(ob, '}');
    }
    ta_buf_cstr(ob, "], ");
    free(r);
}

static int cmp_node(const void *a, const void *b)
{
    RANK_CMP(*(struct tnode *const *)a, *(struct tnode *const *)b);
}

/* Children of n as an array sorted by total descending (caller frees); NULL if none. */
static struct tnode **sorted_children(const struct tnode *n)
{
    if (!n->nchild)
        return NULL;
    struct tnode **v = malloc(n->nchild * sizeof *v);
    uint32_t k = 0;
    for (struct tnode *c = n->child; c && v; c = c->next)
        v[k++] = c;
    if (!v)
        oom();
    else
        qsort(v, k, sizeof *v, cmp_node);
    return v;
}

/* Writes the children of n as JSON array elements, one node per line. */
static void write_tree_children(const struct tnode *n, int depth)
{
    struct tnode **v = sorted_children(n);
    if (!v)
        return;
    for (uint32_t i = 0; i < n->nchild; i++) {
        const struct tnode *c = v[i];
        uint64_t csum = 0;
        for (const struct tnode *g = c->child; g; g = g->next)
            csum += g->total;
        ta_buf_cstr(ob, i ? ",\n" : "\n");
        out_indent(2 * depth + 4);
        ta_buf_char(ob, '{');
        out_kv_str("cat", cat_name(c->op), true);
        out_kv_str("name", c->name, true);
        out_kv_u64("count", c->count, true);
        out_kv_u64("total_ns", c->total, true);
        out_kv_u64("self_ns", c->total > csum ? c->total - csum : 0, true);
        if (c->device_count) {
            out_kv_u64("device_ns", c->device_ns, true);
            out_kv_u64("device_count", c->device_count, true);
        }
        if (c->gpu)
            gpu_node_write(ob, c->gpu);
        if (c->nstk)
            write_node_sites(c);
        out_key("children");
        ta_buf_char(ob, '[');
        out_maybe_flush();
        if (c->nchild) {
            write_tree_children(c, depth + 1);
            ta_buf_char(ob, '\n');
            out_indent(2 * depth + 4);
        }
        ta_buf_put(ob, "]}", 2);
    }
    free(v);
}

/* Each node's GPU work with its subtree's (post-order), before the tree is written */
static void tree_gpu_sum(struct tnode *n)
{
    gpu_node_sub_start(n->gpu);
    for (struct tnode *c = n->child; c; c = c->next) {
        tree_gpu_sum(c);
        if (c->gpu)
            gpu_node_sub_add(&n->gpu, c->gpu);
    }
}

static void write_tree(void)
{
    if (gpu_any())
        tree_gpu_sum(&st.root);
    ta_buf_cstr(ob, "  \"tree\": [");
    write_tree_children(&st.root, 0);
    ta_buf_cstr(ob, st.root.nchild ? "\n  ],\n" : "],\n");
}

static void write_dropped(void)
{
    ta_buf_cstr(ob, "  \"dropped\": {");
    for (int i = 0; i < st.ndropped; i++)
        out_kv_u64(st.dropped[i].cause, st.dropped[i].total, i + 1 < st.ndropped);
    ta_buf_cstr(ob, "},\n");
}

/* The agent's own work: what measuring cost, next to what was measured. */
static void write_agent(void)
{
    const struct ta_agent_stats *a = &ta_agent_stats;
    ta_buf_cstr(ob, "  \"agent\": {");
    out_kv_u64("events", a->events, true);
    out_kv_u64("drainer_cpu_ns", a->drainer_cpu_ns, true);
    out_kv_u64("trace_bytes", a->trace_bytes, true);
    out_kv_u64("trace_spans_left_out", a->trace_left_out, true);
    out_kv_u64("min_duration_ns", ta_cfg.min_duration_ns, true);
    out_kv_u64("threads", atomic_load(&ta_threads_attached), true);
    out_kv_u64("strings_lost", atomic_load(&ta_intern_full), true);
    out_kv_u64("buffer_kb", ta_cfg.buffer_kb, true);
    out_kv_str("clock", ta_clock_tsc ? "tsc" : "monotonic", false);
    ta_buf_cstr(ob, "}\n");
}

/* Nodes still waiting for a parent that never came join the top of the tree. */
static void fold_leftovers(void)
{
    for (size_t i = 0; i < st.threads.cap; i++) {
        struct thr *t = st.threads.s ? st.threads.s[i].v : NULL;
        if (!t)
            continue;
        for (int d = t->maxd; d >= 1; d--)
            if (t->pend[d])
                tree_merge(&st.root, t->pend[d]);
        t->maxd = -1;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Exporter entry points */

static int stats_start(void)
{
    read_rank();
    return 0;
}

static void stats_finish(void)
{
    uint64_t now = ta_mono_ns();
    fold_leftovers();
    /* static: no allocation at exit, and untouched pages cost nothing */
    static char mem[256 << 10];
    struct ta_buf b;
    ta_buf_init(&b, mem, sizeof mem, -1);
    if (ta_out_open(".stats.json", &b.fd) < 0)
        return; /* it said why */
    ta_buf_file(&b, ".stats.json", 0, 1);
    ob = &b;
    ta_buf_cstr(ob, "{\n  \"schema\": \"traceagent-stats/1\",\n");
    /* a process ended by a signal: everything recorded up to it, and which signal */
    int sig = atomic_load(&ta_end_signal);
    if (sig) {
        char nb[16];
        ta_buf_cstr(ob, "  \"complete\": false, \"signal\": ");
        ta_buf_jstr(ob, ta_sig_name(sig, nb, sizeof nb));
        ta_buf_cstr(ob, ",\n");
    } else {
        ta_buf_cstr(ob, "  \"complete\": true,\n");
    }
    write_process(now);
    ta_buf_cstr(ob, "  ");
    out_kv_u64("events", st.events, false);
    ta_buf_cstr(ob, ",\n");
    write_threads();
    write_ops();
    write_counters();
    write_files();
    write_datasets();
    write_layers();
    gpu_write(ob);
    write_callsites();
    write_tree();
    write_dropped();
    write_agent();
    ta_buf_cstr(ob, "}\n");
    ta_buf_flush_final(ob); /* a failure said why, and left no file */
    ob = NULL;
    ta_out_close(&b.fd);
    /* State is kept: should the process go on (an exec that failed), a later finish
     * rewrites the file with everything. */
}

/* In a forked child: the parent's aggregates are the parent's; start from nothing. The
 * copies are abandoned, not freed: untouched copy-on-write pages cost the child nothing,
 * and no allocator call is made in the fragile moments after a fork. */
static void stats_after_fork(void)
{
    memset(&st, 0, sizeof st);
    gpu_after_fork();
}

static void stats_cycle_end(void) {}

const struct ta_exporter ta_exporter_stats = {
    .name = "stats",
    .signal_safe = false,
    .start = stats_start,
    .event = stats_event,
    .thread_name = stats_thread_name,
    .dropped = stats_dropped,
    .cycle_end = stats_cycle_end,
    .finish = stats_finish,
    .after_fork = stats_after_fork,
};
