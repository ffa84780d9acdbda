/* Call stacks, drainer side: interning and symbols. A stub until the table lands. */
#include "ta.h"

uint32_t ta_stack_intern(const uint64_t *ips, uint32_t n) { return 0; }
const uint64_t *ta_stack_ips(uint32_t id, uint32_t *n)
{
    if (n)
        *n = 0;
    return NULL;
}
uint32_t ta_stack_count(void) { return 0; }
int ta_frame_lookup(uint64_t ip, struct ta_frame_info *out) { return -1; }
uint32_t ta_stack_site(uint32_t id) { return 0; }
