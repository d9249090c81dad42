/*
 * test_feeds_csv.c: the CSV/TSV reader of feeds/ (csv.c, format detection
 * in feed.c, the gzip source), through the public API only.
 *
 * Every feed is read with several chunk sizes, down to one byte, and must
 * give the same items each time: the state machine may be cut anywhere.
 *
 * Build (repository root, after cmake --build build --target ps_feeds):
 * gcc -std=c11 -D_POSIX_C_SOURCE=200809L -Ifeeds tests/unit/test_feeds_csv.c
 * build/feeds/libps_feeds.a $(pkg-config --cflags --libs cmocka libxml-2.0 libxxhash zlib) -o
 * test_feeds_csv
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

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define MAX_ITEMS 32

/* What a feed gave: copies, so the feed can be freed. */
typedef struct result {
	int open_rc;
	int rc; /* what ended the iteration */
	size_t n;
	char *val[MAX_ITEMS][PS_ATTR__COUNT];
	uint64_t line[MAX_ITEMS];
	uint64_t index[MAX_ITEMS];
	uint64_t hash[MAX_ITEMS];
	int nproblems[MAX_ITEMS];
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
	int a;

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
				if (it->values[a].ptr == NULL)
					continue;
				/* values are NUL-terminated */
				assert_int_equal(it->values[a].ptr[it->values[a].len], '\0');
				r->val[i][a] = strdup(it->values[a].ptr);
			}
			r->line[i] = it->line;
			r->index[i] = it->index;
			r->hash[i] = it->hash;
			r->nproblems[i] = it->nproblems;
		}
	}
	snprintf(r->error, sizeof(r->error), "%s", ps_feed_error(f));
	snprintf(r->warnings, sizeof(r->warnings), "%s", ps_feed_warnings(f));
	r->format = ps_feed_detected_format(f);
	r->bytes_read = ps_feed_bytes_read(f);
	ps_feed_free(f);
	return r;
}

static const size_t chunk_sizes[] = {1, 2, 3, 7, 64, 0 /* default */};
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
		assert_int_equal(a->index[i], b->index[i]);
		assert_int_equal(a->hash[i], b->hash[i]);
		for (k = 0; k < PS_ATTR__COUNT; k++) {
			if (a->val[i][k] == NULL)
				assert_null(b->val[i][k]);
			else
				assert_string_equal(a->val[i][k], b->val[i][k]);
		}
	}
}

/* Reads data with every chunk size; returns the default-size result. */
static result *
read_data_opts(const char *data, size_t len, ps_feed_options opts)
{
	char *path = ps_test_write_tmp(data, len);
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
	unlink(path);
	free(path);
	return first;
}

static result *
read_data(const char *data)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;

	return read_data_opts(data, strlen(data), opts);
}

