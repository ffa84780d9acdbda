/* dlswap.c's second library: dlswap_a.c's code under other names, so that its return
 * addresses are the ones liba's stacks had */
#include <unistd.h>
void lib_other_B(int fd, int n)
{
    char b[64];
    for (int i = 0; i < n; i++)
        pread(fd, b, sizeof b, 0);
}
