/* Libraries families want: placeholder until the resolver work lands (see ta.h). */
#include "ta.h"
void ta_wants_add(const struct ta_family *f) { (void)f; }
