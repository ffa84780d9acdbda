/* A shared library the test program links (tests/t58_symbolize.sh): a global function and
 * a static one, each giving the return address of a call inside it. */
static volatile int sink;
__attribute__((noinline)) static void *grab(void) { return __builtin_return_address(0); }

__attribute__((noinline)) static void *liba_static(void)
{
    void *r = grab();
    sink++;
    return r;
}

__attribute__((noinline)) void *liba_global(void)
{
    void *r = grab();
    sink++;
    return r;
}

void *(*const liba_static_ptr)(void) = liba_static;
