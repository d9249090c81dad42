/*
 * test_feeds_pipeline.c: the parser thread of feeds/ (pipeline.c, issue 5)
 * through the public API only.
 *
 * What it must keep: items in feed order, one at a time, the same as when
 * the caller's thread parses (opts.single_thread); a fatal error after
 * every item parsed before it, with the same message; ps_feed_free() in the
 * middle of a feed stops and joins the thread without a leak or a hang,
 * whatever the parser waits on (a free slot, a regular file, the gzip
 * inflater thread, a pipe, stdin, a FIFO, a slow URL). A hang fails the
 * test through alarm(): SIGALRM ends the program.
 *
 * On whole feeds too: every specimen of tests/fixtures/feeds/specimens/
 * (always) and every real feed of shared/feeds/real/ (when that folder is
 * there; else skipped, saying so) must give the same items either way.
 *
 * Run it under ThreadSanitizer too (see the README): every test here has
 * both threads touching the feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "feeds_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "feeds.h"

/* Seconds a test may take before SIGALRM ends the program (a hang). */
#define HANG_LIMIT 60

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* A growable string. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
}

/* Row i of the test feeds: every 7th item has no price (invalid), so
 * problems must come out on the right items too. */
static void
csv_rows(sbuf *b, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++) {
		sb_printf(b,
		          "I%06zu,Item %zu,\"A thing, number %zu\",https://s.test/p/%zu,"
		          "https://s.test/i/%zu.jpg,",
		          i, i, i, i, i);
		if (i % 7 != 3)
			sb_printf(b, "%zu.%02zu USD", i % 500, i % 100);
		sb_printf(b, ",in stock\n");
	}
}

static const char csv_header[] = "id,title,description,link,image_link,price,availability\n";

static char *
make_csv(size_t n)
{
	sbuf b = {0};

	sb_printf(&b, "%s", csv_header);
	csv_rows(&b, 0, n);
	return b.p;
}

static void
xml_items(sbuf *b, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++) {
		sb_printf(b,
		          "<item>\n<g:id>I%06zu</g:id>\n<title>Item %zu</title>\n"
		          "<description>A thing &amp; number %zu</description>\n"
		          "<link>https://s.test/p/%zu</link>\n"
		          "<g:image_link>https://s.test/i/%zu.jpg</g:image_link>\n",
		          i, i, i, i, i);
		if (i % 7 != 3)
			sb_printf(b, "<g:price>%zu.%02zu USD</g:price>\n", i % 500, i % 100);
		sb_printf(b, "<g:availability>in stock</g:availability>\n</item>\n");
	}
}

static const char xml_head[] = "<?xml version=\"1.0\"?>\n"
                               "<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\">\n"
                               "<channel>\n";

/* xml_head and items [0, n) into b; returns the line after them (3 lines
 * of head, 9 lines an item, one less for each item without a price). */
static size_t
xml_start(sbuf *b, size_t n)
{
	sb_printf(b, "%s", xml_head);
	xml_items(b, 0, n);
	return 4 + 9 * n - (n + 3) / 7;
}

static char *
make_xml(size_t n)
{
	sbuf b = {0};

	sb_printf(&b, "%s", xml_head);
	xml_items(&b, 0, n);
	sb_printf(&b, "</channel>\n</rss>\n");
	return b.p;
}

/* What a feed gave, item by item (no values: the hash covers them). */
typedef struct digest_item {
	char id[32];
	uint64_t line, index, hash;
	int nproblems;
	char codes[64];
} digest_item;

typedef struct digest {
	int open_rc;
	int rc;
	size_t n, cap;
	digest_item *it;
	char error[512];
	char warnings[2048];
	uint64_t bytes_read, skipped;
} digest;

/*
 * Reads a whole feed. slow: the caller's side is made the slower one (a
 * pause every 32 items), so that the parser thread finds the ring full and
 * normalises batches itself: those items must not differ either.
 */
