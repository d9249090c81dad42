/*
 * test_catalog.c: items rebuilt from Pinterest's JSON (catalog.h), the
 * fingerprint helpers a read-back is compared with (changes.h), and how
 * values from outside are quoted in logs and reports (log.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "batch.h"
#include "catalog.h"
#include "changes.h"
#include "log.h"

static void
set(ps_item *it, ps_attr a, const char *v)
{
	it->values[a].ptr = v;
	it->values[a].len = strlen(v);
}

/* An item as the feeds module hands it out (normalised values). */
static void
fill(ps_item *it)
{
	memset(it, 0, sizeof(*it));
	set(it, PS_ATTR_ID, "SKU-1");
	set(it, PS_ATTR_TITLE, "Caf\xc3\xa9 \"mug\"\n");
	set(it, PS_ATTR_DESCRIPTION, "A mug.");
	set(it, PS_ATTR_LINK, "https://shop.example/p/1");
	set(it, PS_ATTR_IMAGE_LINK, "https://shop.example/1.jpg");
	set(it, PS_ATTR_PRICE, "24.99 USD");
	set(it, PS_ATTR_AVAILABILITY, "in stock");
	set(it, PS_ATTR_ADDITIONAL_IMAGE_LINK,
	    "https://a.example/1.jpg\x1fhttps://a.example/2.jpg");
	set(it, PS_ATTR_ADULT, "false");
	set(it, PS_ATTR_NUMBER_OF_RATINGS, "12");
	set(it, PS_ATTR_AVERAGE_REVIEW_RATING, "4.5");
	set(it, PS_ATTR_GTIN, "00012345678905");
	it->hash = ps_item_hash(it);
}

/* The item's attributes as a batch body carries them. */
static yajl_val
attributes_of(const ps_item *it, yajl_val *root)
{
	ps_batch b;
	char err[200];
	const char *path[] = {"items", NULL};
	yajl_val items;

	assert_int_equal(ps_batch_init(&b, "1001", "US", "en-US"), 0);
	assert_int_equal(ps_batch_add_item(&b, "CREATE", it), 0);
	assert_int_equal(ps_batch_close(&b), 0);
	*root = yajl_tree_parse(b.body.data, err, sizeof(err));
	ps_batch_free(&b);
	assert_non_null(*root);
	items = yajl_tree_get(*root, path, yajl_t_array);
	return ps_json_get(items->u.array.values[0], "attributes");
}

static void
test_item_from_its_own_body(void **state)
{
	ps_item it, back;
	ps_buf arena;
	yajl_val root;
	unsigned char fp1[PS_FP_MAX], fp2[PS_FP_MAX];
	size_t n1, n2;
	int a;

	(void)state;
	fill(&it);
	ps_buf_init(&arena, 1 << 20);
	assert_int_equal(ps_item_from_json(&back, &arena, "SKU-1", attributes_of(&it, &root)), 0);
	/* Same values, so the same hash and fingerprint: a body read back from
	 * the journal plans exactly what the feed said. */
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		if (it.values[a].ptr == NULL) {
			assert_null(back.values[a].ptr);
			continue;
		}
		assert_int_equal(back.values[a].len, it.values[a].len);
		assert_memory_equal(back.values[a].ptr, it.values[a].ptr, it.values[a].len);
		assert_int_equal(back.values[a].ptr[back.values[a].len], '\0');
	}
	assert_true(back.hash == it.hash);
	n1 = ps_fingerprint(&it, fp1);
	n2 = ps_fingerprint(&back, fp2);
	assert_int_equal(n1, n2);
	assert_memory_equal(fp1, fp2, n1);
	yajl_tree_free(root);
	ps_buf_free(&arena);
}

