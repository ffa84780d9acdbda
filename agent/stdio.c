/* stdio I/O: the FILE* calls of the C library, traced as category "stdio".
 *
 * A stream is known by its fd (the FILE's _fileno; memory and cookie streams have none and
 * are recorded without fd or path). Its path comes from the fd table (fdtab.h), filled by
 * fopen/fdopen/freopen here or by open() in posix.c. The stream's logical position (what
 * ftell would say) is kept in the fd entry's `spos`: 0 after fopen ("r", "w"), unknown after
 * "a" modes and for streams the agent did not see opened; moved by the bytes each
 * fread/fwrite/fgets/fputs/getline moved; set by a successful fseek (SEEK_CUR and SEEK_END
 * ask the real ftello afterwards), ftell, rewind and fsetpos. It is what the records show as
 * `offset`. Calls the agent does not wrap (printf, fputc, fgetc, fscanf, ungetc, ...) move
 * the position unseen: offsets on a stream that mixes them are wrong until the next
 * fseek/ftell/rewind.
 *
 * While a FILE* is open on an fd, that fd's own kernel offset is unknown to posix.c (stdio
 * reads ahead and writes behind in its buffer).
 *
 * bytes: fread/fwrite report items * size (a partial last item at end of file is not
 * counted); fgets reports strlen of the line; fputs strlen of the string; getline/getdelim
 * their return value. A short fread/fwrite, a NULL fgets or a -1 getline is a failure (with
 * errno) only when the stream's error indicator is set: end of file is not an error. */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fdtab.h"

/* <stdio.h> may define these as macros (with __USE_EXTERN_INLINES, at -O2) */
#undef fread_unlocked
#undef fwrite_unlocked

size_t __fread_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *fp);
size_t __fread_unlocked_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *fp);
char *__fgets_chk(char *s, size_t size, int n, FILE *fp);
char *__fgets_unlocked_chk(char *s, size_t size, int n, FILE *fp);

TA_REAL(FILE *, fopen, const char *, const char *)
TA_REAL(FILE *, fopen64, const char *, const char *)
TA_REAL(FILE *, fdopen, int, const char *)
TA_REAL(FILE *, freopen, const char *, const char *, FILE *)
TA_REAL(FILE *, freopen64, const char *, const char *, FILE *)
TA_REAL(int, fclose, FILE *)
TA_REAL(size_t, fread, void *, size_t, size_t, FILE *)
TA_REAL(size_t, fwrite, const void *, size_t, size_t, FILE *)
TA_REAL(size_t, fread_unlocked, void *, size_t, size_t, FILE *)
TA_REAL(size_t, fwrite_unlocked, const void *, size_t, size_t, FILE *)
TA_REAL(size_t, __fread_chk, void *, size_t, size_t, size_t, FILE *)
TA_REAL(size_t, __fread_unlocked_chk, void *, size_t, size_t, size_t, FILE *)
TA_REAL(char *, fgets, char *, int, FILE *)
TA_REAL(char *, fgets_unlocked, char *, int, FILE *)
TA_REAL(char *, __fgets_chk, char *, size_t, int, FILE *)
TA_REAL(char *, __fgets_unlocked_chk, char *, size_t, int, FILE *)
TA_REAL(int, fputs, const char *, FILE *)
TA_REAL(int, fputs_unlocked, const char *, FILE *)
TA_REAL(ssize_t, getline, char **, size_t *, FILE *)
TA_REAL(ssize_t, getdelim, char **, size_t *, int, FILE *)
TA_REAL(ssize_t, __getdelim, char **, size_t *, int, FILE *)
TA_REAL(int, fseek, FILE *, long, int)
TA_REAL(int, fseeko, FILE *, off_t, int)
TA_REAL(int, fseeko64, FILE *, off64_t, int)
TA_REAL(long, ftell, FILE *)
TA_REAL(off_t, ftello, FILE *)
TA_REAL(off64_t, ftello64, FILE *)
TA_REAL(void, rewind, FILE *)
TA_REAL(int, fsetpos, FILE *, const fpos_t *)
TA_REAL(int, fsetpos64, FILE *, const fpos64_t *)
TA_REAL(int, fflush, FILE *)
TA_REAL(int, fflush_unlocked, FILE *)
TA_REAL(int, vfprintf, FILE *, const char *, va_list)
TA_REAL(int, __vfprintf_chk, FILE *, int, const char *, va_list)

