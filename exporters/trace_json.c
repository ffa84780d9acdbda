/* The streamed trace: Chrome Trace Event Format, JSON array form, one event per line.
 * Line 1 is "[", every event line ends with ","; the end (exit, exec, a fatal signal)
 * writes a last event without the comma, `process_end`, then "]": strict JSON (json.load,
 * jq, speedscope). Output goes to the file in whole lines only (the buffer is written at
 * line ends; a short write is cut back to the last whole line), so a kill -9 or a full
 * disk leaves a file whose every line parses alone once its comma is dropped, and that
 * Perfetto and chrome://tracing open. Signal-safe: no malloc, no stdio. */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fields.h"
#include "jsonw.h"

static char mem[1 << 20];
static struct ta_buf out = {.fd = -1};
/* kept for the closing line and "]" when the file size limit stops the events */
#define CLOSE_RESERVE 512

static void head(struct ta_buf *b, char ph, const char *cat, const char *name, int tid)
{
    ta_buf_lit(b, "{\"ph\":\"");
    ta_buf_char(b, ph);
    ta_buf_lit(b, "\",\"cat\":");
    ta_buf_jstr(b, cat);
    ta_buf_lit(b, ",\"name\":");
    ta_buf_jstr(b, name);
    ta_buf_lit(b, ",\"pid\":");
    ta_buf_i64(b, ta_proc.pid);
    ta_buf_lit(b, ",\"tid\":");
    ta_buf_i64(b, tid);
}

/* What most event lines repeat, formatted once and kept (drainer-private, like `out`):
 *   - the head of an event, `{"ph":..,"cat":..,"name":..,"pid":..,"tid":..`, by its name,
 *     cat, ph and tid;
 *   - a string argument (a path) quoted and escaped, by its interned id: one id is one
 *     text for the life of the process (agent/intern.c), in a forked child too.
 * Formatting these was ~25% of the drainer's instructions per pread event (bench/NOTES.md,
 * rows 19 and 38). Direct-mapped: a miss formats as before and takes the entry. Every
 * kept entry here and below counts only in the generation that made it: a forked child
 * starts a new one (another pid in the heads; and the fork may have come while the
 * parent's drainer was half-way through an entry). Each text sits in a slot of whole
 * 32-byte blocks, copied block by block: a few fixed-size moves instead of a memcpy call
 * of any length. Never cleared with memset: these 168 KiB of .bss stay untouched (no page
 * faults at start-up, no copy-on-write after fork) until used, and bounded whatever the
 * program names. */
#define BLK 32
#define BLOCKS(n) (((n) + BLK - 1) / BLK * BLK)
#define HEADS 256
#define HEAD_SLOT 128
static uint32_t gen = 1;
static struct head_entry {
    const char *name, *cat;
    int tid;
    uint32_t gen;
    char ph;
    uint8_t len;
    char s[HEAD_SLOT];
} heads[HEADS];
#define STRS 512
#define STR_SLOT 248 /* 256-byte entries; a copy may read the next entry's head (hence +1) */
static struct str_entry {
    uint32_t id; /* 0: none */
    uint16_t len;
    uint16_t gen; /* the generation's low bits (tj_after_fork) */
    char e[STR_SLOT];
} strs[STRS + 1];

/* n bytes from a slot of whole blocks to p, where the caller made room for the blocks */
static inline char *copy_blocks(char *p, const char *s, size_t n)
{
    memcpy(p, s, BLK); /* most texts take one block: no loop test before it */
    for (size_t i = BLK; i < n; i += BLK)
        memcpy(p + i, s + i, BLK);
    return p + n;
}

/* Copy what was just formatted into b from `start` into an entry's `dst` (room `cap`): its
 * length, or -1 when it does not fit or a full buffer cut it (then the entry stays unused). */
static long keep(const struct ta_buf *b, size_t start, char *dst, size_t cap)
{
    size_t n = b->len - start;
    if (n > cap || b->len >= b->cap)
        return -1;
    memcpy(dst, b->p + start, n);
    return (long)n;
}

/* The event's head at p (end: the buffer's); the new end. */
static char *put_head(char *p, char *end, char ph, const char *cat, const char *name, int tid)
{
    unsigned h = (unsigned)(((uintptr_t)name >> 3) ^ ((uintptr_t)name >> 11)) ^
                 (unsigned)tid * 2654435761u ^ (unsigned)ph;
    struct head_entry *c = &heads[(h ^ (h >> 16)) % HEADS];
    if (ta_likely(c->gen == gen && c->name == name && c->tid == tid && c->ph == ph &&
                  c->cat == cat && (size_t)(end - p) >= HEAD_SLOT))
        return copy_blocks(p, c->s, c->len);
    out.len = (size_t)(p - out.p);
    size_t start = out.len;
    head(&out, ph, cat, name, tid);
    long n = keep(&out, start, c->s, HEAD_SLOT);
    c->gen = n < 0 ? 0 : gen;
    c->name = name;
    c->cat = cat;
    c->tid = tid;
    c->ph = ph;
    c->len = (uint8_t)n;
    return out.p + out.len;
}

/* Interned string `id` (not 0) quoted and escaped at p; the new end. */
static char *put_str(char *p, char *end, uint32_t id)
{
    struct str_entry *c = &strs[(id ^ (id >> 9)) % STRS];
    if (ta_likely(c->id == id && c->gen == (uint16_t)gen && (size_t)(end - p) >= BLOCKS(STR_SLOT)))
        return copy_blocks(p, c->e, c->len);
    const char *s = ta_str(id);
    out.len = (size_t)(p - out.p);
    size_t start = out.len;
    ta_buf_jstr(&out, s);
    /* an id past the table's end reads as "" (ta_str): not kept, it may be a text later */
    long n = s == ta_str(0) ? -1 : keep(&out, start, c->e, STR_SLOT);
    c->id = n < 0 ? 0 : id;
    c->len = (uint16_t)n;
    c->gen = (uint16_t)gen;
    return out.p + out.len;
}

static void cached_jstr_id(struct ta_buf *b, uint32_t id)
{
    /* room for the slot, else the plain way */
    if (b->cap - b->len >= BLOCKS(STR_SLOT)) {
        b->len = (size_t)(put_str(b->p + b->len, b->p + b->cap, id) - b->p);
        return;
    }
    ta_buf_jstr(b, ta_str(id));
}

/* The time stamp's text above the millisecond, kept: consecutive events share it (the
 * drainer takes a ring's events in order), so a time stamp costs a subtraction, a compare
 * and two moves of three digits (ta_digit_triples) instead of fifteen digits' divisions.
 * Exact for any value (ta_buf_us's text). ts_ms_lo is the kept millisecond in ns: the
 * time stamps within 10^6 ns of it (ns - ts_ms_lo, unsigned, below 10^6) have its text.
 * At start (and after a fork) it is a whole one that does not wrap past 2^64, the last
 * but one (UINT64_MAX / 10^6 - 1), never a time stamp of this century. */
#define TS_MS_INIT 18446744073708ull
static uint64_t ts_ms_lo = TS_MS_INIT * 1000000;
static uint8_t ts_ms_len = 14;
static char ts_ms_s[BLK] = "18446744073708";

