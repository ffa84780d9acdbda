/* A small "read shards, convert, compute, write results" pipeline, like the ML and HPC
 * jobs traceagent is for: file I/O through POSIX and stdio, phases named with markers,
 * a worker thread per shard, and a child process that checks the output.
 *
 *   pipeline DIR [shards] [shard_kib]
 */
#include <traceagent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static int shard_kib;

static void make_shard(int i)
{
    TRACEAGENT_SCOPE("make shard");
    char path[4096];
    snprintf(path, sizeof path, "%s/shard-%03d.bin", dir, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); exit(1); }
    char block[4096];
    for (int k = 0; k < shard_kib / 4; k++) {
        memset(block, (char)(i + k), sizeof block);
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) { perror("write"); exit(1); }
    }
    fsync(fd);
    close(fd);
}

static void *process_shard(void *arg)
{
    int i = (int)(long)arg;
    char path[4096], out[4096];
    snprintf(path, sizeof path, "%s/shard-%03d.bin", dir, i);
    snprintf(out, sizeof out, "%s/result-%03d.txt", dir, i);
    size_t n = (size_t)shard_kib * 1024;
    unsigned char *buf = malloc(n);
    {
        TRACEAGENT_SCOPE("read shard");
        int fd = open(path, O_RDONLY);
        struct stat st;
        fstat(fd, &st);
        for (size_t off = 0; off < n; off += 65536)
            pread(fd, buf + off, n - off < 65536 ? n - off : 65536, (off_t)off);
        close(fd);
    }
    double sum = 0;
    {
        TRACEAGENT_SCOPE("compute");
        for (int rep = 0; rep < 20; rep++)
            for (size_t k = 0; k < n; k++)
                sum += buf[k] * 0.5;
        traceagent_count("checksum", sum);
    }
    {
        TRACEAGENT_SCOPE("write results");
        FILE *f = fopen(out, "w");
        for (int line = 0; line < 100; line++)
            fprintf(f, "shard %d line %d sum %.1f\n", i, line, sum);
        fflush(f);
        fclose(f);
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [shards] [shard_kib]\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    int shards = argc > 2 ? atoi(argv[2]) : 8;
    shard_kib = argc > 3 ? atoi(argv[3]) : 1024;
    mkdir(dir, 0755);
    traceagent_push("prepare");
    for (int i = 0; i < shards; i++)
        make_shard(i);
    traceagent_pop();

    traceagent_push("process shards");
    pthread_t t[64];
    for (int i = 0; i < shards && i < 64; i++)
        pthread_create(&t[i], NULL, process_shard, (void *)(long)i);
    for (int i = 0; i < shards && i < 64; i++)
        pthread_join(t[i], NULL);
    traceagent_pop();

    traceagent_instant("results written");
    /* a child process checks the results, as a shell script would */
    TRACEAGENT_SCOPE("verify");
    pid_t p = fork();
    if (p == 0) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "cat %s/result-*.txt | wc -l", dir);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(p, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