#define STDIO_FUNCS(X)                                                                    \
    X(fopen) X(fopen64) X(fdopen) X(freopen) X(freopen64) X(fclose) X(fread) X(fwrite)    \
    X(fread_unlocked) X(fwrite_unlocked) X(__fread_chk) X(__fread_unlocked_chk) X(fgets)  \
    X(fgets_unlocked) X(__fgets_chk) X(__fgets_unlocked_chk) X(fputs) X(fputs_unlocked)   \
    X(getline) X(getdelim) X(__getdelim) X(fseek) X(fseeko) X(fseeko64) X(ftell) X(ftello) X(ftello64)  \
    X(rewind) X(fsetpos) X(fsetpos64) X(fflush) X(fflush_unlocked) X(vfprintf)             \
    X(__vfprintf_chk)

#define OP(fn, io) TA_OP_DEFINE(op_##fn, #fn, TA_CAT_STDIO, io);
OP(fopen, TA_IO_OPEN)
OP(fopen64, TA_IO_OPEN)
OP(fdopen, TA_IO_OPEN)
OP(freopen, TA_IO_OPEN)
OP(freopen64, TA_IO_OPEN)
OP(fclose, TA_IO_CLOSE)
OP(fread, TA_IO_READ)
OP(fread_unlocked, TA_IO_READ)
OP(__fread_chk, TA_IO_READ)
OP(__fread_unlocked_chk, TA_IO_READ)
OP(fgets, TA_IO_READ)
OP(fgets_unlocked, TA_IO_READ)
OP(__fgets_chk, TA_IO_READ)
OP(__fgets_unlocked_chk, TA_IO_READ)
OP(getline, TA_IO_READ)
OP(getdelim, TA_IO_READ)
OP(__getdelim, TA_IO_READ)
OP(fwrite, TA_IO_WRITE)
OP(fwrite_unlocked, TA_IO_WRITE)
OP(fputs, TA_IO_WRITE)
OP(fputs_unlocked, TA_IO_WRITE)
OP(fprintf, TA_IO_WRITE)
OP(vfprintf, TA_IO_WRITE)
OP(__fprintf_chk, TA_IO_WRITE)
OP(__vfprintf_chk, TA_IO_WRITE)
OP(fseek, TA_IO_SEEK)
OP(fseeko, TA_IO_SEEK)
OP(fseeko64, TA_IO_SEEK)
OP(ftell, TA_IO_SEEK)
OP(ftello, TA_IO_SEEK)
OP(ftello64, TA_IO_SEEK)
OP(rewind, TA_IO_SEEK)
OP(fsetpos, TA_IO_SEEK)
OP(fsetpos64, TA_IO_SEEK)
/* a flush hands the stream's buffer to write(2): not a sync to storage (issue #17) */
OP(fflush, TA_IO_NONE)
OP(fflush_unlocked, TA_IO_NONE)

void ta_stdio_init(void)
{
#define RESOLVE(fn) ta_get_real_##fn();
    STDIO_FUNCS(RESOLVE)
#undef RESOLVE
    if (TA_NOP)
        return;
    /* stdin, stdout, stderr are FILE*s from the start: their fds' kernel offsets move in
     * stdio's buffer fills and flushes, unseen */
    for (int fd = 0; fd < 3; fd++) {
        ta_fdtab[fd].stream = 1;
        ta_fd_forget_off(&ta_fdtab[fd]);
    }
}

/* What a wrapper returns when its real function cannot be found: `fail`, with ENOSYS.
 * stdio's real functions are looked up late when they were not yet (ta_get_real_fn: a
 * call from another library's constructor): glibc's fopen or fread never reach the
 * resolver's own calls. */