static __attribute__((noinline)) void ts_ms_set(uint64_t ms)
{
    ts_ms_len = (uint8_t)(ta_fmt_u64(ts_ms_s, ms) - ts_ms_s);
    ts_ms_lo = ms * 1000000;
}

static inline char *put_ts(char *p, uint64_t ns)
{
    uint64_t sub = ns - ts_ms_lo;
    if (ta_unlikely(sub >= 1000000)) {
        if (ta_unlikely(ns < 1000000))
            return ta_fmt_us(p, ns);
        ts_ms_set(ns / 1000000);
        sub = ns - ts_ms_lo;
    }
    memcpy(p, ts_ms_s, 16); /* ms < 2^64 / 10^6: at most 14 digits */
    p += ts_ms_len;
    unsigned s = (unsigned)sub, us = s / 1000, f = s - us * 1000;
    memcpy(p, ta_digit_triples + 4 * us, 4); /* "ddd." */
    memcpy(p + 4, ta_digit_triples + 4 * f, 4);
    return p + 7;
}

/* A duration: mostly under a millisecond (up to 3 digits, '.', 3 digits) */
static inline char *put_dur(char *p, uint64_t ns)
{
    if (ta_unlikely(ns >= 1000000))
        return ta_fmt_us(p, ns);
    unsigned us = (unsigned)ns / 1000, f = (unsigned)ns - us * 1000;
    const char *t = ta_digit_triples + 4 * us; /* "ddd.": from its first digit that counts */
    if (us < 10) {
        memcpy(p, t + 2, 2);
        p += 2;
    } else if (us < 100) {
        memcpy(p, t + 1, 4);
        p += 3;
    } else {
        memcpy(p, t, 4);
        p += 4;
    }
    memcpy(p, ta_digit_triples + 4 * f, 4);
    return p + 3;
}

static void meta_name(const char *what, int tid, const char *name)
{
    head(&out, 'M', "agent", what, tid); /* a cat from the CONTRACT list, on every event */
    ta_buf_lit(&out, ",\"ts\":0,\"args\":{\"name\":");
    ta_buf_jstr(&out, name);
    ta_buf_lit(&out, "}},\n");
    ta_buf_line_end(&out);
}

static int tj_start(void)
{
    ta_buf_init(&out, mem, sizeof mem, -1);
    int f = ta_out_open(".trace.json", &out.fd);
    if (f < 0)
        return f;
    ta_buf_file(&out, ".trace.json", CLOSE_RESERVE, 0);
    /* with stacks, line 1 keeps room for the object form's head, which a clean finish
     * writes over it; without, the file is as it always was */
    if (ta_cfg.stacks_mask)
        ta_buf_lit(&out, "[                \n");
    else
        ta_buf_lit(&out, "[\n");
    char pname[512];
    ta_fmt(pname, sizeof pname, "%s (%d)", ta_proc.exe, ta_proc.pid);
    meta_name("process_name", ta_proc.pid, pname);
    /* the wall-clock anchor and identity, so traces of several processes and hosts can be
     * lined up (ts is CLOCK_MONOTONIC of this host) */
    head(&out, 'i', "agent", "process_start", ta_proc.pid);
    ta_buf_lit(&out, ",\"s\":\"p\",\"ts\":");
    ta_buf_us(&out, ta_proc.start_mono_ns);
    ta_buf_lit(&out, ",\"args\":{\"monotonic_ns\":");
    ta_buf_u64(&out, ta_proc.start_mono_ns);
    ta_buf_lit(&out, ",\"realtime_ns\":");
    ta_buf_u64(&out, ta_proc.start_real_ns);
    ta_buf_lit(&out, ",\"ppid\":");
    ta_buf_i64(&out, ta_proc.ppid);
    ta_buf_lit(&out, ",\"host\":");
    ta_buf_jstr(&out, ta_proc.host);
    ta_buf_lit(&out, ",\"cmdline\":");
    ta_buf_jstr(&out, ta_proc.cmdline);
    ta_buf_lit(&out, "}},\n");
    ta_buf_flush(&out); /* the file opens in a viewer from the start */
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Call stacks (TRACEAGENT_STACKS): an event with a stack gets `"sf":N`, N a node of a frame
 * tree built here (one node per (parent node, resolved frame: its return address in the
 * object mapped when the stack was interned), ids from 1, the outermost frame a root), so
 * the same address in a library unloaded and in the one loaded there since are two nodes;
 * and `args.stack`, its function names leaf first. The nodes' names go out
 * once, at a clean finish (`stackFrames`, with the object form): the event lines carry only
 * the number and the short text. Per stack id, its leaf node and its text (quoted, ready to
 * copy) are worked out at its first event and kept, from ta_stack_frame (the frames as
 * resolved when the stack was interned). Drainer-private; may allocate, but
 * not in a fatal signal's drain (ta_end_signal set): a stack not seen before is then
 * written without these two members. What it costs the drainer: bench/NOTES.md, row 35. */
struct sf_node {
    uint64_t ip;
    const char *lib; /* the object's path as the stack table has it: one per object */
    uint32_t parent;
    int known;       /* ta_stack_frame said 0 */
    struct ta_frame_info fi;
};
static struct sf_node *sfn; /* node id i at sfn[i - 1] */
static uint32_t nsfn, capsfn;
static uint32_t *sfidx; /* node ids by (parent, ip), open addressing; capidx a power of 2 */
static uint32_t capidx;
struct sf_stack {
    uint32_t leaf; /* 0: not worked out yet */
    uint32_t len;
    char *text; /* args.stack's value, quoted and escaped */
};
static struct sf_stack *sfs; /* by stack id */
static uint32_t capsfs;
/* line 1 is "[" and room for the object form's head: TRACEAGENT_STACKS was set at start */
#define OBJ_HEAD "{\"traceEvents\":[ "
#define ARGS_STACK_FRAMES 8

static inline uint32_t sf_hash(uint32_t parent, uint64_t ip, const char *lib)
{
    uint64_t h = (ip ^ (uint64_t)(uintptr_t)lib ^ ((uint64_t)parent << 40 | parent)) *
                 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32);
}

static int sf_grow_index(void)
{
    uint32_t cap = capidx ? capidx * 2 : 1024;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    for (uint32_t id = 1; id <= nsfn; id++) {
        uint32_t i = sf_hash(sfn[id - 1].parent, sfn[id - 1].ip, sfn[id - 1].lib) & (cap - 1);
        while (idx[i])
            i = (i + 1) & (cap - 1);
        idx[i] = id;
    }
    free(sfidx);
    sfidx = idx;
    capidx = cap;
    return 0;
}

/* The node for (parent, the frame at ip resolved as fi), made when missing; 0 when out of
 * memory. */
