/*
 * answers.c: Pinterest's answers, read (see answers.h).
 */
#include "answers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define GEN_S(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

/* A string field of obj, or NULL. */
static const char *
string_of(yajl_val obj, const char *key)
{
	yajl_val v = ps_json_get(obj, key);

	return v && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

/* An integer field of obj: 1 with *out, 0 when absent or not an integer. */
static int
integer_of(yajl_val obj, const char *key, long long *out)
{
	yajl_val v = ps_json_get(obj, key);

	if (v == NULL || !YAJL_IS_INTEGER(v))
		return 0;
	*out = YAJL_GET_INTEGER(v);
	return 1;
}

void
ps_answer_error(const char *text, size_t len, long *code, char *message, size_t msglen)
{
	char err[128];
	yajl_val root = ps_json_parse(text, len, PS_JSON_MAX_DEPTH, err, sizeof(err));
	const char *msg;
	long long c;

	*code = -1;
	if (root == NULL) {
		snprintf(message, msglen, "%s", "");
		return;
	}
	if (integer_of(root, "code", &c))
		*code = (long)c;
	msg = string_of(root, "message");
	snprintf(message, msglen, "%s", msg ? msg : "(no message)");
	yajl_tree_free(root);
}

char *
ps_answer_batch_id(const char *text, size_t len)
{
	char err[128];
	yajl_val root = ps_json_parse(text, len, PS_JSON_MAX_DEPTH, err, sizeof(err));
	const char *id = string_of(root, "batch_id");
	char *out = id ? strdup(id) : NULL;

	yajl_tree_free(root);
	return out;
}

int
ps_batch_answer_read(ps_batch_answer *a, const char *text, size_t len)
{
	char err[128];
	yajl_val created;

	memset(a, 0, sizeof(*a));
	a->root = ps_json_parse(text, len, PS_JSON_MAX_DEPTH, err, sizeof(err));
	a->status = string_of(a->root, "status");
	if (a->status == NULL)
		return -1;
	created = ps_json_get(a->root, "created_time");
	a->skipped = created != NULL && YAJL_IS_NULL(created);
	a->items = ps_json_get(a->root, "items");
	if (a->items && !YAJL_IS_ARRAY(a->items))
		a->items = NULL;
	return 0;
}

void
ps_batch_answer_free(ps_batch_answer *a)
{
	yajl_tree_free(a->root);
	memset(a, 0, sizeof(*a));
}

int
ps_answer_known_item_status(const char *s)
{
	return strcmp(s, "SUCCESS") == 0 || strcmp(s, "FAILURE") == 0 ||
	       strcmp(s, "PROCESSING") == 0;
}

void
ps_batch_answer_results(const ps_batch_answer *a, const char *batch_id, yajl_gen g)
{
	yajl_val items = a->items;
	size_t i;

	yajl_gen_array_open(g);
	for (i = 0; items && i < items->u.array.len; i++) {
		yajl_val it = items->u.array.values[i];
		yajl_val id = ps_json_get(it, "item_id");
		const char *st = string_of(it, "status");

		if (id == NULL || !YAJL_IS_STRING(id))
			continue;
		yajl_gen_map_open(g);
		GEN_S(g, "item_id");
		ps_json_gen(g, id);
		GEN_S(g, "status");
		if (st && ps_answer_known_item_status(st)) {
			GEN_S(g, st);
		} else {
			char qid[160], qst[160];

			ps_log_batch(PS_LOG_WARN, batch_id,
			             "item \"%s\": status \"%s\" is not one pinsync knows: no "
			             "verdict, the item stays pending",
			             ps_log_quote(qid, sizeof(qid), id->u.string),
			             st ? ps_log_quote(qst, sizeof(qst), st) : "(none)");
			yajl_gen_null(g);
		}
		GEN_S(g, "errors");
		ps_json_gen(g, ps_json_get(it, "errors"));
		GEN_S(g, "warnings");
		ps_json_gen(g, ps_json_get(it, "warnings"));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

const char *
ps_batch_answer_status_of(yajl_val items, const char *id)
{
	size_t i;

	for (i = 0; items && YAJL_IS_ARRAY(items) && i < items->u.array.len; i++) {
		yajl_val it = items->u.array.values[i];
		const char *v = string_of(it, "item_id");

		if (v && strcmp(v, id) == 0)
			return string_of(it, "status");
	}
	return NULL;
}

int
ps_answer_feeds(const char *text, size_t len, int *has)
{
	char err[128];
	yajl_val root = ps_json_parse(text, len, PS_JSON_MAX_DEPTH, err, sizeof(err));
	yajl_val items = ps_json_get(root, "items");
	int rc = -1;

	if (items && YAJL_IS_ARRAY(items)) {
		*has = items->u.array.len > 0;
		rc = 0;
	}
	yajl_tree_free(root);
	return rc;
}

yajl_val
ps_answer_readback_items(const char *text, size_t len, yajl_val *root)
{
	char err[128];
	yajl_val items;

	*root = ps_json_parse(text, len, PS_JSON_MAX_DEPTH, err, sizeof(err));
	items = ps_json_get(*root, "items");
	return items && YAJL_IS_ARRAY(items) ? items : NULL;
}

int
ps_answer_readback_of(yajl_val items, const char *id, yajl_val *value)
{
	size_t k;

	*value = NULL;
	for (k = 0; items && YAJL_IS_ARRAY(items) && k < items->u.array.len; k++) {
		yajl_val e = items->u.array.values[k];
		const char *v = string_of(e, "item_id");
		yajl_val attrs, errors;

		if (v == NULL || strcmp(v, id) != 0)
			continue;
		attrs = ps_json_get(e, "attributes");
		errors = ps_json_get(e, "errors");
		if (attrs && YAJL_IS_OBJECT(attrs)) {
			*value = attrs;
			return 0;
		}
		if (errors && YAJL_IS_ARRAY(errors)) {
			*value = errors;
			return 1;
		}
		return 2;
	}
	return 2;
}

/* now + secs, kept sane: a negative count is now (expired), a huge one a
 * century (no overflow, whatever the answer says). */
static time_t
after(time_t now, long long secs)
{
	const long long century = 100LL * 366 * 86400;

	if (secs < 0)
		secs = 0;
	if (secs > century)
		secs = century;
	return now + (time_t)secs;
}

int
ps_token_answer_read(ps_token_answer *t, const char *text, size_t len, time_t now)
{
	char err[128];
	long long v;

	memset(t, 0, sizeof(*t));
	t->root = ps_json_parse(text, len, PS_JSON_MAX_DEPTH, err, sizeof(err));
	t->access_token = string_of(t->root, "access_token");
	if (t->access_token == NULL)
		return -1;
	t->refresh_token = string_of(t->root, "refresh_token");
	if (integer_of(t->root, "expires_in", &v))
		t->access_expires_at = after(now, v);
	if (integer_of(t->root, "refresh_token_expires_at", &v))
		t->refresh_expires_at = (time_t)v;
	else if (integer_of(t->root, "refresh_token_expires_in", &v))
		t->refresh_expires_at = after(now, v);
	return 0;
}

void
ps_token_answer_free(ps_token_answer *t)
{
	yajl_tree_free(t->root);
	memset(t, 0, sizeof(*t));
}

/* Appends the text of one JSON value as pinsync's items hold it, and a
 * NUL; 1 when the value is absent (null, or an empty list), -1 on error. */
static int
append_value(ps_buf *arena, yajl_val v)
{
	size_t i, n = 0;

	if (v == NULL || YAJL_IS_NULL(v))
		return 1;
	if (YAJL_IS_STRING(v)) {
		if (ps_buf_adds(arena, v->u.string) < 0)
			return -1;
	} else if (YAJL_IS_NUMBER(v)) {
		if (ps_buf_adds(arena, v->u.number.r) < 0)
			return -1;
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		if (ps_buf_adds(arena, YAJL_IS_TRUE(v) ? "true" : "false") < 0)
			return -1;
	} else if (YAJL_IS_ARRAY(v)) {
		/* A list (image_link comes back as a one-element one). */
		for (i = 0; i < v->u.array.len; i++) {
			yajl_val e = v->u.array.values[i];
			const char sep = PS_LIST_SEP;

			if (!YAJL_IS_STRING(e) || e->u.string[0] == '\0')
				continue;
			if ((n++ && ps_buf_add(arena, &sep, 1) < 0) ||
			    ps_buf_adds(arena, e->u.string) < 0)
				return -1;
		}
		if (n == 0)
			return 1;
	} else {
		return 1; /* an object: no attribute of pinsync's has one */
	}
	return ps_buf_add(arena, "", 1);
}

int
ps_item_from_json(ps_item *item, ps_buf *arena, const char *id, yajl_val attrs)
{
	size_t offs[PS_ATTR__COUNT], lens[PS_ATTR__COUNT], i;
	int a, rc;

	memset(item, 0, sizeof(*item));
	ps_buf_reset(arena);
	for (a = 0; a < PS_ATTR__COUNT; a++)
		offs[a] = SIZE_MAX;
	offs[PS_ATTR_ID] = 0;
	lens[PS_ATTR_ID] = strlen(id);
	if (ps_buf_add(arena, id, lens[PS_ATTR_ID] + 1) < 0)
		return -1;
	for (i = 0; attrs && YAJL_IS_OBJECT(attrs) && i < attrs->u.object.len; i++) {
		const char *name = attrs->u.object.keys[i];
		size_t start = arena->len;

		a = ps_attr_lookup(name, strlen(name));
		if (a <= PS_ATTR_ID || offs[a] != SIZE_MAX)
			continue;
		rc = append_value(arena, attrs->u.object.values[i]);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			offs[a] = start;
			lens[a] = arena->len - start - 1;
		}
	}
	/* The arena may have moved while growing: point into it now. */
	for (a = 0; a < PS_ATTR__COUNT; a++)
		if (offs[a] != SIZE_MAX) {
			item->values[a].ptr = arena->data + offs[a];
			item->values[a].len = lens[a];
		}
	item->hash = ps_item_hash(item);
	return 0;
}
