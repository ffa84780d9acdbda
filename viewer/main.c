/* traceagent: the command line.
 *
 *   traceagent run [options] -- cmd args...   trace a program, then print a summary
 *   traceagent report [--top N] [--format F] PATH...   the run's report (viewer/summary.c)
 *   traceagent report --by-callsite PATH...   the call sites of each category (stacks)
 *   traceagent tree [--depth N] [--per-process] PATH...   the call-path tree (tree.c)
 *   traceagent waterfall [--width N] PATH...  a timeline of top-level spans (waterfall.c)
 *   traceagent merge DIR [-o run.json]        one trace of all processes (merge.c)
 *   traceagent diff BASE NEW                  per op, marker, node: changed? (diff.c)
 *   traceagent run --repeat N --warmup W ...  N measured runs, W warm-ups (repeat.c)
 * report, tree and waterfall read the run through viewer/load.c.
 *
 * `run` only sets TRACEAGENT_* variables, puts the agent in LD_PRELOAD and runs the
 * command: what the agent does is exactly what `LD_PRELOAD=libtraceagent.so cmd` does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../agent/config_keys.h"
#include "diff.h"
#include "merge.h"
#include "load.h"
#include "summary.h"
#include "tree.h"
#include "waterfall.h"

#if defined(__has_include)
#if __has_include(<traceagent.h>)
#include <traceagent.h>
#endif
#endif
#ifndef TRACEAGENT_VERSION
#define TRACEAGENT_VERSION "0.1.0"
#endif

#define DEFAULT_OUTPUT "./traceagent-out"
#define DEFAULT_TOP 10

static const char *prog = "traceagent";

/* `run`'s flags for the agent's keys: one per key of agent/config_keys.h, the flag the key's
 * name with '-' for '_' (--buffer-kb), and any unambiguous prefix of it (--min-duration). */
struct opt {
    const char *name; /* the key's name, '_' as in the table */
    char shrt;
    const char *arg, *var, *help, *dflt;
};

static const struct opt options[] = {
#define OPT(name, var, shrt, arg, help, dflt) {#name, shrt, arg, var, help, dflt},
    TA_CONFIG_KEYS(OPT)
#undef OPT
    {"top", 0, "N", NULL, "rows in each list of the summary (0: all)", "10"},
};
#define NOPTS (sizeof options / sizeof *options)

static void usage(FILE *out)
{
    fprintf(out,
        "usage: traceagent run [options] [--] command [args...]\n"
        "       traceagent report [--top N] [--by-callsite] [PATH...]\n"
        "       traceagent tree [--depth N] [--per-process] [PATH...]\n"
        "       traceagent waterfall [--width N] [--top N] [PATH...]\n"
        "       traceagent merge [-o OUT] DIR...\n"
        "       traceagent diff [--fail-above PCT] [--format table|json] BASE NEW\n"
        "       traceagent --help | --version\n"
        "\n"
        "run: trace the command (and, by default, its child processes), then print a\n"
        "summary of the run on stderr. The exit status is the command's.\n"
        "Each option sets the agent's variable named after it (the same keys go in the\n"
        "environment or in a --config file):\n");
    for (size_t k = 0; k < NOPTS; k++) {
        const struct opt *o = &options[k];
        char flag[64];
        int n = snprintf(flag, sizeof flag, "%c%c%s--%s %s", o->shrt ? '-' : ' ',
                         o->shrt ? o->shrt : ' ', o->shrt ? ", " : "  ", o->name, o->arg);
        for (char *c = flag; *c; c++)
            if (*c == '_')
                *c = '-';
        fprintf(out, "  %s%*s %s\n", flag, n < 26 ? 26 - n : 0, "", o->help);
        fprintf(out, "  %27s(%s%sdefault %s)\n", "", o->var ? o->var : "",
                o->var ? ", " : "", o->dflt);
    }
    fprintf(out,
        "  -q, --quiet                no summary\n"
        "  --no-merge                 no OUT/run.json (by default the run's processes are\n"
        "                             merged into one trace: see merge below)\n"
        "  --repeat N, --warmup W     run the command W + N times (OUT/warmup-000...,\n"
        "                             OUT/run-000...): statistics over the N measured runs\n"
        "                             on stderr and in OUT/repeat.json (warm-ups left out)\n"
        "The agent is $TRACEAGENT_LIB, else <dir of traceagent>/../lib/libtraceagent.so.\n"
        "\n"
        "report: print the summary of stats files (*.stats.json), traces or output directories\n"
        "(searched recursively): wall time, traced share, processes by time, ops with\n"
        "count/total/self%%/min/median/mean/p95/p99/max, files, datasets, GPU sections;\n"
        "  --format table|csv|json|markdown   --top N rows per list (default 10)\n"
        "(default: $TRACEAGENT_OUTPUT or " DEFAULT_OUTPUT ").\n"
        "  --by-callsite              instead, per category, the code that made the calls\n"
        "                             (runs with --stacks CATEGORIES): count, time, bytes\n"
        "tree: the call-path tree (count, total, self time, a bar, GPU time launched under\n"
        "a node when recorded), merged over threads and processes (--per-process: one\n"
        "each), with the top call sites beneath each op when stacks were recorded;\n"
        "--depth N levels.\n"
        "waterfall: an ASCII timeline of each process's and thread's top-level spans on one\n"
        "time axis ($COLUMNS or 100 wide, --width N), then the ops by self time as bars.\n"
        "merge: one trace (Chrome JSON) of every process of a run (see merge --help).\n");
    ta_diff_usage(out);
}

