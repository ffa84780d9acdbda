/* Call stacks on the drainer's side (issue #19): the stack table, the objects of the
 * process, and the frames' symbols. Drainer thread only (and the thread that ends the
 * process, which holds the drain): the callers are serialised, so nothing here locks. May
 * allocate; never runs on a program's hot path.
 *
 * The stack table: append-only, one id per distinct list of resolved frames, 1..count in
 * order of first sight. Each frame is resolved when its stack is interned (the drainer
 * sees a record within a cycle of its capture, usually before a dlclose): a stack keeps,
 * next to its return addresses, the answers (struct finfo) of the objects mapped then, so
 * its names stay those even after the object is unloaded and another one takes its
 * addresses; the same addresses in another object make another stack. Frames are stored
 * once per stack in one reserved mapping (FRAMES_MAX in all: 12 bytes a frame, touched as
 * used), indexed by an open-addressing hash of the addresses. Full (frames or ids): intern
 * gives 0 and counts the loss as dropped "stack" (stats.json's `dropped`). A forked child
 * keeps the parent's table (its objects are at the same addresses), so the drainer's
 * after-fork path leaves it alone.
 *
 * Objects: the loader's list (dl_iterate_phdr), cached, read again when the loader's
 * load/unload counts (dlpi_adds/dlpi_subs) moved: each intern looks at them (one
 * dl_iterate_phdr call that stops at its first entry). An object unloaded since keeps its
 * entry (as gone) and the stacks that named it; the cached answers for its addresses are
 * dropped, so later stacks are resolved in what is mapped there now. Symbols of an object
 * are read at its first frame (elfsym.c). A library unloaded before the drainer saw the
 * records taken in it cannot be named (its frames are "0x..."): agent/README.md. */
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ta.h"
#include "elfsym.h"

/* ------------------------------------------------------------------------------------ */
/* The objects of the process */

#define MAX_SEGS 8
struct obj {
    uint64_t bias;
    uint64_t lo[MAX_SEGS], hi[MAX_SEGS]; /* its PT_LOAD segments, in memory */
    int nseg;
    char *name; /* dlpi_name, as the loader has it (may be relative) */
    char *path; /* the file: absolute where it could be found */
    int vdso, crt, gone, seen;
    struct ta_elf *elf; /* read at its first frame */
};

static struct obj **objs; /* each allocated once, never freed: frames point at them */
static int nobjs, capobjs;
static unsigned long long dl_adds = ~0ull, dl_subs = ~0ull;
static uint32_t gen = 1; /* moves when cached answers are dropped (objects came or went) */

/* The runtimes, whose frames are not a call site: the C runtime (libc, libm, libpthread,
 * libdl, ld.so) and the C++ and Fortran ones (libstdc++, libgcc_s, libgfortran), in which
 * an ifstream read or a Fortran READ makes its calls */
static int is_crt(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    return !strncmp(b, "libc.so", 7) || !strncmp(b, "libm.so", 7) ||
           !strncmp(b, "libpthread.so", 13) || !strncmp(b, "libdl.so", 8) ||
           (!strncmp(b, "ld-linux", 8) && strstr(b, ".so")) ||
           !strncmp(b, "libstdc++.so", 12) || !strncmp(b, "libgcc_s.so", 11) ||
           !strncmp(b, "libgfortran.so", 14);
}

static char *exe_path(void)
{
    char buf[4096];
    long n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return strdup(ta_proc.exe[0] ? ta_proc.exe : "[exe]");
    buf[n] = 0;
    return strdup(buf);
}

/* The absolute path of the file mapped at addr, from /proc/self/maps (read through the
 * agent's own fd): a library dlopen'ed by a relative name ("./liba.so") is named so by the
 * loader, and the program may have changed directory since. NULL when not found. */