#define NO_REAL(fail) (errno = ENOSYS, fail)

/* The stream's fd, as fileno() gives it: only a stream on a file has one (glibc's
 * _IO_IS_FILEBUF); open_memstream's leaves _fileno as it found it (0, often), fmemopen's
 * and fopencookie's set -2. */
#define TA_IO_IS_FILEBUF 0x2000
static inline int sfd(FILE *fp)
{
    return fp && (fp->_flags & TA_IO_IS_FILEBUF) && fp->_fileno >= 0 ? fp->_fileno : -1;
}
static inline bool serr(FILE *fp) { return (fp->_flags & _IO_ERR_SEEN) != 0; }
/* A read that came back short failed, as stdio tells it: the error indicator is set, and
 * was not before the call (a sticky error of an earlier call does not make this call's end
 * of file a failure), or was and the call did not reach the end of the file. */
static inline bool sread_failed(FILE *fp, bool err_before)
{
    return serr(fp) && (!err_before || !(fp->_flags & _IO_EOF_SEEN));
}

/* Open flags that matter to the agent, from an fopen mode. */
static int mode_flags(const char *mode)
{
    int fl = 0;
    if (!mode)
        return 0;
    if (mode[0] == 'a')
        fl |= O_APPEND | O_CREAT | O_WRONLY;
    else if (mode[0] == 'w')
        fl |= O_CREAT | O_TRUNC | O_WRONLY;
    return fl;
}

/* A FILE* now lives on fd, at logical position pos (-1 unknown). */
static void stream_on(struct ta_fdent *e, int64_t pos)
{
    e->stream = 1;
    ta_fd_forget_off(e);
    ta_fd_set_spos(e, pos);
}

/* ------------------------------------------------------------------------------------ */
/* Transfers: the wrapper's shape                                                      */

/* A transfer on a stream at its logical position. BYTES(r) and FAILED(r) compute the
 * bytes moved and failure from the result r_. */
#define SXFER(opv, fp, wr, RT, BYTES, FAILED, has_ret, RETV, CALL)                        \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_STDIO))                                            \
            return CALL;                                                                  \
        int fd_ = sfd(fp);                                                                \
        struct ta_fdent *e_ = ta_fd(fd_);                                                 \
        if (e_) {                                                                         \
            if (e_->excluded) {                                                           \
                ta_leave(sp_.t);                                                          \
                return CALL;                                                              \
            }                                                                             \
            if (ta_unlikely(!e_->stream)) /* a stream the agent did not see opened */     \
                stream_on(e_, -1);                                                        \
        }                                                                                 \
        int app_ = (wr) && e_ && e_->append;                                              \
        int64_t pos_ = e_ && !app_ ? ta_fd_spos(e_) : -1;                                 \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        bool se0_ = serr(fp); /* glibc crashes on a NULL fp anyway */                     \
        (void)se0_;                                                                       \
        int64_t b_; /* before FAILED: fgets' strlen before the flags are read */          \
        TA_SPAN_CALL(sp_, RT r_, CALL, (b_ = (BYTES), (FAILED)));                          \
        if (e_ && b_ > 0) {                                                               \
            if (pos_ >= 0)                                                                \
                ta_fd_set_spos(e_, pos_ + b_);                                            \
            else if (app_)                                                                \
                ta_fd_set_spos(e_, -1);                                                   \
        }                                                                                 \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fd_ >= 0 ? fd_ : -1, .path = path_,    \
                                             .ret = (int64_t)(RETV), .bytes = b_,         \
                                             .off = pos_, .no_ret = !(has_ret)});         \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

#define FREAD(fn, ...)                                                                    \
    SXFER(op_##fn, fp, 0, size_t, (int64_t)(r_ * size), r_ < n && sread_failed(fp, se0_), \
          1, r_,                                                                          \
          ta_real(__VA_ARGS__))