static uint32_t sf_node_get(uint32_t parent, uint64_t ip, int known,
                            const struct ta_frame_info *fi)
{
    const char *lib = known ? fi->library : NULL;
    if ((nsfn + 1) * 2 > capidx && sf_grow_index() < 0)
        return 0;
    uint32_t i = sf_hash(parent, ip, lib) & (capidx - 1);
    for (uint32_t id; (id = sfidx[i]); i = (i + 1) & (capidx - 1))
        if (sfn[id - 1].ip == ip && sfn[id - 1].lib == lib && sfn[id - 1].parent == parent)
            return id;
    if (nsfn == capsfn) {
        uint32_t cap = capsfn ? capsfn * 2 : 1024;
        struct sf_node *n = realloc(sfn, cap * sizeof *n);
        if (!n)
            return 0;
        sfn = n;
        capsfn = cap;
    }
    sfn[nsfn].ip = ip;
    sfn[nsfn].lib = lib;
    sfn[nsfn].parent = parent;
    sfn[nsfn].known = known;
    sfn[nsfn].fi = *fi;
    sfidx[i] = ++nsfn;
    return nsfn;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A frame as text (known: ta_stack_frame said 0; fi: what it said): its function
 * ("read_a"), with `(file:line)` when `where` and known; else "libname+0xOFF"; else the
 * address. */
static void frame_text(char *buf, size_t n, uint64_t ip, int known,
                       const struct ta_frame_info *f, int where)
{
    struct ta_frame_info fi = *f;
    if (!known)
        ta_fmt(buf, n, "0x%llx", (unsigned long long)ip);
    else if (!fi.function)
        ta_fmt(buf, n, "%s+0x%llx", fi.library ? base_name(fi.library) : "?",
               (unsigned long long)fi.offset);
    else if (where && fi.file && fi.line)
        ta_fmt(buf, n, "%s (%s:%u)", fi.function, base_name(fi.file), (unsigned)fi.line);
    else if (where && fi.file)
        ta_fmt(buf, n, "%s (%s)", fi.function, base_name(fi.file));
    else
        ta_fmt(buf, n, "%s", fi.function);
}

/* Stack id's entry, worked out at its first sight; NULL when it cannot be (no such stack,
 * out of memory, a fatal signal's drain) */
static const struct sf_stack *sf_stack_get(uint32_t id)
{
    if (id < capsfs && sfs[id].leaf)
        return &sfs[id];
    if (atomic_load(&ta_end_signal))
        return NULL; /* no allocation, no symbol files: perhaps in a signal handler */
    uint32_t n = 0;
    const uint64_t *ips = ta_stack_ips(id, &n);
    if (!ips || !n)
        return NULL;
    if (id >= capsfs) {
        uint32_t cap = capsfs ? capsfs : 256;
        while (cap <= id)
            cap *= 2;
        struct sf_stack *v = realloc(sfs, cap * sizeof *v);
        if (!v)
            return NULL;
        memset(v + capsfs, 0, (cap - capsfs) * sizeof *v);
        sfs = v;
        capsfs = cap;
    }
    /* each frame asked once, as the table resolved it when the stack was interned */
    struct ta_frame_info *fis = calloc(n, sizeof *fis);
    int *known = calloc(n, sizeof *known);
    if (!fis || !known) {
        free(fis);
        free(known);
        return NULL;
    }
    for (uint32_t k = 0; k < n; k++) {
        fis[k].size = sizeof fis[k];
        known[k] = ta_stack_frame(id, k, &fis[k]) >= 0;
    }
    uint32_t node = 0;
    for (uint32_t k = n; k-- > 0 && node != UINT32_MAX;)  /* from the outermost frame in */
        if (!(node = sf_node_get(node, ips[k], known[k], &fis[k])))
            node = UINT32_MAX;
    if (node == UINT32_MAX) {
        free(fis);
        free(known);
        return NULL;
    }
    /* the text: up to ARGS_STACK_FRAMES names, leaf first */
    char raw[ARGS_STACK_FRAMES * 136 + 16], fr[128];
    size_t len = 0;
    for (uint32_t k = 0; k < n && k < ARGS_STACK_FRAMES; k++) {
        frame_text(fr, sizeof fr, ips[k], known[k], &fis[k], 0);
        size_t l = strlen(fr);
        if (k) {
            memcpy(raw + len, " < ", 3);
            len += 3;
        }
        memcpy(raw + len, fr, l);
        len += l;
    }
    if (n > ARGS_STACK_FRAMES) {
        memcpy(raw + len, " < ...", 6);
        len += 6;
    }
    free(fis);
    free(known);
    char q[sizeof raw * 6 + 8];
    struct ta_buf t;
    ta_buf_init(&t, q, sizeof q, -1);
    ta_buf_jstrn(&t, raw, len);
    char *text = malloc(t.len);
    if (!text)
        return NULL;
    memcpy(text, q, t.len);
    sfs[id].text = text;
    sfs[id].len = (uint32_t)t.len;
    sfs[id].leaf = node;
    return &sfs[id];
}

/* `"stackFrames":{...}` of every node: "name" its frame with file and line, "category"
 * its object's file name, "parent" but for a root. */
static void write_stack_frames(void)
{
    char fr[512], lib[256];
    ta_buf_lit(&out, "\"stackFrames\":{\n");
    for (uint32_t id = 1; id <= nsfn; id++) {
        const struct sf_node *nd = &sfn[id - 1];
        frame_text(fr, sizeof fr, nd->ip, nd->known, &nd->fi, 1);
        ta_fmt(lib, sizeof lib, "%s", nd->known && nd->fi.library ? base_name(nd->fi.library) : "?");
        ta_buf_char(&out, '"');
        ta_buf_u64(&out, id);
        ta_buf_lit(&out, "\":{\"name\":");
        ta_buf_jstr(&out, fr);
        ta_buf_lit(&out, ",\"category\":");
        ta_buf_jstr(&out, lib);
        if (nd->parent) {
            ta_buf_lit(&out, ",\"parent\":\"");
            ta_buf_u64(&out, nd->parent);
            ta_buf_char(&out, '"');
        }
        if (id < nsfn)
            ta_buf_lit(&out, "},\n");
        else
            ta_buf_lit(&out, "}\n");
        ta_buf_line_end(&out);
    }
    ta_buf_lit(&out, "}}\n");
}

/* Flow ids, unique across processes once their traces are merged: the event's own id
 * (CUPTI's correlation ids are 32-bit) with the pid in bits 40-61 (pid_max is at most
 * 2^22). Written as a hex string: Perfetto reads a string id as hex, and a JSON number
 * over 2^53 would lose its low bits in chrome://tracing (JavaScript). */
static void flow_id(struct ta_buf *b, uint64_t id)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = id ^ ((uint64_t)(uint32_t)ta_proc.pid << 40);
    char s[24];
    int n = 0;
    s[n++] = '"';
    s[n++] = '0';
    s[n++] = 'x';
    int shift = 60;
    while (shift > 0 && !(v >> shift & 15))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        s[n++] = hex[v >> shift & 15];
    s[n++] = '"';
    ta_buf_put(b, s, (size_t)n);
}

/* One end of a flow (Perfetto and chrome://tracing draw an arrow from `s` to `f`): both
 * ends have the same cat and name, whatever the categories of the slices they join.
 * Placed 1 ns into the slice, so that it binds to this slice, not to one that ends just
 * as this one starts on the same track (a stream's kernels back to back). */