/* ------------------------------------------------------------------------------------ */
/* Output directories: which files a run created */

struct snap {
    char **names;
    struct stat *st;
    size_t n, cap;
};

static int is_output_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 11 && strcmp(n + l - 11, ".stats.json") == 0) ||
           (l > 11 && strcmp(n + l - 11, ".trace.json") == 0);
}

static void snap_take(struct snap *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_output_name(e->d_name))
            continue;
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 64;
            char **nn = realloc(s->names, nc * sizeof *nn);
            if (!nn)
                break;
            s->names = nn;
            struct stat *ns = realloc(s->st, nc * sizeof *ns);
            if (!ns)
                break;
            s->st = ns;
            s->cap = nc;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &s->st[s->n]) != 0 || !(s->names[s->n] = strdup(e->d_name)))
            continue;
        s->n++;
    }
    closedir(d);
}

static int snap_has_same(const struct snap *s, const char *name, const struct stat *st)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->st[i].st_ino == st->st_ino &&
                   s->st[i].st_mtim.tv_sec == st->st_mtim.tv_sec &&
                   s->st[i].st_mtim.tv_nsec == st->st_mtim.tv_nsec &&
                   s->st[i].st_size == st->st_size;
    return 0;
}

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    free(s->st);
    memset(s, 0, sizeof *s);
}

/* The output files of `dir` new or changed since `before`, into *files (the caller frees
 * them). Returns -1 when the directory cannot be read. */
static int new_files(const char *dir, const struct snap *before, char ***files, size_t *nfiles)
{
    struct snap now;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    closedir(d);
    snap_take(&now, dir);
    *files = calloc(now.n + 1, sizeof **files);
    *nfiles = 0;
    for (size_t i = 0; i < now.n && *files; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, now.names[i]) >= (int)sizeof path)
            continue; /* a path too long to open */
        if (snap_has_same(before, now.names[i], &now.st[i]))
            continue;
        if (((*files)[*nfiles] = strdup(path)))
            (*nfiles)++;
    }
    snap_free(&now);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* run */

static volatile sig_atomic_t child_pid;

/* Signals sent to us by someone (kill, a job manager) go on to the program. Those the
 * terminal sends (Ctrl-C) reach the program directly, as it is in our process group:
 * they come with si_code SI_KERNEL and are not sent a second time. */
