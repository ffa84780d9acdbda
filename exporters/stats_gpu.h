/* GPU statistics for the stats exporter (stats_gpu.c): the `kernels` table, the `gpu`
 * section, per-phase (marker) GPU time and idle share, and the `gpu` object of tree nodes.
 * stats.c calls these from its drainer-side paths; everything here runs on the drainer's
 * thread only (no lock), and mallocs only when a new row, scope or interval block appears. */
#ifndef TA_STATS_GPU_H
#define TA_STATS_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "jsonw.h"
#include "ta.h"

/* What one device event was, for the tree node of its scope */
enum gpu_kind { GPU_NONE, GPU_KERNEL, GPU_COPY, GPU_MEMSET, GPU_GRAPH };
struct gpu_work {
    uint8_t kind;   /* enum gpu_kind; GPU_NONE: not counted (a sync, ...) */
    uint64_t bytes; /* a copy's */
};

/* A tree node's GPU work (allocated on the first work launched there): `own` at this node
 * exactly (its scope's last node), `sub` this node's and its subtree's, summed at finish. */
struct gpu_sums {
    uint64_t kernel_ns, kernel_count, copy_ns, copy_bytes;
};
struct gpu_node {
    struct gpu_sums own, sub;
};

/* Per scope id (cached: the path is walked once per scope): the tree node stats.c found
 * for it (NULL: not yet), and the phases (marker names) on its path. */
struct gpu_scope {
    void *leaf;
    uint32_t ph_off; /* into the pool of phase rows */
    uint16_t ph_n;
    uint8_t walked;
};

/* An event of op layer DEVICE: classified by its op's fields and name, counted in the
 * kernels table, the gpu section, the busy intervals and the phases of its scope. *w says
 * what it was, for the tree. */
void gpu_event(const struct ta_event *ev, struct gpu_work *w);
/* A marker span (cat "marker") completed on a thread: its phase row's count, time and
 * range. */
void gpu_marker(const struct ta_event *ev);
/* A drop cause's running total (the stats exporter's `dropped`): GPU causes are summed in
 * gpu.records_dropped. */
void gpu_dropped(const char *cause, uint64_t total);
/* The cache entry of a scope id; NULL for 0 or out of memory. */
struct gpu_scope *gpu_scope(uint32_t scope);

/* Tree nodes: work at a node, merging two nodes, the subtree sums before writing. */
void gpu_node_work(struct gpu_node **n, const struct gpu_work *w, uint64_t dur);
void gpu_node_merge(struct gpu_node **dst, const struct gpu_node *src);
void gpu_node_sub_start(struct gpu_node *n);                  /* sub = own */
void gpu_node_sub_add(struct gpu_node **dst, const struct gpu_node *child); /* sub += child's */
void gpu_node_write(struct ta_buf *ob, const struct gpu_node *n); /* `"gpu": {...}, ` */

/* Whether any kernel, copy or memset was seen (then the tree sums are worth computing). */
bool gpu_any(void);
/* `kernels`, `gpu` and `phases`, each only when it has content (lines ending ",\n"). */
void gpu_write(struct ta_buf *ob);
/* In a forked child: the parent's rows are the parent's (abandoned, not freed). */
void gpu_after_fork(void);

#endif