static void flow_end(const struct ta_event *ev, char ph, uint64_t id)
{
    head(&out, ph, "agent", "flow", ev->tid);
    ta_buf_lit(&out, ",\"ts\":");
    ta_buf_us(&out, ev->ts_ns + (ev->dur_ns > 1 ? 1 : 0));
    ta_buf_lit(&out, ",\"id\":");
    flow_id(&out, id);
    if (ph == 'f')
        ta_buf_lit(&out, ",\"bp\":\"e\"");
    ta_buf_lit(&out, "},\n");
    ta_buf_line_end(&out);
}

/* What an op's args need, worked out at its first event and kept by the op's address
 * (descriptors are static: one address for good): its fields, whether any starts or ends
 * a flow, each key as `"key":` in a slot copied whole, a short fixed-size move, and how
 * each value is read. Quoting each key through the string cache (a hash per key, a
 * memcpy of any length) was most of what looping over fields added to the drainer
 * (bench/NOTES.md, row 28). */
#define PLANS 64
#define PLAN_KEYS 16 /* keys kept per op; the rest are quoted each time */
#define KEY_SLOT 24
enum {
    K_OTHER,            /* ta_field_at and field_value */
    K_I64, K_U64, K_I32, K_U32, K_U16, /* a number in the record */
    K_STR,              /* an interned id in the record */
    K_TRUE,             /* `true` */
};
static struct plan {
    const struct ta_op *op;
    uint32_t gen;
    const struct ta_field *f;
    uint8_t nf, flows;
    uint8_t tpl; /* every field a number in the record, the record's str or str2, or TRUE */
    uint8_t klen[PLAN_KEYS]; /* 0: too long for a slot */
    uint8_t kind[PLAN_KEYS];
    char key[PLAN_KEYS][KEY_SLOT];
} plans[PLANS];

static uint8_t field_kind(const struct ta_field *f)
{
    unsigned size = ta_field_size(f->type);
    if (f->type == TA_FT_TRUE)
        return K_TRUE;
    if (f->offset >= 64 || f->offset + size > 64)
        return K_OTHER;
    switch (f->type) {
    case TA_FT_I64: return K_I64;
    case TA_FT_U64: return K_U64;
    case TA_FT_I32: return K_I32;
    case TA_FT_U32: return K_U32;
    case TA_FT_U16: return K_U16;
    case TA_FT_STR: return K_STR;
    case TA_FT_TRUE: return K_TRUE;
    default: return K_OTHER;
    }
}

static __attribute__((noinline)) const struct plan *plan_make(struct plan *c,
                                                                const struct ta_op *op)
{
    unsigned nf;
    c->f = ta_op_fields(op, &nf);
    c->nf = (uint8_t)(nf < 255 ? nf : 255);
    c->flows = 0;
    c->tpl = c->nf <= PLAN_KEYS;
    for (unsigned i = 0; i < c->nf; i++) {
        c->flows |= c->f[i].role == TA_ROLE_FLOW_OUT || c->f[i].role == TA_ROLE_FLOW_IN;
        if (i >= PLAN_KEYS)
            continue;
        struct ta_buf t;
        char tmp[KEY_SLOT * 8];
        ta_buf_init(&t, tmp, sizeof tmp, -1);
        ta_buf_jstr(&t, c->f[i].key);
        ta_buf_char(&t, ':');
        c->klen[i] = t.len < KEY_SLOT ? (uint8_t)t.len : 0;
        memset(c->key[i], 0, KEY_SLOT);
        memcpy(c->key[i], tmp, c->klen[i]);
        c->kind[i] = c->klen[i] ? field_kind(&c->f[i]) : K_OTHER;
        /* a template's key has the strings by their ids: str and str2 only */
        if (c->kind[i] == K_OTHER || (c->kind[i] == K_STR && c->f[i].offset != TA_OFF_STR &&
                                      c->f[i].offset != TA_OFF_STR2))
            c->tpl = 0;
    }
    c->op = op;
    c->gen = gen;
    return c;
}

static inline const struct plan *plan_get(const struct ta_op *op)
{
    uintptr_t k = (uintptr_t)op;
    struct plan *c = &plans[((k >> 4) ^ (k >> 12)) % PLANS];
    return ta_likely(c->op == op && c->gen == gen) ? c : plan_make(c, op);
}

static void put_key(const struct plan *pl, unsigned i)
{
    if (i < PLAN_KEYS && pl->klen[i] && out.cap - out.len >= KEY_SLOT) {
        memcpy(out.p + out.len, pl->key[i], KEY_SLOT);
        out.len += pl->klen[i];
        return;
    }
    ta_buf_jstr(&out, pl->f[i].key);
    ta_buf_char(&out, ':');
}

/* A field's value as JSON, from p (ta_field_at). */
static void field_value(const struct ta_event *ev, const struct ta_field *f,
                        const unsigned char *p)
{
    switch (f->type) {
    case TA_FT_I64: { int64_t v; memcpy(&v, p, 8); ta_buf_i64(&out, v); break; }
    case TA_FT_U64: { uint64_t v; memcpy(&v, p, 8); ta_buf_u64(&out, v); break; }
    case TA_FT_I32: { int32_t v; memcpy(&v, p, 4); ta_buf_i64(&out, v); break; }
    case TA_FT_U32: { uint32_t v; memcpy(&v, p, 4); ta_buf_u64(&out, v); break; }
    case TA_FT_U16: { uint16_t v; memcpy(&v, p, 2); ta_buf_u64(&out, v); break; }
    case TA_FT_F64: { double v; memcpy(&v, p, 8); ta_buf_dbl(&out, v); break; }
    case TA_FT_STR: { uint32_t id; memcpy(&id, p, 4); cached_jstr_id(&out, id); break; }
    case TA_FT_TRUE: ta_buf_lit(&out, "true"); break;
    case TA_FT_DIM3: {
        uint32_t d[3];
        memcpy(d, p, 12);
        for (int i = 0; i < 3; i++) {
            ta_buf_char(&out, i ? ',' : '[');
            ta_buf_u64(&out, d[i]);
        }
        ta_buf_char(&out, ']');
        break;
    }
    case TA_FT_TEXT: { /* up to a NUL or the payload's end */
        size_t left = ev->ext_len - (f->offset - 64u);
        const void *nul = memchr(p, 0, left);
        ta_buf_jstrn(&out, (const char *)p, nul ? (size_t)((const unsigned char *)nul - p) : left);
        break;
    }
    default: ta_buf_lit(&out, "null"); break;
    }
}

/* Stack `id`'s args.stack and sf, after the event's args if it had any (the line then
 * ends with their closing '}': a line without args ends with its ts or dur, a number),
 * before the event's closing brace; nothing when the stack is not known. */
__attribute__((noinline, cold)) static void stack_args(uint32_t id)
{
    const struct sf_stack *sk = sf_stack_get(id);
    if (!sk)
        return;
    if (out.len && out.p[out.len - 1] == '}') {
        out.len--; /* the args go on */
        ta_buf_lit(&out, ",\"stack\":");
    } else {
        ta_buf_lit(&out, ",\"args\":{\"stack\":");
    }
    ta_buf_put(&out, sk->text, sk->len);
    ta_buf_lit(&out, "},\"sf\":");
    ta_buf_u64(&out, sk->leaf);
}

