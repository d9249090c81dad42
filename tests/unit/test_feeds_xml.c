/*
 * test_feeds_xml.c: the XML reader of feeds/ (xml.c over libxml2's SAX2
 * push parser) and the gzip source, through the public API; and the
 * scanner xml.c runs before libxml2 (xmlscan.c) through its internal entry
 * point, ps_feed__xscan(), to split its input at every place.
 *
 * Fixtures: tests/fixtures/feeds/rss-basic.xml and atom-basic.xml, found
 * through PINSYNC_SOURCE_DIR (the repository root, set by CMake). Every
 * feed is read with several chunk sizes, down to one byte, and must give
 * the same items each time.
 *
 * Build (repository root, after cmake --build build --target ps_feeds):
 * gcc -std=c11 -D_POSIX_C_SOURCE=200809L -DPINSYNC_SOURCE_DIR=\"$PWD\" -Ifeeds
 * tests/unit/test_feeds_xml.c build/feeds/libps_feeds.a $(pkg-config --cflags --libs cmocka
 * libxml-2.0 libxxhash zlib) -o test_feeds_xml
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
#include <zlib.h>

#include "feeds.h"
#include "feeds_int.h" /* ps_feed__xscan() */

#ifndef PINSYNC_SOURCE_DIR
#define PINSYNC_SOURCE_DIR "."
#endif
#define FIXTURES PINSYNC_SOURCE_DIR "/tests/fixtures/feeds/"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define MAX_ITEMS 32

typedef struct result {
	int open_rc;
	int rc;
	size_t n;
	char *val[MAX_ITEMS][PS_ATTR__COUNT];
	uint64_t line[MAX_ITEMS];
	uint64_t index[MAX_ITEMS];
	uint64_t hash[MAX_ITEMS];
	int nproblems[MAX_ITEMS];
	const char *codes[MAX_ITEMS][PS_FEED_MAX_PROBLEMS];
	char error[512];
	char warnings[1024];
	ps_feed_format format;
	uint64_t bytes_read;
} result;

static void
result_free(result *r)
{
	size_t i;
	int a;

	for (i = 0; i < r->n && i < MAX_ITEMS; i++)
		for (a = 0; a < PS_ATTR__COUNT; a++)
			free(r->val[i][a]);
	free(r);
}

static result *
read_path(const char *path, const ps_feed_options *opts)
{
	result *r = calloc(1, sizeof(*r));
	ps_feed *f = NULL;
	ps_item *it;
	int a, p;

	assert_non_null(r);
	r->open_rc = ps_feed_open(&f, path, opts);
	assert_non_null(f);
	r->rc = r->open_rc;
	if (r->open_rc == 0) {
		while ((r->rc = ps_feed_next(&it, f)) == 0) {
			size_t i = r->n++;

			if (i >= MAX_ITEMS)
				continue;
			for (a = 0; a < PS_ATTR__COUNT; a++) {
				if (it->values[a].ptr != NULL)
					r->val[i][a] = strdup(it->values[a].ptr);
			}
			r->line[i] = it->line;
			r->index[i] = it->index;
			r->hash[i] = it->hash;
			r->nproblems[i] = it->nproblems;
			for (p = 0; p < it->nproblems; p++)
				r->codes[i][p] = it->problems[p].code;
		}
	}
	snprintf(r->error, sizeof(r->error), "%s", ps_feed_error(f));
	snprintf(r->warnings, sizeof(r->warnings), "%s", ps_feed_warnings(f));
	r->format = ps_feed_detected_format(f);
	r->bytes_read = ps_feed_bytes_read(f);
	ps_feed_free(f);
	return r;
}

static const size_t chunk_sizes[] = {1, 3, 17, 256, 0 /* default */};
#define NCHUNKS (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))

static void
assert_same(const result *a, const result *b)
{
	size_t i;
	int k;

	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->n, b->n);
	assert_string_equal(a->error, b->error);
	assert_string_equal(a->warnings, b->warnings);
	for (i = 0; i < a->n && i < MAX_ITEMS; i++) {
		assert_int_equal(a->line[i], b->line[i]);
		assert_int_equal(a->hash[i], b->hash[i]);
		for (k = 0; k < PS_ATTR__COUNT; k++) {
			if (a->val[i][k] == NULL)
				assert_null(b->val[i][k]);
			else
				assert_string_equal(a->val[i][k], b->val[i][k]);
		}
	}
}

/* Reads path with every chunk size; returns the default-size result. */
static result *
read_all_chunks(const char *path)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	result *first = NULL;
	size_t c;

	for (c = 0; c < NCHUNKS; c++) {
		result *r;

		opts.chunk_size = chunk_sizes[c];
		r = read_path(path, &opts);
		if (first == NULL) {
			first = r;
			continue;
		}
		assert_same(first, r);
		if (c + 1 < NCHUNKS) {
			result_free(r);
		} else {
			result_free(first);
			first = r;
		}
	}
	return first;
}

static result *
read_data(const char *data)
{
	char *path = ps_test_write_tmp(data, strlen(data));
	result *r = read_all_chunks(path);

	unlink(path);
	free(path);
	return r;
}

static char *
gzip_data(const char *data, size_t *out_len)
{
	size_t cap = compressBound((uLong)strlen(data)) + 64;
	unsigned char *gz = malloc(cap);
	z_stream z;

	assert_non_null(gz);
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)strlen(data);
	z.next_out = gz;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return (char *)gz;
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static int
count_sep(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == PS_LIST_SEP;
	return n;
}