static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (child_pid > 0 && (!si || si->si_code <= 0))
        kill(child_pid, sig);
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* The agent library: $TRACEAGENT_LIB, else ../lib/libtraceagent.so next to this binary. */
static int find_agent(char *out, size_t n)
{
    const char *env = getenv("TRACEAGENT_LIB");
    if (env && *env) {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, "%s: TRACEAGENT_LIB=%s: %s\n", prog, env, strerror(errno));
            return -1;
        }
        snprintf(out, n, "%s", env);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) {
        fprintf(stderr, "%s: cannot find my own executable (/proc/self/exe): %s; "
                        "set TRACEAGENT_LIB to libtraceagent.so\n", prog, strerror(errno));
        return -1;
    }
    self[l] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    char cand[PATH_MAX + 64];
    snprintf(cand, sizeof cand, "%s/../lib/libtraceagent.so", self);
    char real[PATH_MAX];
    if (!realpath(cand, real) || access(real, R_OK) != 0) {
        fprintf(stderr, "%s: the agent library is missing: %s not found; build it (make) "
                        "or set TRACEAGENT_LIB\n", prog, cand);
        return -1;
    }
    snprintf(out, n, "%s", real);
    return 0;
}

static int preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        /* already there (a nested run): keep the list as it is */
        size_t ll = strlen(lib);
        for (const char *p = old; (p = strstr(p, lib)); p += ll)
            if ((p == old || p[-1] == ':' || p[-1] == ' ') &&
                (p[ll] == 0 || p[ll] == ':' || p[ll] == ' '))
                return 0;
        size_t n = strlen(lib) + strlen(old) + 2;
        char *v = malloc(n);
        if (!v)
            return -1;
        snprintf(v, n, "%s:%s", lib, old);
        int r = setenv("LD_PRELOAD", v, 1);
        free(v);
        return r;
    }
    return setenv("LD_PRELOAD", lib, 1);
}

static int parse_top(const char *v, int *top)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0 || n > 1000000) {
        fprintf(stderr, "%s: --top %s: expected a number of rows\n", prog, v);
        return -1;
    }
    *top = (int)n;
    return 0;
}

/* The output directory the agent will use: the environment (set from -o), else the
 * config file's "output" / "TRACEAGENT_OUTPUT" key, else the default. */
static void output_dir(char *out, size_t n)
{
    const char *env = getenv("TRACEAGENT_OUTPUT");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    snprintf(out, n, "%s", DEFAULT_OUTPUT);
    const char *cfg = getenv("TRACEAGENT_CONFIG");
    if (!cfg || !*cfg)
        return;
    /* as the agent reads it: a regular file (a FIFO or /dev/stdin is the program's, not
     * ours to read or wait on), whole, up to 16 MiB */
    int fd = open(cfg, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0)
        return;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (16 << 20) &&
        (buf = malloc((size_t)st.st_size + 1))) {
        size_t len = 0;
        ssize_t r = 1;
        while (len < (size_t)st.st_size && (r = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
            len += (size_t)r;
        buf[len] = 0;
    }
    close(fd);
    if (!buf)
        return;
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    const cJSON *obj = cJSON_IsObject(root) ? root : NULL, *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (it->string && cJSON_IsString(it) && *it->valuestring &&
            (strcasecmp(it->string, "output") == 0 ||
             strcasecmp(it->string, "TRACEAGENT_OUTPUT") == 0))
            snprintf(out, n, "%s", it->valuestring);
    }
    cJSON_Delete(root);
}

