/* Named tracks: placeholder until the drainer work lands (see ta.h). */
#include "ta.h"
uint32_t ta_track_new(const char *name) { (void)name; return 0; }
const char *ta_track_name(uint32_t track) { (void)track; return NULL; }
int32_t ta_track_tid(uint32_t track) { (void)track; return 0; }
