/* Instants with stacks (t58): mark_here makes 5 marker instants, main 2 */
#include <traceagent.h>

__attribute__((noinline)) void mark_here(void)
{
    for (int i = 0; i < 5; i++)
        traceagent_mark("tick");
    __asm__ volatile("");
}
int main(void)
{
    mark_here();
    traceagent_mark("end");
    traceagent_mark("end");
    return 0;
}
