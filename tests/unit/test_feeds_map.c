/*
 * test_feeds_map.c: mapping files, store-export presets, HTML and shipping
 * normalisation, relative URLs, and hostile input (billion laughs, external
 * entities, gzip bombs, truncated gzip), through the public API of feeds/.
 *
 * The presets read the project's specimen exports (tests/fixtures/feeds/
 * specimens/: Shopify, WooCommerce, Magento 2) always, and the real exports
 * of shared/feeds/real/ in addition when that folder is there (found as
 * test_feeds_real.c does); without it those tests are skipped, saying so.
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

static char real_dir[4096];

static char *
write_str(const char *s)
{
	return ps_test_write_tmp(s, strlen(s));
}

/* The first items of a feed, as "attr=value" lines joined (LIST elements
 * joined with '|'), plus the counts. */
#define RUN_FIRST 16

typedef struct run {
	int open_rc, rc;
	unsigned long items, valid;
	char first[RUN_FIRST][2048];
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
			if (r->items < RUN_FIRST)
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
/* Presets on the specimen exports: always                             */

static void
preset_path_run(run *r, const char *path, const char *preset, const char *currency,
                const char *base)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	o.preset = preset;
	o.base_url = base;
	o.default_currency = currency;
	read_feed(r, path, &o);
	print_message("%-45s %-12s items %lu valid %lu skipped %lu\n", name, preset, r->items,
	              r->valid, (unsigned long)r->skipped);
	assert_int_equal(r->open_rc, 0);
	assert_int_equal(r->rc, PS_ITEROVER);
}

/* The rendered item of r whose id is id (among the first RUN_FIRST). */
static const char *
item_of(const run *r, const char *id)
{
	char want[160];
	unsigned long i;

	snprintf(want, sizeof(want), "id=%s\n", id);
	for (i = 0; i < r->items && i < RUN_FIRST; i++) {
		if (strncmp(r->first[i], want, strlen(want)) == 0)
			return r->first[i];
	}
	fail_msg("no item with id %s", id);
	return NULL;
}

#define CDN "https://cdn.shopify.example/s/files/1/0999/8888/files/"

static void
test_preset_shopify(void **state)
{
	run r;
	const char *it;

	(void)state;
	/* 12 rows: 7 variants, 2 image-only rows, a draft (2 rows) and an
	 * unpublished product (1 row) */
	preset_path_run(&r, PS_TEST_SPECIMENS "/shopify-export-fjellgarn.csv", "shopify", "NOK",
	                "https://fjellgarn.example");
	assert_int_equal(r.items, 7);
	assert_int_equal(r.valid, 6);
	assert_int_equal(r.skipped, 5);
	/* The product row: its own variant; the compare-at price makes a sale;
	 * the other images, without the repeated one, are additional. */
	assert_string_equal(r.first[0],
	                    "id=FG-LK-S-NAT\n"
	                    "title=Lusekofte «Klassisk» – ull\n"
	                    "description=Vår klassiske lusekofte, strikket i Gudbrandsdalen av "
	                    "100 % norsk ull.\n\nTinnknapper i halsen\n\nMønsteret følger "
	                    "oppskriften fra 1930-tallet\n\nLengde i str. M: 68 cm (27\")\n"
	                    "link=https://fjellgarn.example/products/lusekofte-klassisk\n"
	                    "image_link=" CDN "lusekofte-natur-1.jpg?v=1712345678\n"
	                    "price=2199.00 NOK\n"
	                    "availability=in stock\n"
	                    "sale_price=1899.00 NOK\n"
	                    "additional_image_link=" CDN "lusekofte-natur-2.jpg?v=1712345678|" CDN
	                    "lusekofte-marine-1.jpg?v=1712345679|" CDN
	                    "lusekofte-detalj.jpg?v=1712345680\n"
	                    "brand=Fjellgarn\n"
	                    "condition=new\n"
	                    "gtin=7090012345671\n"
	                    "item_group_id=lusekofte-klassisk\n"
	                    "product_type=Genser\n"
	                    "age_group=adult\n"
	                    "gender=unisex\n"
	                    "color=Natur\n"
	                    "size=S\n"
	                    "custom_label_0=vinter\n");
	/* A continuation row inherits title, description, images; without a
	 * Variant Image it shows the product's first; deny + 0: out of stock */
	it = item_of(&r, "FG-LK-M-NAT");
	assert_non_null(strstr(it, "title=Lusekofte «Klassisk» – ull\n"));
	assert_non_null(strstr(it, "image_link=" CDN "lusekofte-natur-1.jpg?v=1712345678\n"));
	assert_non_null(strstr(it, "availability=out of stock\n"));
	assert_non_null(strstr(it, "size=M\n"));
	/* continue + 0: in stock; no compare-at price: no sale */
	it = item_of(&r, "FG-LK-M-MAR");
	assert_non_null(strstr(it, "image_link=" CDN "lusekofte-marine-1.jpg?v=1712345679\n"));
	assert_non_null(strstr(it, "price=1899.00 NOK\navailability=in stock\n"));
	assert_null(strstr(it, "sale_price="));
	assert_non_null(strstr(it, "color=Marine\n"));
	/* One "Default Title" variant without SKU: the handle, no group */
	it = item_of(&r, "ullsokker-3-pakk");
	assert_non_null(strstr(it, "description=Tykke sokker til fjellturen. Str. 37–46.\n"));
	assert_null(strstr(it, "item_group_id="));
	/* Variants without SKU: handle and option slugs; no body: the SEO
	 * description */
	it = item_of(&r, "lue-topp-rød");
	assert_non_null(strstr(it, "description=Strikket lue med topp og dusk, i myk lammeull.\n"));
	assert_non_null(strstr(it, "item_group_id=lue-topp\n"));
	it = item_of(&r, "lue-topp-grå-lys");
	assert_non_null(strstr(it, "color=Grå / Lys\n"));
	/* No image at all: the invalid one */
	it = item_of(&r, "FG-SP-4");
	assert_null(strstr(it, "image_link="));
}

