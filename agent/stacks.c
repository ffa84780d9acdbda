/* Call stacks, capture side (TRACEAGENT_STACKS): a stub until the capture lands. */
#include "ta.h"

uint32_t ta_stack_mask;

void ta_stacks_init(void) {}

void ta_rec_commit_stack(struct ta_thread *t) { ta_rec_commit(t); }
