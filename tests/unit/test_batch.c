/*
 * test_batch.c: batch bodies encoded with yajl, and the journal's view of
 * each item's attributes inside the body.
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

static void
set(ps_item *it, ps_attr a, const char *v)
{
	it->values[a].ptr = v;
	it->values[a].len = strlen(v);
}

static void
fill(ps_item *it, const char *id)
{
	memset(it, 0, sizeof(*it));
	set(it, PS_ATTR_ID, id);
	set(it, PS_ATTR_TITLE, "Caf\xc3\xa9 \"mug\"\n");
	set(it, PS_ATTR_PRICE, "24.99 USD");
	set(it, PS_ATTR_ADDITIONAL_IMAGE_LINK, "https://a.example/1.jpg\x1fhttps://a.example/2.jpg");
	set(it, PS_ATTR_ADULT, "false");
	set(it, PS_ATTR_NUMBER_OF_RATINGS, "12");
	set(it, PS_ATTR_GTIN, "00012345678905");
	it->hash = 0x8000000000000001ULL;
}

static yajl_val
get(yajl_val v, const char *k1, const char *k2)
{
	const char *path[3] = {k1, k2, NULL};

	return yajl_tree_get(v, path, yajl_t_any);
}

static void
test_body_and_journal(void **state)
{
	ps_batch b;
	ps_item it;
	const ps_batch_item *j;
	yajl_val root, items, attrs, a0;
	char err[200];

	(void)state;
	assert_int_equal(ps_batch_init(&b, "1001", "US", "en-US"), 0);
	fill(&it, "SKU-1");
	assert_int_equal(ps_batch_add_item(&b, "CREATE", &it), 0);
	assert_int_equal(ps_batch_add_delete(&b, "SKU-\"2\"", 7), 0);
	assert_int_equal(ps_batch_close(&b), 0);

	root = yajl_tree_parse(b.body.data, err, sizeof(err));
	assert_non_null(root);
	assert_string_equal(YAJL_GET_STRING(get(root, "catalog_type", NULL)), "RETAIL");
	assert_string_equal(YAJL_GET_STRING(get(root, "catalog_id", NULL)), "1001");
	assert_string_equal(YAJL_GET_STRING(get(root, "language", NULL)), "en-US");
	items = get(root, "items", NULL);
	assert_true(YAJL_IS_ARRAY(items));
	assert_int_equal(items->u.array.len, 2);
	a0 = items->u.array.values[0];
	assert_string_equal(YAJL_GET_STRING(get(a0, "operation", NULL)), "CREATE");
	assert_string_equal(YAJL_GET_STRING(get(a0, "item_id", NULL)), "SKU-1");
	attrs = get(a0, "attributes", NULL);
	assert_null(get(attrs, "id", NULL)); /* the id travels as item_id */
	assert_string_equal(YAJL_GET_STRING(get(attrs, "title", NULL)), "Caf\xc3\xa9 \"mug\"\n");
	assert_true(YAJL_IS_FALSE(get(attrs, "adult", NULL)));
	assert_true(YAJL_IS_INTEGER(get(attrs, "number_of_ratings", NULL)));
	/* gtin stays a string with its leading zeros */
	assert_string_equal(YAJL_GET_STRING(get(attrs, "gtin", NULL)), "00012345678905");
	assert_int_equal(get(attrs, "additional_image_link", NULL)->u.array.len, 2);
	assert_string_equal(YAJL_GET_STRING(get(items->u.array.values[1], "item_id", NULL)),
	                    "SKU-\"2\"");
	assert_null(get(items->u.array.values[1], "attributes", NULL));

	/* The journal's attributes are exactly the object that was sent. */
	j = ps_batch_journal(&b);
	assert_string_equal(j[0].item_id, "SKU-1");
	assert_string_equal(j[0].operation, "CREATE");
	assert_true(j[0].hash == 0x8000000000000001ULL);
	{
		char copy[2048];
		yajl_val obj;

		assert_true(j[0].attributes_len < sizeof(copy));
		memcpy(copy, j[0].attributes, j[0].attributes_len);
		copy[j[0].attributes_len] = '\0';
		assert_int_equal(copy[0], '{');
		obj = yajl_tree_parse(copy, err, sizeof(err));
		assert_non_null(obj);
		assert_string_equal(YAJL_GET_STRING(get(obj, "price", NULL)), "24.99 USD");
		yajl_tree_free(obj);
	}
	assert_string_equal(j[1].operation, "DELETE");
	assert_null(j[1].attributes);
	yajl_tree_free(root);

	/* Reset: an empty batch for the same catalog. */
	assert_int_equal(ps_batch_reset(&b), 0);
	assert_int_equal(b.count, 0);
	ps_batch_free(&b);
}

static void
test_full_at_1000(void **state)
{
	ps_batch b;
	char id[32];
	int i;

	(void)state;
	assert_int_equal(ps_batch_init(&b, "1", "US", "en-US"), 0);
	for (i = 0; i < PS_BATCH_MAX_ITEMS; i++) {
		assert_false(ps_batch_full(&b));
		snprintf(id, sizeof(id), "d%d", i);
		assert_int_equal(ps_batch_add_delete(&b, id, strlen(id)), 0);
	}
	assert_true(ps_batch_full(&b));
	assert_int_equal(ps_batch_add_delete(&b, "x", 1), -1);
	ps_batch_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_and_journal),
	    cmocka_unit_test(test_full_at_1000),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
