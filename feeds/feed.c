/*
 * feed.c: ps_feed, the pull loop over a push parser.
 *
 * ps_feed_open() opens the source and reads just enough to pick the format
 * (first significant byte '<' -> XML, else CSV, the delimiter sniffed from
 * the header line). Those bytes are kept in f->pending and pushed first.
 *
 * ps_feed__pump(), the parser side's step, pushes the next piece
 * (PS_FEED_PUSH_MAX bytes at most) of the chunk last read, or reads a
 * chunk, to the parser, which queues the items that piece completes in the
 * batch being filled; full batches go to the caller through the pipeline
 * (pipeline.c, see feeds_int.h). ps_feed_next() hands the items of the
 * batch it took out one at a time, normalised. A fatal error stops the
 * parsing, but the items completed before it are still handed out, then
 * PS_EFEED is returned for good. PS_ITEROVER is returned only once the
 * parser has accepted the end of the data.
 */
#include "feeds.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "feeds_int.h"

/* ------------------------------------------------------------------ */
/* Formats                                                             */

static const char *const format_names[] = {
    [PS_FORMAT_AUTO] = "auto",
    [PS_FORMAT_XML] = "xml",
    [PS_FORMAT_CSV] = "csv",
    [PS_FORMAT_TSV] = "tsv",
};

int
ps_feed_format_parse(ps_feed_format *out, const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcasecmp(name, format_names[i]) == 0) {
			*out = (ps_feed_format)i;
			return 0;
		}
	}
	return -1;
}

const char *
ps_feed_format_name(ps_feed_format format)
{
	if ((unsigned)format >= sizeof(format_names) / sizeof(format_names[0]))
		return "unknown";
	return format_names[format];
}

/* ------------------------------------------------------------------ */
/* Errors and warnings                                                 */

int
ps_feed__fail(ps_feed *f, int code, const char *fmt, ...)
{
	va_list ap;

	if (f->failed)
		return f->failed;
	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
	f->failed = code;
	return code;
}

void
ps_feed__warn(ps_feed *f, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	/* Capped: a feed that warns forever must not grow memory forever.
	 * A line that does not fit whole is dropped. */
	if (f->warnings.len + 1 + n > f->warnings.max)
		return;
	/* The caller's thread copies the warnings under the pipeline's lock. */
	ps_feed__pipe_lock(f);
	if (f->warnings.len > 0 && fbuf_putc(&f->warnings, '\n') != 0)
		goto done;
	if (fbuf_put(&f->warnings, line, n) != 0) {
		f->warnings.len--; /* the '\n' */
		f->warnings.ptr[f->warnings.len] = '\0';
		goto done;
	}
	(void)fbuf_cstr(&f->warnings);
done:
	ps_feed__pipe_unlock(f);
}

/* ------------------------------------------------------------------ */
/* Items in progress                                                   */

void
ps_feed__item_begin(ps_feed *f, uint64_t line)
{
	f->cur.base = f->arena.len;
	f->cur.present = 0;
	f->cur.preferred = 0;
	f->cur.line = line;
	f->cur.index = 0;
	f->in_item = 1;
}

void
ps_feed__item_abort(ps_feed *f)
{
	if (!f->in_item)
		return;
	f->arena.len = f->cur.base;
	f->in_item = 0;
}

