/* For t44: calls the hook plug-in's hook_call() 5 times, forks a child that calls it 3
 * times, and exits. The plug-in is argv[1], loaded already (preloaded, or by the agent in
 * its own scope): dlopen gives its handle. */
#include <dlfcn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD) : NULL;
    void (*call)(void) = h ? (void (*)(void))dlsym(h, "hook_call") : NULL;
    if (!call) {
        puts("no hook_call");
        return 2;
    }
    for (int i = 0; i < 5; i++)
        call();
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; i < 3; i++)
            call();
        _exit(0);
    }
    waitpid(p, NULL, 0);
    puts("done");
    return 0;
}
