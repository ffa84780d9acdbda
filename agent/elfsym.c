/* Symbols and source lines of an ELF object, read from its file for the stack table
 * (stackdb.c). Drainer side: may allocate. The file is mapped read-only and stays mapped
 * (the names given out point into it); its fd is the agent's own (ta_ro_open), closed at
 * once. Every read is bounds-checked against the mapping: a truncated or malformed object
 * gives fewer symbols or none, never a crash.
 *
 *   functions: STT_FUNC / STT_GNU_IFUNC symbols with a size, from .symtab (static
 *              functions included) or, without one, .dynsym; an address no symbol covers
 *              has no function (a stripped object never gets a neighbour's name).
 *   lines:     .debug_line, DWARF versions 2 to 5 (v5's directory and file entries, with
 *              names in .debug_line_str or .debug_str).
 *   debug file: when the object lacks .symtab or .debug_line, the separate one named by
 *              its build-id (<root>/.build-id/xx/rest.debug) or its .gnu_debuglink (next to
 *              the object, in its .debug/, or <root>/<its dir>/), root /usr/lib/debug.
 * Compressed sections (SHF_COMPRESSED, as Debian's -dbgsym packages ship .debug_line) are
 * skipped: the agent links no zlib. In DWARF 2-4 the compilation directory, which files may
 * be named relative to, is read from the first DIE of each unit in .debug_info. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ta.h"
#include "elfsym.h"

const char *ta_elf_debug_root = "/usr/lib/debug";
const char *(*ta_elf_path_hook)(const char *path);

struct blob {
    const unsigned char *p;
    size_t n;
};

struct fsym {
    uint64_t addr, size;
    const char *name;
    const char *dem; /* demangled, once asked */
    uint8_t rank;    /* among aliases at one address, the lowest is named */
};

#define ROW_END UINT32_MAX /* a row that ends a sequence */
struct lrow {
    uint64_t addr;
    uint32_t file; /* index in files[], ROW_END, or UINT32_MAX - 1: unknown */
    uint32_t line;
};
struct lseq {
    uint64_t lo, hi;
    size_t first, n; /* rows[first .. first+n), addresses non-decreasing */
};
struct lfile {
    const char *dir0, *dir, *name; /* compilation dir (v5), the entry's dir, its name */
    char *joined;
};

struct ta_elf {
    struct blob m, dm; /* the object's file and its debug file, mapped */
    struct fsym *syms;
    size_t nsyms;
    struct lrow *rows;
    size_t nrows, caprows;
    struct lseq *seqs;
    size_t nseqs, capseqs;
    struct lfile *files;
    size_t nfiles, capfiles;
};

/* The sections of one file that are read here */
struct secs {
    struct blob symtab, symstr, dynsym, dynstr, line, line_str, str, info, abbrev, debuglink,
        buildid;
};