#define V(r, i, attr) ((r)->val[i][PS_ATTR_##attr])

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void
test_rss_fixture(void **state)
{
	result *r;

	(void)state;
	r = read_all_chunks(FIXTURES "rss-basic.xml");
	assert_int_equal(r->open_rc, 0);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->format, PS_FORMAT_XML);
	assert_int_equal(r->n, 3);
	assert_string_equal(r->error, "");
	assert_string_equal(r->warnings, "");

	/* Item 1: comments, CDATA, entities decoded once, nesting. */
	assert_int_equal(r->index[0], 1);
	assert_int_equal(r->line[0], 10);
	assert_string_equal(V(r, 0, ID), "SKU-1");
	assert_string_equal(V(r, 0, TITLE), "Plain & simple  tee");
	/* CDATA holding HTML: Pinterest shows plain text, so tags go */
	assert_string_equal(V(r, 0, DESCRIPTION), "Soft cotton & \"fair\" trade");
	assert_string_equal(V(r, 0, LINK), "https://shop.test/p/1?a=1&b=2");
	assert_string_equal(V(r, 0, IMAGE_LINK), "https://shop.test/i/1.jpg");
	assert_string_equal(V(r, 0, PRICE), "24.99 USD"); /* not returns_policy's */
	assert_string_equal(V(r, 0, AVAILABILITY), "in stock");
	assert_string_equal(V(r, 0, CONDITION), "new");
	assert_string_equal(V(r, 0, BRAND), "Caf\xC3\xA9 'Brand'");
	assert_string_equal(V(r, 0, GTIN), "00012345678905");
	assert_string_equal(V(r, 0, PRODUCT_TYPE), "Apparel &gt; Tops");
	assert_string_equal(V(r, 0, SHIPPING), "US::Standard:4.99 USD,CA:QC:Express:9.99 CAD");
	assert_string_equal(V(r, 0, TAX), "US:CA:8.25:yes");
	assert_int_equal(r->nproblems[0], 0);

	/* Item 2: 12 images -> 10, nested price first, empty sale price. */
	assert_int_equal(r->index[1], 2);
	assert_string_equal(V(r, 1, ID), "SKU-2");
	assert_string_equal(V(r, 1, PRICE), "10.50 EUR");
	assert_null(V(r, 1, SALE_PRICE));
	assert_string_equal(V(r, 1, AVAILABILITY), "preorder");
	assert_int_equal(count_sep(V(r, 1, ADDITIONAL_IMAGE_LINK)), 9);
	assert_true(
	    strncmp(V(r, 1, ADDITIONAL_IMAGE_LINK), "https://shop.test/i/2-1.jpg\x1f", 28) == 0);
	assert_non_null(strstr(V(r, 1, ADDITIONAL_IMAGE_LINK), "/2-10.jpg"));
	assert_null(strstr(V(r, 1, ADDITIONAL_IMAGE_LINK), "/2-11.jpg"));
	assert_int_equal(r->nproblems[1], 0);

	/* Item 3: empty elements are absent; problems, not failure. */
	assert_string_equal(V(r, 2, ID), "SKU-3");
	assert_null(V(r, 2, TITLE));
	assert_null(V(r, 2, PRICE));
	assert_int_equal(r->nproblems[2], 6);
	assert_string_equal(r->codes[2][0], "missing");  /* title */
	assert_string_equal(r->codes[2][5], "bad_enum"); /* availability "maybe" */
	result_free(r);
}

static void
test_atom_fixture(void **state)
{
	result *r;

	(void)state;
	r = read_all_chunks(FIXTURES "atom-basic.xml");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 2);
	/* g: beats Atom's own id and title */
	assert_string_equal(V(r, 0, ID), "A-1");
	assert_string_equal(V(r, 0, TITLE), "Google title wins");
	/* <link rel="alternate" href> when there is no g:link */
	assert_string_equal(V(r, 0, LINK), "https://shop.test/a/1");
	assert_string_equal(V(r, 0, PRICE), "5.00 GBP");
	assert_string_equal(V(r, 0, AVAILABILITY), "out of stock");
	assert_int_equal(r->nproblems[0], 0);
	assert_string_equal(V(r, 1, LINK), "https://shop.test/a/2-g");
	assert_string_equal(V(r, 1, PRICE), "6 GBP");
	assert_string_equal(V(r, 1, AVAILABILITY), "in stock");
	assert_int_equal(r->line[1], 18);
	result_free(r);
}

static void
test_undeclared_prefix(void **state)
{
	result *r;
	const char *w;
	int n = 0;

	(void)state;
	r = read_data(
	    "<?xml version='1.0'?>\n"
	    "<rss version=\"2.0\" xmlns=\"{'g': 'http://base.google.com/ns/1.0'}\">\n"
	    "<channel>\n"
	    "<item><g:id>1</g:id><title>One</title><g:price>23.0 KWD</g:price></item>\n"
	    "<item><g:id>2</g:id><g:shipping><g:country>KW</g:country></g:shipping></item>\n"
	    "</channel></rss>\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, ID), "1");
	assert_string_equal(V(r, 0, TITLE), "One");
	assert_string_equal(V(r, 0, PRICE), "23.0 KWD");
	assert_string_equal(V(r, 1, SHIPPING), "KW:::");
	for (w = r->warnings; (w = strstr(w, "undeclared g: prefix")) != NULL; w++)
		n++;
	assert_int_equal(n, 1);
	assert_string_equal(r->error, "");
	result_free(r);
}

static void
test_bare_ampersand(void **state)
{
	result *r;

	(void)state;
	r = read_data("<?xml version=\"1.0\"?>\n"
	              "<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n"
	              "<item><g:id>1</g:id><title>Fine</title></item>\n"
	              "<item>\n"
	              "  <g:id>2</g:id>\n"
	              "  <title>HAIR & BODY MIST</title>\n"
	              "</item>\n"
	              "</channel></rss>\n");
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1); /* the item before the error */
	assert_string_equal(V(r, 0, TITLE), "Fine");
	/* "file:LINE:COL: not well-formed: ..." at line 6 */
	assert_non_null(strstr(r->error, ":6:"));
	assert_non_null(strstr(r->error, "not well-formed"));
	assert_null(strstr(r->error, "truncated"));
	result_free(r);
}

