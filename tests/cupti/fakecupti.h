/* The fake libcupti's own entry points, for the replay program (t63) */
#ifndef FAKECUPTI_H
#define FAKECUPTI_H
#include <cupti.h>
#include <stddef.h>
#include <stdint.h>

struct fake_buf {
    uint8_t *p;
    size_t size, used;
};
uint64_t fake_now(void);                 /* the clock CUPTI stamps records with */
int fake_ready(void);                    /* the module subscribed and enabled the runtime */
int fake_activity_ready(void);           /* ... and registered its buffer callbacks */
void fake_api(CUpti_CallbackDomain d, CUpti_CallbackId cbid, const char *name, int site,
              uint32_t corr, int ret, uint64_t *corr_data);
struct fake_buf *fake_request(void);     /* a buffer from the module's bufferRequested */
void *fake_add(struct fake_buf *b, CUpti_ActivityKind k); /* a zeroed record of kind k */
void fake_complete(struct fake_buf *b, size_t dropped);   /* bufferCompleted, now */
void fake_hold(struct fake_buf *b);      /* completed at the next forced flush */
void fake_cb_raw(CUpti_CallbackDomain d, CUpti_CallbackId cbid, CUpti_CallbackData *cb);
void fake_complete_foreign(void);        /* another client's buffer, completed to ours */
int fake_buffers_registered(void);
int fake_is_held(const struct fake_buf *b); /* not completed yet */
#endif