#define WP "https://tea-lin.example/wp-content/uploads/2026/03/"

static void
test_preset_woocommerce(void **state)
{
	run r;
	const char *it;

	(void)state;
	/* 11 rows: a variable parent, a grouped product and two unpublished
	 * ones make no item */
	preset_path_run(&r, PS_TEST_SPECIMENS "/woocommerce-export-tea-lin.csv", "woocommerce",
	                "EUR", "https://tea-lin.example");
	assert_int_equal(r.items, 7);
	assert_int_equal(r.valid, 5);
	assert_int_equal(r.skipped, 4);
	/* A variation: the parent's description, images, category, brand and
	 * link; the parent's SKU as group. The exporter's literal "\n"
	 * between paragraphs stays in the text (the preset does not undo it). */
	assert_string_equal(r.first[0],
	                    "id=TL-LONGJING-50\n"
	                    "title=龙井 Longjing green tea - 50 g\n"
	                    "description=Flat, jade-green leaves, pan-fired by hand.\n\n\\n\n\n"
	                    "Brew at 80°C for 2 minutes; the leaves give three or four infusions.\n"
	                    "link=https://tea-lin.example/?p=101\n"
	                    "image_link=" WP "longjing-1.jpg\n"
	                    "price=9.5 EUR\n"
	                    "availability=in stock\n"
	                    "additional_image_link=" WP "longjing-2.jpg|" WP "longjing-leaves.jpg\n"
	                    "brand=Tea Lin\n"
	                    "item_group_id=TL-LONGJING\n"
	                    "product_type=Tea > Green tea\n"
	                    "size=50 g\n");
	/* Parent named "id:101"; its own image; backorder: preorder; a sale */
	it = item_of(&r, "TL-LONGJING-100");
	assert_non_null(strstr(it, "image_link=" WP "longjing-100g.jpg\nprice=17 EUR\n"
	                           "availability=preorder\nsale_price=15.30 EUR\n"));
	assert_null(strstr(it, "additional_image_link="));
	assert_non_null(strstr(it, "item_group_id=TL-LONGJING\n"));
	it = item_of(&r, "TL-LONGJING-250");
	assert_non_null(strstr(it, "availability=out of stock\n"));
	/* A simple product: its own link, HTML to text, GTIN, one colour */
	it = item_of(&r, "TL-GAIWAN");
	assert_non_null(
	    strstr(it, "description=Thin Jingdezhen porcelain & a flared rim that stays cool.\n"));
	assert_non_null(strstr(it, "link=https://tea-lin.example/?p=110\n"));
	assert_non_null(strstr(it, "price=24 EUR\navailability=in stock\nsale_price=19.90 EUR\n"));
	assert_non_null(strstr(it, "gtin=4006381333931\n"));
	assert_non_null(strstr(it, "color=White\n"));
	assert_null(strstr(it, "item_group_id="));
	/* External: an item, linked to the shop's page, not the partner's */
	it = item_of(&r, "TL-KETTLE");
	assert_non_null(strstr(it, "link=https://tea-lin.example/?p=112\n"));
	/* A variation whose parent is not in the file: on its own */
	it = item_of(&r, "TL-OOLONG-50");
	assert_null(strstr(it, "description="));
	assert_null(strstr(it, "item_group_id="));
	assert_non_null(strstr(it, "link=https://tea-lin.example/?p=116\n"));
}

#define MEDIA "https://trail-summit.example/media/catalog/product/t/s/"