int
ps_feed__item_end(ps_feed *f)
{
	if (!f->in_item)
		return 0;
	if (f->qlen == f->qcap) {
		size_t ncap = f->qcap ? f->qcap * 2 : 64;
		ps_raw_item *q = realloc(f->queue, ncap * sizeof(*q));

		if (q == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
		f->queue = q;
		f->qcap = ncap;
	}
	f->cur.index = ++f->nitems;
	f->queue[f->qlen++] = f->cur;
	f->in_item = 0;
	/* A piece of tiny rows must not grow one batch without bound. */
	if (f->pipe != NULL && ps_feed__pipe_wants(f, 0))
		return ps_feed__pipe_publish(f);
	return 0;
}

static void
item_store(ps_feed *f, int a, size_t off, size_t len, int preferred)
{
	uint64_t bit = (uint64_t)1 << a;

	f->cur.off[a] = (uint32_t)off;
	f->cur.len[a] = (uint32_t)len;
	f->cur.present |= bit;
	if (preferred)
		f->cur.preferred |= bit;
	else
		f->cur.preferred &= ~bit;
}

static int
item_cap_error(ps_feed *f, int rc)
{
	if (rc == PS_ENOMEM)
		return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
	return ps_feed__fail(f, PS_EFEED, "%s:%llu: item text over the %d MiB cap", f->name,
	                     (unsigned long long)f->cur.line, PS_FEED_MAX_ITEM >> 20);
}

int
ps_feed__item_set(ps_feed *f, int a, const char *p, size_t n, int preferred)
{
	size_t off;
	int rc;

	while (n > 0 && ps_is_space((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n > 0 && ps_is_space((unsigned char)p[n - 1]))
		n--;
	if (!ps_feed__item_wants(f, a, preferred))
		return 0;
	if (n == 0 && (f->cur.present & ((uint64_t)1 << a)))
		return 0; /* an empty value never replaces one */
	off = ps_feed__item_size(f);
	if (off + n + 1 > PS_FEED_MAX_ITEM)
		return item_cap_error(f, PS_EFEED);
	if ((rc = fbuf_put(&f->arena, p, n)) != 0 || (rc = fbuf_putc(&f->arena, '\0')) != 0)
		return item_cap_error(f, rc);
	item_store(f, a, off, n, preferred);
	return 0;
}

int
ps_feed__item_commit(ps_feed *f, int a, size_t off, size_t len, int preferred)
{
	char *p;
	size_t start = off;
	int rc;

	if (f->arena.ptr == NULL && (rc = fbuf_grow(&f->arena, 1)) != 0)
		return item_cap_error(f, rc);
	p = f->arena.ptr + f->cur.base + off;

	while (len > 0 && ps_is_space((unsigned char)*p)) {
		p++;
		off++;
		len--;
	}
	while (len > 0 && ps_is_space((unsigned char)p[len - 1]))
		len--;
	if (ps_attr_defs[a].type == PS_ATTR_TYPE_LIST) {
		len = ps_feed__list_pack(
		    p, len, ',', ps_feed__attr_is_url(a),
		    a == PS_ATTR_ADDITIONAL_IMAGE_LINK ? PS_MAX_ADDITIONAL_IMAGES : 0);
	}
	if (len == 0 && (f->cur.present & ((uint64_t)1 << a))) {
		f->arena.len = f->cur.base + start; /* an empty value never replaces one */
		return 0;
	}
	/* The NUL goes right after the (trimmed) value; the bytes after it
	 * are dropped. */
	f->arena.len = f->cur.base + off + len;
	if ((rc = fbuf_putc(&f->arena, '\0')) != 0)
		return item_cap_error(f, rc);
	item_store(f, a, off, len, preferred);
	return 0;
}

int
ps_feed__item_text(ps_feed *f, int a, const char *p, size_t n, int replace)
{
	size_t off;
	int rc;

	if (replace)
		f->cur.present &= ~((uint64_t)1 << a);
	else if (!ps_feed__item_wants(f, a, 0))
		return 0;
	off = ps_feed__item_size(f);
	if (off + n + 1 > PS_FEED_MAX_ITEM)
		return item_cap_error(f, PS_EFEED);
	if ((rc = fbuf_put(&f->arena, p, n)) != 0)
		return item_cap_error(f, rc);
	return ps_feed__item_commit(f, a, off, n, 0);
}

static int
starts_http(const char *p, size_t n)
{
	while (n > 0 && ps_is_space((unsigned char)*p)) {
		p++;
		n--;
	}
	if (n >= 7 && strncasecmp(p, "http://", 7) == 0)
		return 1;
	return n >= 8 && strncasecmp(p, "https://", 8) == 0;
}

size_t
ps_feed__list_pack(char *p, size_t n, char sep, int urls, unsigned max)
{
	const char other = sep ? sep : PS_LIST_SEP;
	size_t i = 0, out = 0;
	unsigned count = 0;

	while (i < n && (max == 0 || count < max)) {
		size_t j = i, s, e;

		/* The next PS_LIST_SEP, or sep (for URLs, one before http(s)://). */
		for (;;) {
			j = ps_feed__find2(p, j, n, PS_LIST_SEP, other);
			if (j >= n || p[j] == PS_LIST_SEP || !urls ||
			    starts_http(p + j + 1, n - j - 1))
				break;
			j++;
		}
		s = i;
		e = j;
		while (s < e && ps_is_space((unsigned char)p[s]))
			s++;
		while (e > s && ps_is_space((unsigned char)p[e - 1]))
			e--;
		if (e > s) {
			if (out > 0)
				p[out++] = PS_LIST_SEP;
			if (out != s)
				memmove(p + out, p + s, e - s);
			out += e - s;
			count++;
		}
		i = j + 1;
	}
	return out;
}

/* ------------------------------------------------------------------ */
/* Format detection                                                    */

/* Reads one more chunk into f->pending. Sets *eof at the end of data. */
static int
pending_read(ps_feed *f, int *eof)
{
	size_t n = 0;
	int rc;

	rc = ps_feed__source_read(&n, &f->src, f->chunk, f->opts.chunk_size, f->error,
	                          sizeof(f->error));
	if (rc != 0) {
		f->failed = rc;
		return rc;
	}
	if (n == 0) {
		*eof = 1;
		return 0;
	}
	if ((rc = fbuf_put(&f->pending, f->chunk, n)) != 0)
		return ps_feed__fail(f, rc, "%s: out of memory", f->name);
	return 0;
}

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

/*
 * Counts the candidate delimiters of the first line (outside quotes) and
 * picks one: a tab if tabs are at least as many as any other, else the most
 * frequent of , ; | (comma on ties and when there are none).
 */
static char
sniff_delimiter(const char *p, size_t n)
{
	size_t tabs = 0, commas = 0, semis = 0, pipes = 0, i;
	int quoted = 0;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted)
			continue;
		if (c == '\n' || c == '\r')
			break;
		if (c == '\t')
			tabs++;
		else if (c == ',')
			commas++;
		else if (c == ';')
			semis++;
		else if (c == '|')
			pipes++;
	}
	if (tabs > 0 && tabs >= commas && tabs >= semis && tabs >= pipes)
		return '\t';
	if (semis > commas && semis >= pipes)
		return ';';
	if (pipes > commas && pipes > semis)
		return '|';
	return ',';
}

/* Does p[0..n) hold a line end outside quotes? */
static int
has_line_end(const char *p, size_t n)
{
	int quoted = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '"')
			quoted = !quoted;
		else if (!quoted && (p[i] == '\n' || p[i] == '\r'))
			return 1;
	}
	return 0;
}