#define V(r, i, attr) ((r)->val[i][PS_ATTR_##attr])

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void
test_basic(void **state)
{
	result *r;

	(void)state;
	r = read_data("id,title,description,link,image_link,price,availability\n"
	              "A1,Blue shirt,Soft cotton,https://x.test/a1,https://x.test/a1.jpg,"
	              "24.99 USD,in stock\n"
	              "A2,Red shirt,Warm wool,https://x.test/a2,https://x.test/a2.jpg,"
	              "12 EUR,out_of_stock\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->format, PS_FORMAT_CSV);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, ID), "A1");
	assert_string_equal(V(r, 0, TITLE), "Blue shirt");
	assert_string_equal(V(r, 0, PRICE), "24.99 USD");
	assert_string_equal(V(r, 1, AVAILABILITY), "out of stock");
	assert_int_equal(r->nproblems[0], 0);
	assert_int_equal(r->nproblems[1], 0);
	assert_int_equal(r->line[0], 2);
	assert_int_equal(r->line[1], 3);
	assert_int_equal(r->index[0], 1);
	assert_int_equal(r->index[1], 2);
	assert_string_equal(r->error, "");
	assert_string_equal(r->warnings, "");
	result_free(r);
}

static void
test_header_names(void **state)
{
	result *r;

	(void)state;
	/* Case, blanks, "g:", aliases; unknown columns listed once. */
	r = read_data(" ID ,Title,g:Description,URL,Image,Price,Availability,"
	              "Sale Price,Foo,image link,Bar\n"
	              "1,T,D,https://x.test/1,https://x.test/1.jpg,5 USD,in stock,"
	              "4 USD,zzz,https://x.test/other.jpg,yyy\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, ID), "1");
	assert_string_equal(V(r, 0, DESCRIPTION), "D");
	assert_string_equal(V(r, 0, LINK), "https://x.test/1");
	/* first non-empty column for an attribute wins */
	assert_string_equal(V(r, 0, IMAGE_LINK), "https://x.test/1.jpg");
	assert_string_equal(V(r, 0, SALE_PRICE), "4 USD");
	assert_int_equal(r->nproblems[0], 0);
	assert_non_null(strstr(r->warnings, "ignored columns: Foo, Bar"));
	result_free(r);
}

static void
test_quoted_newlines_and_escapes(void **state)
{
	result *r;

	(void)state;
	r = read_data("id,title,description\n"
	              "1,\"Say \"\"hi\"\"\",\"line one\nline two\n\nline four\"\n"
	              "2,\"a, b; c\",plain\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, TITLE), "Say \"hi\"");
	assert_string_equal(V(r, 0, DESCRIPTION), "line one\nline two\n\nline four");
	assert_string_equal(V(r, 1, TITLE), "a, b; c");
	assert_int_equal(r->line[0], 2);
	assert_int_equal(r->line[1], 6); /* the first record took 4 lines */
	result_free(r);
}

static void
test_crlf(void **state)
{
	result *r;

	(void)state;
	r = read_data("id,title,description\r\n"
	              "1,One,\"multi\r\nline\"\r\n"
	              "2,Two,x\r\n"
	              "\r\n" /* blank line: not a row */
	              "3,Three,y\r\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 3);
	assert_string_equal(V(r, 0, TITLE), "One");
	/* CRLF inside a description becomes \n */
	assert_string_equal(V(r, 0, DESCRIPTION), "multi\nline");
	assert_string_equal(V(r, 1, DESCRIPTION), "x");
	assert_string_equal(V(r, 2, DESCRIPTION), "y");
	assert_int_equal(r->line[0], 2);
	assert_int_equal(r->line[1], 4);
	assert_int_equal(r->line[2], 6);
	result_free(r);
}

static void
test_cr_only(void **state)
{
	result *r;

	(void)state;
	r = read_data("id\ttitle\tshipping\r1\tOne\tUS:::7.95 USD\r2\tTwo\t\"a\rb\"\r3\tThree\tz");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->format, PS_FORMAT_TSV);
	assert_int_equal(r->n, 3);
	assert_string_equal(V(r, 0, SHIPPING), "US:::7.95 USD");
	assert_string_equal(V(r, 1, TITLE), "Two");
	assert_string_equal(V(r, 2, TITLE), "Three");
	assert_string_equal(V(r, 2, SHIPPING), "z");
	assert_int_equal(r->line[0], 2);
	assert_int_equal(r->line[1], 3);
	assert_int_equal(r->line[2], 5);
	result_free(r);
}

static void
test_bom_and_no_final_newline(void **state)
{
	result *r;

	(void)state;
	r = read_data("\xEF\xBB\xBFid,title\n1,First\n2,\"Last\"");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, ID), "1"); /* "id" was found despite the BOM */
	assert_string_equal(V(r, 1, TITLE), "Last");
	assert_string_equal(r->warnings, "");
	result_free(r);

	/* Unquoted last field, and an empty last field. */
	r = read_data("id,title,brand\n1,First,\n2,Second,Acme");
	assert_int_equal(r->n, 2);
	assert_null(V(r, 0, BRAND));
	assert_string_equal(V(r, 1, BRAND), "Acme");
	result_free(r);

	r = read_data("id,title,brand\n1,First,");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, TITLE), "First");
	assert_null(V(r, 0, BRAND));
	result_free(r);
}

static void
test_semicolon_and_pipe(void **state)
{
	result *r;

	(void)state;
	/* A comma inside a quoted header name must not win the sniffing. */
	r = read_data("id;title;\"description, long\";price\n"
	              "1;Chair, oak;\"Solid; sturdy\";\"19,90 EUR\"\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->format, PS_FORMAT_CSV);
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, TITLE), "Chair, oak");
	assert_string_equal(V(r, 0, PRICE), "19.90 EUR");
	result_free(r);

	r = read_data("id|title|brand\n7|Lamp|Lux\n");
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, TITLE), "Lamp");
	assert_string_equal(V(r, 0, BRAND), "Lux");
	result_free(r);
}

