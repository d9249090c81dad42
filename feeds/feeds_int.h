/*
 * feeds_int.h: internals shared by the files of feeds/. Not a public header:
 * nothing outside feeds/ may include it.
 *
 * How the pieces fit:
 *
 *   source.c   bytes from a path, stdin or a URL, gunzipped when the
 *              magic bytes say so (ps_source)
 *   url.c      http(s) sources streamed through libcurl (ps_url)
 *   feed.c     ps_feed itself: format detection, the push loop, items in
 *              progress, ps_feed_next() handing items out normalised
 *   pipeline.c the parser's thread and the ring of batches between it and
 *              the caller of ps_feed_next()
 *   xml.c      libxml2 SAX2 push parser -> raw items
 *   csv.c      RFC 4180 state machine -> raw items
 *   attrs.c    the attribute table, name lookup and aliases
 *   map.c      mapping files, presets, rows -> items (CSV with a map)
 *   html.c     HTML to plain text (descriptions)
 *   normalise.c  ps_item_normalise(), ps_item_hash()
 *
 * The parsers are push parsers: the parser side (ps_feed__pump()) reads a
 * chunk from the source and pushes it in pieces of at most PS_FEED_PUSH_MAX
 * bytes; the parser calls ps_feed__item_begin/_set/_commit/_end for each
 * item a piece completes, which appends the item's text to feed->arena and
 * a ps_raw_item to feed->queue: together, the batch being filled.
 *
 * Two threads (issue 5): the parser side runs on a thread of its own
 * (pipeline.c) and hands filled batches over through a ring of
 * PS_FEED_RING slots; the caller's thread takes them whole in
 * ps_feed_next() and normalises, validates and hashes their items one at a
 * time. A batch is handed over when it holds PS_FEED_BATCH_ITEMS items or
 * PS_FEED_BATCH_BYTES of text, before a read that may block (pipe, stdin,
 * URL: items are never kept back while the source stalls), and at the end
 * or an error. Memory is bounded by the ring (a few batches) and the item
 * in progress, never by the feed. When the ring is full (the caller's side
 * is the slower one, as in CSV), the parser thread normalises the batch it
 * hands over itself rather than wait (ps_feed__prenormalise()). With
 * opts.single_thread the same code runs in the caller's thread:
 * ps_feed_next() pumps until a batch is ready.
 *
 * A third thread reads ahead of the parser (source.c): the inflater of a
 * gzip regular file, and, for an XML regular file, the reader that runs
 * the hardening scanner (xmlscan.c) on the bytes before the parser gets
 * them (ps_feed__source_prescan()), which otherwise cost the parser's
 * thread, the one that bounds an XML feed, a sixth of its time.
 *
 * Ownership between the threads: everything the parser side touches
 * (source, parser state, arena, queue, cur, map, error, failed, eof,
 * warnings, skipped) is the parser thread's while it runs; the ring, its
 * counters and the copy of the warnings are under the pipeline's mutex;
 * the batch taken (feed->cons), the item handed out and the "shown_"
 * fields that the accessors read are the caller's. The caller reads error
 * and failed only after the parser thread has said it is done.
 *
 * Raw items store their values as offsets relative to the item's first byte
 * in the arena, so the item in progress survives being moved to the start
 * of a fresh arena when the batch around it is handed over, or the arena
 * being compacted.
 *
 * Internal functions shared between files are named ps_feed__*; they are not
 * part of the API and may change at any time.
 */
#ifndef PS_FEEDS_INT_H
#define PS_FEEDS_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "feeds.h"

/* Hard limits beyond those in feeds.h. */
#define PS_FEED_MAX_CHUNK ((size_t)64 << 20)      /* opts->chunk_size ceiling */
#define PS_FEED_MAX_ARENA ((size_t)1 << 30)       /* queued item text */
#define PS_FEED_SNIFF_MAX ((size_t)1 << 20)       /* bytes read to detect format */
#define PS_FEED_MAX_WARNINGS 4096                 /* text of ps_feed_warnings() */
#define PS_FEED_ERROR_LEN 512