static int
detect(ps_feed *f)
{
	const unsigned char *p;
	size_t len, bom = 0, i = 0;
	int eof = 0, rc;

	/* Enough bytes to see the first significant one, plus three more so
	 * that libxml2 can sniff the encoding from the first four. */
	for (;;) {
		p = (const unsigned char *)f->pending.ptr;
		len = f->pending.len;
		bom = 0;
		if (len >= 3 && memcmp(p, utf8_bom, 3) == 0)
			bom = 3;
		for (i = bom; i < len && ps_is_space(p[i]); i++)
			;
		if (eof || (i < len && len - i >= 4) || len >= PS_FEED_SNIFF_MAX)
			break;
		if ((rc = pending_read(f, &eof)) != 0)
			return rc;
	}

	if (len >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
		/* UTF-16: libxml2 reads it; the CSV reader does not. */
		int lt = len >= 4 && ((p[0] == 0xFF && p[2] == '<' && p[3] == 0) ||
		                      (p[0] == 0xFE && p[2] == 0 && p[3] == '<'));

		if (f->format == PS_FORMAT_AUTO && lt)
			f->format = PS_FORMAT_XML;
		if (f->format != PS_FORMAT_XML)
			return ps_feed__fail(f, PS_EFEED,
			                     "%s: UTF-16 text is only read in XML feeds; "
			                     "convert the feed to UTF-8",
			                     f->name);
		return 0;
	}
	if (i >= len)
		return ps_feed__fail(f, PS_EFEED, "%s: feed is empty", f->name);

	if (f->format == PS_FORMAT_AUTO)
		f->format = p[i] == '<' ? PS_FORMAT_XML : PS_FORMAT_CSV;

	if (f->format == PS_FORMAT_XML) {
		/* Whitespace before "<?xml" is a fatal error to libxml2 but a
		 * common generator slip: drop it (with the BOM: the default
		 * encoding is UTF-8 anyway) and keep line numbers right. */
		if (i > bom) {
			size_t k;

			for (k = bom; k < i; k++) {
				if (p[k] == '\n' ||
				    (p[k] == '\r' && (k + 1 >= i || p[k + 1] != '\n')))
					f->line_offset++;
			}
			f->pending_pos = i;
		}
		return 0;
	}

	/* CSV or TSV: the BOM goes; leading blank lines are the parser's. */
	f->pending_pos = bom;
	if (f->format == PS_FORMAT_TSV) {
		f->delim = '\t';
		return 0;
	}
	while (!eof && f->pending.len < PS_FEED_SNIFF_MAX &&
	       !has_line_end(f->pending.ptr + i, f->pending.len - i)) {
		if ((rc = pending_read(f, &eof)) != 0)
			return rc;
	}
	f->delim = sniff_delimiter(f->pending.ptr + i, f->pending.len - i);
	if (f->delim == '\t')
		f->format = PS_FORMAT_TSV;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Open, next, free                                                    */

int
ps_feed_open(ps_feed **out, const char *source, const ps_feed_options *opts)
{
	static const ps_feed_options defaults = PS_FEED_OPTIONS_INIT;
	ps_feed *f = NULL;
	int rc;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return PS_ENOMEM;
	*out = f;

	f->opts = opts ? *opts : defaults;
	/* Kept only for ps_feed_open(): */
	f->opts.etag = f->opts.last_modified = f->opts.password_file = NULL;
	f->opts.ca_file = f->opts.map_file = f->opts.preset = NULL;
	if (f->opts.chunk_size == 0)
		f->opts.chunk_size = defaults.chunk_size;
	if (f->opts.chunk_size > PS_FEED_MAX_CHUNK)
		f->opts.chunk_size = PS_FEED_MAX_CHUNK;
	f->format = f->opts.format;
	f->delim = ',';
	fbuf_init(&f->pending, PS_FEED_SNIFF_MAX + f->opts.chunk_size);
	fbuf_init(&f->arena, PS_FEED_MAX_ARENA);
	fbuf_init(&f->scratch, (size_t)4 * PS_FEED_MAX_ITEM);
	fbuf_init(&f->warnings, PS_FEED_MAX_WARNINGS);
	fbuf_init(&f->shown_warnings, PS_FEED_MAX_WARNINGS);
	fbuf_init(&f->cons.arena, PS_FEED_MAX_ARENA);
	fbuf_init(&f->cons.scratch, PS_FEED_BATCH_SCRATCH);
	fbuf_init(&f->done_scratch, PS_FEED_BATCH_SCRATCH);
	f->src.cancel_fd = -1;

	if (source == NULL)
		source = "-";
	if (ps_feed__is_url(source)) {
		char shown[1024];

		ps_feed__url_redact(shown, sizeof(shown), source);
		f->name = strdup(shown);
	} else {
		f->name = strdup(strcmp(source, "-") == 0 ? "stdin" : source);
	}
	if (f->name == NULL) {
		rc = PS_ENOMEM;
		goto done;
	}
	if (opts != NULL && opts->base_url != NULL && opts->base_url[0] != '\0') {
		if (!ps_feed__is_url(opts->base_url)) {
			rc = ps_feed__fail(f, PS_ERROR, "base URL \"%.64s\" is not an http(s) URL",
			                   opts->base_url);
			goto done;
		}
		if ((f->base_url = strdup(opts->base_url)) == NULL) {
			rc = PS_ENOMEM;
			goto done;
		}
		f->opts.base_url = f->base_url;
	} else {
		f->opts.base_url = NULL;
	}
	if (opts != NULL) {
		ps_feed_options mo = *opts;

		/* map.c reads these two at open only */
		f->opts.map_file = mo.map_file;
		f->opts.preset = mo.preset;
		rc = ps_feed__map_load(f);
		f->opts.map_file = f->opts.preset = NULL;
		if (rc != 0)
			goto done;
	}

	if (f->opts.default_currency != NULL) {
		const char *c = f->opts.default_currency;
		size_t k;

		for (k = 0; k < 3; k++) {
			unsigned char ch = (unsigned char)c[k];

			if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')))
				break;
			f->currency[k] = (char)(ch & ~0x20);
		}
		if (k != 3 || c[3] != '\0') {
			rc = ps_feed__fail(f, PS_ERROR,
			                   "default currency \"%.16s\" is not a 3-letter code", c);
			goto done;
		}
		f->opts.default_currency = f->currency;
	}
	if ((unsigned)f->format > PS_FORMAT_TSV) {
		rc = ps_feed__fail(f, PS_ERROR, "unknown feed format %d", (int)f->format);
		goto done;
	}

	f->chunk = malloc(f->opts.chunk_size);
	if (f->chunk == NULL) {
		rc = PS_ENOMEM;
		goto done;
	}

	{
		ps_feed_options so = f->opts;

		if (opts != NULL) {
			so.etag = opts->etag;
			so.last_modified = opts->last_modified;
			so.password_file = opts->password_file;
			so.ca_file = opts->ca_file;
		}
		rc =
		    ps_feed__source_open(&f->src, source, f->name, &so, f->error, sizeof(f->error));
	}
	f->src_open = 1;
	if (rc == PS_FEED_UNCHANGED) {
		f->unchanged = 1;
		f->failed = rc;
		snprintf(f->error, sizeof(f->error), "%s: not modified since the last download",
		         f->name);
		goto done;
	}
	if (rc != 0) {
		f->failed = rc;
		goto done;
	}

	if ((rc = detect(f)) != 0)
		goto done;

	if (f->map != NULL && f->map->preset != NULL && f->format == PS_FORMAT_XML) {
		rc = ps_feed__fail(f, PS_ERROR, "%s: preset %s reads CSV exports, not XML", f->name,
		                   f->map->preset->name);
		goto done;
	}
	f->parser = f->format == PS_FORMAT_XML ? &ps_feed__xml_parser : &ps_feed__csv_parser;
	if ((rc = f->parser->init(f)) != 0)
		goto done;
	/* What the accessors show until the first batch. */
	f->shown_bytes_read = f->src.bytes_read;
	if (f->warnings.len > 0 &&
	    fbuf_put(&f->shown_warnings, f->warnings.ptr, f->warnings.len) == 0)
		(void)fbuf_cstr(&f->shown_warnings);
	if ((rc = ps_feed__pipe_start(f)) != 0)
		(void)ps_feed__fail(f, rc, "%s: out of memory", f->name);

done:
	if (rc != 0) {
		/* No parser thread runs: the caller may read it all. */
		f->error_shown = 1;
		f->end_rc = f->failed ? f->failed : rc;
		f->shown_bytes_read = f->src.bytes_read;
		if (f->warnings.len > 0 &&
		    fbuf_put(&f->shown_warnings, f->warnings.ptr, f->warnings.len) == 0)
			(void)fbuf_cstr(&f->shown_warnings);
	}
	if (rc == PS_ENOMEM) {
		/* As documented: no feed comes back with PS_ENOMEM. */
		ps_feed_free(f);
		*out = NULL;
	}
	return rc;
}

/*
 * An error of the caller's side (out of memory handing an item out): it
 * comes before whatever the parser side met later in the feed, so the
 * parser thread is stopped and the error replaces its own.
 */
static int
caller_fail(ps_feed *f, int code)
{
	ps_feed__pipe_stop(f);
	f->failed = code;
	snprintf(f->error, sizeof(f->error), "%s: out of memory", f->name);
	f->error_shown = 1;
	f->end_rc = code;
	return code;
}

/*
 * Points it's values at the text of raw item r (which starts at base) and
 * resets the rest. Returns the scratch bytes normalising it may need: the
 * worst case, every byte invalid UTF-8 (3 bytes of U+FFFD each), plus a
 * few bytes per value (NUL, currency) and the base URL per resolved URL.
 * *text: the bytes of its values.
 */
static size_t
item_from_raw(ps_item *it, const ps_raw_item *r, const char *base, const ps_feed_options *opts,
              size_t *text)
{
	size_t t = 0, need;
	uint64_t bits;

	memset(it->values, 0, sizeof(it->values)); /* NULL: absent */
	for (bits = r->present; bits != 0; bits &= bits - 1) {
		const int a = __builtin_ctzll(bits);

		it->values[a].ptr = base + r->off[a];
		it->values[a].len = r->len[a];
		t += r->len[a];
	}
	it->line = r->line;
	it->index = r->index;
	it->hash = 0;
	it->nproblems = 0;
	it->scratch_len = 0;
	need = 4 * t + 16 * PS_ATTR__COUNT + 64;
	if (opts->base_url != NULL)
		need += (PS_MAX_ADDITIONAL_IMAGES + 8) * (strlen(opts->base_url) + 8);
	*text = t;
	return need;
}

#if PS_FEED_POISON_ITEMS
/* it's values copied into one new block (after need bytes of scratch),
 * which replaces f->poison: the next ps_feed_next() frees it. */
static int
poison_copy(ps_feed *f, ps_item *it, size_t text, size_t need)
{
	char *blk, *p;
	int a;

	free(f->poison);
	f->poison = blk = malloc(text + PS_ATTR__COUNT + need);
	if (blk == NULL)
		return caller_fail(f, PS_ENOMEM);
	p = blk + need;
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		if (it->values[a].ptr == NULL)
			continue;
		memcpy(p, it->values[a].ptr, it->values[a].len + 1);
		it->values[a].ptr = p;
		p += it->values[a].len + 1;
	}
	it->scratch = blk;
	it->scratch_cap = need;
	return 0;
}
#endif

