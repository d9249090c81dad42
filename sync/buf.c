/*
 * buf.c: growable, capped byte buffers.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ps_buf_init(ps_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

int
ps_buf_add(ps_buf *b, const void *data, size_t len)
{
	if (len > b->limit || b->len > b->limit - len)
		return -1;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		if (cap > b->limit + 1)
			cap = b->limit + 1;
		p = realloc(b->data, cap);
		if (p == NULL)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
ps_buf_adds(ps_buf *b, const char *s)
{
	return ps_buf_add(b, s, strlen(s));
}

int
ps_buf_printf(ps_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return ps_buf_add(b, small, (size_t)n);
	else {
		char *big = malloc((size_t)n + 1);
		int rc;

		if (big == NULL)
			return -1;
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		rc = ps_buf_add(b, big, (size_t)n);
		free(big);
		return rc;
	}
}

void
ps_buf_reset(ps_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

const char *
ps_buf_str(const ps_buf *b)
{
	return b->data ? b->data : "";
}

void
ps_buf_free(ps_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
