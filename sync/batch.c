/*
 * batch.c: encodes items into a batch request body with yajl_gen.
 */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void
gen_print(void *ctx, const char *str, size_t len)
{
	ps_batch *b = ctx;

	if (ps_buf_add(&b->body, str, len) < 0)
		b->oom = 1;
}

#define GEN_STR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

static int
open_body(ps_batch *b)
{
	yajl_gen g = b->gen;

	if (yajl_gen_map_open(g) != yajl_gen_status_ok || GEN_STR(g, "catalog_type") ||
	    GEN_STR(g, "RETAIL") || GEN_STR(g, "catalog_id") || GEN_STR(g, b->catalog_id) ||
	    GEN_STR(g, "country") || GEN_STR(g, b->country) || GEN_STR(g, "language") ||
	    GEN_STR(g, b->language) || GEN_STR(g, "items") ||
	    yajl_gen_array_open(g) != yajl_gen_status_ok)
		return -1;
	return b->oom ? -1 : 0;
}

static int
new_gen(ps_batch *b)
{
	b->gen = yajl_gen_alloc(NULL);
	if (b->gen == NULL)
		return -1;
	yajl_gen_config(b->gen, yajl_gen_print_callback, gen_print, b);
	yajl_gen_config(b->gen, yajl_gen_validate_utf8, 1);
	return 0;
}

int
ps_batch_init(ps_batch *b, const char *catalog_id, const char *country, const char *language)
{
	memset(b, 0, sizeof(*b));
	b->catalog_id = catalog_id;
	b->country = country;
	b->language = language;
	ps_buf_init(&b->body, PS_BATCH_HARD_BYTES);
	ps_buf_init(&b->ids, 64 * 1024 * 1024);
	b->entries = calloc(PS_BATCH_MAX_ITEMS, sizeof(*b->entries));
	b->journal = calloc(PS_BATCH_MAX_ITEMS, sizeof(*b->journal));
	if (b->entries == NULL || b->journal == NULL || new_gen(b) < 0 || open_body(b) < 0) {
		ps_batch_free(b);
		return -1;
	}
	return 0;
}

void
ps_batch_free(ps_batch *b)
{
	if (b->gen)
		yajl_gen_free(b->gen);
	ps_buf_free(&b->body);
	ps_buf_free(&b->ids);
	free(b->entries);
	free(b->journal);
	memset(b, 0, sizeof(*b));
}

int
ps_batch_reset(ps_batch *b)
{
	yajl_gen_free(b->gen);
	b->gen = NULL;
	ps_buf_reset(&b->body);
	ps_buf_reset(&b->ids);
	b->count = 0;
	b->oom = 0;
	if (new_gen(b) < 0 || open_body(b) < 0)
		return -1;
	return 0;
}

int
ps_batch_full(const ps_batch *b)
{
	return b->count >= PS_BATCH_MAX_ITEMS || b->body.len >= PS_BATCH_SOFT_BYTES;
}

/* Emits one attribute value by its type. */
static int
gen_value(yajl_gen g, ps_attr_type type, const char *v, size_t len)
{
	switch (type) {
	case PS_ATTR_TYPE_LIST: {
		const char *p = v, *end = v + len;

		if (yajl_gen_array_open(g) != yajl_gen_status_ok)
			return -1;
		while (p <= end) {
			const char *sep = memchr(p, PS_LIST_SEP, (size_t)(end - p));
			size_t n = sep ? (size_t)(sep - p) : (size_t)(end - p);

			if (n &&
			    yajl_gen_string(g, (const unsigned char *)p, n) != yajl_gen_status_ok)
				return -1;
			if (sep == NULL)
				break;
			p = sep + 1;
		}
		return yajl_gen_array_close(g) == yajl_gen_status_ok ? 0 : -1;
	}
	case PS_ATTR_TYPE_BOOL: {
		int t = (len == 4 && strncasecmp(v, "true", 4) == 0) ||
		        (len == 3 && strncasecmp(v, "yes", 3) == 0) || (len == 1 && v[0] == '1');

		return yajl_gen_bool(g, t) == yajl_gen_status_ok ? 0 : -1;
	}
	case PS_ATTR_TYPE_INT:
	case PS_ATTR_TYPE_NUMBER: {
		char *end = NULL;

		errno = 0;
		if (type == PS_ATTR_TYPE_INT)
			(void)strtoll(v, &end, 10);
		else
			(void)strtod(v, &end);
		/* Values are NUL-terminated (feeds.h), so end is meaningful. */
		if (len > 0 && errno == 0 && end == v + len)
			return yajl_gen_number(g, v, len) == yajl_gen_status_ok ? 0 : -1;
		break; /* not a number: send it as text and let Pinterest say why */
	}
	case PS_ATTR_TYPE_STRING: break;
	}
	return yajl_gen_string(g, (const unsigned char *)v, len) == yajl_gen_status_ok ? 0 : -1;
}

static int
add_entry(ps_batch *b, const char *op, const char *id, size_t len, uint64_t hash,
          ps_batch_entry **out)
{
	ps_batch_entry *e = &b->entries[b->count];

	if (b->count >= PS_BATCH_MAX_ITEMS)
		return -1;
	e->id_off = b->ids.len;
	if (ps_buf_add(&b->ids, id, len) < 0 || ps_buf_add(&b->ids, "", 1) < 0)
		return -1;
	e->op = op;
	e->hash = hash;
	e->is_new = 0;
	e->mask_off = e->mask_len = 0;
	e->has_fp = 0;
	e->fp_len = 0;
	*out = e;
	return 0;
}

/* Writes {"operation":op,"item_id":id,"attributes":{...}[,"update_mask":[...]]}
 * for item; with changed non-NULL only the flagged attributes are written
 * and named in the mask. whole: item holds every attribute of the item, so
 * its fingerprint is journaled. */
