/* The stack table and the symbolizer (agent/stackdb.c, agent/elfsym.c), for
 * tests/t58_symbolize.sh. Built two ways:
 *   -DSYM_UNIT with the agent's stackdb.c, elfsym.c and sys.c linked in (stubs below for
 *              the rest of the agent): ta_frame_lookup called directly, and the test hooks;
 *   plain, run under the agent: the lookups through the plug-in interface (api->frame).
 * Return addresses come from calls inside known functions: prog_global and prog_static in
 * the executable, liba_global, liba_static and hdr_fn in libsyma.so (linked), libb_fn in the
 * library named by LIBB (dlopen'ed), symtest::cxx_fn(int) in libsymcxx.so (C++, linked).
 * Commands:
 *   prog frames LIBB         one line per function: name, the return address, the
 *                            function's own address, then what the lookup says:
 *                            rc, library, offset, function, file, line ("-" for none);
 *                            then "lowfd", the lowest free fd before and after
 *   prog intern              (unit) interning and call sites; "ok ..." / "bad ..." lines
 *   prog trunc LIBB FILE...  (unit) each FILE read in place of libsyma.so (a forked child
 *                            each): the frames lines of liba's three functions
 *   prog debugroot DIR LIBB  (unit) frames, with DIR as the debug files' root
 *   prog time LIBB           (unit) ns of a first lookup per object and of a cached one */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef SYM_UNIT
#include "ta.h"
#include "elfsym.h"
#else
#include <traceagent_plugin.h>
#endif

void *liba_global(void);
extern void *(*const liba_static_ptr)(void);
extern void *(*const liba_hdr_ptr)(void);
void *cxx_probe(void);
extern void *const cxx_addr;

static volatile int sink;
__attribute__((noinline)) static void *grab(void) { return __builtin_return_address(0); }

__attribute__((noinline)) static void *prog_static(void)
{
    void *r = grab();
    sink++;
    return r;
}

__attribute__((noinline)) void *prog_global(void)
{
    void *r = grab();
    sink++;
    return r;
}

static int (*lookup)(uint64_t ip, struct ta_frame_info *out);

struct probe {
    const char *name;
    void *(*fn)(void);
    void *addr; /* the function the return address is in, when not fn */
};

static void frame_line(const char *name, void *ip, void *fn)
{
    struct ta_frame_info fi;
    memset(&fi, 0, sizeof fi);
    fi.size = sizeof fi;
    int rc = lookup((uint64_t)(uintptr_t)ip, &fi);
    printf("%s\t%p\t%p\t%d\t%s\t0x%llx\t%s\t%s\t%u\n", name, ip, fn, rc,
           fi.library ? fi.library : "-", (unsigned long long)fi.offset,
           fi.function ? fi.function : "-", fi.file ? fi.file : "-", fi.line);
}

static int probes(const char *libb, struct probe *p)
{
    int n = 0;
    p[n++] = (struct probe){"prog_global", prog_global, NULL};
    p[n++] = (struct probe){"prog_static", prog_static, NULL};
    p[n++] = (struct probe){"liba_global", liba_global, NULL};
    p[n++] = (struct probe){"liba_static", liba_static_ptr, NULL};
    p[n++] = (struct probe){"hdr_fn", liba_hdr_ptr, NULL};
    void *h = dlopen(libb, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", libb, dlerror());
        exit(2);
    }
    p[n++] = (struct probe){"libb_fn", (void *(*)(void))dlsym(h, "libb_fn"), NULL};
    p[n++] = (struct probe){"cxx_fn", cxx_probe, cxx_addr};
    return n;
}

/* libc's own function (under the agent, the program's fopen is the agent's wrapper) */
static void *libc_sym(const char *name)
{
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    return h ? dlsym(h, name) : NULL;
}

