/* Scopes: placeholder until the drainer work lands (see ta.h). */
#include "ta.h"
uint32_t ta_scope(const struct ta_op *op, uint32_t name) { (void)op; (void)name; return 0; }
uint32_t ta_scope_parent(uint32_t scope, const struct ta_op **op, const char **name)
{
    (void)scope; *op = NULL; *name = NULL; return 0;
}