static digest *
read_digest(const char *path, ps_feed_options opts, int slow)
{
	digest *d = calloc(1, sizeof(*d));
	ps_feed *f = NULL;
	ps_item *it;

	assert_non_null(d);
	d->open_rc = ps_feed_open(&f, path, &opts);
	assert_non_null(f);
	d->rc = d->open_rc;
	if (d->open_rc == 0) {
		while ((d->rc = ps_feed_next(&it, f)) == 0) {
			const ps_slice *id = &it->values[PS_ATTR_ID];
			size_t k = 0;
			int p;

			if (d->n == d->cap) {
				d->cap = d->cap ? d->cap * 2 : 1024;
				d->it = realloc(d->it, d->cap * sizeof(*d->it));
				assert_non_null(d->it);
			}
			memset(&d->it[d->n], 0, sizeof(d->it[d->n]));
			snprintf(d->it[d->n].id, sizeof(d->it[d->n].id), "%.*s",
			         id->ptr ? (int)id->len : 0, id->ptr ? id->ptr : "");
			d->it[d->n].line = it->line;
			d->it[d->n].index = it->index;
			d->it[d->n].hash = it->hash;
			d->it[d->n].nproblems = it->nproblems;
			assert_int_equal(it->hash, ps_item_hash(it));
			if (slow && d->n % 32 == 0)
				usleep(500);
			for (p = 0; p < it->nproblems; p++) {
				int w =
				    snprintf(d->it[d->n].codes + k, sizeof(d->it[d->n].codes) - k,
				             "%s ", it->problems[p].code);

				if (w > 0 && (size_t)w < sizeof(d->it[d->n].codes) - k)
					k += (size_t)w;
			}
			d->n++;
		}
	}
	snprintf(d->error, sizeof(d->error), "%s", ps_feed_error(f));
	snprintf(d->warnings, sizeof(d->warnings), "%s", ps_feed_warnings(f));
	d->bytes_read = ps_feed_bytes_read(f);
	d->skipped = ps_feed_skipped(f);
	ps_feed_free(f);
	return d;
}

static void
digest_free(digest *d)
{
	free(d->it);
	free(d);
}

/* bytes_read is compared when both read to the end or both read in
 * chunks of the same size: a read stops at the chunk holding an error. */
static void
assert_same_digest(const digest *a, const digest *b, int same_chunks)
{
	size_t i;

	assert_int_equal(a->open_rc, b->open_rc);
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->n, b->n);
	assert_string_equal(a->error, b->error);
	assert_string_equal(a->warnings, b->warnings);
	if (same_chunks || a->rc == PS_ITEROVER)
		assert_int_equal(a->bytes_read, b->bytes_read);
	assert_int_equal(a->skipped, b->skipped);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->it[i].id, b->it[i].id);
		assert_int_equal(a->it[i].line, b->it[i].line);
		assert_int_equal(a->it[i].index, b->it[i].index);
		assert_int_equal(a->it[i].hash, b->it[i].hash);
		assert_int_equal(a->it[i].nproblems, b->it[i].nproblems);
		assert_string_equal(a->it[i].codes, b->it[i].codes);
	}
}

/* Reads path on the parser thread and in the caller's thread, with a few
 * chunk sizes; asserts they all agree; returns the threaded default. */
static digest *read_both_chunks(const char *path, ps_feed_options opts, int across_chunks);

static digest *
read_both(const char *path, ps_feed_options opts)
{
	return read_both_chunks(path, opts, 1);
}

/* across_chunks 0: threaded and single-threaded must agree at each chunk
 * size, but the items before a source error (the gzip cap) may differ from
 * one chunk size to the next. */
static digest *
read_both_chunks(const char *path, ps_feed_options opts, int across_chunks)
{
	static const size_t chunks[] = {0, 4093, 100};
	digest *first = NULL;
	size_t c;

	for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		digest *threaded, *single;

		opts.chunk_size = chunks[c];
		opts.single_thread = 0;
		threaded = read_digest(path, opts, 0);
		opts.single_thread = 1;
		single = read_digest(path, opts, 0);
		assert_same_digest(threaded, single, 1);
		digest_free(single);
		if (c == 0) {
			opts.single_thread = 0;
			single = read_digest(path, opts, 1); /* not single: slow */
			assert_same_digest(threaded, single, 1);
			digest_free(single);
		}
		if (first == NULL) {
			first = threaded;
			continue;
		}
		if (across_chunks)
			assert_same_digest(first, threaded, 0);
		else
			assert_string_equal(first->error, threaded->error);
		digest_free(threaded);
	}
	return first;
}