static void
test_tsv(void **state)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	const char *data = "id\ttitle\tprice\n1\tA, b\t250.00\n2\t\"q\"\t3 USD\n";
	result *r;

	(void)state;
	r = read_data(data);
	assert_int_equal(r->format, PS_FORMAT_TSV);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, TITLE), "A, b");
	assert_string_equal(V(r, 0, PRICE), "250.00"); /* no currency: kept, flagged */
	assert_string_equal(V(r, 1, TITLE), "q");
	result_free(r);

	/* Told TSV; a default currency completes the price. */
	opts.format = PS_FORMAT_TSV;
	opts.default_currency = "aed";
	r = read_data_opts(data, strlen(data), opts);
	assert_int_equal(r->format, PS_FORMAT_TSV);
	assert_string_equal(V(r, 0, PRICE), "250.00 AED");
	result_free(r);
}

static void
test_unterminated_quote(void **state)
{
	result *r;

	(void)state;
	r = read_data("id,title,description\n"
	              "1,ok,fine\n"
	              "2,bad,\"starts here\n"
	              "and never\nends\n");
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1); /* the row before still came out */
	assert_string_equal(V(r, 0, TITLE), "ok");
	assert_non_null(strstr(r->error, ":3: unterminated quoted field"));
	result_free(r);
}

static void
test_ragged_rows(void **state)
{
	result *r;

	(void)state;
	r = read_data("id,title,brand\n"
	              "1,Short\n"
	              "2,Long,Acme,extra,more\n"
	              ",,\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 3);
	assert_string_equal(V(r, 0, TITLE), "Short");
	assert_null(V(r, 0, BRAND));
	assert_string_equal(V(r, 1, BRAND), "Acme");
	assert_null(V(r, 2, ID)); /* an empty row is still a row */
	result_free(r);
}

static void
test_list_columns(void **state)
{
	char data[2048];
	size_t k;
	result *r;
	int i;

	(void)state;
	/* Meta packs several URLs in one field; a Cloudinary URL holds commas. */
	r = read_data("id,additional_image_link\n"
	              "1,\"https://x.test/a.jpg, https://x.test/b.jpg,https://x.test/c.jpg\"\n"
	              "2,\"https://res.test/w_100,h_100/img.jpg\"\n");
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 0, ADDITIONAL_IMAGE_LINK),
	                    "https://x.test/a.jpg\x1fhttps://x.test/b.jpg\x1f"
	                    "https://x.test/c.jpg");
	assert_string_equal(V(r, 1, ADDITIONAL_IMAGE_LINK), "https://res.test/w_100,h_100/img.jpg");
	result_free(r);

	/* Twelve URLs: ten are kept. */
	k = (size_t)snprintf(data, sizeof(data), "id,additional_image_link\n1,\"");
	for (i = 0; i < 12; i++)
		k += (size_t)snprintf(data + k, sizeof(data) - k, "%shttps://x.test/%d.jpg",
		                      i ? "," : "", i);
	snprintf(data + k, sizeof(data) - k, "\"\n");
	r = read_data(data);
	assert_int_equal(r->n, 1);
	{
		const char *v = V(r, 0, ADDITIONAL_IMAGE_LINK);
		int seps = 0;

		for (; *v; v++)
			seps += *v == PS_LIST_SEP;
		assert_int_equal(seps, 9);
	}
	result_free(r);
}

static void
test_empty_and_header_only(void **state)
{
	result *r;

	(void)state;
	r = read_data("");
	assert_int_equal(r->open_rc, PS_EFEED);
	assert_non_null(strstr(r->error, "feed is empty"));
	result_free(r);

	r = read_data(" \n\t\n");
	assert_int_equal(r->open_rc, PS_EFEED);
	result_free(r);

	r = read_data("id,title\n");
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 0);
	result_free(r);

	/* Leading blank lines before the header are skipped. */
	r = read_data("\n\nid,title\n1,x\n");
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, TITLE), "x");
	assert_int_equal(r->line[0], 4);
	result_free(r);
}