/* The cursor's bookkeeping (p: the cursor, end: the buffer's end) */
#define SYNC() (out.len = (size_t)(p - out.p))
#define RESUME() (p = out.p + out.len)
#define ROOM(n) ta_likely((size_t)(end - p) >= (n))

/* The args of events alike but for their numbers, kept as a template: the text between
 * the numbers (keys, separators, strings) and where each number goes, by (op, flags, str,
 * str2), which fix every field's presence and every string when the plan says that the
 * op's fields are numbers in the record, those two strings and `true`s. A pread's args are
 * then five copies and four numbers instead of a loop over eight fields (bench/NOTES.md,
 * row 42). Direct-mapped, per generation as the heads (a template is marked whole only
 * once it is). */
#define TPLS 256
#define TPL_TEXT 352 /* a text of at most TPL_TEXT - BLK bytes: a copy reads whole blocks */
#define TPL_NUMS 8
static struct tpl {
    const struct ta_op *op; /* NULL: none */
    uint32_t gen;
    uint32_t str, str2;
    uint8_t flags;
    uint8_t ok; /* 0: these args do not fit a template; the loop writes them */
    uint8_t nnum;
    uint16_t len;           /* bytes of text */
    uint16_t at[TPL_NUMS];  /* bytes of text before number i */
    uint8_t kind[TPL_NUMS], off[TPL_NUMS];
    char text[TPL_TEXT];
} tpls[TPLS];

static inline char *put_num(char *p, unsigned kind, const unsigned char *v)
{
    switch (kind) {
    case K_I64: { int64_t x; memcpy(&x, v, 8); return ta_fmt_i64(p, x); }
    case K_U64: { uint64_t x; memcpy(&x, v, 8); return ta_fmt_u64(p, x); }
    case K_I32: { int32_t x; memcpy(&x, v, 4); return ta_fmt_i64(p, x); }
    case K_U32: { uint32_t x; memcpy(&x, v, 4); return ta_fmt_u64(p, x); }
    default: { uint16_t x; memcpy(&x, v, 2); return ta_fmt_u64(p, x); }
    }
}

/* The args by the loop over the op's fields, at p; the new end. With `t`, the template
 * of these args is made as they are written (t->ok says whether it could be). */
static char *args_loop(const struct ta_event *ev, const struct plan *pl, char *p, char *end,
                       struct tpl *t)
{
    const struct ta_field *f = pl->f;
    const struct ta_rec *r = ev->rec;
    unsigned nf = pl->nf;
    uint8_t flags = r->flags;
    int any = 0;
    size_t a0 = (size_t)(p - out.p); /* where the args start in out */
    size_t nstart[TPL_NUMS], nend[TPL_NUMS];
    unsigned nn = 0, whole = 1; /* whole: every piece written at the cursor */
    for (unsigned i = 0; i < nf; i++) {
        if ((flags & f[i].flag) != f[i].flag)
            continue;
        const unsigned char *v = (const unsigned char *)r + f[i].offset;
        unsigned kind = i < PLAN_KEYS ? pl->kind[i] : K_OTHER;
        uint32_t id = 0;
        if (kind == K_STR) {
            memcpy(&id, v, 4);
            if (!id)
                continue;
        } else if (kind == K_OTHER && !(v = ta_field_at(ev, &f[i]))) {
            continue;
        }
        /* the separator, the key and a number, `true` or a kept string's slot */
        if (kind != K_OTHER && ROOM(9 + KEY_SLOT + BLOCKS(STR_SLOT))) {
            if (any) {
                *p++ = ',';
            } else {
                memcpy(p, ",\"args\":{", 9);
                p += 9;
            }
            any = 1;
            memcpy(p, pl->key[i], KEY_SLOT);
            p += pl->klen[i];
            if (kind == K_STR) {
                p = put_str(p, end, id);
            } else if (kind == K_TRUE) {
                memcpy(p, "true", 4);
                p += 4;
            } else {
                if (nn < TPL_NUMS)
                    nstart[nn] = (size_t)(p - out.p);
                p = put_num(p, kind, v);
                if (nn < TPL_NUMS) {
                    if (t) {
                        t->kind[nn] = (uint8_t)kind;
                        t->off[nn] = (uint8_t)f[i].offset;
                    }
                    nend[nn] = (size_t)(p - out.p);
                }
                nn++;
            }
            continue;
        }
        whole = 0;
        SYNC();
        if (any)
            ta_buf_char(&out, ',');
        else
            ta_buf_lit(&out, ",\"args\":{");
        any = 1;
        put_key(pl, i);
        field_value(ev, &f[i], v);
        RESUME();
    }
    if (any) {
        if (ROOM(1))
            *p++ = '}';
        else
            whole = 0;
    }
    if (t) {
        /* the text: what was written, less the numbers */
        size_t len = (size_t)(p - out.p) - a0;
        for (unsigned k = 0; k < nn && k < TPL_NUMS; k++)
            len -= nend[k] - nstart[k];
        t->ok = whole && nn <= TPL_NUMS && len <= TPL_TEXT - BLK;
        if (t->ok) {
            size_t from = a0, at = 0;
            for (unsigned k = 0; k < nn; k++) {
                memcpy(t->text + at, out.p + from, nstart[k] - from);
                at += nstart[k] - from;
                t->at[k] = (uint16_t)at;
                from = nend[k];
            }
            memcpy(t->text + at, out.p + from, (size_t)(p - out.p) - from);
            t->len = (uint16_t)len;
            t->nnum = (uint8_t)nn;
        }
    }
    return p;
}

/* The args at p; the new end. *used: the template they came from or were made into, when
 * it is whole (NULL: none). */
static char *put_args(const struct ta_event *ev, const struct plan *pl, char *p, char *end,
                      const struct tpl **used)
{
    const struct ta_rec *r = ev->rec;
    *used = NULL;
    if (!pl->tpl || !ROOM(TPL_TEXT + TPL_NUMS * TA_NUM_MAX))
        return args_loop(ev, pl, p, end, NULL);
    const struct ta_op *op = ev->op;
    uint8_t flags = r->flags;
    uintptr_t k = (uintptr_t)op;
    unsigned h = (unsigned)((k >> 4) ^ (k >> 13)) + r->str * 2654435761u + r->str2 * 40503u +
                 flags * 97u;
    struct tpl *t = &tpls[(h ^ (h >> 15)) % TPLS];
    if (ta_unlikely(t->op != op || t->str != r->str || t->str2 != r->str2 ||
                    t->flags != flags || t->gen != gen)) {
        t->gen = 0; /* until it is whole */
        t->op = op;
        t->str = r->str;
        t->str2 = r->str2;
        t->flags = flags;
        p = args_loop(ev, pl, p, end, t);
        t->gen = gen;
        if (t->ok)
            *used = t;
        return p;
    }
    if (ta_unlikely(!t->ok))
        return args_loop(ev, pl, p, end, NULL);
    *used = t;
    const char *s = t->text;
    unsigned at = 0;
    for (unsigned i = 0; i < t->nnum; i++) {
        p = copy_blocks(p, s + at, t->at[i] - at);
        at = t->at[i];
        p = put_num(p, t->kind[i], (const unsigned char *)r + t->off[i]);
    }
    return copy_blocks(p, s + at, t->len - at);
}

