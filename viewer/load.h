/* The run loader: one call reads every process of a run into plain C structs.
 *
 *   struct ta_run *run = ta_run_load(npaths, paths, &opts);   // NULL only out of memory
 *   for (size_t i = 0; i < run->nprocs; i++) { const struct ta_proc *p = &run->procs[i]; ... }
 *   ta_run_free(run);
 *
 * PATHs are stats files (*.stats.json), trace files (*.trace.json) or output directories
 * (searched recursively for both). A `run --repeat` directory (run-NNN/, warmup-NNN/,
 * repeat.json) loads its measured runs only, the warm-ups left out, and says so in
 * repeat_dir (ta_run_repeat_note prints the line the report, tree and waterfall show). A stats file and a trace file with the same stem are one
 * process. A process with a trace and no stats (killed by SIGKILL, still running) still
 * appears, with has_stats = 0 and what its trace says (pid, name, start, end).
 *
 * Stats files are parsed whole with cJSON (they are small: a summary). Traces are streamed
 * line by line (the agent writes one event per line) and only what the summaries need is
 * kept: each thread's top-level spans (for the waterfall; at most TA_MAX_SPANS_PER_TRACK
 * per thread: past that, neighbours are merged in pairs, each merged span keeping the share
 * of its extent that was busy, and `capped` counts the merges), the process's first and last timestamps,
 * thread names. A trace cut short is read to its last whole line and says so in `note`
 * (not an error). Memory is bounded by the summary's size, not the trace's.
 *
 * Problems with a file go to stderr (named) and count in run->bad_files; malformed rows
 * inside a good file are skipped and counted in run->bad_rows. */
#ifndef TA_LOAD_H
#define TA_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TA_MAX_SPANS_PER_TRACK 20000

struct ta_bucket { /* one `hist` bucket: its lower bound and count */
    double lo, n;
};

struct ta_oprow { /* stats.json `ops` */
    char *cat, *name;
    int span; /* kind "span" (else an instant) */
    double count, total, min, max, mean, median, p95, p99, bytes, errors;
    int has_bytes;
    struct ta_bucket *hist; /* NULL when the stats have no `hist` */
    size_t nhist;
};

struct ta_filerow { /* stats.json `files` */
    char *path;
    double opens, closes, reads, writes, syncs, meta, errors;
    double bytes_read, bytes_written, read_ns, write_ns, other_ns;
    double sync_ns, meta_ns; /* -1: the stats do not split other_ns */
};

struct ta_dsrow { /* stats.json `datasets`; file "" when null */
    char *file, *dset, *shape; /* shape: the first (most frequent) selection, or NULL */
    double reads, writes, bytes_read, bytes_written, read_ns, write_ns, total, count, p95,
        read_p95, errors;
    struct { char *shape; double count; } *sel;
    size_t nsel;
};

struct ta_kernel { /* stats.json `kernels` */
    char *name;
    double count, total, mean, median, min, max, p95, p99;
    double grid[3], block[3];
};

struct ta_phase { /* stats.json `phases` */
    char *name;
    double count, total, gpu_kernel_count, gpu_kernel_ns, gpu_copy_count, gpu_copy_ns,
        gpu_copy_bytes, gpu_busy_ns, gpu_idle_pct;
};

struct ta_gpu { /* stats.json `gpu`; present = 0 when absent */
    int present;
    double kernel_count, kernel_ns, copy_count, copy_ns, bytes_htod, bytes_dtoh, bytes_dtod,
        memset_count, memset_ns, busy_ns, first_ns, last_ns, idle_pct, records_dropped;
};

struct ta_site { /* a tree node's top call sites (runs with TRACEAGENT_STACKS) */
    char *site;
    double count, total;
};

struct ta_node { /* stats.json `tree` */
    char *cat, *name;
    double count, total, self;
    struct ta_site *sites;
    size_t nsites;
    double gpu_kernel_ns, gpu_kernel_count, gpu_copy_ns, gpu_copy_bytes; /* `gpu`, or 0 */
    struct ta_node *kids;
    size_t nkids;
};