/* Found by the XML fuzz target: libxml2 reported a bad encoding while the
 * push parser was being created, before it knew our state. */
static void
test_bad_encoding_at_the_start(void **state)
{
	static const char doc[] = {0, 0, '<', 0, 't'};
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	char *path = ps_test_write_tmp(doc, sizeof(doc));
	result *r;

	(void)state;
	opts.format = PS_FORMAT_XML;
	r = read_path(path, &opts);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 0);
	assert_true(r->error[0] != '\0');
	result_free(r);
	unlink(path);
	free(path);
}

static void
test_truncated_document(void **state)
{
	const char *doc = "<?xml version=\"1.0\"?>\n"
	                  "<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n"
	                  "<item><g:id>1</g:id></item>\n"
	                  "<item><g:id>2</g:id></item>\n"
	                  "<item><g:id>3</g:id><g:title>cut her";
	result *r;

	(void)state;
	r = read_data(doc);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 1, ID), "2");
	assert_non_null(strstr(r->error, "document ends before its end (truncated?)"));
	result_free(r);

	/* Cut anywhere in a real-looking feed: never a clean end. */
	{
		char *xml = slurp(FIXTURES "rss-basic.xml");
		size_t len = strlen(xml), end = len, cut;
		ps_feed_options opts = PS_FEED_OPTIONS_INIT;

		while (end > 0 && (xml[end - 1] == '\n' || xml[end - 1] == ' '))
			end--; /* the data is whole from "</rss>" on */
		opts.chunk_size = 64;
		for (cut = 1; cut < end; cut += 13) {
			char *path = ps_test_write_tmp(xml, cut);

			r = read_path(path, &opts);
			if (r->rc != PS_EFEED)
				print_error("cut at %zu: rc %d\n", cut, r->rc);
			assert_int_equal(r->rc, PS_EFEED);
			assert_true(r->n <= 3);
			result_free(r);
			unlink(path);
			free(path);
		}
		free(xml);
	}

	/* Cut right after an item: still truncated, items still returned. */
	r = read_data("<rss><channel><item><title>x</title></item>");
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1);
	assert_non_null(strstr(r->error, "truncated"));
	result_free(r);
}

static void
test_gzip(void **state)
{
	char *xml = slurp(FIXTURES "rss-basic.xml");
	size_t glen;
	char *gz = gzip_data(xml, &glen);
	char *path = ps_test_write_tmp(gz, glen), *plain_path = ps_test_write_tmp(xml, strlen(xml));
	result *r, *plain;
	size_t i;

	(void)state;
	r = read_all_chunks(path);
	plain = read_path(plain_path, NULL);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 3);
	assert_int_equal(r->bytes_read, glen);
	assert_int_equal(plain->bytes_read, strlen(xml));
	for (i = 0; i < 3; i++)
		assert_int_equal(r->hash[i], plain->hash[i]);
	assert_string_equal(V(r, 0, SHIPPING), "US::Standard:4.99 USD,CA:QC:Express:9.99 CAD");
	result_free(r);
	result_free(plain);
	unlink(path);
	free(path);

	/* Two gzip members back to back read as one stream (cat a.gz b.gz). */
	{
		size_t half = strlen(xml) / 2, l1, l2;
		char *a = strndup(xml, half), *b = strdup(xml + half);
		char *ga = gzip_data(a, &l1), *gb = gzip_data(b, &l2);
		char *both = malloc(l1 + l2);

		memcpy(both, ga, l1);
		memcpy(both + l1, gb, l2);
		path = ps_test_write_tmp(both, l1 + l2);
		r = read_all_chunks(path);
		assert_int_equal(r->rc, PS_ITEROVER);
		assert_int_equal(r->n, 3);
		result_free(r);
		unlink(path);
		free(path);
		free(a);
		free(b);
		free(ga);
		free(gb);
		free(both);
	}

	/* Truncated gzip: fatal, whatever was inflated before. */
	path = ps_test_write_tmp(gz, glen - 12);
	r = read_all_chunks(path);
	assert_int_equal(r->rc, PS_EFEED);
	assert_non_null(strstr(r->error, ": gzip stream truncated"));
	result_free(r);
	unlink(path);
	free(path);

	/* Cut only inside the 8-byte trailer: the XML is whole, the gzip
	 * stream is not; still fatal. */
	path = ps_test_write_tmp(gz, glen - 4);
	r = read_path(path, NULL);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 3);
	assert_non_null(strstr(r->error, "gzip stream truncated"));
	result_free(r);
	unlink(path);
	free(path);

	/* Corrupt data. */
	gz[glen / 2] ^= 0x55;
	gz[glen / 2 + 1] ^= 0x55;
	path = ps_test_write_tmp(gz, glen);
	r = read_path(path, NULL);
	assert_int_equal(r->rc, PS_EFEED);
	assert_non_null(strstr(r->error, "gzip"));
	result_free(r);
	unlink(path);
	free(path);

	unlink(plain_path);
	free(plain_path);
	free(gz);
	free(xml);
}