#define FWRITE(fn, ...)                                                                   \
    SXFER(op_##fn, fp, 1, size_t, (int64_t)(r_ * size), r_ < n && serr(fp), 1, r_,         \
          ta_real(__VA_ARGS__))
#define FGETS(fn, ...)                                                                    \
    SXFER(op_##fn, fp, 0, char *, r_ ? (int64_t)strlen(r_) : 0,                           \
          !r_ && sread_failed(fp, se0_), 0, 0,                                            \
          ta_real(__VA_ARGS__))
#define FPUTS(fn, ...)                                                                    \
    SXFER(op_##fn, fp, 1, int, r_ != EOF ? (int64_t)strlen(s) : -1, r_ == EOF, 1, r_,      \
          ta_real(__VA_ARGS__))
#define FPRINTF(op, ...)                                                                  \
    SXFER(op, fp, 1, int, r_ >= 0 ? (int64_t)r_ : 0, r_ < 0, 1, r_, ta_real(__VA_ARGS__))
#define GETLINE(fn, ...)                                                                  \
    SXFER(op_##fn, fp, 0, ssize_t, r_ > 0 ? (int64_t)r_ : 0,                              \
          r_ < 0 && sread_failed(fp, se0_), 1, r_,                                        \
          ta_real(__VA_ARGS__))

/* ------------------------------------------------------------------------------------ */
/* Opening and closing                                                                  */

/* fopen, fopen64, freopen: a new stream on `path` (NULL for freopen: the same file). */
TA_HOT TA_INLINE FILE *open_stream(const struct ta_op *op, const char *path, const char *mode,
                         FILE *old, FILE *(*f)(const char *, const char *, FILE *),
                         FILE *(*fo)(const char *, const char *))
{
#define CALL_ (fo ? fo(path, mode) : f(path, mode, old))
    int ofd = old ? sfd(old) : -1;
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_STDIO)) {
        FILE *r0 = CALL_;
        if (TA_UPKEEP) {
            if (ofd >= 0)
                ta_fd_closed(ofd);
            struct ta_fdent *e = r0 ? ta_fd_slot(sfd(r0)) : NULL;
            if (e) { /* an untraced stream: no stale path, no offsets */
                ta_fd_closed(sfd(r0));
                stream_on(e, -1);
            }
        }
        return r0;
    }
    bool x = false;
    uint32_t id;
    if (path) {
        id = ta_path_id(AT_FDCWD, path, false, &x);
    } else { /* freopen(NULL, mode, fp): a new mode on the same file */
        struct ta_fdent *eo = ta_fd(ofd);
        id = eo ? eo->path : 0;
        x = eo && eo->excluded;
    }
    int fl = mode_flags(mode);
    TA_SPAN_CALL(sp, FILE *r, CALL_, !r);
#undef CALL_
    if (ofd >= 0)
        ta_fd_closed(ofd);
    int fd = r ? sfd(r) : -1;
    struct ta_fdent *e = ta_fd_slot(fd); /* a new fd: set below, nothing to look up */
    if (e) {
        ta_fd_opened(fd, id, fl, x, -1);
        stream_on(e, fl & O_APPEND ? -1 : 0);
    }
    if (!x)
        ta_io_rec(&sp, op, (struct ta_io){.fd = fd, .path = id, .bytes = -1, .off = -1,
                                          .no_ret = true});
    return TA_SPAN_LEAVE(sp, r);
}

/* fopen (and fopen64), fread and fclose on one code page (TA_PAGE; laid out in the order
 * defined here, as GCC does without -flto; nm shows it): the wrappers' own code
 * of a file's open-read-close is one page, where the three spread over three pages took two
 * more instruction-TLB misses (bench/NOTES.md, row 27). A path the path cache does not
 * hold still takes ta_path_id_slow elsewhere, and a hit calls strcmp. fopen and fopen64
 * are two jumps into one body. */
TA_HOT TA_PAGE __attribute__((noinline)) static FILE *
fopen_as(const struct ta_op *op, FILE *(*fo)(const char *, const char *), const char *path,
         const char *mode)
{
    return open_stream(op, path, mode, NULL, NULL, fo);
}