/* Items [0, n) of make_csv() / make_xml(), in order. */
static void
assert_items_in_order(const digest *d, size_t n, int csv)
{
	size_t i;

	assert_int_equal(d->n, n);
	for (i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "I%06zu", i);
		assert_string_equal(d->it[i].id, id);
		assert_int_equal(d->it[i].index, i + 1);
		/* CSV: the header is line 1; XML: 9 lines per item with a
		 * price, after 3 lines of head. */
		if (csv)
			assert_int_equal(d->it[i].line, i + 2);
		else
			assert_int_equal(d->it[i].line, 4 + 9 * i - (i + 3) / 7);
		assert_int_equal(d->it[i].nproblems, i % 7 == 3 ? 1 : 0);
	}
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Takes n items (ids in order) from an open feed. */
static void
take_items(ps_feed *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ps_item *it = NULL;
		char id[32];

		assert_int_equal(ps_feed_next(&it, f), 0);
		snprintf(id, sizeof(id), "I%06zu", i);
		assert_int_equal(it->values[PS_ATTR_ID].len, strlen(id));
		assert_memory_equal(it->values[PS_ATTR_ID].ptr, id, strlen(id));
	}
}

/* Gzip of data, flushed but not finished when finish is 0 (a stream cut
 * where a slow writer paused). */
static unsigned char *
gzip_of(const char *data, size_t len, int finish, size_t *out_len)
{
	size_t cap = compressBound((uLong)len) + 128;
	unsigned char *gz = malloc(cap);
	z_stream z;

	assert_non_null(gz);
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = gz;
	z.avail_out = (uInt)cap;
	assert_true(deflate(&z, finish ? Z_FINISH : Z_SYNC_FLUSH) >= 0);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return gz;
}

static void
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		assert_true(w > 0);
		c += w;
		n -= (size_t)w;
	}
}

/* ------------------------------------------------------------------ */
/* Order                                                               */

static void
test_order_many_csv_items(void **state)
{
	const size_t n = 30000;
	char *csv = make_csv(n);
	char *path = ps_test_write_tmp(csv, strlen(csv));
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	digest *d;

	(void)state;
	alarm(HANG_LIMIT);
	d = read_both(path, o);
	assert_int_equal(d->rc, PS_ITEROVER);
	assert_string_equal(d->error, "");
	assert_items_in_order(d, n, 1);
	assert_int_equal(d->bytes_read, strlen(csv));
	digest_free(d);
	alarm(0);
	unlink(path);
	free(path);
	free(csv);
}

static void
test_order_many_xml_items(void **state)
{
	const size_t n = 12000;
	char *xml = make_xml(n);
	char *path = ps_test_write_tmp(xml, strlen(xml));
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	digest *d;

	(void)state;
	alarm(HANG_LIMIT);
	d = read_both(path, o);
	assert_int_equal(d->rc, PS_ITEROVER);
	assert_string_equal(d->error, "");
	assert_items_in_order(d, n, 0);
	digest_free(d);
	alarm(0);
	unlink(path);
	free(path);
	free(xml);
}

/* Tiny rows: a piece of 16 KiB completes thousands of items, which must
 * go over in several batches, in order. */
static void
test_order_tiny_rows(void **state)
{
	const size_t n = 100000;
	sbuf b = {0};
	char *path;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	digest *d;
	size_t i;

	(void)state;
	alarm(HANG_LIMIT);
	sb_printf(&b, "id\n");
	for (i = 0; i < n; i++)
		sb_printf(&b, "%zx\n", i);
	path = ps_test_write_tmp(b.p, b.len);
	d = read_both(path, o);
	assert_int_equal(d->rc, PS_ITEROVER);
	assert_int_equal(d->n, n);
	for (i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "%zx", i);
		assert_string_equal(d->it[i].id, id);
		assert_int_equal(d->it[i].index, i + 1);
		assert_int_equal(d->it[i].line, i + 2);
	}
	digest_free(d);
	alarm(0);
	unlink(path);
	free(path);
	free(b.p);
}

/* ------------------------------------------------------------------ */
/* Errors after N items                                                */

