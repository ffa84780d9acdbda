/* Included by liba.c (tests/t58_symbolize.sh): a function whose lines are in this file. */
__attribute__((noinline)) static void *hdr_fn(void)
{
    void *r = grab();
    sink++;
    return r;
}
