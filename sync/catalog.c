/*
 * catalog.c: ownership checks, read-backs, and items rebuilt from JSON.
 */
#include "catalog.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#define GEN_S(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

/* Cap on a read-back answer: 100 items of at most ~40 KB of attributes. */
#define READBACK_MAX_RESPONSE (16 * 1024 * 1024)

yajl_val
ps_json_get(yajl_val obj, const char *key)
{
	size_t i;

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

int
ps_catalog_api_owned(const ps_target *target)
{
	if (target->api_owned >= 0)
		return target->api_owned;
	return target->feed_source == 0;
}

int
ps_catalog_feed_source(ps_pin *pin, const ps_target *target, int *has)
{
	ps_buf resp;
	char path[256], err[128];
	yajl_val root = NULL, items;
	int rc;

	ps_buf_init(&resp, READBACK_MAX_RESPONSE);
	/* One page is enough: the question is whether there is any feed. */
	snprintf(path, sizeof(path), "/catalogs/feeds?catalog_id=%s&page_size=25",
	         target->catalog_id);
	rc = ps_pin_request(pin, "GET", path, NULL, 0, &resp);
	if (rc == 0) {
		root = yajl_tree_parse(ps_buf_str(&resp), err, sizeof(err));
		items = ps_json_get(root, "items");
		if (items && YAJL_IS_ARRAY(items))
			*has = items->u.array.len > 0;
		else
			rc = PS_PIN_EPROTO;
	}
	yajl_tree_free(root);
	ps_buf_free(&resp);
	return rc;
}

/* The body of one read-back request for ids[0..n). */
static int
readback_body(yajl_gen g, const ps_target *t, const char *const *ids, size_t n)
{
	size_t i;
	int bad = 0;

	bad |= yajl_gen_map_open(g) | GEN_S(g, "country") | GEN_S(g, t->country);
	bad |= GEN_S(g, "language") | GEN_S(g, t->language) | GEN_S(g, "filters");
	bad |= yajl_gen_map_open(g) | GEN_S(g, "catalog_type") | GEN_S(g, "RETAIL");
	bad |= GEN_S(g, "catalog_id") | GEN_S(g, t->catalog_id) | GEN_S(g, "item_ids");
	bad |= yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		bad |= GEN_S(g, ids[i]);
	bad |= yajl_gen_array_close(g) | yajl_gen_map_close(g) | yajl_gen_map_close(g);
	return bad ? -1 : 0;
}

/* The answer's entry for id, or NULL. */
static yajl_val
answer_for(yajl_val items, const char *id)
{
	size_t k;

	for (k = 0; items && YAJL_IS_ARRAY(items) && k < items->u.array.len; k++) {
		yajl_val e = items->u.array.values[k], v = ps_json_get(e, "item_id");

		if (v && YAJL_IS_STRING(v) && strcmp(v->u.string, id) == 0)
			return e;
	}
	return NULL;
}

int
ps_catalog_read(ps_pin *pin, const ps_target *target, const char *const *ids, size_t count,
                ps_readback_cb cb, void *ctx)
{
	ps_buf resp;
	size_t done = 0, i, n;
	int rc = 0, cbrc = 0;

	ps_buf_init(&resp, READBACK_MAX_RESPONSE);
	while (done < count && rc == 0 && cbrc == 0) {
		yajl_gen g = yajl_gen_alloc(NULL);
		yajl_val root = NULL, items = NULL;
		const unsigned char *body;
		size_t len;
		char err[128];

		n = count - done < PS_READBACK_MAX ? count - done : PS_READBACK_MAX;
		if (g == NULL || readback_body(g, target, ids + done, n) < 0) {
			rc = PS_PIN_EPROTO;
		} else {
			yajl_gen_get_buf(g, &body, &len);
			rc = ps_pin_request(pin, "POST", "/catalogs/items", (const char *)body, len,
			                    &resp);
		}
		if (g)
			yajl_gen_free(g);
		if (rc == 0) {
			/* An answer that does not parse says nothing of any item. */
			root = yajl_tree_parse(ps_buf_str(&resp), err, sizeof(err));
			items = ps_json_get(root, "items");
			if (items == NULL || !YAJL_IS_ARRAY(items))
				items = NULL;
		}
		for (i = done; i < done + n && cbrc == 0; i++) {
			yajl_val e = items ? answer_for(items, ids[i]) : NULL;
			yajl_val attrs = ps_json_get(e, "attributes"),
			         errors = ps_json_get(e, "errors");

			if (attrs && YAJL_IS_OBJECT(attrs))
				cbrc = cb(ctx, ids[i], PS_RB_PRESENT, attrs);
			else if (errors && YAJL_IS_ARRAY(errors))
				cbrc = cb(ctx, ids[i], PS_RB_ERROR, errors);
			else
				cbrc = cb(ctx, ids[i], PS_RB_UNKNOWN, NULL);
		}
		yajl_tree_free(root);
		done += n;
	}
	for (i = done; i < count && cbrc == 0; i++)
		cbrc = cb(ctx, ids[i], PS_RB_UNKNOWN, NULL);
	ps_buf_free(&resp);
	return cbrc ? cbrc : rc;
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