static void
test_csv_error_after_items(void **state)
{
	const size_t n = 5000;
	sbuf b = {0};
	char *path, want[600];
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	digest *d;
	size_t i;

	(void)state;
	alarm(HANG_LIMIT);
	sb_printf(&b, "%s", csv_header);
	csv_rows(&b, 0, n);
	sb_printf(&b, "I%06zu,\"never closed\n", n);
	for (i = 0; i < 2000; i++) /* inside the open quote */
		sb_printf(&b, "more text, line %zu\n", i);
	path = ps_test_write_tmp(b.p, b.len);

	d = read_both(path, o);
	assert_int_equal(d->rc, PS_EFEED);
	assert_items_in_order(d, n, 1);
	snprintf(want, sizeof(want), "%s:%zu: unterminated quoted field", path, n + 2);
	assert_string_equal(d->error, want);
	digest_free(d);

	/* The error is shown once the items before it are out, not before. */
	{
		ps_feed *f = NULL;
		ps_item *it;
		int rc;

		assert_int_equal(ps_feed_open(&f, path, &o), 0);
		take_items(f, n);
		assert_string_equal(ps_feed_error(f), "");
		rc = ps_feed_next(&it, f);
		assert_int_equal(rc, PS_EFEED);
		assert_null(it);
		assert_string_equal(ps_feed_error(f), want);
		/* and for good */
		assert_int_equal(ps_feed_next(&it, f), PS_EFEED);
		ps_feed_free(f);
	}
	alarm(0);
	unlink(path);
	free(path);
	free(b.p);
}

static void
test_xml_error_after_items(void **state)
{
	const size_t n = 3000;
	sbuf b = {0};
	char *path, want[600];
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	digest *d;
	size_t line;

	(void)state;
	alarm(HANG_LIMIT);
	line = xml_start(&b, n);
	sb_printf(&b, "<item>\n<g:id>bad</g:id>\n<title>x</titel>\n</item>\n");
	xml_items(&b, n + 1, n + 20);
	sb_printf(&b, "</channel>\n</rss>\n");
	path = ps_test_write_tmp(b.p, b.len);

	d = read_both(path, o);
	assert_int_equal(d->rc, PS_EFEED);
	assert_items_in_order(d, n, 0);
	/* file:LINE:COL: the line of </titel> */
	snprintf(want, sizeof(want), "%s:%zu:", path, line + 2);
	assert_true(strncmp(d->error, want, strlen(want)) == 0);
	assert_non_null(strstr(d->error, "not well-formed"));
	digest_free(d);
	alarm(0);
	unlink(path);
	free(path);
	free(b.p);
}

/*
 * The hardening scanner's refusal far into a regular XML file, several of
 * the reading thread's 256 KiB slots in: a regular file is scanned on that
 * thread (source.c, ps_feed__source_prescan()), a gzip file on the parser
 * thread. Both give every item before the refused tag, in order, and the
 * same message at the same place.
 */
static void
test_xml_refused_after_items(void **state)
{
	const size_t n = 4000;
	sbuf b = {0};
	char *path, *gzpath, want[64];
	const char *msg, *gzmsg;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	unsigned char *gz;
	size_t glen, line;
	digest *d, *g;
	int k;

	(void)state;
	alarm(HANG_LIMIT);
	line = xml_start(&b, n);
	sb_printf(&b, "<item>\n<g:id>wide</g:id>\n<g:x");
	for (k = 0; k <= PS_FEED_MAX_ATTRIBUTES; k++)
		sb_printf(&b, " a%d=\"%d\"", k, k);
	sb_printf(&b, "/>\n</item>\n");
	xml_items(&b, n + 1, n + 20);
	sb_printf(&b, "</channel>\n</rss>\n");
	assert_true(b.len > 3 * 256 * 1024); /* past the first slots */
	path = ps_test_write_tmp(b.p, b.len);
	gz = gzip_of(b.p, b.len, 1, &glen);
	gzpath = ps_test_write_tmp(gz, glen);

	d = read_both(path, o);
	g = read_both(gzpath, o);
	assert_int_equal(d->rc, PS_EFEED);
	assert_items_in_order(d, n, 0);
	assert_int_equal(g->rc, PS_EFEED);
	assert_items_in_order(g, n, 0);
	/* path:LINE:COL: more than ... (<g:x>), the line of the wide tag */
	snprintf(want, sizeof(want), ":%zu:", line + 2);
	msg = d->error + strlen(path);
	gzmsg = g->error + strlen(gzpath);
	assert_true(strncmp(msg, want, strlen(want)) == 0);
	assert_non_null(strstr(msg, "more than 64 attributes on one element (<g:x>)"));
	assert_string_equal(msg, gzmsg);
	digest_free(d);
	digest_free(g);
	alarm(0);
	unlink(path);
	unlink(gzpath);
	free(path);
	free(gzpath);
	free(gz);
	free(b.p);
}