static void
test_entities_are_safe(void **state)
{
	result *r;

	(void)state;
	/* An internal entity expands; an external one is never loaded. */
	r = read_data("<?xml version=\"1.0\"?>\n"
	              "<!DOCTYPE rss [\n"
	              "  <!ENTITY shop \"Acme &amp; Co\">\n"
	              "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
	              "]>\n"
	              "<rss><channel>\n"
	              "<item><title>By &shop;</title><description>[&xxe;]</description></item>\n"
	              "<item><title>Again &shop;</title></item>\n"
	              "</channel></rss>\n");
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, TITLE), "By Acme & Co");
	assert_string_equal(V(r, 1, TITLE), "Again Acme & Co");
	assert_null(strstr(V(r, 0, DESCRIPTION), "root:"));
	result_free(r);

	/* Billion laughs: libxml2's limits stop it; the feed fails cleanly. */
	r = read_data("<?xml version=\"1.0\"?>\n"
	              "<!DOCTYPE rss [\n"
	              " <!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\n"
	              " <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
	              " <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
	              " <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
	              " <!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
	              " <!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
	              " <!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
	              "]>\n"
	              "<rss><channel><item><title>&g;</title></item></channel></rss>\n");
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 0);
	result_free(r);
}

static void
test_unknown_nesting_and_namespaces(void **state)
{
	result *r;

	(void)state;
	r = read_data(
	    "<rss xmlns:g=\"http://base.google.com/ns/1.0\" "
	    "xmlns:c=\"http://base.google.com/cns/1.0\" "
	    "xmlns:media=\"http://search.yahoo.com/mrss/\"><channel>\n"
	    "<item>\n"
	    " <g:structured_title><g:content>Not the title</g:content>"
	    "<g:title>nor this</g:title></g:structured_title>\n"
	    " <c:title>custom namespace: not the title</c:title>\n"
	    " <media:title>nor this one</media:title>\n"
	    " <g:title>The <b>real</b> title</g:title>\n"
	    " <g:mpn>M-1</g:mpn><g:mpn>M-2</g:mpn>\n"
	    " <g:ads_redirect>https://shop.test/ad</g:ads_redirect>\n"
	    " <g:shipping>US:NY:Ground:3 USD</g:shipping>\n"
	    " <g:shipping><g:country>US</g:country><g:price>0 USD</g:price></g:shipping>\n"
	    "</item>\n"
	    "<entry><title>an entry in RSS counts too</title></entry>\n"
	    "</channel></rss>");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, TITLE), "The real title");
	assert_string_equal(V(r, 0, MPN), "M-1"); /* first wins */
	assert_string_equal(V(r, 0, AD_LINK), "https://shop.test/ad");
	assert_string_equal(V(r, 0, SHIPPING), "US:NY:Ground:3 USD,US:::0 USD");
	assert_string_equal(V(r, 1, TITLE), "an entry in RSS counts too");
	result_free(r);
}

static void
test_odd_documents(void **state)
{
	result *r;

	(void)state;
	/* Blank lines before the declaration: tolerated, lines still right. */
	r = read_data("\n\n  \n<?xml version=\"1.0\"?>\n<rss><channel>\n"
	              "<item><title>x</title></item></channel></rss>");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->line[0], 6);
	result_free(r);

	/* BOM, then the document. */
	r = read_data("\xEF\xBB\xBF<?xml version=\"1.0\"?><rss><channel><item><title>b</title>"
	              "</item></channel></rss>");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	result_free(r);

	/* An HTML error page is not a feed. */
	r = read_data("<html><head><title>502 Bad Gateway</title></head><body/></html>");
	assert_int_equal(r->rc, PS_EFEED);
	assert_non_null(strstr(r->error, "HTML"));
	result_free(r);

	/* A well-formed document without items: no items, a warning. */
	r = read_data("<rss><channel><title>empty shop</title></channel></rss>");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 0);
	assert_non_null(strstr(r->warnings, "no <item> or <entry>"));
	result_free(r);

	/* Garbage after the root. */
	r = read_data("<rss><channel><item><title>a</title></item></channel></rss><rss/>");
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1);
	result_free(r);

	/* Mismatched tags. */
	r = read_data("<rss><channel><item><title>a</item></channel></rss>");
	assert_int_equal(r->rc, PS_EFEED);
	assert_non_null(strstr(r->error, ":1:"));
	result_free(r);

	/* Bytes that do not fit the declared encoding: fatal, quietly (no
	 * libxml2 chatter on stderr), with libxml2's reason. */
	{
		/* one chunk size: libxml2 quotes the bytes it had at hand */
		const char *doc =
		    "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n"
		    "<rss><channel><item><title>a\xE3/b</title></item></channel></rss>\n";
		char *path = ps_test_write_tmp(doc, strlen(doc));

		r = read_path(path, NULL);
		assert_int_equal(r->rc, PS_EFEED);
		assert_non_null(strstr(r->error, "conversion failed"));
		result_free(r);
		unlink(path);
		free(path);
	}
	r = read_data("<rss><channel><item><title>a\xE3/b</title></item></channel></rss>\n");
	assert_int_equal(r->rc, PS_EFEED);
	assert_non_null(strstr(r->error, ":1:"));
	assert_non_null(strstr(r->error, "UTF-8"));
	assert_null(strchr(r->error, '\n'));
	result_free(r);

	/* ISO-8859-1 is converted to UTF-8. */
	r = read_data("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
	              "<rss><channel><item><title>Caf\xE9</title></item></channel></rss>");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_string_equal(V(r, 0, TITLE), "Caf\xC3\xA9");
	result_free(r);
}

/* Appends s n times to b (at pos); returns the new end. */
static size_t
repeat(char *b, size_t pos, const char *s, size_t n)
{
	size_t k, len = strlen(s);

	for (k = 0; k < n; k++, pos += len)
		memcpy(b + pos, s, len);
	b[pos] = '\0';
	return pos;
}