/* `run`'s summary: the report of the files this run wrote into its directory */
static void summarize_run(const char *dir, const struct snap *before, int top,
                          const char *merged)
{
    char **files = NULL;
    size_t n = 0;
    if (new_files(dir, before, &files, &n) < 0) {
        fprintf(stderr, "%s: no output directory %s (nothing traced?)\n", prog, dir);
        return;
    }
    struct ta_summary *sum = ta_summary_new();
    if (merged) /* the merged trace repeats the processes' own: listed, not read */
        for (size_t i = 0; i < n; i++)
            if (strcmp(files[i], merged) == 0) {
                free(files[i]);
                files[i] = files[--n];
                break;
            }
    struct ta_run *run = ta_run_load_files(n, files, NULL);
    if (sum && run) {
        ta_summary_add_run(sum, run);
        ta_summary_set_dir(sum, dir);
        if (merged)
            ta_summary_add_file(sum, merged);
        ta_summary_print(sum, stderr, top);
    }
    ta_run_free(run);
    ta_summary_free(sum);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

static int cmd_run(int argc, char **argv)
{
    int i = 0, top = DEFAULT_TOP, quiet = 0, merge = 1;
    long repeat = 0, warmup = 0;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || !a[1])
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            i++;
            continue;
        }
        if (strcmp(a, "--no-merge") == 0) {
            merge = 0;
            i++;
            continue;
        }
        if (strcmp(a, "--repeat") == 0 || strcmp(a, "--warmup") == 0) {
            if (ta_repeat_arg(a, i + 1 < argc ? argv[i + 1] : NULL,
                              a[2] == 'r' ? &repeat : &warmup) < 0)
                return 2;
            i += 2;
            continue;
        }
        const struct opt *o = NULL;
        const char *val = NULL;
        int nmatch = 0, exact = 0;
        if (a[1] == '-') { /* --name, --name=value, or an unambiguous prefix of the name */
            size_t l = strcspn(a + 2, "=");
            for (size_t k = 0; k < NOPTS && !exact; k++) {
                const char *n = options[k].name;
                size_t j = 0;
                while (j < l && n[j] && (a[2 + j] == n[j] || (a[2 + j] == '-' && n[j] == '_')))
                    j++;
                if (j == l && l) {
                    exact = !n[j];
                    nmatch = exact ? 1 : nmatch + 1;
                    o = &options[k];
                }
            }
            if (nmatch > 1) {
                fprintf(stderr, "%s run: option %s is ambiguous (see traceagent --help)\n", prog, a);
                return 2;
            }
            if (o && a[2 + l] == '=')
                val = a + 3 + l;
        } else {
            for (size_t k = 0; k < NOPTS && !o; k++)
                if (options[k].shrt && a[1] == options[k].shrt) {
                    o = &options[k];
                    if (a[2])
                        val = a + 2;
                }
        }
        if (!o) {
            fprintf(stderr, "%s run: unknown option %s (see traceagent --help)\n", prog, a);
            return 2;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s run: %s needs a value\n", prog, a);
                return 2;
            }
            val = argv[++i];
        }
        i++;
        if (!o->var) {
            if (parse_top(val, &top) < 0)
                return 2;
            continue;
        }
        if (o->shrt == 'o' && !*val) {
            fprintf(stderr, "%s run: empty output directory\n", prog);
            return 2;
        }
        /* The agent validates values and reports bad ones (then uses its default). */
        setenv(o->var, val, 1);
    }
    if (i >= argc) {
        fprintf(stderr, "%s run: no command given\n", prog);
        usage(stderr);
        return 2;
    }
    char **cmd = argv + i;
    if (repeat > 0 || warmup > 0) {
        char rdir[PATH_MAX];
        output_dir(rdir, sizeof rdir);
        return ta_repeat_run(repeat, warmup, quiet, merge, top, rdir, cmd);
    }

    char lib[PATH_MAX];
    if (find_agent(lib, sizeof lib) < 0)
        return 2;
    if (preload(lib) < 0) {
        fprintf(stderr, "%s: cannot set LD_PRELOAD: %s\n", prog, strerror(errno));
        return 2;
    }
    char dir[PATH_MAX];
    output_dir(dir, sizeof dir);
    struct snap before;
    snap_take(&before, dir);

    /* exec failures come back through a close-on-exec pipe */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
        return 2;
    }
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t k = 0; k < sizeof forwarded / sizeof *forwarded; k++)
        sigaddset(&block, forwarded[k]);
    sigprocmask(SIG_BLOCK, &block, &old); /* until child_pid is known */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigaction saved[sizeof forwarded / sizeof *forwarded];
    for (size_t k = 0; k < sizeof forwarded / sizeof *forwarded; k++)
        sigaction(forwarded[k], &sa, &saved[k]);

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
        return 2;
    }
    if (pid == 0) {
        for (size_t k = 0; k < sizeof forwarded / sizeof *forwarded; k++)
            sigaction(forwarded[k], &saved[k], NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(pfd[0]);
        execvp(cmd[0], cmd);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0) {
            /* nothing more to say */
        }
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(pfd[1]);
    int exec_err = 0;
    ssize_t r;
    do
        r = read(pfd[0], &exec_err, sizeof exec_err);
    while (r < 0 && errno == EINTR);
    close(pfd[0]);

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: waitpid: %s\n", prog, strerror(errno));
            status = 2 << 8;
            break;
        }
    }
    child_pid = 0;
    for (size_t k = 0; k < sizeof forwarded / sizeof *forwarded; k++)
        sigaction(forwarded[k], &saved[k], NULL);

    if (r == (ssize_t)sizeof exec_err) {
        fprintf(stderr, "%s: %s: %s\n", prog, cmd[0],
                exec_err == ENOENT ? "command not found" : strerror(exec_err));
        snap_free(&before);
        return exec_err == ENOENT ? 127 : 126;
    }
    char merged[PATH_MAX + 16], *mp = NULL;
    snprintf(merged, sizeof merged, "%s/run.json", dir);
    if (merge && ta_merge_dir(dir, before.names, before.n, merged, stderr) > 0)
        mp = merged;
    if (!quiet)
        summarize_run(dir, &before, top, mp);
    snap_free(&before);
    fflush(NULL);

    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        /* End the way the program did, so a shell sees 128 + sig; no core of our own. */
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        raise(sig);
        return 128 + sig;
    }
    return 2;
}