/* Whole lines of events alike but for their times and numbers, kept: the head, `,"ts":`,
 * `,"dur":`, the args' template (above) and the line's end as one text with the places of
 * the numbers, by (op, tid, flags, str, str2) and checked against the event's name and cat
 * (what fixes the head). A pread's line is then six copies of whole blocks, its ts, dur
 * and four numbers, after one lookup instead of three (head, plan's args template) and
 * no test per piece (bench/NOTES.md, row 51). Only for what the templates cover: spans
 * and instants without a stack or a flow whose args are all in the args' template. Made
 * from a line written the piecewise way, so the text is that one's. Direct-mapped and
 * per generation as the heads; 150 KiB of .bss, touched only as used. */
#define LINES 256
#define LINE_TEXT 512 /* a text of at most LINE_TEXT - BLK bytes: a copy reads whole blocks */
#define LINE_ROOM (LINE_TEXT + (TPL_NUMS + 2) * (TA_NUM_MAX + 8))
static struct line {
    const struct ta_op *op; /* NULL: none */
    const char *name, *cat;
    int32_t tid;
    uint32_t gen;
    uint32_t str, str2;
    uint8_t flags;
    uint8_t dur;  /* a span: `,"dur":` and its number after the ts */
    uint8_t nnum; /* the args' numbers */
    uint8_t direct; /* name and cat are what the drainer gives a record of (op, str) */
    uint16_t at_ts, at_dur, len;
    struct {
        uint16_t len; /* the text before the number, from the last one's end */
        uint8_t kind, off;
    } num[TPL_NUMS]; /* one 4-byte load a number */
    char text[LINE_TEXT];
} lines[LINES];

static inline struct line *line_slot(const struct ta_op *op, int32_t tid, const struct ta_rec *r)
{
    uintptr_t k = (uintptr_t)op;
    unsigned h = (unsigned)((k >> 4) ^ (k >> 13)) + (unsigned)tid * 2654435761u +
                 r->str * 0x85ebca6bu + r->str2 * 0xc2b2ae35u + r->flags * 97u;
    return &lines[(h ^ (h >> 13) ^ (h >> 24)) % LINES];
}

static inline __attribute__((always_inline)) char *put_line(const struct line *L,
                                                            const struct ta_rec *rec,
                                                            uint64_t ts_ns, uint64_t dur_ns,
                                                            char *p)
{
    const char *s = L->text;
    if (ta_likely(L->at_ts <= 3 * BLK)) { /* a head of up to 96 bytes: no loop */
        memcpy(p, s, BLK);
        memcpy(p + BLK, s + BLK, BLK);
        memcpy(p + 2 * BLK, s + 2 * BLK, BLK);
        p += L->at_ts;
    } else {
        p = copy_blocks(p, s, L->at_ts);
    }
    p = put_ts(p, ts_ns);
    unsigned at = L->at_ts;
    if (L->dur) {
        p = copy_blocks(p, s + at, L->at_dur - at);
        at = L->at_dur;
        p = put_dur(p, dur_ns);
    }
    const unsigned char *r = (const unsigned char *)rec;
    const char *q = s + at;
    for (unsigned i = 0, n = L->nnum; i < n; i++) {
        unsigned len = L->num[i].len;
        memcpy(p, q, BLK); /* a key and its separators: one block, mostly */
        if (ta_unlikely(len > BLK))
            copy_blocks(p, q, len);
        p = put_num(p + len, L->num[i].kind, r + L->num[i].off);
        q += len;
    }
    return copy_blocks(p, q, L->len - (size_t)(q - s));
}

/* L from the line just written piecewise: its head at out.p[h0, h1), its args from t
 * (NULL: none). L stays unused when the text does not fit. */
static __attribute__((noinline)) void line_make(struct line *L, const struct ta_event *ev,
                                                const char *cat, char ph, size_t h0,
                                                size_t h1, const struct tpl *t)
{
    const struct ta_rec *r = ev->rec;
    L->gen = 0; /* until it is whole */
    /* an id past the string table reads as "" now and may be a text later (a plug-in's
     * mistake): no line keeps it */
    if ((r->str && ta_str(r->str) == ta_str(0)) || (r->str2 && ta_str(r->str2) == ta_str(0)))
        return;
    size_t hl = h1 - h0, tl = t ? t->len : 0;
    if (hl + 16 + tl + 3 > LINE_TEXT - BLK || (t && t->nnum > TPL_NUMS))
        return;
    char *d = L->text;
    memcpy(d, out.p + h0, hl);
    d += hl;
    if (ph == 'i') {
        memcpy(d, ",\"s\":\"t\"", 8);
        d += 8;
    }
    memcpy(d, ",\"ts\":", 6);
    d += 6;
    L->at_ts = (uint16_t)(d - L->text);
    L->dur = ph == 'X';
    if (L->dur) {
        memcpy(d, ",\"dur\":", 7);
        d += 7;
    }
    L->at_dur = (uint16_t)(d - L->text);
    L->nnum = 0;
    if (t) {
        memcpy(d, t->text, t->len);
        d += t->len;
        for (unsigned i = 0, at = 0; i < t->nnum; at = t->at[i++]) {
            L->num[i].len = (uint16_t)(t->at[i] - at);
            L->num[i].kind = t->kind[i];
            L->num[i].off = t->off[i];
        }
        L->nnum = t->nnum;
    }
    memcpy(d, "},\n", 3);
    d += 3;
    L->len = (uint16_t)(d - L->text);
    L->op = ev->op;
    L->name = ev->name;
    L->cat = cat;
    const struct ta_op *op = ev->op;
    const char *cn = op->cat < TA_CAT_MAX ? ta_cat_names[op->cat] : NULL;
    L->direct = ev->name == (op->name_from_str ? ta_str(r->str) : op->name) && cn && cat == cn;
    L->tid = ev->tid;
    L->str = r->str;
    L->str2 = r->str2;
    L->flags = r->flags;
    L->gen = gen;
}

/* The buffer is written out once more than half full (ta_buf_line_end, inline) */
static inline void line_end(void)
{
    if (ta_unlikely(out.len > out.cap / 2))
        ta_buf_flush(&out);
}

/* The pages the writer uses, made present before it writes them, by one system call
 * each instead of a page fault each: its kept entries (~430 KiB of .bss, above) are probed
 * before they are written, so their first touch maps the zero page and the write that
 * follows copies it and flushes the TLB of every CPU the program runs on, an interrupt to
 * the program's threads; and each page of the output buffer is a fault at its first fill.
 * On this VM a fault is 15-75 us, a page populated ~1.3 us: the JSON trace cost
 * `python3 -c pass` +18 ms of wall time and ~170 faults (bench/NOTES.md, row 56). The
 * entries at the process's first event, the buffer 128 KiB ahead of the most a cycle
 * filled. A forked child (or the image after a failed exec: a new generation) does it once
 * its trace passes 64 KiB, copying the parent's pages in one call instead of a fault each:
 * a child that writes a few lines and execs would pay ~0.3 ms for nothing (a shell's
 * fork+exec). Not where the program entered seccomp: no system call it did not make. */
