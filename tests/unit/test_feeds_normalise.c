/*
 * test_feeds_normalise.c: ps_item_normalise(), ps_item_hash() and the
 * attribute table (ps_attr_defs, ps_attr_lookup), on items built by hand.
 *
 * Build (repository root, after cmake --build build --target ps_feeds):
 * gcc -std=c11 -D_POSIX_C_SOURCE=200809L -Ifeeds tests/unit/test_feeds_normalise.c
 * build/feeds/libps_feeds.a $(pkg-config --cflags --libs cmocka libxml-2.0 libxxhash zlib) -o
 * test_feeds_normalise
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <xxhash.h>

#include "feeds.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

typedef struct titem {
	ps_item it;
	char scratch[64 * 1024];
} titem;

static titem *
new_item(void)
{
	titem *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->it.scratch = t->scratch;
	t->it.scratch_cap = sizeof(t->scratch);
	return t;
}

static void
set(titem *t, int a, const char *v)
{
	t->it.values[a].ptr = v;
	t->it.values[a].len = v ? strlen(v) : 0;
}

/* An item with every required attribute, valid. */
static titem *
valid_item(void)
{
	titem *t = new_item();

	set(t, PS_ATTR_ID, "SKU-1");
	set(t, PS_ATTR_TITLE, "Blue shirt");
	set(t, PS_ATTR_DESCRIPTION, "Soft cotton");
	set(t, PS_ATTR_LINK, "https://shop.test/p/1");
	set(t, PS_ATTR_IMAGE_LINK, "https://shop.test/i/1.jpg");
	set(t, PS_ATTR_PRICE, "24.99 USD");
	set(t, PS_ATTR_AVAILABILITY, "in stock");
	return t;
}

static const ps_problem *
find_problem(const ps_item *it, int attr, const char *code)
{
	int i;

	for (i = 0; i < it->nproblems; i++) {
		if (it->problems[i].attr == attr && strcmp(it->problems[i].code, code) == 0)
			return &it->problems[i];
	}
	return NULL;
}

static const char *
value(const titem *t, int a)
{
	return t->it.values[a].ptr;
}

/* Normalises v as attribute a of an otherwise valid item. */
static titem *
one(int a, const char *v, const char *currency)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	titem *t = valid_item();

	opts.default_currency = currency;
	set(t, a, v);
	ps_item_normalise(&t->it, &opts);
	return t;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void
test_valid_item_untouched(void **state)
{
	titem *t = valid_item();
	const char *title = value(t, PS_ATTR_TITLE);

	(void)state;
	ps_item_normalise(&t->it, NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_ptr_equal(value(t, PS_ATTR_TITLE), title); /* clean: no copy */
	assert_int_equal(t->it.scratch_len, 0);
	assert_true(t->it.hash != 0);
	assert_int_equal(t->it.hash, ps_item_hash(&t->it));
	free(t);
}

static void
test_availability(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"in stock", "in stock"},
	    {"in_stock", "in stock"},
	    {"InStock", "in stock"},
	    {"IN STOCK", "in stock"},
	    {"available", "in stock"},
	    {"http://schema.org/InStock", "in stock"},
	    {"out of stock", "out of stock"},
	    {"out_of_stock", "out of stock"},
	    {"outofstock", "out of stock"},
	    {"Sold Out", "out of stock"},
	    {"discontinued", "out of stock"},
	    {"preorder", "preorder"},
	    {"pre-order", "preorder"},
	    {"pre_order", "preorder"},
	    {"available for order", "preorder"},
	    {"backorder", "preorder"},
	    {"  in stock \n", "in stock"},
	};
	size_t i;
	titem *t;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = one(PS_ATTR_AVAILABILITY, cases[i].in, NULL);
		assert_int_equal(t->it.nproblems, 0);
		assert_string_equal(value(t, PS_ATTR_AVAILABILITY), cases[i].out);
		free(t);
	}

	t = one(PS_ATTR_AVAILABILITY, "maybe later", NULL);
	assert_int_equal(t->it.nproblems, 1);
	assert_non_null(find_problem(&t->it, PS_ATTR_AVAILABILITY, "bad_enum"));
	assert_non_null(strstr(t->it.problems[0].message, "availability \"maybe later\""));
	free(t);
}