/*
 * libxml2 stops at a malformed tag near the start of a big regular file
 * while the thread that reads ahead is still scanning the next slots into
 * the parser's state: ps_feed_free() right after the error must join that
 * thread before it frees the state (found by fuzz_xml; ASan sees it).
 */
static void
test_xml_error_then_free_while_reading_ahead(void **state)
{
	sbuf b = {0};
	char *path;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	ps_feed *f = NULL;
	ps_item *it;
	const size_t slot = 256 * 1024; /* source.c's BG_SLOT_BYTES, the default chunk */
	int round, rc;

	(void)state;
	alarm(HANG_LIMIT);
	/* The error at the start of the reader's second slot: the reads of
	 * the default size take a slot each, and each slot taken sets the
	 * reader scanning the next one, right when the parser fails. */
	sb_printf(&b, "%s", xml_head);
	xml_items(&b, 0, 10);
	while (b.len < 2 * slot - 64)
		xml_items(&b, 10, 11);
	while (b.len < 2 * slot)
		sb_printf(&b, "\n");
	sb_printf(&b, "<item>\n<g:id>bad</g:id>\n<title>x</titel>\n</item>\n");
	xml_items(&b, 11, 40000); /* megabytes the reader is still busy with */
	sb_printf(&b, "</channel>\n</rss>\n");
	path = ps_test_write_tmp(b.p, b.len);
	for (round = 0; round < 40; round++) {
		o.single_thread = round % 2;
		assert_int_equal(ps_feed_open(&f, path, &o), 0);
		while ((rc = ps_feed_next(&it, f)) == 0)
			;
		assert_int_equal(rc, PS_EFEED);
		ps_feed_free(f);
	}
	alarm(0);
	unlink(path);
	free(path);
	free(b.p);
}

/* A cut XML document: every item before the cut, then the error. */
static void
test_xml_cut_after_items(void **state)
{
	const size_t n = 2000;
	sbuf b = {0};
	char *path;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	digest *d;

	(void)state;
	alarm(HANG_LIMIT);
	sb_printf(&b, "%s", xml_head);
	xml_items(&b, 0, n);
	sb_printf(&b, "<item>\n<g:id>half</g:id>\n<title>Half an it");
	path = ps_test_write_tmp(b.p, b.len);
	d = read_both(path, o);
	assert_int_equal(d->rc, PS_EFEED);
	assert_items_in_order(d, n, 0);
	assert_non_null(strstr(d->error, "document ends before its end (truncated?)"));
	digest_free(d);
	alarm(0);
	unlink(path);
	free(path);
	free(b.p);
}

/* Every specimen (tests/fixtures/feeds/specimens/INDEX.md), with the
 * options of its row, threaded and not, must agree, and give its row's
 * counts. */
static void
test_specimens_agree(void **state)
{
	ps_test_entry idx[64];
	int n = ps_test_specimens(idx, 64), i;

	(void)state;
	alarm(HANG_LIMIT * 2);
	for (i = 0; i < n; i++) {
		char path[4200];
		ps_feed_options o = PS_FEED_OPTIONS_INIT;
		int source_error = strcmp(idx[i].result, "EFEED") == 0;
		digest *d;

		snprintf(path, sizeof(path), "%s/%s", PS_TEST_SPECIMENS, idx[i].name);
		ps_test_entry_options(&idx[i], &o);
		d = read_both_chunks(path, o, !source_error);
		if (d->n != (size_t)idx[i].items || d->skipped != (uint64_t)idx[i].skipped)
			fail_msg("%s: %zu items, %llu skipped; the index says %ld, %ld",
			         idx[i].name, d->n, (unsigned long long)d->skipped, idx[i].items,
			         idx[i].skipped);
		assert_int_equal(d->rc, strcmp(idx[i].result, "ok") == 0 ? PS_ITEROVER : PS_EFEED);
		digest_free(d);
	}
	alarm(0);
}