struct ta_counter {
    char *cat, *name;
    double count, min, max, last;
};

struct ta_named { /* a (name, number) pair: `dropped` causes, thread names */
    char *name;
    double n;
};

struct ta_span { /* a top-level span of a track, from the trace (µs, monotonic) */
    double ts, dur;
    float busy;    /* the share of [ts, ts + dur] in spans: 1, less once merged */
    uint32_t name; /* index into run->names (a merged span: the longer one's) */
    uint8_t marker;
};

struct ta_track { /* one thread (or named track: `GPU 0 stream 7`) of a process */
    double tid;
    char *name;
    struct ta_span *spans;
    size_t nspans, cap, capped; /* capped: times its spans were merged in pairs */
    double instants; /* instant events on it */
};

struct ta_proc {
    char *stats_path, *trace_path; /* either may be NULL */
    int has_stats, complete;
    char *signal; /* the signal that ended it, or NULL */
    double pid, ppid;
    char *exe, *cmdline;
    /* realtime ns of the start, duration ns; -1 when unknown */
    double start_ns, duration_ns;
    double mono_start_ns; /* the monotonic clock at start (stats `clock`, trace anchor) */
    double events;
    int callsites; /* the stats have `callsites` */
    double trace_bytes, left_out, min_dur; /* `agent` */
    struct ta_oprow *ops;
    size_t nops;
    struct ta_filerow *files;
    size_t nfiles;
    struct ta_dsrow *dsets;
    size_t ndsets;
    struct ta_kernel *kernels;
    size_t nkernels;
    struct ta_phase *phases;
    size_t nphases;
    struct ta_gpu gpu;
    struct ta_node *tree; /* the roots */
    size_t ntree;
    struct ta_counter *counters;
    size_t ncounters;
    struct ta_named *dropped, *threads; /* threads: name = thread name, n = events */
    size_t ndropped, nthreads;
    /* from the trace (when read) */
    int trace_read, trace_cut; /* trace_cut: cut short, read to its last whole line */
    double trace_lines, first_ts, last_ts; /* µs, monotonic; first_ts < 0: no events */
    struct ta_track *tracks;
    size_t ntracks;
    /* exec: the images this pid had before (folded in by ta_run_fold_exec); an image
     * folded into its successor has folded = 1 (its ops still count, its row is not shown) */
    char *exec_from;
    int folded;
};

struct ta_run {
    struct ta_proc *procs;
    size_t nprocs;
    char **names; /* span names of the tracks */
    size_t nnames, capnames;
    void *namemap;
    size_t bad_files, bad_rows, nfiles_read;
    /* a `run --repeat` directory among the paths: its run-NNN/ were read, its warmup-NNN/
     * left out (NULL when none) */
    char *repeat_dir;
    size_t repeat_runs, repeat_warmups;
};

struct ta_load_opts {
    int traces; /* read the traces (waterfall, crashed processes); 0: stats only, and a
                   trace only for a process with no stats */
};

/* Loads the run; NULL when out of memory. Errors about files are on stderr. */
struct ta_run *ta_run_load(int npaths, char **paths, const struct ta_load_opts *opts);
/* The same from a list of files (stats or traces): `traceagent run`'s own new files. */
struct ta_run *ta_run_load_files(size_t nfiles, char **files, const struct ta_load_opts *opts);
void ta_run_free(struct ta_run *run);
/* "PATH holds N repeated runs (W warm-ups left out): ...": one line, when the run is one */
void ta_run_repeat_note(const struct ta_run *run, FILE *out);

/* Folds each image that a pid exec'd away into its successor (same pid, it ended before
 * the next began): the successor's start becomes the first image's, its events and ops
 * stay its own, exec_from names the images ("pipeline -> sh"). Returns how many. */
size_t ta_run_fold_exec(struct ta_run *run);

/* The run's wall time: first start to last end over processes, in ns (0 when unknown);
 * *first gets the first start (realtime ns). */
double ta_run_wall_ns(const struct ta_run *run, double *first);

#endif
