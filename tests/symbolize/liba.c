/* A shared library the test program links (tests/t58_symbolize.sh): a global function, a
 * static one placed after it (in a stripped copy only the global is named: the static
 * one must not get its name), and a static one from a header (its lines name another
 * file of the line table than the unit's own). Each gives the return address of a call
 * inside it. */
static volatile int sink;
__attribute__((noinline)) static void *grab(void) { return __builtin_return_address(0); }

__attribute__((noinline)) void *liba_global(void)
{
    void *r = grab();
    sink++;
    return r;
}

__attribute__((noinline)) static void *liba_static(void)
{
    void *r = grab();
    sink++;
    return r;
}

#include "hdr.h"

void *(*const liba_static_ptr)(void) = liba_static;
void *(*const liba_hdr_ptr)(void) = hdr_fn;
