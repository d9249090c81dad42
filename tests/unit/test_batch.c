/*
 * test_batch.c: batch bodies encoded with yajl, the journal's view of each
 * item, and the attribute fingerprints the snapshot keeps (changes.h).
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

	/* The journal holds the whole item's fingerprint; a DELETE has none. */
	j = ps_batch_journal(&b);
	assert_string_equal(j[0].item_id, "SKU-1");
	assert_string_equal(j[0].operation, "CREATE");
	assert_true(j[0].hash == 0x8000000000000001ULL);
	{
		unsigned char fp[PS_FP_MAX];
		size_t n = ps_fingerprint(&it, fp);

		assert_int_equal(n, 6 * 8); /* six attributes besides the id */
		assert_int_equal(j[0].fp_len, n);
		assert_memory_equal(j[0].fp, fp, n);
	}
	assert_string_equal(j[1].operation, "DELETE");
	assert_null(j[1].fp);
	assert_int_equal(j[1].fp_len, 0);
	yajl_tree_free(root);

	/* Reset: an empty batch for the same catalog. */
	assert_int_equal(ps_batch_reset(&b), 0);
	assert_int_equal(b.count, 0);
	ps_batch_free(&b);
}

/* An UPDATE sends the changed attributes but journals the whole item's
 * fingerprint; an out-of-stock mark journals none (the snapshot then sends
 * the item whole when it comes back). */
static void
test_update_journals_whole_fingerprint(void **state)
{
	ps_batch b;
	ps_item it;
	unsigned char changed[PS_ATTR__COUNT] = {0}, fp[PS_FP_MAX];
	const ps_batch_item *j;

	(void)state;
	assert_int_equal(ps_batch_init(&b, "1001", "US", "en-US"), 0);
	fill(&it, "SKU-1");
	changed[PS_ATTR_PRICE] = 1;
	assert_int_equal(ps_batch_add_update(&b, &it, changed), 0);
	assert_int_equal(ps_batch_add_out_of_stock(&b, "SKU-2", 5, 1), 0);
	assert_int_equal(ps_batch_close(&b), 0);
	assert_non_null(strstr(b.body.data, "\"update_mask\":[\"price\"]"));
	assert_null(strstr(b.body.data, "\"gtin\""));
	j = ps_batch_journal(&b);
	assert_int_equal(j[0].fp_len, ps_fingerprint(&it, fp));
	assert_memory_equal(j[0].fp, fp, j[0].fp_len);
	assert_null(j[1].fp);
	ps_batch_free(&b);
}

static void
test_fingerprint_diff(void **state)
{
	ps_item old, it;
	unsigned char fp[PS_FP_MAX], changed[PS_ATTR__COUNT];
	size_t n;
	int upsert, a;

	(void)state;
	fill(&old, "SKU-1");
	set(&old, PS_ATTR_SALE_PRICE, "19.99 USD");
	n = ps_fingerprint(&old, fp);

	/* The same item: nothing changed. */
	assert_int_equal(ps_changes_compute(&old, fp, n, changed, &upsert), 0);
	assert_false(upsert);

	/* A new price and an ended sale: both named, an UPDATE can carry them. */
	it = old;
	set(&it, PS_ATTR_PRICE, "25.99 USD");
	it.values[PS_ATTR_SALE_PRICE].ptr = NULL;
	it.values[PS_ATTR_SALE_PRICE].len = 0;
	assert_int_equal(ps_changes_compute(&it, fp, n, changed, &upsert), 2);
	assert_true(changed[PS_ATTR_PRICE] && changed[PS_ATTR_SALE_PRICE]);
	assert_false(upsert);

	/* A new attribute and a list with one more value. */
	it = old;
	set(&it, PS_ATTR_BRAND, "Acme");
	set(&it, PS_ATTR_ADDITIONAL_IMAGE_LINK,
	    "https://a.example/1.jpg\x1fhttps://a.example/2.jpg\x1fhttps://a.example/3.jpg");
	assert_int_equal(ps_changes_compute(&it, fp, n, changed, &upsert), 2);
	assert_true(changed[PS_ATTR_BRAND] && changed[PS_ATTR_ADDITIONAL_IMAGE_LINK]);
	assert_true(upsert); /* additional_image_link is not updatable */

	/* Unknown, malformed or foreign fingerprints: the item goes whole. */
	assert_int_equal(ps_changes_compute(&old, NULL, 0, changed, &upsert), 7);
	assert_true(upsert);
	assert_int_equal(ps_changes_compute(&old, fp, n - 3, changed, &upsert), 7);
	assert_true(upsert);
	fp[0] ^= 0x55; /* a name hash this version does not know */
	ps_changes_compute(&old, fp, n, changed, &upsert);
	assert_true(upsert);

	/* An out-of-stock mark rewrites one entry, or appends it. */
	fill(&old, "SKU-1");
	set(&old, PS_ATTR_AVAILABILITY, "in stock");
	n = ps_fingerprint(&old, fp);
	ps_fingerprint_set(fp, &n, PS_ATTR_AVAILABILITY, "out of stock", 12);
	assert_int_equal(n, 7 * 8);
	assert_int_equal(ps_changes_compute(&old, fp, n, changed, &upsert), 1);
	assert_true(changed[PS_ATTR_AVAILABILITY]);
	assert_false(upsert);
	it = old;
	set(&it, PS_ATTR_AVAILABILITY, "out of stock");
	assert_int_equal(ps_changes_compute(&it, fp, n, changed, &upsert), 0);
	fill(&old, "SKU-1");
	n = ps_fingerprint(&old, fp);
	ps_fingerprint_set(fp, &n, PS_ATTR_AVAILABILITY, "out of stock", 12);
	assert_int_equal(n, 7 * 8);
	assert_int_equal(ps_changes_compute(&it, fp, n, changed, &upsert), 0);

	/* The fingerprint is bound to names: no two attributes share a hash,
	 * and the empty item has an empty fingerprint. */
	memset(&it, 0, sizeof(it));
	for (a = 0; a < PS_ATTR__COUNT; a++)
		if (a != PS_ATTR_ID)
			set(&it, (ps_attr)a, "x");
	n = ps_fingerprint(&it, fp);
	assert_int_equal(n, 8 * (PS_ATTR__COUNT - 1));
	for (a = 0; a < (int)(n / 8); a++) {
		int k;

		for (k = a + 1; k < (int)(n / 8); k++)
			assert_memory_not_equal(fp + 8 * a, fp + 8 * k, 4);
	}
	memset(&it, 0, sizeof(it));
	assert_int_equal(ps_fingerprint(&it, fp), 0);
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
	    cmocka_unit_test(test_update_journals_whole_fingerprint),
	    cmocka_unit_test(test_fingerprint_diff),
	    cmocka_unit_test(test_full_at_1000),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