/* Builds f->out from a raw item of the batch taken and normalises it. */
static int
hand_out(ps_feed *f, const ps_raw_item *r)
{
	ps_item *it = &f->out;
	const char *base =
	    f->cons.arena.ptr ? f->cons.arena.ptr + r->base : ""; /* NULL + 0 is UB */
	size_t text, need = item_from_raw(it, r, base, &f->opts, &text);

#if PS_FEED_POISON_ITEMS
	if (poison_copy(f, it, text, need) != 0)
		return f->end_rc;
#else
	(void)text;
	if (f->scratch.cap < need) {
		f->scratch.len = 0;
		if (fbuf_grow(&f->scratch, need) != 0)
			return caller_fail(f, PS_ENOMEM);
	}
	it->scratch = f->scratch.ptr;
	it->scratch_cap = f->scratch.cap;
#endif
	ps_feed__normalise(it, &f->opts, r->present);
	return 0;
}

/* The item the parser thread normalised: *out points at it (under
 * PS_FEED_POISON_ITEMS, at a private copy in f->out). */
static int
hand_out_done(ps_feed *f, ps_item **out, ps_item *done)
{
#if PS_FEED_POISON_ITEMS
	size_t text = 0;
	int a;

	f->out = *done;
	for (a = 0; a < PS_ATTR__COUNT; a++)
		text += f->out.values[a].len;
	if (poison_copy(f, &f->out, text, 0) != 0)
		return f->end_rc;
	f->out.scratch_len = 0;
	*out = &f->out;
#else
	(void)f;
	*out = done;
#endif
	return 0;
}