/*
 * Bytes given to a parser per push, however big the read chunk: the items
 * one push completes are queued, and a queued item costs about 500 bytes
 * (ps_raw_item) however small it was in the feed, so pieces of 16 KiB
 * keep the queue under a few MiB even for a feed of one-byte rows.
 */
#define PS_FEED_PUSH_MAX ((size_t)16 << 10)

/*
 * The pipeline (pipeline.c). Batches in the ring between the parser thread
 * and the caller; a batch is handed over, even mid-piece, once it holds
 * this many items or bytes of text (so a piece of tiny rows does not grow
 * one batch without bound). Peak: (ring + 2) batches of at most about
 * PS_FEED_BATCH_ITEMS * (sizeof(ps_raw_item) + sizeof(ps_item)) +
 * PS_FEED_BATCH_BYTES + PS_FEED_BATCH_SCRATCH + one item each (the
 * ps_item array and the scratch only for batches the parser normalised).
 */
#define PS_FEED_RING 4
#define PS_FEED_BATCH_ITEMS 128
#define PS_FEED_BATCH_BYTES ((size_t)64 << 10)
/* Scratch of a batch the parser thread normalises itself (see
 * ps_feed__prenormalise()): items whose worst case does not fit are left
 * to the caller. */
#define PS_FEED_BATCH_SCRATCH ((size_t)256 << 10)

/*
 * Under AddressSanitizer every item handed out gets its own malloc'd copy,
 * freed by the next ps_feed_next(), so that using an item after its time
 * is reported instead of reading stale arena bytes. Force with
 * -DPS_FEED_POISON_ITEMS=1 (e.g. for valgrind).
 */
#ifndef PS_FEED_POISON_ITEMS
#if defined(__SANITIZE_ADDRESS__)
#define PS_FEED_POISON_ITEMS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PS_FEED_POISON_ITEMS 1
#endif
#endif
#endif
#ifndef PS_FEED_POISON_ITEMS
#define PS_FEED_POISON_ITEMS 0
#endif

#if defined(__GNUC__)
#define PS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PS_PRINTF(f, a)
#endif

_Static_assert(PS_ATTR__COUNT <= 64, "ps_raw_item uses 64-bit attribute masks");
_Static_assert(PS_FEED_MAX_ITEM < UINT32_MAX, "raw item offsets are 32-bit");

/*
 * A growable byte buffer with a hard cap (curl's dynbuf). ptr is NULL until
 * the first byte is stored. Every function returns 0, PS_EFEED when the cap
 * would be exceeded (hostile or broken input) or PS_ENOMEM when malloc
 * fails; the caller names the buffer in its error message.
 */
typedef struct ps_fbuf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len; set before first use */
} ps_fbuf;