/*
 * A document whose deepest element is at level depth: either inside an
 * item (the item is level 3, the nest is in it) or in the channel after
 * the item. The nest opens on line 3, one 3-byte tag <d> after another.
 */
static char *
nested_doc(unsigned depth, int in_item)
{
	size_t nest = depth - (in_item ? 3 : 2), pos;
	char *b = malloc(256 + 7 * nest);

	assert_non_null(b);
	pos = (size_t)sprintf(b, "<rss><channel>\n<item><title>a</title>%s\n",
	                      in_item ? "" : "</item>");
	pos = repeat(b, pos, "<d>", nest);
	pos = repeat(b, pos, "</d>", nest);
	pos += (size_t)sprintf(b + pos, "\n%s<item><title>b</title></item></channel></rss>\n",
	                       in_item ? "</item>" : "");
	return b;
}

static void
test_depth_limit(void **state)
{
	int in_item;

	(void)state;
	for (in_item = 0; in_item <= 1; in_item++) {
		char *doc, want[128];
		result *r;

		/* Exactly at the limit: read as before (the nest is an unknown
		 * element, skipped whole). */
		doc = nested_doc(PS_FEED_MAX_DEPTH, in_item);
		r = read_data(doc);
		assert_int_equal(r->rc, PS_ITEROVER);
		assert_int_equal(r->n, 2);
		assert_string_equal(V(r, 0, TITLE), "a");
		assert_string_equal(V(r, 1, TITLE), "b");
		result_free(r);
		free(doc);

		/* One level more: refused where that level opens, with every
		 * chunk size (line 3, at the '>' of the tag of level 65). Inside
		 * an item, the item is lost with the feed; outside, the item
		 * before is given. */
		doc = nested_doc(PS_FEED_MAX_DEPTH + 1, in_item);
		r = read_data(doc);
		assert_int_equal(r->rc, PS_EFEED);
		assert_int_equal(r->n, in_item ? 0 : 1);
		snprintf(want, sizeof(want),
		         ":3:%u: elements nested deeper than %d (<d> would be level %d)",
		         3 * (PS_FEED_MAX_DEPTH + 1 - (in_item ? 3 : 2)), PS_FEED_MAX_DEPTH,
		         PS_FEED_MAX_DEPTH + 1);
		if (strstr(r->error, want) == NULL)
			fail_msg("error \"%s\" lacks \"%s\"", r->error, want);
		result_free(r);
		free(doc);
	}
}

/* " a0=\"\" a1=\"\" ..." for attributes [from, to) (xmlns:pN="urn:N" when
 * ns is set), appended at pos. */
static size_t
attrs_at(char *b, size_t pos, unsigned from, unsigned to, int ns)
{
	unsigned k;

	for (k = from; k < to; k++)
		pos += (size_t)sprintf(b + pos, ns ? " xmlns:p%u=\"urn:%u\"" : " a%u=\"\"", k, k);
	return pos;
}

/* Where the k-th attribute's '=' is (1-based column) in a line that
 * starts with lead and then has the attributes of attrs_at(). */
static unsigned
eq_col(const char *lead, unsigned k, int ns)
{
	char b[8192];
	size_t pos = (size_t)sprintf(b, "%s", lead);

	pos = attrs_at(b, pos, 0, k - 1, ns);
	return (unsigned)pos +
	       (ns ? (unsigned)snprintf(NULL, 0, " xmlns:p%u", k - 1)
	           : (unsigned)snprintf(NULL, 0, " a%u", k - 1)) +
	       1;
}

static void
test_attribute_limit(void **state)
{
	static const char head[] = "<?xml version=\"1.0\"?>\n<rss><channel>\n"
	                           "<item><title>a</title></item>\n";
	char *b = malloc(16384), want[160];
	size_t pos;
	unsigned total;
	int ns;
	result *r;

	(void)state;
	assert_non_null(b);
	for (ns = 0; ns <= 1; ns++) {
		/* At the limit: read as before. Half of them namespace
		 * declarations when ns is set: they count the same. */
		pos = (size_t)sprintf(b, "%s<item", head);
		pos = attrs_at(b, pos, 0, ns ? PS_FEED_MAX_ATTRIBUTES / 2 : PS_FEED_MAX_ATTRIBUTES,
		               0);
		if (ns)
			pos = attrs_at(b, pos, 0, PS_FEED_MAX_ATTRIBUTES / 2, 1);
		sprintf(b + pos, "><title>b</title></item>\n</channel></rss>\n");
		r = read_data(b);
		assert_int_equal(r->rc, PS_ITEROVER);
		assert_int_equal(r->n, 2);
		assert_string_equal(V(r, 1, TITLE), "b");
		result_free(r);

		/* One more: refused at its '=', line 4, before libxml2 parses the
		 * tag; the item before it is given, whatever the chunk size. */
		pos = (size_t)sprintf(b, "%s<item", head);
		total = PS_FEED_MAX_ATTRIBUTES + 1;
		pos = attrs_at(b, pos, 0, ns ? 1 : total, 0);
		if (ns)
			pos = attrs_at(b, pos, 0, total - 1, 1);
		sprintf(b + pos, "><title>b</title></item>\n</channel></rss>\n");
		r = read_data(b);
		assert_int_equal(r->rc, PS_EFEED);
		assert_int_equal(r->n, 1);
		snprintf(want, sizeof(want),
		         ":4:%u: more than %d attributes on one element (<item>)",
		         ns ? eq_col("<item a0=\"\"", total - 1, 1) : eq_col("<item", total, 0),
		         PS_FEED_MAX_ATTRIBUTES);
		if (strstr(r->error, want) == NULL)
			fail_msg("error \"%s\" lacks \"%s\"", r->error, want);
		result_free(r);
	}

	/* The root, a self-closed tag, single quotes, values holding '>' and
	 * '=', blanks around '=': the count is of attributes only. */
	pos = (size_t)sprintf(b, "<rss");
	for (total = 0; total < PS_FEED_MAX_ATTRIBUTES; total++)
		pos += (size_t)sprintf(b + pos, "\n  b%u = '>=%u='", total, total);
	sprintf(b + pos,
	        "><channel><item><title>c</title><x a='1' b=\"2\"/></item></channel></rss>");
	r = read_data(b);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	result_free(r);
	sprintf(b + pos, " extra='>'><channel/></rss>");
	r = read_data(b);
	assert_int_equal(r->rc, PS_EFEED);
	/* line 65, the last of the root tag: one line per attribute */
	assert_non_null(strstr(r->error, ":65:22: more than 64 attributes on one element (<rss>)"));
	result_free(r);
	free(b);
}

