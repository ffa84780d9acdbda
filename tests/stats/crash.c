/* crash segv|kill|abort|sleep: a range, then the named end. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <traceagent.h>

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "segv";
    traceagent_push("before_end");
    traceagent_pop();
    if (!strcmp(how, "kill"))
        raise(SIGKILL);
    if (!strcmp(how, "abort"))
        abort();
    if (!strcmp(how, "sleep")) {
        for (int i = 0; i < 300; i++)
            usleep(100000);
        return 0;
    }
    *(volatile int *)(argc > 5 ? (long)argv[1] : 0) = 1;
    return 0;
}
