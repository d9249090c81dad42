/*
 * csv.c: CSV and TSV feeds, an RFC 4180 state machine written by hand.
 *
 * Accepted: quoted fields with "" escapes, delimiters and line breaks
 * inside quotes; LF, CRLF and CR-only line endings, mixed; a last record
 * without a line end; blank lines (skipped, not rows). Lenient where real
 * exports are sloppy: a quote inside an unquoted field is a plain byte, and
 * bytes after a closing quote are appended to the field. Fatal: a quoted
 * field still open at the end of the data ("file:LINE: unterminated quoted
 * field", LINE where the quote opened), a field over PS_FEED_MAX_FIELD, a
 * record over PS_FEED_MAX_ITEM, a header over PS_FEED_MAX_COLUMNS columns,
 * no header row at all.
 *
 * The first record is the header. Its names map to attributes through
 * ps_feed__attr_from_name() (case-insensitive, trimmed, "g:" dropped, a few
 * aliases); columns that map to nothing are listed once in the warnings and
 * their bytes are never copied. Rows with fewer columns than the header get
 * the missing ones empty; extra columns are ignored.
 *
 * With a preset or a mapping file's constants and templates, rows take the
 * row path (map.c): the fields of the columns some rule reads go to a row
 * buffer and ps_feed__map_row() makes the items.
 *
 * Speed: the bytes of a field go straight from the input chunk into the
 * feed's arena with one memcpy per run; runs end at the next special byte,
 * found 16 bytes at a time with SSE2 where available.
 */
#include "feeds_int.h"

#include <stdio.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum csv_state_kind {
	S_RECORD,   /* at the start of a record (or of a blank line) */
	S_FIELD,    /* at the start of a field */
	S_UNQUOTED, /* inside an unquoted field */
	S_QUOTED,   /* inside a quoted field */
	S_QUOTE     /* just after a quote inside a quoted field */
};

typedef struct csv_state {
	int state;
	char delim;
	int header_done;
	int skip_lf;   /* last byte was a CR ending a line: an LF belongs to it */
	int q_prev_cr; /* inside quotes: last byte was a CR */
	uint64_t line; /* current line, 1-based */
	uint64_t quote_line;

	size_t col;
	int keep;         /* current field's bytes are copied */
	size_t field_off; /* relative to the item's base */
	size_t field_len; /* bytes seen, copied or not */

	/* Header: while it is read, field offsets; then the column map. */
	uint32_t *hoff;
	uint32_t *hlen;
	int *colmap;
	size_t ncols;

	/* The row path (map.c): the kept fields of the record being read. */
	int rowmode;
	ps_fbuf row;
	uint32_t *roff, *rlen; /* per slot */
	uint64_t rec_line;
} csv_state;

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
		int mask = _mm_movemask_epi8(m);

		if (mask != 0)
			return p + __builtin_ctz((unsigned)mask);
		p += 16;
	}
#endif
	while (p < e && *p != a && *p != b && *p != c)
		p++;
	return p;
}

static int
fail_line(ps_feed *f, uint64_t line, const char *what)
{
	return ps_feed__fail(f, PS_EFEED, "%s:%llu: %s", f->name, (unsigned long long)line, what);
}

static int
oom(ps_feed *f)
{
	return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
}

static inline void
field_begin(ps_feed *f, csv_state *cs)
{
	if (cs->rowmode && cs->header_done) {
		int s = cs->col < cs->ncols ? f->map->colslot[cs->col] : -1;

		cs->keep = s >= 0 && cs->rlen[s] == PS_ROW_ABSENT;
		cs->field_off = cs->row.len;
		cs->field_len = 0;
		return;
	}
	if (!cs->header_done)
		cs->keep = cs->col < PS_FEED_MAX_COLUMNS;
	else
		cs->keep = cs->col < cs->ncols && cs->colmap[cs->col] >= 0 &&
		           ps_feed__item_wants(f, cs->colmap[cs->col], 0);
	cs->field_off = ps_feed__item_size(f);
	cs->field_len = 0;
}

static inline int
field_put(ps_feed *f, csv_state *cs, const char *p, size_t n)
{
	int rc;

	cs->field_len += n;
	if (cs->field_len > PS_FEED_MAX_FIELD)
		return fail_line(f, cs->line, "field over the 1 MiB cap");
	if (!cs->keep || n == 0)
		return 0;
	if (cs->rowmode && cs->header_done) {
		if ((rc = fbuf_put(&cs->row, p, n)) != 0)
			return rc == PS_ENOMEM
			           ? oom(f)
			           : fail_line(f, cs->rec_line, "record over the 4 MiB cap");
		return 0;
	}
	if (ps_feed__item_size(f) + n >= PS_FEED_MAX_ITEM)
		return fail_line(f, f->cur.line, "record over the 4 MiB cap");
	if ((rc = fbuf_put(&f->arena, p, n)) != 0)
		return rc == PS_ENOMEM ? oom(f) : fail_line(f, cs->line, "record over the cap");
	return 0;
}