void
ps_feed__prenormalise(ps_feed *f)
{
	ps_fbuf *sb = &f->done_scratch;
	size_t i;

	if (f->qlen > f->done_cap) {
		ps_item *d = realloc(f->done, f->qlen * sizeof(*d));

		if (d == NULL)
			return; /* the caller normalises them, as usual */
		f->done = d;
		f->done_cap = f->qlen;
	}
	sb->len = 0;
	if (sb->cap < PS_FEED_BATCH_SCRATCH && fbuf_grow(sb, PS_FEED_BATCH_SCRATCH) != 0)
		return;
	for (i = f->ndone; i < f->qlen; i++) {
		ps_item *it = &f->done[i];
		const ps_raw_item *r = &f->queue[i];
		const char *base = f->arena.ptr ? f->arena.ptr + r->base : "";
		size_t text, need = item_from_raw(it, r, base, &f->opts, &text);

		if (need > sb->cap - sb->len)
			break;
		it->scratch = sb->ptr + sb->len;
		it->scratch_cap = sb->cap - sb->len;
		ps_feed__normalise(it, &f->opts, r->present);
		sb->len += it->scratch_len;
	}
	f->ndone = i;
}

/* Reads and pushes one chunk (or the pending bytes, or the end). */
static int
refill(ps_feed *f)
{
	size_t n = 0;
	int rc;

	/* With no item queued, only the item in progress holds live arena
	 * bytes. Move them to the front once the dead bytes before them are
	 * many, not at every push: an item spans several pushes. */
	if (f->qlen == 0) {
		if (!f->in_item) {
			f->arena.len = 0;
		} else if (f->cur.base >= PS_FEED_PUSH_MAX * 4) {
			size_t keep = f->arena.len - f->cur.base;

			memmove(f->arena.ptr, f->arena.ptr + f->cur.base, keep);
			f->cur.base = 0;
			f->arena.len = keep;
		}
	}

	/* The bytes read for detection go first. */
	if (f->pending.ptr != NULL) {
		n = f->pending.len - f->pending_pos;
		if (n > PS_FEED_PUSH_MAX)
			n = PS_FEED_PUSH_MAX;
		rc = f->parser->push(f, f->pending.ptr + f->pending_pos, n, 0);
		f->pending_pos += n;
		if (f->pending_pos >= f->pending.len)
			fbuf_free(&f->pending);
		return rc;
	}

	if (f->chunk_pos == f->chunk_len) {
		/* From the first read after detection on, the source may scan
		 * for the parser, on its reading thread. */
		if (!f->prescan_asked) {
			f->prescan_asked = 1;
			if (f->parser->prescan != NULL)
				f->parser->prescan(f);
		}
		rc = ps_feed__source_read(&n, &f->src, f->chunk, f->opts.chunk_size, f->error,
		                          sizeof(f->error));
		if (rc == PS_FEED_SCAN_REFUSED)
			return f->parser->refused(f);
		if (rc != 0) {
			f->failed = rc;
			return rc;
		}
		if (n == 0) {
			rc = f->parser->push(f, NULL, 0, 1);
			if (rc == 0 && !f->failed)
				f->eof = 1;
			return rc;
		}
		f->chunk_pos = 0;
		f->chunk_len = n;
	}
	n = f->chunk_len - f->chunk_pos;
	if (n > PS_FEED_PUSH_MAX)
		n = PS_FEED_PUSH_MAX;
	rc = f->parser->push(f, f->chunk + f->chunk_pos, n, 0);
	f->chunk_pos += n;
	return rc;
}