#define WARM_AHEAD (128u << 10)
#define WARM_CHILD (64u << 10)
static uint32_t warm_gen;    /* the generation whose entries are present */
static uint32_t seen_gen;    /* the generation whose first event came */
static size_t out_ready, out_hi; /* mem's bytes present; the most a cycle wrote */

/* the buffer is flushed once half full (line_end): past that, only a long piece goes */
#define WARM_MOST (sizeof mem / 2 + (16u << 10))
static void warm_out(void)
{
    if (ta_sandboxed || out_ready >= WARM_MOST || out_hi + WARM_AHEAD / 2 <= out_ready)
        return;
    size_t to = out_hi + WARM_AHEAD < WARM_MOST ? out_hi + WARM_AHEAD : WARM_MOST;
    ta_sys_populate(mem + out_ready, to - out_ready); /* whole pages, rounded there */
    out_ready = to;
}

/* The kept entries: made present by warm, given back by tj_finish */
static const struct {
    void *p;
    size_t len;
} kept[] = {{heads, sizeof heads}, {strs, sizeof strs}, {plans, sizeof plans},
            {tpls, sizeof tpls},   {lines, sizeof lines}};

static __attribute__((noinline, cold)) void warm(void)
{
    warm_gen = gen;
    if (ta_sandboxed)
        return;
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        ta_sys_populate(kept[i].p, kept[i].len);
    out_ready = 0;
    warm_out();
}

static __attribute__((noinline, cold)) void first_event(void)
{
    seen_gen = gen;
    if (gen == 1) /* the process as it started: at once */
        warm();
}

/* An event's line: from a kept line (above) when there is one, else written piece by
 * piece at a local cursor into out's buffer, with one room test per bounded piece (the
 * head's and a string's slots, a number, a key); what is not bounded (a new head or
 * string, a text, a double, a stack, a flow) goes through the checked ta_buf functions,
 * and the cursor is taken up again after them. The text is the same as the plain ta_buf_*
 * calls give. What each piece costs: bench/NOTES.md, rows 42 and 50. */

static void tj_event(const struct ta_event *ev)
{
    if (ta_unlikely(seen_gen != gen))
        first_event();
    const struct ta_op *op = ev->op;
    /* the drainer names the category; ids of added categories have names there too */
    const char *cat = ev->cat ? ev->cat : op->cat < TA_CAT_MAX ? ta_cat_names[op->cat] : NULL;
    if (!cat)
        cat = "";
    char ph;
    switch (op->shape) {
    case TA_SHAPE_SPAN:
        if (ev->dur_ns < ta_cfg.min_duration_ns && (ta_cfg.min_duration_mask >> op->cat & 1)) {
            ta_agent_stats.trace_left_out++; /* counted in stats, not written */
            return;
        }
        ph = 'X';
        break;
    case TA_SHAPE_INSTANT: ph = 'i'; break;
    case TA_SHAPE_COUNTER: ph = 'C'; break;
    default: ph = 0; break;
    }
    char *p = out.p + out.len, *const end = out.p + out.cap;
    const struct ta_rec *r = ev->rec;
    const struct plan *pl = plan_get(op);
    struct line *L = NULL;
    if (ta_likely(r && (ph == 'X' || ph == 'i') && !ev->stack && !pl->flows && pl->tpl)) {
        L = line_slot(op, ev->tid, r);
        if (ta_likely(L->op == op && L->tid == ev->tid && L->str == r->str &&
                      L->str2 == r->str2 && L->flags == r->flags && L->gen == gen &&
                      L->name == ev->name && L->cat == cat && ROOM(LINE_ROOM))) {
            p = put_line(L, r, ev->ts_ns, ev->dur_ns, p);
            SYNC();
            line_end();
            return;
        }
    }
    size_t h0 = out.len, h1 = 0;
    if (ph) {
        p = put_head(p, end, ph, cat, ev->name, ev->tid);
        h1 = (size_t)(p - out.p);
        if (ROOM(2 * (TA_NUM_MAX + 16))) {
            if (ph == 'X') {
                memcpy(p, ",\"ts\":", 6);
                p = put_ts(p + 6, ev->ts_ns);
                memcpy(p, ",\"dur\":", 7);
                p = put_dur(p + 7, ev->dur_ns);
            } else {
                if (ph == 'i') {
                    memcpy(p, ",\"s\":\"t\"", 8);
                    p += 8;
                }
                memcpy(p, ",\"ts\":", 6);
                p = put_ts(p + 6, ev->ts_ns);
            }
        } else {
            SYNC();
            if (ph == 'i')
                ta_buf_lit(&out, ",\"s\":\"t\"");
            ta_buf_lit(&out, ",\"ts\":");
            ta_buf_us(&out, ev->ts_ns);
            if (ph == 'X') {
                ta_buf_lit(&out, ",\"dur\":");
                ta_buf_us(&out, ev->dur_ns);
            }
            RESUME();
        }
    }
    /* args: the fields the event carries, in the op's order; markers have none
     * (speedscope names frames by name+args) */
    unsigned nf = r ? pl->nf : 0;
    const struct tpl *t = NULL;
    if (nf)
        p = put_args(ev, pl, p, end, &t);
    SYNC();
    if (ta_unlikely(ev->stack)) /* the one test an event without a stack pays */
        stack_args(ev->stack);
    ta_buf_lit(&out, "},\n");
    /* the line as written, whole (not cut by a full buffer), kept for the next alike */
    if (L && (!nf || t) && out.len < out.cap && h1 > h0)
        line_make(L, ev, cat, ph, h0, h1, t);
    line_end();
    if (pl->flows && op->shape != TA_SHAPE_COUNTER) {
        const struct ta_field *f = pl->f;
        for (unsigned i = 0; i < nf; i++) {
            if (f[i].role != TA_ROLE_FLOW_OUT && f[i].role != TA_ROLE_FLOW_IN)
                continue;
            uint64_t fid = 0;
            int64_t x = 0;
            const unsigned char *v;
            if (f[i].type == TA_FT_U64) { /* all 64 bits */
                if ((v = ta_field_at(ev, &f[i])))
                    memcpy(&fid, v, 8);
            } else if (ta_field_i64(ev, &f[i], &x)) {
                fid = (uint64_t)x;
            }
            if (fid)
                flow_end(ev, f[i].role == TA_ROLE_FLOW_OUT ? 's' : 'f', fid);
        }
    }
}

/* The drainer's shortcut while this is the only exporter (agent/drainer.c, dispatch): the
 * line of record r of thread tid, with the times the drainer worked out, from a kept line
 * made from an event the drainer gave (the same name and cat for the same op and str);
 * 0 when there is none or the span is left out (the drainer then hands the event to
 * tj_event, which writes it, or counts it). It skips building the event, its strings and
 * tj_event's tests: bench/NOTES.md, row 51. */