TA_HOT TA_EXPORT FILE *fopen(const char *path, const char *mode)
{
    TA_REAL_OR(fopen, 1, NO_REAL(NULL));
    return fopen_as(&op_fopen, ta_real, path, mode);
}

TA_HOT TA_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    TA_REAL_OR(fopen64, 1, NO_REAL(NULL));
    return fopen_as(&op_fopen64, ta_real, path, mode);
}

TA_HOT TA_EXPORT size_t fread(void *p, size_t size, size_t n, FILE *fp)
{
    TA_REAL_OR(fread, 1, NO_REAL(0));
    FREAD(fread, p, size, n, fp);
}

TA_HOT TA_EXPORT int fclose(FILE *fp)
{
    TA_REAL_OR(fclose, 1, NO_REAL(EOF));
    int fd = sfd(fp);
    struct ta_fdent *e = ta_fd_slot(fd); /* not looked up just to be closed */
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_STDIO)) {
        if (TA_UPKEEP && e)
            ta_fd_closed(fd);
        return ta_real(fp);
    }
    uint32_t path = e ? e->path : 0;
    bool x = e && e->excluded;
    if (e) /* forget it before another thread's open can reuse the number */
        ta_fd_closed(fd);
    TA_SPAN_CALL(sp, int r, ta_real(fp), r == EOF);
    if (!x)
        ta_io_rec(&sp, &op_fclose, (struct ta_io){.fd = fd >= 0 ? fd : -1, .path = path,
                                                  .ret = r, .bytes = -1, .off = -1});
    return TA_SPAN_LEAVE(sp, r);
}


TA_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    TA_REAL_OR(freopen, 1, NO_REAL(NULL));
    return open_stream(&op_freopen, path, mode, fp, ta_real, NULL);
}

TA_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    TA_REAL_OR(freopen64, 1, NO_REAL(NULL));
    return open_stream(&op_freopen64, path, mode, fp, ta_real, NULL);
}

/* fdopen's stream is on e now; an "a" mode made glibc set O_APPEND on the fd itself
 * (fcntl inside libc): its writes go to the end. */
static void fdopen_on(struct ta_fdent *e, int64_t pos, const char *mode)
{
    stream_on(e, pos);
    if (mode_flags(mode) & O_APPEND)
        e->append = 1;
}

TA_EXPORT FILE *fdopen(int fd, const char *mode)
{
    TA_REAL_OR(fdopen, 1, NO_REAL(NULL));
    struct ta_fdent *e = ta_fd(fd);
    struct ta_span sp;
    if (!TA_SPAN_ENTER(sp, TA_CAT_STDIO)) {
        FILE *r0 = ta_real(fd, mode);
        if (TA_UPKEEP && r0 && e)
            fdopen_on(e, -1, mode);
        return r0;
    }
    /* the stream starts where the fd is (its "a" modes: at the end, unknown) */
    int64_t pos = e && !(mode_flags(mode) & O_APPEND) ? ta_fd_off(e) : -1;
    TA_SPAN_CALL(sp, FILE *r, ta_real(fd, mode), !r);
    if (r && e)
        fdopen_on(e, pos, mode);
    if (!(e && e->excluded))
        ta_io_rec(&sp, &op_fdopen, (struct ta_io){.fd = fd, .path = e ? e->path : 0,
                                                  .bytes = -1, .off = -1, .no_ret = true});
    return TA_SPAN_LEAVE(sp, r);
}

/* ------------------------------------------------------------------------------------ */
/* Transfers                                                                            */

static int fprintf_as(const struct ta_op *op, FILE *fp, const char *fmt, va_list ap)
{
    TA_REAL_OR(vfprintf, 1, NO_REAL(-1));
    FPRINTF(*op, fp, fmt, ap);
}

static int fprintf_chk_as(const struct ta_op *op, FILE *fp, int flag, const char *fmt,
                          va_list ap)
{
    TA_REAL_OR(__vfprintf_chk, 1, NO_REAL(-1));
    FPRINTF(*op, fp, flag, fmt, ap);
}