static char *maps_path(uint64_t addr)
{
    int slot = -1;
    if (ta_ro_open("/proc/self/maps", &slot) < 0)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (long r = 1; buf && r > 0;) {
        if (len == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
        r = syscall(SYS_read, slot, buf + len, cap - len);
        if (r > 0)
            len += (size_t)r;
    }
    ta_out_close(&slot);
    if (!buf)
        return NULL;
    buf[len] = 0;
    char *found = NULL;
    for (char *l = buf; l && *l && !found;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        char *e;
        unsigned long long lo = strtoull(l, &e, 16), hi = *e == '-' ? strtoull(e + 1, &e, 16) : 0;
        char *slash = strchr(l, '/');
        if (addr >= lo && addr < hi && slash)
            found = strdup(slash);
        l = nl ? nl + 1 : NULL;
    }
    free(buf);
    return found;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    int *state = data; /* 0: first entry, 1: walking, 2: stopped, nothing changed */
    if (*state == 0) {
        *state = 1;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
            if (info->dlpi_adds == dl_adds && info->dlpi_subs == dl_subs) {
                *state = 2; /* nothing loaded or unloaded since the last look */
                return 1;
            }
            dl_adds = info->dlpi_adds;
            dl_subs = info->dlpi_subs;
        }
    }
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    int is_vdso = vdso && (uintptr_t)info->dlpi_phdr - vdso < 65536;
    for (int i = 0; i < nobjs; i++)
        if (!objs[i]->gone && objs[i]->bias == info->dlpi_addr &&
            (is_vdso ? objs[i]->vdso : !strcmp(objs[i]->name, name))) {
            objs[i]->seen = 1;
            return 0;
        }
    if (nobjs == capobjs) {
        int cap = capobjs ? 2 * capobjs : 64;
        struct obj **v = realloc(objs, (size_t)cap * sizeof *v);
        if (!v)
            return 0;
        objs = v;
        capobjs = cap;
    }
    struct obj *o = calloc(1, sizeof *o);
    if (!o)
        return 0;
    o->bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum && o->nseg < MAX_SEGS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !ph->p_memsz)
            continue;
        o->lo[o->nseg] = info->dlpi_addr + ph->p_vaddr;
        o->hi[o->nseg] = o->lo[o->nseg] + ph->p_memsz;
        o->nseg++;
    }
    o->vdso = is_vdso;
    o->name = strdup(name);
    if (is_vdso)
        o->path = strdup("[vdso]");
    else if (!name[0])
        o->path = exe_path();
    else if (name[0] != '/' && o->nseg && (o->path = maps_path(o->lo[0])))
        ;
    else
        o->path = strdup(name);
    if (!o->path || !o->name) {
        free(o->path);
        free(o->name);
        free(o);
        return 0;
    }
    o->crt = !is_vdso && is_crt(o->path);
    o->seen = 1;
    objs[nobjs++] = o;
    return 0;
}

static void fc_drop_stale(void);

/* Reads the loader's list again when its counts moved: objects unloaded since are marked
 * gone and the answers cached for addresses in them (or in nothing) are dropped. */
static void objs_refresh(void)
{
    for (int i = 0; i < nobjs; i++)
        objs[i]->seen = 0;
    int state = 0, had = nobjs;
    dl_iterate_phdr(phdr_cb, &state);
    if (state == 2)
        return;
    for (int i = 0; i < had; i++)
        if (!objs[i]->seen)
            objs[i]->gone = 1;
    fc_drop_stale();
}

