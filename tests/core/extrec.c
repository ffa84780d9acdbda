/* t43: records longer than one slot, a batch source on named tracks, scopes and a plug-in's
 * drop cause, seen by an exporter of its own, through the plug-in interface alone.
 *
 *   extrec THREADS N [fork]
 *
 * The program is its own plug-in: its constructor (after the agent's) registers a family
 * "extrec", a source and an exporter "extcheck". Each of THREADS threads records N events
 * whose payloads (0, 1, 56, 57, 200, 4000, ... bytes) follow from (thread, seq), so the
 * exporter can check each arrives whole and in order. The source hands over events on two
 * named tracks, one of them only when polled with final = 1. The exporter writes what it
 * saw to <stem>.extcheck (key value lines); stdout gets `sent N` and the scope checks. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <traceagent.h>
#include <traceagent_plugin.h>

static const struct ta_plugin_api *ta;
static const uint32_t sizes[] = {0, 1, 56, 57, 200, 4000, 63, 64, 120, 121, 3000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static unsigned char pattern(uint64_t th, uint64_t seq, uint32_t len, uint32_t i)
{
    return (unsigned char)(th * 131 + seq * 31 + i * 7 + len);
}

static struct ta_op op_rec = {.name = "extrec", .shape = TA_SHAPE_SPAN};
static struct ta_op op_gpu = {.name = "kernel", .shape = TA_SHAPE_SPAN, .name_from_str = 1,
                              .layer = TA_LAYER_DEVICE};
static struct ta_op op_launch = {.name = "launch", .shape = TA_SHAPE_SPAN};
static struct ta_op op_sig = {.name = "in_handler", .shape = TA_SHAPE_INSTANT};
static struct ta_op *const ops[] = {&op_rec, &op_gpu, &op_launch, &op_sig, NULL};
static const struct ta_family fam = {.size = sizeof fam, .name = "extrec", .ops = ops};
static int cat = -1;

/* ------------------------------------------------------------------------------------ */
/* The exporter: checks, then writes what it saw at the end */

#define MAXTH 64
static struct {
    int tid;
    long long last; /* last seq seen */
} th[MAXTH];
static unsigned long recv, bad, order, noext, marker_outer, src_events, src_bad, final_only;
static unsigned long sig_recv, sig_bad;
static unsigned long by_size[NSIZES];
static uint64_t ring_full, reentry, test_lost, too_long;
static struct {
    uint32_t track;
    int tid, named;
    char name[64];
} tracks[4];
static int ntracks, track_errors;
static uint32_t want_scope;

static void x_track_name(uint32_t track, int tid, const char *name)
{
    for (int i = 0; i < ntracks; i++)
        if (tracks[i].track == track) {
            tracks[i].named++; /* named twice: an error the test sees */
            return;
        }
    if (ntracks < 4) {
        tracks[ntracks].track = track;
        tracks[ntracks].tid = tid;
        tracks[ntracks].named = 1;
        snprintf(tracks[ntracks].name, sizeof tracks[0].name, "%s", name);
        ntracks++;
    }
}

static void x_event(const struct ta_event *ev)
{
    const struct ta_rec *r = ev->rec;
    if (ev->op == &op_rec) {
        if (ev->track || ev->scope || !ev->cat || strcmp(ev->cat, "extrec"))
            bad++;
        uint64_t t = r->u.u64[0], seq = r->u.u64[1];
        uint32_t len = (uint32_t)r->u.u64[2];
        recv++;
        for (unsigned i = 0; i < NSIZES; i++)
            if (sizes[i] == len)
                by_size[i]++;
        if (len == 0) {
            if (ev->ext || ev->ext_len || (r->flags & TA_F_EXT))
                bad++;
        } else if (!ev->ext || ev->ext_len != len || !(r->flags & TA_F_EXT)) {
            noext++;
        } else {
            for (uint32_t i = 0; i < len; i++)
                if (ev->ext[i] != pattern(t, seq, len, i)) {
                    bad++;
                    break;
                }
        }
        int k = 0;
        while (k < MAXTH && th[k].tid && th[k].tid != ev->tid)
            k++;
        if (k < MAXTH) {
            if (!th[k].tid) {
                th[k].tid = ev->tid;
                th[k].last = -1;
            }
            if ((long long)seq <= th[k].last)
                order++;
            th[k].last = (long long)seq;
        }
        return;
    }
    if (ev->op == &op_sig) {
        sig_recv++;
        uint64_t seq = r->u.u64[1];
        if (!ev->ext || ev->ext_len != 57)
            sig_bad++;
        else
            for (uint32_t i = 0; i < 57; i++)
                if (ev->ext[i] != pattern(1000, seq, 57, i))
                    sig_bad++;
        return;
    }
    if (ev->op == &op_gpu) {
        src_events++;
        int named = 0;
        for (int i = 0; i < ntracks; i++)
            if (tracks[i].track == ev->track && tracks[i].tid == ev->tid)
                named = 1;
        if (!named || ev->tid < (1 << 22))
            track_errors++;
        if (ev->ts_ns != r->t0 || ev->dur_ns != r->t1 - r->t0 || !ev->cat ||
            strcmp(ev->cat, "extrec") || ev->scope != want_scope || !ev->name ||
            strncmp(ev->name, "gpu_", 4))
            src_bad++;
        if (ev->ext_len != 100 || !ev->ext)
            src_bad++;
        else
            for (int i = 0; i < 100; i++)
                if (ev->ext[i] != (unsigned char)(i ^ r->u.u32[0]))
                    src_bad++;
        if (!strcmp(ev->name, "gpu_final"))
            final_only++;
        return;
    }
    if (ev->cat && !strcmp(ev->cat, "marker") && ev->name && !strcmp(ev->name, "outer"))
        marker_outer++;
}

