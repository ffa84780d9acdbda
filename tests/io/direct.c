/* tests/t35_io_direct.sh: the calls the agent makes itself (pread, pwrite, lseek, stat; see
 * "Direct calls" in agent/posix.c) must behave as glibc's.
 *
 *   direct chain FILE N    N x (pread, pwrite, lseek, stat, fstat) on FILE; prints what an
 *                          interposer preloaded with the agent (tests/io/shim.c) counted
 *   direct where FILE [cancel]
 *                          which object made pread's system call: a seccomp filter turns a
 *                          pread at offset 0x7357 into SIGSYS, whose si_call_addr is the
 *                          address of the `syscall` instruction; prints that object's file
 *                          name (libc.so.6, libtraceagent.so, ...). With `cancel`, after a
 *                          pthread_cancel of a thread that waits in pthread_join's partner.
 *   direct nullpath FILE   stat, lstat, fstatat, open, openat, fopen, unlink, mkdir, rename,
 *                          rmdir on a NULL path: results and errno (EFAULT), one per line
 *   direct cancel FILE     a thread calls pread on FILE in a loop, whose only cancellation
 *                          point is pread; the main thread cancels it and joins it. Prints
 *                          the preads the thread completed. alarm(10): a pread loop that no
 *                          longer acts on cancellation hangs, and the test fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAGIC_OFF 0x7357
static void *volatile call_addr;

/* The trapped pread: note where its system call was made, and return 1 as if one byte was
 * read (the system call itself is never made). */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    call_addr = si->si_call_addr;
    ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = 1;
}

static int trap_magic_pread(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pread64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MAGIC_OFF, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        return -1;
    return 0;
}

static void *wait_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause(); /* a cancellation point */
    return NULL;
}

static long counted(const char *name)
{
    long *c = dlsym(RTLD_DEFAULT, name);
    return c ? *c : -1;
}

static volatile long done;
static int cfd;

static void *reader(void *arg)
{
    (void)arg;
    char b[16];
    for (;;) {
        if (pread(cfd, b, sizeof b, 0) != (ssize_t)sizeof b)
            abort();
        done++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *file = argv[2];
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[64];
    memset(buf, 'x', sizeof buf);
    if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
        return 3;
    if (strcmp(argv[1], "chain") == 0) {
        int n = argc > 3 ? atoi(argv[3]) : 100;
        struct stat st;
        for (int i = 0; i < n; i++) {
            if (pread(fd, buf, 8, i % 32) != 8 || pwrite(fd, buf, 4, 60) != 4 ||
                lseek(fd, i, SEEK_SET) != i || stat(file, &st) != 0 || st.st_size != 64 ||
                fstat(fd, &st) != 0 || st.st_size != 64)
                return 4;
        }
        printf("shim pread=%ld pwrite=%ld lseek=%ld stat=%ld fstat=%ld\n",
               counted("shim_pread"), counted("shim_pwrite"), counted("shim_lseek"),
               counted("shim_stat"), counted("shim_fstat"));
    } else if (strcmp(argv[1], "nullpath") == 0) {
        /* glibc declares these paths nonnull; a wrapper's NULL check must survive that */
        const char *volatile np = NULL;
        struct stat st;
#define SHOW(name, expr)                                                                  \
    do {                                                                                  \
        errno = 0;                                                                        \
        long r_ = (long)(expr);                                                           \
        printf("%s=%ld errno=%d\n", name, r_, errno);                                     \
    } while (0)
        SHOW("stat", stat(np, &st));
        SHOW("lstat", lstat(np, &st));
        SHOW("fstatat", fstatat(AT_FDCWD, np, &st, 0));
        SHOW("fstatat AT_EMPTY_PATH", fstatat(fd, np, &st, AT_EMPTY_PATH));
        SHOW("open", open(np, O_RDONLY));
        SHOW("openat", openat(AT_FDCWD, np, O_RDONLY));
        SHOW("fopen", fopen(np, "r") != NULL);
        SHOW("unlink", unlink(np));
        SHOW("mkdir", mkdir(np, 0700));
        SHOW("rename", rename(np, np));
        SHOW("rmdir", rmdir(np));
    } else if (strcmp(argv[1], "where") == 0) {
        if (argc > 3 && strcmp(argv[3], "cancel") == 0) {
            pthread_t th;
            void *res;
            if (pthread_create(&th, NULL, wait_forever, NULL) || pthread_cancel(th) ||
                pthread_join(th, &res) || res != PTHREAD_CANCELED)
                return 5;
        }
        if (trap_magic_pread()) {
            printf("no-seccomp\n");
            return 0;
        }
        if (pread(fd, buf, 1, MAGIC_OFF) != 1 || !call_addr)
            return 8;
        Dl_info info;
        const char *obj = dladdr(call_addr, &info) && info.dli_fname ? info.dli_fname : "?";
        const char *slash = strrchr(obj, '/');
        printf("%s\n", slash ? slash + 1 : obj);
    } else if (strcmp(argv[1], "cancel") == 0) {
        alarm(10);
        cfd = fd;
        pthread_t th;
        if (pthread_create(&th, NULL, reader, NULL) != 0)
            return 5;
        while (done < 1000) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        void *res;
        if (pthread_cancel(th) != 0 || pthread_join(th, &res) != 0 || res != PTHREAD_CANCELED)
            return 6;
        printf("%ld\n", done);
    } else {
        return 2;
    }
    close(fd);
    return 0;
}