static void
test_price(void **state)
{
	static const struct {
		const char *in, *currency, *out;
	} good[] = {
	    {"24.99 USD", NULL, "24.99 USD"},
	    {"24.99USD", NULL, "24.99 USD"},
	    {"USD 24.99", NULL, "24.99 USD"},
	    {"usd24.99", NULL, "24.99 USD"},
	    {"24,99 EUR", NULL, "24.99 EUR"},
	    {"1.234,50 EUR", NULL, "1234.50 EUR"},
	    {"1,234.50 USD", NULL, "1234.50 USD"},
	    {"1,234 USD", NULL, "1234 USD"},
	    {"1.234.567 IDR", NULL, "1234567 IDR"},
	    {"1230 UAH", NULL, "1230 UAH"},
	    {"244.5 EUR", NULL, "244.5 EUR"},
	    {"23.000 KWD", NULL, "23.000 KWD"},
	    {"0.0 KZT", NULL, "0.0 KZT"},
	    {".5 GBP", NULL, "0.5 GBP"},
	    {"\xE2\x82\xAC"
	     "12",
	     NULL, "12 EUR"},
	    {"12 \xC2\xA3", NULL, "12 GBP"},
	    {"$9.99", NULL, "9.99 USD"},
	    {"250.00", "EUR", "250.00 EUR"},
	    {"250.00", "aed", "250.00 AED"},
	    {"  8980 JPY ", NULL, "8980 JPY"},
	};
	static const char *const bad[] = {"abc",      "USD",          "24.99 DOLLARS",
	                                  "-5 USD",   "1.2.3 USD",    "12,34,567 USD",
	                                  "24.99 US", "12 EUR extra", "1234,567 USD"};
	size_t i;
	titem *t;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = one(PS_ATTR_PRICE, good[i].in, good[i].currency);
		if (t->it.nproblems != 0)
			print_error("price \"%s\": %s\n", good[i].in, t->it.problems[0].message);
		assert_int_equal(t->it.nproblems, 0);
		assert_string_equal(value(t, PS_ATTR_PRICE), good[i].out);
		free(t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = one(PS_ATTR_PRICE, bad[i], "EUR");
		if (find_problem(&t->it, PS_ATTR_PRICE, "bad_price") == NULL)
			print_error("price \"%s\" was accepted as \"%s\"\n", bad[i],
			            value(t, PS_ATTR_PRICE));
		assert_non_null(find_problem(&t->it, PS_ATTR_PRICE, "bad_price"));
		free(t);
	}

	/* No currency and no default: flagged as such. */
	t = one(PS_ATTR_PRICE, "250.00", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_PRICE, "bad_price"));
	assert_non_null(strstr(t->it.problems[0].message, "no currency"));
	free(t);

	/* Empty price: missing (empty is absent). */
	t = one(PS_ATTR_PRICE, "   ", NULL);
	assert_null(value(t, PS_ATTR_PRICE));
	assert_non_null(find_problem(&t->it, PS_ATTR_PRICE, "missing"));
	free(t);

	/* sale_price: same rules, but optional. */
	t = one(PS_ATTR_SALE_PRICE, "19,99EUR", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_SALE_PRICE), "19.99 EUR");
	free(t);
	t = one(PS_ATTR_SALE_PRICE, "", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_null(value(t, PS_ATTR_SALE_PRICE));
	free(t);
	t = one(PS_ATTR_SALE_PRICE, "cheap", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_SALE_PRICE, "bad_price"));
	free(t);
}

