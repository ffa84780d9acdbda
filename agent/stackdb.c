/* Call stacks on the drainer's side (issue #19): the stack table, the objects of the
 * process, and the frames' symbols. Drainer thread only (and the thread that ends the
 * process, which holds the drain): the callers are serialised, so nothing here locks. May
 * allocate; never runs on a program's hot path.
 *
 * The stack table: append-only, one id per distinct list of frames, 1..count in order of
 * first sight. Frames are stored once per stack in one reserved mapping (FRAMES_MAX in
 * all), indexed by an open-addressing hash of the frames. Full (frames or ids): intern
 * gives 0, said once in a debug line. A forked child keeps the parent's table (its
 * objects are at the same addresses), so the drainer's after-fork path leaves it alone.
 *
 * Objects: the loader's list (dl_iterate_phdr), cached, and read again when an address
 * falls outside every object known (one dlopen'ed since, or none at all: JIT code), and
 * only when the loader's load/unload counts moved. An object unloaded since keeps its
 * entry (as gone): stacks taken while it was there still name it. Symbols of an object
 * are read at its first frame (elfsym.c); each address's answer is cached. */
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
/* The stack table */

#define FRAMES_MAX (1u << 20) /* 8 MiB of return addresses, reserved, touched as used */
#define STACKS_MAX (1u << 18)
#define HASH_SLOTS (2 * STACKS_MAX)

struct stk {
    uint32_t off, n;  /* frames[off .. off+n) */
    uint32_t hash;
    uint32_t site1;   /* ta_stack_site + 1, 0: not known yet */
};

static uint64_t *frames;
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
    char *m = ta_sys_mmap((size_t)FRAMES_MAX * 8 + (size_t)STACKS_MAX * sizeof(struct stk) +
                          (size_t)HASH_SLOTS * 4);
    if (!m) {
        no_room = 1;
        return -1;
    }
    frames = (uint64_t *)m;
    stacks = (struct stk *)(m + (size_t)FRAMES_MAX * 8);
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

