/* The HDF5 family: files, datasets, groups, attributes and their reads and writes, as the
 * program called them (the LOGICAL layer), with the POSIX I/O libhdf5 makes nested beneath.
 *
 * The agent never links libhdf5 and includes none of its headers: the types are declared
 * here (hid_t is int64_t from 1.10 on, herr_t int, hsize_t uint64_t). Each wrapper is an
 * exported definition with HDF5's prototype; the dynamic linker binds the program's
 * versioned references (H5Dread@HDF5_SERIAL_1.8.7) to it as it binds read@GLIBC. The real
 * function is the one the CALLER's object would reach (ta_resolve_for): h5py's extension
 * modules hold their libhdf5 in an RTLD_LOCAL scope where RTLD_NEXT finds nothing
 * (FIELD_NOTES), and with two copies loaded each caller must reach its own. None found:
 * the wrapper returns HDF5's failure value and calls nothing.
 *
 * Libraries (`loaded`): every object matching "libhdf5*" that defines its own H5Dread is a
 * copy (the hl, C++ and Fortran libraries define none); up to MAX_COPIES, deduplicated by
 * their H5Dread. For each, the addresses of the wrapped functions (a wrapper finds its copy
 * by comparing its real pointer with them) and the helpers the agent calls itself
 * (H5Iget_name, H5Sget_select_npoints, ...), all looked up on ITS handle. The version comes
 * from the exported string H5_lib_vers_info_g: `loaded` may run inside a dlopen or on the
 * drainer, where calling into the library (H5get_libversion initialises it) is not safe.
 *
 * Names, once, at open: after H5Fopen/H5Dopen2/H5Oopen/... returned, with ta_guard raised
 * (the metadata I/O a look-up may cause is the agent's: not recorded), the object's path
 * (H5Iget_name) and its file's (the loc's entry, else H5Fget_name) are interned and kept by
 * (copy, hid) in a fixed table (one mapping at the first HDF5 call). Readers are lock-free:
 * a seqlock per entry; a reader that keeps seeing it written treats it as a miss (a fork
 * may leave an entry odd forever). A miss at read time (an object opened by a call not
 * wrapped, or evicted) looks the names up then: correct first, fast second. HDF5 never
 * reuses an id, so an entry left behind is harmless.
 *
 * Bytes and shape without an HDF5 call on a repeated read: a dataset's entry caches the
 * last (mem type, mem space, file space) with its bytes and shape and the value of a global
 * selection epoch, which pass-through wrappers of every call that can change a selection,
 * an extent or a type's size bump (H5Sselect_*, H5Sset_extent_*, H5Tset_size, ...). A read
 * whose triple and epoch match takes both from the cache; any other computes them (about
 * 5 HDF5 calls of 100-160 ns each: bench/NOTES.md row 32) after the real call returned.
 *
 * HDF5 sets no errno: a failed call (ret < 0) has TA_F_ERR, err 0 and the `error` field. */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>

#include "fdtab.h"
#include "ta.h"

typedef int64_t hid_t;
typedef int herr_t;
typedef int htri_t;
typedef uint64_t hsize_t;
typedef int64_t hssize_t;

#define H5I_INVALID_HID ((hid_t)-1)

/* ------------------------------------------------------------------------------------ */
/* Ops and their fields (THE EVENT CONTRACT of issue 15)                                 */

#define FLD_FILE {"file", TA_FT_STR, TA_ROLE_FILE, TA_OFF_STR, 0}
#define FLD_DSET {"dataset", TA_FT_STR, TA_ROLE_DATASET, TA_OFF_STR2, 0}
#define FLD_OBJ {"object", TA_FT_STR, TA_ROLE_NONE, TA_OFF_STR2, 0}
#define FLD_RET {"ret", TA_FT_I64, TA_ROLE_RET, TA_OFF_U64(0), TA_F_RET}
#define FLD_BYTES {"bytes", TA_FT_I64, TA_ROLE_BYTES, TA_OFF_U64(1), TA_F_BYTES}
#define FLD_BYTES_NONE {"bytes", TA_FT_I64, TA_ROLE_NONE, TA_OFF_U64(1), TA_F_BYTES}
#define FLD_SEL {"selection", TA_FT_STR, TA_ROLE_SHAPE, TA_OFF_U32(4), 0}
#define FLD_ATTR {"attribute", TA_FT_STR, TA_ROLE_NONE, TA_OFF_U32(5), 0}
#define FLD_COUNT {"count", TA_FT_U32, TA_ROLE_NONE, TA_OFF_U32(5), 0}
#define FLD_ERR {"error", TA_FT_TRUE, TA_ROLE_ERRNO, 0, TA_F_ERR}

static const struct ta_field f_file[] = {FLD_FILE, FLD_RET, FLD_ERR};
static const struct ta_field f_dset[] = {FLD_FILE, FLD_DSET, FLD_RET, FLD_ERR};
static const struct ta_field f_obj[] = {FLD_FILE, FLD_OBJ, FLD_RET, FLD_ERR};
static const struct ta_field f_rw[] = {FLD_FILE, FLD_DSET, FLD_RET, FLD_BYTES, FLD_SEL, FLD_ERR};
static const struct ta_field f_multi[] = {FLD_FILE, FLD_DSET,  FLD_RET, FLD_BYTES,
                                          FLD_SEL,  FLD_COUNT, FLD_ERR};
static const struct ta_field f_chunk[] = {FLD_FILE, FLD_DSET, FLD_RET, FLD_BYTES, FLD_SEL, FLD_ERR};
/* H5DO*_chunk call H5D*_chunk through the PLT: both are spans, the bytes count once */
static const struct ta_field f_dochunk[] = {FLD_FILE, FLD_DSET, FLD_RET, FLD_BYTES_NONE,
                                            FLD_SEL, FLD_ERR};
static const struct ta_field f_attr[] = {FLD_FILE, FLD_OBJ, FLD_ATTR, FLD_RET, FLD_BYTES, FLD_ERR};

#define NF(a) (uint8_t)(sizeof a / sizeof a[0])
#define H5OP(var, name_, io_, flds)                                                      \
    static const struct ta_op var = {name_,         TA_CAT_HDF5, io_, TA_SHAPE_SPAN, 0,  \
                                     TA_LAYER_LOGICAL, NF(flds), {0}, flds, {0}}