/*
 * Markup in which '<', '=', '>' and quotes mean nothing: a comment, a PI,
 * CDATA, the DOCTYPE's literals, comments and PIs, and text. Followed by
 * an element with n attributes. With wild set, the internal subset also
 * has "]>" and quotes in a comment and a PI, and its system literal a '>':
 * well-formed, but libxml2 2.9's push parser, which looks ahead for the
 * end of the DOCTYPE and of the subset before parsing them, gets those
 * wrong depending on where the pieces end (and then fails the document),
 * so only the scanner reads that version.
 */
static size_t
tricky_doc(char *b, unsigned n, int wild)
{
	size_t pos = (size_t)sprintf(
	    b,
	    "<?xml version='1.0' encoding='UTF-8'?>\n"
	    "<?pi a=1 b=2 > c=3 '?>\n"
	    "<!DOCTYPE rss SYSTEM \"%s\" [\n"
	    "  %s\n"
	    "  %s\n"
	    "  <!ENTITY e \"<x a='1' b='2'> ]> = \">\n"
	    "  <!ENTITY f '\"=\"=\"='>\n"
	    "  <!ATTLIST rss v CDATA \"]>=\">\n"
	    "]>\n"
	    "<rss><channel>\n"
	    "<!-- <x a=1 b=2 c=3> ' \" - -> = -->\n"
	    "<item><title>x = y > z</title><description><![CDATA[<p a=1 b=2 c='3'>]] "
	    ">]]]]></description><g a='x\"=\"' b=\"y'='\"/></item>\n"
	    "<!---->\n"
	    "<item><title>t</title><n",
	    wild ? "x.dtd?a=1>[" : "x.dtd?a=1[",
	    wild ? "<!-- ]> a=1 ' \" -->" : "<!-- > a=1 <b c=2> -->",
	    wild ? "<?pi ]> = ' ?>" : "<?pi > = <x y=1> ?>");
	pos = attrs_at(b, pos, 0, n, 0);
	pos += (size_t)sprintf(b + pos, "/></item></channel></rss>\n");
	return pos;
}

/* ps_feed__xscan() over p[0..n) in the pieces cut at the offsets of cuts
 * (ascending, ncuts of them). Returns the absolute offset it refused at,
 * or n when it did not. */
static size_t
xscan_pieces(const char *p, size_t n, const size_t *cuts, size_t ncuts, char *msg, size_t cap)
{
	ps_xscan s;
	size_t at = 0, k, used;

	ps_feed__xscan_init(&s, 0);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;

		if (ps_feed__xscan(&s, p + at, end - at, &used) != 0) {
			snprintf(msg, cap, "%s", s.msg);
			/* refused for its encoding: the place is the start,
			 * whichever piece made it known */
			return s.at_start ? 0 : at + used;
		}
		at = end;
	}
	msg[0] = '\0';
	return n;
}

/* The line of byte at of text. */
static size_t
nlines_before(const char *text, size_t at)
{
	size_t line = 1, i;

	for (i = 0; i < at && text[i] != '\0'; i++)
		line += text[i] == '\n';
	return line;
}

/*
 * The DOCTYPE and what it declares are bounded (feeds.h): the subset's
 * bytes, the <!ATTLIST> declarations, and the start tags inside an
 * entity's text. A feed with the HTML entity set passes.
 */
