/* Call stacks, capture side (TRACEAGENT_STACKS, issue #19).
 *
 * libunwind is dlopen'ed (RTLD_LOCAL) by ta_stacks_init only when stacks are asked for: a
 * program run without TRACEAGENT_STACKS maps none. ta_stack_mask stays 0 until it is
 * loaded; ta_rec_commit (ta.h) tests it and comes here, cold, only when it is set.
 *
 * The capture is unw_backtrace: libunwind's fast path (x86_64 tdep_trace) walks the frames
 * through a per-thread cache of each return address's frame shape (CFA rule, where the
 * return address and rbp are), so a warm stack costs a few ns per frame and no system call,
 * lock or malloc. unw_init_local + unw_step interprets the DWARF CFI of every frame at each
 * capture (bench/NOTES.md row 33: ~400 times slower), so it is not used. What the first
 * capture of a thread (or of a new return address) does: the trace cache is created per
 * thread (pthread_once for its key, one mmap of its table: the agent's mmap wrapper sees it
 * under ta_guard, so nothing is recorded), and a miss finds the object's .eh_frame_hdr with
 * dl_iterate_phdr (the loader's lock) and decodes that frame's CFI; the per-thread caching
 * policy (set below) keeps the DWARF caches per thread too: with the default, global one,
 * every miss takes a lock and two sigprocmask calls.
 *
 * Frames inside libtraceagent.so (the commit, the wrapper, and any agent frame deeper
 * down) are left out by one range test on its executable segments, found once here. The
 * kept frames are return addresses, leaf (innermost caller) first, at most
 * TRACEAGENT_STACKS_DEPTH of them.
 *
 * Signal handlers: a record made in a handler takes no stack. Walking on through the signal
 * frame means walking from an arbitrary instruction of the interrupted code, which
 * libunwind has not cached: a miss, which calls dl_iterate_phdr (unsafe if the handler
 * interrupted the loader: its lock is recursive, its lists half changed) and costs 1.5-5 us
 * (a handler every 20 us then left sigio.c no time to run: agent/README.md). So the walk
 * is made in two steps: the first HANDLER_PROBE frames, which reach a handler's return
 * into glibc's signal trampoline (__restore_rt, found once from the agent's own SIGSEGV
 * handler's sa_restorer) when the call was made by a handler or a function it called
 * directly; only when that is not among them is the whole stack walked (the first walk is
 * kept when it already reached the stack's end). A handler that interrupts a capture
 * records nothing: the capture runs under ta_guard (which keeps libunwind's own open, read,
 * mmap and write out of the trace, and cannot tell the handler's calls from those). The
 * probe's buffer is small and the walk's is in a frame of its own, on the stack only once
 * the probe has passed: a handler on a small sigaltstack (bench/NOTES.md row 36).
 *
 * libunwind's fds: it opens a pipe for its memory checks at load and keeps it; ta_unwinding
 * (set around the load and each walk) makes posix.c's pipe2 move it high and register it
 * as the agent's, so the program's fds start at 3 and its close/dup2 never reach it. */
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ta.h"

uint32_t ta_stack_mask TA_HOT_DATA;
__thread unsigned char ta_unwinding __attribute__((tls_model("initial-exec")));

static int (*unw_bt)(void **buf, int size);
static uintptr_t self_lo, self_len; /* the agent's text: [self_lo, self_lo + self_len) */
static uint32_t every = 1, depth = 32;

/* Frames asked of libunwind beyond the depth: the agent's own at the top (the commit, the
 * wrapper, a family's helper) are left out after the walk. */
#define AGENT_SLACK (TA_STACK_WALK - TA_STACK_MAX)
/* The first walk: the agent's frames (3 for a posix wrapper: ta_stack_take, the commit,
 * the wrapper), the handler's (one, or two through a helper or an interposer such as
 * ASan's), its return into the signal trampoline: the agent's frames + 3. No further: the
 * frame after the trampoline is the interrupted instruction, and a walk asked for one more
 * would look that up (libunwind looks up frame k to find frame k+1). */
#define HANDLER_PROBE 6
#define HANDLER_PROBE_MAX 12
static uintptr_t restore_rt; /* glibc's signal trampoline; 0: unknown (no probe) */

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t a = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    int mine = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
            continue;
        uintptr_t s = info->dlpi_addr + p->p_vaddr, e = s + p->p_memsz;
        if (a >= s && a < e)
            mine = 1;
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (!mine)
        return 0;
    self_lo = lo;
    self_len = hi - lo;
    return 1;
}

void ta_stacks_init(void)
{
    ta_stack_mask = 0;
    if (!ta_cfg.stacks_mask)
        return;
    ta_guard++;
    /* libunwind's pipe (posix.c pipe2): opened here by the policy's call to its tdep_init,
     * else at the first walk */
    ta_unwinding = 1;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        ta_warn("TRACEAGENT_STACKS: cannot load libunwind.so.8 (%s): no call stacks; tracing "
                "goes on without them", e ? e : "?");
        ta_unwinding = 0;
        ta_guard--;
        return;
    }
    unw_bt = (int (*)(void **, int))dlsym(h, "unw_backtrace");
#if defined(__x86_64__)
    int (*policy)(void *, int) = (int (*)(void *, int))dlsym(h, "_ULx86_64_set_caching_policy");
    void **as = (void **)dlsym(h, "_ULx86_64_local_addr_space");
    if (policy && as && *as)
        policy(*as, 2 /* UNW_CACHE_PER_THREAD */);
