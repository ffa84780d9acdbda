/* The agent's life in a process: start in a constructor, the files of this process, and the
 * ends of a process image: exit, _exit/_Exit, exec*, fork, and fatal signals.
 *
 * Every end flushes: the drainer is stopped and joined, every ring emptied, every exporter
 * finished (trace.json gets its closing "]", stats.json is written). A fatal signal has
 * the drainer thread do the same (stats.json then says "complete": false), then the
 * default action runs as before. */
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "ta.h"


struct ta_proc ta_proc;
_Atomic int ta_active;
uint32_t ta_trace_mask TA_HOT_DATA;

void ta_thread_init(void);
void ta_drainer_watch_main(int *addr);
extern __thread unsigned char ta_vforked __attribute__((tls_model("initial-exec")));
void ta_thread_prefork(void);
void ta_thread_postfork_parent(void);
void ta_thread_postfork_child(void);


/* ------------------------------------------------------------------------------------ */
/* Identity of the process and the names of its files                                   */

static void read_identity(int argc, char **argv)
{
    ta_proc.pid = (int)getpid();
    ta_proc.ppid = (int)getppid();
    /* the file the kernel executed, from the auxiliary vector: no syscall */
    const char *exe = (const char *)getauxval(AT_EXECFN);
    if (!exe || !*exe)
        exe = argc > 0 && argv && argv[0] ? argv[0] : "unknown";
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    if (!strncmp(base, "python3", 7)) /* python3.11 -> python3, as CONTRACT names it */
        base = "python3";
    ta_fmt(ta_proc.exe, sizeof ta_proc.exe, "%s", *base ? base : "unknown");
    struct utsname u;
    if (uname(&u) == 0)
        ta_fmt(ta_proc.host, sizeof ta_proc.host, "%s", u.nodename);
    /* argv is kept as given (the strings live as long as the process); interning and
     * copying wait for the exporters that need them, off the start-up path */
    ta_proc.argc = argc;
    ta_proc.argv = argv;
    size_t o = 0;
    ta_proc.cmdline[0] = 0;
    for (int i = 0; argv && i < argc && o < sizeof ta_proc.cmdline - 1; i++)
        o += (size_t)ta_fmt(ta_proc.cmdline + o, sizeof ta_proc.cmdline - o, "%s%s",
                            i ? " " : "", argv[i]);
}

static void read_start_time(void)
{
    struct timespec r;
    ta_proc.start_mono_ns = ta_mono_ns();
    clock_gettime(CLOCK_REALTIME, &r);
    ta_proc.start_real_ns = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
}

/* Children started from another directory must still find the agent and the output: make
 * both absolute in the environment they inherit. */
