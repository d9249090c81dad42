/*
 * test_feeds_map.c: mapping files, store-export presets, HTML and shipping
 * normalisation, relative URLs, and hostile input (billion laughs, external
 * entities, gzip bombs, truncated gzip), through the public API of feeds/.
 *
 * The preset tests read the real exports in shared/feeds/real/ (found as
 * test_feeds_real.c does); without them those tests are skipped.
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

#ifndef PINSYNC_SOURCE_DIR
#define PINSYNC_SOURCE_DIR "."
#endif

static char real_dir[4096];

static char *
write_str(const char *s)
{
	return ps_test_write_tmp(s, strlen(s));
}

/* The first items of a feed, as "attr=value" lines joined (LIST elements
 * joined with '|'), plus the counts. */
typedef struct run {
	int open_rc, rc;
	unsigned long items, valid;
	char first[3][2048];
	char error[512];
	char warnings[2048];
	uint64_t skipped;
} run;

static void
render(char *out, size_t cap, const ps_item *it)
{
	size_t k = 0;
	int a;

	out[0] = '\0';
	for (a = 0; a < PS_ATTR__COUNT && k < cap; a++) {
		const ps_slice v = it->values[a];
		size_t i;
		int w;

		if (v.ptr == NULL)
			continue;
		w = snprintf(out + k, cap - k, "%s=", ps_attr_defs[a].name);
		if (w < 0 || (size_t)w >= cap - k)
			return;
		k += (size_t)w;
		for (i = 0; i < v.len && k + 2 < cap; i++)
			out[k++] = v.ptr[i] == PS_LIST_SEP ? '|' : v.ptr[i];
		if (k + 2 < cap)
			out[k++] = '\n';
		out[k] = '\0';
	}
}

static void
read_feed(run *r, const char *path, const ps_feed_options *o)
{
	ps_feed *f = NULL;
	ps_item *it;

	memset(r, 0, sizeof(*r));
	r->open_rc = ps_feed_open(&f, path, o);
	if (r->open_rc == 0) {
		while ((r->rc = ps_feed_next(&it, f)) == 0) {
			if (r->items < 3)
				render(r->first[r->items], sizeof(r->first[0]), it);
			r->items++;
			r->valid += it->nproblems == 0;
		}
	}
	snprintf(r->error, sizeof(r->error), "%s", ps_feed_error(f));
	snprintf(r->warnings, sizeof(r->warnings), "%s", ps_feed_warnings(f));
	r->skipped = ps_feed_skipped(f);
	ps_feed_free(f);
}

/* ------------------------------------------------------------------ */
/* Mapping files                                                       */

static const char map_csv[] =
    "Handle,Name,Body,Cost,Pic,Stock,Internal\n"
    "red-tee,Red tee,Soft &amp; <b>warm</b>,10.00,/img/red.jpg,In Stock,x\n"
    "blue-tee,Blue tee,Cool,12.50,//cdn.test/blue.jpg,out_of_stock,y\n";

static void
test_map_file(void **state)
{
	char *csv = write_str(map_csv);
	char *map = write_str("# renames\n"
	                      "Name = title\n"
	                      "body = description\n"
	                      "Cost = price\n"
	                      "Pic = image_link\n"
	                      "Stock = availability\n"
	                      "Internal = -\n"
	                      "\n"
	                      "brand = \"Acme \"\"Best\"\"\"\n"
	                      "link = https://shop.example/products/{handle}\n"
	                      "id = {Handle}-1\n");
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	run r;

	(void)state;
	o.map_file = map;
	o.default_currency = "EUR";
	o.base_url = "https://shop.example/";
	read_feed(&r, csv, &o);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.rc, PS_ITEROVER);
	assert_int_equal(r.items, 2);
	assert_int_equal(r.valid, 2);
	assert_string_equal(r.first[0], "id=red-tee-1\n"
	                                "title=Red tee\n"
	                                "description=Soft & warm\n"
	                                "link=https://shop.example/products/red-tee\n"
	                                "image_link=https://shop.example/img/red.jpg\n"
	                                "price=10.00 EUR\n"
	                                "availability=in stock\n"
	                                "brand=Acme \"Best\"\n");
	assert_non_null(strstr(r.first[1], "image_link=https://cdn.test/blue.jpg\n"));
	assert_non_null(strstr(r.first[1], "availability=out of stock\n"));
	/* "Internal = -": ignored, and not listed as unknown either */
	assert_null(strstr(r.warnings, "Internal"));
	unlink(csv);
	unlink(map);
	free(csv);
	free(map);
}