H5OP(op_fcreate, "H5Fcreate", TA_IO_OPEN, f_file);
H5OP(op_fopen, "H5Fopen", TA_IO_OPEN, f_file);
H5OP(op_fflush, "H5Fflush", TA_IO_SYNC, f_file);
H5OP(op_fclose, "H5Fclose", TA_IO_CLOSE, f_file);
H5OP(op_dcreate2, "H5Dcreate2", TA_IO_OPEN, f_dset);
H5OP(op_dcreate1, "H5Dcreate1", TA_IO_OPEN, f_dset);
H5OP(op_dopen2, "H5Dopen2", TA_IO_OPEN, f_dset);
H5OP(op_dopen1, "H5Dopen1", TA_IO_OPEN, f_dset);
H5OP(op_dread, "H5Dread", TA_IO_READ, f_rw);
H5OP(op_dwrite, "H5Dwrite", TA_IO_WRITE, f_rw);
H5OP(op_dread_multi, "H5Dread_multi", TA_IO_READ, f_multi);
H5OP(op_dwrite_multi, "H5Dwrite_multi", TA_IO_WRITE, f_multi);
H5OP(op_dread_chunk, "H5Dread_chunk", TA_IO_READ, f_chunk);
H5OP(op_dread_chunk1, "H5Dread_chunk1", TA_IO_READ, f_chunk);
H5OP(op_dread_chunk2, "H5Dread_chunk2", TA_IO_READ, f_chunk);
H5OP(op_dwrite_chunk, "H5Dwrite_chunk", TA_IO_WRITE, f_chunk);
H5OP(op_doread_chunk, "H5DOread_chunk", TA_IO_READ, f_dochunk);
H5OP(op_dowrite_chunk, "H5DOwrite_chunk", TA_IO_WRITE, f_dochunk);
H5OP(op_dset_extent, "H5Dset_extent", TA_IO_META, f_dset);
H5OP(op_dclose, "H5Dclose", TA_IO_CLOSE, f_dset);
H5OP(op_gcreate2, "H5Gcreate2", TA_IO_OPEN, f_obj);
H5OP(op_gcreate1, "H5Gcreate1", TA_IO_OPEN, f_obj);
H5OP(op_gopen2, "H5Gopen2", TA_IO_OPEN, f_obj);
H5OP(op_gopen1, "H5Gopen1", TA_IO_OPEN, f_obj);
H5OP(op_gclose, "H5Gclose", TA_IO_CLOSE, f_obj);
H5OP(op_acreate2, "H5Acreate2", TA_IO_OPEN, f_attr);
H5OP(op_acreate1, "H5Acreate1", TA_IO_OPEN, f_attr);
H5OP(op_aopen, "H5Aopen", TA_IO_OPEN, f_attr);
H5OP(op_aread, "H5Aread", TA_IO_READ, f_attr);
H5OP(op_awrite, "H5Awrite", TA_IO_WRITE, f_attr);
H5OP(op_aclose, "H5Aclose", TA_IO_CLOSE, f_attr);
/* h5py opens datasets with H5Oopen: a dataset's path goes under `dataset` (the `datasets`
 * table), any other object's under `object`, in another slot. One descriptor per name:
 * statistics and the tree keep one row per descriptor. */
static const struct ta_field f_oany[] = {
    FLD_FILE, FLD_DSET, {"object", TA_FT_STR, TA_ROLE_NONE, TA_OFF_U32(4), 0}, FLD_RET, FLD_ERR};
H5OP(op_oopen, "H5Oopen", TA_IO_OPEN, f_oany);
H5OP(op_oclose, "H5Oclose", TA_IO_CLOSE, f_oany);
H5OP(op_literate, "H5Literate", TA_IO_META, f_obj);
H5OP(op_literate2, "H5Literate2", TA_IO_META, f_obj);
H5OP(op_ovisit, "H5Ovisit", TA_IO_META, f_obj);
H5OP(op_ovisit2, "H5Ovisit2", TA_IO_META, f_obj);
H5OP(op_ovisit3, "H5Ovisit3", TA_IO_META, f_obj);

/* ------------------------------------------------------------------------------------ */
/* The copies of libhdf5                                                                 */

/* The wrapped functions whose address identifies a copy (F_ index into h5lib.fn) */
#define H5_FNS(X)                                                                        \
    X(H5Fcreate) X(H5Fopen) X(H5Fflush) X(H5Fclose) X(H5Dcreate2) X(H5Dcreate1)          \
    X(H5Dopen2) X(H5Dopen1) X(H5Dread) X(H5Dwrite) X(H5Dread_multi) X(H5Dwrite_multi)    \
    X(H5Dread_chunk) X(H5Dread_chunk1) X(H5Dread_chunk2) X(H5Dwrite_chunk) X(H5Dset_extent) X(H5Dclose) X(H5Gcreate2)        \
    X(H5Gcreate1) X(H5Gopen2) X(H5Gopen1) X(H5Gclose) X(H5Acreate2) X(H5Acreate1)        \
    X(H5Aopen) X(H5Aread) X(H5Awrite) X(H5Aclose) X(H5Oopen) X(H5Oclose) X(H5Literate)    \
    X(H5Literate2) X(H5Ovisit) X(H5Ovisit2) X(H5Ovisit3) X(H5Idec_ref) X(H5close)
enum {
#define X(n) F_##n,
    H5_FNS(X)
#undef X
        NFN
};
static const char *const fn_names[NFN] = {
#define X(n) #n,
    H5_FNS(X)
#undef X
};

#define MAX_COPIES 4
struct h5lib {
    void *fn[NFN]; /* its own definitions (NULL: it has none) */
    unsigned maj, min, rel; /* 0.0.0: not known yet */
    int attr_type;          /* H5I_ATTR: 6 before 1.12, 7 from 1.12 (H5I_MAP) */
    int names;              /* 1: look names up (hid_t is 64-bit: 1.10 on); -1: never */
    /* Its ids' era: H5close (or an unload and a new load) closes every id without a
     * wrapper seeing it, and the library's counters start over, handing out the same ids
     * again. Entries of an older era are misses. */
    _Atomic uint16_t era;
    ssize_t (*Iget_name)(hid_t, char *, size_t);
    ssize_t (*Fget_name)(hid_t, char *, size_t);
    int (*Iget_type)(hid_t);
    hssize_t (*Sget_select_npoints)(hid_t);
    int (*Sget_select_type)(hid_t);
    herr_t (*Sget_select_bounds)(hid_t, hsize_t *, hsize_t *);
    int (*Sget_simple_extent_ndims)(hid_t);
    hssize_t (*Sget_simple_extent_npoints)(hid_t);
    herr_t (*Sclose)(hid_t);
    size_t (*Tget_size)(hid_t);
    hid_t (*Dget_space)(hid_t);
    hid_t (*Aget_space)(hid_t);
    ssize_t (*Aget_name)(hid_t, size_t, char *);
    herr_t (*Dget_chunk_storage_size)(hid_t, const hsize_t *, hsize_t *);
    herr_t (*get_libversion)(unsigned *, unsigned *, unsigned *);
};
static struct h5lib copies[MAX_COPIES];
static _Atomic int ncopies;

/* The copy whose definition of function `f` is `real`: <= MAX_COPIES compares. -1: a
 * definition of no known copy (record the op without names or bytes). */