/* ------------------------------------------------------------------------------------ */
/* report */

/* No PATH given: the output directory the agent would use (TRACEAGENT_OUTPUT, else the
 * default), in buf. */
static char *default_output(char *buf, size_t len)
{
    const char *env = getenv("TRACEAGENT_OUTPUT");
    snprintf(buf, len, "%s", env && *env ? env : DEFAULT_OUTPUT);
    return buf;
}

static int parse_format(const char *v, enum ta_format *fmt)
{
    static const char *const names[] = {"table", "csv", "json", "markdown"};
    for (int k = 0; k < 4; k++)
        if (strcmp(v, names[k]) == 0 || (k == 3 && strcmp(v, "md") == 0)) {
            *fmt = (enum ta_format)k;
            return 0;
        }
    fprintf(stderr, "%s: --format %s: expected table, csv, json or markdown\n", prog, v);
    return -1;
}

static int cmd_report(int argc, char **argv)
{
    int top = -1, npaths = 0, by_callsite = 0;
    enum ta_format fmt = TA_FMT_TABLE;
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths)
        return 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        }
        if (strcmp(a, "--top") == 0 || strncmp(a, "--top=", 6) == 0) {
            const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : "");
            if (parse_top(v, &top) < 0) {
                free(paths);
                return 2;
            }
            continue;
        }
        if (strcmp(a, "--format") == 0 || strncmp(a, "--format=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : "");
            if (parse_format(v, &fmt) < 0) {
                free(paths);
                return 2;
            }
            continue;
        }
        if (strcmp(a, "--by-callsite") == 0) {
            by_callsite = 1;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                paths[npaths++] = argv[i];
            break;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s report: unknown option %s\n", prog, a);
            free(paths);
            return 2;
        }
        paths[npaths++] = argv[i];
    }
    char def[PATH_MAX];
    if (!npaths)
        paths[npaths++] = default_output(def, sizeof def);
    if (top < 0) /* --by-callsite kept its 20 sites per category */
        top = by_callsite ? 20 : DEFAULT_TOP;
    if (by_callsite) {
        int rc = ta_report_callsites(npaths, paths, top, stdout);
        free(paths);
        return rc;
    }
    struct ta_run *run = ta_run_load(npaths, paths, NULL);
    struct ta_summary *sum = ta_summary_new();
    int rc = 2;
    if (run && sum) {
        size_t nstats = 0;
        for (size_t k = 0; k < run->nprocs; k++)
            nstats += run->procs[k].has_stats;
        ta_summary_add_run(sum, run);
        if (npaths == 1) {
            struct stat st;
            if (stat(paths[0], &st) == 0 && S_ISDIR(st.st_mode))
                ta_summary_set_dir(sum, paths[0]);
        }
        /* processes without stats (--export json, SIGKILL) still show, from their traces;
         * 1 only when nothing at all could be shown */
        /* a --repeat directory: which runs are in the numbers (stderr under json/csv/md) */
        ta_run_repeat_note(run, fmt == TA_FMT_TABLE ? stdout : stderr);
        ta_summary_print_fmt(sum, stdout, top, fmt);
        rc = nstats == 0 && ta_summary_nprocs(sum) == 0 ? 1 : run->bad_files ? 1 : 0;
    }
    ta_run_free(run);
    ta_summary_free(sum);
    free(paths);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* tree */

