/* bench/startup.c: what the agent adds to the start (and end) of a program that does
 * nothing.
 *
 *   startup AGENT.so [NOP.so] [N] [OUTDIR] [PROG]
 *
 * posix_spawn()s PROG (default /bin/true) N times (default 500) in each configuration,
 * interleaved (untraced, agent, nop, untraced, agent, nop, ...) so that drift and noise hit
 * them alike, and times each from spawn to waitpid with CLOCK_MONOTONIC. The agent's runs
 * get LD_PRELOAD=AGENT.so and TRACEAGENT_OUTPUT=OUTDIR (default /tmp/ta-bench-startup);
 * the environment is otherwise the caller's, less any LD_PRELOAD it has.
 * Pass "-" as NOP.so to leave the no-op agent out.
 *
 * Prints one line of key=value pairs, times in microseconds:
 *   n untraced_med_us agent_med_us nop_med_us agent_added_us nop_added_us
 *   untraced_p10_us agent_p10_us failures
 * `agent_added_us` is the median over the N rounds of (agent - untraced) in the same round. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, int p)
{
    double *c = malloc((size_t)n * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    int i = (int)((long)(n - 1) * p / 100);
    double r = c[i];
    if (p == 50 && n % 2 == 0)
        r = (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return r;
}

/* environ without LD_PRELOAD / TRACEAGENT_OUTPUT, plus `extra` (NULL-terminated). */
static char **make_env(char *const *extra)
{
    int n = 0, k = 0;
    while (environ[n])
        n++;
    int m = 0;
    while (extra && extra[m])
        m++;
    char **e = calloc((size_t)(n + m + 1), sizeof *e);
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "TRACEAGENT_OUTPUT=", 18))
            e[k++] = environ[i];
    for (int i = 0; i < m; i++)
        e[k++] = extra[i];
    e[k] = NULL;
    return e;
}

static int failures;

static double run_once(const char *prog, char **env)
{
    char *argv[] = {(char *)prog, NULL};
    pid_t pid;
    uint64_t t0 = now_ns();
    if (posix_spawn(&pid, prog, NULL, NULL, argv, env) != 0) {
        failures++;
        return 0;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    uint64_t t1 = now_ns();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        failures++;
    return (double)(t1 - t0) / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: startup AGENT.so [NOP.so|-] [N] [OUTDIR] [PROG]\n");
        return 2;
    }
    const char *agent = argv[1];
    const char *nop = argc > 2 && strcmp(argv[2], "-") ? argv[2] : NULL;
    int n = argc > 3 ? atoi(argv[3]) : 500;
    const char *outdir = argc > 4 ? argv[4] : "/tmp/ta-bench-startup";
    const char *prog = argc > 5 ? argv[5] : "/bin/true";
    if (n < 1)
        n = 1;

    char pre_a[4200], pre_n[4200], out[4200];
    snprintf(pre_a, sizeof pre_a, "LD_PRELOAD=%s", agent);
    snprintf(pre_n, sizeof pre_n, "LD_PRELOAD=%s", nop ? nop : "");
    snprintf(out, sizeof out, "TRACEAGENT_OUTPUT=%s", outdir);
    char *xa[] = {pre_a, out, NULL}, *xn[] = {pre_n, out, NULL};
    char **env_u = make_env(NULL), **env_a = make_env(xa), **env_n = make_env(xn);

    double *u = calloc((size_t)n, sizeof *u), *a = calloc((size_t)n, sizeof *a);
    double *p = calloc((size_t)n, sizeof *p), *da = calloc((size_t)n, sizeof *da);
    double *dn = calloc((size_t)n, sizeof *dn);
    /* warm-up: page cache, the dynamic linker's cache */
    for (int i = 0; i < 10; i++) {
        run_once(prog, env_u);
        run_once(prog, env_a);
        if (nop)
            run_once(prog, env_n);
    }
    failures = 0;
    for (int i = 0; i < n; i++) {
        /* rotate the order, so no configuration always comes first */
        for (int k = 0; k < 3; k++) {
            switch ((i + k) % 3) {
            case 0: u[i] = run_once(prog, env_u); break;
            case 1: a[i] = run_once(prog, env_a); break;
            case 2:
                if (nop)
                    p[i] = run_once(prog, env_n);
                break;
            }
        }
        da[i] = a[i] - u[i];
        dn[i] = p[i] - u[i];
    }
    printf("n=%d untraced_med_us=%.1f agent_med_us=%.1f nop_med_us=%.1f agent_added_us=%.1f "
           "nop_added_us=%.1f untraced_p10_us=%.1f agent_p10_us=%.1f failures=%d\n",
           n, pct(u, n, 50), pct(a, n, 50), nop ? pct(p, n, 50) : -1, pct(da, n, 50),
           nop ? pct(dn, n, 50) : -1, pct(u, n, 10), pct(a, n, 10), failures);
    return failures ? 1 : 0;
}