uint32_t ta_stack_intern(const uint64_t *ips, uint32_t n)
{
    if (!n || !ips || table_init() < 0)
        return 0;
    uint32_t h = hash_frames(ips, n);
    for (uint32_t i = 0, ix = h; i < HASH_SLOTS; i++, ix++) {
        uint32_t *s = &slots[ix & (HASH_SLOTS - 1)];
        if (*s) {
            const struct stk *k = &stacks[*s];
            if (k->hash == h && k->n == n && !memcmp(frames + k->off, ips, (size_t)n * 8))
                return *s;
            continue;
        }
        if (nstacks + 1 >= STACKS_MAX || n > FRAMES_MAX - nframes) {
            if (!full_said) {
                full_said = 1;
                ta_debug("stack table full (%u stacks, %u frames): later new stacks are "
                         "recorded without one", nstacks, nframes);
            }
            return 0;
        }
        memcpy(frames + nframes, ips, (size_t)n * 8);
        stacks[++nstacks] = (struct stk){nframes, n, h, 0};
        nframes += n;
        *s = nstacks;
        return nstacks;
    }
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

/* ------------------------------------------------------------------------------------ */
/* The objects of the process */

#define MAX_SEGS 8
struct obj {
    uint64_t bias;
    uint64_t lo[MAX_SEGS], hi[MAX_SEGS]; /* its PT_LOAD segments, in memory */
    int nseg;
    char *path;
    int vdso, crt, gone, seen;
    struct ta_elf *elf; /* read at its first frame */
};

static struct obj *objs;
static int nobjs, capobjs;
static unsigned long long dl_adds = ~0ull, dl_subs = ~0ull;

/* The C runtime, whose frames are not a call site: libc, libm, libpthread, libdl, ld.so */
static int is_crt(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    return !strncmp(b, "libc.so", 7) || !strncmp(b, "libm.so", 7) ||
           !strncmp(b, "libpthread.so", 13) || !strncmp(b, "libdl.so", 8) ||
           (!strncmp(b, "ld-linux", 8) && strstr(b, ".so"));
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
        if (!objs[i].gone && objs[i].bias == info->dlpi_addr &&
            (is_vdso ? objs[i].vdso : !strcmp(objs[i].path, name[0] ? name : objs[i].path))) {
            objs[i].seen = 1;
            return 0;
        }
    if (nobjs == capobjs) {
        int cap = capobjs ? 2 * capobjs : 64;
        struct obj *o = realloc(objs, (size_t)cap * sizeof *o);
        if (!o)
            return 0;
        objs = o;
        capobjs = cap;
    }
    struct obj *o = &objs[nobjs];
    memset(o, 0, sizeof *o);
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
    o->path = is_vdso ? strdup("[vdso]") : name[0] ? strdup(name) : exe_path();
    if (!o->path)
        return 0;
    o->crt = !is_vdso && is_crt(o->path);
    o->seen = 1;
    nobjs++;
    return 0;
}

static void objs_refresh(void)
{
    for (int i = 0; i < nobjs; i++)
        objs[i].seen = 0;
    int state = 0, had = nobjs;
    dl_iterate_phdr(phdr_cb, &state);
    for (int i = 0; i < had; i++)
        if (!objs[i].seen && state != 2)
            objs[i].gone = 1;
}

static struct obj *obj_find(uint64_t ip, int refresh)
{
    uint64_t a = ip ? ip - 1 : ip; /* a return address may be just past its object's end */
    for (int pass = 0; pass < 2; pass++) {
        /* objects loaded now first; then those unloaded since (stacks taken before) */
        for (int g = 0; g < 2; g++)
            for (int i = 0; i < nobjs; i++) {
                if (objs[i].gone != g)
                    continue;
                for (int s = 0; s < objs[i].nseg; s++)
                    if (a >= objs[i].lo[s] && a < objs[i].hi[s])
                        return &objs[i];
            }
        if (!refresh || pass)
            break;
        objs_refresh();
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Frames: each return address's answer, cached */

struct fcache {
    uint64_t ip; /* 0: free (ip 0 is never cached) */
    int rc;
    const char *function, *library, *file;
    uint64_t offset;
    uint32_t line;
};
static struct fcache *fc;
static size_t fc_cap, fc_n;

static struct fcache *fc_slot(struct fcache *t, size_t cap, uint64_t ip)
{
    size_t i = (size_t)((ip * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
    while (t[i].ip && t[i].ip != ip)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static void resolve(uint64_t ip, struct fcache *c)
{
    c->ip = ip;
    c->rc = -1;
    struct obj *o = obj_find(ip, 1);
    if (!o)
        return;
    c->rc = 0;
    c->library = o->path;
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

#define HAS(out, m) ((out)->size == 0 || (out)->size >= offsetof(struct ta_frame_info, m) + sizeof((out)->m))

int ta_frame_lookup(uint64_t ip, struct ta_frame_info *out)
{
    struct fcache tmp = {0}, *c = &tmp;
    if (ip) {
        if (2 * (fc_n + 1) > fc_cap) {
            size_t cap = fc_cap ? 2 * fc_cap : 1024;
            struct fcache *t = calloc(cap, sizeof *t);
            if (t) {
                for (size_t i = 0; i < fc_cap; i++)
                    if (fc[i].ip)
                        *fc_slot(t, cap, fc[i].ip) = fc[i];
                free(fc);
                fc = t;
                fc_cap = cap;
            }
        }
        if (2 * (fc_n + 1) <= fc_cap) {
            c = fc_slot(fc, fc_cap, ip);
            if (!c->ip) {
                resolve(ip, c);
                fc_n++;
            }
        } else {
            resolve(ip, c);
        }
    }
    if (!out)
        return c->rc;
    if (HAS(out, function))
        out->function = c->function;
    if (HAS(out, library))
        out->library = c->library;
    if (HAS(out, offset))
        out->offset = c->rc == 0 ? c->offset : 0;
    if (HAS(out, file))
        out->file = c->file;
    if (HAS(out, line))
        out->line = c->line;
    return c->rc;
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
        struct obj *o = obj_find(frames[k->off + i], 1);
        if (!o || !o->crt) {
            site = i;
            break;
        }
    }
    k->site1 = site + 1;
    return site;
}
