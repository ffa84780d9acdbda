/* Corners of fd and stream bookkeeping, one per mode (tests/t37_io_edges.sh checks the
 * trace each leaves):
 *   closefrom DIR    closefrom(3), then a file opened and moved to fd >= 1000 (where the
 *                    agent keeps its own fds) gets three lines: prints the file's size
 *   vfork DIR        a vfork child closes fd 0, opens /dev/null there and execs /bin/true;
 *                    the parent then reads 4 bytes of its own stdin (a file)
 *   memstream DIR    fd 0 is a file read with fread while an open_memstream stream is
 *                    written and closed between the reads
 *   fdopen DIR       fdopen(fd, "a+"), fseek to 2, fwrite: the bytes go to the end
 *   stdout DIR       printf + fflush, then write(1): stdout is a file
 *   rewind DIR       rewind on a popen stream (a pipe: it fails), then fread
 *   sticky DIR       fwrite on stdin sets its error indicator; fread at end of file after
 *                    that is no failure
 *   closedir DIR     a directory's fd, given to fdopendir, is closed by closedir; a pipe
 *                    then takes its number and carries 5 bytes
 *   shared DIR       writes of 5 bytes to fd 1, 2, 1, 2, run as `edges shared > f 2>&1`
 *                    (one open file description, one offset)
 *   setfl DIR        O_APPEND set with fcntl on a dup of fd, the dup closed, fd sought to
 *                    0 and written: the bytes go to the end
 *   daemon DIR       an empty write to fd 1, then daemon(1, 0): the parent ends at once
 *                    (printing nothing); the child writes a byte to fd 1 (now /dev/null),
 *                    then DIR/daemon.done
 *   mmap DIR         a file map: munmap(a, 0) fails, munmap(a, 4096) unmaps it; another
 *                    moved by mremap and unmapped at its new address; then anonymous memory
 *                    mapped where it was (again from a new map while another thread took
 *                    the place), and unmapped
 * DIR is a scratch directory. Each mode prints one line that the untraced run must print
 * the same. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[4096];

static const char *at(const char *dir, const char *name)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *mode = argv[1], *dir = argv[2];
    char b[64];
    if (!strcmp(mode, "closefrom")) {
        closefrom(3);
        int fd = open(at(dir, "cf.dat"), O_CREAT | O_RDWR | O_TRUNC, 0644);
        int hi = fcntl(fd, F_DUPFD, 1000);
        close(fd);
        for (int i = 0; i < 3; i++) {
            int n = snprintf(b, sizeof b, "user line %d\n", i);
            if (write(hi, b, (size_t)n) != n)
                return 1;
        }
        close(hi);
        struct stat st;
        stat(path, &st);
        printf("size %lld\n", (long long)st.st_size);
    } else if (!strcmp(mode, "vfork")) {
        pid_t pid = vfork();
        if (pid == 0) {
            close(0);
            open("/dev/null", O_RDONLY);
            dup2(0, 7);
            execl("/bin/true", "true", (char *)0);
            _exit(127);
        }
        int status = -1;
        waitpid(pid, &status, 0);
        ssize_t r = read(0, b, 4);
        printf("child %d read %zd\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1, r);
    } else if (!strcmp(mode, "memstream")) {
        close(0);
        FILE *in = fopen(at(dir, "in.txt"), "r"); /* fd 0 */
        size_t a = fread(b, 1, 10, in);
        char *ob = NULL;
        size_t os = 0;
        FILE *m = open_memstream(&ob, &os);
        fwrite("0123456789012345678901234567890123456789", 1, 40, m);
        size_t c = fread(b, 1, 10, in);
        fclose(m);
        size_t d = fread(b, 1, 10, in);
        printf("fd %d read %zu %zu %zu memstream %zu\n", fileno(in), a, c, d, os);
        fclose(in);
        free(ob);
    } else if (!strcmp(mode, "fdopen")) {
        int fd = open(at(dir, "fda.txt"), O_RDWR | O_CREAT | O_TRUNC, 0644);
        write(fd, "0123456789", 10);
        lseek(fd, 0, SEEK_SET);
        FILE *fp = fdopen(fd, "a+");
        fread(b, 1, 4, fp);
        fseek(fp, 2, SEEK_SET);
        fwrite("XY", 1, 2, fp);
        fflush(fp);
        printf("ftell %ld\n", ftell(fp));
        fclose(fp);
    } else if (!strcmp(mode, "stdout")) {
        printf("header line\n");
        fflush(stdout);
        write(1, "raw\n", 4);
    } else if (!strcmp(mode, "rewind")) {
        FILE *p = popen("printf 'hello\\nworld\\n'", "r");
        fgets(b, sizeof b, p);
        rewind(p);
        size_t r = fread(b, 1, sizeof b, p);
        pclose(p);
        printf("fread %zu %.5s\n", r, b);
    } else if (!strcmp(mode, "sticky")) {
        errno = 0;
        size_t w = fwrite("x", 1, 1, stdin); /* read-only: EBADF, error indicator set */
        size_t r = fread(b, 1, 1, stdin);    /* /dev/null: end of file */
        printf("fwrite %zu fread %zu ferror %d feof %d\n", w, r, ferror(stdin), feof(stdin));
    } else if (!strcmp(mode, "closedir")) {
        mkdir(at(dir, "somedir"), 0755);
        int dfd = open(path, O_RDONLY | O_DIRECTORY);
        DIR *d = fdopendir(dfd);
        while (readdir(d))
            ;
        closedir(d);
        int p[2];
        if (pipe(p) != 0 || write(p[1], "hello", 5) != 5 || read(p[0], b, 5) != 5)
            return 1;
        printf("pipe reuses the directory's fd: %d\n", p[0] == dfd);
    } else if (!strcmp(mode, "shared")) {
        for (int i = 0; i < 4; i++)
            if (write(1 + i % 2, i % 2 ? "err.\n" : "out.\n", 5) != 5)
                return 1;
    } else if (!strcmp(mode, "setfl")) {
        int fd = open(at(dir, "setfl.txt"), O_RDWR | O_CREAT | O_TRUNC, 0644);
        write(fd, "0123456789", 10);
        int fd2 = dup(fd);
        fcntl(fd2, F_SETFL, O_APPEND);
        close(fd2);
        lseek(fd, 0, SEEK_SET);
        write(fd, "AB", 2);
        printf("end %ld\n", (long)lseek(fd, 0, SEEK_CUR));
        close(fd);
    } else if (!strcmp(mode, "daemon")) {
        char done[4096];
        snprintf(done, sizeof done, "%s/daemon.done", dir);
        if (write(1, "", 0) != 0) /* fd 1 known to the agent as what the caller gave */
            return 1;
        if (daemon(1, 0) != 0)
            return 1;
        if (write(1, "x", 1) != 1)
            return 1;
        int fd = open(done, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        write(fd, "ok\n", 3);
        close(fd);
    } else if (!strcmp(mode, "mmap")) {
        int fd = open(at(dir, "mm.dat"), O_CREAT | O_RDWR | O_TRUNC, 0644);
        if (ftruncate(fd, 1 << 20) != 0)
            return 1;
        char *a = mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0);
        int r1 = munmap(a, 0);
        int r2 = munmap(a, 4096);
        /* Another thread (the agent's drainer) may map memory into the hole the move
         * leaves, between the two calls (1 run in ~8 on a 2-core VM): then again, with a
         * new map. */
        char *d = MAP_FAILED;
        int r3 = 0;
        for (int i = 0; i < 100 && d == MAP_FAILED; i++) {
            char *m = mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0);
            char *c = mremap(m, 4096, 1 << 20, MREMAP_MAYMOVE);
            r3 = munmap(c, 1 << 20);
            d = mmap(m, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        }
        int r4 = munmap(d, 4096);
        printf("munmap %d %d %d %d\n", r1, r2, r3, r4);
        close(fd);
    } else {
        return 2;
    }
    return 0;
}