static void
test_item_from_a_read_back(void **state)
{
	const char *json =
	    "{\"title\": \"Mug\", \"image_link\": [\"https://x/1.jpg\"],"
	    " \"additional_image_link\": [\"https://x/2.jpg\", \"\", \"https://x/3.jpg\"],"
	    " \"sale_price\": null, \"variant_names\": [],"
	    " \"checkout_enabled\": true, \"custom_number_0\": 7,"
	    " \"pins\": [{\"id\": \"1\"}], \"not_an_attribute\": \"x\","
	    " \"shipping\": {\"country\": \"US\"}}";
	char err[200];
	yajl_val attrs = yajl_tree_parse(json, err, sizeof(err));
	ps_item it;
	ps_buf arena;

	(void)state;
	assert_non_null(attrs);
	ps_buf_init(&arena, 1 << 20);
	assert_int_equal(ps_item_from_json(&it, &arena, "X", attrs), 0);
	assert_string_equal(it.values[PS_ATTR_ID].ptr, "X");
	assert_string_equal(it.values[PS_ATTR_TITLE].ptr, "Mug");
	/* Pinterest answers image_link as a one-element array. */
	assert_string_equal(it.values[PS_ATTR_IMAGE_LINK].ptr, "https://x/1.jpg");
	assert_string_equal(it.values[PS_ATTR_ADDITIONAL_IMAGE_LINK].ptr,
	                    "https://x/2.jpg\x1fhttps://x/3.jpg");
	/* null, an empty list and an object are absent. */
	assert_null(it.values[PS_ATTR_SALE_PRICE].ptr);
	assert_null(it.values[PS_ATTR_VARIANT_NAMES].ptr);
	assert_null(it.values[PS_ATTR_SHIPPING].ptr);
	assert_string_equal(it.values[PS_ATTR_CHECKOUT_ENABLED].ptr, "true");
	assert_string_equal(it.values[PS_ATTR_CUSTOM_NUMBER_0].ptr, "7");
	assert_true(it.hash == ps_item_hash(&it));
	yajl_tree_free(attrs);

	/* The arena is capped: an answer larger than it fails cleanly. */
	ps_buf_free(&arena);
	ps_buf_init(&arena, 8);
	attrs = yajl_tree_parse("{\"title\": \"a title longer than the arena\"}", err, sizeof(err));
	assert_int_equal(ps_item_from_json(&it, &arena, "X", attrs), -1);
	yajl_tree_free(attrs);
	ps_buf_free(&arena);
}

static void
test_fingerprint_names_and_held(void **state)
{
	ps_item it, oos;
	unsigned char fp[PS_FP_MAX], buf[PS_FP_MAX], fp_oos[PS_FP_MAX], has[PS_ATTR__COUNT];
	unsigned char changed[PS_ATTR__COUNT];
	const unsigned char *held;
	size_t n, held_len, n_oos;
	int upsert;

	(void)state;
	fill(&it);
	n = ps_fingerprint(&it, fp);
	assert_int_equal(ps_fingerprint_names(fp, n, has), 0);
	assert_true(has[PS_ATTR_PRICE] && has[PS_ATTR_GTIN] && !has[PS_ATTR_SALE_PRICE]);
	assert_false(has[PS_ATTR_ID]);
	assert_int_equal(ps_fingerprint_names(NULL, 0, has), -1);
	assert_int_equal(ps_fingerprint_names(fp, n - 3, has), -1);
	memset(buf, 0xee, 8); /* a name no attribute has */
	assert_int_equal(ps_fingerprint_names(buf, 8, has), -1);

	/* An ordinary row is what it says. */
	held = ps_fingerprint_held(0x1234, fp, n, buf, &held_len);
	assert_ptr_equal(held, fp);
	assert_int_equal(held_len, n);
	/* A row marked out of stock: Pinterest holds the item with that
	 * availability, so a read-back showing it is no drift. */
	held = ps_fingerprint_held(PS_HASH_GONE, fp, n, buf, &held_len);
	assert_ptr_equal(held, buf);
	oos = it;
	set(&oos, PS_ATTR_AVAILABILITY, "out of stock");
	n_oos = ps_fingerprint(&oos, fp_oos);
	assert_int_equal(held_len, n_oos);
	assert_memory_equal(held, fp_oos, n_oos);
	assert_int_equal(ps_changes_compute(&oos, held, held_len, changed, &upsert), 0);
	assert_int_equal(ps_changes_compute(&it, held, held_len, changed, &upsert), 1);
	assert_true(changed[PS_ATTR_AVAILABILITY]);
}

static void
test_log_quote(void **state)
{
	char buf[24];

	(void)state;
	assert_string_equal(ps_log_quote(buf, sizeof(buf), "QUEUED"), "QUEUED");
	assert_string_equal(ps_log_quote(buf, sizeof(buf), "a\"b\\c\n\x1b"),
	                    "a\\\"b\\\\c\\x0a\\x1b");
	assert_string_equal(ps_log_quote(buf, sizeof(buf), NULL), "");
	/* Cut to fit, with "...", never inside a UTF-8 sequence. */
	assert_string_equal(ps_log_quote(buf, sizeof(buf), "abcdefghijklmnopqrstuvwxyz"),
	                    "abcdefghijklmnopqrst...");
	assert_string_equal(ps_log_quote(buf, sizeof(buf), "abcdefghijklmnopqr\xc3\xa9\xc3\xa9"),
	                    "abcdefghijklmnopqr\xc3\xa9...");
	assert_string_equal(ps_log_quote(buf, sizeof(buf), "abcdefghijklmnopqrs\xc3\xa9\xc3\xa9"),
	                    "abcdefghijklmnopqrs...");
	assert_string_equal(ps_log_quote(buf, 4, "abc"), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_item_from_its_own_body),
	    cmocka_unit_test(test_item_from_a_read_back),
	    cmocka_unit_test(test_fingerprint_names_and_held),
	    cmocka_unit_test(test_log_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