void
ps_feed__pump(ps_feed *f)
{
	(void)refill(f); /* errors are in f->failed; completed items first */
	if (f->qlen > 0 && (f->failed || f->eof || ps_feed__pipe_wants(f, 1)))
		(void)ps_feed__pipe_publish(f);
}

int
ps_feed_next(ps_item **out, ps_feed *f)
{
	*out = NULL;
	for (;;) {
		if (f->cons_pos < f->cons.n) {
			size_t i = f->cons_pos++;
			int rc;

			if (i < f->cons.ndone)
				return hand_out_done(f, out, &f->cons.done[i]);
			if ((rc = hand_out(f, &f->cons.items[i])) != 0)
				return rc;
			*out = &f->out;
			return 0;
		}
		if (f->end_rc != 0)
			return f->end_rc;
		if (f->pipe == NULL) {
			f->error_shown = 1;
			return f->end_rc = ps_feed__fail(f, PS_ERROR, "%s: feed not open", f->name);
		}
		(void)ps_feed__pipe_take(f); /* a batch, or f->end_rc */
	}
}

const char *
ps_feed_error(const ps_feed *f)
{
	/* The parser thread owns f->error until it is done. */
	return (f && f->error_shown) ? f->error : "";
}

const char *
ps_feed_warnings(const ps_feed *f)
{
	return (f && f->shown_warnings.ptr) ? f->shown_warnings.ptr : "";
}

