/* Scopes: the call path that caused work completed later, elsewhere (a GPU kernel that
 * ends on CUPTI's thread), as one 32-bit id given with its event. A scope is a node
 * (parent, op, name) of a tree whose root is 0; the path of a thread's open marker ranges,
 * outermost first, and the launching call after them, is walked from the root, each step
 * interned. Built like the string table (intern.c): global, lock-free, append-only:
 *   - an entry is taken with one fetch_add and written before it is published;
 *   - the index is an open-addressing table of (hash << 32 | id) words; a new entry is
 *     published by one compare-and-swap from 0 (release), readers load with acquire;
 *   - two threads adding the same new node race on the CAS; the loser uses the winner's
 *     entry (its own is wasted).
 * A lookup that hits allocates nothing and makes no system call: cheap enough for every
 * CUDA launch. The memory is one reservation, mapped at the first call and touched as
 * nodes arrive. When the table is full, the path stops at the deepest node it has (the
 * work is attributed to an enclosing range, never to another path). Ids are stable for
 * the life of the process and in a forked child. */
#include "ta.h"

#define MAX_NODES (1u << 16)
#define TABLE_BITS 17 /* twice the nodes: probes stay short */
#define TABLE_SLOTS (1u << TABLE_BITS)
#define MAX_PROBES 4096

struct node {
    const struct ta_op *op;
    uint32_t parent, name;
};

extern const struct ta_op ta_op_range; /* markers.c */

static struct mem {
    _Atomic uint64_t table[TABLE_SLOTS];
    struct node nodes[MAX_NODES];
} *_Atomic mem;
static _Atomic uint32_t nnodes = 1; /* id 0 is the root */

static struct mem *get_mem(void)
{
    /* acquire: pairs with the release CAS below (the mapping is zeroed before) */
    struct mem *m = atomic_load_explicit(&mem, memory_order_acquire);
    if (ta_likely(m))
        return m;
    struct mem *fresh = ta_sys_mmap(sizeof *fresh);
    if (!fresh)
        return NULL;
    if (!atomic_compare_exchange_strong_explicit(&mem, &m, fresh, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        ta_sys_munmap(fresh, sizeof *fresh); /* another thread mapped it first */
        return m;
    }
    return fresh;
}

static inline uint64_t hash(uint32_t parent, const struct ta_op *op, uint32_t name)
{
    uint64_t h = ((uint64_t)parent << 32 | name) * 0x9e3779b97f4a7c15ull;
    h ^= (uint64_t)(uintptr_t)op * 0xff51afd7ed558ccdull;
    h ^= h >> 31;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* The node (parent, op, name): its id, or `parent` when the table is full. */
static uint32_t child(struct mem *m, uint32_t parent, const struct ta_op *op, uint32_t name)
{
    uint64_t h = hash(parent, op, name);
    uint32_t h32 = (uint32_t)(h >> 32) | 1; /* never 0, so a used slot is never 0 */
    uint32_t mine = 0;
    for (uint32_t i = 0, idx = (uint32_t)h; i < MAX_PROBES; i++, idx++) {
        _Atomic uint64_t *slot = &m->table[idx & (TABLE_SLOTS - 1)];
        /* acquire: pairs with the release CAS below, so the node's fields are visible */
        uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
        if (v == 0) {
            if (!mine) {
                /* full: checked first, so that misses past the end do not run the counter
                 * round to ids in use */
                if (atomic_load_explicit(&nnodes, memory_order_relaxed) >= MAX_NODES)
                    return parent;
                uint32_t id = atomic_fetch_add_explicit(&nnodes, 1, memory_order_relaxed);
                if (id >= MAX_NODES)
                    return parent;
                m->nodes[id] = (struct node){op, parent, name};
                mine = id;
            }
            uint64_t want = ((uint64_t)h32 << 32) | mine;
            /* release: publishes the node written above; pairs with the acquire loads */
            if (atomic_compare_exchange_strong_explicit(slot, &v, want, memory_order_release,
                                                        memory_order_acquire))
                return mine;
            /* lost the race: v is the winner's word; compare it below */
        }
        if ((uint32_t)(v >> 32) == h32) {
            const struct node *e = &m->nodes[(uint32_t)v];
            if (e->parent == parent && e->op == op && e->name == name)
                return (uint32_t)v;
        }
    }
    return parent;
}

uint32_t ta_scope(const struct ta_op *op, uint32_t name)
{
    struct mem *m = get_mem();
    if (!m)
        return 0;
    uint32_t id = 0;
    struct ta_thread *t = ta_self;
    if (t) {
        unsigned n = t->nmarks < TA_MARK_STACK ? t->nmarks : TA_MARK_STACK;
        for (unsigned i = 0; i < n; i++)
            id = child(m, id, &ta_op_range, t->marks[i].str);
    }
    if (op)
        id = child(m, id, op, name);
    return id;
}

uint32_t ta_scope_parent(uint32_t scope, const struct ta_op **op, const char **name)
{
    /* acquire: as in get_mem; an id handed over from another thread was published there */
    struct mem *m = atomic_load_explicit(&mem, memory_order_acquire);
    uint32_t used = atomic_load_explicit(&nnodes, memory_order_relaxed);
    if (!m || !scope || scope >= used || scope >= MAX_NODES) {
        if (op)
            *op = NULL;
        if (name)
            *name = NULL;
        return 0;
    }
    const struct node *e = &m->nodes[scope];
    if (op)
        *op = e->op;
    if (name)
        *name = e->name ? ta_str(e->name) : NULL; /* 0: the op's own name */
    return e->parent;
}
