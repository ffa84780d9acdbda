/* 131072 distinct call stacks of about 20 frames (t58): every path of L and R calls to
 * depth 17 ends in one pread. 2.6M frames: the stack table must hold them all. */
#include <fcntl.h>
#include <unistd.h>

static int fd;
static char b[8];
__attribute__((noinline)) void L(int d);
__attribute__((noinline)) void R(int d);
void L(int d)
{
    if (!d) {
        pread(fd, b, sizeof b, 0);
        return;
    }
    L(d - 1);
    R(d - 1);
    __asm__ volatile(""); /* no tail call: each level keeps its frame */
}
void R(int d)
{
    if (!d) {
        pread(fd, b, sizeof b, 0);
        return;
    }
    R(d - 1);
    L(d - 1);
    __asm__ volatile("");
}
int main(void)
{
    fd = open("/etc/passwd", O_RDONLY);
    L(17);
    return 0;
}