static void x_dropped(const char *cause, uint64_t total)
{
    if (!strcmp(cause, "ring_full"))
        ring_full = total;
    else if (!strcmp(cause, "signal_reentry"))
        reentry = total;
    else if (!strcmp(cause, "test_lost"))
        test_lost = total;
    else if (!strcmp(cause, "ext_too_long"))
        too_long = total;
}

static void x_after_fork(void)
{
    memset(th, 0, sizeof th);
    recv = bad = order = noext = marker_outer = src_events = src_bad = final_only = 0;
    memset(by_size, 0, sizeof by_size);
    ring_full = reentry = test_lost = too_long = 0;
    memset(tracks, 0, sizeof tracks);
    ntracks = track_errors = 0;
}

static void x_finish(void)
{
    char path[4200], buf[4096];
    snprintf(path, sizeof path, "%s.extcheck", ta->out_stem());
    int n = snprintf(buf, sizeof buf,
                     "recv %lu\nbad %lu\norder %lu\nnoext %lu\nthreads %d\nmarker_outer %lu\n"
                     "src_events %lu\nsrc_bad %lu\nfinal_only %lu\nring_full %llu\n"
                     "reentry %llu\ntest_lost %llu\ntoo_long %llu\ntracks %d\n"
                     "track_errors %d\n",
                     recv, bad, order, noext, 0, marker_outer, src_events, src_bad, final_only,
                     (unsigned long long)ring_full, (unsigned long long)reentry,
                     (unsigned long long)test_lost, (unsigned long long)too_long, ntracks,
                     track_errors);
    int nth = 0;
    while (nth < MAXTH && th[nth].tid)
        nth++;
    n += snprintf(buf + n, sizeof buf - n, "nthreads %d\nsig_recv %lu\nsig_bad %lu\n", nth,
                  sig_recv, sig_bad);
    for (unsigned i = 0; i < NSIZES; i++)
        n += snprintf(buf + n, sizeof buf - n, "size_%u %lu\n", sizes[i], by_size[i]);
    for (int i = 0; i < ntracks; i++)
        n += snprintf(buf + n, sizeof buf - n, "track %u tid %d named %d name %s\n",
                      tracks[i].track, tracks[i].tid, tracks[i].named, tracks[i].name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        if (write(fd, buf, (size_t)n) != n)
            n = -1;
        close(fd);
    }
}

static const struct ta_exporter exp = {.size = sizeof exp,
                                       .name = "extcheck",
                                       .event = x_event,
                                       .dropped = x_dropped,
                                       .finish = x_finish,
                                       .after_fork = x_after_fork,
                                       .track_name = x_track_name};

/* ------------------------------------------------------------------------------------ */
/* The source: events the program queues (under a lock: poll runs on the drainer) */

static pthread_mutex_t src_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ta_rec src_q[64];
static uint32_t src_track[64];
static int src_n;
static uint32_t track_a, track_b, name_final;

static void src_emit_one(void (*emit)(const struct ta_event *), const struct ta_rec *r,
                         uint32_t track)
{
    unsigned char ext[100];
    for (int i = 0; i < 100; i++)
        ext[i] = (unsigned char)(i ^ r->u.u32[0]);
    struct ta_event ev = {.size = sizeof ev, .rec = r, .track = track, .scope = want_scope, .ext = ext,
                          .ext_len = 100};
    emit(&ev);
}