static void
test_condition_and_types(void **state)
{
	titem *t;

	(void)state;
	t = one(PS_ATTR_CONDITION, "New", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_CONDITION), "new");
	free(t);
	t = one(PS_ATTR_CONDITION, "REFURBISHED", NULL);
	assert_string_equal(value(t, PS_ATTR_CONDITION), "refurbished");
	free(t);
	t = one(PS_ATTR_CONDITION, "broken", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_CONDITION, "bad_enum"));
	free(t);

	t = one(PS_ATTR_ADULT, "Yes", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_ADULT), "true");
	free(t);
	t = one(PS_ATTR_ADULT, "no", NULL);
	assert_string_equal(value(t, PS_ATTR_ADULT), "false");
	free(t);
	t = one(PS_ATTR_ADULT, "perhaps", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_ADULT, "bad_enum"));
	free(t);

	t = one(PS_ATTR_NUMBER_OF_RATINGS, "120", NULL);
	assert_int_equal(t->it.nproblems, 0);
	free(t);
	t = one(PS_ATTR_NUMBER_OF_RATINGS, "12.5", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_NUMBER_OF_RATINGS, "bad_number"));
	free(t);
	/* Integers the API reads as int64, and custom numbers of 0..2^32-1: a
	 * larger value would get the whole batch refused by the API's schema. */
	t = one(PS_ATTR_NUMBER_OF_RATINGS, "9223372036854775807", NULL);
	assert_int_equal(t->it.nproblems, 0);
	free(t);
	t = one(PS_ATTR_NUMBER_OF_RATINGS, "00009223372036854775807", NULL);
	assert_int_equal(t->it.nproblems, 0);
	free(t);
	t = one(PS_ATTR_NUMBER_OF_RATINGS, "9223372036854775808", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_NUMBER_OF_RATINGS, "out_of_range"));
	free(t);
	t = one(PS_ATTR_NUMBER_OF_REVIEWS, "123456789012345678901234567890", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_NUMBER_OF_REVIEWS, "out_of_range"));
	free(t);
	t = one(PS_ATTR_CUSTOM_NUMBER_3, "4294967295", NULL);
	assert_int_equal(t->it.nproblems, 0);
	free(t);
	t = one(PS_ATTR_CUSTOM_NUMBER_3, "4294967296", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_CUSTOM_NUMBER_3, "out_of_range"));
	free(t);
	t = one(PS_ATTR_AVERAGE_REVIEW_RATING, "4,5", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_AVERAGE_REVIEW_RATING), "4.5");
	free(t);

	/* gtin stays a string, leading zeros and all. */
	t = one(PS_ATTR_GTIN, "00012345678905", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_GTIN), "00012345678905");
	free(t);
}

static void
test_missing(void **state)
{
	titem *t = new_item();
	int i;

	(void)state;
	ps_item_normalise(&t->it, NULL);
	assert_int_equal(t->it.nproblems, 7);
	/* In table order: id, title, description, link, image_link, price,
	 * availability. */
	for (i = 0; i < 7; i++) {
		assert_string_equal(t->it.problems[i].code, "missing");
		assert_int_equal(t->it.problems[i].attr, i);
	}
	assert_string_equal(t->it.problems[5].message, "price is missing");
	free(t);
}

static void
test_too_long(void **state)
{
	char title[2 * 501 + 1];
	titem *t;
	int i;

	(void)state;
	/* 500 two-byte characters: 1000 bytes but 500 characters, fine. */
	for (i = 0; i < 500; i++)
		memcpy(title + 2 * i, "\xC3\xA9", 2);
	title[1000] = '\0';
	t = one(PS_ATTR_TITLE, title, NULL);
	assert_int_equal(t->it.nproblems, 0);
	free(t);

	memcpy(title + 1000, "\xC3\xA9", 3);
	t = one(PS_ATTR_TITLE, title, NULL);
	assert_int_equal(t->it.nproblems, 1);
	assert_non_null(find_problem(&t->it, PS_ATTR_TITLE, "too_long"));
	assert_non_null(strstr(t->it.problems[0].message, "title has 501 characters"));
	free(t);
}

static void
test_urls(void **state)
{
	titem *t;

	(void)state;
	t = one(PS_ATTR_LINK, "ftp://shop.test/p/1", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_LINK, "bad_url"));
	free(t);
	t = one(PS_ATTR_IMAGE_LINK, "/medias/Big-Box-150x150.jpg", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_IMAGE_LINK, "bad_url"));
	assert_non_null(strstr(t->it.problems[0].message, "/medias/Big-Box-150x150.jpg"));
	free(t);
	t = one(PS_ATTR_MOBILE_LINK, "HTTPS://m.shop.test/", NULL);
	assert_int_equal(t->it.nproblems, 0);
	free(t);
	t = one(PS_ATTR_ADDITIONAL_IMAGE_LINK, "https://a.test/1.jpg\x1fnot-a-url", NULL);
	assert_int_equal(t->it.nproblems, 1);
	assert_non_null(find_problem(&t->it, PS_ATTR_ADDITIONAL_IMAGE_LINK, "bad_url"));
	assert_non_null(strstr(t->it.problems[0].message, "\"not-a-url\""));
	free(t);
}