static struct obj *obj_find(uint64_t ip)
{
    uint64_t a = ip ? ip - 1 : ip; /* a return address may be just past its object's end */
    for (int i = 0; i < nobjs; i++) {
        if (objs[i]->gone)
            continue;
        for (int s = 0; s < objs[i]->nseg; s++)
            if (a >= objs[i]->lo[s] && a < objs[i]->hi[s])
                return objs[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Frames: each return address's answer, in the object mapped there when it was asked.
 * Answers are kept for the life of the process (stacks point at them by index); the
 * cache by address forgets those of objects gone. */

struct finfo {
    uint64_t ip;
    struct obj *obj; /* NULL: no object maps it (rc -1) */
    const char *function, *file;
    uint64_t offset;
    uint32_t line;
};
#define FI_CHUNK 4096
static struct finfo **fchunks; /* answer i at fchunks[i / FI_CHUNK][i % FI_CHUNK]; 0 unused */
static uint32_t nfi, capchunks;
static uint32_t *fc; /* answer indices by address, open addressing; 0: free */
static size_t fc_cap, fc_n;

static inline struct finfo *fi_at(uint32_t i) { return &fchunks[i / FI_CHUNK][i % FI_CHUNK]; }

static size_t fc_home(uint64_t ip, size_t cap)
{
    return (size_t)((ip * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static int fc_rebuild(size_t cap, int drop)
{
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < fc_cap; i++) {
        uint32_t x = fc[i];
        if (!x)
            continue;
        const struct finfo *f = fi_at(x);
        if (drop && (!f->obj || f->obj->gone))
            continue;
        size_t j = fc_home(f->ip, cap);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = x;
        n++;
    }
    free(fc);
    fc = t;
    fc_cap = cap;
    fc_n = n;
    return 0;
}

static void fc_drop_stale(void)
{
    gen++;
    if (fc_cap && fc_rebuild(fc_cap, 1) < 0) {
        /* no memory to rebuild: forget every answer rather than keep wrong ones */
        memset(fc, 0, fc_cap * sizeof *fc);
        fc_n = 0;
    }
}

static void resolve(uint64_t ip, struct finfo *c)
{
    memset(c, 0, sizeof *c);
    c->ip = ip;
    struct obj *o = obj_find(ip);
    if (!o)
        return;
    c->obj = o;
    c->offset = ip - o->bias;
    if (o->vdso)
        return;
    if (!o->elf) {
        o->elf = ta_elf_load(o->path);
        uint64_t nsyms, nrows;
        int dbg;
        ta_elf_counts(o->elf, &nsyms, &nrows, &dbg);
        ta_debug("symbols of %s: %llu functions, %llu line rows%s", o->path,
                 (unsigned long long)nsyms, (unsigned long long)nrows,
                 dbg ? " (with its separate debug file)" : "");
    }
    /* the call instruction is the byte before the return address */
    uint64_t v = c->offset - 1;
    c->function = ta_elf_function(o->elf, v);
    const char *file;
    uint32_t line;
    if (ta_elf_line(o->elf, v, &file, &line) == 0) {
        c->file = file;
        c->line = line;
    }
}

/* The answer for ip now (index of a kept finfo); 0 when out of memory */
static uint32_t frame_get(uint64_t ip)
{
    if (!ip)
        return 0;
    if (2 * (fc_n + 1) > fc_cap && fc_rebuild(fc_cap ? 2 * fc_cap : 1024, 0) < 0)
        return 0;
    size_t j = fc_home(ip, fc_cap);
    for (uint32_t x; (x = fc[j]); j = (j + 1) & (fc_cap - 1))
        if (fi_at(x)->ip == ip)
            return x;
    /* not cached: an address outside every object known may be in one loaded since */
    if (!obj_find(ip)) {
        uint32_t g = gen;
        objs_refresh();
        if (g != gen) /* the cache was rebuilt: find the free slot again */
            return frame_get(ip);
    }
    if (nfi + 1 >= (uint64_t)capchunks * FI_CHUNK) {
        uint32_t cap = capchunks ? 2 * capchunks : 16;
        struct finfo **v = realloc(fchunks, cap * sizeof *v);
        if (!v)
            return 0;
        memset(v + capchunks, 0, (cap - capchunks) * sizeof *v);
        fchunks = v;
        capchunks = cap;
    }
    uint32_t x = nfi + 1;
    if (!fchunks[x / FI_CHUNK] && !(fchunks[x / FI_CHUNK] = malloc(FI_CHUNK * sizeof(struct finfo))))
        return 0;
    nfi = x;
    resolve(ip, fi_at(x));
    fc[j] = x;
    fc_n++;
    return x;
}

#define HAS(out, m) ((out)->size == 0 || (out)->size >= offsetof(struct ta_frame_info, m) + sizeof((out)->m))

/* out from answer x (0: nothing known of ip) */
static int frame_out(uint32_t x, uint64_t ip, struct ta_frame_info *out)
{
    struct finfo none = {.ip = ip};
    const struct finfo *c = x ? fi_at(x) : &none;
    int rc = c->obj ? 0 : -1;
    if (!out)
        return rc;
    if (HAS(out, function))
        out->function = c->function;
    if (HAS(out, library))
        out->library = c->obj ? c->obj->path : NULL;
    if (HAS(out, offset))
        out->offset = c->offset;
    if (HAS(out, file))
        out->file = c->file;
    if (HAS(out, line))
        out->line = c->line;
    return rc;
}

/* The objects' list as the loader has it now (one call that stops at its first entry when
 * nothing was loaded or unloaded) */
static void objs_check(void)
{
    objs_refresh();
}

int ta_frame_lookup(uint64_t ip, struct ta_frame_info *out)
{
    objs_check();
    return frame_out(frame_get(ip), ip, out);
}

/* ------------------------------------------------------------------------------------ */
/* The stack table */

/* 4M frames: ~100k distinct stacks of 32 frames fit (3.2M); 12 bytes a frame (its return
 * address, its answer's index), reserved, touched as used (agent/README.md) */
#define FRAMES_MAX (1u << 22) /* bench/NOTES.md row 37 */
#define STACKS_MAX (1u << 18)
#define HASH_SLOTS (2 * STACKS_MAX)

struct stk {
    uint32_t off, n;  /* frames[off .. off+n), fidx[off .. off+n) */
    uint32_t hash;
    uint32_t site1;   /* ta_stack_site + 1, 0: not known yet */
    uint32_t gen;     /* its answers are the current ones for its addresses at this gen */
};

static uint64_t *frames;
static uint32_t *fidx;
static uint32_t nframes;
static struct stk *stacks; /* [0] unused: ids from 1 */
static uint32_t nstacks;
static uint32_t *slots; /* stack id, 0: free */
static int full_said, no_room;

static int table_init(void)
{
    if (stacks)
        return 0;
    if (no_room)
        return -1;
    char *m = ta_sys_mmap((size_t)FRAMES_MAX * 12 + (size_t)STACKS_MAX * sizeof(struct stk) +
                          (size_t)HASH_SLOTS * 4);
    if (!m) {
        no_room = 1;
        return -1;
    }
    frames = (uint64_t *)m;
    fidx = (uint32_t *)(m + (size_t)FRAMES_MAX * 8);
    stacks = (struct stk *)(m + (size_t)FRAMES_MAX * 12);
    slots = (uint32_t *)((char *)stacks + (size_t)STACKS_MAX * sizeof(struct stk));
    return 0;
}

static uint32_t hash_frames(const uint64_t *ips, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h = (h ^ ips[i]) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

#define DEPTH_MAX 64 /* TRACEAGENT_STACKS_DEPTH's most */

uint32_t ta_stack_intern(const uint64_t *ips, uint32_t n)
{
    if (!n || !ips)
        return 0;
    if (table_init() < 0) {
        ta_dropped_add("stack", 1);
        return 0;
    }
    objs_check();
    uint32_t cur[DEPTH_MAX];
    int have_cur = 0;
    if (n > DEPTH_MAX)
        n = DEPTH_MAX;
    uint32_t h = hash_frames(ips, n);
    for (uint32_t i = 0, ix = h; i < HASH_SLOTS; i++, ix++) {
        uint32_t *s = &slots[ix & (HASH_SLOTS - 1)];
        if (!have_cur && !*s) {
            for (uint32_t k = 0; k < n; k++)
                cur[k] = frame_get(ips[k]);
            have_cur = 1;
        }
        if (*s) {
            struct stk *k = &stacks[*s];
            if (k->hash != h || k->n != n || memcmp(frames + k->off, ips, (size_t)n * 8))
                continue;
            if (k->gen == gen)
                return *s;
            /* objects came or went since: is it the same in what is mapped now? */
            if (!have_cur) {
                for (uint32_t f = 0; f < n; f++)
                    cur[f] = frame_get(ips[f]);
                have_cur = 1;
            }
            if (!memcmp(fidx + k->off, cur, (size_t)n * 4)) {
                k->gen = gen;
                return *s;
            }
            continue;
        }
        if (nstacks + 1 >= STACKS_MAX || n > FRAMES_MAX - nframes) {
            if (!full_said) {
                full_said = 1;
                ta_debug("stack table full (%u stacks, %u frames): later new stacks are "
                         "recorded without one, counted as dropped \"stack\"", nstacks, nframes);
            }
            ta_dropped_add("stack", 1);
            return 0;
        }
        memcpy(frames + nframes, ips, (size_t)n * 8);
        memcpy(fidx + nframes, cur, (size_t)n * 4);
        stacks[++nstacks] = (struct stk){nframes, n, h, 0, gen};
        nframes += n;
        *s = nstacks;
        return nstacks;
    }
    ta_dropped_add("stack", 1);
    return 0;
}

const uint64_t *ta_stack_ips(uint32_t id, uint32_t *n)
{
    if (!id || id > nstacks) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = stacks[id].n;
    return frames + stacks[id].off;
}

uint32_t ta_stack_count(void) { return nstacks; }

int ta_stack_frame(uint32_t id, uint32_t i, struct ta_frame_info *out)
{
    if (!id || id > nstacks || i >= stacks[id].n) {
        frame_out(0, 0, out);
        return -1;
    }
    const struct stk *k = &stacks[id];
    return frame_out(fidx[k->off + i], frames[k->off + i], out);
}

uint32_t ta_stack_site(uint32_t id)
{
    if (!id || id > nstacks)
        return 0;
    struct stk *k = &stacks[id];
    if (k->site1)
        return k->site1 - 1;
    uint32_t site = 0;
    for (uint32_t i = 0; i < k->n; i++) {
        uint32_t x = fidx[k->off + i];
        const struct obj *o = x ? fi_at(x)->obj : NULL;
        if (!o || !o->crt) {
            site = i;
            break;
        }
    }
    k->site1 = site + 1;
    return site;
}
