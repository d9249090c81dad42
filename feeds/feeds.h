/*
 * feeds: product feeds in, normalised Pinterest items out.
 *
 * A ps_feed reads one source (a path, or "-" for stdin; gzip is detected by
 * its magic bytes), detects its format from the content unless told (RSS 2.0
 * or Atom XML with the Google "g:" namespace, CSV or TSV with a header row),
 * streams it through a push parser (libxml2 SAX2, or the CSV state machine in
 * csv.c) and hands out one ps_item at a time, already mapped to Pinterest's
 * attribute names, normalised, validated and hashed.
 *
 * Memory is bounded by the read chunk and the size caps below, never by the
 * size of the feed. Nothing in this module touches the database or the
 * Pinterest API; it never includes db/ or sync/.
 *
 * Ownership: a ps_item returned by ps_feed_next() belongs to the feed and
 * stays valid until the next ps_feed_next() or ps_feed_free(). Copy what you
 * keep.
 */
#ifndef PS_FEEDS_H
#define PS_FEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "attrs.h"

/* Return codes shared by the pinsync libraries (0 = ok). */
#define PS_OK 0
#define PS_ERROR -1       /* generic failure; details in the error record */
#define PS_ITEROVER -31   /* iteration finished */
#define PS_EFEED -40      /* the feed is unusable (malformed, truncated, ...) */
#define PS_ENOMEM -41     /* allocation failed or a size cap was hit */

/* Caps: hostile or broken input fails cleanly at these. */
#define PS_FEED_MAX_FIELD (1024 * 1024)     /* one field / element text */
#define PS_FEED_MAX_ITEM (4 * 1024 * 1024)  /* all text of one item */
#define PS_FEED_MAX_COLUMNS 1024            /* CSV header columns */
#define PS_FEED_MAX_PROBLEMS 8              /* problems kept per item */

typedef enum ps_feed_format {
	PS_FORMAT_AUTO = 0,
	PS_FORMAT_XML, /* RSS 2.0 <item> or Atom 1.0 <entry> */
	PS_FORMAT_CSV, /* delimiter sniffed from the header: , ; | or tab */
	PS_FORMAT_TSV
} ps_feed_format;

/* Parses "auto", "xml", "csv", "tsv". Returns 0, or -1 when unknown. */
int ps_feed_format_parse(ps_feed_format *out, const char *name);
const char *ps_feed_format_name(ps_feed_format format);

typedef struct ps_feed_options {
	ps_feed_format format;
	/* Currency appended to a price that has none ("250.00" -> "250.00 EUR");
	 * NULL leaves such a price invalid. */
	const char *default_currency;
	/* Bytes read from the source per parser push. */
	size_t chunk_size;
} ps_feed_options;

#define PS_FEED_OPTIONS_INIT {PS_FORMAT_AUTO, NULL, 256 * 1024}

/* A borrowed slice: ptr is not NUL-terminated unless said so. */
typedef struct ps_slice {
	const char *ptr;
	size_t len;
} ps_slice;

/* One reason an item cannot be sent as it is. */
typedef struct ps_problem {
	int attr;            /* ps_attr, or -1 for the item as a whole */
	const char *code;    /* stable kind: "missing", "too_long", "bad_enum",
	                        "bad_price", "bad_url", "bad_utf8", "duplicate" ... */
	char message[160];   /* human text, e.g. "price \"abc\" is not a price" */
} ps_problem;

typedef struct ps_item {
	/* values[a].ptr == NULL: attribute absent. Values are normalised UTF-8,
	 * NUL-terminated, owned by the feed. LIST values are joined with
	 * PS_LIST_SEP. */
	ps_slice values[PS_ATTR__COUNT];

	/* Where the item came from: 1-based line of the record's first line
	 * (CSV/TSV) or 1-based item index (XML, with the line where it starts). */
	uint64_t line;
	uint64_t index;

	/* XXH3-64 over the canonical attributes (table order, name and value);
	 * equal hashes mean equal items as Pinterest would see them. */
	uint64_t hash;

	int nproblems; /* 0: valid, may be sent */
	ps_problem problems[PS_FEED_MAX_PROBLEMS];

	/* Room for values rewritten by ps_item_normalise(); provided by the
	 * owner of the item. */
	char *scratch;
	size_t scratch_cap;
	size_t scratch_len;
} ps_item;

typedef struct ps_feed ps_feed;

/*
 * Opens source ("-" = stdin, else a path) and prepares to parse it.
 * Returns 0 and a feed to free with ps_feed_free(), or PS_EFEED (unreadable
 * or empty source) or PS_ERROR (invalid options) with the reason in
 * ps_feed_error() of the returned (still allocated) feed, or PS_ENOMEM.
 * *out is set in every case except PS_ENOMEM. A threaded program calls
 * libxml2's xmlInitParser() once before opening feeds in several threads.
 */
int ps_feed_open(ps_feed **out, const char *source, const ps_feed_options *opts);

/*
 * Returns the next item: 0 with *out set, PS_ITEROVER after the last item
 * of a feed read to its very end, or PS_EFEED when the feed is broken (cut,
 * malformed, over a cap): then ps_feed_error() names the place. After
 * PS_EFEED the items already returned are still good, but the feed as a
 * whole is not: a caller must not conclude that absent items were removed.
 */
int ps_feed_next(ps_item **out, ps_feed *feed);

/* The last fatal error, e.g. "feed.xml:12:7: ...", or "" if none. */
const char *ps_feed_error(const ps_feed *feed);

/* Warnings seen so far that do not stop the feed (undeclared g: prefix, ...)
 * one per line; "" if none. */
const char *ps_feed_warnings(const ps_feed *feed);

/* The format actually used (after detection). */
ps_feed_format ps_feed_detected_format(const ps_feed *feed);

/* Bytes read from the source so far (compressed bytes for gzip). */
uint64_t ps_feed_bytes_read(const ps_feed *feed);

void ps_feed_free(ps_feed *feed);

/*
 * Normalises and validates one raw item in place: maps availability
 * spellings, adds the default currency, checks required attributes, limits,
 * URLs and UTF-8, then computes item->hash. Used by the parsers; exposed for
 * tests and fuzzing. Rewritten values are placed in item->scratch, a
 * buffer of item->scratch_cap bytes that the caller provides (the feed does
 * so for its items); values that do not fit are reported as a problem.
 */
void ps_item_normalise(ps_item *item, const ps_feed_options *opts);

/* Hash of the canonical attributes of item (what item->hash holds). */
uint64_t ps_item_hash(const ps_item *item);

#endif /* PS_FEEDS_H */
