/*
 * fuzz_json.c: libFuzzer target for the bounded JSON parser (sync/json.c)
 * and every reader of Pinterest's answers (sync/answers.c): the error
 * answer, the batch_id of a POSTed batch, the batch answer and the item
 * records written from it for the journal, the feeds list, the read-back
 * answer and the items rebuilt from its attributes, the token answer.
 * The whole input is each answer in turn (issue "Hardening").
 *
 * Checked beyond crashes, leaks and undefined behaviour (ASan, UBSan): a
 * tree never nests deeper than the cap, and a tighter cap refuses exactly
 * the texts whose tree is deeper; what pinsync writes from an answer (the
 * item records, a tree written back) parses again; every reader says
 * "not said" rather than trusting a field's type.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "buf.h"
#include "json.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ps_log_init(PS_LOG_ERROR, 1); /* the readers' warnings are not findings */
	return 0;
}

/* The nesting depth of a tree (bounded by the parser's cap). */
static size_t
depth(yajl_val v)
{
	size_t i, d = 0, c;

	if (v == NULL)
		return 0;
	if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++)
			if ((c = depth(v->u.array.values[i])) > d)
				d = c;
		return d + 1;
	}
	if (YAJL_IS_OBJECT(v)) {
		for (i = 0; i < v->u.object.len; i++)
			if ((c = depth(v->u.object.values[i])) > d)
				d = c;
		return d + 1;
	}
	return 0;
}

/* What g holds must parse again. */
static void
reparse(yajl_gen g)
{
	const unsigned char *out;
	size_t len;
	char err[128];
	yajl_val back;

	if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok)
		abort();
	back = ps_json_parse((const char *)out, len, PS_JSON_MAX_DEPTH + 1, err, sizeof(err));
	if (back == NULL)
		abort();
	yajl_tree_free(back);
}

static void
parser(const char *text, size_t size)
{
	char err[256];
	yajl_val root = ps_json_parse(text, size, PS_JSON_MAX_DEPTH, err, sizeof(err));
	yajl_val tight = ps_json_parse(text, size, 3, err, sizeof(err));
	size_t d = depth(root);
	yajl_gen g;

	if (d > PS_JSON_MAX_DEPTH)
		abort();
	/* A depth of 3 refuses exactly the deeper trees. */
	if (root && (tight == NULL) != (d > 3))
		abort();
	if (tight && root == NULL)
		abort();
	if (root && (g = yajl_gen_alloc(NULL)) != NULL) {
		ps_json_gen(g, root);
		reparse(g);
		yajl_gen_free(g);
	}
	yajl_tree_free(tight);
	yajl_tree_free(root);
}

static void
batch_answer(const char *text, size_t size)
{
	ps_batch_answer a;
	yajl_gen g;

	if (ps_batch_answer_read(&a, text, size) == 0) {
		if (a.status == NULL || (a.items && !YAJL_IS_ARRAY(a.items)))
			abort();
		if ((g = yajl_gen_alloc(NULL)) != NULL) {
			ps_batch_answer_results(&a, "fuzz-batch", g);
			reparse(g);
			yajl_gen_free(g);
		}
		(void)ps_batch_answer_status_of(a.items, "SKU-1");
	} else if (a.status != NULL) {
		abort();
	}
	ps_batch_answer_free(&a);
}

static void
readback(const char *text, size_t size)
{
	static const char *const ids[] = {"SKU-1", "a", ""};
	yajl_val root = NULL, items = ps_answer_readback_items(text, size, &root);
	ps_buf arena;
	size_t i;

	ps_buf_init(&arena, 1 << 20);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		yajl_val v;
		int state = ps_answer_readback_of(items, ids[i], &v);
		ps_item item;

		if ((state == 0 && (v == NULL || !YAJL_IS_OBJECT(v))) ||
		    (state == 1 && (v == NULL || !YAJL_IS_ARRAY(v))) || (state == 2 && v) ||
		    state < 0 || state > 2)
			abort();
		/* A present item becomes a ps_item as a read-back makes it. */
		if (state == 0 && ps_item_from_json(&item, &arena, ids[i], v) == 0 &&
		    item.hash != ps_item_hash(&item))
			abort();
	}
	ps_buf_free(&arena);
	yajl_tree_free(root);
}

static void
others(const char *text, size_t size)
{
	char msg[768];
	long code;
	char *id;
	int has = -1;
	ps_token_answer t;

	ps_answer_error(text, size, &code, msg, sizeof(msg));
	if (strlen(msg) >= sizeof(msg))
		abort();
	id = ps_answer_batch_id(text, size);
	free(id);
	if (ps_answer_feeds(text, size, &has) == 0 && has != 0 && has != 1)
		abort();
	if (ps_token_answer_read(&t, text, size, 1700000000) == 0) {
		if (t.access_token == NULL || t.access_expires_at < 0 || t.refresh_expires_at < 0)
			abort();
	} else if (t.access_token != NULL) {
		abort();
	}
	ps_token_answer_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Answers come NUL-terminated out of a ps_buf. */
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	parser(text, size);
	batch_answer(text, size);
	readback(text, size);
	others(text, size);
	free(text);
	return 0;
}