static void
test_text_cleaning(void **state)
{
	titem *t;

	(void)state;
	t = one(PS_ATTR_TITLE,
	        "  a\tb\r\nc\x01"
	        "d  ",
	        NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_TITLE), "a b cd");
	free(t);

	/* description keeps line breaks (CRLF and CR become \n) */
	t = one(PS_ATTR_DESCRIPTION, "\n\n  line 1\r\nline 2\rline 3\x02\tend\n", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_DESCRIPTION), "line 1\nline 2\nline 3 end");
	free(t);

	/* invalid UTF-8: replaced, and a problem naming the attribute */
	t = one(PS_ATTR_BRAND, "Caf\xE9 \xC3\xA9", NULL);
	assert_int_equal(t->it.nproblems, 1);
	assert_non_null(find_problem(&t->it, PS_ATTR_BRAND, "bad_utf8"));
	assert_non_null(strstr(t->it.problems[0].message, "brand"));
	assert_string_equal(value(t, PS_ATTR_BRAND), "Caf\xEF\xBF\xBD \xC3\xA9");
	free(t);

	/* overlong encodings and surrogates are invalid too */
	t = one(PS_ATTR_BRAND, "\xC0\xAF \xED\xA0\x80", NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_BRAND, "bad_utf8"));
	free(t);

	/* a value of blanks and controls is absent */
	t = one(PS_ATTR_BRAND, " \x01\t ", NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_null(value(t, PS_ATTR_BRAND));
	free(t);

	/* LIST: at most ten images, even when otherwise clean */
	t = one(PS_ATTR_ADDITIONAL_IMAGE_LINK,
	        "https://a.test/1\x1fhttps://a.test/2\x1fhttps://a.test/3\x1f"
	        "https://a.test/4\x1fhttps://a.test/5\x1fhttps://a.test/6\x1f"
	        "https://a.test/7\x1fhttps://a.test/8\x1fhttps://a.test/9\x1f"
	        "https://a.test/10\x1fhttps://a.test/11\x1fhttps://a.test/12",
	        NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_null(strstr(value(t, PS_ATTR_ADDITIONAL_IMAGE_LINK), "/11"));
	assert_non_null(strstr(value(t, PS_ATTR_ADDITIONAL_IMAGE_LINK), "/10"));
	free(t);

	/* LIST: pieces trimmed, empty ones dropped, at most ten images */
	t = one(PS_ATTR_ADDITIONAL_IMAGE_LINK,
	        " https://a.test/1 \x1f\x1f https://a.test/2\x1f https://a.test/3\x1f"
	        "https://a.test/4\x1fhttps://a.test/5\x1fhttps://a.test/6\x1f"
	        "https://a.test/7\x1fhttps://a.test/8\x1fhttps://a.test/9\x1f"
	        "https://a.test/10\x1fhttps://a.test/11",
	        NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_ADDITIONAL_IMAGE_LINK),
	                    "https://a.test/1\x1fhttps://a.test/2\x1fhttps://a.test/3\x1f"
	                    "https://a.test/4\x1fhttps://a.test/5\x1fhttps://a.test/6\x1f"
	                    "https://a.test/7\x1fhttps://a.test/8\x1fhttps://a.test/9\x1f"
	                    "https://a.test/10");
	free(t);
}

