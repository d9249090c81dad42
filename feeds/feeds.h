/*
 * feeds: product feeds in, normalised Pinterest items out.
 *
 * A ps_feed reads one source (a path, "-" for stdin, a file:// URL, or an
 * http(s):// URL streamed through libcurl as it downloads; gzip is detected
 * by its magic bytes whatever the source), detects its format from the
 * content unless told (RSS 2.0 or Atom XML with the Google "g:" namespace,
 * CSV or TSV with a header row), streams it through a push parser (libxml2
 * SAX2, or the CSV state machine in csv.c), maps source names to Pinterest
 * attributes (built-in names of Pinterest, Google Merchant and Meta feeds,
 * a per-target mapping file, a store-export preset) and hands out one
 * ps_item at a time, normalised, validated and hashed.
 *
 * Memory is bounded by the read chunk and the size caps below, never by the
 * size of the feed. Parsing runs on a thread of the feed's own (see
 * ps_feed_next()). Nothing in this module touches the database or the
 * Pinterest API; it never includes db/ or sync/.
 *
 * Ownership: a ps_item returned by ps_feed_next() belongs to the feed and
 * stays valid until the next ps_feed_next() or ps_feed_free(). Copy what you
 * keep. Strings returned by ps_feed_error(), ps_feed_warnings() and
 * ps_feed_validators() belong to the feed too. The options are copied by
 * ps_feed_open() except the strings they point to, which must outlive
 * ps_feed_open() only (the feed copies what it keeps).
 *
 * URL sources (http://, https://):
 *   - streamed: libcurl's write callback feeds the parser through a small
 *     buffer (the transfer is paused while the parser catches up), so a
 *     feed is never written to disk nor held whole in memory;
 *   - TLS peers are always verified (opts.ca_file may name extra CAs);
 *     at most opts.max_redirects redirects, to http(s) only; credentials
 *     are never sent to another host after a redirect;
 *   - basic auth: "https://user:pass@host/feed.xml", or the user in the URL
 *     ("https://user@host/...") and the password in the file named by
 *     opts.password_file (first line, trailing newline and blanks dropped).
 *     The sync settings map PINSYNC_FEED_PASSWORD_FILE to that option. A
 *     password never appears in an error message, a warning or
 *     ps_feed_error(): URLs are shown with it replaced by "***";
 *   - conditional GET: opts.etag / opts.last_modified (the validators the
 *     caller stored after the previous successful run) are sent as
 *     If-None-Match / If-Modified-Since. A 304 answer makes ps_feed_open()
 *     return PS_FEED_UNCHANGED (and ps_feed_next() too, if called): nothing
 *     is parsed. The validators of the answer are read with
 *     ps_feed_validators(); store them only after the run succeeded;
 *   - any other status than 2xx is a PS_EFEED naming the status; a body
 *     shorter than its Content-Length, a connection cut mid-body or a
 *     stall past opts.stall_timeout_s is a fatal PS_EFEED, never an end.
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
/* The URL source answered 304 Not Modified to a conditional GET: the feed
 * has not changed since the validators given in the options. Not an error:
 * the caller records "unchanged at source" and parses nothing. */
#define PS_FEED_UNCHANGED -42

/* Caps: hostile or broken input fails cleanly at these. */
#define PS_FEED_MAX_FIELD (1024 * 1024)     /* one field / element text */
#define PS_FEED_MAX_ITEM (4 * 1024 * 1024)  /* all text of one item */
#define PS_FEED_MAX_COLUMNS 1024            /* CSV header columns */
#define PS_FEED_MAX_PROBLEMS 8              /* problems kept per item */
/*
 * XML: elements open at once (the root is level 1). libxml2 2.9's push
 * parser keeps about 37 bytes per open level and applies its own limit
 * (256) only when it builds a tree, which the SAX handlers never do: a
 * 55 MB feed of 5,000,000 nested elements took 190 MB. Real feeds nest 3
 * to 6 levels (an RSS item's <g:shipping> parts are at 5), an XHTML
 * description a few more; 64 is far above both and far below 256, so the
 * refusal is always ours ("FILE:LINE:COL: elements nested deeper than 64"),
 * whatever the libxml2 version. Inside an item or outside, the same.
 */
#define PS_FEED_MAX_DEPTH 64
/*
 * XML: attributes and namespace declarations on one start tag. libxml2 2.9
 * checks them pairwise for duplicates before any SAX callback runs: 100,000
 * on one element took 2.5 s, 600,000 (6.5 MB) 145 s. So the bytes are
 * looked at before libxml2 parses them (xmlscan.c), and the feed is refused
 * at the '=' of the one past the limit: "FILE:LINE:COL: more than 64
 * attributes on one element (<name>)". Real feeds carry at most 3 (an Atom
 * <link href rel type>); a root declaring a dozen namespaces stays far
 * below. At 64 the pairwise check costs at most a few comparisons per byte.
 */
#define PS_FEED_MAX_ATTRIBUTES 64
/*
 * XML: the DOCTYPE declaration with its internal subset, and what it may
 * declare. libxml2 waits for the whole subset before parsing it and keeps
 * what it declares in memory (a 9.8 MB subset of 500,000 entities took
 * 202 MB and 12 s); an attribute default declared there is added to every
 * start tag of its element, outside the tag's bytes, and checked pairwise
 * with the others (64 defaults cost 0.5 s per MB of <a/> tags). Product
 * feeds have no DOCTYPE, or one naming a DTD that is never loaded, or a
 * few entities (the HTML set is 252 in 9 KB). The elements in an entity's
 * text are held to PS_FEED_MAX_ATTRIBUTES too.
 */