static void
test_map_file_renames_xml(void **state)
{
	char *xml =
	    write_str("<rss xmlns:g='http://base.google.com/ns/1.0'><channel><item>"
	              "<g:id>1</g:id><name>Hat</name><g:description>d</g:description>"
	              "<handle>hat</handle><g:image_link>https://s.test/h.jpg</g:image_link>"
	              "<g:price>5 USD</g:price><g:availability>in_stock</g:availability>"
	              "</item></channel></rss>");
	char *map = write_str("name = title\nlink = https://s.test/p/{handle}?id={id}\n");
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	run r;

	(void)state;
	o.map_file = map;
	read_feed(&r, xml, &o);
	assert_int_equal(r.rc, PS_ITEROVER);
	assert_int_equal(r.valid, 1);
	assert_non_null(strstr(r.first[0], "title=Hat\n"));
	assert_non_null(strstr(r.first[0], "link=https://s.test/p/hat?id=1\n"));
	unlink(xml);
	unlink(map);
	free(xml);
	free(map);
}

/* Each bad line: PS_ERROR from ps_feed_open, naming the file and line. */
static void
test_map_file_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"name = title\n# ok\nfoo\n", ":3: expected \"name = value\""},
	    {"col = colour\n", ":1: \"colour\" is not a Pinterest attribute"},
	    {"nope = \"x\"\n", ":1: \"nope\" is not a Pinterest attribute"},
	    {"\n\nlink = https://x/{handle\n", ":3: a template part is {name}"},
	    {"brand = \"open\n", ":1: a constant is one quoted string"},
	    {" = title\n", ":1: nothing before"},
	    {"title =\n", ":1: nothing after"},
	};
	char *csv = write_str("id,title\n1,a\n");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *map = write_str(cases[i].text);
		ps_feed_options o = PS_FEED_OPTIONS_INIT;
		ps_feed *f = NULL;
		char want[512];

		o.map_file = map;
		assert_int_equal(ps_feed_open(&f, csv, &o), PS_ERROR);
		snprintf(want, sizeof(want), "%s%s", map, cases[i].want);
		if (strstr(ps_feed_error(f), want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, ps_feed_error(f), want);
		ps_feed_free(f);
		unlink(map);
		free(map);
	}
	{
		ps_feed_options o = PS_FEED_OPTIONS_INIT;
		ps_feed *f = NULL;

		o.map_file = "/nonexistent/map.txt";
		assert_int_equal(ps_feed_open(&f, csv, &o), PS_ERROR);
		assert_non_null(strstr(ps_feed_error(f), "/nonexistent/map.txt"));
		ps_feed_free(f);
		o.map_file = NULL;
		o.preset = "prestashop";
		assert_int_equal(ps_feed_open(&f, csv, &o), PS_ERROR);
		assert_non_null(strstr(ps_feed_error(f), "unknown preset"));
		ps_feed_free(f);
	}
	/* A template naming a column the feed lacks: the feed is unusable,
	 * with the mapping file's line. */
	{
		char *map = write_str("link = https://x/{slug}\n");
		ps_feed_options o = PS_FEED_OPTIONS_INIT;
		run r;

		o.map_file = map;
		read_feed(&r, csv, &o);
		assert_int_equal(r.rc, PS_EFEED);
		assert_non_null(strstr(r.error, ":1: {slug}: the feed has no such column"));
		unlink(map);
		free(map);
	}
	unlink(csv);
	free(csv);
}

/* ------------------------------------------------------------------ */
/* Presets on real exports                                             */

static int
have_real(const char *name, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", real_dir, name);
	if (access(path, R_OK) != 0) {
		print_message("skipped: %s not found\n", path);
		return 0;
	}
	return 1;
}

static void
preset_run(run *r, const char *file, const char *preset, const char *currency)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	char path[4200];

	o.preset = preset;
	o.base_url = "https://shop.example";
	o.default_currency = currency;
	snprintf(path, sizeof(path), "%s/%s", real_dir, file);
	read_feed(r, path, &o);
	print_message("%-45s %-12s items %lu valid %lu skipped %lu\n", file, preset, r->items,
	              r->valid, (unsigned long)r->skipped);
	assert_int_equal(r->open_rc, 0);
	assert_int_equal(r->rc, PS_ITEROVER);
}

