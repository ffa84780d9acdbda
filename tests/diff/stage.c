/* A pipeline stage for t67: stage NAME copies stdin to stdout in 4 KiB blocks, the whole
 * inside a marker "stage NAME", each block inside a marker "block" (nesting: stage >
 * block > read/write). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <traceagent.h>

int main(int argc, char **argv)
{
    char name[64], buf[4096];
    snprintf(name, sizeof name, "stage %s", argc > 1 ? argv[1] : "?");
    traceagent_push(name);
    for (;;) {
        traceagent_push("block");
        ssize_t n = read(0, buf, sizeof buf);
        if (n > 0 && write(1, buf, (size_t)n) != n)
            n = -1;
        traceagent_pop();
        if (n <= 0)
            break;
    }
    traceagent_pop();
    return 0;
}