static void
test_messages(void **state)
{
	char v[200];
	titem *t;

	(void)state;
	memset(v, 'x', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	t = one(PS_ATTR_PRICE, v, NULL);
	assert_int_equal(t->it.nproblems, 1);
	/* names the attribute, quotes at most 60 bytes of the value */
	assert_non_null(strstr(t->it.problems[0].message, "price \"xxxxxxxxxx"));
	assert_non_null(strstr(t->it.problems[0].message, "...\" is not a price"));
	assert_null(strstr(t->it.problems[0].message,
	                   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	free(t);

	/* At most PS_FEED_MAX_PROBLEMS problems are kept. */
	t = new_item();
	set(t, PS_ATTR_CONDITION, "x");
	set(t, PS_ATTR_ADULT, "x");
	set(t, PS_ATTR_SALE_PRICE, "x");
	set(t, PS_ATTR_NUMBER_OF_REVIEWS, "x");
	ps_item_normalise(&t->it, NULL);
	assert_int_equal(t->it.nproblems, PS_FEED_MAX_PROBLEMS);
	free(t);
}

static void
test_no_room(void **state)
{
	titem *t = valid_item();

	(void)state;
	set(t, PS_ATTR_TITLE, "  needs a copy  ");
	t->it.scratch_cap = 4;
	ps_item_normalise(&t->it, NULL);
	assert_non_null(find_problem(&t->it, PS_ATTR_TITLE, "no_room"));
	assert_true(t->it.scratch_len <= t->it.scratch_cap);
	free(t);

	/* Without any scratch, fixed spellings still work. */
	t = valid_item();
	t->it.scratch = NULL;
	t->it.scratch_cap = 0;
	set(t, PS_ATTR_AVAILABILITY, "in_stock");
	ps_item_normalise(&t->it, NULL);
	assert_int_equal(t->it.nproblems, 0);
	assert_string_equal(value(t, PS_ATTR_AVAILABILITY), "in stock");
	free(t);
}

static void
test_hash(void **state)
{
	titem *a = valid_item(), *b = valid_item();
	char copy[64];
	int k;

	(void)state;
	ps_item_normalise(&a->it, NULL);

	/* Same content in other buffers, another place, other problems. */
	snprintf(copy, sizeof(copy), "%s", "Blue shirt");
	set(b, PS_ATTR_TITLE, copy);
	set(b, PS_ATTR_AVAILABILITY, "in_stock"); /* normalises the same */
	b->it.line = 999;
	b->it.index = 42;
	ps_item_normalise(&b->it, NULL);
	assert_int_equal(a->it.hash, b->it.hash);
	b->it.nproblems = 3;
	assert_int_equal(ps_item_hash(&b->it), a->it.hash);

	/* Absent and empty are the same. */
	set(b, PS_ATTR_BRAND, "");
	ps_item_normalise(&b->it, NULL);
	assert_int_equal(a->it.hash, b->it.hash);

	/* Any attribute, added or changed, changes the hash. */
	for (k = 0; k < PS_ATTR__COUNT; k++) {
		titem *c = valid_item();
		uint64_t h;

		set(c, k, "1");
		h = ps_item_hash(&c->it);
		assert_true(h != a->it.hash);
		set(c, k, "2");
		assert_true(ps_item_hash(&c->it) != h);
		free(c);
	}
	/* Moving bytes between attributes changes it too. */
	set(b, PS_ATTR_BRAND, "ab");
	set(b, PS_ATTR_COLOR, "c");
	{
		uint64_t h = ps_item_hash(&b->it);

		set(b, PS_ATTR_BRAND, "a");
		set(b, PS_ATTR_COLOR, "bc");
		assert_true(ps_item_hash(&b->it) != h);
	}

	/*
	 * Hashes are stored in the snapshot: their definition must not
	 * change by accident (that would resend every item). Update this
	 * value only together with a planned full resync.
	 */
	assert_int_equal(a->it.hash, UINT64_C(0x21420e2006fe18e2));
	free(a);
	free(b);
}

static void
test_hash_big_values(void **state)
{
	titem *a = valid_item(), *b = valid_item();
	char *big = malloc(20000), *big2 = malloc(20000);

	(void)state;
	/* Values larger than the hash's stack buffer stream through. */
	memset(big, 'd', 19999);
	big[19999] = '\0';
	memcpy(big2, big, 20000);
	set(a, PS_ATTR_DESCRIPTION, big);
	set(b, PS_ATTR_DESCRIPTION, big2);
	assert_int_equal(ps_item_hash(&a->it), ps_item_hash(&b->it));
	big2[10000] = 'e';
	assert_true(ps_item_hash(&a->it) != ps_item_hash(&b->it));
	free(big);
	free(big2);
	free(a);
	free(b);
}

/* The canonical bytes ps_item_hash() is defined over (see normalise.c),
 * built here independently: for each present attribute in table order,
 * the wire name's length (2 bytes LE), the name, the value's length (8
 * bytes LE), the value. */
static size_t
canonical_bytes(unsigned char *out, const ps_item *it)
{
	size_t k = 0;
	int a, i;

	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice v = it->values[a];
		const char *name = ps_attr_defs[a].name;
		size_t nlen = strlen(name);

		if (v.ptr == NULL)
			continue;
		out[k++] = (unsigned char)(nlen & 0xFF);
		out[k++] = (unsigned char)(nlen >> 8);
		memcpy(out + k, name, nlen);
		k += nlen;
		for (i = 0; i < 8; i++)
			out[k++] = (unsigned char)((uint64_t)v.len >> (8 * i));
		memcpy(out + k, v.ptr, v.len);
		k += v.len;
	}
	return k;
}

/*
 * ps_item_hash() is libxxhash's XXH3-64 of the canonical bytes, whichever
 * build of XXH3 pinsync runs (libxxhash's, or its own AVX2 one on CPUs
 * that have AVX2) and whichever path (one call from a stack buffer, or
 * streamed in pieces): description lengths around the 4 KiB buffer and up
 * to 20 KB, so that the pieces fall everywhere.
 */
static void
test_hash_is_xxh3_of_canonical_bytes(void **state)
{
	titem *t = valid_item();
	unsigned char *bytes = malloc(64 * 1024);
	char *desc = malloc(20001);
	size_t n, len;

	(void)state;
	assert_non_null(bytes);
	assert_non_null(desc);
	for (len = 0; len < 20000; len++)
		desc[len] = (char)('a' + (len * 7) % 26);
	set(t, PS_ATTR_GTIN, "00012345678905");
	set(t, PS_ATTR_ADDITIONAL_IMAGE_LINK,
	    "https://shop.test/i/2.jpg\x1fhttps://shop.test/i/3.jpg");
	for (len = 0; len <= 20000; len += (len < 3900 || len > 4400) ? 487 : 1) {
		char saved = desc[len];

		desc[len] = '\0';
		set(t, PS_ATTR_DESCRIPTION, desc);
		n = canonical_bytes(bytes, &t->it);
		assert_int_equal(ps_item_hash(&t->it), XXH3_64bits(bytes, n));
		desc[len] = saved;
	}
	free(desc);
	free(bytes);
	free(t);
}

/* An entity or a tag anywhere in a long description is found, whatever
 * its offset from the scans' 64- and 16-byte steps. */
static void
test_html_found_at_every_offset(void **state)
{
	char in[400], want[400];
	size_t k;

	(void)state;
	for (k = 0; k < 300; k++) {
		titem *t;

		memset(in, 'x', sizeof(in));
		memcpy(in + k, "&amp;", 5);
		in[k + 5 + 40] = '\0';
		memset(want, 'x', sizeof(want));
		want[k] = '&';
		want[k + 1 + 40] = '\0';
		t = one(PS_ATTR_DESCRIPTION, in, NULL);
		assert_string_equal(value(t, PS_ATTR_DESCRIPTION), want);
		free(t);

		memcpy(in + k, "<br/>", 5); /* a tag: line break, then text */
		t = one(PS_ATTR_DESCRIPTION, in, NULL);
		assert_true(value(t, PS_ATTR_DESCRIPTION) != in);
		assert_null(strchr(value(t, PS_ATTR_DESCRIPTION), '<'));
		free(t);
	}
}

static void
test_attr_table(void **state)
{
	int a;

	(void)state;
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const char *name = ps_attr_defs[a].name;

		assert_non_null(name);
		/* ps_attr_lookup() is a binary search over a hand-sorted
		 * list: every name must be found, as itself. */
		assert_int_equal(ps_attr_lookup(name, strlen(name)), a);
	}
	assert_int_equal(ps_attr_lookup("price", 5), PS_ATTR_PRICE);
	assert_int_equal(ps_attr_lookup("pricex", 5), PS_ATTR_PRICE); /* by length */
	assert_int_equal(ps_attr_lookup("Price", 5), -1);             /* exact */
	assert_int_equal(ps_attr_lookup("nonsense", 8), -1);
	assert_int_equal(ps_attr_lookup("", 0), -1);
	assert_int_equal(ps_attr_lookup("zzz", 3), -1);
	assert_int_equal(ps_attr_lookup("a", 1), -1);
	assert_int_equal(ps_attr_defs[PS_ATTR_TITLE].max_chars, 500);
	assert_int_equal(ps_attr_defs[PS_ATTR_ADDITIONAL_IMAGE_LINK].type, PS_ATTR_TYPE_LIST);
	assert_true(ps_attr_defs[PS_ATTR_AVAILABILITY].required);
	assert_false(ps_attr_defs[PS_ATTR_SALE_PRICE].required);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_item_untouched),
	    cmocka_unit_test(test_availability),
	    cmocka_unit_test(test_price),
	    cmocka_unit_test(test_condition_and_types),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_text_cleaning),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_no_room),
	    cmocka_unit_test(test_hash),
	    cmocka_unit_test(test_hash_big_values),
	    cmocka_unit_test(test_hash_is_xxh3_of_canonical_bytes),
	    cmocka_unit_test(test_html_found_at_every_offset),
	    cmocka_unit_test(test_attr_table),
	};

	return cmocka_run_group_tests_name("feeds_normalise", tests, NULL, NULL);
}