static void
test_dtd_limits(void **state)
{
	static const char head[] = "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n";
	static const char body[] = "]>\n<rss><channel>\n"
	                           "<item><title>a &e0;</title></item>\n"
	                           "</channel></rss>\n";
	size_t cap = 2 * PS_FEED_MAX_DTD + 4096, pos, i;
	char *b = malloc(cap), want[128];
	result *r;

	(void)state;
	assert_non_null(b);

	/* 252 entities, as the HTML set: read as before. */
	pos = (size_t)sprintf(b, "%s", head);
	for (i = 0; i < 252; i++)
		pos += (size_t)sprintf(b + pos, "<!ENTITY e%zu \"&#%zu;\">\n", i, 160 + i);
	sprintf(b + pos, "%s", body);
	r = read_data(b);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, TITLE), "a \xc2\xa0");
	result_free(r);

	/* A subset over the cap: refused while it is read, whatever the
	 * chunk size, before libxml2 holds it all. */
	pos = (size_t)sprintf(b, "%s", head);
	for (i = 0; pos < PS_FEED_MAX_DTD + 100; i++)
		pos += (size_t)sprintf(b + pos, "<!ENTITY e%zu \"%zu\">\n", i, i);
	sprintf(b + pos, "%s", body);
	r = read_data(b); /* every chunk size gives the same answer */
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 0);
	snprintf(want, sizeof(want), ":%zu: DOCTYPE declaration over the %d KiB cap",
	         nlines_before(b, 22 + PS_FEED_MAX_DTD), PS_FEED_MAX_DTD >> 10);
	assert_non_null(strstr(r->error, want));
	result_free(r);

	/* Attribute defaults: at the limit read, one more refused. */
	for (i = PS_FEED_MAX_DTD_ATTRIBUTES; i <= PS_FEED_MAX_DTD_ATTRIBUTES + 1; i++) {
		size_t k;

		pos = (size_t)sprintf(b, "%s<!ENTITY e0 \"x\">\n", head);
		for (k = 0; k < i; k++)
			pos += (size_t)sprintf(b + pos, "<!ATTLIST item a%zu CDATA \"v\">\n", k);
		sprintf(b + pos, "%s", body);
		r = read_data(b);
		if (i == PS_FEED_MAX_DTD_ATTRIBUTES) {
			assert_int_equal(r->rc, PS_ITEROVER);
			assert_int_equal(r->n, 1);
		} else {
			assert_int_equal(r->rc, PS_EFEED);
			assert_int_equal(r->n, 0);
			assert_non_null(strstr(r->error, "attribute declarations (<!ATTLIST>)"));
			assert_non_null(strstr(r->error, ":20:")); /* the 17th */
		}
		result_free(r);
	}

	/* An entity's text with a start tag over the attribute limit: its
	 * bytes never pass the scanner, so the declaration is refused. */
	pos = (size_t)sprintf(b, "%s<!ENTITY e0 \"<b", head);
	for (i = 0; i <= PS_FEED_MAX_ATTRIBUTES; i++)
		pos += (size_t)sprintf(b + pos, " a%zu='v'", i);
	sprintf(b + pos, "/>\">\n%s", body);
	r = read_data(b);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 0);
	assert_non_null(strstr(r->error, "entity \"e0\": more than"));
	result_free(r);
	free(b);
}

static void
test_xscan_every_split(void **state)
{
	char *b = malloc(16384), msg[256], msg2[256];
	size_t n, whole, k, cut[2], *ones;
	unsigned extra;

	(void)state;
	assert_non_null(b);
	for (extra = 0; extra <= 3; extra++) {
		int wild = extra >= 2;

		n = tricky_doc(b, PS_FEED_MAX_ATTRIBUTES + (extra & 1), wild);
		whole = xscan_pieces(b, n, NULL, 0, msg, sizeof(msg));
		if (!(extra & 1)) {
			/* nothing in the tricky parts counts */
			assert_int_equal(whole, n);
		} else {
			/* the '=' of the 65th attribute of <n> */
			assert_int_equal(b[whole], '=');
			assert_true(whole > n - 40 && whole < n);
			assert_non_null(
			    strstr(msg, "more than 64 attributes on one element (<n>)"));
		}
		/* Every place to cut it in two, then in three. */
		for (k = 0; k <= n; k++) {
			cut[0] = k;
			assert_int_equal(xscan_pieces(b, n, cut, 1, msg2, sizeof(msg2)), whole);
			assert_string_equal(msg2, msg);
		}
		for (k = 0; k + 7 <= n; k += 3) {
			cut[0] = k;
			cut[1] = k + 7;
			assert_int_equal(xscan_pieces(b, n, cut, 2, msg2, sizeof(msg2)), whole);
			assert_string_equal(msg2, msg);
		}
		/* One byte at a time. */
		ones = malloc(n * sizeof(*ones));
		assert_non_null(ones);
		for (k = 0; k < n; k++)
			ones[k] = k;
		assert_int_equal(xscan_pieces(b, n, ones, n, msg2, sizeof(msg2)), whole);
		assert_string_equal(msg2, msg);
		free(ones);

		/* And libxml2 agrees the document is well-formed and has those
		 * items, or is refused before them. */
		if (!wild) {
			result *r = read_data(b);

			assert_int_equal(r->rc, (extra & 1) ? PS_EFEED : PS_ITEROVER);
			assert_int_equal(r->n, (extra & 1) ? 1 : 2);
			assert_string_equal(V(r, 0, TITLE), "x = y > z");
			assert_string_equal(V(r, 0, DESCRIPTION), "]] >]]");
			if (extra & 1)
				assert_non_null(strstr(r->error, ":14:"));
			result_free(r);
		}
	}
	free(b);
}

/* Writes doc (ASCII) as UTF-16 (le, or big-endian), with a BOM if asked. */
static char *
utf16(const char *doc, int le, int bom, size_t *len)
{
	size_t n = strlen(doc), k, o = 0;
	char *b = malloc(2 * n + 2);

	assert_non_null(b);
	if (bom) {
		b[o++] = le ? '\xFF' : '\xFE';
		b[o++] = le ? '\xFE' : '\xFF';
	}
	for (k = 0; k < n; k++) {
		b[o++] = le ? doc[k] : 0;
		b[o++] = le ? 0 : doc[k];
	}
	*len = o;
	return b;
}

static result *
read_bytes(const char *data, size_t len)
{
	char *path = ps_test_write_tmp(data, len);
	result *r = read_all_chunks(path);

	unlink(path);
	free(path);
	return r;
}