static void absolutize_env(void)
{
    char cwd[4096];
    if (ta_cfg.output[0] != '/' && syscall(SYS_getcwd, cwd, sizeof cwd) > 0) {
        char abs[sizeof ta_cfg.output];
        const char *rel = ta_cfg.output;
        if (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        /* a name longer than PATH_MAX could not be opened: keep the relative one */
        if ((size_t)ta_fmt(abs, sizeof abs, "%s/%s", cwd, rel) < sizeof abs - 64) {
            memcpy(ta_cfg.output, abs, sizeof abs);
            setenv("TRACEAGENT_OUTPUT", ta_cfg.output, 1);
        } else {
            ta_info("the output directory's absolute name is too long: children that change "
                    "directory will not find %s", ta_cfg.output);
        }
    }
    Dl_info info;
    const char *pre = getenv("LD_PRELOAD");
    const char *hit;
    if (pre && (pre[0] != '/' || strstr(pre, ":") || strstr(pre, " ")) && dladdr((void *)&absolutize_env, &info) && info.dli_fname &&
        info.dli_fname[0] != '/' && (hit = strstr(pre, info.dli_fname)) &&
        syscall(SYS_getcwd, cwd, sizeof cwd) > 0) {
        /* cwd/name as ld.so opened it; where that passes PATH_MAX (a deep cwd and a long
         * run of "../"), with its "." and ".." resolved against the cwd (which getcwd gives
         * free of symlinks): else it cannot be opened, and children that change directory
         * lose the agent */
        size_t cl = strlen(cwd), fl = strlen(info.dli_fname), jl = 0;
        char joined[sizeof cwd];
        if (cl + fl + 2 <= sizeof joined) {
            jl = (size_t)ta_fmt(joined, sizeof joined, "%s/%s", cwd, info.dli_fname);
        } else {
            memcpy(joined, cwd, cl + 1);
            jl = ta_path_join(joined, cl, sizeof joined, info.dli_fname, fl);
        }
        /* the list can be of any length (it was once cut, then looped on, at 8 KiB) */
        size_t n = strlen(pre) + jl + 1;
        char *out = jl ? malloc(n) : NULL;
        if (out) {
            int before = (int)(hit - pre);
            memcpy(out, pre, (size_t)before);
            ta_fmt(out + before, n - (size_t)before, "%s%s", joined, hit + fl);
            setenv("LD_PRELOAD", out, 1);
            free(out);
        }
    }
}

/* TRACEAGENT_CHILDREN=0: children started by any means (exec, system, posix_spawn) must not
 * load the agent: take it out of LD_PRELOAD in the environment they inherit. */
/* The agent's own file name: the last part of its path, which is how ld.so matches an
 * LD_PRELOAD entry against a loaded object. NULL if unknown. */
static const char *self_name(void)
{
    Dl_info info;
    if (!dladdr((void *)&self_name, &info) || !info.dli_fname)
        return NULL;
    const char *me = strrchr(info.dli_fname, '/');
    return me ? me + 1 : info.dli_fname;
}

/* The entry of an LD_PRELOAD list at or after p (entries are separated by ':' or ' '), its
 * length in *len, and in *mine whether its file name is `me`; NULL past the last one. */
static const char *preload_entry(const char *p, const char *me, size_t *len, bool *mine)
{
    while (*p == ':' || *p == ' ')
        p++;
    if (!*p)
        return NULL;
    size_t l = strcspn(p, ": "), ml = strlen(me);
    const char *base = p;
    for (size_t i = 0; i < l; i++)
        if (p[i] == '/')
            base = p + i + 1;
    *len = l;
    *mine = l - (size_t)(base - p) == ml && !strncmp(base, me, ml);
    return p;
}

static void drop_self_from_preload(void)
{
    const char *pre = getenv("LD_PRELOAD"), *me = self_name();
    if (!pre || !me)
        return;
    char *out = malloc(strlen(pre) + 1); /* the list can be of any length */
    if (!out)
        return;
    size_t o = 0, len;
    bool mine;
    for (const char *p = pre; (p = preload_entry(p, me, &len, &mine)); p += len)
        if (!mine) {
            if (o)
                out[o++] = ':';
            memcpy(out + o, p, len);
            o += len;
        }
    out[o] = 0;
    if (o)
        setenv("LD_PRELOAD", out, 1);
    else
        unsetenv("LD_PRELOAD");
    free(out);
}

/* ------------------------------------------------------------------------------------ */
/* Starting and stopping                                                                */

static void start_recording(void);

/* The thread that ends the process flushes (ta_flush_final); `flusher` is its tid, 0 while
 * none has begun. Reset when recording starts again (a fork child, a failed exec). */
static _Atomic int flusher, flush_done;
/* A signal that arrived on the flushing thread itself while it flushed: delivered again
 * once the flush is done (pending_sig). */
static volatile sig_atomic_t pending_sig;
_Atomic int ta_end_signal;

static void on_fork_prepare(void)
{
    ta_guard++;
    ta_dl_prefork(); /* families told of every library loaded before the fork */
    ta_families_hook(TA_HOOK_BEFORE_FORK);
    ta_drainer_prefork();
    ta_thread_prefork();
}

static void on_fork_parent(void)
{
    ta_thread_postfork_parent();
    ta_drainer_postfork_parent();
    ta_dl_postfork_parent();
    ta_guard--;
}

static void on_fork_child(void)
{
    ta_proc.pid = (int)getpid();
    ta_proc.ppid = (int)getppid();
    ta_dl_postfork_child();
    ta_thread_postfork_child();
    ta_drainer_after_fork_child();
    ta_families_hook(TA_HOOK_AFTER_FORK_CHILD);
    /* forked during the parent's final flush (from a signal handler): that flush is the
     * parent's; this child's own exit must not wait for it */
    atomic_store(&flusher, 0);
    atomic_store(&flush_done, 0);
    atomic_store(&ta_end_signal, 0);
    pending_sig = 0;
    /* the forking thread is this process's main thread: watch its tid instead */
    int *tid_addr = NULL;
    syscall(SYS_prctl, PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0);
    ta_drainer_watch_main(tid_addr);
    if (!atomic_load(&ta_active) || !ta_cfg.children) {
        atomic_store(&ta_active, 0);
        ta_trace_mask = 0;
    } else {
        read_start_time();
        start_recording();
        if (ta_self) /* this thread records already and will not attach again */
            ta_drainer_ensure_thread();
    }
    ta_guard--;
}

static void install_signal_handlers(void);
static void env_snapshot(void);

static void start_recording(void)
{
    if (ta_cfg.secure) /* AT_SECURE: never (a failed exec comes here too) */
        return;
    ta_choose_stem();
    atomic_store(&flusher, 0);
    atomic_store(&flush_done, 0);
    ta_trace_mask = ta_cfg.trace_mask;
    atomic_store(&ta_active, 1);
    ta_drainer_start();
    if (atomic_load(&ta_nsources)) /* sources are polled by the drainer thread */
        ta_drainer_ensure_thread();
}

__attribute__((constructor)) static void ta_init(int argc, char **argv, char **envp)
{
    (void)envp;
    ta_guard++;
    ta_intern_init();
    ta_config_load();
    read_start_time();
    read_identity(argc, argv);
    if (!ta_cfg.children && !ta_cfg.secure)
        drop_self_from_preload();
    ta_thread_init();
    ta_plugins_init(); /* the families resolve their real functions */
    if (ta_cfg.secure) { /* AT_SECURE (config.c): calls pass through, nothing else */
        ta_guard--;
        return;
    }
    int r = ta_sys_mkdir_p(ta_cfg.output);
    if (r < 0) {
        ta_warn("cannot create the output directory %s (errno %d); this process is not traced",
                ta_cfg.output, -r);
        ta_guard--;
        return;
    }
    if (ta_check_output_dir(ta_cfg.output) < 0) {
        ta_guard--;
        return;
    }
    ta_plugins_load();
    absolutize_env();
    env_snapshot();
    /* where the kernel clears the main thread's tid when it exits: the drainer watches it,
     * so that a process whose program threads are all gone does not live on (raw: the
     * agent's prctl is a wrapper) */
    int *tid_addr = NULL;
    if (ta_gettid() == ta_proc.pid &&
        syscall(SYS_prctl, PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0) == 0 && tid_addr)
        ta_drainer_watch_main(tid_addr);
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
    /* quick_exit ends in glibc's internal _exit, past the destructor and the agent's _exit:
     * flushed by the first handler registered, so the last to run */
    at_quick_exit(ta_flush_final);
    install_signal_handlers();
    /* libunwind, only when TRACEAGENT_STACKS asks; after the handlers: their sa_restorer
     * tells it glibc's signal trampoline */
    ta_stacks_init();
    start_recording();
    ta_debug("tracing %s (pid %d) into %s", ta_proc.exe, ta_proc.pid, ta_proc.stem);
    ta_guard--;
}

/* A vfork child (the agent's vfork says so), or a copy made past fork's handlers (clone by
 * hand): getpid differs. A getpid that fails (a seccomp filter returning an errno) is no
 * fork; after the program entered a seccomp sandbox no getpid is made at all. */
bool ta_sandboxed;
bool ta_in_forked_copy(void)
{
    if (ta_vforked)
        return true;
    if (ta_sandboxed)
        return false;
    int p = (int)syscall(SYS_getpid);
    return p > 0 && p != ta_proc.pid;
}

static void redeliver_pending(void);
static void restore_default(int sig);

/* On the drainer thread: the main thread has exited and no thread of the program is left
 * (pthread_exit from main and then the last worker; a raw exit or a seccomp strict-mode
 * kill of the only thread). Without the drainer the process would have ended: flush, then
 * end as it would have: by the main thread's signal, or exit() with its status (glibc's
 * last thread calls exit; after a seccomp sandbox, no exit handlers: the raw exit_group). */
__attribute__((noreturn)) void ta_orphaned(int code)
{
    int sig = code & 0x7f, z = 0;
    if (sig)
        atomic_compare_exchange_strong(&ta_end_signal, &z, sig);
    int me = ta_gettid(), other = 0;
    if (atomic_compare_exchange_strong(&flusher, &other, me)) {
        ta_trace_mask = 0;
        if (atomic_exchange(&ta_active, 0))
            ta_drainer_flush_inline(0);
        atomic_store(&flush_done, 1);
    }
    if (sig) {
        if (sig != SIGKILL && sig != SIGSTOP)
            restore_default(sig);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        syscall(SYS_tgkill, ta_proc.pid, me, sig);
        syscall(SYS_kill, ta_proc.pid, sig);
    }
    if (!ta_sandboxed)
        exit((code >> 8) & 0xff);
    syscall(SYS_exit_group, (code >> 8) & 0xff);
    __builtin_unreachable();
}

/* One thread flushes. Another that ends the process meanwhile (exit or _exit from a second
 * thread: its exit_group would kill the flush mid-write) waits for that flush, up to 5 s. */
void ta_flush_final(void)
{
    if (ta_in_forked_copy()) /* a vfork child: the parent's state is not ours to flush */
        return;
    ta_trace_mask = 0; /* wrappers pass straight through from here on */
    int me = ta_gettid(), other = 0;
    if (!atomic_compare_exchange_strong(&flusher, &other, me)) {
        for (int i = 0; other != me && i < 50000 && !atomic_load(&flush_done); i++) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        return;
    }
    if (atomic_exchange(&ta_active, 0)) {
        ta_guard++;
        if (ta_self) /* the exiting thread's name now (Python renames its main thread) */
            prctl(PR_GET_NAME, ta_self->name, 0, 0, 0);
        ta_drainer_stop_and_flush();
        ta_families_hook(TA_HOOK_AT_EXIT);
        ta_guard--;
    }
    atomic_store(&flush_done, 1);
    redeliver_pending();
}

__attribute__((destructor)) static void ta_fini(void) { ta_flush_final(); }

/* ------------------------------------------------------------------------------------ */
/* Fatal signals: flush (flush_for_signal), then let the signal do what it did before. Only
 * signals whose disposition is the default at start are taken; a program that installs
 * its own handler later replaces ours (and its handler's exit path, _exit or exit, still
 * flushes). */

static const int fatal_signals[] = {SIGSEGV, SIGBUS,  SIGFPE,  SIGILL,  SIGABRT, SIGSYS,
                                    SIGTRAP, SIGTERM, SIGINT,  SIGHUP,  SIGQUIT, SIGXCPU,
                                    SIGXFSZ, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static void restore_default(int sig);

const char *ta_sig_name(int sig, char *buf, size_t n)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
                 {SIGILL, "SIGILL"},   {SIGABRT, "SIGABRT"}, {SIGSYS, "SIGSYS"},
                 {SIGTRAP, "SIGTRAP"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
                 {SIGHUP, "SIGHUP"},   {SIGQUIT, "SIGQUIT"}, {SIGXCPU, "SIGXCPU"},
                 {SIGXFSZ, "SIGXFSZ"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
                 {SIGALRM, "SIGALRM"}, {SIGPIPE, "SIGPIPE"}, {SIGKILL, "SIGKILL"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    ta_fmt(buf, n, "SIG%d", sig);
    return buf;
}

/* A fault of the thread's own instruction (a SIGSEGV it caused): returning from the
 * handler runs the instruction again, so it cannot wait for anything. */
static bool synchronous(int sig, const siginfo_t *si)
{
    return si && si->si_code > 0 &&
           (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
            sig == SIGSYS);
}

/* The final flush for a fatal signal, stats included: handed to the drainer thread, which
 * the signal did not interrupt (the stats exporter allocates; the handler may not), waited
 * for at most 5 s. Returns false when the signal must wait until this thread's own flush
 * is done (it arrived in the middle of it). */
static bool flush_for_signal(int sig, const siginfo_t *si)
{
    int z = 0;
    atomic_compare_exchange_strong(&ta_end_signal, &z, sig);
    int me = ta_gettid(), other = 0;
    if (!atomic_compare_exchange_strong(&flusher, &other, me)) {
        if (other == me) { /* this thread was flushing: finish that, then die */
            /* the flush itself faulted, or is over (a SIGPIPE from stdio's own flush at
             * exit, after the agent's destructor): die now, nothing would redeliver it */
            if (synchronous(sig, si) || atomic_load(&flush_done))
                return true;
            pending_sig = sig;
            return false;
        }
        /* another thread flushes (exit, or another signal): wait for it */
        for (int i = 0; i < 5000 && !atomic_load(&flush_done); i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        return true;
    }
    ta_trace_mask = 0; /* wrappers pass straight through from here on */
    if (atomic_exchange(&ta_active, 0)) {
        ta_guard++;
        if (ta_self) /* ranges this thread has open, closed as unfinished */
            ta_close_open_ranges(ta_self);
        int r = ta_drainer_flush_for_signal(5000);
        if (r < 0 && !atomic_load(&ta_threads_attached))
            ta_drainer_flush_inline(1); /* nothing recorded: nothing to allocate for */
        else if (r < 0)
            ta_flush_signal(); /* no drainer thread: the trace, signal-safely */
        ta_guard--;
    }
    atomic_store(&flush_done, 1);
    return true;
}

/* A thread in a strict seccomp sandbox (prctl below) cannot read a clock: the kernel
 * disables rdtsc for it (a SIGSEGV), the vDSO reads the TSC too, and clock_gettime as a
 * system call kills it. The agent's own rdtsc there (ta_now, ta_now_end: `rdtsc`, 0f 31)
 * is answered here with the newest tick the drainer read (it runs outside the sandbox and
 * reads the clock each cycle, every 4 ms at most for a sandboxed process) for a span's
 * start, one tick past the thread's previous answer for its end (and at least that for a
 * start): its calls are recorded in order, timed to within a drain cycle, ~0 ns long. No
 * system call: the return is rt_sigreturn, which strict mode allows. Without this, the
 * agent's first stamp in the sandbox ended the program (its SIGSEGV, then the agent's
 * gettid in the handler: SIGKILL), on hosts whose kernel honours the TSC's disabling. */
static __thread unsigned char tsc_emulated __attribute__((tls_model("initial-exec")));
static __thread uint64_t tsc_emulated_last __attribute__((tls_model("initial-exec")));
extern char __ehdr_start[] __attribute__((visibility("hidden")));
extern char _etext[] __attribute__((visibility("hidden"))); /* GNU ld and lld */

static bool emulate_rdtsc(int sig, const siginfo_t *si, void *ucv)
{
#if defined(__x86_64__)
    /* the kernel's own SIGSEGV for the faulting instruction, not one sent by kill */
    if (sig != SIGSEGV || !tsc_emulated || !ucv || !si || si->si_code != SI_KERNEL)
        return false;
    ucontext_t *uc = ucv;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    if (ip < (const unsigned char *)__ehdr_start || ip + 2 > (const unsigned char *)_etext ||
        ip[0] != 0x0f || ip[1] != 0x31)
        return false; /* not the agent's rdtsc: what would happen without the agent */
    /* a span's start is `lfence; rdtsc` (0f ae e8 before it): the newest tick; its end,
     * a bare rdtsc: one tick after the start */
    uint64_t v = tsc_emulated_last + 1;
    if (ip >= (const unsigned char *)__ehdr_start + 3 && ip[-3] == 0x0f && ip[-2] == 0xae &&
        ip[-1] == 0xe8) {
        uint64_t recent = atomic_load_explicit(&ta_clock_recent, memory_order_relaxed);
        v = recent > v ? recent : v;
    }
    tsc_emulated_last = v;
    uc->uc_mcontext.gregs[REG_RAX] = (long long)(uint32_t)v;
    uc->uc_mcontext.gregs[REG_RDX] = (long long)(v >> 32);
    uc->uc_mcontext.gregs[REG_RIP] += 2;
    return true;
#else
    (void)sig;
    (void)si;
    (void)ucv;
    return false;
#endif
}

static void on_fatal_signal(int sig, siginfo_t *si, void *uc)
{
    if (emulate_rdtsc(sig, si, uc))
        return;
    int saved = errno;
    if (!ta_in_forked_copy() && !flush_for_signal(sig, si)) {
        errno = saved; /* delivered again at the end of this thread's flush */
        return;
    }
    /* back to the default action, and deliver the signal again when we return */
    restore_default(sig);
    raise(sig);
    errno = saved;
}

/* A signal that came while this thread flushed: now that the flush is done, it does what
 * it would have done without the agent. */
static void redeliver_pending(void)
{
    int sig = pending_sig;
    if (!sig)
        return;
    pending_sig = 0;
    restore_default(sig);
    raise(sig);
}

/* owned[sig]: the agent's handler is installed and the program has not replaced it. The
 * program is shown the disposition it would have without the agent (SIG_DFL), so that it
 * behaves the same: Python, for one, installs its SIGINT handler only over SIG_DFL. */
static _Atomic unsigned char owned[65];

TA_REAL(int, sigaction, int, const struct sigaction *, struct sigaction *)
TA_REAL(sighandler_t, signal, int, sighandler_t)

/* No alternate signal stack: the program would see one where it has none (sigaltstack),
 * and its own SA_ONSTACK handlers would run on it (a handler with a large frame crashed on
 * the 64 KiB the agent once installed). A stack overflow therefore ends the program
 * without the agent's flush: its trace is cut short, as by SIGKILL. */
static void install_signal_handlers(void)
{
    if (!ta_get_real_sigaction())
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++) {
        int sig = fatal_signals[i];
        struct sigaction cur;
        /* one call each: install, and put back what was there unless it was the default
         * (ignored or handled already: leave it) */
        if (real_sigaction(sig, &sa, &cur) != 0)
            continue;
        if (cur.sa_handler == SIG_DFL && !(cur.sa_flags & SA_SIGINFO))
            owned[sig] = 1;
        else
            real_sigaction(sig, &cur, NULL);
    }
}

static void restore_default(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    owned[sig] = 0;
    if (ta_get_real_sigaction())
        real_sigaction(sig, &sa, NULL);
}

/* Is the agent's handler still the one installed for sig? A program can replace it past
 * the wrappers (`signal` is `__sysv_signal` under strict ISO C, and bsd_signal, sigset):
 * then the kernel says so, and the agent lets go of it. */
static bool still_owned(int sig)
{
    if (sig <= 0 || sig > 64 || !owned[sig])
        return false;
    struct sigaction cur;
    if (real_sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_fatal_signal)
        return true;
    owned[sig] = 0;
    return false;
}

/* The program puts a fatal signal back to SIG_DFL after a handler of its own (`timeout`
 * does, before it ends by the signal its child died of): the agent's handler takes it
 * again, so that this death too leaves stats.json. */
static int take_back(int sig, struct sigaction *oldact)
{
    bool fatal = false;
    for (size_t i = 0; i < NFATAL; i++)
        fatal |= fatal_signals[i] == sig;
    if (!fatal || !atomic_load(&ta_active))
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (real_sigaction(sig, &sa, oldact) != 0)
        return -1;
    owned[sig] = 1;
    return 0;
}

TA_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oldact)
{
    if (!ta_get_real_sigaction()) {
        errno = ENOSYS;
        return -1;
    }
    if (!still_owned(sig)) {
        int r;
        if (act && !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_DFL &&
            (r = take_back(sig, oldact)) <= 0)
            return r;
        return real_sigaction(sig, act, oldact);
    }
    if (oldact) {
        memset(oldact, 0, sizeof *oldact);
        oldact->sa_handler = SIG_DFL;
    }
    if (act && (act->sa_flags & SA_SIGINFO || act->sa_handler != SIG_DFL)) {
        owned[sig] = 0; /* the program's own handler or SIG_IGN from now on */
        return real_sigaction(sig, act, NULL);
    }
    return 0; /* SIG_DFL asked, and the agent's handler ends in the default action */
}

TA_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    if (!ta_get_real_signal()) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    if (!ta_get_real_sigaction())
        return real_signal(sig, handler);
    if (!still_owned(sig)) {
        struct sigaction old;
        int r;
        if (handler == SIG_DFL && (r = take_back(sig, &old)) <= 0)
            return r < 0 ? SIG_ERR
                 : old.sa_flags & SA_SIGINFO ? (sighandler_t)(void (*)(void))old.sa_sigaction
                                             : old.sa_handler;
        return real_signal(sig, handler);
    }
    if (handler != SIG_DFL) {
        owned[sig] = 0;
        real_signal(sig, handler);
    }
    return SIG_DFL;
}

void ta_flush_signal(void) { ta_drain_signal(); }

/* prctl(PR_SET_SECCOMP): the program enters a sandbox. From then on the agent makes no
 * system call of its own on the program's threads where it can help it (no getpid to
 * tell a forked copy; a full ring drops instead of waiting). What the agent would do
 * lazily on this thread's first recorded call (map its ring, start the drainer thread:
 * mmap, gettid, clone, ...) is done now, while the program still may: strict mode allows
 * only read, write, exit and sigreturn, and an allow-list filter kills on the rest. A
 * filter installed with syscall(SYS_seccomp), as libseccomp does, is not seen: a thread
 * that recorded nothing before it may be killed by its first recorded call. */
TA_REAL(int, prctl, int, unsigned long, unsigned long, unsigned long, unsigned long)

TA_EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP && !ta_guard) {
        if (!ta_self && !ta_vforked && atomic_load(&ta_active) &&
            (ta_trace_mask & ~(1u << TA_CAT_AGENT)) && !ta_in_forked_copy())
            ta_thread_attach();
        ta_sandboxed = true;
    }
    /* Strict mode: no clock from then on. The agent's rdtsc is answered (emulate_rdtsc)
     * where its SIGSEGV handler is the one installed (asked of the kernel: a handler set
     * by sigset or a raw rt_sigaction passes the wrappers by) and SIGSEGV is not blocked
     * (a blocked one kills); else, and with CLOCK_MONOTONIC (its read is the vDSO's rdtsc
     * or a system call, inline in every wrapper: a check there would cost each call),
     * this thread's calls are no longer recorded. Decided now, while system calls are
     * allowed; its stamps go on from the last real one. A wrapped call made later in a
     * handler of the program's that masks SIGSEGV still dies of the fault. */
    bool strict = option == PR_SET_SECCOMP && a2 == SECCOMP_MODE_STRICT, emulate = false;
    uint64_t before = 0;
    if (strict && !ta_guard && ta_clock_tsc && still_owned(SIGSEGV)) {
        sigset_t cur;
        emulate = pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && !sigismember(&cur, SIGSEGV);
        before = ta_now();
    }
    int r = ta_get_real_prctl() ? real_prctl(option, a2, a3, a4, a5)
                                : (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
    if (strict && r == 0) {
        if (emulate) {
            tsc_emulated_last = before;
            tsc_emulated = 1;
        } else {
            ta_guard++;
        }
    }
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* daemon: glibc's forks and ends the parent with its internal _exit, out of the agent's
 * sight: the parent's trace was left without its closing `]` and without stats.json, and
 * the child's fds 0-2 (on /dev/null from then on) kept the paths they had. Done here as
 * glibc 2.36 does it, through the wrappers (the child's open, dup2 and close of /dev/null
 * are in its trace). */
TA_EXPORT int daemon(int nochdir, int noclose)
{
    switch (fork()) {
    case -1:
        return -1;
    case 0:
        break;
    default:
        _exit(0);
    }
    if (setsid() == -1)
        return -1;
    if (!nochdir)
        (void)chdir("/");
    if (!noclose) {
        struct stat st;
        int fd = open("/dev/null", O_RDWR);
        if (fd == -1 || fstat(fd, &st) != 0) {
            int e = errno;
            if (fd != -1)
                close(fd);
            errno = e;
            return -1;
        }
        if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
            close(fd);
            errno = ENODEV;
            return -1;
        }
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > 2)
            close(fd);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* vfork: the child runs in the parent's memory, on the parent thread's stack and TLS, until
 * it execs or exits (Python's subprocess, posix_spawn-like launchers). What it does must
 * not land in the parent's trace or fd table: its calls would be recorded under the
 * parent's pid and tid, and its close/open/dup2 of 0-2 would rename the parent's fds. So
 * the child runs with ta_guard raised (nothing is recorded) and ta_vforked set (the fd
 * table is left alone: TA_UPKEEP); the parent, which resumes only once the child has
 * execed or exited, puts both back as they were.
 *
 * Written as glibc's vfork is (x86_64: sysdeps/unix/sysv/linux/x86_64/vfork.S): the return
 * address is popped into a register before the system call and pushed back after it, since
 * the child's calls overwrite the stack below the caller's frame before the parent returns
 * through it; the saved values live in registers, which are the parent's own again when it
 * resumes. No shadow-stack handling: the agent is not built for CET. */
__thread unsigned char ta_vforked __attribute__((tls_model("initial-exec")));

#if defined(__x86_64__) && !defined(__ILP32__)
__attribute__((used)) static long vfork_failed(long neg_errno)
{
    errno = (int)-neg_errno;
    return -1;
}

static void env_buf_free(void);

/* The parent, resumed (its child has execed or exited): the buffer the child built an
 * environment in (child_env) is in this memory, and no longer used. Returns the pid. */
__attribute__((used)) static long vfork_parent(long pid)
{
    int e = errno;
    env_buf_free();
    errno = e;
    return pid;
}

__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "  .cfi_startproc\n"
        "  movq ta_guard@GOTTPOFF(%rip), %rsi\n"
        "  movl %fs:(%rsi), %edx\n" /* ta_guard as it was */
        "  movq ta_vforked@GOTTPOFF(%rip), %r8\n"
        "  movzbl %fs:(%r8), %r9d\n" /* ta_vforked as it was */
        "  popq %rdi\n"
        "  .cfi_adjust_cfa_offset -8\n"
        "  .cfi_register %rip, %rdi\n"
        "  movl $58, %eax\n" /* SYS_vfork */
        "  syscall\n"
        "  pushq %rdi\n"
        "  .cfi_adjust_cfa_offset 8\n"
        "  .cfi_rel_offset %rip, 0\n"
        "  cmpq $-4095, %rax\n"
        "  jae 2f\n"
        "  testl %eax, %eax\n"
        "  jnz 1f\n"
        "  leal 1(%rdx), %ecx\n" /* the child: nothing recorded, the table left alone */
        "  movl %ecx, %fs:(%rsi)\n"
        "  movb $1, %fs:(%r8)\n"
        "  ret\n"
        "1:\n" /* the parent: as before, whatever the child left */
        "  movl %edx, %fs:(%rsi)\n"
        "  movb %r9b, %fs:(%r8)\n"
        "  movq %rax, %rdi\n"
        "  jmp vfork_parent\n"
        "2:\n"
        "  movq %rax, %rdi\n"
        "  jmp vfork_failed\n"
        "  .cfi_endproc\n"
        ".size vfork, .-vfork\n"
        ".globl __vfork\n"
        ".set __vfork, vfork\n");
#endif

/* ------------------------------------------------------------------------------------ */
/* _exit, _Exit: Python's multiprocessing workers and many forked children leave this way,
 * skipping destructors. */

TA_REAL(void, _exit, int)
TA_REAL(void, _Exit, int)

TA_EXPORT void _exit(int status)
{
    ta_flush_final();
    void (*f)(int) = ta_get_real__exit();
    if (f)
        f(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

TA_EXPORT void _Exit(int status)
{
    ta_flush_final();
    void (*f)(int) = ta_get_real__Exit();
    if (f)
        f(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

/* ------------------------------------------------------------------------------------ */
/* exec*: the image ends here. Flush it completely; the new image is traced again (the
 * environment carries LD_PRELOAD and the configuration). If the exec fails, this image
 * goes on and is traced into new files. */

/* was_active: the image was traced when it called exec. One that was not (its output
 * directory refused or not made, a fork child under TRACEAGENT_CHILDREN=0) stays so. */
static void exec_failed(int was_active)
{
    if (!was_active || ta_in_forked_copy() || atomic_load(&ta_active))
        return;
    ta_guard++;
    read_start_time();
    ta_drainer_after_fork_child(); /* fresh exporter state; the rings are still ours */
    start_recording();
    ta_drainer_ensure_thread();
    ta_guard--;
}

static void before_exec(void)
{
    if (!ta_in_forked_copy())
        ta_flush_final();
}

/* The environment a new image gets: with children traced, the agent's own LD_PRELOAD
 * entry and the TRACEAGENT_* variables are put back when the environment the program
 * passes lacks them (Python's subprocess with env={...}, clearenv() then execv, an envp
 * whose LD_PRELOAD names other libraries). What is put back was taken at start-up
 * (env_snapshot), not read from the live environment at exec: other threads may setenv
 * and unsetenv meanwhile (a getenv that returned NULL the second time crashed the
 * program), and the program may have cleared it. */
#define SNAP_MAX 32
/* The sanitized build (make test-asan) keeps its runtime's settings for children too. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_VAR(e) (!strncmp(e, "ASAN_OPTIONS=", 13) || !strncmp(e, "UBSAN_OPTIONS=", 14) || \
                          !strncmp(e, "TA_SANITIZER_LOG=", 17))
#else
#define SANITIZER_VAR(e) 0
#endif
static char snap_mem[16384];
static const char *snap[SNAP_MAX]; /* "TRACEAGENT_X=value" */
static size_t nsnap;
static const char *self_entry; /* the agent's entry in LD_PRELOAD, as a path */
static size_t self_len;

static void env_snapshot(void)
{
    extern char **environ;
    nsnap = 0;
    self_entry = NULL;
    if (!ta_cfg.children || getauxval(AT_SECURE))
        return;
    size_t o = 0;
    for (char **e = environ; e && *e && nsnap < SNAP_MAX; e++) {
        size_t l = strlen(*e) + 1;
        if ((strncmp(*e, "TRACEAGENT_", 11) && !SANITIZER_VAR(*e)) || o + l > sizeof snap_mem)
            continue;
        memcpy(snap_mem + o, *e, l);
        snap[nsnap++] = snap_mem + o;
        o += l;
    }
    const char *pre = getenv("LD_PRELOAD"), *me = self_name();
    if (!pre || !me)
        return;
    size_t len;
    bool mine;
    for (const char *p = pre; (p = preload_entry(p, me, &len, &mine)); p += len) {
        if (mine && o + len + 1 <= sizeof snap_mem) {
#if defined(__SANITIZE_ADDRESS__)
            len += (size_t)(p - pre); /* the ASan runtime before it comes along, first */
            p = pre;
            if (o + len + 1 > sizeof snap_mem)
                return;
#endif
            memcpy(snap_mem + o, p, len);
            snap_mem[o + len] = 0;
            self_entry = snap_mem + o;
            self_len = len;
            return;
        }
    }
}

/* Does the LD_PRELOAD value v name the agent (by its file name, as ld.so finds it)? */
static bool names_self(const char *v)
{
    const char *me = strrchr(self_entry, '/');
    me = me ? me + 1 : self_entry;
    size_t len;
    bool mine;
    for (const char *p = v; (p = preload_entry(p, me, &len, &mine)); p += len)
        if (mine)
            return true;
    return false;
}

/* The buffer a changed environment is built in: mapped with a raw system call (no malloc:
 * this may run in a vfork child or after fork in a threaded program; no big stack frame:
 * the thread may have 64 KiB). Unmapped when the exec fails. A vfork child's buffer lives
 * in the parent's memory after the child's exec: the parent unmaps it when it resumes
 * (vfork_parent below), through this thread's TLS, which the child shares. */
static __thread void *env_buf __attribute__((tls_model("initial-exec")));
static __thread size_t env_buf_len __attribute__((tls_model("initial-exec")));

static void env_buf_free(void)
{
    if (env_buf) {
        ta_sys_munmap(env_buf, env_buf_len);
        env_buf = NULL;
    }
}

#define PRELOAD_ROOM 8192

/* envp itself when nothing is missing (or nothing can be done); never NULL unless envp is. */
static char **child_env(char *const envp[])
{
    if (!ta_cfg.children || (!nsnap && !self_entry))
        return (char **)envp;
    /* one pass to size the copy; the copy itself takes at most that many entries, so an
     * array another thread grows meanwhile (environ, by setenv) cannot overflow it */
    size_t n = 0;
    while (envp && envp[n])
        n++;
    size_t len = (n + SNAP_MAX + 2) * sizeof(char *) + sizeof snap_mem + PRELOAD_ROOM + 64;
    len = (len + 4095) & ~(size_t)4095;
    env_buf_free();
    char **out = ta_sys_mmap(len);
    if (!out)
        return (char **)envp;
    env_buf = out;
    env_buf_len = len;
    char *str = (char *)(out + n + SNAP_MAX + 2), *str_end = (char *)out + len;
    size_t m = 0, pre_at = (size_t)-1;
    bool have[SNAP_MAX] = {false};
    for (size_t i = 0; i < n; i++) {
        char *e = envp[i]; /* each entry read once */
        if (!e)
            break;
        out[m] = e;
        if (!strncmp(e, "LD_PRELOAD=", 11))
            pre_at = m;
        else if (!strncmp(e, "TRACEAGENT_", 11))
            for (size_t k = 0; k < nsnap; k++) {
                size_t kl = strcspn(snap[k], "=") + 1;
                if (!strncmp(e, snap[k], kl))
                    have[k] = true;
            }
        m++;
    }
    size_t m0 = m;
    if (self_entry) {
        const char *v = pre_at != (size_t)-1 ? out[pre_at] + 11 : NULL;
        if (!v || !names_self(v)) {
            size_t vl = v ? strlen(v) : 0;
            if (vl + self_len + 16 < (size_t)(str_end - str) && vl < PRELOAD_ROOM - 16) {
                char *e = str;
#if defined(__SANITIZE_ADDRESS__) /* the ASan runtime must come first */
                str += ta_fmt(str, (size_t)(str_end - str), "LD_PRELOAD=%s%s%s", self_entry,
                              vl ? ":" : "", v ? v : "") + 1;
#else
                str += ta_fmt(str, (size_t)(str_end - str), "LD_PRELOAD=%s%s%s", v ? v : "",
                              vl ? ":" : "", self_entry) + 1;
#endif
                if (pre_at != (size_t)-1)
                    out[pre_at] = e;
                else
                    out[m++] = e;
            }
        }
    }
    for (size_t k = 0; k < nsnap; k++)
        if (!have[k])
            out[m++] = (char *)snap[k];
    out[m] = NULL;
    if (m == m0 && (pre_at == (size_t)-1 || out[pre_at] == envp[pre_at])) {
        env_buf_free(); /* nothing was missing */
        return (char **)envp;
    }
    return out;
}

TA_REAL(int, execve, const char *, char *const[], char *const[])
TA_REAL(int, execvpe, const char *, char *const[], char *const[])
TA_REAL(int, fexecve, int, char *const[], char *const[])
TA_REAL(int, execveat, int, const char *, char *const[], char *const[], int)

static int do_exec(int which, const char *path, int fd, char *const argv[], char *const envp[],
                   int flags)
{
    char **env = child_env(envp);
    int was_active = atomic_load(&ta_active);
    before_exec();
    int r = -1;
    if (which == 0 && ta_get_real_execve())
        r = real_execve(path, argv, env);
    else if (which == 1 && ta_get_real_execvpe())
        r = real_execvpe(path, argv, env);
    else if (which == 2 && ta_get_real_fexecve())
        r = real_fexecve(fd, argv, env);
    else if (which == 3)
        r = ta_get_real_execveat() ? real_execveat(fd, path, argv, env, flags)
                                   : (int)syscall(SYS_execveat, fd, path, argv, env, flags);
    else
        errno = ENOSYS;
    int e = errno;
    env_buf_free();
    exec_failed(was_active);
    errno = e;
    return r;
}

TA_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return do_exec(0, path, -1, argv, envp, 0);
}
TA_EXPORT int execv(const char *path, char *const argv[]) { return do_exec(0, path, -1, argv, environ, 0); }
TA_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return do_exec(1, file, -1, argv, envp, 0);
}
TA_EXPORT int execvp(const char *file, char *const argv[]) { return do_exec(1, file, -1, argv, environ, 0); }
TA_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    return do_exec(2, NULL, fd, argv, envp, 0);
}
TA_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                       int flags)
{
    return do_exec(3, path, dirfd, argv, envp, flags);
}

/* execl, execlp, execle: collect the variadic arguments, then as above. */
#define COLLECT_ARGS(first, ap, argv)                                           \
    size_t n_ = 1;                                                              \
    va_start(ap, first);                                                        \
    while (va_arg(ap, char *))                                                  \
        n_++;                                                                   \
    va_end(ap);                                                                 \
    char *argv[n_ + 1];                                                         \
    argv[0] = (char *)first;                                                    \
    va_start(ap, first);                                                        \
    for (size_t i_ = 1; i_ <= n_; i_++)                                         \
        argv[i_] = va_arg(ap, char *);

#include <stdarg.h>
TA_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    va_end(ap);
    return do_exec(0, path, -1, argv, environ, 0);
}
TA_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    va_end(ap);
    return do_exec(1, file, -1, argv, environ, 0);
}
TA_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return do_exec(0, path, -1, argv, envp, 0);
}