static int
field_end(ps_feed *f, csv_state *cs)
{
	if (!cs->header_done) {
		if (cs->col >= PS_FEED_MAX_COLUMNS)
			return fail_line(f, cs->line, "header has more than 1024 columns");
		cs->hoff[cs->col] = (uint32_t)cs->field_off;
		cs->hlen[cs->col] = (uint32_t)(ps_feed__item_size(f) - cs->field_off);
		cs->ncols = cs->col + 1;
		return 0;
	}
	if (!cs->keep)
		return 0;
	if (cs->rowmode) {
		int slot = f->map->colslot[cs->col];

		cs->roff[slot] = (uint32_t)cs->field_off;
		cs->rlen[slot] = (uint32_t)(cs->row.len - cs->field_off);
		return 0;
	}
	return ps_feed__item_commit(f, cs->colmap[cs->col], cs->field_off,
	                            ps_feed__item_size(f) - cs->field_off, 0);
}

/* Reads the header's names into the column map. */
static int
header_end(ps_feed *f, csv_state *cs)
{
	/* An empty header leaves the arena unallocated: NULL + 0 is undefined. */
	const char *base = f->arena.ptr ? f->arena.ptr + f->cur.base : "";
	char list[1024];
	const size_t room = sizeof(list) - 8; /* keeps space for ", ..." */
	size_t i, k = 0, nignored = 0;
	int mapped = 0, cut = 0;

	list[0] = '\0';
	cs->colmap = malloc(cs->ncols * sizeof(*cs->colmap));
	if (cs->colmap == NULL)
		return oom(f);
	if (cs->rowmode) {
		ps_slice *names = malloc(cs->ncols * sizeof(*names));
		int rc;

		if (names == NULL)
			return oom(f);
		for (i = 0; i < cs->ncols; i++) {
			names[i].ptr = base + cs->hoff[i];
			names[i].len = cs->hlen[i];
		}
		rc = ps_feed__map_header(f, names, cs->ncols);
		free(names);
		if (rc != 0)
			return rc;
		cs->roff = malloc((f->map->nslots + 1) * sizeof(*cs->roff));
		cs->rlen = malloc((f->map->nslots + 1) * sizeof(*cs->rlen));
		if (cs->roff == NULL || cs->rlen == NULL)
			return oom(f);
		for (i = 0; i < f->map->nslots; i++)
			cs->rlen[i] = PS_ROW_ABSENT;
	}
	for (i = 0; i < cs->ncols; i++) {
		const char *name = base + cs->hoff[i];
		size_t n = cs->hlen[i];
		int a, w;

		while (n > 0 && ps_is_space((unsigned char)*name)) {
			name++;
			n--;
		}
		while (n > 0 && ps_is_space((unsigned char)name[n - 1]))
			n--;
		a = ps_feed__map_attr(f, name, n);
		cs->colmap[i] = a < 0 ? -1 : a;
		if (a >= 0 || (cs->rowmode && f->map->colslot[i] >= 0)) {
			mapped++;
			continue;
		}
		if (n == 0 || cut || a == -2)
			continue;
		/* "ignored columns: a, b, ..." */
		w = snprintf(list + k, room - k, "%s%.*s", nignored ? ", " : "", (int)n, name);
		if (w < 0 || (size_t)w >= room - k) {
			list[k] = '\0';
			memcpy(list + k, ", ...", 6);
			cut = 1;
		} else {
			k += (size_t)w;
		}
		nignored++;
	}
	if (nignored > 0)
		ps_feed__warn(f, "%s: ignored columns: %s", f->name, list);
	if (mapped == 0)
		ps_feed__warn(f, "%s: no column names a Pinterest attribute", f->name);
	free(cs->hoff);
	free(cs->hlen);
	cs->hoff = NULL;
	cs->hlen = NULL;
	cs->header_done = 1;
	ps_feed__item_abort(f);
	return 0;
}

static int
record_end(ps_feed *f, csv_state *cs)
{
	cs->state = S_RECORD;
	if (!cs->header_done)
		return header_end(f, cs);
	if (cs->rowmode) {
		ps_row row;
		size_t i;
		int rc;

		row.text = cs->row.ptr ? cs->row.ptr : "";
		row.off = cs->roff;
		row.len = cs->rlen;
		row.line = cs->rec_line;
		rc = ps_feed__map_row(f, &row);
		cs->row.len = 0;
		for (i = 0; i < f->map->nslots; i++)
			cs->rlen[i] = PS_ROW_ABSENT;
		return rc;
	}
	return ps_feed__item_end(f);
}

/* A line end outside quotes: c is '\n' or '\r'. */
static int
line_end(ps_feed *f, csv_state *cs, char c)
{
	int rc;

	if ((rc = field_end(f, cs)) != 0)
		return rc;
	rc = record_end(f, cs);
	cs->line++;
	cs->skip_lf = c == '\r';
	return rc;
}