static void
test_preset_shopify(void **state)
{
	char path[4200];
	run r;

	(void)state;
	if (!have_real("shopify-partners-jewelery.csv", path, sizeof(path)))
		skip();
	/* 41 rows: 23 variants, 18 image-only rows */
	preset_run(&r, "shopify-partners-jewelery.csv", "shopify", "USD");
	assert_int_equal(r.items, 23);
	assert_int_equal(r.valid, 23);
	assert_int_equal(r.skipped, 18);
	/* Two variants of one Handle; the second inherits title, description,
	 * images from the first row; the compare-at price makes a sale. */
	assert_string_equal(
	    r.first[1],
	    "id=chain-bracelet-black\n"
	    "title=7 Shakra Bracelet\n"
	    "description=7 chakra bracelet, in blue or black.\n"
	    "link=https://shop.example/products/chain-bracelet\n"
	    "image_link=https://burst.shopifycdn.com/photos/7-chakra-bracelet_925x.jpg\n"
	    "price=44.99 USD\n"
	    "availability=in stock\n"
	    "sale_price=42.99 USD\n"
	    "additional_image_link=https://burst.shopifycdn.com/photos/"
	    "navy-blue-chakra-bracelet_925x.jpg\n"
	    "brand=Company 123\n"
	    "item_group_id=chain-bracelet\n"
	    "product_type=Bracelet\n"
	    "color=Black\n");

	preset_run(&r, "shopify-partners-apparel.csv", "shopify", "USD");
	assert_int_equal(r.items, 22);
	assert_int_equal(r.valid, 22);

	/* 210 rows: 200 variants of 10 products, 10 image-only rows */
	preset_run(&r, "shopify-export-luxemia.csv", "shopify", "USD");
	assert_int_equal(r.items, 200);
	assert_int_equal(r.valid, 200);
	assert_int_equal(r.skipped, 10);

	/* 1775 rows; 41 draft products and image-only rows make no item;
	 * products without a Body are invalid (description missing) */
	preset_run(&r, "shopify-export-ronne-large.csv", "shopify", "EUR");
	assert_int_equal(r.items + r.skipped, 1775);
	assert_true(r.valid * 10 >= r.items * 6);
}

static void
test_preset_woocommerce(void **state)
{
	char path[4200];
	run r;

	(void)state;
	if (!have_real("woocommerce-sample_products-bom.csv", path, sizeof(path)))
		skip();
	/* 25 rows: 2 variable parents and 1 grouped product make no item */
	preset_run(&r, "woocommerce-sample_products-bom.csv", "woocommerce", "USD");
	assert_int_equal(r.items, 22);
	assert_int_equal(r.valid, 22);
	assert_int_equal(r.skipped, 3);
	assert_non_null(strstr(r.first[0], "id=woo-hoodie-with-logo\n"));
	assert_non_null(strstr(r.first[0], "link=https://shop.example/?p=46\n"));
	assert_non_null(strstr(r.first[0], "price=45 USD\n"));
}

static void
test_preset_magento2(void **state)
{
	char path[4200];
	run r;

	(void)state;
	if (!have_real("magento2-sample-configurable-products.csv", path, sizeof(path)))
		skip();
	/* 1994 rows: 1847 variants of 147 configurable products */
	preset_run(&r, "magento2-sample-configurable-products.csv", "magento2", "USD");
	assert_int_equal(r.items, 1847);
	assert_int_equal(r.valid, 1847);
	assert_int_equal(r.skipped, 147);
	assert_non_null(strstr(r.first[0], "id=MH01-XS-Black\ntitle=Chaz Kangeroo Hoodie\n"));
	assert_non_null(
	    strstr(r.first[0], "link=https://shop.example/chaz-kangeroo-hoodie.html\n"));
	assert_non_null(strstr(
	    r.first[0],
	    "image_link=https://shop.example/media/catalog/product/m/h/mh01-black_main.jpg\n"));
	assert_non_null(strstr(r.first[0], "item_group_id=MH01\n"));
	assert_non_null(strstr(r.first[0], "color=Black\n"));
	assert_non_null(strstr(r.first[0], "size=XS\n"));
	/* HTML description turned to text */
	assert_null(strstr(r.first[0], "<p>"));
}

static void
test_preset_wrong_export(void **state)
{
	char *csv = write_str("id,title\n1,a\n");
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	run r;

	(void)state;
	o.preset = "shopify";
	read_feed(&r, csv, &o);
	assert_int_equal(r.rc, PS_EFEED);
	assert_non_null(strstr(r.error, "no \"Handle\" column: not a shopify export"));
	unlink(csv);
	free(csv);
}

