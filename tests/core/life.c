/* Process-life scenarios for tests/t13_process_life.sh: each mode records a known number
 * of marker ranges, then ends the process a different way. */
#include <traceagent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <stdint.h>
#include <unistd.h>

static void ranges(const char *name, int n)
{
    for (int i = 0; i < n; i++) {
        traceagent_push(name);
        traceagent_pop();
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    ranges("parent", 100);
    if (!strcmp(mode, "fork")) {
        pid_t p = fork();
        if (p == 0) {
            ranges("child", 50);
            exit(0);
        }
        waitpid(p, NULL, 0);
        ranges("parent_after", 10);
    } else if (!strcmp(mode, "_exit")) {
        pid_t p = fork();
        if (p == 0) {
            ranges("child", 50);
            _exit(0);
        }
        waitpid(p, NULL, 0);
    } else if (!strcmp(mode, "exec")) {
        execl(argv[0], argv[0], "execd", (char *)NULL);
        return 99;
    } else if (!strcmp(mode, "execd")) {
        ranges("new_image", 7);
    } else if (!strcmp(mode, "execfail")) {
        FILE *f = fopen(argv[0], "r"); /* a path in the image's trace before the exec */
        if (f)
            fclose(f);
        execl("/nonexistent/program", "x", (char *)NULL);
        ranges("after_failed_exec", 3);
        /* and after it: the writer's kept entries were given back at the flush (zeros),
         * the same path must come out whole again */
        f = fopen(argv[0], "r");
        if (f)
            fclose(f);
    } else if (!strcmp(mode, "segv")) {
        traceagent_push("open_at_crash");
        ranges("before_crash", 5);
        *(volatile int *)(uintptr_t)8 = 1;
    } else if (!strcmp(mode, "term")) {
        ranges("before_term", 5);
        kill(getpid(), SIGTERM);
        pause();
    } else if (!strcmp(mode, "abort")) {
        ranges("before_abort", 5);
        abort();
    } else if (!strcmp(mode, "handler")) {
        /* the program's own SIGUSR1 handler still runs, and sees what it expects */
        struct sigaction old;
        sigaction(SIGUSR1, NULL, &old);
        if (old.sa_handler != SIG_DFL)
            return 3;
        if (signal(SIGINT, SIG_DFL) != SIG_DFL)
            return 4;
        signal(SIGUSR1, SIG_IGN);
        raise(SIGUSR1); /* ignored now: we go on */
        ranges("after_signal", 2);
    }
    return 0;
}