static void frames(const char *libb)
{
    struct probe p[8];
    /* the lowest free fd, before and after: the lookups' files must leave none taken */
    int fd0 = dup(0);
    close(fd0);
    int n = probes(libb, p);
    for (int i = 0; i < n; i++)
        frame_line(p[i].name, p[i].fn(), p[i].addr ? p[i].addr : (void *)p[i].fn);
    /* libc's fopen (its .dynsym: Debian's libc has no .symtab), the vdso, anonymous memory */
    void *fo = libc_sym("fopen");
    frame_line("libc_fopen", (char *)fo + 8, fo);
    void *vdso = (void *)getauxval(AT_SYSINFO_EHDR);
    if (vdso)
        frame_line("vdso", (char *)vdso + 16, vdso);
    void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    frame_line("anon", (char *)anon + 16, anon);
    int fd1 = dup(0);
    printf("lowfd\t%d\t%d\n", fd0, fd1);
}

#ifdef SYM_UNIT
/* The rest of the agent, as far as stackdb.c and elfsym.c use it */
struct ta_proc ta_proc;
void ta_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "traceagent[%d]: ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
int ta_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
int ta_ro_open(const char *path, int *slot)
{
    *slot = ta_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    return *slot;
}
void ta_out_close(int *slot)
{
    ta_sys_close(*slot);
    *slot = -1;
}
static uint64_t dropped_stack;
void ta_dropped_add(const char *cause, uint64_t n)
{
    if (!strcmp(cause, "stack"))
        dropped_stack += n;
}

static int fails;
static void expect(int cond, const char *what)
{
    printf("%s %s\n", cond ? "ok" : "bad", what);
    fails += !cond;
}

static void intern_checks(void)
{
    uint64_t a[4] = {0x1000, 0x2000, 0x3000, 0x4000}, b[4] = {0x1000, 0x2000, 0x3000, 0x4001};
    uint64_t c[4] = {0x2000, 0x1000, 0x3000, 0x4000};
    expect(ta_stack_intern(a, 0) == 0, "no frames: id 0");
    uint32_t ia = ta_stack_intern(a, 4), ib = ta_stack_intern(b, 4), ic = ta_stack_intern(c, 4);
    uint32_t ip = ta_stack_intern(a, 3);
    expect(ia == 1 && ib == 2 && ic == 3 && ip == 4, "ids 1..4 in order of first sight");
    expect(ta_stack_intern(a, 4) == ia && ta_stack_intern(c, 4) == ic &&
               ta_stack_intern(a, 3) == ip,
           "the same frames give the same id");
    expect(ta_stack_count() == 4, "count 4");
    uint32_t n = 99;
    const uint64_t *f = ta_stack_ips(ib, &n);
    expect(f && n == 4 && !memcmp(f, b, sizeof b), "ips of an id are its frames");
    expect(!ta_stack_ips(0, &n) && n == 0 && !ta_stack_ips(5, &n), "ips of 0 or an unknown id: none");

    /* call sites: frames in libc are skipped, the first outside it is the site */
    uint64_t lc = (uint64_t)(uintptr_t)libc_sym("fopen") + 8;
    uint64_t lc2 = (uint64_t)(uintptr_t)libc_sym("fread") + 8;
    uint64_t me = (uint64_t)(uintptr_t)prog_global() , la = (uint64_t)(uintptr_t)liba_global();
    void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t s1[4] = {lc, lc2, la, me}, s2[2] = {lc, lc2}, s3[2] = {me, lc}, s4[2] = {lc, (uint64_t)(uintptr_t)anon + 8};
    expect(ta_stack_site(ta_stack_intern(s1, 4)) == 2, "site: past two libc frames, liba's");
    expect(ta_stack_site(ta_stack_intern(s2, 2)) == 0, "site: all in libc, 0");
    expect(ta_stack_site(ta_stack_intern(s3, 2)) == 0, "site: the leaf when it is the program");
    expect(ta_stack_site(ta_stack_intern(s4, 2)) == 1, "site: unmapped code is not the C runtime");
    expect(ta_stack_site(0) == 0 && ta_stack_site(999999) == 0, "site of 0 or unknown id: 0");

    /* 100000 distinct stacks of 32 frames fit (3.2M frames); 64 addresses in all */
    uint32_t before = ta_stack_count(), got = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        uint64_t deep[32];
        for (uint32_t k = 0; k < 32; k++)
            deep[k] = 0x7100000 + 32 * k + (k < 17 ? ((i >> k) & 1) : 0);
        got += ta_stack_intern(deep, 32) == before + i + 1;
    }
    expect(got == 100000 && dropped_stack == 0, "100000 distinct stacks of 32 frames fit");

    /* fill: ids stay dense, the table says 0 once full, earlier ids keep their frames */
    before = ta_stack_count();
    uint32_t last = 0, zero_at = 0;
    uint64_t fr[2];
    for (uint32_t i = 0; i < 400000 && !zero_at; i++) {
        fr[0] = 0x7000000 + i;
        fr[1] = i;
        uint32_t id = ta_stack_intern(fr, 2);
        if (!id)
            zero_at = i;
        else if (id != before + i + 1)
            break;
        else
            last = id;
    }
    printf("full after %u stacks\n", last);
    expect(zero_at && last == ta_stack_count() && last > 200000, "a full table gives 0, ids dense to the end");
    expect(dropped_stack == 1, "a full table counts the stack it cannot take as dropped \"stack\"");
    fr[0] = 0x7000000 + 5;
    fr[1] = 5;
    expect(ta_stack_intern(fr, 2) == before + 6, "a full table still finds the stacks it has");
    f = ta_stack_ips(ia, &n);
    expect(f && n == 4 && !memcmp(f, a, sizeof a), "earlier ids keep their frames");
}