#endif
    ta_unwinding = 0;
    if (!unw_bt) {
        ta_warn("TRACEAGENT_STACKS: libunwind.so.8 has no unw_backtrace: no call stacks; "
                "tracing goes on without them");
        ta_guard--;
        return;
    }
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&ta_stacks_init);
    /* the kernel returns from every handler glibc's sigaction installed into its
     * sa_restorer: the agent's SIGSEGV handler is installed by now (raw: the agent's
     * sigaction is a wrapper; the kernel's struct: handler, flags, restorer, mask) */
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } ks;
    if (syscall(SYS_rt_sigaction, SIGSEGV, NULL, &ks, sizeof ks.mask) == 0 &&
        (ks.flags & 0x04000000 /* SA_RESTORER */))
        restore_rt = (uintptr_t)ks.restorer;
    every = ta_cfg.stacks_every ? ta_cfg.stacks_every : 1;
    depth = ta_cfg.stacks_depth && ta_cfg.stacks_depth <= TA_STACK_MAX ? ta_cfg.stacks_depth
                                                                         : 32;
    ta_debug("call stacks on (categories 0x%x, one in %u, %u frames at most)",
             ta_cfg.stacks_mask, every, depth);
    ta_stack_mask = ta_cfg.stacks_mask;
    ta_guard--;
}

/* Made by a signal handler? The first frames, into buf (HANDLER_PROBE_MAX): -1 when they
 * reach the signal trampoline (a handler's record: no stack), n > 0 when they are the
 * whole stack (no second walk), 0 when the whole stack must be walked. A handler on a
 * small sigaltstack runs this, so the buffer is small and the big one (walk) is not on
 * the stack yet: agent/README.md gives what the capture takes of a handler's stack. */
static int probe(void **buf)
{
    if (!restore_rt)
        return 0;
    int saved = errno, n, p = HANDLER_PROBE, r = 0;
    ta_guard++;
    ta_unwinding = 1;
    for (;;) {
        n = unw_bt(buf, p);
        int top = 0; /* the agent's frames at the top */
        while (top < n && (uintptr_t)buf[top] - self_lo < self_len)
            top++;
        for (int i = top; i < n && !r; i++)
            if ((uintptr_t)buf[i] == restore_rt)
                r = -1;
        if (r)
            break;
        if (n < p) { /* the whole stack */
            r = n;
            break;
        }
        /* more of the agent's frames than the probe allowed for (a deeper wrapper, an
         * ASan build): once more, reaching as far past them */
        if (top + 3 > p && top + 3 <= HANDLER_PROBE_MAX) {
            p = top + 3;
            continue;
        }
        break;
    }
    ta_unwinding = 0;
    ta_guard--;
    errno = saved;
    return r;
}

/* The caller's frames, outside the agent, leaf first, into ips (TA_STACK_WALK): the n the
 * probe found, or the walk made into ips in place. errno as it was: a successful call
 * leaves errno to the program. */
static uint32_t walk(uint64_t *ips, void *const *pb, int n)
{
    void **raw = (void **)ips; /* u64 and pointers: the same 8 bytes on the targets built */
    if (n > 0) {
        for (int i = 0; i < n; i++)
            raw[i] = pb[i];
    } else {
        int saved = errno;
        ta_guard++;
        ta_unwinding = 1;
        n = unw_bt(raw, (int)depth + AGENT_SLACK);
        ta_unwinding = 0;
        ta_guard--;
        errno = saved;
    }
    uint32_t k = 0;
    for (int i = 0; i < n && k < depth; i++) {
        uintptr_t ip = (uintptr_t)raw[i];
        if (ip - self_lo < self_len)
            continue;
        ips[k++] = ip; /* k <= i: never ahead of what is read */
    }
    return k;
}

/* Does this record get a stack: its category, and TRACEAGENT_STACKS_EVERY */
static int wanted(struct ta_thread *t, const struct ta_rec *rec)
{
    const struct ta_op *op = rec->op;
    if (!op || op->cat >= 32 || !(ta_stack_mask & (1u << op->cat)))
        return 0;
    if (t->stack_skip) { /* TRACEAGENT_STACKS_EVERY: not this one */
        t->stack_skip--;
        return 0;
    }
    t->stack_skip = every - 1;
    return 1;
}

uint32_t ta_stack_take(struct ta_thread *t, const struct ta_rec *rec, uint64_t *ips)
{
    void *pb[HANDLER_PROBE_MAX];
    int n;
    if (!wanted(t, rec) || (n = probe(pb)) < 0)
        return 0;
    return walk(ips, pb, n);
}

/* The big buffer in a frame of its own, on the stack only once the probe has passed */
__attribute__((noinline)) static void commit_walked(struct ta_thread *t, void *const *pb, int n)
{
    uint64_t ips[TA_STACK_WALK];
    uint32_t nf = walk(ips, pb, n);
    if (!nf) {
        ta_rec_commit_plain(t);
        return;
    }
    ta_rec_commit_frames(t, ips, nf);
}

void ta_rec_commit_stack(struct ta_thread *t)
{
    struct ta_ring *r = &t->ring;
    const struct ta_rec *rec =
        &r->slots[atomic_load_explicit(&r->head, memory_order_relaxed) & r->mask];
    void *pb[HANDLER_PROBE_MAX];
    int n;
    if (!wanted(t, rec) || (n = probe(pb)) < 0) {
        ta_rec_commit_plain(t);
        return;
    }
    commit_walked(t, pb, n);
}
