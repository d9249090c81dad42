/*
 * buf.h: a growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * Every buffer that holds outside input (an HTTP body, a batch body) has a
 * named cap, so a hostile or broken peer fails cleanly instead of eating
 * memory. The data is always NUL-terminated. A zeroed ps_buf with a cap set
 * by ps_buf_init() is empty and owns nothing; ps_buf_free() releases it.
 */
#ifndef PS_SYNC_BUF_H
#define PS_SYNC_BUF_H

#include <stddef.h>

typedef struct ps_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;   /* allocated bytes */
	size_t limit; /* maximum len */
} ps_buf;

void ps_buf_init(ps_buf *b, size_t limit);
/* Appends; 0, or -1 when the limit would be passed or memory runs out
 * (the buffer is then unchanged). */
int ps_buf_add(ps_buf *b, const void *data, size_t len);
int ps_buf_adds(ps_buf *b, const char *s);
int ps_buf_printf(ps_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory. */
void ps_buf_reset(ps_buf *b);
/* Returns "" for an empty buffer, never NULL. */
const char *ps_buf_str(const ps_buf *b);
void ps_buf_free(ps_buf *b);

#endif /* PS_SYNC_BUF_H */