TA_EXPORT size_t fread_unlocked(void *p, size_t size, size_t n, FILE *fp)
{
    TA_REAL_OR(fread_unlocked, 1, NO_REAL(0));
    FREAD(fread_unlocked, p, size, n, fp);
}

TA_EXPORT size_t __fread_chk(void *p, size_t plen, size_t size, size_t n, FILE *fp)
{
    TA_REAL_OR(__fread_chk, 1, NO_REAL(0));
    FREAD(__fread_chk, p, plen, size, n, fp);
}

TA_EXPORT size_t __fread_unlocked_chk(void *p, size_t plen, size_t size, size_t n, FILE *fp)
{
    TA_REAL_OR(__fread_unlocked_chk, 1, NO_REAL(0));
    FREAD(__fread_unlocked_chk, p, plen, size, n, fp);
}

TA_HOT TA_EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *fp)
{
    TA_REAL_OR(fwrite, 1, NO_REAL(0));
    FWRITE(fwrite, p, size, n, fp);
}

TA_EXPORT size_t fwrite_unlocked(const void *p, size_t size, size_t n, FILE *fp)
{
    TA_REAL_OR(fwrite_unlocked, 1, NO_REAL(0));
    FWRITE(fwrite_unlocked, p, size, n, fp);
}

TA_HOT TA_EXPORT char *fgets(char *s, int n, FILE *fp)
{
    TA_REAL_OR(fgets, 1, NO_REAL(NULL));
    FGETS(fgets, s, n, fp);
}

TA_EXPORT char *fgets_unlocked(char *s, int n, FILE *fp)
{
    TA_REAL_OR(fgets_unlocked, 1, NO_REAL(NULL));
    FGETS(fgets_unlocked, s, n, fp);
}

TA_EXPORT char *__fgets_chk(char *s, size_t size, int n, FILE *fp)
{
    TA_REAL_OR(__fgets_chk, 1, NO_REAL(NULL));
    FGETS(__fgets_chk, s, size, n, fp);
}

TA_EXPORT char *__fgets_unlocked_chk(char *s, size_t size, int n, FILE *fp)
{
    TA_REAL_OR(__fgets_unlocked_chk, 1, NO_REAL(NULL));
    FGETS(__fgets_unlocked_chk, s, size, n, fp);
}

TA_HOT TA_EXPORT int fputs(const char *s, FILE *fp)
{
    TA_REAL_OR(fputs, 1, NO_REAL(EOF));
    FPUTS(fputs, s, fp);
}

TA_EXPORT int fputs_unlocked(const char *s, FILE *fp)
{
    TA_REAL_OR(fputs_unlocked, 1, NO_REAL(EOF));
    FPUTS(fputs_unlocked, s, fp);
}

TA_EXPORT ssize_t getline(char **line, size_t *cap, FILE *fp)
{
    TA_REAL_OR(getline, 1, NO_REAL(-1));
    GETLINE(getline, line, cap, fp);
}

TA_EXPORT ssize_t getdelim(char **line, size_t *cap, int delim, FILE *fp)
{
    TA_REAL_OR(getdelim, 1, NO_REAL(-1));
    GETLINE(getdelim, line, cap, delim, fp);
}

/* Formatted output: fprintf is recorded as fprintf (and goes through the real vfprintf,
 * as glibc's own fprintf does, internally, without reaching a wrapper). printf to stdout,
 * and the per-character fputc/putc/fgetc/getc, are not wrapped: see the top of the file. */
TA_EXPORT int vfprintf(FILE *fp, const char *fmt, va_list ap)
{
    TA_REAL_OR(vfprintf, 1, NO_REAL(-1));
    FPRINTF(op_vfprintf, fp, fmt, ap);
}

TA_EXPORT int fprintf(FILE *fp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fprintf_as(&op_fprintf, fp, fmt, ap);
    va_end(ap);
    return r;
}