static void src_poll(void (*emit)(const struct ta_event *), int final)
{
    pthread_mutex_lock(&src_mu);
    for (int i = 0; i < src_n; i++)
        src_emit_one(emit, &src_q[i], src_track[i]);
    src_n = 0;
    pthread_mutex_unlock(&src_mu);
    if (final && name_final) { /* held until the end: only a final poll hands it over */
        struct ta_rec r = {.op = &op_gpu, .flags = TA_F_NS, .str = name_final};
        r.t0 = ta->now_ns();
        r.t1 = r.t0 + 5000;
        r.u.u32[0] = 99;
        src_emit_one(emit, &r, track_b);
    }
}

static void src_after_fork(void)
{
    pthread_mutex_lock(&src_mu);
    src_n = 0; /* the parent's events are the parent's */
    pthread_mutex_unlock(&src_mu);
}

static const struct ta_source src = {.size = sizeof src, .name = "extsrc", .poll = src_poll,
                                     .after_fork_child = src_after_fork};

static void src_queue(const char *name, uint32_t track, uint32_t salt)
{
    struct ta_rec r = {.op = &op_gpu, .flags = TA_F_NS, .str = ta->intern(name, strlen(name))};
    r.t0 = ta->now_ns();
    r.t1 = r.t0 + 1000 + salt;
    r.u.u32[0] = salt;
    pthread_mutex_lock(&src_mu);
    if (src_n < 64) {
        src_q[src_n] = r;
        src_track[src_n++] = track;
    }
    pthread_mutex_unlock(&src_mu);
}

__attribute__((constructor)) static void init(void)
{
    if (!(ta = ta_plugin_get()))
        return;
    cat = ta->add_family(&fam);
    ta->add_exporter(&exp);
    ta->add_source(&src);
}

/* ------------------------------------------------------------------------------------ */
/* The program */

static long n_each;
static _Atomic long sent, sig_sent;

/* A signal handler that records a 57-byte payload on the thread it interrupts: inside
 * another record's window it must be dropped and counted (signal_reentry), never mixed
 * into the record being written. */
static void on_prof(int sig)
{
    (void)sig;
    ta_thread_t *t = ta->enter(cat);
    if (!t)
        return;
    uint64_t seq = (uint64_t)atomic_fetch_add(&sig_sent, 1);
    unsigned char ext[57];
    for (uint32_t i = 0; i < 57; i++)
        ext[i] = pattern(1000, seq, 57, i);
    struct ta_rec *r = ta->begin(t, 57);
    if (r) {
        memset(r, 0, sizeof *r);
        r->op = &op_sig;
        r->t0 = r->t1 = ta->now();
        r->u.u64[1] = seq;
        r->depth = ta->depth(t);
        ta->commit(t, ext, 57);
    }
    ta->leave(t);
}

static void *worker(void *arg)
{
    uint64_t me = (uint64_t)(uintptr_t)arg;
    static _Thread_local unsigned char ext[4000];
    for (long seq = 0; seq < n_each; seq++) {
        uint32_t len = sizes[(seq + me) % NSIZES];
        ta_thread_t *t = ta->enter(cat);
        if (!t)
            continue;
        uint64_t t0 = ta->now();
        struct ta_rec *r = ta->begin(t, len);
        if (r) {
            r->op = &op_rec;
            r->t0 = t0;
            r->t1 = ta->now();
            r->u.u64[0] = me;
            r->u.u64[1] = (uint64_t)seq;
            r->u.u64[2] = len;
            r->str = r->str2 = 0;
            r->fd = -1;
            r->err = 0;
            r->depth = ta->depth(t);
            r->flags = 0;
            for (uint32_t i = 0; i < len; i++)
                ext[i] = pattern(me, (uint64_t)seq, len, i);
            ta->commit(t, len ? ext : NULL, len);
        }
        atomic_fetch_add(&sent, 1);
        ta->leave(t);
    }
    return NULL;
}

static int check(const char *what, int cond)
{
    printf("%s - %s\n", cond ? "ok" : "not ok", what);
    return cond;
}