int ta_trace_json_rec(const struct ta_rec *r, int32_t tid, uint64_t ts_ns, uint64_t dur_ns)
{
    const struct ta_op *op = r->op;
    struct line *L = line_slot(op, tid, r);
    if (!(L->op == op && L->tid == tid && L->str == r->str && L->str2 == r->str2 &&
          L->flags == r->flags && L->gen == gen && L->direct))
        return 0;
    if (L->dur && dur_ns < ta_cfg.min_duration_ns && (ta_cfg.min_duration_mask >> op->cat & 1))
        return 0;
    char *p = out.p + out.len, *const end = out.p + out.cap;
    if (!ROOM(LINE_ROOM))
        return 0;
    p = put_line(L, r, ts_ns, dur_ns, p);
    SYNC();
    line_end();
    return 1;
}

static void tj_thread_name(int tid, const char *name)
{
    if (tid == ta_proc.pid) {
        meta_name("thread_name", tid, "main");
        return;
    }
    meta_name("thread_name", tid, name);
}

/* A named track ("GPU 0 stream 7"): its events carry the tid the drainer gave it, and a
 * thread_name for that tid is how Perfetto and chrome://tracing show the name. */
static void tj_track_name(uint32_t track, int tid, const char *name)
{
    (void)track;
    meta_name("thread_name", tid, name ? name : "");
}

static void tj_dropped(const char *cause, uint64_t total)
{
    /* args.count: dropped since this cause's last event (sum them); args.total: so far */
    static struct {
        const char *cause;
        uint64_t last;
    } seen[TA_DROP_CAUSES_MAX];
    unsigned i = 0;
    while (i < TA_DROP_CAUSES_MAX - 1 && seen[i].cause && strcmp(seen[i].cause, cause))
        i++;
    if (!seen[i].cause || strcmp(seen[i].cause, cause)) {
        seen[i].cause = cause;
        seen[i].last = 0;
    }
    if (total < seen[i].last)
        seen[i].last = 0;
    head(&out, 'i', "agent", "dropped", ta_proc.pid);
    ta_buf_lit(&out, ",\"s\":\"p\",\"ts\":");
    ta_buf_us(&out, ta_mono_ns());
    ta_buf_lit(&out, ",\"args\":{\"count\":");
    ta_buf_u64(&out, total - seen[i].last);
    ta_buf_lit(&out, ",\"total\":");
    ta_buf_u64(&out, total);
    ta_buf_lit(&out, ",\"cause\":");
    ta_buf_jstr(&out, cause);
    ta_buf_lit(&out, "}},\n");
    ta_buf_line_end(&out);
    seen[i].last = total;
}

static void tj_cycle_end(void)
{
    if (out.len > out_hi)
        out_hi = out.len;
    ta_buf_flush(&out);
    if (warm_gen == gen)
        warm_out();
    else if (seen_gen == gen && out.written >= WARM_CHILD)
        warm();
    ta_agent_stats.trace_bytes = out.written;
}

/* At the end: how many short spans TRACEAGENT_MIN_DURATION_NS kept out of this trace. */
static void note_left_out(void)
{
    if (!ta_agent_stats.trace_left_out)
        return;
    head(&out, 'i', "agent", "spans_left_out", ta_proc.pid);
    ta_buf_lit(&out, ",\"s\":\"p\",\"ts\":");
    ta_buf_us(&out, ta_mono_ns());
    ta_buf_lit(&out, ",\"args\":{\"count\":");
    ta_buf_u64(&out, ta_agent_stats.trace_left_out);
    ta_buf_lit(&out, ",\"min_duration_ns\":");
    ta_buf_u64(&out, ta_cfg.min_duration_ns);
    ta_buf_lit(&out, "}},\n");
    ta_buf_line_end(&out);
}

/* The object form, from the whole array form just written: `,"stackFrames":{...}}` after
 * its "]", then line 1's "[" and 16 spaces overwritten by `{"traceEvents":[ ` (17 bytes:
 * the same length), last, so that the file is at every moment either the array form or
 * the object form. Should the frames not all be written (the file size limit, a full
 * disk), the file is cut back to the array form it was. The file is not O_APPEND (files.c
 * opens it new): the head goes to offset 0 with pwrite, the events' offset untouched. */
static void object_form(void)
{
    if (out.failed || out.full)
        return;
    uint64_t end = out.written;
    /* the "]\n" stays: whitespace after it, then the members the object adds */
    ta_buf_lit(&out, ",\n");
    write_stack_frames();
    ta_buf_flush_final(&out);
    if (out.failed || out.full || out.written < end + 2) {
        syscall(SYS_ftruncate, out.fd, (long)end);
        out.written = end;
        return;
    }
    if (syscall(SYS_pwrite64, out.fd, OBJ_HEAD, sizeof OBJ_HEAD - 1, 0L) !=
        (long)(sizeof OBJ_HEAD - 1)) {
        syscall(SYS_ftruncate, out.fd, (long)end);
        out.written = end;
    }
}

/* The last line needs no comma before "]": an event of its own, so that the lines before
 * it stay alike (each ends with ",") and a file cut anywhere is still whole lines. */
static void tj_finish(void)
{
    if (out.fd < 0)
        return;
    ta_buf_flush(&out); /* the events, within the limit less the reserve */
    note_left_out();
    head(&out, 'i', "agent", "process_end", ta_proc.pid);
    ta_buf_lit(&out, ",\"s\":\"p\",\"ts\":");
    ta_buf_us(&out, ta_mono_ns());
    ta_buf_lit(&out, "}\n]\n");
    ta_buf_flush_final(&out);
    /* the array form is whole now; with stacks, a clean end makes it the object form */
    if (ta_cfg.stacks_mask && !atomic_load(&ta_end_signal))
        object_form();
    ta_agent_stats.trace_bytes = out.written;
    ta_out_close(&out.fd);
    /* the trace is whole: its ~1 MiB go back before stats.json is written, whose sort of
     * the files rows would otherwise add to the process's peak (bench/NOTES.md, row 56).
     * Zeros read as no kept entry (no op, no string id, generation 0 never current); an
     * event after this (a signal's drain) does not make them present again, and a failed
     * exec starts a new generation (tj_after_fork), which does. */
    if (!ta_sandboxed) {
        ta_sys_release(mem, sizeof mem);
        for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
            ta_sys_release(kept[i].p, kept[i].len);
        warm_gen = seen_gen = gen;
        out_ready = WARM_MOST;
    }
}

static void tj_after_fork(void)
{
    /* the parent's file is the parent's: close our copy, the child opens its own */
    ta_out_close(&out.fd);
    ta_buf_init(&out, mem, sizeof mem, -1);
    gen++; /* the kept heads carry the parent's pid; any entry may be half made */
    out_ready = 0; /* the parent's pages: copied at the first write, so made present again */
    if (!gen)
        gen = 1; /* 0 marks entries being made */
    ts_ms_set(TS_MS_INIT); /* the fork may have come half-way through ts_ms_set */
}

const struct ta_exporter ta_exporter_trace_json = {
    .name = "json",
    .signal_safe = true,
    .start = tj_start,
    .event = tj_event,
    .thread_name = tj_thread_name,
    .dropped = tj_dropped,
    .cycle_end = tj_cycle_end,
    .finish = tj_finish,
    .after_fork = tj_after_fork,
    .track_name = tj_track_name,
};