TA_EXPORT int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap)
{
    TA_REAL_OR(__vfprintf_chk, 1, NO_REAL(-1));
    FPRINTF(op___vfprintf_chk, fp, flag, fmt, ap);
}

TA_EXPORT int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fprintf_chk_as(&op___fprintf_chk, fp, flag, fmt, ap);
    va_end(ap);
    return r;
}

/* What programs built with optimisation call for getline(): <bits/stdio.h> inlines it as
 * __getdelim(line, cap, '\n', fp). */
TA_EXPORT ssize_t __getdelim(char **line, size_t *cap, int delim, FILE *fp)
{
    TA_REAL_OR(__getdelim, 1, NO_REAL(-1));
    GETLINE(__getdelim, line, cap, delim, fp);
}

/* ------------------------------------------------------------------------------------ */
/* Positioning                                                                          */

/* Where the stream is now, from the real ftello (after a successful seek). */
static int64_t stream_tell(FILE *fp)
{
    TA_REAL_OR(ftello64, 1, -1);
    int saved = errno;
    int64_t pos = ta_real(fp);
    errno = saved;
    return pos;
}

/* fseek, fseeko, fseeko64, fsetpos (whence_set: the new position is `target`, else ask
 * ftello), rewind (void). */
#define SSEEK(opv, fp, RT, whence_set, target, CALL)                                      \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        int fd_ = sfd(fp);                                                                \
        struct ta_fdent *e_ = ta_fd(fd_);                                                 \
        if (!TA_SPAN_ENTER(sp_, TA_CAT_STDIO)) {                                          \
            RT r0_ = CALL;                                                                \
            if (TA_UPKEEP && e_ && e_->stream) /* untraced: lose the position */         \
                ta_fd_set_spos(e_, -1);                                                   \
            return r0_;                                                                   \
        }                                                                                 \
        if (e_ && e_->excluded) {                                                         \
            ta_leave(sp_.t);                                                              \
            return CALL;                                                                  \
        }                                                                                 \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        TA_SPAN_CALL(sp_, RT r_, CALL, (int64_t)r_ != 0);                                 \
        int64_t pos_ = sp_.failed ? -1 : (whence_set) ? (int64_t)(target) : stream_tell(fp); \
        if (e_ && !sp_.failed)                                                            \
            stream_on(e_, pos_);                                                          \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fd_ >= 0 ? fd_ : -1, .path = path_,    \
                                             .ret = (int64_t)r_, .bytes = -1, .off = pos_}); \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

TA_EXPORT int fseek(FILE *fp, long off, int whence)
{
    TA_REAL_OR(fseek, 1, NO_REAL(-1));
    SSEEK(op_fseek, fp, int, whence == SEEK_SET, off, ta_real(fp, off, whence));
}

TA_EXPORT int fseeko(FILE *fp, off_t off, int whence)
{
    TA_REAL_OR(fseeko, 1, NO_REAL(-1));
    SSEEK(op_fseeko, fp, int, whence == SEEK_SET, off, ta_real(fp, off, whence));
}

TA_EXPORT int fseeko64(FILE *fp, off64_t off, int whence)
{
    TA_REAL_OR(fseeko64, 1, NO_REAL(-1));
    SSEEK(op_fseeko64, fp, int, whence == SEEK_SET, off, ta_real(fp, off, whence));
}

TA_EXPORT int fsetpos(FILE *fp, const fpos_t *pos)
{
    TA_REAL_OR(fsetpos, 1, NO_REAL(-1));
    SSEEK(op_fsetpos, fp, int, 1, pos->__pos, ta_real(fp, pos));
}

TA_EXPORT int fsetpos64(FILE *fp, const fpos64_t *pos)
{
    TA_REAL_OR(fsetpos64, 1, NO_REAL(-1));
    SSEEK(op_fsetpos64, fp, int, 1, pos->__pos, ta_real(fp, pos));
}