static const char *trunc_file;
static const char *hook(const char *path)
{
    size_t n = strlen(path);
    return n >= 11 && !strcmp(path + n - 11, "libsyma.so") ? trunc_file : NULL;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static void timing(const char *libb)
{
    struct probe p[8];
    int n = probes(libb, p);
    struct ta_frame_info fi = {.size = sizeof fi};
    for (int i = 0; i < n; i++) {
        void *ip = p[i].fn();
        double t0 = now_ns();
        lookup((uint64_t)(uintptr_t)ip, &fi);
        double t1 = now_ns();
        int reps = 100000;
        for (int k = 0; k < reps; k++)
            lookup((uint64_t)(uintptr_t)ip, &fi);
        double t2 = now_ns();
        printf("time %s first %.0f ns cached %.1f ns\n", p[i].name, t1 - t0, (t2 - t1) / reps);
    }
    void *fo = libc_sym("fopen");
    double t0 = now_ns();
    lookup((uint64_t)(uintptr_t)fo + 8, &fi);
    printf("time libc first %.0f ns\n", now_ns() - t0);
}
#endif

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef SYM_UNIT
    lookup = ta_frame_lookup;
    if (argc >= 2 && !strcmp(argv[1], "intern")) {
        intern_checks();
        return fails != 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "trunc")) {
        ta_elf_path_hook = hook;
        struct probe p[8];
        probes(argv[2], p);
        for (int i = 3; i < argc; i++) {
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                trunc_file = argv[i];
                frame_line("liba_global", liba_global(), (void *)liba_global);
                frame_line("liba_static", liba_static_ptr(), (void *)liba_static_ptr);
                frame_line("hdr_fn", liba_hdr_ptr(), (void *)liba_hdr_ptr);
                fflush(stdout);
                _exit(0);
            }
            int st = 0;
            waitpid(pid, &st, 0);
            printf("exit\t%s\t%d\n", argv[i], st);
        }
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "debugroot")) {
        ta_elf_debug_root = argv[2];
        frames(argv[3]);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "time")) {
        timing(argv[2]);
        return 0;
    }
#else
    const struct ta_plugin_api *api = ta_plugin_get();
    if (!api || !api->frame) {
        fprintf(stderr, "no agent interface\n");
        return 2;
    }
    lookup = api->frame;
#endif
    if (argc >= 3 && !strcmp(argv[1], "frames")) {
        frames(argv[2]);
        return 0;
    }
    fprintf(stderr, "usage: prog frames LIBB | intern | trunc LIBB FILE... | debugroot DIR LIBB | time LIBB\n");
    return 2;
}