/* ------------------------------------------------------------------ */
/* Normalisation                                                       */

static void
test_atom_summary_and_shipping(void **state)
{
	char *xml = write_str(
	    "<feed xmlns='http://www.w3.org/2005/Atom' xmlns:g='http://base.google.com/ns/1.0'>"
	    "<entry><g:id>1</g:id><title>T</title><summary>Summary &amp;amp; text</summary>"
	    "<link href='https://s.test/1'/><g:image_link>https://s.test/1.jpg</g:image_link>"
	    "<g:price>5,50 EUR</g:price><g:availability>available for order</g:availability>"
	    "<g:shipping><g:country>PT</g:country><g:service>Std</g:service>"
	    "<g:price>4,90 EUR</g:price></g:shipping>"
	    "<g:shipping><g:country>ES</g:country><g:price>7</g:price></g:shipping>"
	    "<g:gtin>00012345678905</g:gtin></entry></feed>");
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	run r;

	(void)state;
	o.default_currency = "EUR";
	read_feed(&r, xml, &o);
	assert_int_equal(r.rc, PS_ITEROVER);
	assert_int_equal(r.valid, 1);
	assert_non_null(strstr(r.first[0], "description=Summary & text\n"));
	assert_non_null(strstr(r.first[0], "availability=preorder\n"));
	assert_non_null(strstr(r.first[0], "shipping=PT::Std:4.90 EUR,ES:::7 EUR\n"));
	assert_non_null(strstr(r.first[0], "gtin=00012345678905\n"));
	unlink(xml);
	free(xml);
}

static void
test_relative_urls_need_base(void **state)
{
	char *csv = write_str("id,title,description,link,image_link,price,availability\n"
	                      "1,t,d,/p/1,/i/1.jpg,1 USD,in stock\n");
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	run r;

	(void)state;
	read_feed(&r, csv, &o);
	assert_int_equal(r.valid, 0); /* bad_url without a base */
	o.base_url = "https://shop.example";
	read_feed(&r, csv, &o);
	assert_int_equal(r.valid, 1);
	assert_non_null(strstr(r.first[0], "link=https://shop.example/p/1\n"));
	o.base_url = "ftp://x";
	read_feed(&r, csv, &o);
	assert_int_equal(r.open_rc, PS_ERROR);
	assert_non_null(strstr(r.error, "not an http(s) URL"));
	unlink(csv);
	free(csv);
}

/* ------------------------------------------------------------------ */
/* Hostile input                                                       */

static void
test_billion_laughs(void **state)
{
	char doc[4096];
	size_t k = 0;
	int i, j;
	run r;
	char *path;

	(void)state;
	k += (size_t)snprintf(doc + k, sizeof(doc) - k,
	                      "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY l0 \"lol\">\n");
	for (i = 1; i < 10; i++) {
		k += (size_t)snprintf(doc + k, sizeof(doc) - k, "<!ENTITY l%d \"", i);
		for (j = 0; j < 10; j++)
			k += (size_t)snprintf(doc + k, sizeof(doc) - k, "&l%d;", i - 1);
		k += (size_t)snprintf(doc + k, sizeof(doc) - k, "\">\n");
	}
	k += (size_t)snprintf(doc + k, sizeof(doc) - k,
	                      "]>\n<rss><channel><item><id>1</id><title>&l9;</title>"
	                      "</item></channel></rss>\n");
	path = ps_test_write_tmp(doc, k);
	read_feed(&r, path, NULL);
	assert_int_equal(r.rc, PS_EFEED);
	assert_non_null(strstr(r.error, "billion laughs"));
	/* the place of the reference &l9; (line 14), not a line of the
	 * entity's own text (libxml2 parses that from line 1) */
	assert_non_null(strstr(r.error, ":14:"));
	unlink(path);
	free(path);
}

static void
test_external_entities_not_loaded(void **state)
{
	char *path = write_str("<?xml version=\"1.0\"?>\n"
	                       "<!DOCTYPE rss [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	                       "<rss><channel><item><id>1</id><title>&x;</title>"
	                       "</item></channel></rss>\n");
	run r;

	(void)state;
	read_feed(&r, path, NULL);
	assert_int_equal(r.items, 1);
	assert_null(strstr(r.first[0], "root:"));
	assert_null(strstr(r.first[0], "title="));
	unlink(path);
	free(path);
}