/* rewind: like fseek(fp, 0, SEEK_SET), returning nothing. */
TA_EXPORT void rewind(FILE *fp)
{
    TA_REAL_OR(rewind, 1, (void)(errno = ENOSYS));
    int fd = sfd(fp);
    struct ta_fdent *e = ta_fd(fd);
    struct ta_span sp;
    bool on = TA_SPAN_ENTER(sp, TA_CAT_STDIO);
    if (!on || (e && e->excluded)) {
        if (on)
            ta_leave(sp.t);
        ta_real(fp);
        if (TA_UPKEEP && e && e->stream)
            ta_fd_set_spos(e, -1);
        return;
    }
    uint32_t path = e ? e->path : 0;
    TA_SPAN_CALL(sp, int r, (ta_real(fp), 0), false); /* rewind returns nothing */
    (void)r;
    /* 0, unless the seek failed (a pipe: rewind says nothing, ftello says -1) */
    int64_t pos = fd >= 0 ? stream_tell(fp) : 0;
    if (e)
        stream_on(e, pos);
    ta_io_rec(&sp, &op_rewind, (struct ta_io){.fd = fd >= 0 ? fd : -1, .path = path,
                                              .bytes = -1, .off = pos, .no_ret = true});
    TA_SPAN_LEAVE_VOID(sp);
}

/* ftell: its result is the position. */
#define STELL(opv, fp, RT, CALL)                                                          \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        int fd_ = sfd(fp);                                                                \
        struct ta_fdent *e_ = NULL;                                                       \
        if (!TA_SPAN_ENTER_FD(sp_, TA_CAT_STDIO, fd_, e_))                                \
            return CALL;                                                                  \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        TA_SPAN_CALL(sp_, RT r_, CALL, r_ < 0);                                           \
        if (e_ && r_ >= 0)                                                                \
            stream_on(e_, r_);                                                            \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fd_ >= 0 ? fd_ : -1, .path = path_,    \
                                             .ret = r_, .bytes = -1,                      \
                                             .off = r_ >= 0 ? (int64_t)r_ : -1});         \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

TA_EXPORT long ftell(FILE *fp)
{
    TA_REAL_OR(ftell, 1, NO_REAL(-1));
    STELL(op_ftell, fp, long, ta_real(fp));
}

TA_EXPORT off_t ftello(FILE *fp)
{
    TA_REAL_OR(ftello, 1, NO_REAL(-1));
    STELL(op_ftello, fp, off_t, ta_real(fp));
}

TA_EXPORT off64_t ftello64(FILE *fp)
{
    TA_REAL_OR(ftello64, 1, NO_REAL(-1));
    STELL(op_ftello64, fp, off64_t, ta_real(fp));
}

/* fflush(NULL) flushes every stream: no fd, no path. */
#define SFLUSH(opv, fp, CALL)                                                             \
    do {                                                                                  \
        struct ta_span sp_;                                                               \
        int fd_ = sfd(fp);                                                                \
        struct ta_fdent *e_ = NULL;                                                       \
        if (!TA_SPAN_ENTER_FD(sp_, TA_CAT_STDIO, fd_, e_))                                \
            return CALL;                                                                  \
        uint32_t path_ = e_ ? e_->path : 0; /* read now: its line is cold after the call */ \
        TA_SPAN_CALL(sp_, int r_, CALL, r_ == EOF);                                       \
        ta_io_rec(&sp_, &opv, (struct ta_io){.fd = fd_ >= 0 ? fd_ : -1, .path = path_,    \
                                             .ret = r_, .bytes = -1, .off = -1});         \
        return TA_SPAN_LEAVE(sp_, r_);                                                    \
    } while (0)

TA_EXPORT int fflush(FILE *fp)
{
    TA_REAL_OR(fflush, 1, NO_REAL(EOF));
    SFLUSH(op_fflush, fp, ta_real(fp));
}

TA_EXPORT int fflush_unlocked(FILE *fp)
{
    TA_REAL_OR(fflush_unlocked, 1, NO_REAL(EOF));
    SFLUSH(op_fflush_unlocked, fp, ta_real(fp));
}