static struct blob map_file(const char *path)
{
    struct blob b = {NULL, 0};
    int slot = -1;
    if (ta_ro_open(path, &slot) < 0)
        return b;
    struct stat st;
    if (syscall(SYS_fstat, slot, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size >= sizeof(Elf64_Ehdr)) {
        long p = syscall(SYS_mmap, 0, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, slot, 0);
        if (!(p < 0 && p > -4096)) {
            b.p = (const unsigned char *)p;
            b.n = (size_t)st.st_size;
        }
    }
    ta_out_close(&slot);
    return b;
}

/* [off, off+len) inside a blob of n bytes, without overflow */
static int inside(uint64_t off, uint64_t len, size_t n) { return off <= n && len <= n - off; }

static int read_shdr(const struct blob *b, const Elf64_Ehdr *eh, size_t i, Elf64_Shdr *sh)
{
    uint64_t off = eh->e_shoff + (uint64_t)i * sizeof *sh;
    if (i > (1u << 24) || !inside(off, sizeof *sh, b->n))
        return -1;
    memcpy(sh, b->p + off, sizeof *sh);
    return 0;
}

static struct blob sec_blob(const struct blob *b, const Elf64_Shdr *sh)
{
    struct blob r = {NULL, 0};
    if (sh->sh_type == SHT_NOBITS || (sh->sh_flags & SHF_COMPRESSED) ||
        !inside(sh->sh_offset, sh->sh_size, b->n))
        return r;
    r.p = b->p + sh->sh_offset;
    r.n = sh->sh_size;
    return r;
}

/* The GNU build-id in a SHT_NOTE section, if it is one */
static struct blob note_buildid(struct blob s)
{
    struct blob r = {NULL, 0};
    size_t o = 0;
    while (inside(o, 12, s.n)) {
        uint32_t nsz, dsz, type;
        memcpy(&nsz, s.p + o, 4);
        memcpy(&dsz, s.p + o + 4, 4);
        memcpy(&type, s.p + o + 8, 4);
        uint64_t name = o + 12, desc = name + (((uint64_t)nsz + 3) & ~3ull);
        if (!inside(name, nsz, s.n) || !inside(desc, dsz, s.n))
            break;
        if (type == NT_GNU_BUILD_ID && nsz == 4 && memcmp(s.p + name, "GNU", 4) == 0 &&
            dsz > 0) {
            r.p = s.p + desc;
            r.n = dsz;
            return r;
        }
        o = desc + (((uint64_t)dsz + 3) & ~3ull);
    }
    return r;
}

static int read_secs(const struct blob *b, struct secs *s)
{
    memset(s, 0, sizeof *s);
    if (!b->p || b->n < sizeof(Elf64_Ehdr))
        return -1;
    Elf64_Ehdr eh;
    memcpy(&eh, b->p, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shoff == 0)
        return -1;
    Elf64_Shdr sh0, shs;
    if (read_shdr(b, &eh, 0, &sh0) < 0)
        return -1;
    size_t shnum = eh.e_shnum ? eh.e_shnum : sh0.sh_size;
    size_t shstrndx = eh.e_shstrndx == SHN_XINDEX ? sh0.sh_link : eh.e_shstrndx;
    if (shnum > (1u << 24) || !inside(eh.e_shoff, (uint64_t)shnum * sizeof(Elf64_Shdr), b->n) ||
        shstrndx >= shnum || read_shdr(b, &eh, shstrndx, &shs) < 0)
        return -1;
    struct blob names = sec_blob(b, &shs);
    for (size_t i = 1; i < shnum; i++) {
        Elf64_Shdr sh;
        if (read_shdr(b, &eh, i, &sh) < 0)
            break;
        const char *nm = "";
        if (sh.sh_name < names.n && memchr(names.p + sh.sh_name, 0, names.n - sh.sh_name))
            nm = (const char *)names.p + sh.sh_name;
        struct blob *dst = NULL, *strdst = NULL;
        if (sh.sh_type == SHT_SYMTAB) {
            dst = &s->symtab;
            strdst = &s->symstr;
        } else if (sh.sh_type == SHT_DYNSYM) {
            dst = &s->dynsym;
            strdst = &s->dynstr;
        } else if (sh.sh_type == SHT_NOTE && !s->buildid.p) {
            s->buildid = note_buildid(sec_blob(b, &sh));
        } else if (!strcmp(nm, ".debug_line")) {
            s->line = sec_blob(b, &sh);
        } else if (!strcmp(nm, ".debug_line_str")) {
            s->line_str = sec_blob(b, &sh);
        } else if (!strcmp(nm, ".debug_str")) {
            s->str = sec_blob(b, &sh);
        } else if (!strcmp(nm, ".debug_info")) {
            s->info = sec_blob(b, &sh);
        } else if (!strcmp(nm, ".debug_abbrev")) {
            s->abbrev = sec_blob(b, &sh);
        } else if (!strcmp(nm, ".gnu_debuglink")) {
            s->debuglink = sec_blob(b, &sh);
        }
        if (dst) {
            Elf64_Shdr ls;
            struct blob sb = sec_blob(b, &sh);
            if (sb.p && sh.sh_link < shnum && read_shdr(b, &eh, sh.sh_link, &ls) == 0) {
                *dst = sb;
                *strdst = sec_blob(b, &ls);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Functions */

static int sym_cmp(const void *a, const void *b)
{
    const struct fsym *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void load_syms(struct ta_elf *e, struct blob tab, struct blob str)
{
    size_t n = tab.n / sizeof(Elf64_Sym);
    if (!n || !str.p)
        return;
    struct fsym *v = malloc(n * sizeof *v);
    if (!v)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        Elf64_Sym s;
        memcpy(&s, tab.p + i * sizeof s, sizeof s);
        int type = ELF64_ST_TYPE(s.st_info), bind = ELF64_ST_BIND(s.st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF ||
            s.st_size == 0 || s.st_value + s.st_size < s.st_value || s.st_name == 0 ||
            s.st_name >= str.n || !memchr(str.p + s.st_name, 0, str.n - s.st_name))
            continue;
        const char *nm = (const char *)str.p + s.st_name;
        /* aliases: the program's own spelling (read, not __libc_read), globals first */
        uint8_t rank = (nm[0] == '_' ? 4 : 0) + (bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2);
        v[k++] = (struct fsym){s.st_value, s.st_size, nm, NULL, rank};
    }
    qsort(v, k, sizeof *v, sym_cmp);
    size_t w = 0;
    for (size_t i = 0; i < k; i++)
        if (!w || v[w - 1].addr != v[i].addr)
            v[w++] = v[i];
    e->syms = v;
    e->nsyms = w;
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* The name as a user reads it: without its symbol version (a .symtab's
 * "fopen@@GLIBC_2.2.5"), demangled when C++'s by the process's own __cxa_demangle, when
 * it has one (the agent links no libstdc++). Made once per symbol. */
static const char *display_name(const char *name)
{
    const char *at = strchr(name, '@');
    char *plain = NULL;
    if (at && at > name) {
        plain = strndup(name, (size_t)(at - name));
        if (plain)
            name = plain;
    }
    if (name[0] == '_' && name[1] == 'Z') {
        static demangle_fn dm;
        static int looked;
        if (!looked) {
            looked = 1;
            dm = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        }
        int st = -1;
        char *d = dm ? dm(name, NULL, NULL, &st) : NULL;
        if (d && st == 0) {
            free(plain);
            return d;
        }
        free(d);
    }
    return name;
}

const char *ta_elf_function(struct ta_elf *e, uint64_t vaddr)
{
    if (!e || !e->nsyms)
        return NULL;
    size_t lo = 0, hi = e->nsyms; /* the first symbol above vaddr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the nearest symbols below, a few (a symbol nested in a bigger one) */
    for (size_t i = lo, k = 0; i > 0 && k < 8; i--, k++) {
        struct fsym *s = &e->syms[i - 1];
        if (vaddr - s->addr >= s->size)
            continue;
        if (!s->dem)
            s->dem = display_name(s->name);
        return s->dem ? s->dem : s->name;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Lines: .debug_line */

struct cur {
    const unsigned char *p, *e;
    int bad;
};

static int need(struct cur *c, size_t n)
{
    if (c->bad || (size_t)(c->e - c->p) < n) {
        c->bad = 1;
        c->p = c->e;
        return 0;
    }
    return 1;
}
static uint64_t rdn(struct cur *c, size_t n)
{
    uint64_t v = 0;
    if (!need(c, n))
        return 0;
    for (size_t i = 0; i < n && i < 8; i++)
        v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}
static uint64_t uleb(struct cur *c)
{
    uint64_t v = 0;
    for (int sh = 0; need(c, 1); sh += 7) {
        unsigned char b = *c->p++;
        if (sh < 64)
            v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return v;
    }
    return 0;
}
static int64_t sleb(struct cur *c)
{
    uint64_t v = 0;
    int sh = 0;
    while (need(c, 1)) {
        unsigned char b = *c->p++;
        if (sh < 64)
            v |= (uint64_t)(b & 0x7f) << sh;
        sh += 7;
        if (!(b & 0x80)) {
            if (sh < 64 && (b & 0x40))
                v |= ~0ull << sh;
            return (int64_t)v;
        }
    }
    return 0;
}
static const char *cstr(struct cur *c)
{
    if (c->bad)
        return NULL;
    const unsigned char *z = memchr(c->p, 0, (size_t)(c->e - c->p));
    if (!z) {
        c->bad = 1;
        c->p = c->e;
        return NULL;
    }
    const char *s = (const char *)c->p;
    c->p = z + 1;
    return s;
}
static const char *str_at(struct blob b, uint64_t off)
{
    if (!b.p || off >= b.n || !memchr(b.p + off, 0, b.n - off))
        return NULL;
    return (const char *)b.p + off;
}

static int add_file(struct ta_elf *e, const char *dir0, const char *dir, const char *name)
{
    if (e->nfiles == e->capfiles) {
        size_t cap = e->capfiles ? 2 * e->capfiles : 64;
        struct lfile *f = realloc(e->files, cap * sizeof *f);
        if (!f)
            return -1;
        e->files = f;
        e->capfiles = cap;
    }
    e->files[e->nfiles++] = (struct lfile){dir0, dir, name, NULL};
    return 0;
}

static void add_row(struct ta_elf *e, uint64_t addr, uint32_t file, uint32_t line)
{
    if (e->nrows == e->caprows) {
        size_t cap = e->caprows ? 2 * e->caprows : 1024;
        struct lrow *r = realloc(e->rows, cap * sizeof *r);
        if (!r)
            return;
        e->rows = r;
        e->caprows = cap;
    }
    e->rows[e->nrows++] = (struct lrow){addr, file, line};
}

/* One v5 entry format: (content type, form) pairs */
struct efmt {
    uint64_t type, form;
};

/* One attribute value of a v5 directory or file entry: a string, or a number */
static void read_form(struct cur *c, uint64_t form, int off8, const struct secs *s,
                      const char **str, uint64_t *num)
{
    *str = NULL;
    *num = 0;
    switch (form) {
    case 0x08: /* DW_FORM_string */
        *str = cstr(c);
        break;
    case 0x1f: /* DW_FORM_line_strp */
        *str = str_at(s->line_str, rdn(c, off8 ? 8 : 4));
        break;
    case 0x0e: /* DW_FORM_strp */
        *str = str_at(s->str, rdn(c, off8 ? 8 : 4));
        break;
    case 0x0b: *num = rdn(c, 1); break;  /* data1 */
    case 0x05: *num = rdn(c, 2); break;  /* data2 */
    case 0x06: *num = rdn(c, 4); break;  /* data4 */
    case 0x07: *num = rdn(c, 8); break;  /* data8 */
    case 0x1e: rdn(c, 16); break;        /* data16 (MD5) */
    case 0x0f: *num = uleb(c); break;    /* udata */
    case 0x09: {                         /* block */
        uint64_t n = uleb(c);
        if (need(c, n))
            c->p += n;
        break;
    }
    case 0x1a: uleb(c); break;           /* strx: no .debug_str_offsets read here */
    case 0x25: rdn(c, 1); break;         /* strx1..4 */
    case 0x26: rdn(c, 2); break;
    case 0x27: rdn(c, 3); break;
    case 0x28: rdn(c, 4); break;
    default:
        c->bad = 1; /* a form not known here: the rest of the unit cannot be read */
    }
}

/* v5 directory or file entries into dirs (when dirs) or files */
static size_t read_entries(struct cur *c, const struct secs *s, int off8, const char ***dirs,
                           struct ta_elf *e, const char **udirs, size_t nudirs)
{
    unsigned nf = (unsigned)rdn(c, 1);
    struct efmt f[16];
    if (nf > 16) {
        c->bad = 1;
        return 0;
    }
    for (unsigned i = 0; i < nf; i++) {
        f[i].type = uleb(c);
        f[i].form = uleb(c);
    }
    uint64_t n = uleb(c);
    size_t got = 0;
    for (uint64_t k = 0; k < n && !c->bad; k++) {
        const char *path = NULL;
        uint64_t dir = 0;
        for (unsigned i = 0; i < nf; i++) {
            const char *sv;
            uint64_t nv;
            read_form(c, f[i].form, off8, s, &sv, &nv);
            if (f[i].type == 1) /* DW_LNCT_path */
                path = sv;
            else if (f[i].type == 2) /* DW_LNCT_directory_index */
                dir = nv;
        }
        if (c->bad)
            break;
        if (dirs) {
            const char **d = realloc(*dirs, (got + 1) * sizeof *d);
            if (!d)
                break;
            *dirs = d;
            d[got++] = path;
        } else {
            if (add_file(e, nudirs ? udirs[0] : NULL, dir < nudirs ? udirs[dir] : NULL,
                         path) < 0)
                break;
            got++;
        }
    }
    return got;
}

static void add_seq(struct ta_elf *e, size_t first)
{
    if (e->nrows <= first)
        return;
    if (e->nseqs == e->capseqs) {
        size_t cap = e->capseqs ? 2 * e->capseqs : 64;
        struct lseq *q = realloc(e->seqs, cap * sizeof *q);
        if (!q)
            return;
        e->seqs = q;
        e->capseqs = cap;
    }
    struct lrow *r = &e->rows[first];
    size_t n = e->nrows - first;
    e->seqs[e->nseqs++] = (struct lseq){r[0].addr, r[n - 1].addr, first, n};
}

/* One line-number program unit at c (its header read up to the end of the unit) */
static void read_unit(struct ta_elf *e, const struct secs *s, const unsigned char *start,
                      const unsigned char *end, int off8, const char *comp_dir)
{
    struct cur u = {start, end, 0};
    int version = (int)rdn(&u, 2);
    if (version < 2 || version > 5)
        return;
    if (version >= 5)
        rdn(&u, 2); /* address_size, segment_selector_size */
    uint64_t hlen = rdn(&u, off8 ? 8 : 4);
    if (u.bad || hlen > (uint64_t)(u.e - u.p))
        return;
    const unsigned char *prog = u.p + hlen;
    unsigned min_inst = (unsigned)rdn(&u, 1);
    if (version >= 4)
        rdn(&u, 1); /* maximum_operations_per_instruction: VLIW only */
    int default_stmt = (int)rdn(&u, 1);
    (void)default_stmt;
    int line_base = (int8_t)rdn(&u, 1);
    unsigned line_range = (unsigned)rdn(&u, 1), opcode_base = (unsigned)rdn(&u, 1);
    if (u.bad || line_range == 0 || opcode_base == 0 || !need(&u, opcode_base - 1))
        return;
    const unsigned char *std_len = u.p;
    u.p += opcode_base - 1;
    size_t fbase = e->nfiles, nfiles = 0;
    const char **dirs = NULL;
    size_t ndirs = 0;
    if (version >= 5) {
        ndirs = read_entries(&u, s, off8, &dirs, e, NULL, 0);
        if (!u.bad)
            nfiles = read_entries(&u, s, off8, NULL, e, dirs, ndirs);
    } else {
        /* dir 0 is the compilation directory, not in the table (.debug_info's) */
        const char *d;
        dirs = malloc(sizeof *dirs);
        if (dirs)
            dirs[ndirs++] = comp_dir;
        while (dirs && (d = cstr(&u)) && *d) {
            const char **nd = realloc(dirs, (ndirs + 1) * sizeof *nd);
            if (!nd)
                break;
            dirs = nd;
            dirs[ndirs++] = d;
        }
        const char *f;
        while ((f = cstr(&u)) && *f) {
            uint64_t di = uleb(&u);
            uleb(&u); /* mtime, length */
            uleb(&u);
            if (u.bad || add_file(e, comp_dir, di < ndirs ? dirs[di] : NULL, f) < 0)
                break;
            nfiles++;
        }
    }
    unsigned first_file = version >= 5 ? 0 : 1;
    /* the program */
    struct cur p = {prog, end, 0};
    uint64_t addr = 0;
    uint64_t file = 1;
    int64_t line = 1;
    size_t seq_first = e->nrows;
#define FILE_IX()                                                                               \
    (file >= first_file && file - first_file < nfiles ? (uint32_t)(fbase + file - first_file)    \
                                                     : UINT32_MAX - 1)
    while (p.p < p.e && !p.bad) {
        unsigned op = *p.p++;
        if (op >= opcode_base) {
            unsigned adj = op - opcode_base;
            addr += (uint64_t)(adj / line_range) * min_inst;
            line += line_base + (int)(adj % line_range);
            add_row(e, addr, FILE_IX(), (uint32_t)line);
            continue;
        }
        switch (op) {
        case 0: { /* extended */
            uint64_t len = uleb(&p);
            if (len == 0 || !need(&p, len))
                break;
            const unsigned char *next = p.p + len;
            unsigned sub = *p.p++;
            if (sub == 1) { /* end_sequence */
                add_row(e, addr, ROW_END, 0);
                add_seq(e, seq_first);
                seq_first = e->nrows;
                addr = 0;
                file = 1;
                line = 1;
            } else if (sub == 2) { /* set_address */
                addr = rdn(&p, len - 1 > 8 ? 8 : len - 1);
            } else if (sub == 3 && version < 5) { /* define_file */
                const char *f = cstr(&p);
                uint64_t di = uleb(&p);
                if (f && fbase + nfiles == e->nfiles &&
                    add_file(e, comp_dir, di < ndirs ? dirs[di] : NULL, f) == 0)
                    nfiles++;
            }
            p.p = next;
            break;
        }
        case 1: /* copy */
            add_row(e, addr, FILE_IX(), (uint32_t)line);
            break;
        case 2: addr += uleb(&p) * min_inst; break;
        case 3: line += sleb(&p); break;
        case 4: file = uleb(&p); break;
        case 5: uleb(&p); break; /* column */
        case 8: addr += (uint64_t)((255 - opcode_base) / line_range) * min_inst; break;
        case 9: addr += rdn(&p, 2); break;
        case 6: case 7: case 10: case 11: break;
        case 12: uleb(&p); break; /* isa */
        default: /* a standard opcode not known here: its operands are ulebs */
            for (unsigned i = 0; i < std_len[op - 1]; i++)
                uleb(&p);
        }
    }
#undef FILE_IX
    /* rows after the last end_sequence belong to no sequence */
    e->nrows = seq_first;
    free(dirs);
}

/* DWARF 2-4: the compilation directory of each line table (its units name files relative
 * to it), from the first DIE of each unit in .debug_info: DW_AT_stmt_list -> DW_AT_comp_dir.
 * DWARF 5 has it in the line table itself. */
struct cdir {
    uint64_t stmt;
    const char *dir;
};

/* Skip one attribute value of `form`; its number (or string) where it has one */
static int skip_form(struct cur *c, uint64_t form, int off8, int ver, unsigned asz,
                     const struct secs *s, uint64_t *num, const char **str)
{
    *num = 0;
    *str = NULL;
    switch (form) {
    case 0x01: *num = rdn(c, asz); break;                          /* addr */
    case 0x0b: case 0x11: case 0x0c: case 0x25: case 0x29: *num = rdn(c, 1); break;
    case 0x05: case 0x12: case 0x26: case 0x2a: *num = rdn(c, 2); break;
    case 0x27: case 0x2b: *num = rdn(c, 3); break;
    case 0x06: case 0x13: case 0x1c: case 0x28: case 0x2c: *num = rdn(c, 4); break;
    case 0x07: case 0x14: case 0x20: case 0x24: *num = rdn(c, 8); break;
    case 0x1e: rdn(c, 16); break;                                  /* data16 */
    case 0x0d: *num = (uint64_t)sleb(c); break;                    /* sdata */
    case 0x0f: case 0x15: case 0x1a: case 0x1b: case 0x22: case 0x23:
        *num = uleb(c);
        break;
    case 0x08: *str = cstr(c); break;                              /* string */
    case 0x0e: *str = str_at(s->str, rdn(c, off8 ? 8 : 4)); break; /* strp */
    case 0x1f: *str = str_at(s->line_str, rdn(c, off8 ? 8 : 4)); break;
    case 0x17: case 0x1d: *num = rdn(c, off8 ? 8 : 4); break;     /* sec_offset, strp_sup */
    case 0x10: *num = rdn(c, ver <= 2 ? asz : off8 ? 8 : 4); break; /* ref_addr */
    case 0x19: case 0x21: break;                                   /* flag_present, implicit */
    case 0x03: case 0x04: case 0x09: case 0x0a: case 0x18: {       /* blocks, exprloc */
        uint64_t n = form == 0x03 ? rdn(c, 2) : form == 0x04 ? rdn(c, 4) :
                     form == 0x0a ? rdn(c, 1) : uleb(c);
        if (need(c, n))
            c->p += n;
        break;
    }
    case 0x16: /* indirect */
        return skip_form(c, uleb(c), off8, ver, asz, s, num, str);
    default:
        c->bad = 1;
    }
    return c->bad ? -1 : 0;
}

static int cdir_cmp(const void *a, const void *b)
{
    const struct cdir *x = a, *y = b;
    return x->stmt < y->stmt ? -1 : x->stmt > y->stmt;
}

static size_t comp_dirs(const struct secs *s, struct cdir **out)
{
    size_t n = 0, cap = 0;
    struct cur c = {s->info.p, s->info.p + s->info.n, 0};
    while (c.p && s->abbrev.p && c.e - c.p >= 11) {
        uint64_t len = rdn(&c, 4);
        int off8 = 0;
        if (len == 0xffffffffu) {
            len = rdn(&c, 8);
            off8 = 1;
        } else if (len >= 0xfffffff0u) {
            break;
        }
        if (c.bad || len > (uint64_t)(c.e - c.p))
            break;
        struct cur u = {c.p, c.p + len, 0};
        c.p += len;
        int ver = (int)rdn(&u, 2);
        if (ver < 2 || ver > 4) /* DWARF 5 units have their directory in the line table */
            continue;
        uint64_t aoff = rdn(&u, off8 ? 8 : 4);
        unsigned asz = (unsigned)rdn(&u, 1);
        uint64_t code = uleb(&u);
        if (u.bad || asz > 8 || !code || aoff >= s->abbrev.n)
            continue;
        /* the abbreviation of the unit's first DIE */
        struct cur a = {s->abbrev.p + aoff, s->abbrev.p + s->abbrev.n, 0};
        for (int k = 0; k < 100000 && !a.bad; k++) {
            uint64_t ac = uleb(&a);
            if (!ac || ac == code)
                break;
            uleb(&a); /* tag */
            rdn(&a, 1);
            for (uint64_t at = 1, fm = 1; (at || fm) && !a.bad;) {
                at = uleb(&a);
                fm = uleb(&a);
                if (fm == 0x21)
                    sleb(&a);
            }
        }
        if (a.bad || a.p >= a.e)
            continue;
        uleb(&a); /* tag */
        rdn(&a, 1);
        uint64_t stmt = UINT64_MAX;
        const char *dir = NULL;
        for (;;) {
            uint64_t at = uleb(&a), fm = uleb(&a), num;
            const char *str;
            if (a.bad || (!at && !fm))
                break;
            if (fm == 0x21) {
                sleb(&a);
                continue;
            }
            if (skip_form(&u, fm, off8, ver, asz, s, &num, &str) < 0)
                break;
            if (at == 0x10) /* DW_AT_stmt_list */
                stmt = num;
            else if (at == 0x1b) /* DW_AT_comp_dir */
                dir = str;
        }
        if (stmt == UINT64_MAX || !dir)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct cdir *v = realloc(*out, cap * sizeof *v);
            if (!v)
                break;
            *out = v;
        }
        (*out)[n++] = (struct cdir){stmt, dir};
    }
    if (n)
        qsort(*out, n, sizeof **out, cdir_cmp);
    return n;
}

static const char *comp_dir(const struct cdir *cd, size_t n, uint64_t stmt)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cd[mid].stmt < stmt)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && cd[lo].stmt == stmt ? cd[lo].dir : NULL;
}

static int seq_cmp(const void *a, const void *b)
{
    const struct lseq *x = a, *y = b;
    return x->lo != y->lo ? (x->lo < y->lo ? -1 : 1) : (x->hi < y->hi ? -1 : x->hi > y->hi);
}

static void load_lines(struct ta_elf *e, const struct secs *s)
{
    struct cdir *cd = NULL;
    size_t ncd = comp_dirs(s, &cd);
    struct cur c = {s->line.p, s->line.p + s->line.n, 0};
    while (c.p && c.e - c.p >= 4) {
        uint64_t at = (uint64_t)(c.p - s->line.p); /* DW_AT_stmt_list names it so */
        uint64_t len = rdn(&c, 4);
        int off8 = 0;
        if (len == 0xffffffffu) {
            len = rdn(&c, 8);
            off8 = 1;
        } else if (len >= 0xfffffff0u) {
            break;
        }
        if (c.bad || len > (uint64_t)(c.e - c.p))
            break; /* a truncated unit: the units before it are kept */
        const unsigned char *end = c.p + len;
        read_unit(e, s, c.p, end, off8, comp_dir(cd, ncd, at));
        c.p = end;
    }
    free(cd);
    if (e->nseqs)
        qsort(e->seqs, e->nseqs, sizeof *e->seqs, seq_cmp);
}

static const char *joined(struct lfile *f)
{
    if (f->joined)
        return f->joined;
    if (!f->name)
        return NULL;
    const char *parts[3] = {NULL, NULL, f->name};
    if (f->name[0] != '/' && f->dir) {
        parts[1] = f->dir;
        if (f->dir[0] != '/' && f->dir0 && f->dir0 != f->dir)
            parts[0] = f->dir0;
    }
    size_t n = 1;
    for (int i = 0; i < 3; i++)
        if (parts[i])
            n += strlen(parts[i]) + 1;
    char *j = malloc(n);
    if (!j)
        return f->name;
    j[0] = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        size_t l = strlen(j);
        if (l && j[l - 1] != '/')
            strcat(j, "/");
        strcat(j, parts[i]);
    }
    f->joined = j;
    return j;
}

int ta_elf_line(struct ta_elf *e, uint64_t vaddr, const char **file, uint32_t *line)
{
    if (!e || !e->nseqs)
        return -1;
    size_t lo = 0, hi = e->nseqs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->seqs[mid].lo <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* sequences of code the linker dropped overlap at address 0: look a few back */
    for (size_t i = lo, k = 0; i > 0 && k < 64; i--, k++) {
        const struct lseq *q = &e->seqs[i - 1];
        if (vaddr >= q->hi)
            continue;
        const struct lrow *r = e->rows + q->first;
        size_t a = 0, b = q->n; /* the first row above vaddr; the row before covers it */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (r[mid].addr <= vaddr)
                a = mid + 1;
            else
                b = mid;
        }
        if (a == 0 || r[a - 1].file == ROW_END || r[a - 1].file >= e->nfiles)
            return -1;
        *file = joined(&e->files[r[a - 1].file]);
        *line = r[a - 1].line;
        return *file ? 0 : -1;
    }
    return -1;
}

/* ------------------------------------------------------------------------------------ */

static struct blob map_debug(const char *root, const char *path, const struct secs *s)
{
    struct blob none = {NULL, 0};
    char p[4096];
    if (s->buildid.p && s->buildid.n >= 2 && s->buildid.n <= 64) {
        static const char hx[] = "0123456789abcdef";
        size_t o = (size_t)ta_fmt(p, sizeof p, "%s/.build-id/", root);
        if (o + 2 * s->buildid.n + 8 > sizeof p)
            return none;
        for (size_t i = 0; i < s->buildid.n && o + 16 < sizeof p; i++) {
            p[o++] = hx[s->buildid.p[i] >> 4];
            p[o++] = hx[s->buildid.p[i] & 15];
            if (i == 0)
                p[o++] = '/';
        }
        memcpy(p + o, ".debug", 7);
        struct blob b = map_file(p);
        if (b.p)
            return b;
    }
    if (s->debuglink.p && memchr(s->debuglink.p, 0, s->debuglink.n)) {
        const char *name = (const char *)s->debuglink.p;
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 0;
        if (!*name || strchr(name, '/'))
            return none;
        char dir[4096];
        if ((size_t)dl >= sizeof dir)
            return none;
        memcpy(dir, path, (size_t)dl);
        dir[dl] = 0;
        for (int i = 0; i < 3; i++) {
            if (i == 0)
                ta_fmt(p, sizeof p, "%s/%s", dir, name);
            else if (i == 1)
                ta_fmt(p, sizeof p, "%s/.debug/%s", dir, name);
            else
                ta_fmt(p, sizeof p, "%s%s/%s", root, dir, name);
            if (!strcmp(p, path))
                continue;
            struct blob b = map_file(p);
            if (!b.p)
                continue;
            /* a debug file of another build would name wrong functions: where both have
             * a build-id they must agree */
            struct secs ds;
            if (read_secs(&b, &ds) == 0 &&
                (!s->buildid.p || !ds.buildid.p ||
                 (ds.buildid.n == s->buildid.n &&
                  !memcmp(ds.buildid.p, s->buildid.p, s->buildid.n))))
                return b;
            syscall(SYS_munmap, b.p, b.n);
        }
    }
    return none;
}

struct ta_elf *ta_elf_load(const char *path)
{
    struct ta_elf *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (ta_elf_path_hook) {
        const char *o = ta_elf_path_hook(path);
        if (o)
            path = o;
    }
    e->m = map_file(path);
    struct secs s, ds;
    if (read_secs(&e->m, &s) < 0)
        return e;
    int have_ds = 0;
    if (!s.symtab.p || !s.line.p) {
        e->dm = map_debug(ta_elf_debug_root, path, &s);
        have_ds = e->dm.p && read_secs(&e->dm, &ds) == 0;
    }
    if (s.symtab.p)
        load_syms(e, s.symtab, s.symstr);
    else if (have_ds && ds.symtab.p)
        load_syms(e, ds.symtab, ds.symstr);
    else
        load_syms(e, s.dynsym, s.dynstr);
    if (s.line.p)
        load_lines(e, &s);
    else if (have_ds && ds.line.p)
        load_lines(e, &ds);
    return e;
}

void ta_elf_counts(const struct ta_elf *e, uint64_t *nsyms, uint64_t *nrows, int *debugfile)
{
    *nsyms = e ? e->nsyms : 0;
    *nrows = e ? e->nrows : 0;
    *debugfile = e && e->dm.p;
}
