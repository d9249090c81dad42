/*
 * floor_csv.c: the floor for CSV feeds, a plain RFC 4180 tokenising pass
 * that pinsync's CSV path is measured against.
 *
 *   floor_csv [--html] FILE [CHUNK]
 *
 * Reads FILE in CHUNK-byte pieces (default 256 KiB), runs a small state
 * machine over them (quoted fields with "" escapes and line breaks inside
 * quotes, CRLF or LF line ends) whose runs of plain bytes are found 16 bytes
 * at a time with SSE2, copies each field of a record into one record buffer
 * and hashes the record with XXH3-64 (column name length, name, value
 * length, value, the layout of pinsync's canonical hash). The first record
 * is the header. Nothing else: no mapping, no normalisation, no
 * validation, no diff. Prints the record count, an order-independent
 * checksum of the hashes and the bytes read.
 *
 * With --html, the title and description columns that hold markup are
 * turned into text first by pinsync's own conversion (feeds/html.c, linked
 * in), in place, as pinsync's normalisation does: see floor_xml.c.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "feeds_int.h" /* ps_feed__looks_html(), ps_feed__html_to_text() */

#define MAX_COLS 1024

enum { S_FIELD, S_UNQUOTED, S_QUOTED, S_QUOTE };

typedef struct state {
	int state;
	char *buf; /* the record's fields, back to back */
	size_t len, cap;
	size_t off[MAX_COLS], flen[MAX_COLS];
	size_t col;
	int header_done;
	char *names[MAX_COLS];
	unsigned char is_text[MAX_COLS]; /* --html: title, description */
	size_t ncols;
	uint64_t records, sum;
	int html; /* --html */
} state;

/* First byte in [p, e) equal to a, b or c; e if none. */
static inline const char *
scan3(const char *p, const char *e, char a, char b, char c)
{
#if defined(__SSE2__)
	const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c);

	while (e - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
		                         _mm_cmpeq_epi8(x, vc));
		int bits = _mm_movemask_epi8(m);

		if (bits)
			return p + __builtin_ctz((unsigned)bits);
		p += 16;
	}
#endif
	for (; p < e; p++)
		if (*p == a || *p == b || *p == c)
			return p;
	return e;
}

static void
append(state *st, const char *p, size_t n)
{
	if (st->len + n > st->cap) {
		while (st->len + n > st->cap)
			st->cap = st->cap ? st->cap * 2 : 65536;
		if ((st->buf = realloc(st->buf, st->cap)) == NULL) {
			fputs("floor_csv: out of memory\n", stderr);
			exit(1);
		}
	}
	memcpy(st->buf + st->len, p, n);
	st->len += n;
}

static void
end_field(state *st)
{
	if (st->col < MAX_COLS)
		st->flen[st->col] = st->len - st->off[st->col];
	st->col++;
	if (st->col < MAX_COLS)
		st->off[st->col] = st->len;
	st->state = S_FIELD;
}

static void
end_record(state *st)
{
	size_t i, n = st->col < MAX_COLS ? st->col : MAX_COLS;

	if (!st->header_done) {
		for (i = 0; i < n; i++) {
			st->names[i] = malloc(st->flen[i] + 1);
			memcpy(st->names[i], st->buf + st->off[i], st->flen[i]);
			st->names[i][st->flen[i]] = '\0';
			st->is_text[i] = st->html && (strcmp(st->names[i], "title") == 0 ||
			                              strcmp(st->names[i], "description") == 0);
		}
		st->ncols = n;
		st->header_done = 1;
	} else if (!(n == 1 && st->flen[0] == 0)) { /* a blank line is no record */
		unsigned char head[128];
		XXH3_state_t h;

		XXH3_INITSTATE(&h);
		XXH3_64bits_reset(&h);
		for (i = 0; i < n && i < st->ncols; i++) {
			size_t nlen = strlen(st->names[i]), k = 0, j;
			uint64_t vlen;

			if (st->is_text[i] && ps_feed__looks_html(st->buf + st->off[i], st->flen[i]))
				st->flen[i] = ps_feed__html_to_text(st->buf + st->off[i],
				                                    st->buf + st->off[i], st->flen[i]);
			vlen = st->flen[i];
			if (st->flen[i] == 0)
				continue;
			if (nlen > 100)
				nlen = 100;
			head[k++] = (unsigned char)nlen;
			head[k++] = (unsigned char)(nlen >> 8);
			memcpy(head + k, st->names[i], nlen);
			k += nlen;
			for (j = 0; j < 8; j++)
				head[k++] = (unsigned char)(vlen >> (8 * j));
			XXH3_64bits_update(&h, head, k);
			XXH3_64bits_update(&h, st->buf + st->off[i], st->flen[i]);
		}
		st->sum += XXH3_64bits_digest(&h);
		st->records++;
	}
	st->len = 0;
	st->col = 0;
	st->off[0] = 0;
	st->state = S_FIELD;
}

static void
feed(state *st, const char *p, const char *e)
{
	while (p < e) {
		const char *q;

		switch (st->state) {
		case S_FIELD:
			if (*p == '"') {
				st->state = S_QUOTED;
				p++;
				break;
			}
			st->state = S_UNQUOTED;
			/* fall through */
		case S_UNQUOTED:
			q = scan3(p, e, ',', '\n', '\r');
			append(st, p, (size_t)(q - p));
			p = q;
			if (p == e)
				break;
			if (*p == ',') {
				end_field(st);
			} else if (*p == '\n') {
				end_field(st);
				end_record(st);
			} /* '\r': dropped; the '\n' ends the record */
			p++;
			break;
		case S_QUOTED:
			q = memchr(p, '"', (size_t)(e - p));
			if (q == NULL)
				q = e;
			append(st, p, (size_t)(q - p));
			p = q;
			if (p < e) {
				st->state = S_QUOTE;
				p++;
			}
			break;
		case S_QUOTE:
			if (*p == '"') { /* "" is a quote */
				append(st, p, 1);
				st->state = S_QUOTED;
			} else if (*p == ',') {
				end_field(st);
			} else if (*p == '\n') {
				end_field(st);
				end_record(st);
			} else if (*p != '\r') {
				append(st, p, 1); /* lenient: bytes after the closing quote */
				st->state = S_UNQUOTED;
			}
			p++;
			break;
		}
	}
}

int
main(int argc, char **argv)
{
	size_t chunk, n, i;
	static state st;
	uint64_t bytes = 0;
	char *in;
	FILE *f;

	st.html = argc > 1 && strcmp(argv[1], "--html") == 0;
	argc -= st.html;
	argv += st.html;
	if (argc < 2) {
		fputs("usage: floor_csv [--html] FILE [CHUNK]\n", stderr);
		return 2;
	}
	chunk = argc > 2 ? strtoul(argv[2], NULL, 10) : 256 * 1024;
	if ((f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "floor_csv: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	in = malloc(chunk);
	while ((n = fread(in, 1, chunk, f)) > 0) {
		bytes += n;
		feed(&st, in, in + n);
	}
	if (st.col > 0 || st.len > 0) {
		end_field(&st);
		end_record(&st);
	}
	fclose(f);
	printf("records %" PRIu64 " checksum %016" PRIx64 " bytes %" PRIu64 "\n", st.records, st.sum,
	       bytes);
	for (i = 0; i < st.ncols; i++)
		free(st.names[i]);
	free(st.buf);
	free(in);
	return 0;
}