/* The real feeds (when the shared folder is there), threaded and not,
 * must agree. */
static void
test_real_feeds_agree(void **state)
{
	char dir[4096];
	DIR *dp;
	struct dirent *de;
	int seen = 0;

	(void)state;
	ps_test_need_real(dir, sizeof(dir));
	dp = opendir(dir);
	assert_non_null(dp);
	alarm(HANG_LIMIT * 4);
	while ((de = readdir(dp)) != NULL) {
		char path[8192];
		ps_feed_options o = PS_FEED_OPTIONS_INIT;
		size_t len = strlen(de->d_name);
		digest *d;

		if (len < 4 || (strcmp(de->d_name + len - 4, ".xml") != 0 &&
		                strcmp(de->d_name + len - 4, ".csv") != 0 &&
		                strcmp(de->d_name + len - 4, ".tsv") != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		o.default_currency = "EUR";
		if (strstr(de->d_name, "magento2") != NULL)
			o.preset = "magento2";
		d = read_both(path, o);
		digest_free(d);
		seen++;
	}
	closedir(dp);
	alarm(0);
	assert_true(seen > 0);
}

/* ------------------------------------------------------------------ */
/* Freeing mid-feed                                                    */

static void
free_mid_file(const char *path, size_t take, int pause)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	ps_feed *f = NULL;

	assert_int_equal(ps_feed_open(&f, path, &o), 0);
	take_items(f, take);
	if (pause)
		usleep(50 * 1000); /* the parser fills the ring and waits */
	ps_feed_free(f);
}

static void
test_free_mid_regular_file(void **state)
{
	char *csv = make_csv(40000);
	char *xml = make_xml(20000);
	char *cpath = ps_test_write_tmp(csv, strlen(csv));
	char *xpath = ps_test_write_tmp(xml, strlen(xml));

	(void)state;
	alarm(HANG_LIMIT);
	free_mid_file(cpath, 0, 0); /* never read: the thread still runs */
	free_mid_file(cpath, 0, 1);
	free_mid_file(cpath, 10, 0);
	free_mid_file(cpath, 1000, 1);
	free_mid_file(xpath, 0, 1);
	free_mid_file(xpath, 3, 0);
	free_mid_file(xpath, 700, 1);
	alarm(0);
	unlink(cpath);
	unlink(xpath);
	free(cpath);
	free(xpath);
	free(csv);
	free(xml);
}

/* Gzip regular file: the inflater thread and the parser thread. */
static void
test_free_mid_gzip_file(void **state)
{
	char *csv = make_csv(40000);
	size_t glen;
	unsigned char *gz = gzip_of(csv, strlen(csv), 1, &glen);
	char *path = ps_test_write_tmp(gz, glen);

	(void)state;
	alarm(HANG_LIMIT);
	free_mid_file(path, 0, 0);
	free_mid_file(path, 5, 1);
	free_mid_file(path, 20000, 0);
	alarm(0);
	unlink(path);
	free(path);
	free(gz);
	free(csv);
}

/* A FIFO whose writer stalls (open, silent): the items written so far come
 * out, then ps_feed_free() stops the parser blocked in read(). */
static void
test_free_mid_fifo(void **state)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[4096];
	char *csv = make_csv(300);
	ps_feed *f = NULL;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	double t0;
	int wfd;

	(void)state;
	alarm(HANG_LIMIT);
	snprintf(path, sizeof(path), "%s/ps_fifo_%d", dir, (int)getpid());
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	wfd = open(path, O_RDWR); /* Linux: never blocks, and keeps a writer */
	assert_true(wfd >= 0);
	write_all(wfd, csv, strlen(csv));
	assert_int_equal(ps_feed_open(&f, path, &o), 0);
	/* All 300 while the source stalls: none is kept back. */
	take_items(f, 300);
	t0 = now_s();
	ps_feed_free(f);
	assert_true(now_s() - t0 < 5.0);
	close(wfd);
	unlink(path);
	free(csv);
	alarm(0);
}