static int cmd_tree(int argc, char **argv)
{
    int depth = 0, npaths = 0, per_process = 0;
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths)
        return 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        }
        if (strcmp(a, "--depth") == 0 || strncmp(a, "--depth=", 8) == 0) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            long d = strtol(v, &end, 10);
            if (!*v || *end || d < 0 || d > 1000) {
                fprintf(stderr, "%s: --depth %s: expected a number of levels\n", prog, v);
                free(paths);
                return 2;
            }
            depth = (int)d;
            continue;
        }
        if (strcmp(a, "--per-process") == 0) {
            per_process = 1;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                paths[npaths++] = argv[i];
            break;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s tree: unknown option %s\n", prog, a);
            free(paths);
            return 2;
        }
        paths[npaths++] = argv[i];
    }
    char def[PATH_MAX];
    if (!npaths)
        paths[npaths++] = default_output(def, sizeof def);
    int rc = ta_tree_print(npaths, paths, depth, per_process, stdout);
    free(paths);
    return rc;
}

static int cmd_waterfall(int argc, char **argv)
{
    int width = 0, top = DEFAULT_TOP, npaths = 0;
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths)
        return 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        }
        if (strcmp(a, "--width") == 0 || strncmp(a, "--width=", 8) == 0 ||
            strcmp(a, "--top") == 0 || strncmp(a, "--top=", 6) == 0) {
            int w = a[2] == 'w';
            const char *eq = strchr(a, '=');
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : "");
            int n;
            if (parse_top(v, &n) < 0) {
                free(paths);
                return 2;
            }
            *(w ? &width : &top) = n;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                paths[npaths++] = argv[i];
            break;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s waterfall: unknown option %s\n", prog, a);
            free(paths);
            return 2;
        }
        paths[npaths++] = argv[i];
    }
    char def[PATH_MAX];
    if (!npaths)
        paths[npaths++] = default_output(def, sizeof def);
    int rc = ta_waterfall_print(npaths, paths, width, top, stdout);
    free(paths);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(c, "--version") == 0 || strcmp(c, "-V") == 0 || strcmp(c, "version") == 0) {
        printf("traceagent %s\n", TRACEAGENT_VERSION);
        return 0;
    }
    if (strcmp(c, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(c, "report") == 0)
        return cmd_report(argc - 2, argv + 2);
    if (strcmp(c, "tree") == 0)
        return cmd_tree(argc - 2, argv + 2);
    if (strcmp(c, "waterfall") == 0)
        return cmd_waterfall(argc - 2, argv + 2);
    if (strcmp(c, "merge") == 0)
        return ta_merge_main(argc - 2, argv + 2);
    if (strcmp(c, "diff") == 0)
        return ta_diff_main(argc - 2, argv + 2);
    fprintf(stderr, "%s: unknown command '%s' (see traceagent --help)\n", prog, c);
    return 2;
}