static void
test_field_cap(void **state)
{
	size_t big = PS_FEED_MAX_FIELD + 10, k;
	char *data = malloc(big + 64);
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	char *path;
	result *r;

	(void)state;
	assert_non_null(data);
	k = (size_t)snprintf(data, 64, "id,title\n1,ok\n2,");
	memset(data + k, 'x', big);
	k += big;
	data[k++] = '\n';
	path = ps_test_write_tmp(data, k);
	r = read_path(path, &opts);
	assert_int_equal(r->rc, PS_EFEED);
	assert_int_equal(r->n, 1);
	assert_non_null(strstr(r->error, ":3: field over"));
	result_free(r);
	unlink(path);
	free(path);
	free(data);
}

static void
test_gzip_and_bytes_read(void **state)
{
	const char *csv = "id;title\n1;Gz one\n2;Gz two\n";
	unsigned char gz[512];
	z_stream z;
	char *path;
	result *r;
	size_t glen;
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;

	(void)state;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)csv;
	z.avail_in = (uInt)strlen(csv);
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	glen = sizeof(gz) - z.avail_out;
	deflateEnd(&z);

	path = ps_test_write_tmp(gz, glen);
	r = read_path(path, &opts);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 2);
	assert_string_equal(V(r, 1, TITLE), "Gz two");
	assert_int_equal(r->bytes_read, glen); /* compressed bytes */
	result_free(r);
	unlink(path);
	free(path);

	r = read_data(csv);
	assert_int_equal(r->bytes_read, strlen(csv));
	result_free(r);
}

static void
test_stdin(void **state)
{
	const char *csv = "id,title\n1,From stdin\n";
	char *path = ps_test_write_tmp(csv, strlen(csv));
	int saved = dup(STDIN_FILENO);
	result *r;

	(void)state;
	assert_true(saved >= 0);
	assert_non_null(freopen(path, "rb", stdin));
	r = read_path("-", NULL);
	assert_int_equal(r->rc, PS_ITEROVER);
	assert_int_equal(r->n, 1);
	assert_string_equal(V(r, 0, TITLE), "From stdin");
	result_free(r);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	unlink(path);
	free(path);
}

static void
test_open_errors(void **state)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	ps_feed *f = NULL;
	ps_item *it;

	(void)state;
	assert_int_equal(ps_feed_open(&f, "/nonexistent/feed.csv", NULL), PS_EFEED);
	assert_non_null(f);
	assert_non_null(strstr(ps_feed_error(f), "/nonexistent/feed.csv: cannot open"));
	assert_int_equal(ps_feed_next(&it, f), PS_EFEED);
	assert_null(it);
	ps_feed_free(f);

	opts.default_currency = "EURO";
	assert_int_equal(ps_feed_open(&f, "/dev/null", &opts), PS_ERROR);
	assert_non_null(strstr(ps_feed_error(f), "3-letter"));
	ps_feed_free(f);
	ps_feed_free(NULL);
}

static void
test_formats(void **state)
{
	ps_feed_format fmt = PS_FORMAT_AUTO;

	(void)state;
	assert_int_equal(ps_feed_format_parse(&fmt, "tsv"), 0);
	assert_int_equal(fmt, PS_FORMAT_TSV);
	assert_int_equal(ps_feed_format_parse(&fmt, "XML"), 0);
	assert_int_equal(fmt, PS_FORMAT_XML);
	assert_int_equal(ps_feed_format_parse(&fmt, "json"), -1);
	assert_string_equal(ps_feed_format_name(PS_FORMAT_CSV), "csv");
	assert_string_equal(ps_feed_format_name(PS_FORMAT_AUTO), "auto");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_header_names),
	    cmocka_unit_test(test_quoted_newlines_and_escapes),
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_cr_only),
	    cmocka_unit_test(test_bom_and_no_final_newline),
	    cmocka_unit_test(test_semicolon_and_pipe),
	    cmocka_unit_test(test_tsv),
	    cmocka_unit_test(test_unterminated_quote),
	    cmocka_unit_test(test_ragged_rows),
	    cmocka_unit_test(test_list_columns),
	    cmocka_unit_test(test_empty_and_header_only),
	    cmocka_unit_test(test_field_cap),
	    cmocka_unit_test(test_gzip_and_bytes_read),
	    cmocka_unit_test(test_stdin),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_formats),
	};

	return cmocka_run_group_tests_name("feeds_csv", tests, NULL, NULL);
}