/* Stdin a pipe carrying gzip (inflated on the parser thread), the writer
 * stalled mid-stream. */
static void
test_free_mid_stdin_gzip(void **state)
{
	char *csv = make_csv(500);
	size_t glen;
	unsigned char *gz = gzip_of(csv, strlen(csv), 0, &glen);
	ps_feed *f = NULL;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	int fds[2], saved;
	double t0;

	(void)state;
	alarm(HANG_LIMIT);
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[0], STDIN_FILENO) >= 0);
	close(fds[0]);
	/* The pipe holds 64 KiB; the sync-flushed gzip of 500 rows less. */
	assert_true(glen < 60000);
	write_all(fds[1], gz, glen);
	assert_int_equal(ps_feed_open(&f, "-", &o), 0);
	take_items(f, 500);
	t0 = now_s();
	ps_feed_free(f);
	assert_true(now_s() - t0 < 5.0);
	close(fds[1]);
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
	free(gz);
	free(csv);
	alarm(0);
}

/* A URL whose server sends the headers and some rows, then nothing (its
 * Content-Length promises much more). Without the wake-up the parser
 * would sit in libcurl until the 120 s stall timeout. */
typedef struct slow_server {
	int lfd;
	int quit[2]; /* the test writes a byte: close and end */
	const char *body;
} slow_server;

static void *
slow_server_main(void *arg)
{
	slow_server *s = arg;
	char req[4096], head[256], c;
	int cfd = accept(s->lfd, NULL, NULL);
	ssize_t r;

	if (cfd < 0)
		return NULL;
	r = read(cfd, req, sizeof(req)); /* the request: one read is enough here */
	(void)r;
	snprintf(head, sizeof(head),
	         "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n",
	         100 * 1000 * 1000);
	if (write(cfd, head, strlen(head)) < 0 || write(cfd, s->body, strlen(s->body)) < 0) {
		close(cfd);
		return NULL;
	}
	r = read(s->quit[0], &c, 1); /* stall until the test is done */
	(void)r;
	close(cfd);
	return NULL;
}

static void
test_free_mid_slow_url(void **state)
{
	char *csv = make_csv(200);
	slow_server s;
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	pthread_t th;
	char url[128];
	ps_feed *f = NULL;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	double t0;
	char c = 1;

	(void)state;
	alarm(HANG_LIMIT);
	s.body = csv;
	assert_int_equal(pipe(s.quit), 0);
	s.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s.lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s.lfd, 1), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&sa, &slen), 0);
	assert_int_equal(pthread_create(&th, NULL, slow_server_main, &s), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/feed.csv", (int)ntohs(sa.sin_port));

	assert_int_equal(ps_feed_open(&f, url, &o), 0);
	take_items(f, 200);
	t0 = now_s();
	ps_feed_free(f);
	assert_true(now_s() - t0 < 5.0);

	write_all(s.quit[1], &c, 1);
	pthread_join(th, NULL);
	close(s.lfd);
	close(s.quit[0]);
	close(s.quit[1]);
	free(csv);
	alarm(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_many_csv_items),
	    cmocka_unit_test(test_order_many_xml_items),
	    cmocka_unit_test(test_order_tiny_rows),
	    cmocka_unit_test(test_csv_error_after_items),
	    cmocka_unit_test(test_xml_error_after_items),
	    cmocka_unit_test(test_xml_refused_after_items),
	    cmocka_unit_test(test_xml_error_then_free_while_reading_ahead),
	    cmocka_unit_test(test_xml_cut_after_items),
	    cmocka_unit_test(test_specimens_agree),
	    cmocka_unit_test(test_real_feeds_agree),
	    cmocka_unit_test(test_free_mid_regular_file),
	    cmocka_unit_test(test_free_mid_gzip_file),
	    cmocka_unit_test(test_free_mid_fifo),
	    cmocka_unit_test(test_free_mid_stdin_gzip),
	    cmocka_unit_test(test_free_mid_slow_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
