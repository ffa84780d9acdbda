/* A shared library the test program dlopens (tests/t58_symbolize.sh). */
static volatile int sink;
__attribute__((noinline)) static void *grab(void) { return __builtin_return_address(0); }

__attribute__((noinline)) void *libb_fn(void)
{
    void *r = grab();
    sink++;
    return r;
}