static inline void
fbuf_init(ps_fbuf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static inline int
fbuf_grow(ps_fbuf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return PS_EFEED;
	need = b->len + extra;
	if (need < b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap <= need)
		ncap = (ncap > SIZE_MAX / 2) ? need + 1 : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1; /* +1: room for a NUL after max bytes */
	p = realloc(b->ptr, ncap);
	if (p == NULL)
		return PS_ENOMEM;
	b->ptr = p;
	b->cap = ncap;
	return 0;
}

/* Appends n bytes; always leaves room for one more byte (a NUL). */
static inline int
fbuf_put(ps_fbuf *b, const void *p, size_t n)
{
	int rc;

	if (b->cap - b->len <= n && (rc = fbuf_grow(b, n)) != 0)
		return rc;
	if (n > 0)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	return 0;
}

static inline int
fbuf_putc(ps_fbuf *b, char c)
{
	return fbuf_put(b, &c, 1);
}

/* Makes the content a C string (without counting the NUL in len). */
static inline int
fbuf_cstr(ps_fbuf *b)
{
	int rc;

	if (b->cap <= b->len && (rc = fbuf_grow(b, 0)) != 0)
		return rc;
	b->ptr[b->len] = '\0';
	return 0;
}

static inline void
fbuf_free(ps_fbuf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
}

/* ASCII helpers that ignore the locale. */
static inline int
ps_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline unsigned char
ps_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ------------------------------------------------------------------ */
/* source.c: bytes in, gzip inflated in process.                       */

typedef struct ps_url ps_url;
typedef struct ps_inflater ps_inflater;

typedef struct ps_source {
	const char *name; /* for messages; borrowed from the feed */
	int fd;
	int close_fd;
	ps_url *url;    /* http(s) source, else NULL */
	int gzip;
	int z_live;     /* inflateInit2() done, inflateEnd() pending */
	int in_eof;     /* read() returned 0 */
	int z_finished; /* gzip: a member ended and no input followed */
	z_stream z;
	unsigned char *in; /* read buffer: compressed input, or pre-read bytes */
	size_t in_cap;
	size_t in_pos; /* plain: next pre-read byte to hand out */
	size_t in_len;
	uint64_t bytes_read;   /* from the file, compressed if gzip */
	uint64_t *read_count;  /* where raw reads are counted: &bytes_read, or
	                          the inflater thread's own counter */
	ps_inflater *bg;       /* gzip of a regular file: inflated on a thread;
	                          a plain one being scanned ahead: read on one */
	int pollable;          /* fd is not a regular file: reads may block */
	int cancel_fd;         /* readable once the reads must stop, or -1 */
	uint64_t bytes_out;    /* inflated bytes handed out */
	uint64_t max_inflated; /* cap on bytes_out for gzip */
} ps_source;

/*
 * Opens path ("-" = stdin, file://..., http(s)://...) and detects gzip.
 * On failure writes err. Returns 0, PS_EFEED, PS_ERROR (bad options),
 * PS_ENOMEM, or PS_FEED_UNCHANGED (a URL answered 304).
 */
int ps_feed__source_open(ps_source *src, const char *path, const char *name,
                         const ps_feed_options *opts, char *err, size_t errlen);
/*
 * Reads up to cap bytes into buf: 0 with *n > 0, or 0 with *n == 0 at the
 * proper end of the data, or PS_EFEED / PS_ENOMEM with err written.
 */
int ps_feed__source_read(size_t *n, ps_source *src, char *buf, size_t cap, char *err,
                         size_t errlen);
void ps_feed__source_close(ps_source *src);

/*
 * A look at the bytes before the parser gets them: called in order on
 * each piece read from here on, it returns 0 when all len bytes may go
 * on, or nonzero with *ok set to how many may (the data then stops
 * there: the reads after them return PS_FEED_SCAN_REFUSED).
 */
typedef int (*ps_source_scan)(void *ctx, const char *buf, size_t len, size_t *ok);
#define PS_FEED_SCAN_REFUSED -60 /* internal: the scan refused (see above) */

/*
 * Runs scan on the bytes not read yet on a thread of its own that reads
 * ahead of the parser (the inflater's, in plain mode), so that it costs
 * the parser's thread nothing. Only for a plain regular file, where reads
 * never block: returns 1 when the thread runs (every byte read from now
 * on has been through scan), 0 when the caller must scan what it reads
 * itself (a pipe, a URL, gzip, or no thread to be had).
 */
int ps_feed__source_prescan(ps_source *src, ps_source_scan scan, void *ctx);

/* url.c */
int ps_feed__is_url(const char *source);
/* source with its password (if any) shown as ***, for messages. */
void ps_feed__url_redact(char *out, size_t cap, const char *url);
int ps_feed__url_open(ps_url **out, const char *url, const ps_feed_options *opts, char *err,
                      size_t errlen);
int ps_feed__url_read(size_t *n, ps_url *u, void *buf, size_t cap, char *err, size_t errlen);
void ps_feed__url_validators(const ps_url *u, const char **etag, const char **last_modified);
long ps_feed__url_status(const ps_url *u);
void ps_feed__url_free(ps_url *u);
/* Makes ps_feed__url_read() give up (PS_ERROR) once fd is readable. */
void ps_feed__url_set_cancel(ps_url *u, int fd);

/* ------------------------------------------------------------------ */
/* map.c and presets.c: mapping files, presets, the row path.          */

/* A record of a CSV feed on the row path: the fields of the columns some
 * rule needs ("slots"), as offsets into text. */
#define PS_ROW_ABSENT UINT32_MAX
typedef struct ps_row {
	const char *text;
	const uint32_t *off; /* per slot */
	const uint32_t *len; /* per slot; PS_ROW_ABSENT: no such field */
	uint64_t line;
} ps_row;

typedef struct ps_map ps_map;

typedef struct ps_preset {
	const char *name;
	const char *const *columns; /* the source columns it reads, NULL-ended */
	/* One row in; items out through ps_feed__item_*; may keep rows. */
	int (*row)(ps_feed *f, ps_map *m, const ps_row *row);
	/* End of the data: emits what it kept. */
	int (*finish)(ps_feed *f, ps_map *m);
	void (*free)(ps_map *m);
} ps_preset;

struct ps_map_rename {
	char *name; /* folded */
	int attr;   /* -2: ignored */
	unsigned line;
};

struct ps_map_rule {
	int attr;
	int constant; /* text is the value; else a template */
	char *text;
	int *refs; /* names[] index of each {part}, in order */
	size_t nrefs;
	unsigned line;
};

struct ps_map {
	char *file; /* the mapping file, for messages */
	struct ps_map_rename *renames;
	size_t nrenames;
	struct ps_map_rule *rules;
	size_t nrules;
	char **names; /* folded source names rules and the preset read */
	size_t nnames;
	int rows; /* CSV takes the row path */

	/* Set from the CSV header. */
	int *colslot;   /* column -> slot, or -1 */
	int *slot_attr; /* slot -> attribute it names, or -1 */
	size_t nslots;
	int *name_slot; /* names[] index -> slot, or -1 */

	ps_fbuf tmp; /* template expansion */

	const ps_preset *preset;
	int *pcol;    /* preset column i -> names[] index */
	void *pstate; /* the preset's */
};

/* Compiles opts.map_file and opts.preset into f->map (NULL if neither).
 * PS_ERROR with "FILE:LINE: reason" for a bad mapping file. */
int ps_feed__map_load(ps_feed *f);
void ps_feed__map_free(ps_map *m);
/* Attribute for a column / element name: the mapping file's renames, then
 * (without a preset) the built-in names. -1: none, -2: ignored. */
int ps_feed__map_attr(const ps_feed *f, const char *name, size_t len);
/* CSV on the row path: the header's names -> m->colslot etc. */
int ps_feed__map_header(ps_feed *f, const ps_slice *names, size_t ncols);
/* One row -> items; the end of the data. */
int ps_feed__map_row(ps_feed *f, const ps_row *row);
int ps_feed__map_finish(ps_feed *f);
/* Applies the constants and templates to the item in progress; row gives
 * the {parts} (NULL: only attribute values). */
int ps_feed__map_apply(ps_feed *f, const ps_row *row);
/* XML: index of a needed source name for an element's local name, or -1. */
int ps_feed__map_xml_wants(const ps_feed *f, const char *local, size_t len);

int ps_feed__preset_init(ps_feed *f, ps_map *m, const char *name);
/* The header is known (m->nslots set). */
int ps_feed__preset_header(ps_feed *f, ps_map *m);
/* Adds name to m->names (folded); its index, or -1 out of memory. */
int ps_feed__map_need(ps_map *m, const char *name, size_t len);

/* html.c: HTML to plain text, in place or into out (out may be in): tags
 * dropped (block tags and <br> become line breaks), <script> and <style>
 * dropped with their content, entities decoded. The result is never
 * longer than the input. Returns its length. */
size_t ps_feed__html_to_text(char *out, const char *in, size_t n);
/* Does p[0..n) look like HTML (a tag) or hold an entity? */
int ps_feed__looks_html(const char *p, size_t n);
/* Index of the first byte of p[i..n) equal to c1 or c2, or n. SSE2 where
 * the CPU has it, 64 bytes a step while nothing matches: the markup scan of
 * every description and the list-separator scan use it. */
size_t ps_feed__find2(const char *p, size_t i, size_t n, char c1, char c2);

/* ------------------------------------------------------------------ */
/* xmlscan.c: an XML document's bytes, looked at before libxml2.       */

/* Bytes of the start of a document held until its XML declaration (and so
 * its encoding) is known: a longer declaration is refused. */
#define PS_XSCAN_PROLOG 1024

/* The scanner's state between pieces; ps_feed__xscan_init() sets it up. */
typedef struct ps_xscan {
	int mode;                               /* how bytes are read (xmlscan.c) */
	unsigned char pend[2 * PS_XSCAN_PROLOG]; /* the first bytes, until then */
	size_t npend;
	int odd; /* UTF-16: a unit cut by the end of a piece, */
	unsigned char odd_byte; /* its first byte */
	int state, ret;         /* where in the markup, where a quote returns */
	const char *kw;         /* keyword being matched after "<!" */
	unsigned kwpos;
	unsigned run;  /* '-', ']' or '?' just seen in a row */
	int quote;     /* the quote that closes the value */
	int trail;     /* double-byte encodings: the next byte is a trail */
	unsigned attrs; /* '=' in the start tag so far */
	int in_dtd;     /* in the DOCTYPE declaration, */
	size_t dtd;     /* which has this many bytes so far */
	int naming;     /* the start tag's name is still to be kept, */
	size_t tag_at;  /* from this offset of the block */
	char name[48];
	size_t nname;
	int failed;
	int at_start;      /* refused for its encoding: the place is 1:1 */
	char msg[200];     /* why the document is refused */
	char encoding[48]; /* as declared, "" if not */
} ps_xscan;

/* fragment: the text is libxml2's UTF-8 (an entity's replacement text),
 * not a document: no encoding to find. */
void ps_feed__xscan_init(ps_xscan *s, int fragment);
/*
 * Looks at the next n bytes of the document. Returns 0 (*used = n), or
 * PS_EFEED when the document is refused: s->msg says why, and *used is the
 * number of bytes of p before the place, which libxml2 may still parse
 * (the place is the byte after them). Every later call returns PS_EFEED.
 */
int ps_feed__xscan(ps_xscan *s, const char *p, size_t n, size_t *used);

/* ------------------------------------------------------------------ */
/* feed.c: items in progress and queued.                               */

typedef struct ps_raw_item {
	size_t base;                  /* arena offset of the item's first byte */
	uint64_t present;             /* bit a: attribute a has a value */
	uint64_t preferred;           /* bit a: the value came from the g: namespace */
	uint32_t off[PS_ATTR__COUNT]; /* relative to base; value NUL-terminated */
	uint32_t len[PS_ATTR__COUNT];
	uint64_t line;
	uint64_t index;
} ps_raw_item;

/* What a parser implements. */
typedef struct ps_parser_ops {
	const char *name;
	int (*init)(ps_feed *f);
	/* Pushes len bytes; last = 1 once, at the end of the data (len may be
	 * 0). Returns 0 or the code set with ps_feed__fail(). */
	int (*push)(ps_feed *f, const char *buf, size_t len, int last);
	void (*free)(ps_feed *f);
	/* Optional: called once, before the first read after the bytes read
	 * to detect the format have been pushed; may hand a look at the bytes
	 * to the source (ps_feed__source_prescan()). */
	void (*prescan)(ps_feed *f);
	/* With prescan: the source's scan refused (PS_FEED_SCAN_REFUSED), after
	 * the bytes before its place were pushed. Returns the error set. */
	int (*refused)(ps_feed *f);
} ps_parser_ops;

extern const ps_parser_ops ps_feed__xml_parser;
extern const ps_parser_ops ps_feed__csv_parser;

/* Consecutive items, handed from the parser side to the caller whole. */
typedef struct ps_batch {
	ps_fbuf arena;       /* their text */
	ps_raw_item *items;  /* offsets into arena */
	size_t n, cap;
	ps_item *done;       /* items [0, ndone) already normalised, or none */
	size_t ndone, done_cap;
	ps_fbuf scratch;     /* values rewritten by that normalisation */
	uint64_t bytes_read; /* source bytes read when it was handed over */
	uint64_t skipped;    /* the feed's skipped count then */
} ps_batch;

typedef struct ps_pipe ps_pipe;

struct ps_feed {
	char *name; /* source for messages: the path, or "stdin" */
	ps_feed_options opts;
	char currency[4]; /* opts.default_currency points here, or is NULL */
	ps_feed_format format;
	char delim;           /* CSV/TSV field delimiter */
	uint64_t line_offset; /* XML: newlines dropped before the document */

	ps_source src;
	int src_open;
	char *chunk;                 /* opts.chunk_size bytes */
	size_t chunk_pos, chunk_len; /* [pos, len) still to push */

	ps_fbuf pending; /* bytes read for detection, pushed first */
	size_t pending_pos;
	int prescan_asked; /* parser->prescan called (refill()) */

	const ps_parser_ops *parser;
	void *pstate;

	/* The batch being filled: text of its items and of the item in
	 * progress, and its raw items. */
	ps_fbuf arena;
	ps_raw_item *queue;
	size_t qlen, qcap;
	ps_item *done; /* see ps_feed__prenormalise() */
	size_t ndone, done_cap;
	ps_fbuf done_scratch;
	ps_raw_item cur;
	int in_item;
	uint64_t nitems;

	ps_map *map;      /* NULL: no mapping file, no preset */
	char *base_url;   /* opts.base_url points here, or is NULL */
	uint64_t skipped; /* source records that make no item by design */
	int unchanged;    /* the URL answered 304 */

	ps_fbuf warnings;
	char error[PS_FEED_ERROR_LEN];
	int failed; /* 0, or the code ps_feed_next() returns once drained */
	int eof;    /* the parser saw the end of the data */

	ps_pipe *pipe; /* NULL until ps_feed_open() succeeded */

	/* The caller's side. */
	ps_batch cons;   /* the batch items are handed out from */
	size_t cons_pos; /* next item of cons */
	int end_rc;      /* 0, or what ps_feed_next() returns from now on */
	int error_shown; /* ps_feed_error() may read error */
	ps_item out;     /* the item handed out by ps_feed_next() */
	ps_fbuf scratch; /* out.scratch */
	char *poison;    /* PS_FEED_POISON_ITEMS: out's private copy */
	ps_fbuf shown_warnings;
	uint64_t shown_bytes_read;
	uint64_t shown_skipped;
};

/*
 * Records a fatal error (the first one wins) and returns code, which is
 * PS_EFEED or PS_ENOMEM. The message should start with "name:line:".
 */
int ps_feed__fail(ps_feed *f, int code, const char *fmt, ...) PS_PRINTF(3, 4);
/* Appends one line to the warnings (silently capped). */
void ps_feed__warn(ps_feed *f, const char *fmt, ...) PS_PRINTF(2, 3);

/*
 * The parser side's step: pushes one piece of the data (or the end) to the
 * parser and hands the items it completed over when the batch is big
 * enough or the caller waits. Errors are in f->failed; f->eof is set once
 * the parser accepted the end of the data. Runs on the parser thread.
 */
void ps_feed__pump(ps_feed *f);

/*
 * Normalises the items of the batch being filled on the parser thread, as
 * ps_feed_next() would (into f->done, their rewritten values into
 * f->done_scratch), as many as fit. pipeline.c calls it when the ring is
 * full, i.e. when the caller's side is the slower one and the parser
 * would only wait: the two threads then share the per-item work too.
 */
void ps_feed__prenormalise(ps_feed *f);

/* pipeline.c. Starts the parser side (a thread, or nothing with
 * opts.single_thread or when no thread can be started). 0 or PS_ENOMEM. */
int ps_feed__pipe_start(ps_feed *f);
/* Hands the batch being filled over (waits for a free slot); a piece of
 * the item in progress moves to the new batch. Parser side. 0, or the
 * code of ps_feed__fail() (PS_ERROR once the feed is being freed). */
int ps_feed__pipe_publish(ps_feed *f);
/* Should the batch being filled go now: full, or (end_of_piece) a read
 * that may block comes next? */
int ps_feed__pipe_wants(ps_feed *f, int end_of_piece);
/* Caller side: gives f->cons back and takes the next batch. 1 with a
 * batch in f->cons, or 0 at the end (f->end_rc set). */
int ps_feed__pipe_take(ps_feed *f);
/* Caller side: stops and joins the parser thread (idempotent). */
void ps_feed__pipe_stop(ps_feed *f);
/* Stops the parser side and frees the ring; accepts NULL. */
void ps_feed__pipe_free(ps_feed *f);
/* The pipeline's lock around the parser side's writes to f->warnings
 * (no-ops before the pipeline exists). */
void ps_feed__pipe_lock(ps_feed *f);
void ps_feed__pipe_unlock(ps_feed *f);

/* Starts an item at the current end of the arena. */
void ps_feed__item_begin(ps_feed *f, uint64_t line);
/* Drops the item in progress and its text. */
void ps_feed__item_abort(ps_feed *f);
/* Queues the item in progress; its index is assigned here. */
int ps_feed__item_end(ps_feed *f);
/*
 * Does attribute a of the item in progress take a value of this preference?
 * A value from the g: namespace replaces a plain one; otherwise the first
 * non-empty value wins.
 */
static inline int
ps_feed__item_wants(const ps_feed *f, int a, int preferred)
{
	uint64_t bit = (uint64_t)1 << a;

	if (!(f->cur.present & bit))
		return 1;
	if (preferred && !(f->cur.preferred & bit))
		return 1;
	return f->cur.len[a] == 0;
}
/* Copies p[0..n) trimmed into the arena as the value of a (if wanted). */
int ps_feed__item_set(ps_feed *f, int a, const char *p, size_t n, int preferred);
/* Copies p[0..n) into the arena and commits it as the value of a (LIST
 * values split on ',' as in CSV): if a has no value yet, or always when
 * replace is set. p must not point into the arena. */
int ps_feed__item_text(ps_feed *f, int a, const char *p, size_t n, int replace);
/*
 * Takes arena bytes [cur.base + off, + len) already written by the parser
 * as the value of a: trims them in place, splits LIST values, and writes
 * the NUL. The caller has checked ps_feed__item_wants().
 */
int ps_feed__item_commit(ps_feed *f, int a, size_t off, size_t len, int preferred);
/* Bytes of the item in progress so far, for the PS_FEED_MAX_ITEM cap. */
static inline size_t
ps_feed__item_size(const ps_feed *f)
{
	return f->arena.len - f->cur.base;
}

/*
 * Rewrites a LIST value in place: pieces separated by sep (or by the
 * PS_LIST_SEP already there) are trimmed, empty ones dropped, joined with
 * PS_LIST_SEP and capped at max pieces (0 = no cap). For URL lists, sep
 * only splits where the next piece starts with http:// or https://, since
 * URLs may hold commas. Returns the new length.
 */
size_t ps_feed__list_pack(char *p, size_t n, char sep, int urls, unsigned max);

/* normalise.c: ps_item_normalise() for an item whose present attributes
 * (values[a].ptr != NULL) are exactly the bits of present, which the feed
 * knows from the raw item without looking at every attribute. */
void ps_feed__normalise(ps_item *it, const ps_feed_options *opts, uint64_t present);

/* ------------------------------------------------------------------ */
/* attrs.c                                                             */

/*
 * Maps a column or element name to an attribute: trims, lowercases, maps
 * ' ' and '-' to '_', strips a "g:" prefix, then tries the attribute
 * names and a few common aliases ("image" -> image_link, "url" -> link).
 * Returns the attribute or -1.
 */
int ps_feed__attr_from_name(const char *name, size_t len);

/* Is a a URL attribute (link, image_link, ...)? */
int ps_feed__attr_is_url(int a);

/* The attribute whose wire name is name, folded as above (no aliases). */
int ps_feed__attr_exact(const char *name, size_t len);

#endif /* PS_FEEDS_INT_H */