ps_feed_format
ps_feed_detected_format(const ps_feed *f)
{
	return f ? f->format : PS_FORMAT_AUTO;
}

uint64_t
ps_feed_bytes_read(const ps_feed *f)
{
	return f ? f->shown_bytes_read : 0;
}

void
ps_feed_validators(const ps_feed *f, const char **etag, const char **last_modified)
{
	*etag = NULL;
	*last_modified = NULL;
	if (f != NULL && f->src_open)
		ps_feed__url_validators(f->src.url, etag, last_modified);
}

const char *
ps_feed_name(const ps_feed *f)
{
	return (f && f->name) ? f->name : "";
}

long
ps_feed_http_status(const ps_feed *f)
{
	return (f && f->src_open) ? ps_feed__url_status(f->src.url) : 0;
}

uint64_t
ps_feed_skipped(const ps_feed *f)
{
	return f ? f->shown_skipped : 0;
}

void
ps_feed_free(ps_feed *f)
{
	if (f == NULL)
		return;
	ps_feed__pipe_free(f); /* first: stops and joins the parser thread */
	/* Then the source, whose reading thread may be scanning for the
	 * parser, into the parser's state (ps_feed__source_prescan()). */
	if (f->src_open)
		ps_feed__source_close(&f->src);
	if (f->parser != NULL && f->pstate != NULL)
		f->parser->free(f);
	fbuf_free(&f->pending);
	fbuf_free(&f->arena);
	fbuf_free(&f->scratch);
	fbuf_free(&f->warnings);
	fbuf_free(&f->shown_warnings);
	fbuf_free(&f->cons.arena);
	fbuf_free(&f->cons.scratch);
	free(f->cons.items);
	free(f->cons.done);
	fbuf_free(&f->done_scratch);
	free(f->done);
	ps_feed__map_free(f->map);
	free(f->base_url);
	free(f->queue);
	free(f->poison);
	free(f->chunk);
	free(f->name);
	free(f);
}