/* gzip of a CSV whose rows go on for n bytes. */
static char *
gzip_file(size_t n, int cut)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path = malloc(strlen(dir) + 32);
	static char row[] = "1,t,d,https://s/1,https://s/1.jpg,1 USD,in stock\n";
	gzFile gz;
	size_t done = 0;
	int fd;

	snprintf(path, strlen(dir) + 32, "%s/ps_gz_XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	gz = gzdopen(fd, "wb9");
	assert_non_null(gz);
	gzputs(gz, "id,title,description,link,image_link,price,availability\n");
	while (done < n) {
		gzwrite(gz, row, (unsigned)strlen(row));
		done += strlen(row);
	}
	gzclose(gz);
	if (cut) {
		FILE *fp = fopen(path, "rb+");
		long size;

		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		size = ftell(fp);
		fclose(fp);
		assert_int_equal(truncate(path, (off_t)(size / 2)), 0);
	}
	return path;
}

static void
test_gzip_cap_and_truncation(void **state)
{
	char *path = gzip_file((size_t)8 << 20, 0); /* 8 MiB inflated */
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	run r;

	(void)state;
	read_feed(&r, path, NULL); /* default cap: fine */
	assert_int_equal(r.rc, PS_ITEROVER);
	o.max_inflated = 1 << 20; /* a small cap: a "bomb" stops there */
	read_feed(&r, path, &o);
	assert_int_equal(r.rc, PS_EFEED);
	assert_non_null(strstr(r.error, "inflates to more than the cap of 1048576 bytes"));
	assert_true(r.items < 30000);
	unlink(path);
	free(path);

	path = gzip_file((size_t)1 << 20, 1);
	read_feed(&r, path, NULL);
	assert_int_equal(r.rc, PS_EFEED);
	assert_non_null(strstr(r.error, "gzip stream truncated"));
	unlink(path);
	free(path);
}

static void
test_file_url_and_validators(void **state)
{
	char *csv = write_str("id,title\n1,a\n");
	char url[4200];
	ps_feed *f = NULL;
	const char *etag = "x", *lm = "y";
	ps_item *it;

	(void)state;
	snprintf(url, sizeof(url), "file://%s", csv);
	assert_int_equal(ps_feed_open(&f, url, NULL), 0);
	assert_int_equal(ps_feed_next(&it, f), 0);
	assert_int_equal(ps_feed_next(&it, f), PS_ITEROVER);
	ps_feed_validators(f, &etag, &lm);
	assert_null(etag);
	assert_null(lm);
	assert_int_equal(ps_feed_http_status(f), 0);
	ps_feed_free(f);
	assert_int_equal(ps_feed_open(&f, "file://relative/x.csv", NULL), PS_EFEED);
	assert_non_null(strstr(ps_feed_error(f), "not a valid file:// URL"));
	ps_feed_free(f);
	/* A URL's password never shows: unreachable host, fails fast. */
	{
		ps_feed_options o = PS_FEED_OPTIONS_INIT;

		o.connect_timeout_ms = 2000;
		assert_int_equal(ps_feed_open(&f, "http://bob:s3cr3tpw@127.0.0.1:9/feed.xml", &o),
		                 PS_EFEED);
		assert_null(strstr(ps_feed_error(f), "s3cr3tpw"));
		assert_non_null(strstr(ps_feed_error(f), "bob:***@127.0.0.1"));
		assert_null(strstr(ps_feed_name(f), "s3cr3tpw"));
		ps_feed_free(f);
	}
	unlink(csv);
	free(csv);
}

static int
setup(void **state)
{
	(void)state;
	ps_test_real_dir(real_dir, sizeof(real_dir));
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_file),
	    cmocka_unit_test(test_map_file_renames_xml),
	    cmocka_unit_test(test_map_file_errors),
	    cmocka_unit_test(test_preset_shopify),
	    cmocka_unit_test(test_preset_woocommerce),
	    cmocka_unit_test(test_preset_magento2),
	    cmocka_unit_test(test_preset_wrong_export),
	    cmocka_unit_test(test_atom_summary_and_shipping),
	    cmocka_unit_test(test_relative_urls_need_base),
	    cmocka_unit_test(test_billion_laughs),
	    cmocka_unit_test(test_external_entities_not_loaded),
	    cmocka_unit_test(test_gzip_cap_and_truncation),
	    cmocka_unit_test(test_file_url_and_validators),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
