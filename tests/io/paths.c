/* Paths as the program names them, relative to a cwd that moves or to a directory fd; run
 * from an empty directory W (argv[1], also the cwd at start). Each file's bytes are unique
 * so the checker can tell the rows apart:
 *   W/d1/x.bin 10 bytes and W/d2/x.bin 20 bytes (one relative name, two directories);
 *   W/d2/t.db: opened as "t.db", as W/d2/t.db, as "../d2/./t.db", stat'ed as "./t.db";
 *   W/d1/y.bin by openat(dirfd of W/d1, "sub/../y.bin"), 30 bytes;
 *   W/d1/z.txt by fopen("z.txt") after fchdir(that dirfd), 40 bytes;
 *   W/d2/o.txt by fopen("o.txt") after fchdir(dirfd(opendir("d2"))) from W, 50 bytes;
 *   W/d1/r1 renamed to W/d2/r2 (relative names); mkdir "d1/m", unlink "d2/r2";
 *   W/d1/abs.bin opened as "W//d1/./abs.bin", 60 bytes;
 *   mkstemp("d1/tmp.XXXXXX"), 80 bytes: its name printed on stdout. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char zeros[100];

#define CHECK(c) do { if (!(c)) { perror(#c); exit(1); } } while (0)

static void put(int fd, size_t n) { CHECK(write(fd, zeros, n) == (ssize_t)n); CHECK(close(fd) == 0); }

int main(int argc, char **argv)
{
    const char *W = argv[1];
    char buf[4096];
    struct stat st;
    CHECK(argc == 2);
    CHECK(mkdir("d1", 0755) == 0 && mkdir("d2", 0755) == 0 && mkdir("d1/sub", 0755) == 0);
    CHECK(chdir("d1") == 0);
    put(open("x.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644), 10);
    CHECK(chdir("../d2") == 0);
    put(open("x.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644), 20);
    put(open("t.db", O_CREAT | O_WRONLY | O_TRUNC, 0644), 1);
    snprintf(buf, sizeof buf, "%s/d2/t.db", W);
    put(open(buf, O_WRONLY | O_APPEND), 1);
    put(open("../d2/./t.db", O_WRONLY | O_APPEND), 1);
    CHECK(stat("./t.db", &st) == 0 && st.st_size == 3);
    snprintf(buf, sizeof buf, "%s/d1", W);
    int dfd = open(buf, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    put(openat(dfd, "sub/../y.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644), 30);
    CHECK(fchdir(dfd) == 0);
    FILE *f = fopen("z.txt", "w");
    CHECK(f && fwrite(zeros, 1, 40, f) == 40 && fclose(f) == 0);
    CHECK(chdir(W) == 0);
    DIR *d = opendir("d2");
    CHECK(d && fchdir(dirfd(d)) == 0);
    f = fopen("o.txt", "w");
    CHECK(f && fwrite(zeros, 1, 50, f) == 50 && fclose(f) == 0);
    CHECK(closedir(d) == 0);
    CHECK(chdir("..") == 0); /* W */
    put(open("d1/r1", O_CREAT | O_WRONLY | O_TRUNC, 0644), 2);
    CHECK(rename("d1/r1", "d2/r2") == 0);
    CHECK(unlink("d2/r2") == 0);
    CHECK(mkdir("d1/m", 0755) == 0);
    snprintf(buf, sizeof buf, "%s//d1/./abs.bin", W);
    put(open(buf, O_CREAT | O_WRONLY | O_TRUNC, 0644), 60);
    char tmpl[] = "d1/tmp.XXXXXX";
    put(mkstemp(tmpl), 80);
    printf("%s\n", tmpl);
    return 0;
}