#define PS_FEED_MAX_DTD (64 * 1024)
#define PS_FEED_MAX_DTD_ATTRIBUTES 16 /* <!ATTLIST> attribute declarations */
/* Default cap on the bytes a gzip source inflates to (opts.max_inflated):
 * a gzip bomb stops here with a clear error. 16 GiB is about 8 million
 * items of a verbose RSS feed. */
#define PS_FEED_DEFAULT_MAX_INFLATED ((uint64_t)16 << 30)

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

	/* Fields below were appended; PS_FEED_OPTIONS_INIT leaves them 0/NULL,
	 * which means "default" for each. */

	/* Mapping file (see map.c and the README): lines
	 *   source_name = pinterest_attribute        rename a column / element
	 *   source_name = -                          ignore it
	 *   attribute = "constant"                   same value for every item
	 *   attribute = https://shop/p/{handle}      template over source names
	 * with # comments. A bad line fails ps_feed_open() with PS_ERROR and
	 * "FILE:LINE: reason". NULL: none. */
	const char *map_file;
	/* Store-export preset: "shopify", "woocommerce", "magento2" (see
	 * ps_feed_preset_names()), or NULL / "" / "none". Unknown: PS_ERROR. */
	const char *preset;
	/* http(s) URL of the shop: relative links and image paths ("/m/a.jpg")
	 * are resolved against it, and presets build product links from it.
	 * NULL: relative URLs stay invalid ("bad_url"). */
	const char *base_url;
	/* Cap on inflated gzip bytes; 0 = PS_FEED_DEFAULT_MAX_INFLATED. */
	uint64_t max_inflated;

	/* URL sources only (ignored for paths and stdin). */
	const char *etag;          /* previous ETag -> If-None-Match */
	const char *last_modified; /* previous Last-Modified -> If-Modified-Since */
	const char *password_file; /* basic-auth password, for the user in the URL */
	const char *ca_file;       /* extra CA bundle (PEM); verification stays on */
	long connect_timeout_ms;   /* 0 = 30000 */
	long stall_timeout_s;      /* abort under 1 byte/s for this long; 0 = 120 */
	long timeout_s;            /* whole download; 0 = no limit */
	long max_redirects;        /* 0 = 10; -1 = follow none */

	/* 1: parse in the caller's thread of ps_feed_next(), with no thread
	 * of the feed's own (see ps_feed_next()). The items are the same;
	 * for tests and fuzzing, or a program that wants one thread. */
	int single_thread;
} ps_feed_options;

/* Designated, so that the appended fields need no initialiser (and no
 * -Wmissing-field-initializers warning) in callers. */
#define PS_FEED_OPTIONS_INIT {.format = PS_FORMAT_AUTO, .default_currency = NULL, .chunk_size = 256 * 1024}

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
 * Opens source ("-" = stdin, "file:///path", "http(s)://...", else a path)
 * and prepares to parse it. Returns 0 and a feed to free with
 * ps_feed_free(), or PS_FEED_UNCHANGED (a URL answered 304; see above),
 * PS_EFEED (unreadable, empty or refused source) or PS_ERROR (invalid
 * options, bad mapping file) with the reason in ps_feed_error() of the
 * returned (still allocated) feed, or PS_ENOMEM.
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
 *
 * Threads: from ps_feed_open() on, the feed reads and parses its source on
 * a thread of its own, a few batches of items ahead (a bounded ring: memory
 * does not grow with the feed), while the thread calling ps_feed_next()
 * normalises, validates and hashes each item as it hands it out. Items
 * still come out one at a time, in feed order; an error comes after every
 * item parsed before it; warnings, ps_feed_bytes_read() and
 * ps_feed_skipped() show what the parser had done when it parsed the item
 * last returned, and ps_feed_error() is "" until ps_feed_next() returns the
 * error. Call the functions of one feed from one thread at a time, as
 * before; ps_feed_free() stops and joins the parser thread wherever it
 * waits (a slow URL, stdin, a pipe). The parser thread blocks all signals.
 * opts.single_thread parses in the caller's thread instead.
 */
int ps_feed_next(ps_item **out, ps_feed *feed);

/* The last fatal error, e.g. "feed.xml:12:7: ...", or "" if none. URLs in
 * it never show a password. */
const char *ps_feed_error(const ps_feed *feed);

/* Warnings seen so far that do not stop the feed (undeclared g: prefix, ...)
 * one per line; "" if none. */
const char *ps_feed_warnings(const ps_feed *feed);

/* The format actually used (after detection). */
ps_feed_format ps_feed_detected_format(const ps_feed *feed);

/* Bytes read from the source so far (compressed bytes for gzip). */
uint64_t ps_feed_bytes_read(const ps_feed *feed);

/*
 * The validators of a URL source's answer (200 or 304), for the next
 * conditional GET: *etag and *last_modified are set to strings owned by the
 * feed (valid until ps_feed_free()), or NULL when the server sent none or
 * the source is not a URL. Store them only once the run succeeded: a feed
 * that failed must be fetched again in full next time.
 */
void ps_feed_validators(const ps_feed *feed, const char **etag, const char **last_modified);

/* The source as messages name it: "stdin", the path, or the URL with its
 * password (if any) replaced by ***. Owned by the feed. */
const char *ps_feed_name(const ps_feed *feed);

/* The HTTP status of a URL source's final answer, or 0. */
long ps_feed_http_status(const ps_feed *feed);

/* Items the source held but that make no item by design (a preset's
 * image-only rows, a variable product's parent row, unpublished products),
 * so that a count of records can be explained. */
uint64_t ps_feed_skipped(const ps_feed *feed);

/* NULL-terminated list of the preset names ps_feed_open() accepts. */
const char *const *ps_feed_preset_names(void);

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
