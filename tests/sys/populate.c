/* ta_sys_populate (agent/sys.c) alone: it makes present every page that holds a byte of
 * the range it is given, whatever the range's alignment (madvise takes whole pages only:
 * an unaligned start was EINVAL and populated nothing), and no other page. Checked with
 * mincore on a fresh anonymous mapping. And ta_sys_release: it gives back only the pages
 * wholly inside its range. Prints TAP-like lines for tests/t73_populate.sh. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ta.h"

static int resident(const unsigned char *v, int from, int to)
{
    for (int i = from; i < to; i++)
        if (!(v[i] & 1))
            return 0;
    return 1;
}

static int none(const unsigned char *v, int from, int to)
{
    for (int i = from; i < to; i++)
        if (v[i] & 1)
            return 0;
    return 1;
}

int main(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char v[8];
    if (m == MAP_FAILED || mincore(m, 8 * pg, v) != 0 || !none(v, 0, 8)) {
        printf("not ok - a fresh mapping has no page present\n");
        return 1;
    }
    /* from inside page 1 to inside page 3 (1.5 pages, neither end aligned) */
    ta_sys_populate(m + pg + 100, (size_t)(2 * pg));
    mincore(m, 8 * pg, v);
    printf("%s - pages 1-3 present after populating an unaligned range in them\n",
           resident(v, 1, 4) ? "ok" : "not ok");
    printf("%s - pages 0 and 4-7 still absent\n", none(v, 0, 1) && none(v, 4, 8) ? "ok" : "not ok");
    /* a range within one page */
    ta_sys_populate(m + 5 * pg + 7, 10);
    mincore(m, 8 * pg, v);
    printf("%s - a 10-byte range makes its one page present, and only it\n",
           resident(v, 5, 6) && none(v, 4, 5) && none(v, 6, 8) ? "ok" : "not ok");
    /* ta_sys_release: only the pages wholly inside the range go (read as zeros after); a
     * page the range only shares keeps what it holds */
    for (int i = 0; i < 8; i++)
        m[i * pg] = m[i * pg + pg - 1] = 'x';
    ta_sys_release(m + 100, (size_t)(3 * pg)); /* [100, 3 pg + 100): pages 1 and 2 wholly */
    printf("%s - release: the pages wholly inside read as zeros\n",
           m[pg] == 0 && m[2 * pg + pg - 1] == 0 ? "ok" : "not ok");
    printf("%s - release: the pages at its ends keep their bytes\n",
           m[0] == 'x' && m[pg - 1] == 'x' && m[3 * pg] == 'x' && m[3 * pg + pg - 1] == 'x'
               ? "ok" : "not ok");
    ta_sys_release(m + 4 * pg + 1, (size_t)pg); /* no whole page */
    printf("%s - release: a range holding no whole page changes nothing\n",
           m[4 * pg + pg - 1] == 'x' && m[5 * pg] == 'x' ? "ok" : "not ok");
    return 0;
}
