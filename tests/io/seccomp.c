/* A program in a seccomp sandbox writes to an fd it inherited (fd 3), first used inside the
 * sandbox. The agent must make no system call of its own on this thread once the sandbox is
 * in (its lazy readlinkat of an inherited fd killed the thread in strict mode):
 *   seccomp strict FILE-ON-FD3  strict mode first thing (no call recorded before it), then
 *                               write(3), write(1); ends with SYS_exit (strict allows no
 *                               other way out). Strict mode also disables rdtsc (and so
 *                               the vDSO's clock): the agent's stamps must not fault.
 *   seccomp strict-segv         the same with a SIGSEGV handler of the program's installed
 *                               first (it prints SIGSEGV and exits 9); strict-sigset the
 *                               same handler set by sigset(); strict-blocked with SIGSEGV
 *                               blocked
 *   seccomp filter              an allow-list (write, exit, exit_group, rt_sigreturn; any
 *                               other system call: SIGSYS), installed after a first write
 *                               (and stdout's first fprintf, which allocates its buffer);
 *                               then write(3), fprintf+fflush to stdout, write(1), and
 *                               exit_group(0) by a raw system call (the agent's _exit would
 *                               write its files: not this test's business) */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void say(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        syscall(SYS_exit_group, 9);
}

/* a SIGSEGV in the sandbox is this program's own (none happens untraced) */
static void on_segv(int sig)
{
    (void)sig;
    say(1, "SIGSEGV\n");
    syscall(SYS_exit, 9);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strncmp(argv[1], "strict", 6)) {
        if (!strcmp(argv[1], "strict-segv")) { /* the program's own SIGSEGV handler */
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_segv;
            sigaction(SIGSEGV, &sa, NULL);
        } else if (!strcmp(argv[1], "strict-sigset")) { /* the same, past sigaction */
            sigset(SIGSEGV, on_segv);
        } else if (!strcmp(argv[1], "strict-blocked")) { /* SIGSEGV blocked */
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, SIGSEGV);
            sigprocmask(SIG_BLOCK, &one, NULL);
        }
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
            return 3;
        say(3, "in sandbox\n");
        say(1, "after\n");
        syscall(SYS_exit, 0);
    }
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(SYS_write), ALLOW(SYS_exit), ALLOW(SYS_exit_group), ALLOW(SYS_rt_sigreturn),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    say(1, "before\n");
    fprintf(stdout, "stdio before\n"); /* stdout's buffer is allocated now (fstat, malloc) */
    fflush(stdout);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return 4;
    say(3, "in sandbox\n");
    fprintf(stdout, "stdio %d\n", 42);
    fflush(stdout);
    say(1, "after\n");
    syscall(SYS_exit_group, 0);
    return 0;
}