static int
csv_push(ps_feed *f, const char *buf, size_t len, int last)
{
	csv_state *cs = f->pstate;
	const char *p = buf, *e = buf ? buf + len : buf; /* NULL + 0 is UB */
	const char d = cs->delim;
	int rc = 0;

	while (p < e) {
		char c;
		const char *q;

		switch (cs->state) {
		case S_RECORD:
			c = *p;
			if (cs->skip_lf && c == '\n') {
				cs->skip_lf = 0;
				p++;
				continue;
			}
			cs->skip_lf = 0;
			if (c == '\n' || c == '\r') { /* blank line */
				cs->line++;
				cs->skip_lf = c == '\r';
				p++;
				continue;
			}
			if (cs->rowmode && cs->header_done)
				cs->rec_line = cs->line;
			else
				ps_feed__item_begin(f, cs->line);
			cs->col = 0;
			cs->state = S_FIELD;
			/* fall through */
		case S_FIELD:
			c = *p;
			field_begin(f, cs);
			if (c == '"') {
				cs->state = S_QUOTED;
				cs->quote_line = cs->line;
				cs->q_prev_cr = 0;
				p++;
				continue;
			}
			if (c == d) {
				if ((rc = field_end(f, cs)) != 0)
					return rc;
				cs->col++;
				p++;
				continue;
			}
			if (c == '\n' || c == '\r') {
				if ((rc = line_end(f, cs, c)) != 0)
					return rc;
				p++;
				continue;
			}
			cs->state = S_UNQUOTED;
			/* fall through */
		case S_UNQUOTED:
			q = scan3(p, e, d, '\n', '\r');
			if ((rc = field_put(f, cs, p, (size_t)(q - p))) != 0)
				return rc;
			p = q;
			if (p == e)
				break;
			c = *p++;
			if (c == d) {
				if ((rc = field_end(f, cs)) != 0)
					return rc;
				cs->col++;
				cs->state = S_FIELD;
			} else if ((rc = line_end(f, cs, c)) != 0) {
				return rc;
			}
			continue;
		case S_QUOTED:
			q = scan3(p, e, '"', '\n', '\r');
			if (q > p) {
				cs->q_prev_cr = 0;
				if ((rc = field_put(f, cs, p, (size_t)(q - p))) != 0)
					return rc;
			}
			p = q;
			if (p == e)
				break;
			c = *p++;
			if (c == '"') {
				cs->state = S_QUOTE;
				continue;
			}
			/* A line break inside quotes is data; count the line. */
			if (c == '\r' || !cs->q_prev_cr)
				cs->line++;
			cs->q_prev_cr = c == '\r';
			if ((rc = field_put(f, cs, &c, 1)) != 0)
				return rc;
			continue;
		case S_QUOTE:
			c = *p;
			if (c == '"') { /* "" is a quote */
				if ((rc = field_put(f, cs, p, 1)) != 0)
					return rc;
				cs->state = S_QUOTED;
				cs->q_prev_cr = 0;
				p++;
			} else if (c == d) {
				if ((rc = field_end(f, cs)) != 0)
					return rc;
				cs->col++;
				cs->state = S_FIELD;
				p++;
			} else if (c == '\n' || c == '\r') {
				if ((rc = line_end(f, cs, c)) != 0)
					return rc;
				p++;
			} else {
				cs->state = S_UNQUOTED; /* "a"b -> ab, leniently */
			}
			continue;
		}
	}

	if (!last)
		return 0;

	switch (cs->state) {
	case S_QUOTED: return fail_line(f, cs->quote_line, "unterminated quoted field");
	case S_FIELD:
		field_begin(f, cs); /* an empty last field: "a,b," */
		                    /* fall through */
	case S_UNQUOTED:
	case S_QUOTE: /* the last record has no line end */
		if ((rc = field_end(f, cs)) != 0 || (rc = record_end(f, cs)) != 0)
			return rc;
		break;
	default: break;
	}
	if (!cs->header_done)
		return ps_feed__fail(f, PS_EFEED, "%s: no header row", f->name);
	if (cs->rowmode)
		return ps_feed__map_finish(f);
	return 0;
}

static int
csv_init(ps_feed *f)
{
	csv_state *cs = calloc(1, sizeof(*cs));

	if (cs == NULL)
		return oom(f);
	f->pstate = cs;
	cs->delim = f->delim;
	cs->line = 1;
	cs->rowmode = f->map != NULL && f->map->rows;
	fbuf_init(&cs->row, PS_FEED_MAX_ITEM);
	cs->state = S_RECORD;
	cs->hoff = malloc(PS_FEED_MAX_COLUMNS * sizeof(*cs->hoff));
	cs->hlen = malloc(PS_FEED_MAX_COLUMNS * sizeof(*cs->hlen));
	if (cs->hoff == NULL || cs->hlen == NULL)
		return oom(f);
	return 0;
}

static void
csv_free(ps_feed *f)
{
	csv_state *cs = f->pstate;

	if (cs == NULL)
		return;
	free(cs->hoff);
	free(cs->hlen);
	free(cs->colmap);
	free(cs->roff);
	free(cs->rlen);
	fbuf_free(&cs->row);
	free(cs);
	f->pstate = NULL;
}

const ps_parser_ops ps_feed__csv_parser = {"csv", csv_init, csv_push, csv_free, NULL, NULL};