static int
add_with_attributes(ps_batch *b, const char *op, const ps_item *item, const unsigned char *changed,
                    int whole)
{
	yajl_gen g = b->gen;
	const ps_slice *id = &item->values[PS_ATTR_ID];
	ps_batch_entry *e;
	size_t mark = b->body.len, ids_mark = b->ids.len;
	int a;

	if (b->oom || add_entry(b, op, id->ptr, id->len, item->hash, &e) < 0)
		goto fail;
	if (whole) {
		e->has_fp = 1;
		e->fp_len = ps_fingerprint(item, e->fp);
	}
	if (yajl_gen_map_open(g) != yajl_gen_status_ok || GEN_STR(g, "operation") ||
	    GEN_STR(g, op) || GEN_STR(g, "item_id") ||
	    yajl_gen_string(g, (const unsigned char *)id->ptr, id->len) != yajl_gen_status_ok ||
	    GEN_STR(g, "attributes") || yajl_gen_map_open(g) != yajl_gen_status_ok)
		goto fail;
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice *v = &item->values[a];

		/* id travels as item_id; Pinterest takes it from there. */
		if (a == PS_ATTR_ID || v->ptr == NULL || (changed && !changed[a]))
			continue;
		if (GEN_STR(g, ps_attr_defs[a].name) ||
		    gen_value(g, ps_attr_defs[a].type, v->ptr, v->len) < 0)
			goto fail;
	}
	if (yajl_gen_map_close(g) != yajl_gen_status_ok)
		goto fail;
	if (changed) {
		if (GEN_STR(g, "update_mask") || yajl_gen_array_open(g) != yajl_gen_status_ok)
			goto fail;
		e->mask_off = b->body.len - 1; /* '[' */
		for (a = 0; a < PS_ATTR__COUNT; a++)
			if (changed[a] && GEN_STR(g, ps_attr_defs[a].name))
				goto fail;
		if (yajl_gen_array_close(g) != yajl_gen_status_ok)
			goto fail;
		e->mask_len = b->body.len - e->mask_off;
	}
	if (yajl_gen_map_close(g) != yajl_gen_status_ok || b->oom)
		goto fail;
	b->count++;
	return 0;
fail:
	/* yajl's generator cannot be rewound, so the batch is now unusable.
	 * Only memory or a body cap gets here: the normaliser has already
	 * refused invalid UTF-8, the one value yajl would reject. */
	b->body.len = mark;
	b->ids.len = ids_mark;
	b->oom = 1;
	return -1;
}

int
ps_batch_add_item(ps_batch *b, const char *op, const ps_item *item)
{
	return add_with_attributes(b, op, item, NULL, 1);
}

int
ps_batch_add_new(ps_batch *b, const char *op, const ps_item *item)
{
	if (add_with_attributes(b, op, item, NULL, 1) < 0)
		return -1;
	b->entries[b->count - 1].is_new = 1;
	return 0;
}

int
ps_batch_add_update(ps_batch *b, const ps_item *item, const unsigned char changed[PS_ATTR__COUNT])
{
	return add_with_attributes(b, "UPDATE", item, changed, 1);
}

int
ps_batch_add_out_of_stock(ps_batch *b, const char *id, size_t len, uint64_t hash)
{
	ps_item item;
	unsigned char changed[PS_ATTR__COUNT] = {0};

	memset(&item, 0, sizeof(item));
	item.values[PS_ATTR_ID].ptr = id;
	item.values[PS_ATTR_ID].len = len;
	item.values[PS_ATTR_AVAILABILITY].ptr = "out of stock";
	item.values[PS_ATTR_AVAILABILITY].len = 12;
	item.hash = hash;
	changed[PS_ATTR_AVAILABILITY] = 1;
	return add_with_attributes(b, "UPDATE", &item, changed, 0);
}

int
ps_batch_add_delete(ps_batch *b, const char *id, size_t len)
{
	yajl_gen g = b->gen;
	ps_batch_entry *e;

	if (b->oom || add_entry(b, "DELETE", id, len, 0, &e) < 0)
		return -1;
	if (yajl_gen_map_open(g) != yajl_gen_status_ok || GEN_STR(g, "operation") ||
	    GEN_STR(g, "DELETE") || GEN_STR(g, "item_id") ||
	    yajl_gen_string(g, (const unsigned char *)id, len) != yajl_gen_status_ok ||
	    yajl_gen_map_close(g) != yajl_gen_status_ok || b->oom) {
		b->oom = 1;
		return -1;
	}
	b->count++;
	return 0;
}

int
ps_batch_close(ps_batch *b)
{
	if (b->oom || yajl_gen_array_close(b->gen) != yajl_gen_status_ok ||
	    yajl_gen_map_close(b->gen) != yajl_gen_status_ok || b->oom)
		return -1;
	return 0;
}

const ps_batch_item *
ps_batch_journal(ps_batch *b)
{
	size_t i;

	for (i = 0; i < b->count; i++) {
		const ps_batch_entry *e = &b->entries[i];
		ps_batch_item *j = &b->journal[i];

		j->item_id = b->ids.data + e->id_off;
		j->operation = e->op;
		j->hash = e->hash;
		j->fp = e->has_fp ? e->fp : NULL;
		j->fp_len = e->fp_len;
		j->update_mask = e->mask_len ? b->body.data + e->mask_off : NULL;
		j->update_mask_len = e->mask_len;
		j->is_new = e->is_new;
	}
	return b->journal;
}

const char *
ps_batch_id(const ps_batch *b, size_t i)
{
	return b->ids.data + b->entries[i].id_off;
}