static void
test_preset_magento2(void **state)
{
	run r;
	const char *it;
	unsigned long i;

	(void)state;
	/* 11 rows: 3 variants of a configurable, 2 simple products; an
	 * unclaimed child, the parent, a store view row, an invisible product
	 * before a simple one, a disabled one and a trailing invisible one
	 * make no item */
	preset_path_run(&r, PS_TEST_SPECIMENS "/magento2-export-trail-summit.csv", "magento2",
	                "EUR", "https://trail-summit.example");
	assert_int_equal(r.items, 5);
	assert_int_equal(r.valid, 4);
	assert_int_equal(r.skipped, 6);
	assert_string_equal(
	    r.first[0],
	    "id=TS-JKT-S-RED\n"
	    "title=Alpen Shell Jacket\n"
	    "description=Our lightest three-layer shell: 310 g in size M, packs into "
	    "its own chest pocket.\n\n• 20,000 mm water column, taped seams\n\n"
	    "• Two-way front zip & pit zips\n\n• Helmet-compatible hood\n"
	    "link=https://trail-summit.example/alpen-shell-jacket.html\n"
	    "image_link=" MEDIA "ts-jkt-red_main.jpg\n"
	    "price=189 EUR\n"
	    "availability=in stock\n"
	    "additional_image_link=" MEDIA "ts-jkt-red_back.jpg|" MEDIA "ts-jkt-hood.jpg\n"
	    "item_group_id=TS-JKT\n"
	    "product_type=Men > Jackets & Shells\n"
	    "color=Red\n"
	    "size=S\n");
	/* Empty description: the parent's; out of stock */
	it = item_of(&r, "TS-JKT-M-RED");
	assert_non_null(strstr(it, "description=Our lightest three-layer shell"));
	assert_non_null(strstr(it, "availability=out of stock\n"));
	/* Its own additional images; special price: a sale */
	it = item_of(&r, "TS-JKT-M-BLU");
	assert_non_null(strstr(it, "sale_price=159 EUR\n"));
	assert_non_null(strstr(it, "additional_image_link=" MEDIA "ts-jkt-blu_alt1.jpg|" MEDIA
	                           "ts-jkt-blu_back.jpg\n"));
	/* No url_key: a slug of the name; an absolute image kept */
	it = item_of(&r, "TS-BOTTLE");
	assert_non_null(
	    strstr(it, "link=https://trail-summit.example/isolierflasche-750-ml.html\n"));
	assert_non_null(strstr(it, "image_link=https://cdn.trail-summit.example/bottle-750.jpg\n"));
	assert_non_null(strstr(it, "description=Doppelwandig, hält 12 h heiß & 24 h kalt.\n"));
	assert_non_null(strstr(it, "product_type=Gear > Bottles\n"));
	assert_non_null(strstr(it, "color=Steel\n"));
	assert_non_null(strstr(it, "material=Stainless steel\n"));
	assert_null(strstr(it, "item_group_id="));
	/* The store view row and the unclaimed child make no item */
	for (i = 0; i < r.items && i < RUN_FIRST; i++) {
		assert_null(strstr(r.first[i], "Veste Alpen Shell"));
		assert_null(strstr(r.first[i], "id=TS-JKT-L-BLU\n"));
	}
}

/* ------------------------------------------------------------------ */
/* Presets on the real exports: when the shared folder is there        */

static int
have_real(const char *name, char *path, size_t cap)
{
	ps_test_need_real(real_dir, sizeof(real_dir));
	snprintf(path, cap, "%s/%s", real_dir, name);
	if (access(path, R_OK) != 0) {
		print_message("real-feed layer skipped: %s not found in %s\n", name, real_dir);
		return 0;
	}
	return 1;
}

static void
preset_run(run *r, const char *file, const char *preset, const char *currency)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", real_dir, file);
	preset_path_run(r, path, preset, currency, "https://shop.example");
}

static void
test_preset_shopify_real(void **state)
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
test_preset_woocommerce_real(void **state)
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
test_preset_magento2_real(void **state)
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

/* The specimen: external DTD, file and http entities, a parameter entity
 * in the internal subset; nothing is loaded. */
static void
test_external_entities_specimen(void **state)
{
	run r;
	unsigned long i;

	(void)state;
	read_feed(&r, PS_TEST_SPECIMENS "/hostile-xxe.xml", NULL);
	assert_int_equal(r.rc, PS_ITEROVER);
	assert_int_equal(r.items, 2);
	assert_int_equal(r.valid, 1);
	assert_string_equal(r.first[0], "id=XX-1\n"
	                                "link=https://xxe.example/p/1\n"
	                                "image_link=https://xxe.example/i/1.jpg\n"
	                                "price=1.00 USD\n"
	                                "availability=in stock\n");
	for (i = 0; i < r.items; i++) {
		assert_null(strstr(r.first[i], "root:"));
		assert_null(strstr(r.first[i], "/bin/"));
	}
	assert_string_equal(r.error, "");
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
	    cmocka_unit_test(test_preset_shopify_real),
	    cmocka_unit_test(test_preset_woocommerce_real),
	    cmocka_unit_test(test_preset_magento2_real),
	    cmocka_unit_test(test_preset_wrong_export),
	    cmocka_unit_test(test_atom_summary_and_shipping),
	    cmocka_unit_test(test_relative_urls_need_base),
	    cmocka_unit_test(test_billion_laughs),
	    cmocka_unit_test(test_external_entities_specimen),
	    cmocka_unit_test(test_external_entities_not_loaded),
	    cmocka_unit_test(test_gzip_cap_and_truncation),
	    cmocka_unit_test(test_file_url_and_validators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
