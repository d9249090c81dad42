/*
 * test_answers.c: Pinterest's answers read within bounds (sync/json.c,
 * sync/answers.c; issue "Hardening": yajl parsed any depth, recursively).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "answers.h"
#include "json.h"

static void
test_depth_cap(void **state)
{
	size_t n = 4 * 1024 * 1024, i;
	char *deep = malloc(2 * n + 1), err[128];
	yajl_val v;

	(void)state;
	assert_non_null(deep);
	/* Megabytes of "[": refused before any tree is built (yajl would
	 * recurse that deep building and freeing it). */
	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n + i] = ']';
	}
	deep[2 * n] = '\0';
	assert_null(ps_json_parse(deep, 2 * n, PS_JSON_MAX_DEPTH, err, sizeof(err)));
	assert_string_equal(err, "JSON nested deeper than 64 levels");
	/* The same as a string is no nesting at all. */
	deep[0] = '"';
	deep[2 * n - 1] = '"';
	v = ps_json_parse(deep, 2 * n, PS_JSON_MAX_DEPTH, err, sizeof(err));
	assert_non_null(v);
	assert_true(YAJL_IS_STRING(v));
	yajl_tree_free(v);
	free(deep);
	/* At the cap, accepted; one more, refused; brackets in strings and
	 * escaped quotes do not count. */
	v = ps_json_parse_str("[[[{\"a\":[\"]]]\\\"[[[[\"]}]]]", err, sizeof(err));
	assert_non_null(v);
	yajl_tree_free(v);
	assert_null(ps_json_parse("[[[[1]]]]", 9, 3, err, sizeof(err)));
	v = ps_json_parse("[[[1]]]", 7, 3, err, sizeof(err));
	assert_non_null(v);
	yajl_tree_free(v);
}

static void
test_size_cap_and_nul(void **state)
{
	size_t n = PS_JSON_MAX_BYTES + 1;
	char *big = malloc(n + 1), err[128];

	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '1';
	big[n] = '\0';
	assert_null(ps_json_parse(big, n, PS_JSON_MAX_DEPTH, err, sizeof(err)));
	assert_non_null(strstr(err, "over the cap"));
	free(big);
	/* yajl_tree_parse() stops at a NUL and would take a prefix. */
	assert_null(ps_json_parse("{\"batch_id\":\"x\"}\0garbage", 24, 64, err, sizeof(err)));
	assert_string_equal(err, "JSON text with a NUL byte");
}

static void
test_batch_answer(void **state)
{
	const char *text = "{\"status\":\"COMPLETED\",\"created_time\":\"2024-01-01T00:00:00\","
	                   "\"items\":[{\"item_id\":\"a\",\"status\":\"SUCCESS\"},"
	                   "{\"item_id\":\"b\",\"status\":\"QUEUED\\u001b[31m\"},"
	                   "{\"item_id\":7,\"status\":\"SUCCESS\"}]}";
	ps_batch_answer a;
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;

	(void)state;
	assert_int_equal(ps_batch_answer_read(&a, text, strlen(text)), 0);
	assert_string_equal(a.status, "COMPLETED");
	assert_false(a.skipped);
	ps_batch_answer_results(&a, "b1", g);
	yajl_gen_get_buf(g, &out, &len);
	/* An unknown status is no verdict; a record without a string id is
	 * dropped. */
	assert_string_equal((const char *)out,
	                    "[{\"item_id\":\"a\",\"status\":\"SUCCESS\",\"errors\":null,"
	                    "\"warnings\":null},{\"item_id\":\"b\",\"status\":null,"
	                    "\"errors\":null,\"warnings\":null}]");
	assert_string_equal(ps_batch_answer_status_of(a.items, "a"), "SUCCESS");
	assert_null(ps_batch_answer_status_of(a.items, "c"));
	yajl_gen_free(g);
	ps_batch_answer_free(&a);
	/* Skipped as a duplicate; status of another type; too deep. */
	text = "{\"status\":\"COMPLETED\",\"created_time\":null}";
	assert_int_equal(ps_batch_answer_read(&a, text, strlen(text)), 0);
	assert_true(a.skipped);
	ps_batch_answer_free(&a);
	assert_int_equal(ps_batch_answer_read(&a, "{\"status\":1}", 12), -1);
	ps_batch_answer_free(&a);
}

static void
test_token_answer(void **state)
{
	const char *text = "{\"access_token\":\"at\",\"refresh_token\":\"rt\",\"expires_in\":"
	                   "9223372036854775807,\"refresh_token_expires_in\":-5}";
	ps_token_answer t;

	(void)state;
	assert_int_equal(ps_token_answer_read(&t, text, strlen(text), 1000), 0);
	assert_string_equal(t.access_token, "at");
	assert_string_equal(t.refresh_token, "rt");
	/* No overflow, whatever the answer says. */
	assert_true(t.access_expires_at > 1000 && t.access_expires_at < 1000 + 101LL * 366 * 86400);
	assert_int_equal(t.refresh_expires_at, 1000);
	ps_token_answer_free(&t);
	assert_int_equal(ps_token_answer_read(&t, "{\"access_token\":5}", 18, 0), -1);
	ps_token_answer_free(&t);
}

static void
test_readback_and_errors(void **state)
{
	const char *text =
	    "{\"items\":[{\"item_id\":\"a\",\"attributes\":{\"title\":\"T\"}},"
	    "{\"item_id\":\"b\",\"errors\":[]},{\"item_id\":\"c\",\"attributes\":1}]}";
	yajl_val root, items, v;
	char msg[64];
	long code;
	int has = 7;

	(void)state;
	items = ps_answer_readback_items(text, strlen(text), &root);
	assert_non_null(items);
	assert_int_equal(ps_answer_readback_of(items, "a", &v), 0);
	assert_true(YAJL_IS_OBJECT(v));
	assert_int_equal(ps_answer_readback_of(items, "b", &v), 1);
	assert_int_equal(ps_answer_readback_of(items, "c", &v), 2);
	assert_null(v);
	assert_int_equal(ps_answer_readback_of(items, "d", &v), 2);
	yajl_tree_free(root);

	text = "{\"code\":4331,\"message\":\"lost\"}";
	ps_answer_error(text, strlen(text), &code, msg, sizeof(msg));
	assert_int_equal(code, 4331);
	assert_string_equal(msg, "lost");
	ps_answer_error("<html>", 6, &code, msg, sizeof(msg));
	assert_int_equal(code, -1);
	assert_string_equal(msg, "");
	assert_int_equal(ps_answer_feeds("{\"items\":[]}", 12, &has), 0);
	assert_int_equal(has, 0);
	assert_int_equal(ps_answer_feeds("{\"items\":{}}", 12, &has), -1);
	assert_null(ps_answer_batch_id("{\"batch_id\":[]}", 15));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_depth_cap),           cmocka_unit_test(test_size_cap_and_nul),
	    cmocka_unit_test(test_batch_answer),        cmocka_unit_test(test_token_answer),
	    cmocka_unit_test(test_readback_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