int main(int argc, char **argv)
{
    if (!ta || cat < 0) {
        printf("not ok - the agent's plug-in interface (ta_plugin_get, add_family)\n");
        return 1;
    }
    int nth = argc > 1 ? atoi(argv[1]) : 4;
    n_each = argc > 2 ? atol(argv[2]) : 1000;
    int do_fork = argc > 3 && !strcmp(argv[3], "fork");
    int do_sig = argc > 3 && !strcmp(argv[3], "sig");

    /* scopes: the open ranges, outermost first, then the launch */
    traceagent_range_push("outer");
    traceagent_range_push("inner");
    uint32_t k1 = ta->intern("k1", 2);
    uint32_t s1 = ta->scope(&op_launch, k1);
    uint32_t s1again = ta->scope(&op_launch, k1);
    uint32_t s_inner = ta->scope(NULL, 0);
    traceagent_range_pop();
    uint32_t s_outer = ta->scope(&op_launch, k1);
    traceagent_range_pop();
    uint32_t s_root = ta->scope(NULL, 0);
    const struct ta_op *op;
    const char *name;
    int path_ok = s1 != 0;
    uint32_t p = ta->scope_parent(s1, &op, &name);
    path_ok &= op == &op_launch && !strcmp(name, "k1") && p == s_inner;
    p = ta->scope_parent(p, &op, &name);
    path_ok &= op && !strcmp(op->name, "range") && !strcmp(name, "inner");
    uint32_t outer_node = p;
    p = ta->scope_parent(p, &op, &name);
    path_ok &= op && !strcmp(op->name, "range") && !strcmp(name, "outer") && p == 0;
    check("scope: the same path gives the same id", s1 == s1again);
    check("scope: outer > inner > launch k1, walked back to the root", path_ok);
    check("scope: another path another id", s_outer != s1 && s_outer != s_inner && s_outer &&
                                                 ta->scope_parent(s_outer, &op, &name) ==
                                                     outer_node);
    check("scope: no range open and no op is the root", s_root == 0);
    want_scope = s1;
    /* the cost of a scope at a launch, three ranges deep (a hit: nothing allocated) */
    traceagent_range_push("a");
    traceagent_range_push("b");
    traceagent_range_push("c");
    /* this thread's CPU time, best of 5 runs: on a loaded machine wall time counts the
     * time other processes had the CPU */
    struct timespec a0, a1;
    uint32_t acc = 0, s3 = ta->scope(&op_launch, k1);
    double ns = 1e9;
    for (int run = 0; run < 5; run++) {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a0);
        for (int i = 0; i < 20000; i++)
            acc += ta->scope(&op_launch, k1) != s3;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a1);
        double r = ((a1.tv_sec - a0.tv_sec) * 1e9 + (a1.tv_nsec - a0.tv_nsec)) / 20000;
        ns = r < ns ? r : ns;
    }
    traceagent_range_pop();
    traceagent_range_pop();
    traceagent_range_pop();
    printf("scope_ns %.0f\n", ns);
    check("scope: the same id every time, three ranges deep", acc == 0 && s3 && s3 != s1);

    track_a = ta->track_new("GPU 0 stream 7");
    track_b = ta->track_new("GPU 0 stream 8");
    check("tracks: ids from 1, the same for the same name",
          track_a >= 1 && track_b >= 1 && track_a != track_b &&
              ta->track_new("GPU 0 stream 7") == track_a);
    name_final = ta->intern("gpu_final", 9);

    ta->dropped("test_lost", 3);
    ta->dropped("test_lost", 4);
    ta_thread_t *t = ta->enter(cat);
    check("a payload longer than TA_EXT_MAX is refused", t && !ta->begin(t, TA_EXT_MAX + 1));
    if (t)
        ta->leave(t);

    pthread_t tids[64];
    if (nth > 64)
        nth = 64;
    if (do_sig) { /* CPU-time signals, to whichever thread is running */
        struct sigaction sa = {.sa_handler = on_prof, .sa_flags = SA_RESTART};
        sigaction(SIGPROF, &sa, NULL);
        struct itimerval it = {{0, 100}, {0, 100}};
        setitimer(ITIMER_PROF, &it, NULL);
    }
    for (int i = 0; i < nth; i++)
        pthread_create(&tids[i], NULL, worker, (void *)(uintptr_t)i);
    for (int i = 0; i < 10; i++) {
        src_queue("gpu_a", track_a, (uint32_t)i);
        src_queue("gpu_b", track_b, (uint32_t)(100 + i));
        usleep(2000);
    }
    for (int i = 0; i < nth; i++)
        pthread_join(tids[i], NULL);
    if (do_sig) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_PROF, &off, NULL);
        printf("sig_sent %ld\n", (long)sig_sent);
    }
    if (do_fork) {
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) { /* the child: one thread, one track used again */
            n_each = 200;
            sent = 0;
            worker((void *)(uintptr_t)7);
            src_queue("gpu_a", track_a, 7);
            name_final = 0;
            printf("child_sent %ld\n", (long)sent);
            fflush(stdout);
            exit(0);
        }
        int st;
        waitpid(c, &st, 0);
    }
    printf("sent %ld\n", (long)sent);
    return 0;
}