static void
test_attribute_limit_encodings(void **state)
{
	char *doc = malloc(8192), *u, want[160];
	size_t pos, len;
	int le, bom;
	result *r;

	(void)state;
	assert_non_null(doc);
	/* UTF-16, both byte orders, with and without a BOM: read by 16-bit
	 * units, the limit holds. (Big-endian without a BOM starts with a NUL
	 * byte, which format detection takes for CSV.) */
	for (le = 0; le <= 1; le++) {
		for (bom = 0; bom <= 1; bom++) {
			unsigned over;

			if (!le && !bom)
				continue;

			for (over = 0; over <= 1; over++) {
				pos = (size_t)sprintf(
				    doc, "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n"
				         "<rss><channel><item><title>u</title>\n<x");
				pos = attrs_at(doc, pos, 0, PS_FEED_MAX_ATTRIBUTES + over, 0);
				sprintf(doc + pos, "/></item></channel></rss>\n");
				u = utf16(doc, le, bom, &len);
				r = read_bytes(u, len);
				if (!over) {
					assert_int_equal(r->rc, PS_ITEROVER);
					assert_int_equal(r->n, 1);
					assert_string_equal(V(r, 0, TITLE), "u");
				} else {
					/* at the '=', before libxml2 parsed the tag */
					assert_int_equal(r->rc, PS_EFEED);
					snprintf(
					    want, sizeof(want),
					    ":3:%u: more than 64 attributes on one element (<x>)",
					    eq_col("<x", PS_FEED_MAX_ATTRIBUTES + 1, 0));
					if (strstr(r->error, want) == NULL)
						fail_msg("error \"%s\" lacks \"%s\"", r->error,
						         want);
				}
				result_free(r);
				free(u);
			}
		}
	}

	/* Encodings whose markup a byte scan cannot follow: refused at the
	 * start, before libxml2 reads anything past the declaration. */
	{
		static const char *const refused[] = {
		    "<?xml version=\"1.0\" encoding=\"UTF-7\"?>\n<rss/>",
		    "<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?>\n<rss/>",
		    /* an ASCII declaration switching the rest to UTF-16 */
		    "<?xml version=\"1.0\" encoding=\"UTF-16LE\"?>\n<rss/>",
		    "<?xml version=\"1.0\" encoding=\"IBM037\"?>\n<rss/>", NULL};
		const char *const *d;

		for (d = refused; *d; d++) {
			r = read_data(*d);
			assert_int_equal(r->rc, PS_EFEED);
			assert_int_equal(r->n, 0);
			assert_non_null(strstr(r->error, ":1:1: encoding \""));
			assert_non_null(strstr(r->error, "convert the feed to UTF-8"));
			result_free(r);
		}
		/* UCS-4, read as XML when told (it starts with a NUL byte) */
		{
			ps_feed_options opts = PS_FEED_OPTIONS_INIT;
			char *path = ps_test_write_tmp("\0\0\0<\0\0\0?\0\0\0x", 12);

			opts.format = PS_FORMAT_XML;
			r = read_path(path, &opts);
			assert_int_equal(r->rc, PS_EFEED);
			assert_non_null(strstr(r->error, ":1:1: UCS-4 text is not read"));
			result_free(r);
			unlink(path);
			free(path);
		}
	}

	/* Shift_JIS: the second byte of a character may be ']' (0x5D):
	 * "\x81]" is one character, so "\x81]]>" does not end the CDATA
	 * section; its ']]>' later does. Read byte by byte, the section would
	 * end there, the '<y a="' in it would open a tag, and its quote would
	 * hide the element over the limit. */
	pos = (size_t)sprintf(doc, "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n"
	                           "<rss><channel><item><title><![CDATA[a\x81]]><y a=\"]]></title>"
	                           "</item>\n<x");
	pos = attrs_at(doc, pos, 0, PS_FEED_MAX_ATTRIBUTES + 1, 0);
	sprintf(doc + pos, "/></channel></rss>\n");
	r = read_data(doc);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1);
	/* 0x815D is U+2010 */
	assert_string_equal(V(r, 0, TITLE), "a\xE2\x80\x90]><y a=\"");
	snprintf(want, sizeof(want), ":3:%u: more than 64 attributes on one element (<x>)",
	         eq_col("<x", PS_FEED_MAX_ATTRIBUTES + 1, 0));
	if (strstr(r->error, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", r->error, want);
	result_free(r);

	/* ISO-8859-1 reads as bytes. */
	pos = (size_t)sprintf(doc, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
	                           "<rss><channel><item><title>\xE9</title></item>\n<x");
	pos = attrs_at(doc, pos, 0, PS_FEED_MAX_ATTRIBUTES + 1, 0);
	sprintf(doc + pos, "/></channel></rss>\n");
	r = read_data(doc);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1);
	assert_non_null(strstr(r->error, "more than 64 attributes"));
	result_free(r);
	free(doc);
}

static void
test_explicit_format(void **state)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	const char *doc = "<rss><channel><item><title>t</title></item></channel></rss>";
	char *path = ps_test_write_tmp(doc, strlen(doc));
	result *r;

	(void)state;
	opts.format = PS_FORMAT_XML;
	r = read_path(path, &opts);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	result_free(r);
	unlink(path);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rss_fixture),
	    cmocka_unit_test(test_atom_fixture),
	    cmocka_unit_test(test_undeclared_prefix),
	    cmocka_unit_test(test_bare_ampersand),
	    cmocka_unit_test(test_truncated_document),
	    cmocka_unit_test(test_bad_encoding_at_the_start),
	    cmocka_unit_test(test_gzip),
	    cmocka_unit_test(test_entities_are_safe),
	    cmocka_unit_test(test_unknown_nesting_and_namespaces),
	    cmocka_unit_test(test_odd_documents),
	    cmocka_unit_test(test_explicit_format),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_attribute_limit),
	    cmocka_unit_test(test_xscan_every_split),
	    cmocka_unit_test(test_attribute_limit_encodings),
	    cmocka_unit_test(test_dtd_limits),
	};

	return cmocka_run_group_tests_name("feeds_xml", tests, NULL, NULL);
}