static inline int copy_of(void *real, int f)
{
    int n = atomic_load_explicit(&ncopies, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (copies[i].fn[f] == real)
            return i;
    return -1;
}

const char *const ta_hdf5_wants[] = {"libhdf5*", NULL};

static void parse_version(struct h5lib *L, const char *s)
{
    /* "HDF5 library version: 1.10.8" (1.14 and 2.0 keep the form) */
    const char *p = s ? strstr(s, "version:") : NULL;
    if (!p)
        return;
    p += 8;
    unsigned v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        while (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            break;
        while (*p >= '0' && *p <= '9')
            v[i] = v[i] * 10 + (unsigned)(*p++ - '0');
        if (*p == '.')
            p++;
    }
    L->maj = v[0], L->min = v[1], L->rel = v[2];
}

static void set_version_rules(struct h5lib *L)
{
    unsigned v = L->maj * 100 + L->min;
    L->attr_type = v >= 112 ? 7 : 6;
    /* hid_t was 32-bit before 1.10: the 64-bit prototypes would misread the ids */
    L->names = v >= 110 ? 1 : -1;
    if (L->names < 0)
        ta_info("hdf5: library %u.%u.%u is older than 1.10: ops are recorded without names "
                "or bytes", L->maj, L->min, L->rel);
}

/* One call at a time (the interface's promise), on any thread, possibly inside a dlopen:
 * dlsym only, nothing called in the library. */
static void h5_loaded(const char *path, void *handle)
{
    void *dread = dlsym(handle, "H5Dread");
    struct link_map *mine = NULL, *lm = NULL;
    Dl_info di;
    if (!dread || dlinfo(handle, RTLD_DI_LINKMAP, &mine) != 0 ||
        !dladdr1(dread, &di, (void **)&lm, RTLD_DL_LINKMAP) || lm != mine) {
        dlerror();
        return; /* libhdf5_hl and the like: their H5Dread is their dependency's */
    }
    int n = atomic_load_explicit(&ncopies, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (copies[i].fn[F_H5Dread] == dread) {
            /* loaded again where it was: its ids start over */
            atomic_fetch_add_explicit(&copies[i].era, 1, memory_order_relaxed);
            return;
        }
    if (n == MAX_COPIES) {
        ta_info("hdf5: %s is a copy of libhdf5 beyond the %d the agent keeps: its ops are "
                "recorded without names", path, MAX_COPIES);
        return;
    }
    struct h5lib *L = &copies[n];
    memset(L, 0, sizeof *L);
    for (int i = 0; i < NFN; i++) {
        void *p = dlsym(handle, fn_names[i]);
        /* a name the copy lacks but a dependency has is not the copy's */
        if (p && (!dladdr1(p, &di, (void **)&lm, RTLD_DL_LINKMAP) || lm != mine))
            p = NULL;
        L->fn[i] = p;
    }
#define H(field, name) L->field = (__typeof__(L->field))dlsym(handle, name)
    H(Iget_name, "H5Iget_name");
    H(Fget_name, "H5Fget_name");
    H(Iget_type, "H5Iget_type");
    H(Sget_select_npoints, "H5Sget_select_npoints");
    H(Sget_select_type, "H5Sget_select_type");
    H(Sget_select_bounds, "H5Sget_select_bounds");
    H(Sget_simple_extent_ndims, "H5Sget_simple_extent_ndims");
    H(Sget_simple_extent_npoints, "H5Sget_simple_extent_npoints");
    H(Sclose, "H5Sclose");
    H(Tget_size, "H5Tget_size");
    H(Dget_space, "H5Dget_space");
    H(Aget_space, "H5Aget_space");
    H(Aget_name, "H5Aget_name");
    H(Dget_chunk_storage_size, "H5Dget_chunk_storage_size");
    H(get_libversion, "H5get_libversion");
#undef H
    parse_version(L, (const char *)dlsym(handle, "H5_lib_vers_info_g"));
    if (L->maj)
        set_version_rules(L);
    dlerror(); /* not the program's to see */
    atomic_store_explicit(&ncopies, n + 1, memory_order_release);
    ta_debug("hdf5: copy %d: %s, version %u.%u.%u", n, path, L->maj, L->min, L->rel);
}

/* May the agent call copy c's helpers? The version is asked of the library itself, once,
 * after a wrapped call returned, when its string was not there. */
static bool names_ok(int c)
{
    if (c < 0)
        return false;
    struct h5lib *L = &copies[c];
    if (ta_unlikely(!L->names)) {
        unsigned a = 0, b = 0, r = 0;
        if (L->get_libversion && L->get_libversion(&a, &b, &r) >= 0) {
            L->maj = a, L->min = b, L->rel = r;
            set_version_rules(L);
        } else {
            L->names = -1;
        }
    }
    return L->names > 0 && L->Iget_name && L->Fget_name && L->Iget_type &&
           L->Sget_select_npoints && L->Tget_size && L->Sget_select_type && L->Sclose &&
           L->Dget_space;
}

/* ------------------------------------------------------------------------------------ */
/* The handle table: (copy, hid) -> names, and a dataset's last read                    */

enum { K_NONE, K_FILE, K_DSET, K_GROUP, K_ATTR, K_OBJ };

/* One cache line: a lookup reads one line (the table is mapped page-aligned). */
struct hent {
    _Atomic uint32_t seq; /* odd while written */
    uint8_t copy, kind;
    uint16_t era;         /* the copy's era when written */
    hid_t hid;
    uint32_t file, obj;   /* interned file path, object path */
    union {
        uint32_t shape;   /* datasets: the cached read's shape (interned) */
        uint32_t attr;    /* attributes: the attribute's name */
    };
    uint32_t epoch;       /* sel_epoch when the cache was filled; 0: nothing cached */
    hid_t mtype, mspace, fspace; /* attributes: mspace holds the cached type's size */
    int64_t bytes;        /* the cached read's bytes; attributes: their element count */
};
_Static_assert(sizeof(struct hent) == 64, "an entry is one cache line");

#define HT_BITS 13 /* 8192 entries, 512 KiB: objects open at once, beyond which an entry
                    * near the new one's slot is evicted (looked up again at its next call) */
#define HT_SIZE (1u << HT_BITS)
#define HT_PROBE 8
static _Atomic(struct hent *) htab;

/* Bumped after every call that can change a selection, an extent or a type's size. */
static _Atomic uint32_t sel_epoch = 1;
TA_INLINE void epoch_bump(void) { atomic_fetch_add_explicit(&sel_epoch, 1, memory_order_relaxed); }

static struct hent *ht_get_table(void) __attribute__((cold));
static struct hent *ht_get_table(void)
{
    struct hent *t = atomic_load_explicit(&htab, memory_order_acquire);
    if (t)
        return t;
    struct hent *n = ta_sys_mmap(sizeof(struct hent) * HT_SIZE);
    if (!n)
        return NULL;
    /* every page now, in one call: slots are taken in the order ids are made, so a program
     * opening dataset after dataset would otherwise fault a page every 64 opens (row 32) */
    ta_sys_populate(n, sizeof(struct hent) * HT_SIZE);
    if (atomic_compare_exchange_strong(&htab, &t, n))
        return n;
    ta_sys_munmap(n, sizeof(struct hent) * HT_SIZE);
    return t;
}

/* An id is its type in the top bits over a counter that each new id of the type
 * increments: consecutive ids take consecutive slots (a program opening and closing
 * dataset after dataset walks the table; a hash that scattered them cost a cache miss or
 * a page fault at each open: bench/NOTES.md row 32) */
TA_INLINE unsigned ht_slot(int copy, hid_t hid)
{
    uint64_t u = (uint64_t)hid;
    return (unsigned)(u + (u >> 56) * 2053u + (unsigned)copy * 5179u) & (HT_SIZE - 1);
}

/* A consistent copy of the entry for (copy, hid), or false (absent, or being written). */
TA_INLINE bool ht_get(int copy, hid_t hid, struct hent *out)
{
    struct hent *t = atomic_load_explicit(&htab, memory_order_acquire);
    if (ta_unlikely(!t) || copy < 0)
        return false;
    unsigned s = ht_slot(copy, hid);
    for (int p = 0; p < HT_PROBE; p++) {
        struct hent *e = &t[(s + p) & (HT_SIZE - 1)];
        for (int tries = 0; tries < 4; tries++) {
            uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
            if (s1 & 1)
                continue;
            memcpy(out, e, sizeof *out);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
                continue;
            if (out->kind != K_NONE && out->hid == hid && out->copy == copy &&
                out->era == atomic_load_explicit(&copies[copy].era, memory_order_relaxed))
                return true;
            break; /* not this slot */
        }
    }
    return false;
}

/* Write entry (copy, hid): its slot, else a free one, else one evicted. Writers take the
 * entry by making its sequence odd; an entry another thread writes is skipped (a cache). */
static void ht_put(const struct hent *v)
{
    struct hent *t = ht_get_table();
    if (!t)
        return;
    unsigned s = ht_slot(v->copy, v->hid);
    struct hent *pick = NULL;
    for (int p = 0; p < HT_PROBE; p++) {
        struct hent *e = &t[(s + p) & (HT_SIZE - 1)];
        if (e->kind != K_NONE && e->hid == v->hid && e->copy == v->copy) {
            pick = e;
            break;
        }
        if (!pick && e->kind == K_NONE)
            pick = e;
    }
    if (!pick)
        pick = &t[(s + ((uint64_t)v->hid & (HT_PROBE - 1))) & (HT_SIZE - 1)];
    uint32_t q = atomic_load_explicit(&pick->seq, memory_order_relaxed);
    if ((q & 1) || !atomic_compare_exchange_strong_explicit(&pick->seq, &q, q + 1,
                                                            memory_order_acquire,
                                                            memory_order_relaxed))
        return;
    atomic_thread_fence(memory_order_release);
    pick->copy = v->copy;
    pick->era = atomic_load_explicit(&copies[v->copy].era, memory_order_relaxed);
    pick->kind = v->kind;
    pick->hid = v->hid;
    pick->file = v->file;
    pick->obj = v->obj;
    pick->shape = v->shape;
    pick->epoch = v->epoch;
    pick->mtype = v->mtype;
    pick->mspace = v->mspace;
    pick->fspace = v->fspace;
    pick->bytes = v->bytes;
    atomic_store_explicit(&pick->seq, q + 2, memory_order_release);
}

static void ht_del(int copy, hid_t hid)
{
    struct hent *t = atomic_load_explicit(&htab, memory_order_acquire);
    if (!t || copy < 0)
        return;
    unsigned s = ht_slot(copy, hid);
    for (int p = 0; p < HT_PROBE; p++) {
        struct hent *e = &t[(s + p) & (HT_SIZE - 1)];
        if (e->kind == K_NONE || e->hid != hid || e->copy != copy)
            continue;
        uint32_t q = atomic_load_explicit(&e->seq, memory_order_relaxed);
        if ((q & 1) || !atomic_compare_exchange_strong_explicit(&e->seq, &q, q + 1,
                                                                memory_order_acquire,
                                                                memory_order_relaxed))
            return;
        atomic_thread_fence(memory_order_release);
        e->kind = K_NONE;
        atomic_store_explicit(&e->seq, q + 2, memory_order_release);
        return;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Look-ups (after the real call returned, on success, with ta_guard raised)             */

static uint32_t intern_buf(const char *b, ssize_t n, size_t cap)
{
    if (n <= 0)
        return 0;
    size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
    return ta_intern(b, strnlen(b, len));
}

/* The file's absolute path for a file name as the program gave it */
static uint32_t file_path_id(const char *name)
{
    bool excluded = false;
    if (!name || !name[0])
        return 0;
    return ta_path_id(AT_FDCWD, name, false, &excluded);
}

/* The file of any object id: the loc's entry, else H5Fget_name */
static uint32_t file_of(int c, hid_t loc)
{
    struct hent e;
    if (ht_get(c, loc, &e) && e.file)
        return e.file;
    if (!names_ok(c))
        return 0;
    char buf[4096];
    ssize_t n = copies[c].Fget_name(loc, buf, sizeof buf);
    if (n <= 0)
        return 0;
    buf[sizeof buf - 1] = 0;
    return file_path_id(buf);
}

static uint32_t obj_name(int c, hid_t id)
{
    char buf[1024];
    ssize_t n = copies[c].Iget_name(id, buf, sizeof buf);
    return intern_buf(buf, n, sizeof buf);
}

static int kind_of_type(int c, int type)
{
    if (type == 1)
        return K_FILE;
    if (type == 2)
        return K_GROUP;
    if (type == 5)
        return K_DSET;
    if (type == copies[c].attr_type)
        return K_ATTR;
    return K_OBJ;
}

/* Names of object `id` (of kind `kind`, or K_NONE: ask) in a new entry; `loc` gives its
 * file when not 0. False when the agent may not ask this copy. */
static bool describe(int c, hid_t id, hid_t loc, int kind, struct hent *e)
{
    memset(e, 0, sizeof *e);
    if (!names_ok(c))
        return false;
    struct h5lib *L = &copies[c];
    int saved = errno;
    ta_guard++;
    if (kind == K_NONE)
        kind = kind_of_type(c, L->Iget_type(id));
    e->copy = (uint8_t)c;
    e->hid = id;
    e->kind = (uint8_t)kind;
    e->file = file_of(c, loc ? loc : id);
    if (kind != K_FILE)
        e->obj = obj_name(c, id);
    if (kind == K_ATTR) {
        char buf[256];
        if (L->Aget_name)
            e->attr = intern_buf(buf, L->Aget_name(id, sizeof buf, buf), sizeof buf);
        hid_t sp = L->Aget_space ? L->Aget_space(id) : -1;
        if (sp >= 0) {
            e->bytes = L->Sget_select_npoints(sp);
            L->Sclose(sp);
        }
    }
    ta_guard--;
    errno = saved;
    return true;
}

/* The entry of `id`, looked up and kept on a miss */
static bool entry_of(int c, hid_t id, int kind, struct hent *e) __attribute__((cold));
static bool entry_of(int c, hid_t id, int kind, struct hent *e)
{
    if (ht_get(c, id, e))
        return true;
    if (!describe(c, id, 0, kind, e))
        return false;
    ht_put(e);
    return true;
}

static uint32_t shape_id(const char *s) { return ta_intern_cstr(s); }

/* Bytes and shape of a read or write on dataset `d`, computed with the library */
static void sel_compute(int c, hid_t d, hid_t mt, hid_t ms, hid_t fs, int64_t *bytes,
                        uint32_t *shape)
{
    struct h5lib *L = &copies[c];
    *bytes = -1;
    *shape = 0;
    /* H5S_ALL 0; 1.14 adds H5S_BLOCK 1 and H5S_PLIST 2: real ids are far larger */
    hssize_t np = -1;
    hid_t own = -1;
    if (ms > 2)
        np = L->Sget_select_npoints(ms);
    else if (fs > 2)
        np = L->Sget_select_npoints(fs);
    else if ((own = L->Dget_space(d)) >= 0)
        np = L->Sget_select_npoints(own);
    size_t ts = L->Tget_size(mt);
    if (np >= 0 && ts > 0)
        *bytes = (int64_t)np * (int64_t)ts;
    if (fs <= 2) {
        *shape = shape_id("all");
    } else {
        int st = L->Sget_select_type(fs);
        char b[160];
        if (st == 3) {
            *shape = shape_id("all");
        } else if (st == 0) {
            *shape = shape_id("none");
        } else if (st == 1) {
            /* a read's memory and file selections have the same number of points */
            ta_fmt(b, sizeof b, "points:%lld", (long long)np);
            *shape = shape_id(b);
        } else if (st == 2 && np == 0) {
            /* no block selected: H5Sget_select_bounds would fail, and HDF5 print that */
            *shape = shape_id("none");
        } else if (st == 2 && L->Sget_select_bounds && L->Sget_simple_extent_ndims) {
            int nd = L->Sget_simple_extent_ndims(fs);
            hsize_t lo[32], hi[32];
            if (nd > 0 && nd <= 32 && L->Sget_select_bounds(fs, lo, hi) >= 0) {
                size_t k = 0;
                b[k++] = '[';
                for (int i = 0; i < nd && k < sizeof b - 24; i++)
                    k += (size_t)ta_fmt(b + k, sizeof b - k, i ? ",%llu" : "%llu",
                                        (unsigned long long)(hi[i] - lo[i] + 1));
                b[k++] = ']';
                b[k] = 0;
                *shape = shape_id(b);
            }
        }
    }
    if (own >= 0)
        L->Sclose(own);
}

/* ------------------------------------------------------------------------------------ */
/* Recording                                                                             */

static inline void h5_rec(struct ta_span *sp, const struct ta_op *op, bool failed,
                          uint32_t file, uint32_t obj, int64_t ret, int64_t bytes,
                          uint32_t shape, uint32_t u5)
{
    struct ta_rec *rec = ta_rec_begin_peeked(sp->t, sp->slot);
    if (ta_unlikely(!rec))
        return; /* counted as dropped by the ring */
    ta_rec_span(rec, op, sp->t0, sp->t1, (uint8_t)(sp->t->depth - 1));
    rec->u.io.ret = ret;
    rec->u.io.bytes = bytes;
    rec->u.u32[4] = shape;
    rec->u.u32[5] = u5;
    rec->str = file;
    rec->str2 = obj;
    uint8_t f = TA_F_RET;
    if (failed)
        f |= TA_F_ERR;
    else if (bytes >= 0)
        f |= TA_F_BYTES;
    rec->flags = f;
    ta_rec_commit(sp->t);
}

/* The real function for this caller, or return `fail` */
#define H5REAL(fn, fail)                                                                 \
    __typeof__(fn) *real =                                                               \
        (__typeof__(fn) *)ta_resolve_for(#fn, __builtin_return_address(0));              \
    if (ta_unlikely(!real))                                                              \
        return fail

/* Enter; not recorded: just the call */
#define H5ENTER(sp, ...)                                                                 \
    struct ta_span sp;                                                                   \
    if (!TA_SPAN_ENTER(sp, TA_CAT_HDF5))                                                 \
        return real(__VA_ARGS__)

/* The call between the stamps (errno untouched: HDF5 sets none) */
#define H5CALL(sp, decl, ...) TA_SPAN_CALL(sp, decl, real(__VA_ARGS__), 0)

/* ------------------------------------------------------------------------------------ */
/* Files                                                                                 */

static hid_t file_open_common(struct ta_span *sp, const struct ta_op *op, int c,
                              const char *name, hid_t r)
{
    uint32_t file = 0;
    if (!TA_NOP) {
        ta_guard++;
        file = file_path_id(name);
        ta_guard--;
        if (r >= 0 && c >= 0) {
            struct hent e;
            memset(&e, 0, sizeof e);
            e.copy = (uint8_t)c;
            e.kind = K_FILE;
            e.hid = r;
            e.file = file;
            ht_put(&e);
        }
        h5_rec(sp, op, r < 0, file, 0, r, -1, 0, 0);
    }
    return r;
}

TA_EXPORT hid_t H5Fcreate(const char *name, unsigned flags, hid_t fcpl, hid_t fapl)
{
    H5REAL(H5Fcreate, H5I_INVALID_HID);
    H5ENTER(sp, name, flags, fcpl, fapl);
    H5CALL(sp, hid_t r, name, flags, fcpl, fapl);
    file_open_common(&sp, &op_fcreate, copy_of((void *)real, F_H5Fcreate), name, r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT hid_t H5Fopen(const char *name, unsigned flags, hid_t fapl)
{
    H5REAL(H5Fopen, H5I_INVALID_HID);
    H5ENTER(sp, name, flags, fapl);
    H5CALL(sp, hid_t r, name, flags, fapl);
    file_open_common(&sp, &op_fopen, copy_of((void *)real, F_H5Fopen), name, r);
    return TA_SPAN_LEAVE(sp, r);
}

/* Names of `id` for a call on it: its entry, looked up on a miss when `lookup` (the id is
 * still valid) */
static void names_of(int c, hid_t id, int kind, bool lookup, uint32_t *file, uint32_t *obj,
                     struct hent *e)
{
    if (ht_get(c, id, e) || (lookup && entry_of(c, id, kind, e))) {
        *file = e->file;
        *obj = e->obj;
    } else {
        memset(e, 0, sizeof *e);
        *file = *obj = 0;
    }
}

/* The entry of an id about to be closed: the table's, else looked up now (an object opened
 * by a call not wrapped, H5Oopen_by_idx, H5Rdereference, or evicted), while the id is valid */
static bool entry_before_close(int c, hid_t id, struct hent *e)
{
    if (ht_get(c, id, e))
        return true;
    return c >= 0 && describe(c, id, 0, K_NONE, e);
}

TA_EXPORT herr_t H5Fflush(hid_t obj, int scope)
{
    H5REAL(H5Fflush, -1);
    H5ENTER(sp, obj, scope);
    H5CALL(sp, herr_t r, obj, scope);
    int c = copy_of((void *)real, F_H5Fflush);
    struct hent e;
    uint32_t file = 0;
    if (ht_get(c, obj, &e))
        file = e.file;
    else if (r >= 0 && names_ok(c)) {
        ta_guard++;
        file = file_of(c, obj);
        ta_guard--;
    }
    h5_rec(&sp, &op_fflush, r < 0, file, 0, r, -1, 0, 0);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT herr_t H5Fclose(hid_t f)
{
    H5REAL(H5Fclose, -1);
    H5ENTER(sp, f);
    int c = copy_of((void *)real, F_H5Fclose);
    struct hent e;
    uint32_t file = entry_before_close(c, f, &e) ? e.file : 0;
    H5CALL(sp, herr_t r, f);
    if (r >= 0)
        ht_del(c, f);
    h5_rec(&sp, &op_fclose, r < 0, file, 0, r, -1, 0, 0);
    return TA_SPAN_LEAVE(sp, r);
}

/* ------------------------------------------------------------------------------------ */
/* Opens and closes of objects                                                           */

/* After an open or create returned `r` on `loc`: its entry, and the record */
static void obj_opened(struct ta_span *sp, const struct ta_op *op, int c, hid_t loc, hid_t r,
                       int kind)
{
    struct hent e;
    memset(&e, 0, sizeof e);
    if (r >= 0 && describe(c, r, loc, kind, &e))
        ht_put(&e);
    else if (r < 0 && c >= 0) {
        /* failed: at least the file, from the loc's entry (no call on a failed id) */
        struct hent l;
        if (ht_get(c, loc, &l))
            e.file = l.file;
    }
    h5_rec(sp, op, r < 0, e.file, e.obj, r, -1, 0, e.attr);
}

#define OPEN_WRAPPER(fn, op, kind, loc, params, ...)                                     \
    TA_EXPORT hid_t fn params                                                            \
    {                                                                                    \
        H5REAL(fn, H5I_INVALID_HID);                                                     \
        H5ENTER(sp, __VA_ARGS__);                                                        \
        H5CALL(sp, hid_t r, __VA_ARGS__);                                                \
        obj_opened(&sp, &op, copy_of((void *)real, F_##fn), loc, r, kind);               \
        return TA_SPAN_LEAVE(sp, r);                                                     \
    }

OPEN_WRAPPER(H5Dcreate2, op_dcreate2, K_DSET, loc,
             (hid_t loc, const char *name, hid_t type, hid_t space, hid_t lcpl, hid_t dcpl,
              hid_t dapl),
             loc, name, type, space, lcpl, dcpl, dapl)
OPEN_WRAPPER(H5Dcreate1, op_dcreate1, K_DSET, loc,
             (hid_t loc, const char *name, hid_t type, hid_t space, hid_t dcpl), loc, name,
             type, space, dcpl)
OPEN_WRAPPER(H5Dopen2, op_dopen2, K_DSET, loc, (hid_t loc, const char *name, hid_t dapl), loc,
             name, dapl)
OPEN_WRAPPER(H5Dopen1, op_dopen1, K_DSET, loc, (hid_t loc, const char *name), loc, name)
OPEN_WRAPPER(H5Gcreate2, op_gcreate2, K_GROUP, loc,
             (hid_t loc, const char *name, hid_t lcpl, hid_t gcpl, hid_t gapl), loc, name, lcpl,
             gcpl, gapl)
OPEN_WRAPPER(H5Gcreate1, op_gcreate1, K_GROUP, loc, (hid_t loc, const char *name, size_t hint),
             loc, name, hint)
OPEN_WRAPPER(H5Gopen2, op_gopen2, K_GROUP, loc, (hid_t loc, const char *name, hid_t gapl), loc,
             name, gapl)
OPEN_WRAPPER(H5Gopen1, op_gopen1, K_GROUP, loc, (hid_t loc, const char *name), loc, name)
OPEN_WRAPPER(H5Acreate2, op_acreate2, K_ATTR, loc,
             (hid_t loc, const char *name, hid_t type, hid_t space, hid_t acpl, hid_t aapl), loc,
             name, type, space, acpl, aapl)
OPEN_WRAPPER(H5Acreate1, op_acreate1, K_ATTR, loc,
             (hid_t loc, const char *name, hid_t type, hid_t space, hid_t acpl), loc, name, type,
             space, acpl)
OPEN_WRAPPER(H5Aopen, op_aopen, K_ATTR, obj, (hid_t obj, const char *name, hid_t aapl), obj,
             name, aapl)

TA_EXPORT hid_t H5Oopen(hid_t loc, const char *name, hid_t lapl)
{
    H5REAL(H5Oopen, H5I_INVALID_HID);
    H5ENTER(sp, loc, name, lapl);
    H5CALL(sp, hid_t r, loc, name, lapl);
    int c = copy_of((void *)real, F_H5Oopen);
    struct hent e;
    memset(&e, 0, sizeof e);
    if (r >= 0 && describe(c, r, loc, K_NONE, &e))
        ht_put(&e);
    else if (r < 0 && c >= 0) {
        struct hent l; /* failed: at least the file, from the location's entry */
        if (ht_get(c, loc, &l))
            e.file = l.file;
    }
    bool ds = e.kind == K_DSET;
    h5_rec(&sp, &op_oopen, r < 0, e.file, ds ? e.obj : 0, r, -1, ds ? 0 : e.obj, 0);
    return TA_SPAN_LEAVE(sp, r);
}

/* A close: names from the entry before the call (the id is gone after), dropped after */
static void obj_closed(struct ta_span *sp, const struct ta_op *op, int c, hid_t id,
                       const struct hent *e, bool had, herr_t r)
{
    if (r >= 0 && had)
        ht_del(c, id);
    h5_rec(sp, op, r < 0, had ? e->file : 0, had ? e->obj : 0, r, -1, 0,
           had ? e->attr : 0);
}

#define CLOSE_WRAPPER(fn, op)                                                            \
    TA_EXPORT herr_t fn(hid_t id)                                                        \
    {                                                                                    \
        H5REAL(fn, -1);                                                                  \
        H5ENTER(sp, id);                                                                 \
        int c = copy_of((void *)real, F_##fn);                                           \
        struct hent e;                                                                   \
        bool had = entry_before_close(c, id, &e);                                        \
        H5CALL(sp, herr_t r, id);                                                        \
        obj_closed(&sp, &op, c, id, &e, had, r);                                         \
        return TA_SPAN_LEAVE(sp, r);                                                     \
    }
CLOSE_WRAPPER(H5Dclose, op_dclose)
CLOSE_WRAPPER(H5Gclose, op_gclose)
CLOSE_WRAPPER(H5Aclose, op_aclose)

TA_EXPORT herr_t H5Oclose(hid_t id)
{
    H5REAL(H5Oclose, -1);
    H5ENTER(sp, id);
    int c = copy_of((void *)real, F_H5Oclose);
    struct hent e;
    bool had = entry_before_close(c, id, &e);
    H5CALL(sp, herr_t r, id);
    if (r >= 0 && had)
        ht_del(c, id);
    bool ds = had && e.kind == K_DSET;
    uint32_t obj = had ? e.obj : 0;
    h5_rec(&sp, &op_oclose, r < 0, had ? e.file : 0, ds ? obj : 0, r, -1, ds ? 0 : obj, 0);
    return TA_SPAN_LEAVE(sp, r);
}

/* h5py closes with H5Idec_ref: not recorded, the entry dropped when the id goes */
TA_EXPORT int H5Idec_ref(hid_t id)
{
    H5REAL(H5Idec_ref, -1);
    int r = real(id);
    if (r == 0 && !TA_NOP)
        ht_del(copy_of((void *)real, F_H5Idec_ref), id);
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* Reads and writes                                                                      */

static void rw_slow(int c, hid_t d, hid_t mt, hid_t ms, hid_t fs, struct hent *e, bool hit,
                    uint32_t epoch) __attribute__((cold));
static void rw_slow(int c, hid_t d, hid_t mt, hid_t ms, hid_t fs, struct hent *e, bool hit,
                    uint32_t epoch)
{
    /* no name yet: h5py writes `f['x'] = a` through an anonymous dataset it links after
     * the write; asked again until it has one */
    if ((!hit || !e->obj) && !describe(c, d, 0, K_DSET, e)) {
        e->bytes = -1;
        e->shape = 0;
        return;
    }
    int saved = errno;
    ta_guard++;
    sel_compute(c, d, mt, ms, fs, &e->bytes, &e->shape);
    ta_guard--;
    errno = saved;
    e->mtype = mt;
    e->mspace = ms;
    e->fspace = fs;
    e->epoch = epoch;
    ht_put(e);
}

/* After H5Dread/H5Dwrite returned r: names, bytes and shape (cached), and the record */
TA_INLINE void rw_done(struct ta_span *sp, const struct ta_op *op, int c, hid_t d, hid_t mt,
                       hid_t ms, hid_t fs, struct hent *e, bool hit, herr_t r)
{
    if (ta_likely(r >= 0) && c >= 0) {
        uint32_t epoch = atomic_load_explicit(&sel_epoch, memory_order_relaxed);
        if (!(hit && e->epoch == epoch && e->mtype == mt && e->mspace == ms && e->fspace == fs &&
              e->obj))
            rw_slow(c, d, mt, ms, fs, e, hit, epoch);
        h5_rec(sp, op, false, e->file, e->obj, r, e->bytes, e->shape, 0);
    } else {
        h5_rec(sp, op, r < 0, hit ? e->file : 0, hit ? e->obj : 0, r, -1, 0, 0);
    }
}

TA_EXPORT TA_HOT herr_t H5Dread(hid_t d, hid_t mt, hid_t ms, hid_t fs, hid_t dxpl, void *buf)
{
    H5REAL(H5Dread, -1);
    H5ENTER(sp, d, mt, ms, fs, dxpl, buf);
    int c = copy_of((void *)real, F_H5Dread);
    struct hent e;
    bool hit = ht_get(c, d, &e);
    H5CALL(sp, herr_t r, d, mt, ms, fs, dxpl, buf);
    rw_done(&sp, &op_dread, c, d, mt, ms, fs, &e, hit, r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT TA_HOT herr_t H5Dwrite(hid_t d, hid_t mt, hid_t ms, hid_t fs, hid_t dxpl,
                                 const void *buf)
{
    H5REAL(H5Dwrite, -1);
    H5ENTER(sp, d, mt, ms, fs, dxpl, buf);
    int c = copy_of((void *)real, F_H5Dwrite);
    struct hent e;
    bool hit = ht_get(c, d, &e);
    H5CALL(sp, herr_t r, d, mt, ms, fs, dxpl, buf);
    rw_done(&sp, &op_dwrite, c, d, mt, ms, fs, &e, hit, r);
    return TA_SPAN_LEAVE(sp, r);
}

/* *_multi (1.14 on): names and shape of the first dataset, bytes summed; no cache */
static void multi_done(struct ta_span *sp, const struct ta_op *op, int c, size_t n,
                       const hid_t *d, const hid_t *mt, const hid_t *ms, const hid_t *fs,
                       herr_t r)
{
    struct hent e;
    memset(&e, 0, sizeof e);
    int64_t total = -1;
    uint32_t shape0 = 0;
    if (r >= 0 && n > 0 && d && mt && ms && fs && names_ok(c)) {
        entry_of(c, d[0], K_DSET, &e);
        total = 0;
        ta_guard++;
        for (size_t i = 0; i < n; i++) {
            int64_t b;
            uint32_t s;
            sel_compute(c, d[i], mt[i], ms[i], fs[i], &b, &s);
            if (i == 0)
                shape0 = s;
            if (b >= 0)
                total += b;
        }
        ta_guard--;
    } else if (n > 0 && d) {
        ht_get(c, d[0], &e);
    }
    h5_rec(sp, op, r < 0, e.file, e.obj, r, total, shape0, (uint32_t)n);
}

TA_EXPORT herr_t H5Dread_multi(size_t n, hid_t d[], hid_t mt[], hid_t ms[], hid_t fs[],
                               hid_t dxpl, void *buf[])
{
    H5REAL(H5Dread_multi, -1);
    H5ENTER(sp, n, d, mt, ms, fs, dxpl, buf);
    H5CALL(sp, herr_t r, n, d, mt, ms, fs, dxpl, buf);
    multi_done(&sp, &op_dread_multi, copy_of((void *)real, F_H5Dread_multi), n, d, mt, ms, fs,
               r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT herr_t H5Dwrite_multi(size_t n, hid_t d[], hid_t mt[], hid_t ms[], hid_t fs[],
                                hid_t dxpl, const void *buf[])
{
    H5REAL(H5Dwrite_multi, -1);
    H5ENTER(sp, n, d, mt, ms, fs, dxpl, buf);
    H5CALL(sp, herr_t r, n, d, mt, ms, fs, dxpl, buf);
    multi_done(&sp, &op_dwrite_multi, copy_of((void *)real, F_H5Dwrite_multi), n, d, mt, ms,
               fs, r);
    return TA_SPAN_LEAVE(sp, r);
}

/* Chunk ops: the chunk's stored bytes; shape "chunk" */
static void chunk_done(struct ta_span *sp, const struct ta_op *op, int c, hid_t d,
                       const hsize_t *off, int64_t bytes, herr_t r)
{
    struct hent e;
    memset(&e, 0, sizeof e);
    if (r >= 0) {
        entry_of(c, d, K_DSET, &e);
        if (bytes < 0 && off && names_ok(c) && copies[c].Dget_chunk_storage_size) {
            hsize_t nb = 0;
            ta_guard++;
            if (copies[c].Dget_chunk_storage_size(d, off, &nb) >= 0)
                bytes = (int64_t)nb;
            ta_guard--;
        }
    } else {
        ht_get(c, d, &e);
        bytes = -1;
    }
    h5_rec(sp, op, r < 0, e.file, e.obj, r, r >= 0 ? bytes : -1, shape_id("chunk"), 0);
}

/* HDF5 2.0: H5Dread_chunk is a macro for H5Dread_chunk2, which takes the buffer's size
 * and says the chunk's; the old form is H5Dread_chunk1, as 1.10's H5Dread_chunk */
#define READ_CHUNK_WRAPPER(fn, op)                                                       \
    TA_EXPORT herr_t fn(hid_t d, hid_t dxpl, const hsize_t *off, uint32_t *filters,      \
                        void *buf)                                                       \
    {                                                                                    \
        H5REAL(fn, -1);                                                                  \
        H5ENTER(sp, d, dxpl, off, filters, buf);                                         \
        H5CALL(sp, herr_t r, d, dxpl, off, filters, buf);                                \
        chunk_done(&sp, &op, copy_of((void *)real, F_##fn), d, off, -1, r);              \
        return TA_SPAN_LEAVE(sp, r);                                                     \
    }
READ_CHUNK_WRAPPER(H5Dread_chunk, op_dread_chunk)
READ_CHUNK_WRAPPER(H5Dread_chunk1, op_dread_chunk1)

TA_EXPORT herr_t H5Dread_chunk2(hid_t d, hid_t dxpl, const hsize_t *off, uint32_t *filters,
                                void *buf, size_t *size)
{
    H5REAL(H5Dread_chunk2, -1);
    H5ENTER(sp, d, dxpl, off, filters, buf, size);
    size_t room = size ? *size : 0;
    H5CALL(sp, herr_t r, d, dxpl, off, filters, buf, size);
    /* a call without a buffer only asks the size, and one whose buffer is too small reads
     * nothing and says the size needed: nothing read either */
    int64_t bytes = !buf || !size ? (buf ? -1 : 0) : *size <= room ? (int64_t)*size : 0;
    chunk_done(&sp, &op_dread_chunk2, copy_of((void *)real, F_H5Dread_chunk2), d, off, bytes,
               r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT herr_t H5Dwrite_chunk(hid_t d, hid_t dxpl, uint32_t filters, const hsize_t *off,
                                size_t size, const void *buf)
{
    H5REAL(H5Dwrite_chunk, -1);
    H5ENTER(sp, d, dxpl, filters, off, size, buf);
    H5CALL(sp, herr_t r, d, dxpl, filters, off, size, buf);
    chunk_done(&sp, &op_dwrite_chunk, copy_of((void *)real, F_H5Dwrite_chunk), d, off,
               (int64_t)size, r);
    return TA_SPAN_LEAVE(sp, r);
}

/* The hl library's H5DO*: its copy is the one the caller's H5Dread comes from */
static int caller_copy(const void *caller)
{
    void *p = ta_resolve_for("H5Dread", caller);
    return p ? copy_of(p, F_H5Dread) : -1;
}

TA_EXPORT herr_t H5DOread_chunk(hid_t d, hid_t dxpl, const hsize_t *off, uint32_t *filters,
                                void *buf)
{
    H5REAL(H5DOread_chunk, -1);
    H5ENTER(sp, d, dxpl, off, filters, buf);
    const void *caller = __builtin_return_address(0);
    H5CALL(sp, herr_t r, d, dxpl, off, filters, buf);
    chunk_done(&sp, &op_doread_chunk, caller_copy(caller), d, off, -1, r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT herr_t H5DOwrite_chunk(hid_t d, hid_t dxpl, uint32_t filters, const hsize_t *off,
                                 size_t size, const void *buf)
{
    H5REAL(H5DOwrite_chunk, -1);
    H5ENTER(sp, d, dxpl, filters, off, size, buf);
    const void *caller = __builtin_return_address(0);
    H5CALL(sp, herr_t r, d, dxpl, filters, off, size, buf);
    chunk_done(&sp, &op_dowrite_chunk, caller_copy(caller), d, off, (int64_t)size, r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT herr_t H5Dset_extent(hid_t d, const hsize_t size[])
{
    H5REAL(H5Dset_extent, -1);
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_HDF5)) {
        herr_t r = real(d, size);
        epoch_bump();
        return r;
    }
    int c = copy_of((void *)real, F_H5Dset_extent);
    H5CALL(sp, herr_t r, d, size);
    epoch_bump();
    uint32_t file = 0, obj = 0;
    struct hent e;
    names_of(c, d, K_DSET, r >= 0, &file, &obj, &e);
    h5_rec(&sp, &op_dset_extent, r < 0, file, obj, r, -1, 0, 0);
    return TA_SPAN_LEAVE(sp, r);
}

/* ------------------------------------------------------------------------------------ */
/* Attributes                                                                            */

static void attr_done(struct ta_span *sp, const struct ta_op *op, int c, hid_t a, hid_t mt,
                      herr_t r)
{
    struct hent e;
    memset(&e, 0, sizeof e);
    bool have = c >= 0 && (r >= 0 ? entry_of(c, a, K_ATTR, &e) : ht_get(c, a, &e));
    int64_t bytes = -1;
    if (r >= 0 && have) {
        /* the type's size, cached with the type id (epoch: H5Tset_size) */
        uint32_t epoch = atomic_load_explicit(&sel_epoch, memory_order_relaxed);
        if (e.epoch == epoch && e.mtype == mt) {
            bytes = (int64_t)e.mspace; /* the cached size */
        } else {
            ta_guard++;
            size_t ts = copies[c].Tget_size(mt);
            ta_guard--;
            e.mtype = mt;
            e.mspace = (hid_t)ts;
            e.epoch = epoch;
            ht_put(&e);
            bytes = (int64_t)ts;
        }
        bytes = bytes > 0 && e.bytes > 0 ? bytes * e.bytes : -1;
    }
    h5_rec(sp, op, r < 0, e.file, e.obj, r, bytes, 0, e.attr);
}

TA_EXPORT herr_t H5Aread(hid_t a, hid_t mt, void *buf)
{
    H5REAL(H5Aread, -1);
    H5ENTER(sp, a, mt, buf);
    H5CALL(sp, herr_t r, a, mt, buf);
    attr_done(&sp, &op_aread, copy_of((void *)real, F_H5Aread), a, mt, r);
    return TA_SPAN_LEAVE(sp, r);
}

TA_EXPORT herr_t H5Awrite(hid_t a, hid_t mt, const void *buf)
{
    H5REAL(H5Awrite, -1);
    H5ENTER(sp, a, mt, buf);
    H5CALL(sp, herr_t r, a, mt, buf);
    attr_done(&sp, &op_awrite, copy_of((void *)real, F_H5Awrite), a, mt, r);
    return TA_SPAN_LEAVE(sp, r);
}

/* ------------------------------------------------------------------------------------ */
/* Iterations: one span around each (the callbacks' own calls nest beneath)              */

static void iter_done(struct ta_span *sp, const struct ta_op *op, int c, hid_t id, herr_t r)
{
    uint32_t file = 0, obj = 0;
    struct hent e;
    names_of(c, id, K_NONE, r >= 0, &file, &obj, &e);
    if (!obj && e.kind == K_FILE)
        obj = ta_intern_cstr("/"); /* a file's iteration starts at its root group */
    h5_rec(sp, op, r < 0, file, obj, r, -1, 0, 0);
}

#define ITER_WRAPPER(fn, op, params, ...)                                                \
    TA_EXPORT herr_t fn params                                                           \
    {                                                                                    \
        H5REAL(fn, -1);                                                                  \
        H5ENTER(sp, __VA_ARGS__);                                                        \
        H5CALL(sp, herr_t r, __VA_ARGS__);                                               \
        iter_done(&sp, &op, copy_of((void *)real, F_##fn), id, r);                       \
        return TA_SPAN_LEAVE(sp, r);                                                     \
    }
/* the callbacks' and enums' types do not matter here: passed through as they came */
ITER_WRAPPER(H5Literate, op_literate, (hid_t id, int idx, int order, hsize_t *i, void *f, void *d),
             id, idx, order, i, f, d)
ITER_WRAPPER(H5Literate2, op_literate2,
             (hid_t id, int idx, int order, hsize_t *i, void *f, void *d), id, idx, order, i, f,
             d)
ITER_WRAPPER(H5Ovisit, op_ovisit, (hid_t id, int idx, int order, void *f, void *d), id, idx,
             order, f, d)
ITER_WRAPPER(H5Ovisit2, op_ovisit2,
             (hid_t id, int idx, int order, void *f, void *d, unsigned fields), id, idx, order,
             f, d, fields)
ITER_WRAPPER(H5Ovisit3, op_ovisit3,
             (hid_t id, int idx, int order, void *f, void *d, unsigned fields), id, idx, order,
             f, d, fields)

/* ------------------------------------------------------------------------------------ */
/* What changes a selection, an extent or a type's size: pass-through, the epoch bumped  */

#define EPOCH_WRAPPER(ret, fn, params, ...)                                              \
    TA_EXPORT ret fn params                                                              \
    {                                                                                    \
        H5REAL(fn, -1);                                                                  \
        ret r = real(__VA_ARGS__);                                                       \
        epoch_bump();                                                                    \
        return r;                                                                        \
    }
EPOCH_WRAPPER(herr_t, H5Sselect_hyperslab,
              (hid_t s, int op, const hsize_t *start, const hsize_t *stride,
               const hsize_t *count, const hsize_t *block),
              s, op, start, stride, count, block)
EPOCH_WRAPPER(herr_t, H5Sselect_elements, (hid_t s, int op, size_t n, const hsize_t *coord), s,
              op, n, coord)
EPOCH_WRAPPER(herr_t, H5Sselect_all, (hid_t s), s)
EPOCH_WRAPPER(herr_t, H5Sselect_none, (hid_t s), s)
EPOCH_WRAPPER(herr_t, H5Sselect_copy, (hid_t dst, hid_t src), dst, src)
EPOCH_WRAPPER(herr_t, H5Sset_extent_simple,
              (hid_t s, int rank, const hsize_t *dims, const hsize_t *max), s, rank, dims, max)
EPOCH_WRAPPER(herr_t, H5Sset_extent_none, (hid_t s), s)
EPOCH_WRAPPER(herr_t, H5Sextent_copy, (hid_t dst, hid_t src), dst, src)
EPOCH_WRAPPER(herr_t, H5Smodify_select, (hid_t s1, int op, hid_t s2), s1, op, s2)
EPOCH_WRAPPER(herr_t, H5Soffset_simple, (hid_t s, const hssize_t *off), s, off)
EPOCH_WRAPPER(herr_t, H5Sselect_adjust, (hid_t s, const hssize_t *off), s, off)
EPOCH_WRAPPER(herr_t, H5Tset_size, (hid_t t, size_t size), t, size)
EPOCH_WRAPPER(herr_t, H5Dextend, (hid_t d, const hsize_t *size), d, size)
EPOCH_WRAPPER(herr_t, H5Drefresh, (hid_t d), d) /* a SWMR reader sees the writer's extent */
EPOCH_WRAPPER(herr_t, H5Tset_precision, (hid_t t, size_t prec), t, prec) /* may grow it */
EPOCH_WRAPPER(herr_t, H5Tpack, (hid_t t), t) /* shrinks a compound */

/* H5close closes every id of its copy, whose counters then start over: the same ids come
 * again, so the copy's entries end with it (a new era) */
TA_EXPORT herr_t H5close(void)
{
    H5REAL(H5close, -1);
    herr_t r = real();
    int c = copy_of((void *)real, F_H5close);
    if (c >= 0)
        atomic_fetch_add_explicit(&copies[c].era, 1, memory_order_relaxed);
    epoch_bump();
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* The family                                                                            */

void ta_hdf5_loaded(const char *path, void *handle) { h5_loaded(path, handle); }
