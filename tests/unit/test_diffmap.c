/*
 * test_diffmap.c: the in-memory snapshot map used to diff a feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "diffmap.h"

static void
test_new_changed_same_duplicate(void **state)
{
	ps_diffmap *m;

	(void)state;
	assert_int_equal(ps_diffmap_new(&m, 2), 0);
	assert_int_equal(ps_diffmap_add_snapshot(m, "a", 1, 11), 0);
	assert_int_equal(ps_diffmap_add_snapshot(m, "b", 1, 22), 0);
	assert_int_equal(ps_diffmap_snapshot_count(m), 2);

	assert_int_equal(ps_diffmap_see(m, "a", 1, 11), PS_DIFF_SAME);
	assert_int_equal(ps_diffmap_see(m, "b", 1, 99), PS_DIFF_CHANGED);
	assert_int_equal(ps_diffmap_see(m, "c", 1, 33), PS_DIFF_NEW);
	/* Second sighting of any id, known or new: the first wins. */
	assert_int_equal(ps_diffmap_see(m, "a", 1, 11), PS_DIFF_DUPLICATE);
	assert_int_equal(ps_diffmap_see(m, "c", 1, 34), PS_DIFF_DUPLICATE);
	ps_diffmap_free(m);
}

static void
test_unseen_are_the_deletes(void **state)
{
	ps_diffmap *m;
	size_t cursor = 0, len, n = 0;
	uint64_t hash;
	const char *id;
	char seen[8] = {0};

	(void)state;
	assert_int_equal(ps_diffmap_new(&m, 0), 0);
	ps_diffmap_add_snapshot(m, "keep", 4, 1);
	ps_diffmap_add_snapshot(m, "gone1", 5, 2);
	ps_diffmap_add_snapshot(m, "gone2", 5, 3);
	ps_diffmap_add_snapshot(m, "invalid-now", 11, 4);
	ps_diffmap_see(m, "keep", 4, 1);
	ps_diffmap_see(m, "brand-new", 9, 5); /* new ids are never deletes */
	ps_diffmap_keep(m, "invalid-now", 11);
	ps_diffmap_keep(m, "unknown", 7); /* ignored */
	while (ps_diffmap_next_unseen(m, &cursor, &id, &len, &hash)) {
		assert_true(strcmp(id, "gone1") == 0 || strcmp(id, "gone2") == 0);
		assert_int_equal(len, 5);
		assert_int_equal(hash, id[4] == '1' ? 2 : 3);
		seen[id[4] - '0'] = 1;
		n++;
	}
	assert_int_equal(n, 2);
	assert_true(seen[1] && seen[2]);
	ps_diffmap_free(m);
}

static void
test_grows_and_keeps_everything(void **state)
{
	ps_diffmap *m;
	char id[32];
	int i, n;

	(void)state;
	assert_int_equal(ps_diffmap_new(&m, 0), 0);
	for (i = 0; i < 200000; i++) {
		n = snprintf(id, sizeof(id), "item-%d", i);
		assert_int_equal(ps_diffmap_add_snapshot(m, id, (size_t)n, (uint64_t)i * 7), 0);
	}
	for (i = 0; i < 200000; i++) {
		n = snprintf(id, sizeof(id), "item-%d", i);
		assert_int_equal(ps_diffmap_see(m, id, (size_t)n, (uint64_t)i * 7 + (i % 100 == 0)),
		                 i % 100 == 0 ? PS_DIFF_CHANGED : PS_DIFF_SAME);
	}
	/* Prefix of another id is a different id. */
	assert_int_equal(ps_diffmap_see(m, "item-1", 6, 7), PS_DIFF_DUPLICATE);
	assert_int_equal(ps_diffmap_see(m, "item-", 5, 0), PS_DIFF_NEW);
	/* Slots and arena stay within ~100 bytes per item. */
	assert_true(ps_diffmap_memory(m) < 200000 * 100);
	ps_diffmap_free(m);
}

/* Issue "Hardening": an invalid first occurrence of an id hid a later
 * valid one (both orders: the first VALID occurrence wins). */
static void
test_invalid_never_hides_a_valid_item(void **state)
{
	ps_diffmap *m;
	size_t cursor = 0, len;
	uint64_t hash;
	const char *id;

	(void)state;
	assert_int_equal(ps_diffmap_new(&m, 0), 0);
	ps_diffmap_add_snapshot(m, "a", 1, 11);
	ps_diffmap_add_snapshot(m, "b", 1, 22);
	/* Invalid, then valid: the valid one is compared, not a duplicate. */
	ps_diffmap_keep(m, "a", 1);
	assert_false(ps_diffmap_seen(m, "a", 1));
	assert_int_equal(ps_diffmap_see(m, "a", 1, 12), PS_DIFF_CHANGED);
	assert_true(ps_diffmap_seen(m, "a", 1));
	/* Valid, then invalid: the valid one stays, the invalid one is
	 * recognised as coming after it. */
	assert_int_equal(ps_diffmap_see(m, "b", 1, 22), PS_DIFF_SAME);
	ps_diffmap_keep(m, "b", 1);
	assert_true(ps_diffmap_seen(m, "b", 1));
	assert_int_equal(ps_diffmap_see(m, "b", 1, 22), PS_DIFF_DUPLICATE);
	/* A new id: invalid first (unknown, ignored), then valid. */
	ps_diffmap_keep(m, "c", 1);
	assert_int_equal(ps_diffmap_see(m, "c", 1, 33), PS_DIFF_NEW);
	/* Kept-only ids are not deletes. */
	ps_diffmap_add_snapshot(m, "d", 1, 44);
	ps_diffmap_keep(m, "d", 1);
	assert_int_equal(ps_diffmap_next_unseen(m, &cursor, &id, &len, &hash), 0);
	ps_diffmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_changed_same_duplicate),
	    cmocka_unit_test(test_unseen_are_the_deletes),
	    cmocka_unit_test(test_grows_and_keeps_everything),
	    cmocka_unit_test(test_invalid_never_hides_a_valid_item),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
